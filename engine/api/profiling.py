"""Profiles of the Python code of tasks (``spark.python.profile``), with
PySpark's ``pyspark.profiler`` classes.

When a job runs with profiling on, each task runs under ``cProfile``; its
statistics travel home with its result (marshalled, as ``pstats`` stores
them), and the driver's ``ProfilerCollector`` hands them to the profiler of
the RDD whose stage ran (one per RDD, made by ``new_profiler`` from the
Context's ``profiler_cls``, ``BasicProfiler`` by default). The user's
``sc.show_profiles()`` and ``sc.dump_profiles(path)`` call each profiler's
``show(id)`` and ``dump(id, path)``; a custom profiler (PySpark's developer
API) overrides those. As in PySpark, profiles not shown by then are shown
when the program exits (dumped instead, under ``spark.python.profile.dump``).

Thread-safety: the collector is fed by the scheduler's loop and read by the
user's thread; a lock guards it.
"""

from __future__ import annotations

import atexit
import cProfile
import io
import marshal
import os
import pstats
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from ember.engine.api.accumulators import AccumulatorParam

PROPERTY = "spark.python.profile"


class _Stats:
    """What ``pstats.Stats`` accepts as a profile: an object with ``stats``."""

    def __init__(self, stats: dict):
        self.stats = stats

    def create_stats(self) -> None:
        pass


@contextmanager
def profiled(enabled: bool) -> Iterator[list]:
    """Profile the block when enabled; the list receives the marshalled stats."""
    box: list = []
    if not enabled:
        yield box
        return
    profile = cProfile.Profile()
    profile.enable()
    try:
        yield box
    finally:
        profile.disable()
        profile.create_stats()
        box.append(marshal.dumps(profile.stats))


def stats_of(data: bytes) -> pstats.Stats:
    """The ``pstats.Stats`` of marshalled profile statistics."""
    return pstats.Stats(_Stats(marshal.loads(data)), stream=io.StringIO())


class Profiler:
    """What a profiler does (a custom profiler subclasses this or
    ``BasicProfiler``): ``profile`` a function, give its ``stats``, ``show``
    them, ``dump`` them to a directory."""

    def __init__(self, ctx: Any):
        pass

    def profile(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.profile")

    def stats(self) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.stats")

    def show(self, id: int) -> None:
        raise NotImplementedError(f"{type(self).__name__}.show")

    def dump(self, id: int, path: str) -> None:
        raise NotImplementedError(f"{type(self).__name__}.dump")

    def _add(self, stats: pstats.Stats) -> None:
        """Statistics of one task of this profiler's RDD (ember's feed)."""


class PStatsParam(AccumulatorParam):
    """Adds ``pstats.Stats`` (None is the zero)."""

    @staticmethod
    def zero(value: Any) -> None:
        return None

    @staticmethod
    def addInPlace(value1: pstats.Stats | None, value2: pstats.Stats | None) -> pstats.Stats | None:
        if value1 is None:
            return value2
        if value2 is not None:
            value1.add(value2)
        return value1


class BasicProfiler(Profiler):
    """The default profiler: cProfile statistics of every task of one RDD,
    merged; ``show`` prints them sorted by time, ``dump`` writes
    ``rdd_<id>.pstats``."""

    def __init__(self, ctx: Any):
        super().__init__(ctx)
        self._stats: pstats.Stats | None = None
        self._lock = threading.Lock()

    def _add(self, stats: pstats.Stats) -> None:
        with self._lock:
            self._stats = PStatsParam.addInPlace(self._stats, stats)

    def profile(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``func`` under cProfile, add its statistics, return its result."""
        profile = cProfile.Profile()
        result = profile.runcall(func, *args, **kwargs)
        stats = pstats.Stats(profile, stream=io.StringIO())
        stats.strip_dirs()
        self._add(stats)
        return result

    def stats(self) -> pstats.Stats | None:
        return self._stats

    def show(self, id: int) -> None:
        stats = self.stats()
        if stats:
            print("=" * 60)
            print(f"Profile of RDD<id={id}>")
            print("=" * 60)
            stats.stream = None  # print to stdout
            stats.sort_stats("time", "cumulative").print_stats()

    def dump(self, id: int, path: str) -> None:
        stats = self.stats()
        if stats:
            os.makedirs(path, exist_ok=True)
            stats.dump_stats(os.path.join(path, f"rdd_{id}.pstats"))


class ProfilerCollector:
    """The profilers of a Context, one per profiled RDD, in the order their
    first statistics arrived: ``[id, profiler, shown]`` in ``profilers``.
    ``udf_profiler_cls`` and ``memory_profiler_cls`` are accepted for
    PySpark's signature; ember has no UDFs."""

    def __init__(self, profiler_cls: type = BasicProfiler, udf_profiler_cls: type | None = None,
                 memory_profiler_cls: type | None = None, dump_path: str | None = None,
                 ctx: Any = None):
        self.profiler_cls = profiler_cls
        self.udf_profiler_cls = udf_profiler_cls
        self.memory_profiler_cls = memory_profiler_cls
        self.profile_dump_path = dump_path
        self.profilers: list[list] = []
        # ember's key of a stage's RDD -> the id PySpark gives the Python
        # pipeline that stage runs (kept by the Context as jobs start).
        self.ids: dict[int, int] = {}
        self._ctx = ctx
        self._lock = threading.RLock()

    def new_profiler(self, ctx: Any) -> Profiler:
        return self.profiler_cls(ctx)

    def add_profiler(self, id: int, profiler: Profiler) -> None:
        with self._lock:
            if not self.profilers:  # the first one: whatever is left is shown at exit
                if self.profile_dump_path:
                    atexit.register(self.dump_profiles, self.profile_dump_path)
                else:
                    atexit.register(self.show_profiles)
            self.profilers.append([id, profiler, False])

    def add(self, rdd_key: int, data: bytes) -> None:
        """A task of the stage ending at RDD ``rdd_key`` (ember's key) sent
        its marshalled statistics."""
        stats = stats_of(data)
        rdd_id = self.ids.get(rdd_key, rdd_key)
        with self._lock:
            entry = next((e for e in self.profilers if e[0] == rdd_id), None)
            if entry is None:
                self.add_profiler(rdd_id, self.new_profiler(self._ctx))
                entry = self.profilers[-1]
            entry[1]._add(stats)
            entry[2] = False  # new statistics: show it again

    def dump_profiles(self, path: str) -> None:
        """Each profiler's ``dump(id, path)``; the profilers are then dropped."""
        with self._lock:
            profilers, self.profilers = self.profilers, []
        for id, profiler, _ in profilers:
            profiler.dump(id, path)

    def show_profiles(self) -> None:
        """Each profiler's ``show(id)``, once until it gets new statistics."""
        with self._lock:
            entries = [entry for entry in self.profilers if not entry[2]]
            for entry in entries:
                entry[2] = True
        for id, profiler, _ in entries:
            profiler.show(id)
