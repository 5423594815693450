"""The worker process: ``python -m ember.worker``.

Two ways to start one:

* **By a local cluster** (no arguments): read one bootstrap line (JSON) from
  stdin, written by the driver: worker id, driver address, the cluster secret
  (hex; never on the command line), work directory, slots, and the driver's
  import path. stdin stays open for the worker's whole life: it is the
  lifeline. When it reaches EOF (the driver stopped, exited, or was
  SIGKILLed: the kernel closes the pipe) the worker removes its directory and
  exits at once, so it never outlives its driver.
* **By hand, on any host** (``ember worker --driver HOST:PORT --secret-file F``
  or ``python -m ember.worker`` with the same flags): the secret comes from a
  0600 file, the worker names itself (host, pid and a random suffix), works in
  a fresh temporary directory, shares no disk with the driver (shipped files
  and broadcast values come over the driver connection: ``own_files``), and
  takes the cluster's timeouts from its driver at registration. It has no
  lifeline: it exits when the driver tells it to (``Shutdown``, sent by
  ``Context.stop``), when SIGTERM or SIGINT arrives, or when the driver has
  been silent past the heartbeat timeout (the driver died, or the network
  between them is cut). Its shuffle service binds the address given with
  ``--host``, by default the local address of its route to the driver, and
  advertises it to its peers in ``Register``.

Then either way: start the shuffle service, connect to the driver with CURVE
(exit code 3 and "authentication failed: cluster secret mismatch" at the
first handshake failure), register (exit code 4 and the driver's reason if
refused, for instance another ember or Python version), and serve tasks.

Heartbeats: the worker sends one every ``heartbeat_interval``; the driver
answers each. A worker that hears nothing from the driver for
``heartbeat_timeout`` (or is told it was declared lost, for instance after
being stopped longer than that) fences itself: it stops, discards its outputs
and exits (code 5 when the driver fell silent). Its results would be refused
anyway.

Threads: main (runs task slot 0, so a killed task can be interrupted by a
signal even in a blocking call), lifeline (blocks on stdin), heartbeat, I/O
(the driver socket, ``Endpoint``), shuffle service, ZAP handler, and one per
further task slot. The process ends through ``exit()``, from whichever thread
learns that it must: it removes the worker's directory and leaves at once.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable
import zmq

from ember.engine import failpoints

from ember.engine.api import broadcast
from ember.engine.io.files import SparkFiles, unpack_entry
from ember.engine.data.memory import (STORAGE_FRACTION, default_worker_memory,
                                     limit_address_space, tune_allocator, tune_collector)
from ember.engine.errors import AuthenticationError, SecretFileError
from ember.engine.wire.protocol import (
    AddPyFile,
    BarrierAnswer,
    BarrierRequest,
    BroadcastData,
    CommitAnswer,
    CommitRequest,
    FetchBroadcast,
    Heartbeat,
    HeartbeatAck,
    KillTask,
    LaunchTask,
    Leaving,
    PeerLost,
    Register,
    RemoveBroadcast,
    Registered,
    Refused,
    RemoveBinary,
    RemoveRdd,
    RemoveShuffle,
    ShipFile,
    Shutdown,
    decode,
    encode,
)
from ember.engine.wire.secret_file import read_secret_file
from ember.engine.data.shuffle import remove_shuffle_files
from ember.engine.wire.spawn import child_environment
from ember.engine.wire.transport import (
    DEFAULT_MAX_MESSAGE_SIZE, Authenticator, Endpoint, client_socket, connect_authenticated, derive_keys,
)
from ember.engine.version import __version__
from ember.worker.block_manager import BlockManager
from ember.worker.executor import Executor
from ember.worker.shuffle_reader import ShuffleReader
from ember.worker.shuffle_service import ShuffleService

log = logging.getLogger("ember.worker")

EXIT_AUTH_FAILED = 3
EXIT_REFUSED = 4
EXIT_FENCED = 5  # the driver fell silent past the heartbeat timeout


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
    """Questions a task asks the driver and waits for: may it commit its
    output, has every task of its barrier stage arrived, and (on a worker
    with its own files) what is a broadcast's value. Answers are routed back
    by task id, or by request id for broadcasts."""

    def __init__(self, timeout: float):
        self.timeout = timeout
        self.send: Callable[[list], None] = lambda frames: None
        self._waiting: dict[tuple, list] = {}
        self._lock = threading.Lock()
        self._request_ids = itertools.count()

    def _ask(self, key: tuple, request: Any, timeout: float) -> tuple[Any, list]:
        """The answer and its payload frames; (None, []) after ``timeout``."""
        slot = [threading.Event(), None, []]
        with self._lock:
            self._waiting[key] = slot
        try:
            self.send(encode(request))
            deadline = time.monotonic() + timeout
            # Short waits, so that a kill (an asynchronous exception) gets in.
            while not slot[0].wait(min(1.0, max(0.0, deadline - time.monotonic()))):
                if time.monotonic() >= deadline:
                    return None, []
            return slot[1], slot[2]
        finally:
            with self._lock:
                self._waiting.pop(key, None)

    def answered(self, answer: Any, payloads: list | None = None) -> None:
        key = ("broadcast", answer.request_id) if isinstance(answer, BroadcastData) else ("task", answer.tid)
        with self._lock:
            slot = self._waiting.get(key)
        if slot is not None:
            slot[1], slot[2] = answer, payloads or []
            slot[0].set()

    def fetch_broadcast(self, broadcast_id: int) -> bytes | bytearray:
        """The pickled value of a broadcast, from the driver (a large one as
        the bytearray it was put back together in: no second copy)."""
        request_id = next(self._request_ids)
        answer, payloads = self._ask(("broadcast", request_id),
                                     FetchBroadcast(request_id, broadcast_id), self.timeout)
        if answer is None:
            raise TimeoutError(f"broadcast {broadcast_id}: no answer from the driver within "
                               f"{self.timeout:.0f} s")
        if answer.error is not None or not payloads:
            raise RuntimeError(answer.error or f"broadcast {broadcast_id}: the driver sent no data")
        return payloads[0]

    def ask_commit(self, context: Any) -> bool:
        answer, _ = self._ask(("task", context.taskAttemptId()),
                              CommitRequest(context.taskAttemptId(), context.stageId(),
                                            context.partitionId()), self.timeout)
        return answer is not None and answer.allowed

    def barrier_sync(self, context: Any, round_: int, message: str) -> list[str]:
        request = BarrierRequest(context.taskAttemptId(), context.stageId(),
                                 context._stageAttemptNumber, context.partitionId(), round_, message)
        answer, _ = self._ask(("task", context.taskAttemptId()), request, 365 * 24 * 3600.0)
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
        self.max_message_size: int = int(bootstrap.get("max_message_size", DEFAULT_MAX_MESSAGE_SIZE))
        self.heartbeat_interval: float = float(bootstrap.get("heartbeat_interval", 1.0))
        self.heartbeat_timeout: float = float(bootstrap.get("heartbeat_timeout", 120.0))
        self.kill_timeout: float = float(bootstrap.get("kill_timeout", 2.0))
        self.memory: int = int(bootstrap.get("memory") or default_worker_memory())
        # Started by hand on some host: no lifeline, no disk shared with the driver.
        self.own_files: bool = bool(bootstrap.get("own_files", False))
        self.shuffle_host: str = bootstrap.get("shuffle_host") or "127.0.0.1"
        self._fenced = False
        self._driver_stopped = threading.Event()  # Shutdown arrived
        self._signalled: str | None = None  # the signal that asked this worker to stop
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
        if self.own_files:  # shipped to this worker as bytes (ShipFile)
            files_dir = os.path.join(self.work_dir, "files")
            os.makedirs(files_dir, exist_ok=True)
        self.files_dir = files_dir
        if files_dir:  # files added with addFile / addPyFile
            SparkFiles._root_directory = files_dir
            sys.path.insert(1, files_dir)
        if bootstrap.get("cwd"):
            os.chdir(bootstrap["cwd"])

    def run(self) -> int:
        tune_allocator()
        tune_collector()
        # Tasks spill aggregations and sorts here (engine.data.spill), inside the
        # work directory so that nothing outlives the worker.
        os.environ["SPARK_LOCAL_DIRS"] = os.path.join(self.work_dir, "spill")
        shuffle_dir = os.path.join(self.work_dir, "shuffle")
        os.makedirs(shuffle_dir, exist_ok=True)
        zctx = zmq.Context()
        auth = Authenticator(zctx, self._keys)
        service = ShuffleService(zctx, self._keys, shuffle_dir, host=self.shuffle_host,
                                 max_message_size=self.max_message_size).start()
        requests = DriverRequests(self.heartbeat_timeout)
        self._requests = requests
        if self.own_files:
            broadcast.set_fetcher(requests.fetch_broadcast)
        self.env = WorkerEnv(
            self.worker_id, shuffle_dir, service.address,
            BlockManager(os.path.join(self.work_dir, "blocks"), self.memory * STORAGE_FRACTION),
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
            __version__, "%d.%d" % sys.version_info[:2], self.memory, self.own_files,
            os.environ.get("PYTHONHASHSEED", ""))))
        self._registered.wait(self.connect_timeout)
        if self._refusal is not None or not self._registered.is_set():
            reason = self._refusal or "no answer to registration"
            print(f"ember worker {self.worker_id}: refused by the driver: {reason}",
                  file=sys.stderr, flush=True)
            return EXIT_REFUSED
        if self.own_files:
            print(f"ember worker {self.worker_id}: registered with the driver at {self.driver} "
                  f"({self.slots} slots; shuffle service at {service.address})",
                  file=sys.stderr, flush=True)
        threading.Thread(target=self._heartbeat, name="ember-heartbeat", daemon=True).start()
        threading.Thread(target=self._await_end, name="ember-end", daemon=True).start()
        self.executor.serve()
        return 0

    def _await_end(self) -> None:
        self._done.wait()
        if self._refusal is not None:
            print(f"ember worker {self.worker_id}: stopping: {self._refusal}", file=sys.stderr, flush=True)
            self.exit(EXIT_FENCED if self._fenced else EXIT_REFUSED)
        if self.own_files and not self._driver_stopped.is_set():
            # Stopped by a signal: say so, so that the driver moves this
            # worker's tasks now; its answer (Shutdown) shows it was heard.
            self.endpoint.send(encode(Leaving(self._signalled or "stopped")))
            self._driver_stopped.wait(2.0)
            print(f"ember worker {self.worker_id}: stopping: {self._signalled or 'stopped'}",
                  file=sys.stderr, flush=True)
        elif self.own_files:
            print(f"ember worker {self.worker_id}: stopping: the driver stopped", file=sys.stderr,
                  flush=True)
        self.exit(0)

    def exit(self, code: int, driver_gone: bool = False) -> None:
        self.cleanup(driver_gone)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

    def _heartbeat(self) -> None:
        import psutil  # here, not at start-up: registration waits for nothing it needs

        process = psutil.Process()
        while not self._done.wait(self.heartbeat_interval):
            silent = time.monotonic() - self._last_heard
            if silent > self.heartbeat_timeout:
                self._fenced = True
                self._refusal = f"no word from the driver for {silent:.1f} s; fencing myself"
                self._done.set()
                return
            self.endpoint.send(encode(Heartbeat(self.worker_id, self._state(process))))

    def _state(self, process: Any) -> dict:
        """What the status page shows of this worker: its memory in use
        (resident set) against its budget, and its cached blocks."""
        try:
            rss = process.memory_info().rss
        except Exception:  # noqa: BLE001 - psutil.Error: the page can do without it
            rss = None
        return {"memoryUsed": rss, "memoryBudget": self.memory, **self.env.blocks.status()}

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
        elif isinstance(message, (CommitAnswer, BarrierAnswer, BroadcastData)):
            self._requests.answered(message, payloads)
        elif isinstance(message, ShipFile):
            self._receive_file(message, payloads[0])
        elif isinstance(message, HeartbeatAck):
            pass
        elif isinstance(message, Registered):
            self._apply_settings(dict(message.settings))
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
            self._driver_stopped.set()
            self._done.set()

    def _apply_settings(self, settings: dict) -> None:
        """The cluster's timeouts and environment, as the driver sent them at
        registration."""
        if "heartbeat_interval" in settings:
            self.heartbeat_interval = float(settings["heartbeat_interval"])
        if "heartbeat_timeout" in settings:
            self.heartbeat_timeout = self._requests.timeout = float(settings["heartbeat_timeout"])
        if "fetch_timeout" in settings:
            self.fetch_timeout = self.env.shuffle.timeout = float(settings["fetch_timeout"])
        if "kill_timeout" in settings:
            self.kill_timeout = self.executor.kill_timeout = float(settings["kill_timeout"])
        if "max_in_flight" in settings:
            self.env.shuffle.max_in_flight = int(settings["max_in_flight"])
        if "memory_fraction" in settings:
            self.env.blocks.capacity = self.memory * float(settings["memory_fraction"])
        if settings.get("address_space"):  # spark.executor.pyspark.memory
            limit = int(settings["address_space"])
            in_use = limit_address_space(limit)
            if in_use is not None and in_use > limit * 0.8:
                log.warning("spark.executor.pyspark.memory (%d MiB) leaves this worker little "
                            "room: it maps %d MiB already; tasks may fail with MemoryError",
                            limit >> 20, in_use >> 20)
        # The Context's environment (spark.executorEnv.*), before any task runs.
        os.environ.update(dict(settings.get("environment", ())))

    def _receive_file(self, message: ShipFile, data: Any) -> None:
        """Unpack a shipped file before any later message (a task that needs
        it) is handled."""
        try:
            path = unpack_entry(self.files_dir, message.name, bytes(data))
        except (OSError, ValueError) as error:
            log.error("could not unpack shipped file %s: %s", message.name, error)
            return
        if message.python:
            _add_py_file(path)

    def cleanup(self, driver_gone: bool = False) -> None:
        """Remove this worker's files. When the driver is gone (the lifeline
        broke: it cannot clean up), the last worker out also removes the
        Context's directory, with the driver's broadcasts and shipped files."""
        shutil.rmtree(self.work_dir, ignore_errors=True)
        root = os.path.dirname(self.work_dir)
        if driver_gone and not self.own_files:  # only a local cluster's root is shared
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


def _run(worker: Worker) -> int:
    """Run the worker until it ends, then exit with its status (1 if it
    failed, after logging why)."""
    try:
        code = worker.run()
    except BaseException:  # noqa: BLE001 - report, clean up, exit non-zero
        logging.getLogger("ember.worker").exception("worker failed")
        code = 1
    worker.exit(code)
    return code


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
        raise SystemExit("ember worker: no bootstrap on stdin (workers are started by a driver, "
                         "or by hand with --driver HOST:PORT --secret-file F)")
    return json.loads(line)


# --- a worker started by hand -------------------------------------------------------


def add_worker_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The flags of ``ember worker`` (and of ``python -m ember.worker``)."""
    parser.add_argument("--driver", required=True, metavar="HOST:PORT",
                        help="the driver's address: HOST:PORT of its ember://HOST:PORT master")
    parser.add_argument("--secret-file", required=True, metavar="F",
                        help="the cluster secret (hex, mode 0600; see 'ember secret new')")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1,
                        help="task slots (default: every CPU of this host)")
    parser.add_argument("--memory",
                        help="memory budget of this worker, such as 512m or 4g (default: 60%% "
                             "of this host's memory)")
    parser.add_argument("--host", metavar="ADDRESS",
                        help="address this worker's shuffle service binds and advertises to "
                             "its peers (default: this host's address on its route to the driver)")
    parser.add_argument("--work-dir", metavar="DIR",
                        help="where the worker's temporary directory is made (default: the "
                             "system temporary directory)")
    parser.add_argument("--connect-timeout", type=float, default=60.0, metavar="SECONDS",
                        help="how long to wait for the driver to answer (default: 60)")
    return parser


def _driver_address(text: str) -> tuple[str, int]:
    for prefix in ("tcp://", "ember://"):
        if text.startswith(prefix):
            text = text[len(prefix):]
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--driver {text!r}: expected HOST:PORT, such as 10.0.0.5:7077")
    return host.strip("[]"), int(port)


def _route_address(host: str, port: int) -> str:
    """This host's address on its route to ``host`` (no packet is sent)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0][0]
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((host, port))
            return probe.getsockname()[0]
    except OSError as error:
        raise ValueError(f"--driver {host}:{port}: cannot find a route to it ({error})") from None


def remote_bootstrap(args: argparse.Namespace) -> dict:
    """The bootstrap of a worker started by hand, from its flags."""
    from ember.engine.units import parse_size

    host, port = _driver_address(args.driver)
    if args.cores < 1:
        raise ValueError(f"--cores {args.cores}: must be at least 1")
    try:
        memory = parse_size(args.memory) if args.memory else None
    except ValueError as error:
        raise ValueError(f"--memory {args.memory!r}: expected {error}") from None
    secret = read_secret_file(args.secret_file)
    shuffle_host = args.host or _route_address(host, port)
    work_dir = tempfile.mkdtemp(prefix="ember-worker-", dir=args.work_dir)
    return {
        "worker_id": f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}",
        "driver": f"tcp://{host}:{port}", "secret": secret.hex(), "work_dir": work_dir,
        "cores": args.cores, "memory": memory, "own_files": True, "shuffle_host": shuffle_host,
        "connect_timeout": args.connect_timeout,
    }


def remote_main(argv: list[str] | None = None, prog: str = "python -m ember.worker") -> int:
    """Run a worker started by hand until its driver stops (or a signal)."""
    parser = add_worker_arguments(argparse.ArgumentParser(
        prog=prog, description="Join the driver of an ember://HOST:PORT master as a worker."))
    return run_remote(parser.parse_args(argv))


def _flags(args: argparse.Namespace) -> list[str]:
    flags = ["--driver", args.driver, "--secret-file", args.secret_file, "--cores", str(args.cores),
             "--connect-timeout", str(args.connect_timeout)]
    for name in ("memory", "host", "work_dir"):
        if getattr(args, name):
            flags += [f"--{name.replace('_', '-')}", getattr(args, name)]
    return flags


def run_remote(args: argparse.Namespace) -> int:
    """Run a worker started by hand, from its parsed flags (exits the process).
    Without PYTHONHASHSEED, it first replaces itself with a copy running with
    the seed every ember worker uses (``engine.wire.spawn``), so that keys whose
    hash depends on the seed land in the same partition on every worker."""
    if "PYTHONHASHSEED" not in os.environ:
        env = child_environment()  # the seed, and the same ember on the import path
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, [sys.executable, "-m", "ember.worker", *_flags(args)], env)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="ember worker %(process)d: %(levelname)s %(name)s: %(message)s")
    try:
        bootstrap = remote_bootstrap(args)
    except (ValueError, SecretFileError) as error:
        print(f"ember worker: error: {error}", file=sys.stderr, flush=True)
        return 2
    worker = Worker(bootstrap)
    failpoints.configure(worker.worker_id)

    def stop(signum: int, _frame: Any) -> None:
        worker._signalled = signal.Signals(signum).name
        worker._done.set()
        if not worker._registered.is_set():  # still connecting: nothing to finish
            worker.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"ember worker {worker.worker_id}: connecting to the driver at {worker.driver}",
          file=sys.stderr, flush=True)
    return _run(worker)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv:  # flags: started by hand
        sys.exit(remote_main(argv))
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="ember worker %(process)d: %(levelname)s %(name)s: %(message)s")
    worker = Worker(read_bootstrap(sys.stdin.buffer))
    failpoints.configure(worker.worker_id)
    signal.signal(signal.SIGTERM, lambda *_: worker._done.set())
    threading.Thread(target=_watch_lifeline, args=(worker,), name="ember-lifeline",
                     daemon=True).start()
    _run(worker)
