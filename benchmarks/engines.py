"""The engines: how each opens a session and runs a workload in a child.

``pyspark`` and ``ember`` run the very same ``rdd(sc, inputs)`` functions;
only the module their context comes from differs. ``dask`` runs the
``bag`` versions, ``serial`` the plain-Python ones.

A session is what a user pays once per program: the context, or the Dask
process pool. Unless the workload times the session itself (``startup``),
the session is warmed with one trivial job before anything is timed, so
worker processes that an engine starts lazily are up for every engine alike.
"""

from __future__ import annotations

import importlib
import os
import shutil
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version

MASTER = "local[2]"
WORKERS = 2
APP_NAME = "ember-benchmarks"

# The key ember's Conf declares for a worker's memory budget. It follows
# Spark's spelling; change it here if ember names its setting differently.
EMBER_MEMORY_KEY = "spark.executor.memory"

PYSPARK_SETTINGS = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    # Head-room for the cached k-means points; Spark's default is 1g.
    "spark.driver.memory": "2g",
}


class Engine:
    name: str
    distribution: str | None = None   # package whose version is reported
    memory_key: str | None = None     # the setting that carries a worker's budget

    def settings(self, budget_mb: int | None) -> dict[str, str]:
        return {}

    @contextmanager
    def session(self, settings: dict[str, str], warm: bool):
        yield None

    def execute(self, workload, handle, inputs):
        raise NotImplementedError

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

    def execute(self, workload, handle, inputs):
        return workload.bag(inputs)


class SerialEngine(Engine):
    name = "serial"

    def execute(self, workload, handle, inputs):
        return workload.serial(inputs)


ENGINES: dict[str, Engine] = {
    engine.name: engine
    for engine in (
        RddEngine("ember", "ember", "Context", {}, EMBER_MEMORY_KEY, log_level=None),
        PySparkEngine(),
        DaskEngine(),
        SerialEngine(),
    )
}
