"""TaskMetrics: what one task attempt read, wrote, shuffled and spilled.

Spark's task metrics, measured on the worker while the task runs and sent
home with the attempt's ``StatusUpdate`` (whatever its outcome), for the
status page's task table and timeline:

* input: records and bytes read from where the stage starts: a
  parallelized slice, text and pickle files, cached blocks;
* output: records and bytes written by ``saveAsTextFile``/``saveAsPickleFile``;
* shuffle read: records and bytes of the blocks a reduce task read (the
  remote part of the bytes separately), and the time it waited for fetches;
* shuffle write: records and bytes a map task wrote;
* spill: the estimated in-memory size of what was spilled (Spark's "memory
  spilled") and the bytes written to spill files ("disk spilled");
* run time and CPU time of the attempt on its slot, the size of its result,
  the slot it ran in, and when it started and ended (wall clock, seconds).

Cheap by construction: the data plane adds to these counters once per
chunk, frame or block it already handles, never once per record. The
counters of the running task are ``current()``: the ``TaskContext`` of the
calling thread carries them, so code far from the task (a spill deep in an
aggregation) can add to them without being handed anything.

Must not know: the scheduler, the worker's services, the wire.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from operator import attrgetter


@dataclass(slots=True)
class TaskMetrics:
    input_records: int = 0
    input_bytes: int = 0
    output_records: int = 0
    output_bytes: int = 0
    shuffle_read_records: int = 0
    shuffle_read_bytes: int = 0
    shuffle_remote_bytes: int = 0
    shuffle_fetch_wait: float = 0.0  # seconds spent waiting for remote blocks
    shuffle_write_records: int = 0
    shuffle_write_bytes: int = 0
    memory_spilled: int = 0
    disk_spilled: int = 0
    result_size: int = 0
    run_time: float = 0.0  # seconds, on the worker
    cpu_time: float = 0.0  # seconds of CPU of the slot's thread
    slot: int = 0  # the worker's task slot it ran in
    started: float = 0.0  # wall clock (time.time()) on the worker
    finished: float = 0.0

    def __reduce__(self):
        # Its values by position: a third of the pickled size and time of
        # the field-by-field default (it travels with every task's status).
        return TaskMetrics, _values(self)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


_values = attrgetter(*TaskMetrics.names())


def current() -> TaskMetrics | None:
    """The metrics of the task running in this thread, or None (the driver,
    or code running outside a task)."""
    from ember.engine.api.task_context import TaskContext

    context = TaskContext.get()
    return context._metrics if context is not None else None
