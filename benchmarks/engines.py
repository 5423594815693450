"""The engines: how each opens a session and runs a workload in a child.

``pyspark`` and ``ember`` run the very same ``rdd(sc, inputs)`` functions;
only the module their context comes from differs. ``dask`` runs the
``bag`` versions, ``serial`` the plain-Python ones, ``sklearn`` the
scikit-learn versions of the machine-learning workloads. On the log-store
workloads ``ember`` runs the ``ingest`` versions (its log store's own
clients, without a Context), ``raw`` the append-and-fsync floor and
``redis`` the Redis Streams versions, against a redis-server it starts on
127.0.0.1 for the session and stops by PID. An engine runs a workload only
if the workload has a version for it.

A session is what a user pays once per program: the context, or the Dask
process pool. Unless the workload times the session itself (``startup``),
the session is warmed with one trivial job before anything is timed, so
worker processes that an engine starts lazily are up for every engine alike.
"""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from importlib.metadata import PackageNotFoundError, version

MASTER = "local[2]"
WORKERS = 2
APP_NAME = "ember-benchmarks"

# ember's budget for one task's aggregation or sort before it spills: the
# same key as PySpark's, so both engines get the same budget the same way.
EMBER_MEMORY_KEY = "spark.python.worker.memory"

PYSPARK_SETTINGS = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    # Head-room for the cached k-means points; Spark's default is 1g.
    "spark.driver.memory": "2g",
}


# Stores the log-store workloads write (log directories, raw files, Redis'
# append-only files) live here, on the disk the repository is on, so fsync
# means the same for every engine; a run removes what it made.
SCRATCH_ROOT = Path(__file__).resolve().parent / "data" / "scratch"


@contextmanager
def scratch_directory(prefix: str):
    SCRATCH_ROOT.mkdir(parents=True, exist_ok=True)
    path = tempfile.mkdtemp(prefix=prefix, dir=SCRATCH_ROOT)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


class Engine:
    name: str
    function: str                     # the workload version it runs: "rdd", "bag", ...
    distribution: str | None = None   # package whose version is reported
    memory_key: str | None = None     # the setting that carries a worker's budget

    def version_of(self, workload):
        """The function this engine runs for ``workload``; None if it has none."""
        return getattr(workload, self.function)

    def runs(self, workload) -> bool:
        return (self.version_of(workload) is not None
                and (workload.only is None or self.name in workload.only))

    def needs_session(self, workload) -> bool:
        return True

    def settings(self, budget_mb: int | None) -> dict[str, str]:
        return {}

    @contextmanager
    def session(self, settings: dict[str, str], warm: bool):
        yield None

    def execute(self, workload, handle, inputs):
        return self.version_of(workload)(inputs)

    def finish(self) -> None:
        """Called after the measurement: release whatever outlives a session."""

    def version(self) -> str | None:
        if self.distribution is None:
            return None
        try:
            return version(self.distribution)
        except PackageNotFoundError:
            return None


class RddEngine(Engine):
    """A SparkContext-compatible module: pyspark, or ember standing in for it."""

    function = "rdd"

    def __init__(self, name: str, module: str, context_class: str, base: dict[str, str],
                 memory_key: str, log_level: str | None):
        self.name = self.distribution = name
        self._module = module
        self._context_class = context_class
        self._base = base
        self.memory_key = memory_key
        self._log_level = log_level

    def settings(self, budget_mb):
        chosen = dict(self._base)
        if budget_mb is not None:
            chosen[self.memory_key] = f"{budget_mb}m"
        return chosen

    @contextmanager
    def session(self, settings, warm):
        module = importlib.import_module(self._module)
        kwargs = {}
        if settings:
            kwargs["conf"] = module.SparkConf().setAll(list(settings.items()))
        sc = getattr(module, self._context_class)(MASTER, appName=APP_NAME, **kwargs)
        try:
            if self._log_level:
                sc.setLogLevel(self._log_level)
            if warm:
                sc.parallelize(range(WORKERS * 2), WORKERS).count()
            yield sc
        finally:
            sc.stop()

    def execute(self, workload, sc, inputs):
        return workload.rdd(sc, inputs)


class EmberEngine(RddEngine):
    """ember: its Context for RDD workloads, its log store's clients for the
    log-store workloads (which then start no Context at all)."""

    def __init__(self):
        super().__init__("ember", "ember", "Context", {}, EMBER_MEMORY_KEY, log_level=None)

    def version_of(self, workload):
        return workload.ingest or workload.rdd

    def needs_session(self, workload):
        return workload.ingest is None

    def execute(self, workload, sc, inputs):
        if workload.ingest is not None:
            return workload.ingest(inputs)
        return workload.rdd(sc, inputs)


class PySparkEngine(RddEngine):
    def __init__(self):
        # In local mode spark.executor.memory does nothing: the Python
        # workers, where groupByKey and sortByKey run, spill once they pass
        # spark.python.worker.memory, so that is PySpark's budget.
        super().__init__("pyspark", "pyspark", "SparkContext", PYSPARK_SETTINGS,
                         "spark.python.worker.memory", log_level="ERROR")

    @contextmanager
    def session(self, settings, warm):
        if not os.environ.get("JAVA_HOME") and shutil.which("java") is None:
            raise RuntimeError("PySpark needs Java 17 and found no `java` on PATH and no "
                               "JAVA_HOME; see benchmarks/README.md, 'Java for PySpark'")
        with super().session(settings, warm) as sc:
            yield sc

    def finish(self):
        # sc.stop() leaves the JVM up until this process exits, and then it
        # shuts down on its own time; close it here so that the run ends
        # with nothing left behind.
        from pyspark import SparkContext
        gateway = SparkContext._gateway
        if gateway is None:
            return
        gateway.shutdown()
        jvm = getattr(gateway, "proc", None)
        if jvm is not None:
            jvm.stdin.close()
            jvm.wait(timeout=60)


class DaskEngine(Engine):
    name = distribution = "dask"
    function = "bag"

    @contextmanager
    def session(self, settings, warm):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        import dask
        import dask.bag as db

        # Dask pins the hash seed itself only for pools it creates; this pool
        # is ours, and a hash-partitioned shuffle needs every worker to agree.
        os.environ.setdefault("PYTHONHASHSEED", "0")
        # One pool for the whole session, as a context keeps its workers;
        # Dask would otherwise start a fresh pool for every compute().
        pool = ProcessPoolExecutor(WORKERS, mp_context=multiprocessing.get_context("spawn"))
        try:
            with dask.config.set(scheduler="processes", pool=pool, num_workers=WORKERS):
                if warm:
                    db.from_sequence(range(WORKERS * 2), npartitions=WORKERS).count().compute()
                yield pool
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


class SerialEngine(Engine):
    name = "serial"
    function = "serial"


class SklearnEngine(Engine):
    """scikit-learn in the child process itself (one thread: the child's
    BLAS is limited to one), on the machine-learning workloads."""
    name = "sklearn"
    distribution = "scikit-learn"
    function = "sklearn"

    def needs_session(self, workload) -> bool:
        return False


class RawEngine(Engine):
    """Plain Python appends and fsyncs to files: no engine at all."""
    name = "raw"
    function = "raw"


# Durable like ember's acks="all": every write is fsynced before Redis
# replies, and nothing else writes to disk meanwhile (no RDB snapshots).
REDIS_SETTINGS = {"appendonly": "yes", "appendfsync": "always", "save": ""}


class RedisServer:
    """A running redis-server: where it listens and its PID."""

    def __init__(self, host: str, port: int, process: subprocess.Popen):
        self.host, self.port, self.process = host, port, process

    @property
    def pid(self) -> int:
        return self.process.pid

    def client(self):
        import redis
        return redis.Redis(host=self.host, port=self.port)


def _free_port(host: str) -> int:
    # Redis cannot be told to pick a port and report it, so take one the
    # kernel just handed out; a clash fails the start and is retried.
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _stop_by_pid(process: subprocess.Popen, timeout: float = 10.0) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


class RedisEngine(Engine):
    name = "redis"
    distribution = "redis"   # redis-py; version() adds the server
    function = "redis"
    host = "127.0.0.1"

    @staticmethod
    def _server() -> str:
        server = shutil.which("redis-server")
        if server is None:
            raise RuntimeError("redis-server not found on PATH, so the redis engine is skipped; "
                               "install it (Debian: apt-get install -y redis-server), see "
                               "benchmarks/README.md")
        return server

    def settings(self, budget_mb):
        return dict(REDIS_SETTINGS)

    @contextmanager
    def session(self, settings, warm):
        server = self._server()
        with scratch_directory("redis-") as folder:
            process, port = self._start(server, settings, folder)
            try:
                yield RedisServer(self.host, port, process)
            finally:
                _stop_by_pid(process)

    def _start(self, server: str, settings: dict, folder: str):
        import redis

        options = [arg for key, value in settings.items() for arg in (f"--{key}", value)]
        for _ in range(5):
            port = _free_port(self.host)
            process = subprocess.Popen(
                [server, "--bind", self.host, "--port", str(port), "--dir", folder,
                 "--daemonize", "no", "--protected-mode", "yes", "--logfile", "", *options],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
            client = redis.Redis(host=self.host, port=port)
            deadline = time.monotonic() + 10
            try:
                while process.poll() is None and time.monotonic() < deadline:
                    try:
                        if client.ping():
                            return process, port
                    except redis.ConnectionError:
                        time.sleep(0.02)
            finally:
                client.close()
            _stop_by_pid(process)
        raise RuntimeError(f"redis-server did not start on {self.host} (5 attempts)")

    def version(self):
        try:
            server = _command_version([self._server(), "--version"])
        except RuntimeError:
            server = None
        try:
            client = version("redis")
        except PackageNotFoundError:
            client = None
        parts = [f"server {server}" if server else None, f"redis-py {client}" if client else None]
        return ", ".join(filter(None, parts)) or None


def _command_version(argv: list[str]) -> str | None:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for word in out.split():
        if word.startswith("v="):
            return word[2:]
    return out.strip() or None


ENGINES: dict[str, Engine] = {
    engine.name: engine
    for engine in (
        EmberEngine(),
        PySparkEngine(),
        DaskEngine(),
        SerialEngine(),
        SklearnEngine(),
        RawEngine(),
        RedisEngine(),
    )
}
