"""TaskContext: what a running task knows about itself.

PySpark's ``TaskContext``: ``TaskContext.get()`` inside a task returns the
context of the task running in the calling thread (``None`` on the driver).
Besides the public fields it carries the worker's services for the RDDs being
computed (``_env``: block manager, shuffle reader) and collects what the task
reports home besides its result (``_cache_updates``, ``_cache_drops``, and the
task's ``_metrics``, ``ember.engine.api.task_metrics``). RDD code reaches worker
services only through it, so no RDD kind imports the worker package.

A context that is pickled (a task may return its own, as in PySpark) keeps
only the task's description: ids, local properties, cpus and resources. The
worker's services and the updates being collected never leave the worker.
"""

from __future__ import annotations

import threading
from typing import Any

from ember.engine.api.task_metrics import TaskMetrics

_current = threading.local()


class TaskContext:
    def __init__(self, *, stage_id: int, stage_attempt: int, partition_id: int,
                 attempt_number: int, task_attempt_id: int,
                 local_properties: dict | None = None, cpus: int = 1,
                 env: Any = None, map_outputs: dict | None = None,
                 metrics: TaskMetrics | None = None):
        self._stageId = stage_id
        self._stageAttemptNumber = stage_attempt
        self._partitionId = partition_id
        self._attemptNumber = attempt_number
        self._taskAttemptId = task_attempt_id
        self._localProperties = dict(local_properties or {})
        self._cpus = cpus
        self._resources: dict = {}
        self._env = env
        self._map_outputs = map_outputs or {}
        self._cache_updates: list = []
        self._cache_drops: list = []  # blocks this worker evicted while the task ran
        self._accumulators: list = []  # accumulators unpickled by this task
        self._metrics = metrics if metrics is not None else TaskMetrics()

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.update(_env=None, _map_outputs={}, _cache_updates=[], _cache_drops=[],
                     _accumulators=[], _metrics=TaskMetrics())
        return state

    def _commit_or_abort(self) -> None:
        """Ask the driver whether this attempt may publish its output; raise
        TaskKilledError if another attempt of the partition holds the right."""
        ask = getattr(self._env, "ask_commit", None)
        if ask is not None and not ask(self):
            from ember.engine.errors import TaskKilledError

            raise TaskKilledError(f"output commit denied to attempt {self._attemptNumber} of "
                                  f"partition {self._partitionId}: another attempt committed it")

    def _accumulator_updates(self) -> dict:
        """{accumulator id: what this task added}, merged per id."""
        updates: dict = {}
        for accumulator in self._accumulators:
            aid, value, param = accumulator.aid, accumulator._value, accumulator.accum_param
            updates[aid] = param.addInPlace(updates[aid], value) if aid in updates else value
        return updates

    @classmethod
    def get(cls) -> "TaskContext | None":
        """The context of the task running in this thread, or None."""
        return getattr(_current, "context", None)

    @classmethod
    def _set(cls, context: "TaskContext | None") -> None:
        _current.context = context

    def stageId(self) -> int:
        return self._stageId

    def partitionId(self) -> int:
        return self._partitionId

    def attemptNumber(self) -> int:
        return self._attemptNumber

    def taskAttemptId(self) -> int:
        return self._taskAttemptId

    def getLocalProperty(self, key: str) -> str | None:
        return self._localProperties.get(key)

    def cpus(self) -> int:
        return self._cpus

    def resources(self) -> dict:
        return dict(self._resources)

    def __repr__(self) -> str:
        return (f"TaskContext(stage={self._stageId}.{self._stageAttemptNumber}, "
                f"partition={self._partitionId}, attempt={self._attemptNumber}, "
                f"tid={self._taskAttemptId})")
