"""Executor: runs task attempts in this worker's task slots.

One thread per slot takes launched tasks from a queue and runs them with
``engine.task.run_task``; the outcome (result or map status, a failure with the
worker's traceback, or a fetch failure) goes back to the driver as a
``StatusUpdate``, the result bytes as a separate frame. Stage binaries arrive
once per stage attempt and are kept until the driver says the attempt ended.

Thread-safety: ``launch`` and ``remove_binary`` are called by the I/O thread,
the slot threads only read the binaries.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any, Callable

from ember.engine.protocol import LaunchTask, StatusUpdate, encode
from ember.engine.task import TaskSuccess, describe_exception, run_task

log = logging.getLogger("ember.worker.executor")


class Executor:
    def __init__(self, env: Any, send: Callable[[list], None], slots: int):
        self.env = env
        self._send = send
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._binaries: dict[int, bytes] = {}
        self._threads = [threading.Thread(target=self._work, name=f"ember-task-slot-{i}", daemon=True)
                         for i in range(slots)]

    def start(self) -> "Executor":
        for thread in self._threads:
            thread.start()
        return self

    def launch(self, message: LaunchTask, payloads: list) -> None:
        if message.with_binary:
            self._binaries[message.task.binary_id] = payloads[1]
        self._queue.put((message.task, payloads[0]))

    def remove_binary(self, binary_id: int) -> None:
        self._binaries.pop(binary_id, None)

    def _work(self) -> None:
        while True:
            task, split = self._queue.get()
            started = time.monotonic()
            binary = self._binaries.get(task.binary_id)
            if binary is None:
                outcome = describe_exception(RuntimeError(
                    f"worker {self.env.worker_id} has no binary for stage {task.stage_id} "
                    f"attempt {task.stage_attempt}"))
            else:
                outcome = run_task(task, binary, split, self.env)
            payloads = []
            cache_updates: tuple = ()
            if isinstance(outcome, TaskSuccess):
                payloads = [outcome.payload]
                cache_updates = tuple(outcome.cache_updates)
                outcome = TaskSuccess(b"")
            update = StatusUpdate(self.env.worker_id, task.tid, outcome,
                                  time.monotonic() - started, cache_updates)
            self._send(encode(update, *payloads))
