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


def _rebuild(cls: type, state: dict) -> "TaskContext":
    context = object.__new__(cls)
    context.__dict__.update(state)
    return context


class TaskContext:
    """What the task running in this thread knows about itself.

    ``TaskContext()`` is PySpark's singleton constructor: inside a task it is
    the running task's context (``TaskContext.get()``); on the driver it is
    an empty context whose fields are None.

    >>> sc.parallelize([0], 1).map(lambda _: TaskContext().partitionId()).collect()
    [0]
    >>> TaskContext.get() is None, TaskContext().partitionId() is None
    (True, True)
    """

    _driver_context: "TaskContext | None" = None

    def __new__(cls, *args: Any, **fields: Any) -> "TaskContext":
        if fields:  # made by the worker for a task
            return super().__new__(cls)
        running = TaskContext.get()
        if isinstance(running, cls):
            return running
        if cls._driver_context is None or type(cls._driver_context) is not cls:
            empty = super().__new__(cls)
            empty._fill(None, None, None, None, None, None, None, None, None, None)
            cls._driver_context = empty
        return cls._driver_context

    def __init__(self, *, stage_id: int | None = None, stage_attempt: int | None = None,
                 partition_id: int | None = None, attempt_number: int | None = None,
                 task_attempt_id: int | None = None, local_properties: dict | None = None,
                 cpus: int = 1, env: Any = None, map_outputs: dict | None = None,
                 metrics: TaskMetrics | None = None):
        if task_attempt_id is None:
            return  # TaskContext(): the singleton __new__ returned is left as it is
        self._fill(stage_id, stage_attempt, partition_id, attempt_number, task_attempt_id,
                   local_properties, cpus, env, map_outputs, metrics)

    def _fill(self, stage_id: Any, stage_attempt: Any, partition_id: Any, attempt_number: Any,
              task_attempt_id: Any, local_properties: Any, cpus: Any, env: Any,
              map_outputs: Any, metrics: TaskMetrics | None) -> None:
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

    def __reduce__(self):
        # Not through __new__: unpickling a copy must never hand back (and
        # overwrite) the running task's context or the driver's singleton.
        return _rebuild, (type(self), self.__getstate__())

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
