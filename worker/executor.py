"""Executor: runs task attempts in this worker's task slots.

One thread per slot takes launched tasks from a queue and runs them with
``engine.wire.task.run_task``; the outcome (result or map status, a failure with the
worker's traceback, a fetch failure, or "killed") goes back to the driver as a
``StatusUpdate`` with the attempt's ``TaskMetrics`` (measured while it ran,
whatever its outcome; its slot is the slot's number), the result bytes as a
separate frame. Stage binaries arrive
once per stage attempt and are kept until the driver says the attempt ended.

Slot 0 runs on the process's main thread (``serve()``); others get threads.

Killing a running task raises ``TaskKilledError`` inside it. On the main
thread this is done with a signal (SIGUSR1), which also interrupts a blocking
call such as ``time.sleep``; on other slots with an asynchronous exception,
delivered the next time that thread runs Python code. A task stuck in a call
that neither returns nor yields to signals cannot be interrupted; if it is
still running after ``kill_timeout`` seconds the worker process exits, the only
way to take the slot back (a local cluster starts a replacement).

What a task prints reaches the driver (``ember.worker.task_output``):
``start()`` installs the capture; each task's output is bracketed by
``begin``/``end`` on its slot thread and sent before its StatusUpdate.

Thread-safety: ``launch``, ``remove_binary`` and ``kill`` are called by the I/O
thread; the slot threads only read the binaries. ``_running`` is guarded by a
lock, and an asynchronous exception is only ever aimed at a thread while it
runs the task it was meant for.
"""

from __future__ import annotations

import ctypes
import dataclasses
import logging
import os
import queue
import signal
import threading
import time
from typing import Any, Callable

from ember.engine import failpoints
from ember.engine.api.task_metrics import TaskMetrics
from ember.engine.errors import TaskKilledError
from ember.engine.wire.protocol import LaunchTask, StatusUpdate, encode
from ember.engine.wire.task import TaskKilled, TaskSuccess, describe_exception, run_task
from ember.worker.task_output import TaskOutput

log = logging.getLogger("ember.worker.executor")


def _raise_in_thread(ident: int, exception: type[BaseException]) -> None:
    """Schedule ``exception`` in thread ``ident``. (Never "cancel" one with
    NULL: CPython then leaves its eval-breaker flag set, slowing every later
    bytecode of that thread, and hanging it under a profiler.)"""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(exception))


class Executor:
    def __init__(self, env: Any, send: Callable[[list], None], slots: int,
                 kill_timeout: float = 10.0):
        self.env = env
        self._send = send
        self.kill_timeout = kill_timeout
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._binaries: dict[int, bytes] = {}
        self._running: dict[int, int] = {}  # tid -> ident of the slot thread running it
        self._killed: set[int] = set()
        self._lock = threading.Lock()
        self._main = threading.main_thread().ident
        self._main_task: int | None = None  # tid running on the main thread
        self._threads = [threading.Thread(target=self._work, args=(i,), name=f"ember-task-slot-{i}",
                                          daemon=True)
                         for i in range(1, slots)]
        self.output = TaskOutput(send)

    def start(self) -> "Executor":
        """Start the extra slots; the caller's main thread then calls serve()."""
        signal.signal(signal.SIGUSR1, self._interrupt_main)
        self.output.install()
        for thread in self._threads:
            thread.start()
        return self

    def serve(self) -> None:
        """Run slot 0 on the main thread, forever."""
        self._work()

    def _interrupt_main(self, signum, frame) -> None:
        with self._lock:
            doomed = self._main_task is not None and self._main_task in self._killed
        if doomed:
            raise TaskKilledError("killed")

    def launch(self, message: LaunchTask, payloads: list) -> None:
        if message.with_binary:
            self._binaries[message.task.binary_id] = payloads[1]
        # Bound now: a RemoveBinary that arrives while the task waits for a
        # slot must not take the binary away from it.
        self._queue.put((message.task, payloads[0], self._binaries.get(message.task.binary_id)))

    def remove_binary(self, binary_id: int) -> None:
        self._binaries.pop(binary_id, None)

    def kill(self, tid: int) -> None:
        with self._lock:
            self._killed.add(tid)
            ident = self._running.get(tid)
            if ident == self._main:
                signal.pthread_kill(ident, signal.SIGUSR1)
            elif ident is not None:
                _raise_in_thread(ident, TaskKilledError)
        if ident is not None:
            threading.Timer(self.kill_timeout, self._reap, args=(tid,)).start()

    def _reap(self, tid: int) -> None:
        with self._lock:
            stuck = tid in self._running
        if stuck:
            # Written here (not forwarded): the process ends on the next line.
            log.error("task %s did not stop within %.0f s of being killed; the worker exits "
                      "to free its slot", tid, self.kill_timeout, extra={"ember_local": True})
            os._exit(1)

    def _work(self, slot: int = 0) -> None:
        while True:
            try:
                self._run_one(*self._queue.get(), slot)
            except TaskKilledError:
                pass  # a kill that arrived just as its task was reported

    def _run_one(self, task: Any, split: bytes, binary: bytes | None, slot: int = 0) -> None:
        started = time.monotonic()
        metrics = TaskMetrics(slot=slot, started=time.time())
        with self._lock:
            killed_early = task.tid in self._killed
            if not killed_early:
                self._running[task.tid] = threading.get_ident()
                if threading.get_ident() == self._main:
                    self._main_task = task.tid
        if killed_early:
            outcome: Any = TaskKilled("killed before it started")
        else:
            try:
                if binary is None:
                    outcome = describe_exception(RuntimeError(
                        f"worker {self.env.worker_id} has no binary for stage {task.stage_id} "
                        f"attempt {task.stage_attempt}"))
                else:
                    self.output.begin(f"task {task.partition}.{task.attempt} in stage {task.stage_id}")
                    outcome = run_task(task, binary, split, self.env, metrics)
            except TaskKilledError:
                outcome = TaskKilled("killed")
            finally:
                self._finished(task.tid)
        output, in_order = self.output.end()
        payloads = []
        if isinstance(outcome, TaskSuccess):
            payloads = [outcome.payload]
            outcome = dataclasses.replace(outcome, payload=b"")  # the payload goes as a frame
        if not metrics.finished:  # it never ran (killed first, or no binary)
            metrics.finished = time.time()
        status = encode(StatusUpdate(self.env.worker_id, task.tid, outcome,
                                     time.monotonic() - started, metrics), *payloads)
        failpoints.point("worker.before_result_send")
        if in_order:  # its earlier output left through the output thread: so must this
            self.output.send_in_order([output, status] if output else [status])
        else:
            if output:
                self._send(output)
            self._send(status)
        failpoints.point("worker.after_result_send")

    def _finished(self, tid: int) -> None:
        """Forget a task that ended. Once this ran, no kill can be aimed at
        this thread for it (kills check ``_running`` under the same lock). A
        kill sent just as the task ended is delivered within a few bytecodes:
        here (we simply try again) or in ``_work``, which ignores it."""
        while True:
            try:
                with self._lock:
                    self._running.pop(tid, None)
                    self._killed.discard(tid)
                    if self._main_task == tid:
                        self._main_task = None
                return
            except TaskKilledError:
                continue
