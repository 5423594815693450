"""Barrier execution mode: the tasks of a stage run all at once and can wait
for one another.

``rdd.barrier().mapPartitions(f)`` makes a barrier RDD; a stage containing one
is a barrier stage. The scheduler launches all of its tasks together (or fails
the job at once if the cluster has fewer slots than the stage has tasks), and
when any of them fails it kills the others and reruns the whole stage. Inside
the tasks, ``BarrierTaskContext.get()`` gives ``barrier()`` (wait until every
task of the stage reached this point) and ``allGather(message)`` (the same,
returning every task's message in partition order), coordinated by the driver.
"""

from __future__ import annotations

import types
from typing import Any, Callable, Iterable, Iterator, NamedTuple

from ember.engine.api.task_context import TaskContext


class BarrierTaskInfo(NamedTuple):
    address: str


class BarrierTaskContext(TaskContext):
    """The TaskContext of a task in a barrier stage.

    >>> def sync(iterator):
    ...     context = BarrierTaskContext.get()
    ...     context.barrier()
    ...     yield context.allGather(str(context.partitionId()))
    >>> sc.parallelize(range(4), 2).barrier().mapPartitions(sync).collect()
    [['0', '1'], ['0', '1']]
    """

    _peers: tuple = ()
    _round = 0

    @classmethod
    def get(cls) -> "BarrierTaskContext":
        context = TaskContext.get()
        if not isinstance(context, BarrierTaskContext):
            raise RuntimeError("It is not in a barrier stage")
        return context

    def barrier(self) -> None:
        """Wait until every task of this stage has called barrier()."""
        self._sync("")

    def allGather(self, message: str = "") -> list[str]:
        """Wait for every task and return all their messages, by partition."""
        if not isinstance(message, str):
            raise TypeError(f"allGather: message must be a str, got {type(message).__name__}")
        return self._sync(message)

    def getTaskInfos(self) -> list[BarrierTaskInfo]:
        return [BarrierTaskInfo(address) for address in self._peers]

    def _sync(self, message: str) -> list[str]:
        self._round += 1
        return self._env.barrier_sync(self, self._round, message)


class RDDBarrier:
    """An RDD whose next transformation runs as a barrier stage."""

    __class_getitem__ = classmethod(types.GenericAlias)  # RDDBarrier[T], as PySpark's

    def __init__(self, rdd: Any):
        self.rdd = rdd

    def mapPartitions(self, f: Callable[[Iterator], Iterable],
                      preservesPartitioning: bool = False) -> Any:
        return self.rdd._pipe(lambda _, it: f(it), preservesPartitioning, "barrier.mapPartitions",
                              f, barrier=True)

    def mapPartitionsWithIndex(self, f: Callable[[int, Iterator], Iterable],
                               preservesPartitioning: bool = False) -> Any:
        return self.rdd._pipe(f, preservesPartitioning, "barrier.mapPartitionsWithIndex", f,
                              barrier=True)
