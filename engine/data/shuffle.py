"""Shuffle map output: the on-disk format, the map-side writer, and block reads.

Each map task writes one data file and one index file for its whole output
(sort-based shuffle, as in Spark), named by shuffle id, map index and task
attempt id, so two attempts of the same map task never overwrite each other:

    shuffle_<shuffle>_<map>_<attempt>.data   block 0 | block 1 | ... | block R-1
    shuffle_<shuffle>_<map>_<attempt>.index  header (magic "EMBS", version,
                                             R) then R entries (offset u64,
                                             length u64, crc32 u32), little-endian

A block holds the (key, value) records for one reduce partition as one or
more frames (length u64 | a pickled list of records), in input order; an
empty block has length 0. A map task whose records outgrow its memory budget
writes frames to a spill file as it goes and copies them into its block at
the end, so a map task never holds more than its budget of records. Both
files are written under temporary names and renamed into place, data first,
so an index file that exists always describes a complete data file. Shuffle files are not fsynced:
a lost one is recomputed from lineage, never trusted.

Every block is checked against its CRC-32 when read; a mismatch (or a missing
or malformed file) raises ``FetchFailedError``, which makes the scheduler rerun
the map task, never return wrong records.
"""

from __future__ import annotations

import os
import struct
import tempfile
from array import array
from bisect import bisect_left
from dataclasses import dataclass
from itertools import chain, islice
from typing import Any, Callable, Iterable, Iterator
from zlib import crc32

from ember.engine import failpoints
from ember.engine.data.aggregation import explain_record_error
from ember.engine.errors import FetchFailedError
from ember.engine.io.fileio import atomic_writer
from ember.engine.data.hashing import portable_hash
from ember.engine.api.partitioner import Partitioner, RangeBounds
from ember.engine.wire.serializer import dumps, loads
from ember.engine.data.spill import CHECK_EVERY, DEFAULT_BUDGET, SizeEstimate

_HEADER = struct.Struct("<4sII")
_ENTRY = struct.Struct("<QQI")
_FRAME = struct.Struct("<Q")
_MAGIC = b"EMBS"
_VERSION = 2


@dataclass(frozen=True)
class MapStatus:
    """Where one map task's output lives and how big each block is."""

    worker_id: str
    address: str
    attempt_id: int
    sizes: bytes  # array('Q') of block lengths, one per reduce partition
    checksums: bytes = b""  # array('I') of block CRC-32s: equal outputs, equal checksums

    def block_size(self, reduce_index: int) -> int:
        return memoryview(self.sizes).cast("Q")[reduce_index]


def output_paths(directory: str, shuffle_id: int, map_index: int, attempt_id: int) -> tuple[str, str]:
    stem = os.path.join(directory, f"shuffle_{shuffle_id}_{map_index}_{attempt_id}")
    return stem + ".data", stem + ".index"


def shuffle_file_prefix(shuffle_id: int) -> str:
    return f"shuffle_{shuffle_id}_"


def _raise_explained(error: Exception, record: Any) -> None:
    """Raise ``error``, or the error naming the bad record behind it."""
    key = record[0] if isinstance(record, tuple) and record else record
    explained = explain_record_error(error, "partitionBy", key)
    if explained is error:
        raise error
    raise explained from error


def _dealer(partitioner: Partitioner, buckets: list[list]) -> Callable[[list], None]:
    """A function dealing a chunk of (key, value) records into ``buckets``,
    one list per reduce partition."""
    count = partitioner.numPartitions
    appenders = [bucket.append for bucket in buckets]
    partition = partitioner.partitionFunc
    if count == 1:
        return buckets[0].extend
    if partition is portable_hash:
        # The default partitioner, inlined for the commonest keys: a call
        # per record is a third of a map task's time.
        def deal(chunk: list) -> None:
            record = None
            try:
                for record in chunk:
                    key = record[0]
                    kind = type(key)
                    if kind is int:
                        appenders[hash(key) % count](record)
                    elif kind is str:
                        appenders[crc32(key.encode("utf-8", "surrogatepass")) % count](record)
                    else:
                        appenders[portable_hash(key) % count](record)
            except (TypeError, ValueError, IndexError) as error:
                _raise_explained(error, record)
    elif isinstance(partition, RangeBounds) and partition.identity:
        # sortByKey's range partitioner without a keyfunc, inlined likewise.
        bounds, ascending, last = partition.bounds, partition.ascending, len(partition.bounds)

        def deal(chunk: list) -> None:
            record = None
            try:
                for record in chunk:
                    position = bisect_left(bounds, record[0])
                    appenders[(position if ascending else last - position) % count](record)
            except (TypeError, ValueError, IndexError) as error:
                _raise_explained(error, record)
    else:
        def deal(chunk: list) -> None:
            record = None
            try:
                for record in chunk:
                    appenders[partition(record[0]) % count](record)
            except (TypeError, ValueError, IndexError) as error:
                _raise_explained(error, record)
    return deal


def _frames(bucket: list) -> tuple[bytes, bytes]:
    blob = dumps(bucket)
    return _FRAME.pack(len(blob)), blob


def block_frames(blob: Any) -> Iterator[list]:
    """The record lists of one block's frames (bytes or a buffer), in order."""
    view = memoryview(blob)
    offset, end = 0, len(view)
    while offset < end:
        (size,) = _FRAME.unpack_from(view, offset)
        offset += _FRAME.size
        yield loads(view[offset:offset + size])
        offset += size


def block_records(blob: Any) -> Iterator:
    """The records of one block, a frame at a time."""
    return chain.from_iterable(block_frames(blob))


def write_map_output(directory: str, shuffle_id: int, map_index: int, attempt_id: int,
                     records: Iterable, partitioner: Partitioner,
                     budget: int = DEFAULT_BUDGET, metrics: Any = None) -> tuple[bytes, bytes]:
    """Write one map task's output; returns the block sizes (array('Q') bytes)
    and their CRC-32s (array('I') bytes).

    Records are dealt into per-partition buckets a chunk at a time; when the
    buckets are estimated to hold ``budget`` bytes, each is written as a
    frame to a spill file and emptied. The data file then takes, block by
    block, the block's spilled frames in order and the frame of what is left.
    Spill points depend on the input alone, so every attempt writes the same
    bytes. ``metrics`` (a TaskMetrics), when given, gets the records and
    bytes written and what was spilled, counted per chunk."""
    buckets: list[list] = [[] for _ in range(partitioner.numPartitions)]
    deal = _dealer(partitioner, buckets)
    spilled: list[list[tuple[int, int]]] = [[] for _ in buckets]  # (offset, length) per bucket
    spill = None
    estimate = SizeEstimate()
    held = written = 0
    records = iter(records)
    try:
        while True:
            chunk = list(islice(records, CHECK_EVERY))
            deal(chunk)
            written += len(chunk)
            if len(chunk) < CHECK_EVERY:
                break
            estimate.sample(chunk[-1])
            held += len(chunk)
            if estimate.bytes_for(held) >= budget:
                if spill is None:
                    spill = tempfile.TemporaryFile(dir=directory, prefix=".map-spill-")
                before = spill.tell()
                for index, bucket in enumerate(buckets):
                    if bucket:
                        for frame in _frames(bucket):
                            spilled[index].append((spill.tell(), len(frame)))
                            spill.write(frame)
                        bucket.clear()
                spill.flush()
                if metrics is not None:
                    metrics.memory_spilled += estimate.bytes_for(held)
                    metrics.disk_spilled += spill.tell() - before
                held = 0
        del chunk
        sizes, checksums = _write_blocks(directory, shuffle_id, map_index, attempt_id, buckets,
                                         spilled, spill)
        if metrics is not None:
            metrics.shuffle_write_records += written
            metrics.shuffle_write_bytes += sum(memoryview(sizes).cast("Q"))
        return sizes, checksums
    finally:
        if spill is not None:
            spill.close()


def _write_blocks(directory: str, shuffle_id: int, map_index: int, attempt_id: int,
                  buckets: list[list], spilled: list[list[tuple[int, int]]],
                  spill: Any) -> tuple[bytes, bytes]:
    data_path, index_path = output_paths(directory, shuffle_id, map_index, attempt_id)
    entries = []
    with atomic_writer(data_path, durable=False) as data:
        offset = 0
        for index, bucket in enumerate(buckets):
            if index == len(buckets) // 2:
                failpoints.point("shuffle.mid_write")
            parts = [os.pread(spill.fileno(), length, where) for where, length in spilled[index]]
            if bucket:
                parts.extend(_frames(bucket))
                bucket.clear()  # its records are in the frame: free them as we go
            crc = length = 0
            for part in parts:
                data.write(part)
                crc = crc32(part, crc)
                length += len(part)
            entries.append((offset, length, crc))
            offset += length
    index = [_HEADER.pack(_MAGIC, _VERSION, len(entries))]
    index.extend(_ENTRY.pack(*entry) for entry in entries)
    with atomic_writer(index_path, durable=False) as handle:
        handle.write(b"".join(index))
    return (array("Q", (length for _, length, _ in entries)).tobytes(),
            array("I", (crc for _, _, crc in entries)).tobytes())


def _failure(message: str, shuffle_id: int, map_index: int, reduce_index: int,
             worker_id: str | None) -> FetchFailedError:
    return FetchFailedError(message, shuffle_id=shuffle_id, map_index=map_index,
                            reduce_index=reduce_index, worker_id=worker_id)


def read_block(directory: str, shuffle_id: int, map_index: int, attempt_id: int,
               reduce_index: int) -> tuple[bytes, int]:
    """(block bytes, expected crc) of one block, from the files on this host.
    Raises FetchFailedError when the files are missing or malformed."""
    data_path, index_path = output_paths(directory, shuffle_id, map_index, attempt_id)
    try:
        failpoints.point("shuffle.read")
        with open(index_path, "rb") as index:
            header = index.read(_HEADER.size)
            if len(header) != _HEADER.size:
                raise ValueError("truncated header")
            magic, version, count = _HEADER.unpack(header)
            if magic != _MAGIC or version != _VERSION or not 0 <= reduce_index < count:
                raise ValueError(f"bad header {magic!r} v{version} with {count} blocks")
            index.seek(_HEADER.size + reduce_index * _ENTRY.size)
            entry = index.read(_ENTRY.size)
            if len(entry) != _ENTRY.size:
                raise ValueError("truncated index")
            offset, length, crc = _ENTRY.unpack(entry)
        if length == 0:
            return b"", 0
        with open(data_path, "rb") as data:
            blob = os.pread(data.fileno(), length, offset)
    except (OSError, ValueError, struct.error) as error:
        raise _failure(f"shuffle {shuffle_id} map {map_index} output unreadable: {error}",
                       shuffle_id, map_index, reduce_index, None) from error
    if len(blob) != length:
        raise _failure(f"shuffle {shuffle_id} map {map_index} data file truncated",
                       shuffle_id, map_index, reduce_index, None)
    return blob, crc


def verify_block(blob: bytes, crc: int, shuffle_id: int, map_index: int, reduce_index: int,
                 worker_id: str | None) -> None:
    if blob and crc32(blob) != crc:
        raise _failure(
            f"checksum mismatch in shuffle {shuffle_id} block (map {map_index}, reduce "
            f"{reduce_index}) from worker {worker_id}: the map output is corrupt",
            shuffle_id, map_index, reduce_index, worker_id)


def remove_shuffle_files(directory: str, shuffle_id: int) -> None:
    prefix = shuffle_file_prefix(shuffle_id)
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return
    for name in names:
        if name.startswith(prefix):
            try:
                os.unlink(os.path.join(directory, name))
            except FileNotFoundError:
                pass
