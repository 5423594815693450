"""Partitioners: which reduce partition a key belongs to.

A ``Partitioner`` is PySpark's: a partition count and a partition function,
the partition being ``partitionFunc(key) % numPartitions``. Two RDDs with equal
partitioners are co-partitioned: a join or cogroup between them needs no
shuffle. ``RangeBounds`` is the partition function of ``sortByKey``: a
picklable object (not a closure) holding the sampled bounds.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any, Callable

from ember.engine.data.hashing import portable_hash


class Partitioner:
    def __init__(self, numPartitions: int, partitionFunc: Callable[[Any], int] = portable_hash):
        self.numPartitions = numPartitions
        self.partitionFunc = partitionFunc

    def __eq__(self, other) -> bool:
        return (isinstance(other, Partitioner)
                and self.numPartitions == other.numPartitions
                and self.partitionFunc == other.partitionFunc)

    def __hash__(self) -> int:
        return hash((self.numPartitions, self.partitionFunc))

    def __call__(self, key: Any) -> int:
        return self.partitionFunc(key) % self.numPartitions

    def __repr__(self) -> str:
        name = getattr(self.partitionFunc, "__name__", type(self.partitionFunc).__name__)
        return f"Partitioner({self.numPartitions}, {name})"


def identity_partition(key: int) -> int:
    """Partition function for keys that already are partition numbers."""
    return key


class RangeBounds:
    """Partition function for a total order: partition = how many bounds the
    key (through ``keyfunc``) lies above; reversed for descending sorts."""

    def __init__(self, bounds: list, keyfunc: Callable[[Any], Any], ascending: bool,
                 identity: bool = False):
        self.bounds = bounds
        self.keyfunc = keyfunc
        self.ascending = ascending
        self.identity = identity  # keyfunc is the identity: the shuffle may bisect keys directly

    def __call__(self, key: Any) -> int:
        position = bisect_left(self.bounds, self.keyfunc(key))
        return position if self.ascending else len(self.bounds) - position

    def __eq__(self, other) -> bool:
        return (isinstance(other, RangeBounds) and self.bounds == other.bounds
                and self.keyfunc == other.keyfunc and self.ascending == other.ascending)

    def __hash__(self) -> int:
        return hash((len(self.bounds), self.ascending))
