"""``RDD.histogram``: bucket boundaries and the per-partition counting.

Buckets are given as a count (evenly spaced between the RDD's minimum and
maximum, found by one job first) or as a sorted list of boundaries. Every
bucket is half-open [a, b) except the last, which is closed [a, b]. Elements
outside the range, None and NaN are not counted. Evenly spaced buckets are
found by arithmetic, others by binary search. Errors and edge cases are
PySpark's: same types, same rules.
"""

from __future__ import annotations

import bisect
import math
from typing import Any, Iterable, Sequence


def _ignored(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def comparable(x: Any) -> bool:
    return not _ignored(x)


def min_max(a: tuple, b: tuple) -> tuple:
    return min(a[0], b[0]), max(a[1], b[1])


def even_buckets(low: Any, high: Any, count: int) -> tuple[list, Any]:
    """``count`` equal buckets from ``low`` to ``high`` and their width,
    integer boundaries when the width is a whole number."""
    try:
        step = (high - low) / count
    except TypeError:
        raise TypeError("Can not generate buckets with non-number in RDD") from None
    if math.isinf(step):
        raise ValueError("Can not generate buckets with infinite value")
    if int(step) * count == high - low:
        step = int(step)
    buckets = [low + i * step for i in range(count)]
    buckets.append(high)  # the exact maximum, free of accumulated rounding
    return buckets, step


def check_buckets(buckets: Sequence) -> float | None:
    """Validate explicit boundaries; returns the step if they are evenly
    spaced (then buckets are found by arithmetic), else None."""
    if len(buckets) < 2:
        raise ValueError("buckets should have more than one value")
    if any(_ignored(b) for b in buckets):
        raise ValueError("can not have None or NaN in buckets")
    if sorted(buckets) != list(buckets):
        raise ValueError("buckets should be sorted")
    if len(set(buckets)) != len(buckets):
        raise ValueError("buckets should not contain duplicated values")
    try:
        steps = [b - a for a, b in zip(buckets, buckets[1:])]
    except TypeError:
        return None  # boundaries without subtraction (strings): binary search
    if max(steps) - min(steps) < 1e-10:
        return (buckets[-1] - buckets[0]) / (len(buckets) - 1)
    return None


class BucketCounter:
    """Counts one partition's elements per bucket (shipped to workers)."""

    def __init__(self, buckets: Sequence, step: float | None):
        self.buckets = list(buckets)
        self.step = step

    def __call__(self, iterator: Iterable) -> list[int]:
        buckets, step = self.buckets, self.step
        low, high = buckets[0], buckets[-1]
        counts = [0] * len(buckets)
        for x in iterator:
            if _ignored(x) or x < low or x > high:
                continue
            index = int((x - low) / step) if step is not None else bisect.bisect_right(buckets, x) - 1
            counts[index] += 1
        last = counts.pop()  # the maximum belongs to the last, closed bucket
        counts[-1] += last
        return counts
