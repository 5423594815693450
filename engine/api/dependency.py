"""Dependencies: how an RDD's partitions depend on its parents' partitions.

A tiny vocabulary, walked by the DAGScheduler to cut stages:

* ``NarrowDependency``: each child partition needs a few known parent
  partitions (``get_parents``); computed in the same task, so no stage boundary.
  ``OneToOneDependency`` (map, filter, ...) and ``RangeDependency`` (union) are
  the common cases.
* ``ShuffleDependency``: a child partition needs a piece of every parent
  partition. A stage ends here: the map side writes its output partitioned by
  ``partitioner``, the reduce side fetches it.

A ``ShuffleDependency`` is registered with its Context when created, so that
its shuffle files are removed from the workers once the driver no longer
references it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ember.engine.wire.closure import Closure
from ember.engine.api.partitioner import Partitioner

if TYPE_CHECKING:
    from ember.engine.api.rdd import RDD


class Dependency:
    def __init__(self, rdd: "RDD"):
        self.rdd = rdd


class NarrowDependency(Dependency):
    def get_parents(self, partition: int) -> list[int]:
        raise NotImplementedError


class OneToOneDependency(NarrowDependency):
    def get_parents(self, partition: int) -> list[int]:
        return [partition]


class RangeDependency(NarrowDependency):
    """Child partitions [out_start, out_start + length) are parent partitions
    [in_start, in_start + length)."""

    def __init__(self, rdd: "RDD", in_start: int, out_start: int, length: int):
        super().__init__(rdd)
        self.in_start = in_start
        self.out_start = out_start
        self.length = length

    def get_parents(self, partition: int) -> list[int]:
        if self.out_start <= partition < self.out_start + self.length:
            return [partition - self.out_start + self.in_start]
        return []


class ManyToOneDependency(NarrowDependency):
    """Each child partition reads a listed group of parent partitions
    (coalesce without shuffle)."""

    def __init__(self, rdd: "RDD", groups: list[list[int]]):
        super().__init__(rdd)
        self.groups = groups

    def get_parents(self, partition: int) -> list[int]:
        return list(self.groups[partition])


class ShuffleDependency(Dependency):
    """The map side of a shuffle: ``rdd``'s (key, value) records, partitioned
    by ``partitioner`` into ``partitioner.numPartitions`` blocks per map task."""

    def __init__(self, rdd: "RDD", partitioner: Partitioner, shuffle_id: int,
                 op: str = "partitionBy", callsite: str = ""):
        super().__init__(rdd)
        self.partitioner = partitioner
        self.shuffle_id = shuffle_id
        self.memory_budget = rdd._memory_budget()  # bytes a map task holds before spilling
        # The partition function may be user code (partitionBy's argument,
        # sortByKey's key function): it is shipped like any other closure.
        self.partitioner_code = Closure(partitioner, [(op, callsite, partitioner.partitionFunc)])

    def __getstate__(self):
        return {"rdd": self.rdd, "shuffle_id": self.shuffle_id,
                "memory_budget": self.memory_budget, "partitioner_code": self.partitioner_code}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.partitioner = self.partitioner_code.value

    @property
    def num_maps(self) -> int:
        return self.rdd.getNumPartitions()

    def __repr__(self) -> str:
        return f"ShuffleDependency(shuffle {self.shuffle_id}, {self.partitioner!r})"
