"""Context (alias SparkContext): the entry point, and the driver's owner of a
cluster.

A Context owns, for its lifetime: a temporary directory (a local cluster's
worker files live under it), the cluster secret (fresh and random for
``local[N]``; read from a 0600 file for ``ember://HOST:PORT``), a ZeroMQ
context with its ZAP handler, the driver's backend socket (CURVE, bound to
127.0.0.1 on an ephemeral port, or to HOST:PORT of an ``ember://`` master),
the DAGScheduler's loop, and its cluster: the local worker processes
(``LocalCluster``), or the registrations of workers started by hand on other
hosts (``RemoteCluster``; told to exit when the Context stops).
``stop()`` (also on ``with`` exit and at interpreter exit) releases all of
them: no process, socket or directory is left behind.

Before a job is submitted, the Context prepares its lineage in the caller's
thread: every RDD's partitions are computed (so a missing input path raises
here) and every user function is pickled (so an unpicklable closure raises a
``PicklingError`` naming the variable before any task runs).

One Context may be active per process, as in PySpark.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import weakref
from typing import Any, Callable, Iterable

import zmq

from ember.driver.conf import Conf
from ember.driver.local_cluster import LocalCluster
from ember.driver.progress import ConsoleProgress, forward_output
from ember.driver.ui import StatusPage, context_html, report
from ember.driver.remote_cluster import RemoteCluster
from ember.driver.master import parse_master
from ember.engine.io import checkpoint, inputs
from ember.engine.api.accumulators import Accumulator, AccumulatorParam, AccumulatorRegistry
from ember.engine.api.broadcast import Broadcast
from ember.engine.io.files import PACKAGE_EXTENSIONS, SparkFiles, add_archive, add_file, pack_entry
from ember.engine.data.memory import default_worker_memory
from ember.engine.api.profiling import BasicProfiler, ProfilerCollector
from ember.engine.api.callsite import api_callsite, user_callsite
from ember.engine.wire.closure import Closure
from ember.engine.api.dependency import ShuffleDependency
from ember.engine.errors import DriverOnlyError, NoWorkersError, StoppedContextError
from ember.engine.api.rdd import RDD
from ember.engine.api.rdds import EmptyRDD, ParallelCollectionRDD, PartitionerAwareUnionRDD, TextFileRDD, UnionRDD
from ember.engine.wire.protocol import RemoveBroadcast
from ember.engine.wire.secret_file import read_secret_file
from ember.engine.wire.serializer import dumps, loads
from ember.engine.wire.serializers import CPickleSerializer, context_serializer
from ember.engine.wire.spawn import child_environment
from ember.engine.api.storage import StorageLevel
from ember.engine.wire.transport import Authenticator, derive_keys, new_secret
from ember.engine.version import __version__
from ember.scheduler.backend import ZmqBackend
from ember.scheduler.dag_scheduler import DAGScheduler
from ember.scheduler.events import (ClusterFailed, ExecutorLost, JobsCancelled, RddUnpersisted,
                                    ShuffleReleased)
from ember.scheduler.task_set_manager import Speculation

log = logging.getLogger("ember")

_PARALLELIZE_BATCH = 1024


class Context:
    """The entry point to ember: connects to (or starts) a cluster and creates
    RDDs on it. ``ember.SparkContext`` is the same class.

    >>> sc.parallelize(range(4)).map(lambda x: x * x).sum()
    14
    """

    _active_spark_context: "Context | None" = None  # PySpark's name: the running Context
    _active_lock = threading.RLock()
    _system_properties: dict[str, str] = {}
    PACKAGE_EXTENSIONS = PACKAGE_EXTENSIONS

    def __init__(self, master: str | None = None, appName: str | None = None,
                 sparkHome: str | None = None, pyFiles: list | None = None,
                 environment: dict | None = None, batchSize: int = 0, serializer: Any = None,
                 conf: Conf | None = None, gateway: Any = None, jsc: Any = None,
                 profiler_cls: Any = None, udf_profiler_cls: Any = None,
                 memory_profiler_cls: Any = None):
        self._stopped = True
        conf = conf.copy() if conf is not None else Conf()
        if master is not None:
            conf.setMaster(master)
        if appName is not None:
            conf.setAppName(appName)
        if sparkHome is not None:
            conf.setSparkHome(sparkHome)
        if not conf.contains("spark.master"):
            # As a PySpark script started with python: its launcher's default master.
            conf.setMaster("local[*]")
        spec = parse_master(conf.get("spark.master"))
        # A remote cluster's secret is read before anything starts: a missing
        # or world-readable secret file fails here, naming the file.
        self._cluster_secret = cluster_secret(conf) if spec.kind == "ember" else None
        with Context._active_lock:
            if Context._active_spark_context is not None:
                other = Context._active_spark_context
                raise ValueError(
                    f"Cannot run multiple Contexts at once; existing Context(app={other.appName}, "
                    f"master={other.master}) created at {other._callsite}")
            Context._active_spark_context = self
        self._conf = conf
        self.master = conf.get("spark.master")
        self.appName = conf.get("spark.app.name", "ember")
        self.sparkHome = conf.get("spark.home")  # PySpark's attribute; ember reads nothing there
        # Set on every worker before it runs a task (PySpark's ``environment``),
        # with spark.executorEnv.NAME settings taking precedence, as there.
        self.environment = dict(environment or {})
        self.environment.update((key[len("spark.executorEnv."):], value)
                                for key, value in conf.getAll()
                                if key.startswith("spark.executorEnv."))
        self.pythonExec = os.environ.get("PYSPARK_PYTHON", "python3")
        self.pythonVer = "%d.%d" % sys.version_info[:2]
        self.startTime = int(time.time() * 1000)
        self._callsite = user_callsite(2)
        # PySpark's serializer settings: recorded and shown (sc.serializer,
        # rdd._jrdd_deserializer); ember moves records in its own format.
        self._batchSize = batchSize
        self._unbatched_serializer = serializer if serializer is not None else CPickleSerializer()
        self.serializer = context_serializer(batchSize, self._unbatched_serializer)
        self.profiler_collector = ProfilerCollector(
            profiler_cls or BasicProfiler, udf_profiler_cls, memory_profiler_cls,
            conf.get("spark.python.profile.dump"), ctx=self) \
            if conf.value("spark.python.profile") else None
        self._rdd_ids = itertools.count()
        self._public_ids = itertools.count()  # RDD.id(): PySpark's numbering
        self._shuffle_ids = itertools.count()
        self._spec = spec
        self._lock = threading.Lock()
        self._respawns: list[float] = []
        self._startup_failures = 0
        self._accumulators = AccumulatorRegistry()
        self._thread_state = threading.local()
        self._checkpoint_dir: str | None = None
        self._broadcast_ids = itertools.count()
        self._added_files: list[str] = []
        self._added_archives: list[str] = []
        self._work_root: str | None = None
        self._zctx: zmq.Context | None = None
        self._auth: Authenticator | None = None
        self._backend: ZmqBackend | None = None
        self._scheduler: DAGScheduler | None = None
        self._cluster: LocalCluster | None = None
        self._ui: StatusPage | None = None
        self._progress: ConsoleProgress | None = None
        # Persisted RDDs seen by an action, for the status page's storage table.
        self._persistent_rdds: "weakref.WeakValueDictionary[int, RDD]" = weakref.WeakValueDictionary()
        # Log stores this Context read topics from, for the status page.
        self._log_stores: "weakref.WeakValueDictionary[str, Any]" = weakref.WeakValueDictionary()
        self._stopped = False
        try:
            self._start()
            # pyFiles and spark.submit.pyFiles (ember submit --py-files), as PySpark adds them
            submitted = (conf.get("spark.submit.pyFiles") or "").split(",")
            for path in [*(pyFiles or []), *(p.strip() for p in submitted if p.strip())]:
                self.addPyFile(path)
        except BaseException:
            self.stop()
            raise
        _live_contexts.add(self)

    # --- lifecycle ------------------------------------------------------------

    def _start(self) -> None:
        conf = self._conf
        local_dir = conf.get("spark.local.dir") or tempfile.gettempdir()
        self._work_root = tempfile.mkdtemp(prefix="ember-", dir=local_dir)
        self._files_dir = os.path.join(self._work_root, "files")
        os.makedirs(os.path.join(self._work_root, "broadcast"))
        os.makedirs(self._files_dir)
        SparkFiles._root_directory = self._files_dir
        sys.path.insert(1, self._files_dir)
        remote = self._spec.kind == "ember"
        self.applicationId = f"{'app' if remote else 'local'}-{self.startTime}"
        secret = self._cluster_secret or new_secret()
        keys = derive_keys(secret)
        self._zctx = zmq.Context()
        self._auth = Authenticator(self._zctx, keys)
        max_failures = self._spec.max_failures or conf.value("spark.task.maxFailures")
        speculation = None
        if conf.value("spark.speculation"):
            speculation = Speculation(conf.value("spark.speculation.quantile"),
                                      conf.value("spark.speculation.multiplier"),
                                      conf.value("spark.speculation.minTaskRuntime"))
        self._scheduler = DAGScheduler(
            None, max_failures=max_failures, accumulators=self._accumulators,
            profiles=self.profiler_collector,
            speculation=speculation, speculation_interval=conf.value("spark.speculation.interval"),
            max_worker_deaths=conf.value("ember.task.maxWorkerDeaths"),
            max_stage_attempts=conf.value("spark.stage.maxConsecutiveAttempts"),
            locality_wait=conf.value("spark.locality.wait"),
            max_result_size=conf.value("spark.driver.maxResultSize") or float("inf"))
        max_message_size = conf.value("ember.network.maxMessageSize")
        timeout = conf.value("spark.network.timeout")
        host = conf.value("ember.driver.bindAddress")
        if remote and not conf.contains("ember.driver.bindAddress"):
            host = self._spec.host
        try:
            self._backend = ZmqBackend(self._zctx, keys, self._scheduler.post, host=bind_host(host),
                                       port=self._spec.port if remote else 0,
                                       max_message_size=max_message_size, heartbeat_timeout=timeout,
                                       max_result_size=conf.value("spark.driver.maxResultSize") or None)
        except zmq.ZMQError as error:
            raise OSError(error.errno, f"cannot bind the driver to {host}:"
                                       f"{self._spec.port if remote else 0}: {error}") from None
        self._backend.kill_timeout = conf.value("spark.python.task.killTimeout")
        self._backend.worker_settings = (
            ("heartbeat_interval", conf.value("spark.executor.heartbeatInterval")),
            ("heartbeat_timeout", timeout),
            ("fetch_timeout", conf.value("ember.shuffle.fetchTimeout")),
            ("kill_timeout", conf.value("spark.python.task.killTimeout")),
            ("address_space", conf.value("spark.executor.pyspark.memory")),
            ("memory_fraction", conf.value("spark.memory.fraction")),
            ("max_in_flight", conf.value("spark.reducer.maxSizeInFlight")),
            ("environment", tuple(sorted(self.environment.items()))))
        self._backend.file_source = lambda name: pack_entry(self._files_dir, name)
        self._backend.broadcast_source = self._broadcast_bytes
        self._backend.hash_seed = child_environment()["PYTHONHASHSEED"]  # what local workers get
        self._scheduler.backend = self._backend
        self._scheduler.tasks.backend = self._backend
        self._backend.output_sink = forward_output  # what tasks print, shown here
        self._progress = ConsoleProgress(self._scheduler.job_progress,
                                         conf.value("spark.ui.showConsoleProgress"))
        if conf.value("spark.ui.enabled"):
            self._ui = StatusPage(lambda **selection: report(self, **selection)).start()
        self._scheduler.start()
        self._backend.start()
        if remote:
            self._start_remote()
            return
        self._cluster = LocalCluster(
            self._backend.address, secret, self._work_root, self._worker_exited,
            cores=self._worker_cores(),
            settings={"fetch_timeout": conf.value("ember.shuffle.fetchTimeout"),
                      "max_message_size": max_message_size,
                      "connect_timeout": conf.value("ember.worker.startTimeout"),
                      "heartbeat_interval": conf.value("spark.executor.heartbeatInterval"),
                      "files_dir": self._files_dir,
                      "shuffle_host": conf.value("ember.worker.bindAddress"),
                      "heartbeat_timeout": timeout,
                      "kill_timeout": conf.value("spark.python.task.killTimeout"),
                      "memory": (self._spec.memory or conf.value("spark.executor.memory")
                                 or default_worker_memory(self._spec.workers))})
        worker_ids = {self._cluster.spawn() for _ in range(self._spec.workers)}

        def check() -> None:
            exited = self._cluster.exited()
            if exited:
                worker_id, reason = sorted(exited.items())[0]
                raise NoWorkersError(f"worker {worker_id} exited ({reason}) before registering "
                                     f"with the driver; its error output is above")

        self._backend.wait_for(worker_ids, conf.value("ember.worker.startTimeout"), check)
        self._backend.listener = self  # from now on, lost workers are replaced

    def _start_remote(self) -> None:
        """An ember:// master: the bound socket waits for workers started by
        hand; none is spawned, and lost ones are not replaced."""
        conf = self._conf
        port = int(self._backend.address.rpartition(":")[2])
        conf.set("spark.driver.port", port)
        advertised = conf.get("ember.driver.advertiseAddress") or self._spec.host
        if advertised in ("0.0.0.0", "*", "::"):
            advertised = socket.gethostname()
        address = f"{advertised}:{port}"
        self._cluster = RemoteCluster(
            self._backend, lambda: self._scheduler.query(lambda: bool(self._scheduler.jobs)),
            address).start()
        self._backend.listener = self._cluster
        log.info("driver listening on %s (bound to %s); start workers with: ember worker "
                 "--driver %s --secret-file F", address, self._backend.address, address)
        wanted = conf.value("ember.driver.minWorkers")
        if wanted:
            self._cluster.wait_for_workers(wanted, conf.value("ember.worker.startTimeout"))

    def _broadcast_bytes(self, broadcast_id: int) -> bytes:
        """A broadcast's pickled value, for a worker that shares no disk."""
        path = os.path.join(self._work_root, "broadcast", str(int(broadcast_id)))
        try:
            with open(path, "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            raise RuntimeError(f"broadcast {broadcast_id}: its data is gone (destroyed, or the "
                               f"Context that made it stopped)") from None

    # --- keeping the local cluster at strength ---------------------------------
    # A lost worker (dead, or silent past spark.network.timeout) is replaced at
    # once. Bounds: three replacements in a row that die before registering
    # mean the workers cannot start here; and at most
    # ember.worker.maxRespawnsPerMinute replacements a minute. Past either,
    # jobs fail with NoWorkersError once no worker is left, instead of waiting.

    def _worker_exited(self, worker_id: str, reason: str) -> None:
        """A worker process ended (watcher thread)."""
        if self._backend.worker_lost(worker_id, reason) or self._stopped:
            return  # it was registered: worker_lost() below replaced it
        self._scheduler.post(ExecutorLost(worker_id, reason))  # it ran no task: see the scheduler
        if self._backend.has_registered(worker_id):
            return  # declared lost earlier (heartbeat) and replaced then
        if not reason.startswith("killed by"):
            # It exited by itself: the environment may be unable to start
            # workers. One killed by a signal says nothing about that.
            self._startup_failures += 1
        log.warning("worker %s exited before registering (%s)", worker_id, reason)
        self._replace(f"worker {worker_id} exited before registering ({reason})")

    def kill_worker(self, worker_id: str) -> None:
        """End a worker stuck in a killed task (the backend's last resort);
        it is replaced like any lost worker."""
        if isinstance(self._cluster, LocalCluster):
            self._cluster.kill(worker_id)

    def worker_registered(self, worker_id: str) -> None:
        self._startup_failures = 0

    def worker_lost(self, worker_id: str, reason: str) -> None:
        log.warning("worker %s lost: %s", worker_id, reason)
        self._replace(f"worker {worker_id} lost ({reason})")

    def _replace(self, why: str) -> None:
        with self._lock:
            if self._stopped:
                return
            now = time.monotonic()
            self._respawns = [t for t in self._respawns if now - t < 60]
            limit = self._conf.value("ember.worker.maxRespawnsPerMinute")
            if self._startup_failures >= 3:
                failure = f"{why}; three replacement workers in a row failed to start"
            elif len(self._respawns) >= limit:
                failure = f"{why}; {limit} workers were replaced in the last minute (the limit)"
            else:
                self._respawns.append(now)
                self._cluster.spawn()
                return
        log.error("not replacing a lost worker: %s", failure)
        self._scheduler.post(ClusterFailed(failure))

    def stop(self) -> None:
        """Stop the workers and release every resource of this Context."""
        with Context._active_lock:
            if Context._active_spark_context is self:
                Context._active_spark_context = None
        if getattr(self, "_stopped", True) and self._zctx is None:
            return
        with self._lock:  # no replacement worker is started from now on
            self._stopped = True
        dump = self._conf.get("spark.python.profile.dump")
        if getattr(self, "profiler_collector", None) is not None and dump:
            self.profiler_collector.dump_profiles(dump)
        if self._ui is not None:
            self._ui.stop()
        if self._scheduler is not None:
            self._scheduler.stop()
        if self._cluster is not None:
            self._cluster.stop()
        if self._backend is not None:
            # Workers on other hosts must get their Shutdown before the socket goes.
            self._backend.close(linger=1.0 if isinstance(self._cluster, RemoteCluster) else 0.0)
        if self._auth is not None:
            self._auth.stop()
        if self._zctx is not None:
            self._zctx.destroy(linger=0)
            self._zctx = None
        if self._work_root is not None:
            shutil.rmtree(self._work_root, ignore_errors=True)
            if self._files_dir in sys.path:
                sys.path.remove(self._files_dir)
            SparkFiles._root_directory = None
        _live_contexts.discard(self)

    def __enter__(self) -> "Context":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __del__(self):
        if not getattr(self, "_stopped", True):
            self.stop()

    def __getstate__(self):
        raise DriverOnlyError(
            "A function shipped to workers captures the Context. The Context exists only on the "
            "driver: use it in the driver program, not inside transformations or actions.")

    def __repr__(self) -> str:
        return f"<SparkContext master={self.master} appName={self.appName}>"

    def _repr_html_(self) -> str:
        """A notebook's display: master, app, workers and their state, cores,
        active jobs, and a link to the status page."""
        return context_html(self)

    @classmethod
    def getOrCreate(cls, conf: Conf | None = None) -> "Context":
        """The active Context, or a new one from ``conf``."""
        with cls._active_lock:
            if cls._active_spark_context is not None:
                return cls._active_spark_context
            return cls(conf=conf or Conf())

    def _check_running(self) -> None:
        if self._stopped:
            raise StoppedContextError(f"Cannot call methods on a stopped Context ({self.appName})")

    # --- properties -----------------------------------------------------------

    @property
    def version(self) -> str:
        return __version__

    @property
    def defaultParallelism(self) -> int:
        if self._conf.contains("spark.default.parallelism"):
            return self._conf.value("spark.default.parallelism")
        if isinstance(self._cluster, RemoteCluster):  # as Spark standalone: total cores, at least 2
            return max(2, self._cluster.total_cores())
        return self._spec.workers * self._worker_cores()

    def _worker_cores(self) -> int:
        """Task slots of each local worker: local-cluster's C, else spark.executor.cores."""
        return self._spec.cores or self._conf.value("spark.executor.cores")

    @property
    def defaultMinPartitions(self) -> int:
        return min(self.defaultParallelism, 2)

    def sparkUser(self) -> str:
        """The name of the user running this program."""
        import getpass

        return getpass.getuser()

    def getConf(self) -> Conf:
        return self._conf.copy()

    def show_profiles(self) -> None:
        """Print the merged profile of each RDD's tasks (spark.python.profile)."""
        self._profiler().show_profiles()

    def dump_profiles(self, path: str) -> None:
        """Write each RDD's merged profile to ``path/rdd_<id>.pstats``."""
        self._profiler().dump_profiles(path)

    def _profiler(self) -> ProfilerCollector:
        if self.profiler_collector is None:
            raise RuntimeError("'spark.python.profile' configuration must be set to 'true' to "
                               "enable Python profiling")
        return self.profiler_collector

    def statusTracker(self):
        """Jobs and stages of this Context, as PySpark's StatusTracker reports them."""
        from ember.scheduler.status import StatusTracker

        return StatusTracker(self._scheduler.status_snapshot)

    @property
    def uiWebUrl(self) -> str | None:
        """The URL of the live status page (jobs, stages, workers, storage;
        JSON at ``/api/status``), served from this process on 127.0.0.1;
        None when ``spark.ui.enabled`` is false or the Context stopped."""
        return self._ui.url if self._ui is not None and not self._stopped else None

    @property
    def resources(self) -> dict:
        """Custom resources (GPUs, ...) of the driver: ember schedules none."""
        return {}

    @classmethod
    def setSystemProperty(cls, key: str, value: str) -> None:
        """A process-wide property; ``spark.*`` ones become defaults of every
        Conf created afterwards (set it before creating the Context)."""
        cls._system_properties[str(key)] = str(value)

    @classmethod
    def getSystemProperty(cls, key: str) -> str | None:
        return cls._system_properties.get(key)

    def setLogLevel(self, logLevel: str) -> None:
        levels = {"ALL": logging.NOTSET, "DEBUG": logging.DEBUG, "INFO": logging.INFO,
                  "WARN": logging.WARNING, "WARNING": logging.WARNING, "ERROR": logging.ERROR,
                  "FATAL": logging.CRITICAL, "OFF": logging.CRITICAL + 10, "TRACE": logging.DEBUG}
        level = levels.get(str(logLevel).upper())
        if level is None:
            raise ValueError(f"setLogLevel: unknown level {logLevel!r}; accepted: {', '.join(levels)}")
        logging.getLogger("ember").setLevel(level)

    # --- creating RDDs --------------------------------------------------------

    def _next_rdd_id(self) -> int:
        return next(self._rdd_ids)

    def _new_public_ids(self, count: int = 1) -> int:
        """Take ``count`` numbers of PySpark's RDD numbering; the last one."""
        number = -1
        for _ in range(count):
            number = next(self._public_ids)
        return number

    def _next_shuffle_id(self) -> int:
        return next(self._shuffle_ids)

    def parallelize(self, c: Iterable, numSlices: int | None = None) -> RDD:
        """Distribute a local collection as an RDD of ``numSlices`` partitions.

        >>> sc.parallelize([0, 2, 3, 4, 6], 5).glom().collect()
        [[0], [2], [3], [4], [6]]
        >>> sc.parallelize(range(0, 6, 2), 5).glom().collect()
        [[], [0], [], [2], [4]]
        """
        self._check_running()
        if numSlices is None:
            numSlices = self.defaultParallelism
        if isinstance(numSlices, bool) or not isinstance(numSlices, int):
            raise TypeError(f"parallelize: numSlices must be an int, got {numSlices!r}")
        if numSlices <= 0:
            raise ValueError(f"parallelize: numSlices must be positive, got {numSlices}")
        if isinstance(c, range):
            size = len(c)
            step = c.step
            starts = [c.start + int(i * size / numSlices) * step for i in range(numSlices + 1)]
            slices: list = [range(starts[i], starts[i + 1], step) for i in range(numSlices)]
            batch = None
        else:
            items = c if isinstance(c, list) else list(c)
            # Items travel in batches and the batches are cut into slices, as
            # in PySpark, so glom() shows the same partitions.
            batch = max(1, min(len(items) // numSlices, self._batchSize or _PARALLELIZE_BATCH))
            batches = [(i, min(i + batch, len(items))) for i in range(0, len(items), batch)]
            count = len(batches)
            slices = []
            for i in range(numSlices):
                group = batches[i * count // numSlices:(i + 1) * count // numSlices]
                slices.append(items[group[0][0]:group[-1][1]] if group else [])
        return ParallelCollectionRDD(self, [dumps(piece) for piece in slices], user_callsite(2),
                                     batch)

    def range(self, start: int, end: int | None = None, step: int = 1,
              numSlices: int | None = None) -> RDD:
        """An RDD of the integers of ``range(start, end, step)``.

        >>> sc.range(5).collect()
        [0, 1, 2, 3, 4]
        >>> sc.range(2, 4).collect()
        [2, 3]
        """
        if end is None:
            start, end = 0, start
        return self.parallelize(range(start, end, step), numSlices)

    def textFile(self, name: str, minPartitions: int | None = None, use_unicode: bool = True) -> RDD:
        """An RDD of the lines of a text file, a directory of them, a glob, or
        a comma-separated list of those (``.gz`` and ``.bz2`` read transparently).

        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "sample.txt")
        >>> with open(path, "w") as f:
        ...     _ = f.write("Hello world!\\nsecond line\\n")
        >>> sc.textFile(path).collect()
        ['Hello world!', 'second line']
        """
        self._check_running()
        if minPartitions is None:
            minPartitions = self.defaultMinPartitions
        # named after the path it reads, as PySpark names it (rdd.name(), repr)
        return TextFileRDD(self, name, minPartitions, use_unicode, user_callsite(2)).setName(name)

    @property
    def read(self) -> Any:
        """Spark's DataFrameReader vocabulary returning RDDs of dicts
        (``sc.read.json/csv/xml/text/sql``: ``ember.etl.reader``)."""
        from ember.etl.reader import DataReader

        return DataReader(self)

    def _data_writer(self, rdd: RDD) -> Any:
        """``rdd.write``'s writer (``ember.etl.writer``): the engine reaches the
        packages above it only through its Context."""
        from ember.etl.writer import DataWriter

        return DataWriter(rdd)

    def wholeTextFiles(self, path: str, minPartitions: int | None = None,
                       use_unicode: bool = True) -> RDD:
        """An RDD of (file path, whole content) for every file under ``path``."""
        return inputs.whole_text_files(self, path, minPartitions, use_unicode)

    def binaryFiles(self, path: str, minPartitions: int | None = None) -> RDD:
        """An RDD of (file path, content bytes) for every file under ``path``."""
        return inputs.binary_files(self, path, minPartitions)

    def binaryRecords(self, path: str, recordLength: int) -> RDD:
        """An RDD of the fixed-length binary records of the files under ``path``."""
        return inputs.binary_records(self, path, recordLength)

    def pickleFile(self, name: str, minPartitions: int | None = None) -> RDD:
        """An RDD of the objects saved by ``RDD.saveAsPickleFile``."""
        return inputs.pickle_file(self, name, minPartitions)

    def sequenceFile(self, path: str, keyClass: str | None = None, valueClass: str | None = None,
                     keyConverter: str | None = None, valueConverter: str | None = None,
                     minSplits: int | None = None, batchSize: int = 0) -> RDD:
        """The pairs saved by ``RDD.saveAsSequenceFile`` (ember's own format)."""
        return inputs.sequence_file(self, path, keyClass, valueClass, keyConverter, valueConverter,
                                    minSplits, batchSize)

    def hadoopFile(self, path: str, inputFormatClass: str, keyClass: str, valueClass: str,
                   keyConverter: str | None = None, valueConverter: str | None = None,
                   conf: dict | None = None, batchSize: int = 0) -> RDD:
        """Text, key-value text and sequence files through Hadoop's old API names."""
        return inputs.hadoop_file(self, path, inputFormatClass, keyClass, valueClass, keyConverter,
                                  valueConverter, conf, batchSize)

    def newAPIHadoopFile(self, path: str, inputFormatClass: str, keyClass: str, valueClass: str,
                         keyConverter: str | None = None, valueConverter: str | None = None,
                         conf: dict | None = None, batchSize: int = 0) -> RDD:
        """Text, key-value text and sequence files through Hadoop's new API names."""
        return inputs.new_api_hadoop_file(self, path, inputFormatClass, keyClass, valueClass,
                                          keyConverter, valueConverter, conf, batchSize)

    def hadoopRDD(self, inputFormatClass: str, keyClass: str, valueClass: str,
                  keyConverter: str | None = None, valueConverter: str | None = None,
                  conf: dict | None = None, batchSize: int = 0) -> RDD:
        """Like ``hadoopFile``, with the input path in ``conf``."""
        return inputs.hadoop_rdd(self, inputFormatClass, keyClass, valueClass, keyConverter,
                                 valueConverter, conf, batchSize)

    def newAPIHadoopRDD(self, inputFormatClass: str, keyClass: str, valueClass: str,
                        keyConverter: str | None = None, valueConverter: str | None = None,
                        conf: dict | None = None, batchSize: int = 0) -> RDD:
        """Like ``newAPIHadoopFile``, with the input path in ``conf``."""
        return inputs.new_api_hadoop_rdd(self, inputFormatClass, keyClass, valueClass, keyConverter,
                                         valueConverter, conf, batchSize)

    def topicRDD(self, store: Any, topic: str, start: Any = "earliest", end: Any = "latest",
                 keyDecoder: Callable | None = None, valueDecoder: Callable | None = None,
                 **options: Any) -> RDD:
        """An RDD over a log store topic: one partition per topic partition,
        the offset range of each fixed now (never past what is durable), so a
        lost partition re-reads exactly the same records. Elements are
        (key, value), decoded as UTF-8 unless decoders are given. ``store``
        is a LogStore, a store address (with ``secret=``), or
        ``"kafka://HOST:PORT[,HOST:PORT]"`` for any Kafka cluster
        (``kafka_params={...}`` then passes client settings: TLS, SASL)."""
        from ember.ingest.log_rdd import KeyValueDecoder, topic_rdd, utf8_decoder
        from ember.ingest.client.store import LogStore

        if isinstance(store, str) and store.startswith("kafka://"):  # a Kafka cluster
            from ember.ingest.kafka.client import kafka_topic_rdd
            return kafka_topic_rdd(self, store, topic, start, end, KeyValueDecoder(
                keyDecoder or utf8_decoder, valueDecoder or utf8_decoder), **options)
        if isinstance(store, LogStore):  # shown on the status page while it lives
            self._log_stores[store.address] = store
        return topic_rdd(self, store, topic, start, end, keyDecoder or utf8_decoder,
                         valueDecoder or utf8_decoder, **options)

    def setCheckpointDir(self, dirName: str) -> None:
        """Where ``RDD.checkpoint`` saves RDDs (a new subdirectory is made in it)."""
        self._checkpoint_dir = checkpoint.new_checkpoint_dir(dirName)

    def getCheckpointDir(self) -> str | None:
        """The checkpoint directory as a ``file:`` URI (PySpark's form), or None."""
        return None if self._checkpoint_dir is None else "file:" + self._checkpoint_dir

    def emptyRDD(self) -> RDD:
        """An RDD with no partitions and no elements.

        >>> sc.emptyRDD().collect()
        []
        """
        self._check_running()
        return EmptyRDD(self, user_callsite(2))

    def union(self, rdds: list[RDD]) -> RDD:
        """The elements of every RDD in ``rdds``.

        >>> sc.union([sc.parallelize([1, 2]), sc.parallelize([3])]).collect()
        [1, 2, 3]
        """
        self._check_running()
        rdds = list(rdds)
        if not rdds:
            raise ValueError("union: needs at least one RDD")
        for rdd in rdds:
            if not isinstance(rdd, RDD):
                raise TypeError(f"union: expected RDDs, got {type(rdd).__name__}")
            if rdd.ctx is not self:
                raise ValueError("union: every RDD must belong to this Context")
        partitioner = rdds[0].partitioner
        if partitioner is not None and all(r.partitioner == partitioner for r in rdds):
            return PartitionerAwareUnionRDD(self, rdds, user_callsite(3))
        return UnionRDD(self, rdds, user_callsite(3))

    # --- local properties, job groups and tags (per thread) -----------------------

    def _local_properties(self) -> dict[str, str]:
        properties = getattr(self._thread_state, "properties", None)
        if properties is None:
            properties = self._thread_state.properties = {}
        return properties

    def setLocalProperty(self, key: str, value: str | None) -> None:
        """Set a property of the jobs this thread submits (None removes it);
        tasks read them with ``TaskContext.getLocalProperty``.

        >>> from ember import TaskContext
        >>> sc.setLocalProperty("team", "search")
        >>> sc.parallelize([1]).map(lambda x: TaskContext.get().getLocalProperty("team")).collect()
        ['search']
        >>> sc.setLocalProperty("team", None)
        """
        if value is None:
            self._local_properties().pop(key, None)
        else:
            self._local_properties()[key] = str(value)

    def getLocalProperty(self, key: str) -> str | None:
        return self._local_properties().get(key)

    def setJobGroup(self, groupId: str, description: str, interruptOnCancel: bool = False) -> None:
        """Put the jobs this thread submits in a group, which ``cancelJobGroup`` cancels."""
        properties = self._local_properties()
        properties["spark.jobGroup.id"] = str(groupId)
        properties["spark.job.description"] = str(description)
        properties["spark.job.interruptOnCancel"] = str(bool(interruptOnCancel)).lower()

    def setJobDescription(self, value: str) -> None:
        self.setLocalProperty("spark.job.description", value)

    def setInterruptOnCancel(self, interruptOnCancel: bool) -> None:
        self.setLocalProperty("spark.job.interruptOnCancel", str(bool(interruptOnCancel)).lower())

    def addJobTag(self, tag: str) -> None:
        """Tag the jobs this thread submits from now on (``cancelJobsWithTag``).

        >>> sc.addJobTag("nightly"); sorted(sc.getJobTags())
        ['nightly']
        >>> sc.clearJobTags()
        """
        if not isinstance(tag, str) or not tag or "," in tag:
            raise ValueError(f"addJobTag: a job tag must be a non-empty string without ',', got {tag!r}")
        self._set_tags(self.getJobTags() | {tag})

    def removeJobTag(self, tag: str) -> None:
        self._set_tags(self.getJobTags() - {tag})

    def getJobTags(self) -> set[str]:
        return set(filter(None, self._local_properties().get("spark.job.tags", "").split(",")))

    def clearJobTags(self) -> None:
        self._set_tags(set())

    def _set_tags(self, tags: set[str]) -> None:
        self.setLocalProperty("spark.job.tags", ",".join(sorted(tags)) if tags else None)

    def cancelJobGroup(self, groupId: str) -> None:
        """Cancel the active jobs of a group; their running tasks are killed."""
        self._scheduler.post(JobsCancelled(f"job group {groupId!r} cancelled", group=groupId))

    def cancelJobsWithTag(self, tag: str) -> None:
        self._scheduler.post(JobsCancelled(f"jobs tagged {tag!r} cancelled", tag=tag))

    def cancelAllJobs(self) -> None:
        self._scheduler.post(JobsCancelled("all jobs cancelled"))

    # --- files shipped to the workers ---------------------------------------------

    def addFile(self, path: str, recursive: bool = False) -> None:
        """Ship a local file (or, with ``recursive``, a directory) to every
        worker; tasks find it with ``SparkFiles.get(name)``."""
        self._check_running()
        name = add_file(self._files_dir, path, recursive)
        self._note_added(self._added_files, path)
        self._backend.add_file(name, os.path.join(self._files_dir, name), python=False)

    def addPyFile(self, path: str) -> None:
        """Ship a ``.py``, ``.zip`` or ``.egg`` file and make it importable in
        tasks (and here)."""
        self._check_running()
        import importlib

        name = add_file(self._files_dir, path, False, "addPyFile")
        self._note_added(self._added_files, path)
        target = os.path.join(self._files_dir, name)
        if name.endswith((*PACKAGE_EXTENSIONS, ".whl")):
            sys.path.insert(1, target)
        importlib.invalidate_caches()
        self._backend.add_file(name, target, python=True)

    def addArchive(self, path: str) -> None:
        """Ship an archive (.zip, .jar, .tar.gz, .tgz, .tar), unpacked into a
        directory named after it (``path#name`` to rename it)."""
        self._check_running()
        name = add_archive(self._files_dir, path)
        self._backend.add_file(name, os.path.join(self._files_dir, name), python=False)
        self._note_added(self._added_archives, path.partition("#")[0])

    @staticmethod
    def _note_added(added: list[str], path: str) -> None:
        # a path added again is shipped once and listed once, as in PySpark
        uri = "file:" + os.path.abspath(path.removeprefix("file://"))
        if uri not in added:
            added.append(uri)

    @property
    def listFiles(self) -> list[str]:
        """The files added with addFile and addPyFile, as ``file:`` URIs, each once
        (a property, as in PySpark)."""
        return list(self._added_files)

    @property
    def listArchives(self) -> list[str]:
        """The archives added with addArchive, as ``file:`` URIs, each once."""
        return list(self._added_archives)

    # --- shared variables -------------------------------------------------------

    def broadcast(self, value: Any) -> Broadcast:
        """Ship a read-only value to each worker once (see ``Broadcast``)."""
        self._check_running()
        return Broadcast(self, value)

    def _new_broadcast_file(self) -> tuple[int, str]:
        broadcast_id = next(self._broadcast_ids)
        return broadcast_id, os.path.join(self._work_root, "broadcast", str(broadcast_id))

    def _release_broadcast(self, broadcast_id: int) -> None:
        if not self._stopped:
            self._backend.broadcast(RemoveBroadcast(broadcast_id))

    def accumulator(self, value: Any, accum_param: AccumulatorParam | None = None) -> Accumulator:
        """An accumulator starting at ``value``; tasks add to it, the driver
        reads it. Numbers need no ``accum_param``.

        >>> acc = sc.accumulator(0)
        >>> sc.parallelize(range(10), 3).foreach(lambda x: acc.add(1))
        >>> acc.value
        10
        """
        self._check_running()
        return self._accumulators.create(value, accum_param)

    # --- running jobs ---------------------------------------------------------

    def _prepare(self, rdd: RDD) -> None:
        """Compute partitions and pickle user code for the whole lineage, in
        the caller's thread, before anything is submitted."""
        stack, visited, seen = [rdd], [], set()
        while stack:
            current = stack.pop()
            if current._storage_level != StorageLevel.NONE:
                self._persistent_rdds[current._id] = current
            if current._id in seen or current._prepared:
                continue
            seen.add(current._id)
            visited.append(current)
            current.partitions  # noqa: B018 - computed (and checked) here, on the driver
            for closure in current._closures():
                closure.freeze()
            for dep in current.dependencies:
                if isinstance(dep, ShuffleDependency):
                    dep.partitioner_code.freeze()
                    if self.profiler_collector is not None:  # named by PySpark's keying pipeline
                        self.profiler_collector.ids[dep.rdd._id] = current.id() - 3
                stack.append(dep.rdd)
        # Marked only once the whole lineage passed, so a failure is met again
        # (and reported again) by the next action.
        for current in visited:
            current._prepared = True

    def _run_job(self, rdd: RDD, func: Callable[[Any], Any],
                 partitions: Iterable[int] | None = None, pyspark_ids: int | None = 1) -> list:
        self._check_running()
        # Numbered as PySpark's action numbers its RDDs (RDD._run): its own
        # pipeline over the RDD, or the RDD itself.
        if pyspark_ids == 0:
            job_rdd_id = rdd.id()
        elif pyspark_ids is not None:
            if not rdd._pyspark_pipelinable():
                rdd.id()
            job_rdd_id = self._new_public_ids(pyspark_ids)
        count = rdd.getNumPartitions()
        if partitions is None:
            wanted = list(range(count))
        else:
            wanted = list(partitions)
            bad = [p for p in wanted if not isinstance(p, int) or not 0 <= p < count]
            if bad:
                raise ValueError(f"partition indices {bad} out of range: {rdd!r} has {count} partitions")
        if not wanted:
            rdd._do_checkpoint()
            return []
        name, callsite = api_callsite(2)
        self._prepare(rdd)
        if self.profiler_collector is not None and pyspark_ids is not None:
            self.profiler_collector.ids[rdd._id] = job_rdd_id
        action = Closure(func, [(name, callsite, func)])
        action.freeze()
        properties = dict(self._local_properties())
        if self.profiler_collector is not None:
            properties["spark.python.profile"] = "true"
        waiter = self._scheduler.new_job(len(wanted))
        # Ctrl-C (or a notebook's interrupt) may land anywhere from here on,
        # even before the job is posted: a cancel of a job never submitted
        # is dropped by the scheduler, one of a job it runs stops it.
        try:
            self._scheduler.submit_job(waiter, rdd, action, wanted, properties,
                                       f"{name} at {callsite}")
            # Bars are closed at their final counts before the results are returned.
            with self._progress.track(waiter.job_id):
                payloads = waiter.wait()
        except KeyboardInterrupt:
            self._scheduler.cancel_job(waiter.job_id, "interrupted by the user (KeyboardInterrupt)")
            raise
        results = [loads(payload) for payload in payloads]
        rdd._do_checkpoint()  # RDDs marked for checkpointing are saved after their first job
        return results

    def runJob(self, rdd: RDD, partitionFunc: Callable[[Iterable], Iterable],
               partitions: Iterable[int] | None = None, allowLocal: bool = False) -> list:
        """Run ``partitionFunc`` over the given partitions (all by default) and
        return the concatenation of what it yields.

        >>> rdd = sc.parallelize(range(6), 3)
        >>> sc.runJob(rdd, lambda part: [x * x for x in part], [0, 2])
        [0, 1, 16, 25]
        """
        results = self._run_job(rdd, lambda iterator: list(partitionFunc(iterator)), partitions)
        return [item for chunk in results for item in chunk]

    # --- cleanup hooks (called by RDDs and by the garbage collector) ----------

    def _track_shuffle(self, dependency: ShuffleDependency) -> None:
        weakref.finalize(dependency, _release_shuffle, weakref.ref(self), dependency.shuffle_id)

    def _clean_shuffle(self, shuffle_id: int, blocking: bool = False) -> None:
        if not self._stopped:
            self._scheduler.post(ShuffleReleased(shuffle_id))

    def _unpersist_rdd(self, rdd_id: int, blocking: bool = False) -> None:
        if not self._stopped:
            self._scheduler.post(RddUnpersisted(rdd_id))


SECRET_FILE_ENV = "EMBER_SECRET_FILE"


def cluster_secret(conf: Conf) -> bytes:
    """The secret of an ember:// cluster, from ember.secretFile or the
    EMBER_SECRET_FILE environment variable (a 0600 file)."""
    path = conf.get("ember.secretFile") or os.environ.get(SECRET_FILE_ENV)
    if not path:
        raise ValueError(
            f"master {conf.get('spark.master')!r} needs the cluster secret: set ember.secretFile "
            f"or the {SECRET_FILE_ENV} environment variable to a file made with 'ember secret "
            f"new --out FILE' (mode 0600), and start the workers with the same file")
    return read_secret_file(path)


def bind_host(host: str) -> str:
    """An address ZeroMQ can bind: wildcards as given, names resolved."""
    if host in ("0.0.0.0", "*", "::"):
        return host
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
        return host
    except OSError:
        pass
    try:
        address = socket.gethostbyname(host)
    except OSError as error:
        raise ValueError(f"cannot bind the driver to {host!r}: {error}") from None
    if address.startswith("127.") and host != "localhost":
        log.warning("%s resolves to a loopback address (%s): workers on other hosts cannot "
                    "reach the driver; use this host's IP address or 0.0.0.0 in the master URL",
                    host, address)
    return address


def _release_shuffle(context_ref: "weakref.ref[Context]", shuffle_id: int) -> None:
    context = context_ref()
    if context is not None and not context._stopped:
        context._scheduler.post(ShuffleReleased(shuffle_id))


_live_contexts: "weakref.WeakSet[Context]" = weakref.WeakSet()


@atexit.register
def _stop_live_contexts() -> None:
    for context in list(_live_contexts):
        context.stop()


SparkContext = Context
