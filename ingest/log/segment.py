"""LogSegment: one file of consecutive record batches and its two indexes.

On-disk format, in the partition's directory::

    <base_offset:020d>.log        record batches back to back (record_batch.py)
    <base_offset:020d>.index      sparse offset -> position (offset_index.py)
    <base_offset:020d>.timeindex  sparse timestamp -> offset (time_index.py)

``base_offset`` is the first offset the segment may hold; its batches' offsets
strictly increase. Appends write whole batches with ``pwrite`` at the end of
what is known good; readers see only bytes below that point, so a batch being
written is never read half-done.

After a crash the log file holds every batch that was fsynced, then possibly
more whole batches, a torn batch or garbage (what the disk kept of writes that
were never fsynced). Two ways to open an existing segment:

* :meth:`load`, for a segment known to have been fsynced whole (clean shutdown,
  or wholly below the partition's recovery point): checks the indexes
  (structure, and the last entries against the batches they name), scans only
  the batch headers after the last index entry, and rebuilds the indexes from
  the log if anything disagrees. It never truncates: a sealed segment that
  rotted is reported by :meth:`read`, which raises CorruptRecordError.
* :meth:`recover`, for a segment that may hold unsynced writes: validates every
  batch from the start (header, CRC, increasing offsets, length within the
  file), truncates the file after the last valid batch, rebuilds both indexes,
  fsyncs, and returns how many bytes it dropped.

Invariants: the file's first ``size`` bytes are whole batches with strictly
increasing offsets in ``[base_offset, next_offset)``; every index entry names a
batch start; relative offsets fit in 32 bits and positions in 31.

Thread-safety: the owner serialises every call but ``flush``, which may run concurrently.
"""

from __future__ import annotations

import logging
import os
import re

from ember.engine.errors import CorruptRecordError
from ember.ingest.log import durability
from ember.ingest.log.offset_index import OffsetIndex
from ember.ingest.log.record_batch import (
    NO_TIMESTAMP, BatchHeader, corrupt, decode_batch, parse_header, scan_batches,
)
from ember.ingest.log.time_index import TimeIndex

log = logging.getLogger(__name__)

LOG_SUFFIX = ".log"
INDEX_SUFFIX = ".index"
TIME_INDEX_SUFFIX = ".timeindex"
SEGMENT_SUFFIXES = (LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX)
MAX_RELATIVE_OFFSET = 0xFFFFFFFF
_CHUNK = 1 << 20
_NAME = re.compile(r"^(\d{20})(\.log|\.index|\.timeindex)$")


def file_name(base_offset: int, suffix: str) -> str:
    return f"{base_offset:020d}{suffix}"


def parse_file_name(name: str) -> tuple[int, str] | None:
    """``(base_offset, suffix)`` for a segment file name, else None."""
    match = _NAME.match(name)
    return (int(match.group(1)), match.group(2)) if match else None


class LogSegment:
    def __init__(self, directory: str, base_offset: int, *, index_interval_bytes: int = 4096,
                 topic: str | None = None, partition: int | None = None):
        self.directory = directory
        self.base_offset = base_offset
        self.topic = topic
        self.partition = partition
        self.path = os.path.join(directory, file_name(base_offset, LOG_SUFFIX))
        existed = os.path.exists(self.path)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if not existed:
            durability.note_created(self.path)
        self.offset_index = OffsetIndex(
            os.path.join(directory, file_name(base_offset, INDEX_SUFFIX)), base_offset)
        self.time_index = TimeIndex(
            os.path.join(directory, file_name(base_offset, TIME_INDEX_SUFFIX)), base_offset)
        self._index_interval = index_interval_bytes
        self._size = os.fstat(self._fd).st_size
        self._flushed_size = self._size
        self._next_offset = base_offset
        self._reset_counters()
        # Why the log cannot be read past next_offset, when a load found rot.
        self.corruption: str | None = None

    def _reset_counters(self) -> None:
        self._max_timestamp = NO_TIMESTAMP
        self._offset_of_max_timestamp = self.base_offset
        self._bytes_since_index = 0

    # --- state -------------------------------------------------------------------

    @property
    def size(self) -> int:
        return self._size

    @property
    def next_offset(self) -> int:
        """One past the last offset stored (``base_offset`` when empty)."""
        return self._next_offset

    @property
    def largest_timestamp(self) -> int:
        return self._max_timestamp

    @property
    def dirty(self) -> bool:
        """Whether anything appended is not yet fsynced."""
        return (self._size != self._flushed_size or self.offset_index.dirty
                or self.time_index.dirty)

    def __repr__(self) -> str:
        return (f"LogSegment({self.path!r}, offsets [{self.base_offset}, "
                f"{self._next_offset}), {self._size} bytes)")

    def _corrupt(self, position: int, offset: int, reason: str) -> CorruptRecordError:
        where = (f" of topic {self.topic!r} partition {self.partition}"
                 if self.topic is not None else "")
        error = CorruptRecordError(f"corrupt log data at offset {offset}{where}: file "
                                   f"{self.path}, byte {position}: {reason}")
        error.topic, error.partition, error.offset = self.topic, self.partition, offset
        error.path, error.position = self.path, position
        return error

    # --- walking the file ----------------------------------------------------------

    def _batches_in(self, buf, origin: int, expected: int, end: int, verify: bool):
        """Batches of ``buf``, read from file position ``origin``, checked for
        increasing offsets and for fitting below ``end``."""
        try:
            for rel, header in scan_batches(buf, verify=verify):
                if header.base_offset < expected:
                    raise corrupt(rel, f"base offset {header.base_offset}, expected at "
                                       f"least {expected}")
                if header.last_offset - self.base_offset > MAX_RELATIVE_OFFSET:
                    raise corrupt(rel, f"last offset {header.last_offset} is too far "
                                       f"from the segment base {self.base_offset}")
                if origin + rel + header.size > end:
                    raise corrupt(rel, f"batch of {header.size} bytes runs past the end "
                                       f"of the log at byte {end}")
                yield origin + rel, header
                expected = header.next_offset
        except CorruptRecordError as error:
            raise self._corrupt(origin + error.position, expected, error.reason) from error

    def _walk(self, position: int, end: int, expected: int, *, verify: bool):
        """Yield ``(position, header)`` for the batches in ``[position, end)``,
        raising CorruptRecordError at the first invalid one. Reads in chunks;
        ``verify`` also checks every CRC."""
        chunk = _CHUNK
        while position < end:
            want = min(chunk, end - position)
            buf = os.pread(self._fd, want, position)
            if len(buf) < want:
                raise self._corrupt(position + len(buf), expected,
                                    f"the file ends before byte {end}")
            chunk = _CHUNK
            moved = False
            for at, header in self._batches_in(buf, position, expected, end, verify):
                moved = True
                yield at, header
                expected = header.next_offset
                position = at + header.size
            if not moved:  # a batch larger than the chunk, or a torn tail
                try:
                    header = parse_header(buf)
                except CorruptRecordError as error:
                    raise self._corrupt(position, expected, error.reason) from error
                if position + header.size > end:
                    raise self._corrupt(position, expected,
                                        f"batch of {header.size} bytes runs past the end "
                                        f"of the log at byte {end}")
                chunk = header.size

    def _walk_from_entry(self, entry_offset: int, position: int, end: int):
        """Walk from an index entry, first checking that the batch there is the
        one the entry names (no real entry points at byte 0)."""
        for at, header in self._walk(position, end, entry_offset, verify=False):
            if at == position and position and header.base_offset != entry_offset:
                raise self._corrupt(at, entry_offset, f"an index entry names offset "
                                    f"{entry_offset} but the batch there starts at "
                                    f"{header.base_offset}")
            yield at, header

    def _find_from(self, offset: int, entry_offset: int, position: int):
        for at, header in self._walk_from_entry(entry_offset, position, self._size):
            if header.last_offset >= offset:
                return at, header
        return None

    def _find(self, offset: int) -> tuple[int, BatchHeader] | None:
        """Position and header of the batch holding ``offset``, or None."""
        entry_offset, position = self.offset_index.lookup(offset)
        try:
            return self._find_from(offset, entry_offset, position)
        except CorruptRecordError as error:
            if error.position != position or not len(self.offset_index):
                raise
            # The index led somewhere the log disagrees with: trust the log.
            log.warning("rebuilding the indexes of %s: %s", self.path, error)
        self._rebuild(verify=False, end=self._size)
        return self._find_from(offset, *self.offset_index.lookup(offset))

    # --- indexing ------------------------------------------------------------------

    def _index_batch(self, position: int, header: BatchHeader) -> None:
        if header.max_timestamp > self._max_timestamp:
            self._max_timestamp = header.max_timestamp
            self._offset_of_max_timestamp = header.base_offset
        if self._bytes_since_index > self._index_interval:
            self.offset_index.append(header.base_offset, position)
            self.time_index.maybe_append(self._max_timestamp, self._offset_of_max_timestamp)
            self._bytes_since_index = 0
        self._bytes_since_index += header.size

    def _rebuild(self, *, verify: bool, end: int) -> tuple[int, int, str | None]:
        """Re-index from the log; ``(valid_end, next_offset, problem)``."""
        self.offset_index.reset()
        self.time_index.reset()
        self._reset_counters()
        valid_end, next_offset, problem = 0, self.base_offset, None
        try:
            for at, header in self._walk(0, end, self.base_offset, verify=verify):
                self._index_batch(at, header)
                valid_end, next_offset = at + header.size, header.next_offset
        except CorruptRecordError as error:
            problem = str(error)
        self.offset_index.flush()
        self.time_index.flush()
        return valid_end, next_offset, problem

    def load(self) -> bool:
        """Open a segment whose file was fsynced whole (see the module doc).

        Returns False when the log itself is invalid after ``next_offset``
        (the reason is in :attr:`corruption`); True otherwise.
        """
        size = self._size
        try:
            if size and (self.offset_index.created or self.time_index.created):
                raise CorruptRecordError("an index file is missing")
            self.offset_index.sanity_check(size)
            entry_offset, entry_position = self.offset_index.last_entry
            max_ts, max_ts_offset = self.time_index.last_entry
            next_offset, since_entry = self.base_offset, 0
            for at, header in self._walk_from_entry(entry_offset, entry_position, size):
                if since_entry > self._index_interval:
                    raise CorruptRecordError(f"the offset index lacks an entry for the "
                                             f"batch at byte {at}")
                since_entry += header.size
                next_offset = header.next_offset
                if header.max_timestamp > max_ts:
                    max_ts, max_ts_offset = header.max_timestamp, header.base_offset
            self.time_index.sanity_check(next_offset)
            self._check_last_time_entry()
        except CorruptRecordError as error:
            log.warning("rebuilding the indexes of %s: %s", self.path, error)
            _, self._next_offset, self.corruption = self._rebuild(verify=False, end=size)
            return self.corruption is None
        self._next_offset = next_offset
        self._max_timestamp, self._offset_of_max_timestamp = max_ts, max_ts_offset
        self._bytes_since_index = since_entry
        return True

    def _check_last_time_entry(self) -> None:
        if not len(self.time_index):
            return
        timestamp, offset = self.time_index.last_entry
        found = self._find_from(offset, *self.offset_index.lookup(offset))
        if found is None or found[1].base_offset != offset or found[1].max_timestamp != timestamp:
            raise CorruptRecordError(f"the last time index entry ({timestamp}, {offset}) "
                                     f"does not match the batch at that offset")

    def recover(self) -> int:
        """Validate every batch, truncate after the last valid one, rebuild the
        indexes and fsync. Returns the number of bytes dropped."""
        on_disk = os.fstat(self._fd).st_size
        valid_end, self._next_offset, problem = self._rebuild(verify=True, end=on_disk)
        dropped = on_disk - valid_end
        if dropped:
            log.warning("truncating %s from %d to %d bytes: %s", self.path, on_disk,
                        valid_end, problem or "bytes after the last batch")
            os.ftruncate(self._fd, valid_end)
        self._size = valid_end
        self._flushed_size = -1  # force the fsync below
        self.corruption = None
        self.flush()
        return dropped

    # --- writing -------------------------------------------------------------------

    def append(self, batch, header: BatchHeader) -> None:
        """Append one whole batch; ``header`` is its parsed header, with the
        offsets it is stored under."""
        if (header.base_offset < self._next_offset or len(batch) != header.size
                or header.last_offset - self.base_offset > MAX_RELATIVE_OFFSET):
            raise ValueError(f"cannot append a {len(batch)}-byte batch at offset "
                             f"{header.base_offset} to {self!r}")
        position = self._size
        try:
            durability.pwrite_all(self._fd, batch, position)
        except OSError:
            try:  # leave no partial batch behind (disk full)
                os.ftruncate(self._fd, position)
            except OSError:
                pass
            raise
        self._size = position + len(batch)
        self._index_batch(position, header)
        self._next_offset = header.next_offset

    def truncate_to(self, offset: int) -> int:
        """Remove the batch holding ``offset`` and every later one (a
        replica's divergent tail), rebuild the indexes and fsync. Returns
        the bytes removed."""
        found = self._find(offset) if offset < self._next_offset else None
        if found is None:
            return 0
        position = found[0]
        removed = self._size - position
        os.ftruncate(self._fd, position)
        _, self._next_offset, _ = self._rebuild(verify=False, end=position)
        self._size = position
        self._flushed_size = -1
        self.flush()
        return removed

    def seal(self) -> None:
        """Record the largest timestamp in the time index: the segment will
        take no more appends (roll), or the log is closing."""
        self.time_index.maybe_append(self._max_timestamp, self._offset_of_max_timestamp)

    def flush(self) -> None:
        """fsync the log, then the indexes. Never retried on failure."""
        if self._size != self._flushed_size:
            size = self._size
            durability.fsync(self._fd, self.path)
            self._flushed_size = size
        self.offset_index.flush()
        self.time_index.flush()

    # --- reading -------------------------------------------------------------------

    def read(self, start_offset: int, max_bytes: int, max_offset: int | None = None) -> bytes:
        """Whole batches from the one holding ``start_offset``, at most
        ``max_bytes`` of them unless the first alone is larger, none whose base
        offset is ``max_offset`` or more. Every CRC is checked: a corrupt batch
        is never returned; if it is the first, CorruptRecordError names it."""
        found = self._find(start_offset)
        if found is None:
            raise self._corrupt(self._size, start_offset, self.corruption or
                                f"no batch holds offset {start_offset}; the segment "
                                f"ends before offset {self._next_offset}")
        position, first = found
        if max_offset is not None and first.base_offset >= max_offset:
            return b""
        buf = os.pread(self._fd, min(max(max_bytes, first.size), self._size - position),
                       position)
        consumed = 0
        try:
            for at, header in self._batches_in(buf, position, first.base_offset,
                                               self._size, verify=True):
                if max_offset is not None and header.base_offset >= max_offset:
                    break
                consumed = at + header.size - position
        except CorruptRecordError:
            if not consumed:
                raise
            # Serve the intact batches before it; the next read starts there and raises.
        if not consumed:
            raise self._corrupt(position, first.base_offset,
                                f"batch of {first.size} bytes is cut short at byte {self._size}")
        return buf[:consumed]

    def headers(self, from_offset: int | None = None):
        """Headers of the batches holding ``from_offset`` and later (all by
        default), read without decoding records or checking CRCs."""
        if from_offset is None:
            from_offset = self.base_offset
        found = self._find(from_offset)
        if found is None:
            return
        yield from self._walk(found[0], self._size, found[1].base_offset, verify=False)

    def find_offset_by_timestamp(self, timestamp: int,
                                 max_offset: int | None = None) -> tuple[int, int] | None:
        """``(offset, timestamp)`` of the first record at or after ``timestamp``
        (offsets below ``max_offset``), or None."""
        _, start = self.time_index.lookup(timestamp)
        for at, header in self.headers(start):
            if max_offset is not None and header.base_offset >= max_offset:
                return None
            if header.max_timestamp >= timestamp:
                buf = os.pread(self._fd, header.size, at)
                try:
                    _, records = decode_batch(buf)
                except CorruptRecordError as error:
                    raise self._corrupt(at, header.base_offset, error.reason) from error
                for record in records:
                    if record.timestamp >= timestamp:
                        return record.offset, record.timestamp
        return None

    # --- lifecycle -----------------------------------------------------------------

    def close(self) -> None:
        """Close the files without flushing (callers flush first when they can)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self.offset_index.close()
        self.time_index.close()

    def delete(self) -> None:
        self.close()
        for path in (self.path, self.offset_index.path, self.time_index.path):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
