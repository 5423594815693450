"""ActiveJob and JobWaiter: one action in flight, and the user's thread
waiting for it.

The ActiveJob is built by the submitting thread and then owned by the
DAGScheduler's loop; the JobWaiter is the only object both threads touch,
and it is thread-safe (results are written before the event is set).
"""

from __future__ import annotations

import threading
from typing import Any

from ember.engine.clock import wait_interruptibly
from ember.engine.wire.closure import Closure


class JobWaiter:
    def __init__(self, job_id: int, num_partitions: int):
        self.job_id = job_id
        self._results: list[bytes | None] = [None] * num_partitions
        self._done = threading.Event()
        self._error: BaseException | None = None

    def task_succeeded(self, output_index: int, payload: bytes) -> None:
        self._results[output_index] = payload

    def job_finished(self) -> None:
        self._done.set()

    def job_failed(self, error: BaseException) -> None:
        self._error = error
        self._done.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> list[bytes]:
        """Block until the job ends; the payloads in partition order, or the
        job's error raised. Ctrl-C raises KeyboardInterrupt here."""
        if not wait_interruptibly(self._done, timeout):
            raise TimeoutError(f"job {self.job_id} did not finish within {timeout} s")
        if self._error is not None:
            raise self._error
        return self._results  # type: ignore[return-value]


class ActiveJob:
    def __init__(self, job_id: int, rdd: Any, func: Closure, partitions: list[int],
                 waiter: JobWaiter, properties: dict, callsite: str):
        self.id = job_id
        self.rdd = rdd
        self.func = func
        self.partitions = partitions
        self.output_index = {partition: index for index, partition in enumerate(partitions)}
        self.waiter = waiter
        self.properties = properties
        self.callsite = callsite  # "collect at job.py:12"
        self.finished = [False] * len(partitions)
        self.num_finished = 0
        self.result_bytes = 0
        self.final_stage: Any = None

    def __repr__(self) -> str:
        return f"Job({self.id}, {self.callsite})"
