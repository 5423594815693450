"""The random parts of ``repartition`` (round-robin dealing) and
``sortByKey`` (sampled range bounds); the samplers of ``sample`` and its
relatives are ``ember.engine.api.samplers``.

Every draw is seeded per partition from one seed fixed on the driver, so a
recomputed partition draws exactly the same numbers: lineage recovery stays
exact for ``repartition`` and ``sortByKey``.
"""

from __future__ import annotations

import itertools
import math
import random
from collections import deque
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Callable, Iterator

from ember.engine.api.task_context import TaskContext

if TYPE_CHECKING:
    from ember.engine.api.rdd import RDD


def _generator(seed: int, partition: int) -> random.Random:
    return random.Random((seed ^ (partition * 0x9E3779B97F4A7C15)) & ((1 << 64) - 1))


class RoundRobin:
    """Keys each element with a target partition, dealing them out in turn
    from a start that depends only on the source partition (repartition)."""

    def __init__(self, partitions: int):
        self.partitions = partitions

    def __call__(self, partition: int, iterator: Iterator) -> Iterator[tuple[int, Any]]:
        count = self.partitions
        start = random.Random(partition).randrange(count)
        return (((start + i) % count, item) for i, item in enumerate(iterator))


def round_robin(partitions: int) -> RoundRobin:
    return RoundRobin(partitions)


class KeyReservoir:
    """One pass over a partition of pairs: (record count, a uniform sample of
    up to ``size`` keys). Reservoir sampling with geometric skips (Li's
    Algorithm L), so skipped records cost no Python call each."""

    def __init__(self, size: int, seed: int):
        self.size = size
        self.seed = seed

    def __call__(self, iterator: Iterator) -> tuple[int, list]:
        context = TaskContext.get()
        rng = _generator(self.seed, context.partitionId() if context else 0)
        keys = map(itemgetter(0), iterator)
        size = self.size
        sample = list(itertools.islice(keys, size))
        seen = len(sample)
        if seen < size:
            return seen, sample
        weight = math.exp(math.log(rng.random() or 1e-300) / size)
        while True:
            skip = int(math.log(rng.random() or 1e-300) / math.log1p(-weight)) if weight < 1 else 0
            counter = itertools.count()
            deque(zip(itertools.islice(keys, skip), counter), maxlen=0)
            skipped = next(counter)
            seen += skipped
            if skipped < skip:
                return seen, sample
            for key in keys:
                seen += 1
                sample[rng.randrange(size)] = key
                break
            else:
                return seen, sample
            weight *= math.exp(math.log(rng.random() or 1e-300) / size)


def range_bounds(rdd: "RDD", partitions: int, keyfunc: Callable[[Any], Any]) -> list | None:
    """Bounds that split ``rdd``'s keys (through ``keyfunc``) into
    ``partitions`` ranges of about equal record counts, from one sampling job;
    None when the RDD is empty. Each sampled key stands for count/len(sample)
    records of its partition, so skewed partition sizes are weighted right."""
    target = min(20 * partitions, 1_000_000)
    per_partition = max(1, math.ceil(3.0 * target / max(rdd.getNumPartitions(), 1)))
    # One job where PySpark runs two (a count, then a sample): numbered as two.
    samples = rdd._run(KeyReservoir(per_partition, seed=0x5EED), pyspark_ids=2)
    total = sum(count for count, _ in samples)
    if total == 0:
        return None
    weighted = [(keyfunc(key), count / len(sample))
                for count, sample in samples if sample for key in sample]
    try:
        weighted.sort(key=itemgetter(0))
    except TypeError as error:
        raise TypeError(f"sortByKey: keys cannot be ordered: {error}") from error
    step = sum(weight for _, weight in weighted) / partitions
    bounds: list = []
    cumulative, goal = 0.0, step
    for key, weight in weighted:
        if len(bounds) == partitions - 1:
            break
        cumulative += weight
        if cumulative >= goal and (not bounds or key > bounds[-1]):
            bounds.append(key)
            goal += step
    return bounds
