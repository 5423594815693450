"""BlockManager: the cached partitions of persisted RDDs held by this worker.

A block is one partition of one RDD, keyed (rdd id, partition). Memory levels
keep the partition's records as a Python list; disk levels keep one pickled
file per block under the worker's directory. A block computed here is
reported to the driver with the task's result (``context._cache_updates``), so
later tasks over it prefer this worker. A lost block is simply recomputed from
lineage by whichever worker needs it.

Thread-safety: all methods may be called from any executor thread.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Iterator

from ember.engine.fileio import atomic_writer
from ember.engine.serializer import dumps, loads


class BlockManager:
    def __init__(self, directory: str):
        self.directory = directory
        self._memory: dict[tuple[int, int], list] = {}
        self._on_disk: set[tuple[int, int]] = set()
        self._lock = threading.Lock()

    def _path(self, key: tuple[int, int]) -> str:
        return os.path.join(self.directory, f"rdd_{key[0]}_{key[1]}")

    def get(self, key: tuple[int, int]) -> list | None:
        with self._lock:
            values = self._memory.get(key)
            on_disk = key in self._on_disk
        if values is not None:
            return values
        if on_disk:
            try:
                with open(self._path(key), "rb") as handle:
                    return loads(handle.read())
            except OSError:
                with self._lock:
                    self._on_disk.discard(key)
        return None

    def get_or_compute(self, rdd: Any, split: Any, context: Any) -> Iterator:
        key = (rdd.id(), split.index)
        values = self.get(key)
        if values is not None:
            return iter(values)
        values = list(rdd.compute(split, context))
        level = rdd._storage_level
        if level.useMemory:
            with self._lock:
                self._memory[key] = values
        elif level.useDisk:
            os.makedirs(self.directory, exist_ok=True)
            with atomic_writer(self._path(key), durable=False) as handle:
                handle.write(dumps(values))
            with self._lock:
                self._on_disk.add(key)
        context._cache_updates.append(key)
        return iter(values)

    def remove_rdd(self, rdd_id: int) -> None:
        with self._lock:
            for key in [k for k in self._memory if k[0] == rdd_id]:
                del self._memory[key]
            doomed = [k for k in self._on_disk if k[0] == rdd_id]
            self._on_disk.difference_update(doomed)
        for key in doomed:
            try:
                os.unlink(self._path(key))
            except FileNotFoundError:
                pass
