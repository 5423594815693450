"""Profiles of the Python code of tasks (``spark.python.profile``).

When a job runs with profiling on, each task runs under ``cProfile``; its
statistics travel home with its result (marshalled, as ``pstats`` stores
them), and the driver's ``ProfileCollector`` merges them per RDD, for
``sc.show_profiles()`` and ``sc.dump_profiles(path)``.

Thread-safety: the collector is fed by the scheduler's loop and read by the
user's thread; a lock guards it.
"""

from __future__ import annotations

import cProfile
import io
import marshal
import os
import pstats
import threading
from contextlib import contextmanager
from typing import Iterator

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


class ProfileCollector:
    def __init__(self):
        self._stats: dict[int, pstats.Stats] = {}
        self._lock = threading.Lock()

    def add(self, rdd_id: int, data: bytes) -> None:
        stats = pstats.Stats(_Stats(marshal.loads(data)), stream=io.StringIO())
        with self._lock:
            if rdd_id in self._stats:
                self._stats[rdd_id].add(stats)
            else:
                self._stats[rdd_id] = stats

    def show(self) -> None:
        with self._lock:
            for rdd_id, stats in sorted(self._stats.items()):
                print("=" * 60)
                print(f"Profile of RDD<id={rdd_id}>")
                print("=" * 60)
                stats.stream = None  # print to stdout
                stats.sort_stats("time", "cumulative").print_stats()

    def dump(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)
        with self._lock:
            for rdd_id, stats in self._stats.items():
                stats.dump_stats(os.path.join(path, f"rdd_{rdd_id}.pstats"))
