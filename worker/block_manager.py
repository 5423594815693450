"""BlockManager: the cached partitions of persisted RDDs held by this worker.

A block is one partition of one RDD, keyed (rdd id, partition). Memory levels
keep the partition's records as a Python list in the memory store; disk levels
keep one file per block under the worker's directory (pickled chunks, read
back one chunk at a time). A block computed here is reported to the driver
with the task's result (``context._cache_updates``), and a block this worker
no longer holds is reported the same way (``context._cache_drops``), so later
tasks over it prefer the worker that has it. A lost block is simply
recomputed from lineage by whichever worker needs it.

The memory store holds at most ``capacity`` bytes (``spark.memory.fraction``
of the worker's ``spark.executor.memory``), as estimated by
``engine.data.memory.estimate_size``. A partition is unrolled into memory a chunk
at a time, and its reservation grows with it; when the store is full, the
least recently used blocks of *other* RDDs are evicted (an RDD never evicts
its own blocks, so a scan over an RDD too large for memory does not churn
its own cache, as in Spark). Evicted blocks of ``MEMORY_AND_DISK`` go to
disk; those of ``MEMORY_ONLY`` are dropped and recomputed when next needed.
A partition that cannot fit even so is not kept in memory: ``MEMORY_ONLY``
streams it on to the task uncached, ``MEMORY_AND_DISK`` writes it to disk.

Thread-safety: all methods may be called from any executor thread; the lock
guards the store's maps and its byte counts, never I/O.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from itertools import chain, islice
from typing import Any, Iterator

from ember.engine.io.fileio import atomic_writer
from ember.engine.data.memory import estimate_size
from ember.engine.data.spill import dump_chunks, load_chunks

# Records unrolled between two checks of a partition's size.
UNROLL_CHUNK = 1024


class _MemoryBlock:
    __slots__ = ("values", "size", "use_disk")

    def __init__(self, values: list, size: int, use_disk: bool):
        self.values = values
        self.size = size
        self.use_disk = use_disk


class BlockManager:
    def __init__(self, directory: str, capacity: int | float = float("inf")):
        self.directory = directory
        self.capacity = capacity
        self._memory: OrderedDict[tuple[int, int], _MemoryBlock] = OrderedDict()  # LRU first
        self._on_disk: dict[tuple[int, int], int] = {}  # key -> file size
        self._used = 0  # bytes of stored blocks plus reservations of unrolling ones
        self._lock = threading.Lock()

    @property
    def memory_used(self) -> int:
        with self._lock:
            return self._used

    def _path(self, key: tuple[int, int]) -> str:
        return os.path.join(self.directory, f"rdd_{key[0]}_{key[1]}")

    def get(self, key: tuple[int, int], metrics: Any = None) -> Iterator | None:
        """The block's records, or None when this worker does not hold it.
        ``metrics`` (the reading task's), when given, counts them as input."""
        with self._lock:
            block = self._memory.get(key)
            if block is not None:
                self._memory.move_to_end(key)
                if metrics is not None:
                    metrics.input_records += len(block.values)
                    metrics.input_bytes += block.size
                return iter(block.values)
            on_disk = key in self._on_disk
        if on_disk and os.path.exists(self._path(key)):
            return load_chunks(self._path(key), metrics)
        with self._lock:
            self._on_disk.pop(key, None)
        return None

    def get_or_compute(self, rdd: Any, split: Any, context: Any) -> Iterator:
        key = (rdd.id(), split.index)
        cached = self.get(key, context._metrics)
        if cached is not None:
            return cached
        level = rdd._storage_level
        records = iter(rdd.compute(split, context))
        if level.useMemory:
            values, complete = self._unroll(key, records, level.useDisk, context)
            if complete:
                context._cache_updates.append(key)
                return iter(values)
            records = chain(values, records)
            if not level.useDisk:
                return records  # too large for memory: this partition stays uncached
        if level.useDisk:
            self._write_disk(key, records)
            context._cache_updates.append(key)
            return load_chunks(self._path(key))
        return records

    def _unroll(self, key: tuple[int, int], records: Iterator, use_disk: bool,
                context: Any) -> tuple[list, bool]:
        """Read the partition into a list while the store can make room for
        it; returns the list and whether it was stored (all of it)."""
        values: list = []
        reserved = 0
        try:
            while True:
                before = len(values)
                values.extend(islice(records, UNROLL_CHUNK))
                if len(values) - before < UNROLL_CHUNK:
                    size = estimate_size(values)
                    if size > reserved:
                        if not self._reserve(key, size - reserved, context):
                            return values, False
                        reserved = size
                    self._store(key, values, size, use_disk)
                    return values, True
                # A chunk's size is sampled from its own records, so growing
                # the reservation costs one estimate per chunk, not per record.
                size = estimate_size(values[before:]) * len(values) // UNROLL_CHUNK
                if size > reserved:
                    if not self._reserve(key, size - reserved, context):
                        return values, False
                    reserved = size
        finally:
            with self._lock:
                self._used -= reserved  # _store re-counts the block's own size

    def _reserve(self, key: tuple[int, int], wanted: int, context: Any) -> bool:
        """Make room for ``wanted`` more bytes, evicting least recently used
        blocks of other RDDs; False when even that cannot free enough."""
        if wanted <= 0:
            return True
        evicted: list[tuple[tuple[int, int], _MemoryBlock]] = []
        with self._lock:
            if self._used + wanted > self.capacity:
                freeable = sum(b.size for k, b in self._memory.items() if k[0] != key[0])
                if self._used - freeable + wanted > self.capacity:
                    return False
                for victim in [k for k in self._memory if k[0] != key[0]]:
                    if self._used + wanted <= self.capacity:
                        break
                    block = self._memory.pop(victim)
                    self._used -= block.size
                    evicted.append((victim, block))
            self._used += wanted
        for victim, block in evicted:
            if block.use_disk:
                self._write_disk(victim, iter(block.values))
            else:
                context._cache_drops.append(victim)
        return True

    def _store(self, key: tuple[int, int], values: list, size: int, use_disk: bool) -> None:
        with self._lock:
            previous = self._memory.pop(key, None)  # two tasks computed the same block
            if previous is not None:
                self._used -= previous.size
            self._memory[key] = _MemoryBlock(values, size, use_disk)
            self._used += size

    def _write_disk(self, key: tuple[int, int], records: Iterator) -> None:
        os.makedirs(self.directory, exist_ok=True)
        with atomic_writer(self._path(key), durable=False) as handle:
            dump_chunks(handle, records)
            size = handle.tell()
        with self._lock:
            self._on_disk[key] = size

    def remove_rdd(self, rdd_id: int) -> None:
        with self._lock:
            for key in [k for k in self._memory if k[0] == rdd_id]:
                self._used -= self._memory.pop(key).size
            doomed = [k for k in self._on_disk if k[0] == rdd_id]
            for key in doomed:
                del self._on_disk[key]
        for key in doomed:
            try:
                os.unlink(self._path(key))
            except FileNotFoundError:
                pass

    def status(self, limit: int = 1000) -> dict:
        """For the status page: bytes held in memory and the store's capacity,
        bytes on disk, and the blocks (at most ``limit``, by RDD and
        partition) as (rdd id, partition, bytes, "memory" or "disk")."""
        with self._lock:
            blocks = [(k[0], k[1], b.size, "memory") for k, b in self._memory.items()]
            blocks += [(k[0], k[1], size, "disk") for k, size in self._on_disk.items()]
            used = self._used
        blocks.sort()
        return {"storageUsed": used, "storageCapacity": self.capacity,
                "diskUsed": sum(b[2] for b in blocks if b[3] == "disk"),
                "numBlocks": len(blocks), "blocks": blocks[:limit]}
