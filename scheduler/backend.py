"""The driver's ZeroMQ backend: the scheduler's hands on the wire.

Owns the driver's ROUTER socket (CURVE server, see ``engine.wire.transport``) and
the set of registered workers. Turns worker messages into scheduler events
(``ExecutorAdded``, ``CompletionEvent``) and the scheduler's requests (launch,
kill, broadcast) into messages. What tasks print and workers log
(``WorkerOutput``) is handed to ``output_sink`` on the I/O thread, so a
task's output is shown before its result is posted. A worker is registered
after it connects, authenticates and presents a matching ember and Python
version (and, if started by hand, the cluster's ``PYTHONHASHSEED``); messages
from any other peer, or from a worker declared lost, are
dropped unread beyond their header (fencing), and a lost worker that speaks
up is told so (it then exits).

Shipping to workers: workers of a local cluster share the driver's disk and
are told the paths of files added with addPyFile (``AddPyFile``). A worker
registered with ``own_files`` (started on another host) gets every shipped
file as bytes (``ShipFile``: at registration, right after ``Registered`` and
so before any task, and whenever one is added), and asks for broadcast values
it needs (``FetchBroadcast``), answered from ``broadcast_source``.

Killing a task: ``kill`` asks the worker; a worker whose task has not ended
``kill_timeout`` after that ends itself (``ember.worker.executor``). One too
stuck even for that (user code holding the interpreter's lock in a C call)
is ended from outside, as PySpark's JVM ends a Python worker: a second past
the timeout, the backend asks its ``listener`` to ``kill_worker`` (a local cluster SIGKILLs the process
and every process it started; workers on other hosts are left to their own
timer and to the heartbeat timeout).

Liveness: every message from a worker counts as a heartbeat; workers send one
every heartbeat interval and get an answer. A monitor thread declares a worker
lost when it has been silent for ``heartbeat_timeout`` seconds (a hung or
stopped process, or a network partition), exactly as if it had died. A
worker stopped by its operator says so (``Leaving``): it is lost at once and
told ``Shutdown``; ``shutdown_workers`` tells every worker the driver stops.

Large messages: payloads of any size travel in bounded frames
(``engine.wire.framing``). What a worker may send the driver is bounded by
``spark.driver.maxResultSize`` (plus RESULT_HEADER_BYTES for the message
around it): a larger message is dropped before its pieces are kept, and the
jobs of the task whose result it carried fail with ResultTooLargeError.

Thread-safety: the socket is used only by its I/O thread; every public
method may be called from any thread.
"""

from __future__ import annotations

import collections
import logging
import sys
import threading
import time
from typing import Any, Callable

import zmq

from ember.engine.wire.protocol import (
    AddPyFile,
    BarrierAnswer,
    BroadcastData,
    BarrierRequest,
    CommitAnswer,
    CommitRequest,
    FetchBroadcast,
    Heartbeat,
    HeartbeatAck,
    KillTask,
    LaunchTask,
    Leaving,
    Register,
    Registered,
    Refused,
    RemoveBinary,
    ShipFile,
    Shutdown,
    StatusUpdate,
    WorkerOutput,
    decode,
    encode,
)
from ember.engine.errors import MessageTooLargeError, ProtocolError, ResultTooLargeError
from ember.engine.wire.task import TaskDescription
from ember.engine.wire.transport import DEFAULT_MAX_MESSAGE_SIZE, ClusterKeys, Endpoint, server_socket
from ember.engine.version import __version__
from ember.scheduler.events import AskCommit, BarrierSync, CompletionEvent, ExecutorAdded, ExecutorLost

log = logging.getLogger("ember.backend")

PYTHON_VERSION = "%d.%d" % sys.version_info[:2]
# Room for the message around a result (its StatusUpdate, with accumulator
# updates) beyond spark.driver.maxResultSize.
RESULT_HEADER_BYTES = 16 * 2**20
# How many of the latest reported tids are remembered (far more than tasks in flight).
_REPORTED_KEPT = 65536


class ZmqBackend:
    def __init__(self, zctx: zmq.Context, keys: ClusterKeys, post: Callable[[Any], None],
                 host: str = "127.0.0.1", max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
                 heartbeat_timeout: float = 120.0, port: int = 0,
                 max_result_size: int | None = None):
        sock, self.address = server_socket(zctx, zmq.ROUTER, keys, host, port, max_message_size)
        self.max_result_size = max_result_size
        self._endpoint = Endpoint(
            zctx, sock, self._on_message, "ember-driver-io",
            max_message_bytes=None if max_result_size is None else max_result_size + RESULT_HEADER_BYTES,
            limit_name="spark.driver.maxResultSize plus room for its message",
            on_refused=self._refused)
        self._post = post
        self._workers: dict[str, Register] = {}
        self._lost: set[str] = set()
        self._last_seen: dict[str, float] = {}
        self._states: dict[str, dict] = {}  # each worker's last Heartbeat.state (status page)
        self._changed = threading.Condition()
        self.heartbeat_timeout = heartbeat_timeout
        self.kill_timeout = 2.0  # spark.python.task.killTimeout, set by the Context
        self._killing: dict[int, tuple[str, float]] = {}  # tid -> (worker, when to end it)
        # The latest tids whose StatusUpdate arrived. The scheduler may kill a
        # task whose update is already on its way to it (queued behind the
        # event that kills it); the worker, done with it, never answers, so
        # such a kill must not arm the stuck-worker timer.
        self._reported: collections.deque[int] = collections.deque(maxlen=_REPORTED_KEPT)
        self._reported_set: set[int] = set()
        self._ever: set[str] = set()
        self.py_files: list[str] = []  # told to every worker that registers
        # Entries (name, python) of the Context's files directory, shipped
        # to every worker with own_files; file_source packs one as a tar.
        self._shipped: list[tuple[str, bool]] = []
        self.file_source: Callable[[str], bytes] | None = None
        self.broadcast_source: Callable[[int], bytes] | None = None
        # Told to every worker at registration (Registered.settings).
        self.worker_settings: tuple = ()
        # The PYTHONHASHSEED every worker must run with (None: not checked).
        self.hash_seed: str | None = None
        # The owner of the worker processes (the Context) hears of registrations
        # and losses, to replace lost workers.
        self.listener: Any = None
        # Shows what tasks print and workers log (WorkerOutput), on this I/O
        # thread: a task's output is shown before its StatusUpdate is posted.
        self.output_sink: Callable[[str, WorkerOutput], None] | None = None
        self._closing = threading.Event()
        self._monitor = threading.Thread(target=self._watch_heartbeats, name="ember-heartbeat-monitor",
                                         daemon=True)

    def start(self) -> "ZmqBackend":
        self._endpoint.start()
        self._monitor.start()
        return self

    def close(self, linger: float = 0.0) -> None:
        self._closing.set()
        self._endpoint.close(linger)

    def shutdown_workers(self) -> int:
        """Tell every registered worker to exit (the driver is stopping);
        returns how many were told."""
        workers = self.registered()
        for worker_id in workers:
            self._send(worker_id, Shutdown())
        return len(workers)

    def _watch_heartbeats(self) -> None:
        period = min(0.5, self.heartbeat_timeout / 4)
        while not self._closing.wait(period):
            now = time.monotonic()
            with self._changed:
                silent = [(w, now - seen) for w, seen in self._last_seen.items()
                          if w in self._workers and now - seen > self.heartbeat_timeout]
                stuck = {worker_id for tid, (worker_id, due) in self._killing.items()
                         if due <= now and worker_id in self._workers}
                self._killing = {tid: entry for tid, entry in self._killing.items()
                                 if entry[0] not in stuck and entry[0] in self._workers}
            for worker_id, quiet in silent:
                self.worker_lost(worker_id, f"no heartbeat for {quiet:.1f} s")
            for worker_id in stuck:
                self._end_stuck_worker(worker_id)

    def _end_stuck_worker(self, worker_id: str) -> None:
        ender = getattr(self.listener, "kill_worker", None)
        if ender is None:
            return
        log.warning("worker %s did not end a killed task within %.1f s "
                    "(spark.python.task.killTimeout) nor exit; ending it", worker_id,
                    self.kill_timeout)
        ender(worker_id)

    # --- incoming -------------------------------------------------------------

    def _on_message(self, frames: list) -> None:
        identity = frames[0].decode("utf-8", "replace")
        message, payloads = decode(frames[1:])
        if isinstance(message, Register):
            self._register(identity, message)
            return
        if identity not in self._workers:
            log.debug("dropped %s from unregistered peer %s", type(message).__name__, identity)
            if identity in self._lost:
                self._send(identity, Refused(f"worker {identity} was declared lost by the driver"))
            return
        self._last_seen[identity] = time.monotonic()
        if isinstance(message, Heartbeat):
            if message.state is not None:
                self._states[identity] = message.state
            self._send(identity, HeartbeatAck())
        elif isinstance(message, CommitRequest):
            self._post(AskCommit(identity, message.tid, message.stage_id, message.partition))
        elif isinstance(message, BarrierRequest):
            self._post(BarrierSync(identity, message))
        elif isinstance(message, FetchBroadcast):
            self._answer_broadcast(identity, message)
        elif isinstance(message, Leaving):
            self.worker_lost(identity, f"it left ({message.reason})")
            self._send(identity, Shutdown())
        elif isinstance(message, WorkerOutput):
            if self.output_sink is not None:
                self.output_sink(identity, message)
        elif isinstance(message, StatusUpdate):
            with self._changed:
                if len(self._reported) == _REPORTED_KEPT:
                    self._reported_set.discard(self._reported[0])
                self._reported.append(message.tid)
                self._reported_set.add(message.tid)
                self._killing.pop(message.tid, None)
            self._post(CompletionEvent(
                worker_id=identity, tid=message.tid, outcome=message.outcome,
                payload=payloads[0] if payloads else None, duration=message.duration,
                metrics=message.metrics))

    def _refused(self, frames: list, error: MessageTooLargeError) -> None:
        """A message over the limit, dropped unread but for its first frame:
        if it carried a task's outcome, that task's jobs fail with the limit
        named (rerunning the task would make a message as large)."""
        identity = frames[0].decode("utf-8", "replace")
        message = None
        if len(frames) > 1 and identity in self._workers:
            try:
                message, _ = decode(frames[1:])
            except ProtocolError:
                pass
        log.warning("dropped a message from %s: %s", identity, error)
        if isinstance(message, StatusUpdate):
            self._last_seen[identity] = time.monotonic()
            self._post(CompletionEvent(
                worker_id=identity, tid=message.tid, outcome=message.outcome,
                duration=message.duration, refused=ResultTooLargeError(
                    f"the result of task {message.tid} on worker {identity} is {error.size} "
                    f"bytes, bigger than spark.driver.maxResultSize ({self.max_result_size} "
                    f"bytes)")))

    def _register(self, identity: str, message: Register) -> None:
        problem = None
        if message.worker_id != identity:
            problem = f"worker id {message.worker_id!r} does not match its connection {identity!r}"
        elif identity in self._lost:
            problem = f"worker {identity} was declared lost; start a new worker instead"
        elif message.version != __version__:
            problem = (f"ember version mismatch: the driver runs {__version__}, worker "
                       f"{identity} runs {message.version}")
        elif message.python != PYTHON_VERSION:
            problem = (f"Python version mismatch: the driver runs {PYTHON_VERSION}, worker "
                       f"{identity} runs {message.python}")
        elif (message.own_files and self.hash_seed is not None  # a local cluster pins it itself
              and message.hash_seed != self.hash_seed):
            problem = (f"PYTHONHASHSEED mismatch: the cluster's workers use {self.hash_seed!r}, "
                       f"worker {identity} runs with {message.hash_seed or 'none'!r} (keys "
                       f"other than str, bytes, numbers and tuples would be placed differently)")
        if problem is not None:
            log.warning("refused worker %s: %s", identity, problem)
            self._send(identity, Refused(problem))
            return
        # Order matters: the worker gets Registered (and the files shipped to
        # it) before any task the scheduler may launch on it: those replies
        # leave from this I/O thread now, a launch is queued behind them. The
        # scheduler hears of the worker before anyone waiting for the
        # registration does, so a job submitted next already sees its slots.
        # The files to ship are listed and the worker joins the set in one
        # step, so a file added meanwhile reaches it exactly once: from here,
        # or from add_file.
        with self._changed:
            lost = tuple(sorted(self._lost))
            shipped = list(self._shipped) if message.own_files else []
            py_files = () if message.own_files else tuple(self.py_files)
            self._post(ExecutorAdded(identity, message.host, message.cores, message.shuffle_address))
            self._workers[identity] = message
            self._ever.add(identity)
            self._last_seen[identity] = time.monotonic()
            self._changed.notify_all()
        self._endpoint.reply([identity.encode(),
                              *encode(Registered(lost, py_files, self.worker_settings))])
        for name, python in shipped:
            self._endpoint.reply([identity.encode(), *encode(ShipFile(name, python),
                                                             self.file_source(name))])
        if self.listener is not None:
            self.listener.worker_registered(identity)

    # --- worker set -----------------------------------------------------------

    def worker_lost(self, worker_id: str, reason: str) -> bool:
        """Fence a worker (its later messages are dropped) and tell the
        scheduler. Returns whether it had registered (and not been lost yet)."""
        with self._changed:
            self._lost.add(worker_id)
            self._last_seen.pop(worker_id, None)
            self._states.pop(worker_id, None)
            known = self._workers.pop(worker_id, None) is not None
            self._changed.notify_all()
        if known:
            self._post(ExecutorLost(worker_id, reason))
            if self.listener is not None:
                self.listener.worker_lost(worker_id, reason)
        return known

    def has_registered(self, worker_id: str) -> bool:
        with self._changed:
            return worker_id in self._ever

    def registered(self) -> dict[str, Register]:
        with self._changed:
            return dict(self._workers)

    def worker_states(self) -> dict[str, dict]:
        """The memory and cached blocks each live worker last reported."""
        live = self.registered()
        return {w: state for w, state in list(self._states.items()) if w in live}

    def wait_for(self, worker_ids: set[str], timeout: float,
                 check: Callable[[], None] | None = None) -> None:
        """Block until every listed worker registered; ``check`` may raise to
        give up early (a worker that died before registering)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not worker_ids <= set(self._workers):
                if check is not None:
                    check()
                left = deadline - time.monotonic()
                if left <= 0:
                    missing = ", ".join(sorted(worker_ids - set(self._workers)))
                    raise TimeoutError(f"workers {missing} did not register within {timeout:.0f} s")
                self._changed.wait(min(left, 0.05))

    # --- outgoing (the scheduler's requests) ----------------------------------

    def _send(self, worker_id: str, message: Any, *payloads: bytes) -> None:
        self._endpoint.send([worker_id.encode(), *encode(message, *payloads)])

    def launch(self, worker_id: str, task: TaskDescription, split: bytes, binary: bytes | None) -> None:
        if binary is None:
            self._send(worker_id, LaunchTask(task, False), split)
        else:
            self._send(worker_id, LaunchTask(task, True), split, binary)

    def kill(self, worker_id: str, tid: int, started: bool = True) -> None:
        """Ask the worker to kill ``tid``. A task that has not ``started``
        (launched ahead, waiting for a slot) is reported killed only when a
        slot takes it, so the worker is not watched for ending it in time."""
        if started:
            with self._changed:
                if tid not in self._reported_set:
                    self._killing[tid] = (worker_id, time.monotonic() + self.kill_timeout + 1.0)
        self._send(worker_id, KillTask(tid))

    def answer_commit(self, worker_id: str, tid: int, allowed: bool) -> None:
        self._send(worker_id, CommitAnswer(tid, allowed))

    def answer_barrier(self, worker_id: str, tid: int, messages: tuple | None,
                       error: str | None = None) -> None:
        self._send(worker_id, BarrierAnswer(tid, messages, error))

    def remove_binary(self, worker_id: str, binary_id: int) -> None:
        self._send(worker_id, RemoveBinary(binary_id))

    def broadcast(self, message: Any) -> None:
        for worker_id in self.registered():
            self._send(worker_id, message)

    def add_file(self, name: str, path: str, python: bool) -> None:
        """A file (or directory) was added to the Context's files directory as
        ``name`` (at ``path``): make it reach every worker, present and future."""
        with self._changed:
            if (name, python) in self._shipped:
                return  # the same content again (add_file refuses different content)
            self._shipped.append((name, python))
            if python:
                self.py_files.append(path)
            workers = dict(self._workers)
        own = [w for w, r in workers.items() if r.own_files]
        if own:
            data = self.file_source(name)
            for worker_id in own:
                self._send(worker_id, ShipFile(name, python), data)
        if python:
            for worker_id in (w for w, r in workers.items() if not r.own_files):
                self._send(worker_id, AddPyFile(path))

    def _answer_broadcast(self, worker_id: str, request: FetchBroadcast) -> None:
        try:
            data = self.broadcast_source(request.broadcast_id)
        except Exception as error:  # noqa: BLE001 - the worker's task reports it
            self._endpoint.reply([worker_id.encode(),
                                  *encode(BroadcastData(request.request_id, str(error)))])
            return
        self._endpoint.reply([worker_id.encode(), *encode(BroadcastData(request.request_id), data)])

    def send(self, worker_id: str, message: Any) -> None:
        self._send(worker_id, message)

