"""Tasks: what the scheduler sends and what a worker runs.

One of the two seams between scheduler and worker (with ``protocol``):

* ``StageBinary``: everything tasks of one stage attempt share (the RDD
  lineage up to the stage's shuffle boundaries, the action's function or the
  shuffle dependency to write, and where the map outputs it reads live).
  Pickled once per stage attempt on the driver, sent once to each worker.
* ``TaskDescription``: one task attempt's identity (tid, stage, stage attempt,
  partition, attempt number, epoch), sent with the partition's pickled split.
* ``run_task``: the worker side: compute the partition, then either return
  the action's value (result task) or write map output and return its
  ``MapStatus`` (shuffle map task).
* ``run_task`` fills the attempt's ``TaskMetrics`` (given by the executor,
  sent home with the outcome): run and CPU time, result size, shuffle write.
* Failures come home as data: ``ExceptionFailure`` carries the exception's
  type name, message and formatted traceback as text, plus the pickled
  exception when it survives a pickle round trip; ``FetchFailure`` names the
  missing shuffle block.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from ember.engine import failpoints

from ember.engine.api import profiling
from ember.engine.api.barrier import BarrierTaskContext
from ember.engine.wire.closure import Closure
from ember.engine.errors import FetchFailedError, TaskKilledError
from ember.engine.wire.serializer import dumps, loads
from ember.engine.data.shuffle import MapStatus, write_map_output
from ember.engine.api.task_context import TaskContext
from ember.engine.api.task_metrics import TaskMetrics

RESULT = "result"
SHUFFLE_MAP = "shuffle_map"


@dataclass
class StageBinary:
    kind: str
    rdd: Any
    func: Closure | None
    dependency: Any
    map_outputs: dict[int, list[MapStatus | None]]
    properties: dict = field(default_factory=dict)
    barrier: bool = False


def make_binary(kind: str, rdd: Any, func: Closure | None, dependency: Any,
                map_outputs: dict, properties: dict, barrier: bool = False) -> bytes:
    return dumps(StageBinary(kind, rdd, func, dependency, map_outputs, properties, barrier))


@dataclass(frozen=True)
class TaskDescription:
    tid: int
    job_id: int
    stage_id: int
    stage_attempt: int
    partition: int
    attempt: int
    binary_id: int
    epoch: int
    peers: tuple = ()  # a barrier stage: the address of every task, by partition


@dataclass
class TaskSuccess:
    payload: bytes
    cache_updates: list = field(default_factory=list)
    accumulator_updates: dict = field(default_factory=dict)
    profile: bytes | None = None  # marshalled cProfile stats, when profiling
    cache_drops: list = field(default_factory=list)  # (rdd id, partition) no longer held


@dataclass
class TaskKilled:
    """The attempt was stopped on request (cancellation, a speculative loser)."""

    reason: str


@dataclass
class ExceptionFailure:
    exc_type: str
    message: str
    traceback: str
    exc_bytes: bytes | None

    def rebuild(self) -> BaseException | None:
        """The original exception, if it unpickles here; else None."""
        if self.exc_bytes is None:
            return None
        try:
            error = loads(self.exc_bytes)
        except Exception:  # noqa: BLE001 - fall back to the text form
            return None
        return error if isinstance(error, BaseException) else None


@dataclass
class FetchFailure:
    shuffle_id: int
    map_index: int
    reduce_index: int
    worker_id: str | None
    message: str


def describe_exception(error: BaseException) -> ExceptionFailure:
    kind = type(error)
    name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    try:
        data = dumps(error)
        loads(data)  # an exception that pickles but cannot unpickle is sent as text
    except Exception:  # noqa: BLE001
        data = None
    return ExceptionFailure(name, str(error), text, data)


def run_task(description: TaskDescription, binary_bytes: bytes, split_bytes: bytes,
             env: Any, metrics: TaskMetrics | None = None
             ) -> TaskSuccess | ExceptionFailure | FetchFailure | TaskKilled:
    """Run one task attempt; never raises: every outcome is returned as data.
    Unpickling happens here too (with this task's context current, so that
    accumulators in the closures register with it), so a module missing on the
    worker is a task failure naming the module. ``metrics`` (when given) is
    filled as the task runs, whatever its outcome."""
    kind = BarrierTaskContext if description.peers else TaskContext
    context = kind(
        stage_id=description.stage_id, stage_attempt=description.stage_attempt,
        partition_id=description.partition, attempt_number=description.attempt,
        task_attempt_id=description.tid, env=env, metrics=metrics)
    context._peers = description.peers
    metrics = context._metrics
    metrics.started = time.time()
    began, cpu = time.perf_counter(), time.thread_time()
    TaskContext._set(context)
    try:
        binary: StageBinary = loads(binary_bytes)
        context._localProperties = dict(binary.properties)
        context._map_outputs = binary.map_outputs
        split = loads(split_bytes)
        failpoints.point("task.start")
        with profiling.profiled(binary.properties.get(profiling.PROPERTY) == "true") as profile:
            records = binary.rdd.iterator(split, context)
            if binary.kind == RESULT:
                value = binary.func.value(records)
                try:
                    payload = dumps(value)
                except Exception as error:  # noqa: BLE001
                    raise type(error)(
                        f"the result of partition {description.partition} could not be "
                        f"serialized: {error}") from error
                metrics.result_size = len(payload)
            else:
                dep = binary.dependency
                sizes, checksums = write_map_output(env.shuffle_dir, dep.shuffle_id,
                                                    description.partition, description.tid,
                                                    records, dep.partitioner, dep.memory_budget,
                                                    metrics)
                payload = dumps(MapStatus(env.worker_id, env.shuffle_address, description.tid,
                                          sizes, checksums))
        return TaskSuccess(payload, context._cache_updates, context._accumulator_updates(),
                           profile[0] if profile else None, context._cache_drops)
    except TaskKilledError as error:
        return TaskKilled(str(error))
    except FetchFailedError as error:
        return FetchFailure(error.shuffle_id, error.map_index, error.reduce_index,
                            error.worker_id, str(error))
    except BaseException as error:  # noqa: BLE001 - SystemExit in user code is a task failure
        return describe_exception(error)
    finally:
        TaskContext._set(None)
        metrics.run_time = time.perf_counter() - began
        metrics.cpu_time = time.thread_time() - cpu
        metrics.finished = time.time()
