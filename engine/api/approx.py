"""Approximate actions: ``countApprox``, ``sumApprox``, ``meanApprox``
(answers within a time budget, with a confidence interval) and
``countApproxDistinct`` (a HyperLogLog sketch).

Timed estimates: the partitions are run in waves of ``defaultParallelism``
tasks; once ``timeout`` milliseconds have passed, no new wave starts and the
answer is extrapolated from the partitions done (Spark's evaluators: the
per-partition values are a sample of all partitions' values; the interval
uses the normal quantile of ``confidence``). When every partition finished
in time the answer is exact, with confidence 1.0. Each answer is a
``BoundedFloat``: a float carrying ``confidence``, ``low`` and ``high``.

Distinct counts: each element is hashed with ``portable_hash`` (the same in
every process), mixed to 64 bits, and dropped into one of ``2^p`` registers
that keeps the longest run of leading zeros seen; per-partition sketches
merge by register-wise maximum. The estimate is Ertl's improved estimator
(2017), accurate from tiny to huge cardinalities without bias tables. ``p``
follows Spark's rule from ``relativeSD``: ``ceil(2 log2(1.054 / relativeSD))``.
Sketches with more than 2^16 registers are kept sparse (a dict), so a
precise ``relativeSD`` costs memory only for the elements actually seen.
"""

from __future__ import annotations

import math
import time
from statistics import NormalDist
from typing import TYPE_CHECKING, Any, Callable, Iterable

from ember.engine.data.hashing import portable_hash
from ember.engine.api.statcounter import StatCounter

if TYPE_CHECKING:
    from ember.engine.api.rdd import RDD


class BoundedFloat(float):
    """A float estimate with the ``confidence`` that the true value lies in
    [``low``, ``high``] (PySpark's ``BoundedFloat``).

    >>> estimate = BoundedFloat(10.0, 0.95, 8.0, 12.0)
    >>> estimate, estimate.low, estimate.high, estimate.confidence
    (10.0, 8.0, 12.0, 0.95)
    """

    confidence: float
    low: float
    high: float

    def __new__(cls, mean: float, confidence: float, low: float, high: float) -> "BoundedFloat":
        value = float.__new__(cls, mean)
        value.confidence = confidence
        value.low = low
        value.high = high
        return value

    def __reduce__(self):
        return BoundedFloat, (float(self), self.confidence, self.low, self.high)


def check_timeout_confidence(method: str, timeout: Any, confidence: Any) -> None:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0:
        raise ValueError(f"{method}: timeout must be a non-negative number of milliseconds, "
                         f"got {timeout!r}")
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) \
            or not 0.0 <= confidence <= 1.0:
        raise ValueError(f"{method}: confidence must be in [0.0, 1.0], got {confidence!r}")


def run_timed(rdd: "RDD", func: Callable, timeout_ms: float) -> tuple[list, int]:
    """Results of ``func`` over as many partitions of ``rdd`` as waves started
    within ``timeout_ms`` finish (at least one wave); and the partition count."""
    total = rdd.getNumPartitions()
    wave = max(1, rdd._require_driver().defaultParallelism)
    deadline = time.monotonic() + timeout_ms / 1000.0
    results: list = []
    for start in range(0, total, wave):
        if start and time.monotonic() >= deadline:
            break
        # PySpark's version makes three RDDs for its one job; later waves none.
        results.extend(rdd._run(func, range(start, min(start + wave, total)),
                                pyspark_ids=None if start else 3))
    return results, total


def _interval(estimate: float, stdev: float, confidence: float) -> tuple[float, float]:
    if confidence >= 1.0 or math.isnan(stdev):
        return -math.inf, math.inf
    factor = NormalDist().inv_cdf(1 - (1 - confidence) / 2) if confidence > 0 else 0.0
    return estimate - factor * stdev, estimate + factor * stdev


def sum_estimate(partials: list[StatCounter], total: int, confidence: float) -> BoundedFloat:
    """Spark's sum evaluator over per-partition StatCounters of the values."""
    counter = StatCounter()
    for partial in partials:
        counter.mergeStats(partial)
    if len(partials) == total:
        exact = counter.sum()
        return BoundedFloat(exact, 1.0, exact, exact)
    if not partials or counter.count() == 0:
        return BoundedFloat(0.0, 0.0, -math.inf, math.inf)
    fraction = len(partials) / total
    mean = counter.mean()
    count = (counter.count() + 1 - fraction) / fraction
    estimate = mean * count
    if counter.count() == 1:
        return BoundedFloat(estimate, confidence, -math.inf, math.inf)
    mean_var = counter.sampleVariance() / counter.count()
    count_var = (counter.count() + 1) * (1 - fraction) / (fraction * fraction)
    variance = mean * mean * count_var + count * count * mean_var + mean_var * count_var
    low, high = _interval(estimate, math.sqrt(variance), confidence)
    return BoundedFloat(estimate, confidence, low, high)


def mean_estimate(partials: list[StatCounter], total: int, confidence: float) -> BoundedFloat:
    """Spark's mean evaluator over per-partition StatCounters of the values."""
    counter = StatCounter()
    for partial in partials:
        counter.mergeStats(partial)
    if len(partials) == total:
        exact = counter.mean() if counter.count() else math.nan
        return BoundedFloat(exact, 1.0, exact, exact)
    if counter.count() == 0:
        return BoundedFloat(math.nan, 0.0, -math.inf, math.inf)
    mean = counter.mean()
    if counter.count() == 1:
        return BoundedFloat(mean, confidence, -math.inf, math.inf)
    low, high = _interval(mean, math.sqrt(counter.sampleVariance() / counter.count()),
                          confidence)
    return BoundedFloat(mean, confidence, low, high)


# --- distinct counts ------------------------------------------------------------

_MASK64 = (1 << 64) - 1
_DENSE_LIMIT = 16  # precisions above this keep sparse registers


def precision(relative_sd: Any) -> int:
    if isinstance(relative_sd, bool) or not isinstance(relative_sd, (int, float)):
        raise TypeError(f"countApproxDistinct: relativeSD must be a float, got {relative_sd!r}")
    if relative_sd < 0.000017:
        raise ValueError("relativeSD should be greater than 0.000017")
    p = math.ceil(2.0 * math.log(1.054 / relative_sd) / math.log(2))
    if p < 4:
        raise ValueError(f"countApproxDistinct: relativeSD {relative_sd} is too large "
                         f"(at most 0.37 is accepted: the sketch needs 16 registers)")
    return p


def _mix64(value: int) -> int:
    """SplitMix64's finalizer: spreads any integer's bits over 64 bits."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK64
    return value ^ (value >> 31)


class Sketch:
    """Builds one partition's HyperLogLog registers (shipped as a function)."""

    def __init__(self, p: int):
        self.p = p

    def __call__(self, iterator: Iterable) -> Any:
        p = self.p
        width = 64 - p
        low_mask = (1 << width) - 1
        dense = p <= _DENSE_LIMIT
        registers: Any = bytearray(1 << p) if dense else {}
        for item in iterator:
            hashed = _mix64(portable_hash(item))
            index = hashed >> width
            rank = width - (hashed & low_mask).bit_length() + 1
            if dense:
                if rank > registers[index]:
                    registers[index] = rank
            elif rank > registers.get(index, 0):
                registers[index] = rank
        return registers


def merge_sketches(sketches: list, p: int) -> Any:
    if p <= _DENSE_LIMIT:
        merged = bytearray(1 << p)
        for registers in sketches:
            merged = bytearray(map(max, merged, registers))
        return merged
    merged: dict = {}
    for registers in sketches:
        for index, rank in registers.items():
            if rank > merged.get(index, 0):
                merged[index] = rank
    return merged


def estimate_distinct(registers: Any, p: int) -> int:
    """Ertl's improved raw estimator from the register-value histogram."""
    m = 1 << p
    q = 64 - p
    histogram = [0] * (q + 2)
    values = registers.values() if isinstance(registers, dict) else registers
    seen = 0
    for rank in values:
        histogram[rank] += 1
        seen += 1
    histogram[0] += m - seen  # registers a sparse sketch never stored
    z = m * _tau(1 - histogram[q + 1] / m)
    for k in range(q, 0, -1):
        z = 0.5 * (z + histogram[k])
    z += m * _sigma(histogram[0] / m)
    return round(m * m / (2 * math.log(2)) / z)


def _sigma(x: float) -> float:
    if x == 1.0:
        return math.inf
    y, z = 1.0, x
    while True:
        x *= x
        previous = z
        z += x * y
        y += y
        if z == previous:
            return z


def _tau(x: float) -> float:
    if x == 0.0 or x == 1.0:
        return 0.0
    y, z = 1.0, 1 - x
    while True:
        x = math.sqrt(x)
        previous = z
        y *= 0.5
        z -= (1 - x) ** 2 * y
        if z == previous:
            return z / 3
