"""The worker process: ``python -m ember.worker``.

Start-up: read one bootstrap line (JSON) from stdin, written by the driver:
worker id, driver address, the cluster secret (hex; never on the command
line), work directory, slots, and the driver's import path. Then start the
shuffle service, connect to the driver with CURVE (exit code 3 and
"authentication failed: cluster secret mismatch" at the first handshake
failure), register (exit code 4 if refused), and serve tasks.

Lifeline: stdin stays open for the worker's whole life; when it reaches EOF
(the driver stopped, exited, or was SIGKILLed: the kernel closes the pipe) the
worker removes its directory and exits at once. A worker therefore never
outlives its driver.

Heartbeats: the worker sends one every ``heartbeat_interval``; the driver
answers each. A worker that hears nothing from the driver for
``heartbeat_timeout`` (or is told it was declared lost, for instance after
being stopped longer than that) fences itself: it stops, discards its outputs
and exits. Its results would be refused anyway.

Threads: main (runs task slot 0, so a killed task can be interrupted by a
signal even in a blocking call), lifeline (blocks on stdin), heartbeat, I/O
(the driver socket, ``Endpoint``), shuffle service, ZAP handler, and one per
further task slot. The process ends through ``exit()``, from whichever thread
learns that it must: it removes the worker's directory and leaves at once.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable
import zmq

from ember.engine import broadcast, failpoints
from ember.engine.files import SparkFiles
from ember.engine.errors import AuthenticationError
from ember.engine.protocol import (
    AddPyFile,
    BarrierAnswer,
    BarrierRequest,
    CommitAnswer,
    CommitRequest,
    Heartbeat,
    HeartbeatAck,
    KillTask,
    LaunchTask,
    PeerLost,
    Register,
    RemoveBroadcast,
    Registered,
    Refused,
    RemoveBinary,
    RemoveRdd,
    RemoveShuffle,
    Shutdown,
    decode,
    encode,
)
from ember.engine.shuffle import remove_shuffle_files
from ember.engine.transport import Authenticator, Endpoint, client_socket, connect_authenticated, derive_keys
from ember.engine.version import __version__
from ember.worker.block_manager import BlockManager
from ember.worker.executor import Executor
from ember.worker.shuffle_reader import ShuffleReader
from ember.worker.shuffle_service import ShuffleService

log = logging.getLogger("ember.worker")

EXIT_AUTH_FAILED = 3
EXIT_REFUSED = 4


@dataclass
class WorkerEnv:
    """The services a task reaches through ``TaskContext._env``."""

    worker_id: str
    shuffle_dir: str
    shuffle_address: str
    blocks: BlockManager
    shuffle: ShuffleReader
    ask_commit: Callable[[Any], bool]
    barrier_sync: Callable[[Any, int, str], list]


class DriverRequests:
    """Questions a running task asks the driver and waits for: may it commit
    its output, and has every task of its barrier stage arrived. Answers are
    routed back by task id."""

    def __init__(self, timeout: float):
        self.timeout = timeout
        self.send: Callable[[list], None] = lambda frames: None
        self._waiting: dict[int, list] = {}
        self._lock = threading.Lock()

    def _ask(self, tid: int, request: Any, timeout: float) -> Any:
        slot = [threading.Event(), None]
        with self._lock:
            self._waiting[tid] = slot
        try:
            self.send(encode(request))
            deadline = time.monotonic() + timeout
            # Short waits, so that a kill (an asynchronous exception) gets in.
            while not slot[0].wait(min(1.0, max(0.0, deadline - time.monotonic()))):
                if time.monotonic() >= deadline:
                    return None
            return slot[1]
        finally:
            with self._lock:
                self._waiting.pop(tid, None)

    def answered(self, answer: Any) -> None:
        with self._lock:
            slot = self._waiting.get(answer.tid)
        if slot is not None:
            slot[1] = answer
            slot[0].set()

    def ask_commit(self, context: Any) -> bool:
        answer = self._ask(context.taskAttemptId(),
                           CommitRequest(context.taskAttemptId(), context.stageId(),
                                         context.partitionId()), self.timeout)
        return answer is not None and answer.allowed

    def barrier_sync(self, context: Any, round_: int, message: str) -> list[str]:
        request = BarrierRequest(context.taskAttemptId(), context.stageId(),
                                 context._stageAttemptNumber, context.partitionId(), round_, message)
        answer = self._ask(context.taskAttemptId(), request, 365 * 24 * 3600.0)
        if answer is None or answer.error is not None:
            raise RuntimeError(f"barrier sync failed: {answer.error if answer else 'no answer'}")
        return list(answer.messages)


class Worker:
    def __init__(self, bootstrap: dict):
        self.worker_id: str = bootstrap["worker_id"]
        self.driver: str = bootstrap["driver"]
        self.work_dir: str = bootstrap["work_dir"]
        self.slots: int = int(bootstrap.get("cores", 1))
        self.connect_timeout: float = float(bootstrap.get("connect_timeout", 30))
        self.fetch_timeout: float = float(bootstrap.get("fetch_timeout", 60))
        self.max_message_size: int = int(bootstrap.get("max_message_size", 2 * 1024 ** 3 - 1))
        self.heartbeat_interval: float = float(bootstrap.get("heartbeat_interval", 1.0))
        self.heartbeat_timeout: float = float(bootstrap.get("heartbeat_timeout", 120.0))
        self.kill_timeout: float = float(bootstrap.get("kill_timeout", 10.0))
        self._last_heard = time.monotonic()
        self._keys = derive_keys(bytes.fromhex(bootstrap["secret"]))
        self._registered = threading.Event()
        self._refusal: str | None = None
        self._done = threading.Event()
        self._lost: set[str] = set()
        for entry in bootstrap.get("sys_path", []):
            if entry not in sys.path:
                sys.path.append(entry)
        files_dir = bootstrap.get("files_dir")
        if files_dir:  # files added with addFile / addPyFile
            SparkFiles._root_directory = files_dir
            sys.path.insert(1, files_dir)
        if bootstrap.get("cwd"):
            os.chdir(bootstrap["cwd"])

    def run(self) -> int:
        shuffle_dir = os.path.join(self.work_dir, "shuffle")
        os.makedirs(shuffle_dir, exist_ok=True)
        zctx = zmq.Context()
        auth = Authenticator(zctx, self._keys)
        service = ShuffleService(zctx, self._keys, shuffle_dir,
                                 max_message_size=self.max_message_size).start()
        requests = DriverRequests(self.heartbeat_timeout)
        self._requests = requests
        self.env = WorkerEnv(
            self.worker_id, shuffle_dir, service.address,
            BlockManager(os.path.join(self.work_dir, "blocks")),
            ShuffleReader(zctx, self._keys, self.worker_id, shuffle_dir, self._lost,
                          self.fetch_timeout, self.max_message_size),
            requests.ask_commit, requests.barrier_sync)
        sock = client_socket(zctx, zmq.DEALER, self._keys, self.driver,
                             identity=self.worker_id.encode(), max_message_size=self.max_message_size)
        try:
            connect_authenticated(sock, self.driver, self.connect_timeout)
        except AuthenticationError as error:
            print(f"ember worker {self.worker_id}: {error}", file=sys.stderr, flush=True)
            return EXIT_AUTH_FAILED
        except ConnectionError as error:
            print(f"ember worker {self.worker_id}: {error}", file=sys.stderr, flush=True)
            return 1
        self.endpoint = Endpoint(zctx, sock, self._on_message, "ember-worker-io").start()
        requests.send = self.endpoint.send
        self.executor = Executor(self.env, self.endpoint.send, self.slots, self.kill_timeout).start()
        self.endpoint.send(encode(Register(
            self.worker_id, os.getpid(), socket.gethostname(), self.slots, service.address,
            __version__, "%d.%d" % sys.version_info[:2])))
        self._registered.wait(self.connect_timeout)
        if self._refusal is not None or not self._registered.is_set():
            reason = self._refusal or "no answer to registration"
            print(f"ember worker {self.worker_id}: refused by the driver: {reason}",
                  file=sys.stderr, flush=True)
            return EXIT_REFUSED
        threading.Thread(target=self._heartbeat, name="ember-heartbeat", daemon=True).start()
        threading.Thread(target=self._await_end, name="ember-end", daemon=True).start()
        self.executor.serve()
        return 0

    def _await_end(self) -> None:
        self._done.wait()
        if self._refusal is not None:
            print(f"ember worker {self.worker_id}: stopping: {self._refusal}", file=sys.stderr, flush=True)
            self.exit(EXIT_REFUSED)
        self.exit(0)

    def exit(self, code: int, driver_gone: bool = False) -> None:
        self.cleanup(driver_gone)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

    def _heartbeat(self) -> None:
        beat = encode(Heartbeat(self.worker_id))
        while not self._done.wait(self.heartbeat_interval):
            silent = time.monotonic() - self._last_heard
            if silent > self.heartbeat_timeout:
                self._refusal = f"no word from the driver for {silent:.1f} s; fencing myself"
                self._done.set()
                return
            self.endpoint.send(beat)

    def _on_message(self, frames: list) -> None:
        self._last_heard = time.monotonic()
        message, payloads = decode(frames)
        if isinstance(message, LaunchTask):
            self.executor.launch(message, payloads)
        elif isinstance(message, RemoveBinary):
            self.executor.remove_binary(message.binary_id)
        elif isinstance(message, PeerLost):
            self._lost.add(message.worker_id)
        elif isinstance(message, RemoveShuffle):
            remove_shuffle_files(self.env.shuffle_dir, message.shuffle_id)
        elif isinstance(message, RemoveRdd):
            self.env.blocks.remove_rdd(message.rdd_id)
        elif isinstance(message, KillTask):
            self.executor.kill(message.tid)
        elif isinstance(message, (CommitAnswer, BarrierAnswer)):
            self._requests.answered(message)
        elif isinstance(message, HeartbeatAck):
            pass
        elif isinstance(message, Registered):
            self._lost.update(message.lost_workers)
            for path in message.py_files:
                _add_py_file(path)
            self._registered.set()
        elif isinstance(message, AddPyFile):
            _add_py_file(message.path)
        elif isinstance(message, RemoveBroadcast):
            broadcast.forget(message.broadcast_id)
        elif isinstance(message, Refused):
            self._refusal = message.reason
            self._registered.set()
            self._done.set()
        elif isinstance(message, Shutdown):
            self._done.set()

    def cleanup(self, driver_gone: bool = False) -> None:
        """Remove this worker's files. When the driver is gone (the lifeline
        broke: it cannot clean up), the last worker out also removes the
        Context's directory, with the driver's broadcasts and shipped files."""
        shutil.rmtree(self.work_dir, ignore_errors=True)
        root = os.path.dirname(self.work_dir)
        if driver_gone:
            try:
                if not any(name.startswith("w-") for name in os.listdir(root)):
                    shutil.rmtree(root, ignore_errors=True)
            except OSError:
                pass


def _add_py_file(path: str) -> None:
    import importlib

    if path.endswith((".zip", ".egg", ".whl")) and path not in sys.path:
        sys.path.insert(1, path)
    importlib.invalidate_caches()  # a new module file in a directory already on the path


def _watch_lifeline(worker: Worker) -> None:
    try:
        while sys.stdin.buffer.read(65536):
            pass
    except (OSError, ValueError):
        pass
    worker.exit(0, driver_gone=True)


def read_bootstrap(stream) -> dict:
    line = stream.readline()
    if not line:
        raise SystemExit("ember worker: no bootstrap on stdin (workers are started by a driver)")
    return json.loads(line)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="ember worker %(process)d: %(levelname)s %(name)s: %(message)s")
    worker = Worker(read_bootstrap(sys.stdin.buffer))
    failpoints.configure(worker.worker_id)
    signal.signal(signal.SIGTERM, lambda *_: worker._done.set())
    threading.Thread(target=_watch_lifeline, args=(worker,), name="ember-lifeline",
                     daemon=True).start()
    try:
        code = worker.run()
    except BaseException:  # noqa: BLE001 - report, clean up, exit non-zero
        logging.getLogger("ember.worker").exception("worker failed")
        code = 1
    worker.exit(code)
