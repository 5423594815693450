"""PartitionLog: one topic-partition's log, a directory of segments.

On-disk format, in ``<log_dir>/<topic>-<partition>/``::

    <base_offset:020d>.log/.index/.timeindex   segments (segment.py)
    partition.checkpoint     {"version": 1, "log_start_offset": N, "recovery_point": N,
                              "high_watermark": N}
    producer-state.snapshot  idempotent-producer state (producer_state.py)
    leader-epoch.checkpoint  where each leader epoch began (leader_epoch_cache.py),
                             kept once the log is replicated

Both JSON files are replaced atomically (``engine.io.fileio``); a leftover
temporary file from an interrupted write is removed at load.

Offsets: the log assigns them. ``append`` checks the producer's batch
(``record_batch.validate_batch``: CRC, and records that parse), stamps the
next offset and the partition's leader epoch on it and writes it to the active segment, rolling a new segment
first when the active one would pass ``segment.bytes``, when its first append
is ``segment.ms`` old (by the injected clock; the timer restarts when the log
is reopened), or when relative offsets would overflow. Offsets are contiguous:
no gaps between batches or segments.

Durability: ``append`` does not fsync. ``flush`` fsyncs every segment with
unsynced data (and the directory, after a roll) and then advances the high
watermark to the log end offset it started from: acknowledged means fsynced,
so a broker acks a produce once ``high_watermark > info.last_offset``. Request
threads append while one group-commit thread flushes: several appends, one
fsync, then all are acknowledged. Readers see only offsets below the high
watermark unless they ask otherwise. The recovery point (offset below which
everything is fsynced) and the log start offset are checkpointed by
:meth:`checkpoint`, by retention and at :meth:`close`; a stale recovery point
only costs recovery work, never data.

An fsync or write failure takes the log offline (KafkaStorageError from then
on): a failed fsync is never retried, because its dirty pages may be gone.

After a crash (``clean_shutdown=False``): leftover temp files are removed;
segments wholly below the checkpointed log start (a retention delete cut
short) are deleted; segments that may hold data after the recovery point are
validated batch by batch (``LogSegment.recover``); a torn or corrupt one is
truncated after its last valid batch, and once a segment ends short of the
next one's base offset every later segment is deleted, so offsets stay
contiguous (their data cannot have been acknowledged: a flush fsyncs all
earlier segments before the high watermark passes them). The checkpoint is
rewritten at once, and a producer snapshot covering dropped batches deleted,
so neither is trusted later. :attr:`recovery_report` lists what was dropped.
Segments below the recovery point are loaded cheaply; rot inside them is
reported when read (CorruptRecordError naming topic, partition, offset and
file), never returned and never silently cut.

Retention deletes whole sealed segments only, oldest first, and only below the
recovery point: by age (newest timestamp older than ``retention.ms``) and by
size (while the log stays at least ``retention.bytes`` without the segment).
It checkpoints the new log start before unlinking anything.

Replication (:meth:`enable_replication`, called by the broker of a cluster):
the high watermark no longer follows the fsynced end; the partition's
leader sets it (:meth:`update_high_watermark`) to what every in-sync
replica has fsynced, and a follower to the leader's. It never moves back
except by truncation, and it is checkpointed (a stale value is only lower).
A follower appends the leader's batches as they are
(:meth:`append_replicated`: offsets and epochs kept, CRCs checked, producer
state and epoch cache updated); :meth:`truncate_to` removes a divergent tail
(KIP-101) and :meth:`end_offset_for_epoch` answers where an epoch ended.

Invariants: segments are sorted by base offset; only the last takes appends;
log_start_offset <= high_watermark <= log_end_offset; high_watermark <=
recovery_point (equal when the log is not replicated).

Thread-safety: thread-safe; one lock serialises append/read/retention, flush() fsyncs outside it.
"""

from __future__ import annotations

import bisect
import json
import logging
import os
import shutil
import threading
from typing import NamedTuple

from ember.engine.clock import SYSTEM_CLOCK, Clock
from ember.engine.errors import (
    CorruptRecordError, KafkaStorageError, OffsetOutOfRangeError, RecordTooLargeError,
    UnknownTopicOrPartitionError,
)
from ember.engine.io.fileio import atomic_write, fsync_dir, is_temp_name
from ember.ingest.log.leader_epoch_cache import UNDEFINED, LeaderEpochCache
from ember.ingest.log.log_config import LogConfig
from ember.ingest.log.producer_state import ProducerStateManager
from ember.ingest.log.record_batch import (
    BatchHeader, scan_batches, validate_batch, with_base_offset,
)
from ember.ingest.log.segment import (
    LOG_SUFFIX, MAX_RELATIVE_OFFSET, SEGMENT_SUFFIXES, LogSegment, file_name,
    parse_file_name,
)

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "partition.checkpoint"
PRODUCER_SNAPSHOT_FILE = "producer-state.snapshot"
DEFAULT_MAX_READ_BYTES = 1 << 20
_CHECKPOINT_VERSION = 1


class LogAppendInfo(NamedTuple):
    first_offset: int
    last_offset: int
    max_timestamp: int
    duplicate: bool  # a retried idempotent batch: nothing was appended


class TruncatedFile(NamedTuple):
    """What recovery dropped from one file."""
    topic: str
    partition: int
    file: str
    bytes_dropped: int


class PartitionLog:
    def __init__(self, directory: str, topic: str, partition: int,
                 config: LogConfig | None = None, *, clock: Clock = SYSTEM_CLOCK,
                 clean_shutdown: bool = False):
        self.directory = os.fspath(directory)
        self.topic = topic
        self.partition = partition
        self.config = config or LogConfig()
        self.name = f"topic {topic!r} partition {partition}"
        self._clock = clock
        self._lock = threading.RLock()
        self._flush_lock = threading.Lock()
        self._checkpoint_lock = threading.Lock()
        self._offline: str | None = None
        self._closed = False
        self._segments: list[LogSegment] = []
        self._bases: list[int] = []
        self._dir_dirty = False
        self._active_since: float | None = None
        self._producers = ProducerStateManager(self.name)
        # The leader epoch stamped on every appended batch (Kafka's partition
        # leader epoch). A single broker leads every partition in epoch 0;
        # replication raises it at each leader election.
        self.leader_epoch = 0
        self._epochs: LeaderEpochCache | None = None  # once replicated
        self._hw_follows_flush = True
        self._checkpointed_hw: int | None = None
        self._truncations = 0  # a flush must not vouch for data appended after a truncation
        self.recovery_report: list[TruncatedFile] = []
        os.makedirs(self.directory, exist_ok=True)
        self._load(clean_shutdown)

    # --- loading -------------------------------------------------------------------

    def _path(self, name: str) -> str:
        return os.path.join(self.directory, name)

    def _new_segment(self, base_offset: int) -> LogSegment:
        return LogSegment(self.directory, base_offset,
                          index_interval_bytes=self.config.index_interval_bytes,
                          topic=self.topic, partition=self.partition)

    def _load(self, clean_shutdown: bool) -> None:
        files: dict[int, set[str]] = {}
        for name in os.listdir(self.directory):
            if is_temp_name(name):
                os.unlink(self._path(name))
            elif parsed := parse_file_name(name):
                files.setdefault(parsed[0], set()).add(parsed[1])
        for base, suffixes in list(files.items()):
            if LOG_SUFFIX not in suffixes:  # indexes whose log is gone: derived, useless
                self._unlink_segment_files(base)
                del files[base]
        bases = sorted(files)
        log_start, recovery_point, self._checkpointed_hw = self._read_checkpoint()
        # A retention delete cut short leaves segments wholly below the log start.
        while len(bases) > 1 and bases[1] <= log_start:
            self._unlink_segment_files(bases.pop(0))
        for i, base in enumerate(bases):
            next_base = bases[i + 1] if i + 1 < len(bases) else None
            segment = self._new_segment(base)
            self._append_segment(segment)
            if not self._must_recover(segment, next_base, clean_shutdown, recovery_point):
                continue
            dropped = segment.recover()
            if dropped:
                self._report(segment.path, dropped)
            if next_base is not None and segment.next_offset != next_base:
                # Later segments would leave a gap: they hold only unacknowledged data.
                for later in bases[i + 1:]:
                    path = self._path(file_name(later, LOG_SUFFIX))
                    self._report(path, os.path.getsize(path))
                    self._unlink_segment_files(later)
                break
        if not self._segments:
            self._append_segment(self._new_segment(log_start))
            self._dir_dirty = True
        self._log_end_offset = self._segments[-1].next_offset
        if self._segments[-1].size:  # its first append's time is not stored: restart the timer
            self._active_since = self._clock.monotonic()
        self._log_start_offset = min(max(log_start, self._segments[0].base_offset),
                                     self._log_end_offset)
        # Everything on disk now is whole and (recovered or clean) fsynced.
        self._high_watermark = self._recovery_point = self._log_end_offset
        self._rebuild_producer_state()
        if not clean_shutdown:
            # Recovery may have cut below the old checkpoint: never let it be trusted again.
            self._write([(CHECKPOINT_FILE, self._checkpoint_data())])

    @staticmethod
    def _must_recover(segment: LogSegment, next_base: int | None, clean_shutdown: bool,
                      recovery_point: int) -> bool:
        """Load ``segment`` cheaply where it is known to be fsynced whole;
        True when it must be validated batch by batch instead."""
        is_last = next_base is None
        if clean_shutdown or (not is_last and next_base <= recovery_point):
            # Rot in a sealed segment is reported on read; a last one must parse.
            return not segment.load() and is_last
        if is_last and segment.base_offset < recovery_point:
            return not (segment.load() and segment.next_offset == recovery_point)
        return True

    def _append_segment(self, segment: LogSegment) -> None:
        self._segments.append(segment)
        self._bases.append(segment.base_offset)

    def _unlink_segment_files(self, base: int) -> None:
        for suffix in SEGMENT_SUFFIXES:
            try:
                os.unlink(self._path(file_name(base, suffix)))
            except FileNotFoundError:
                pass

    def _report(self, path: str, dropped: int) -> None:
        log.warning("%s: recovery dropped %d bytes of %s", self.name, dropped, path)
        self.recovery_report.append(TruncatedFile(self.topic, self.partition, path, dropped))

    def _read_checkpoint(self) -> tuple[int, int, int | None]:
        """(log_start_offset, recovery_point, high_watermark); (0, 0, None) -
        recover all - if unknown."""
        try:
            with open(self._path(CHECKPOINT_FILE), "rb") as handle:
                doc = json.loads(handle.read())
            hw = doc.get("high_watermark")
            return (int(doc["log_start_offset"]), int(doc["recovery_point"]),
                    None if hw is None else int(hw))
        except FileNotFoundError:
            return 0, 0, None
        except (ValueError, KeyError, TypeError) as error:
            log.warning("%s: ignoring unreadable %s (%r); recovering every segment",
                        self.name, CHECKPOINT_FILE, error)
            return 0, 0, None

    def _rebuild_producer_state(self) -> None:
        offset = None
        try:
            with open(self._path(PRODUCER_SNAPSHOT_FILE), "rb") as handle:
                offset = self._producers.load_snapshot(handle.read())
        except FileNotFoundError:
            pass
        except ValueError as error:
            log.warning("%s: %s; rebuilding it from the log", self.name, error)
        if offset is None or offset > self._log_end_offset:
            if offset is not None:
                # It describes batches recovery dropped; once the log grows past its
                # offset again it would look valid, so it must go now.
                os.unlink(self._path(PRODUCER_SNAPSHOT_FILE))
                fsync_dir(self.directory)
            self._producers = ProducerStateManager(self.name)
            offset = self._log_start_offset
        self._rebuild_producers_from(max(offset, self._log_start_offset))
        self._producers.evict_before(self._log_start_offset)

    # --- state ---------------------------------------------------------------------

    @property
    def log_start_offset(self) -> int:
        return self._log_start_offset

    @property
    def log_end_offset(self) -> int:
        return self._log_end_offset

    @property
    def high_watermark(self) -> int:
        """Offsets below it are fsynced: acknowledged and visible to readers."""
        return self._high_watermark

    @property
    def recovery_point(self) -> int:
        """Offsets below it are fsynced here."""
        return self._recovery_point

    @property
    def replicated(self) -> bool:
        return not self._hw_follows_flush

    @property
    def size(self) -> int:
        with self._lock:
            return sum(segment.size for segment in self._segments)

    @property
    def segments(self) -> list[LogSegment]:
        with self._lock:
            return list(self._segments)

    @property
    def offline(self) -> str | None:
        """Why the log went offline, or None."""
        return self._offline

    def producer_state(self, producer_id: int):
        with self._lock:
            return self._producers.get(producer_id)

    def __repr__(self) -> str:
        return (f"PartitionLog({self.name}, offsets [{self._log_start_offset}, "
                f"{self._log_end_offset}), hw {self._high_watermark})")

    def _segment_index(self, offset: int) -> int:
        return max(bisect.bisect_right(self._bases, offset) - 1, 0)

    def _check_usable(self) -> None:
        if self._offline is not None:
            raise KafkaStorageError(f"{self.name} in {self.directory} is offline: "
                                    f"{self._offline}")
        if self._closed:
            raise UnknownTopicOrPartitionError(f"{self.name} is closed")

    def _fail(self, action: str, error: OSError) -> KafkaStorageError:
        """Take the log offline after an I/O error; the caller raises the result."""
        self._offline = f"{action} failed: {error}"
        log.error("%s in %s goes offline: %s failed: %s", self.name, self.directory,
                  action, error)
        return KafkaStorageError(
            f"{self.name}: {action} failed in {self.directory} ({error}); the log is "
            f"offline and acknowledges nothing more until it is reopened")

    # --- writing -------------------------------------------------------------------

    def append(self, batch) -> LogAppendInfo:
        """Assign offsets to one encoded batch and append it (not yet fsynced).

        A retried idempotent batch returns its original offsets with
        ``duplicate=True``; a sequence gap raises OutOfOrderSequenceError. In
        both cases nothing is appended.
        """
        size = len(batch)
        with self._lock:
            self._check_usable()
            if size > self.config.max_message_bytes:
                raise RecordTooLargeError(
                    f"{self.name}: a batch of {size} bytes exceeds max.message.bytes="
                    f"{self.config.max_message_bytes}")
            try:
                header = validate_batch(batch)
            except CorruptRecordError as error:
                raise CorruptRecordError(f"{self.name}: refused a produced batch: "
                                         f"{error}") from error
            if header.size != size:
                raise CorruptRecordError(
                    f"{self.name}: refused {size} bytes holding a {header.size}-byte "
                    f"batch; append takes exactly one batch")
            original = self._producers.check(header)
            if original is not None:
                return LogAppendInfo(original.first_offset, original.last_offset,
                                     header.max_timestamp, True)
            stored = header._replace(base_offset=self._log_end_offset,
                                     partition_leader_epoch=self.leader_epoch)
            if self._epochs is not None:
                self._assign_epoch(self.leader_epoch, stored.base_offset)
            segment = self._maybe_roll(stored)
            try:
                segment.append(with_base_offset(batch, stored.base_offset, self.leader_epoch),
                               stored)
            except OSError as error:
                raise self._fail("write", error) from error
            if self._active_since is None:
                self._active_since = self._clock.monotonic()
            self._log_end_offset = stored.next_offset
            self._producers.update(stored)
            return LogAppendInfo(stored.base_offset, stored.last_offset,
                                 stored.max_timestamp, False)

    def _maybe_roll(self, header: BatchHeader) -> LogSegment:
        active = self._segments[-1]
        if active.size and (
                active.size + header.size > self.config.segment_bytes
                or (self._clock.monotonic() - self._active_since) * 1000
                >= self.config.segment_ms
                or header.last_offset - active.base_offset > MAX_RELATIVE_OFFSET):
            return self._roll()
        return active

    def roll(self) -> LogSegment:
        """Seal the active segment and start a new one at the log end offset
        (a no-op on an empty active segment)."""
        with self._lock:
            self._check_usable()
            if not self._segments[-1].size:
                return self._segments[-1]
            return self._roll()

    def _roll(self) -> LogSegment:
        self._segments[-1].seal()
        try:
            segment = self._new_segment(self._log_end_offset)
        except OSError as error:
            raise self._fail("creating a segment", error) from error
        self._append_segment(segment)
        self._dir_dirty = True
        self._active_since = None
        return segment

    def flush(self) -> int:
        """fsync what was appended; returns the new high watermark.

        Appends may continue while it runs; they are covered by the next flush.
        """
        with self._flush_lock:
            with self._lock:
                self._check_usable()
                target = self._log_end_offset
                generation = self._truncations
                first = self._segment_index(self._recovery_point - 1)
                dirty = [segment for segment in self._segments[first:] if segment.dirty]
                dir_dirty, self._dir_dirty = self._dir_dirty, False
            try:
                for segment in dirty:
                    segment.flush()
                if dir_dirty:
                    fsync_dir(self.directory)
            except OSError as error:
                with self._lock:
                    raise self._fail("fsync", error) from error
            with self._lock:
                if target > self._recovery_point and generation == self._truncations:
                    self._recovery_point = target
                    if self._hw_follows_flush:
                        self._high_watermark = target
                return self._recovery_point

    # --- replication ---------------------------------------------------------------

    def enable_replication(self) -> None:
        """This log is one replica of a partition: the high watermark is
        set by replication from now on (it starts at the checkpointed one,
        never above the log end), and leader epochs are tracked."""
        with self._lock:
            self._check_usable()
            if self._epochs is not None:
                return
            self._hw_follows_flush = False
            hw = self._checkpointed_hw if self._checkpointed_hw is not None else self._log_start_offset
            self._high_watermark = max(self._log_start_offset, min(hw, self._recovery_point))
            self._epochs = LeaderEpochCache(self.directory)
            self._epochs.truncate_from_end(self._log_end_offset)
            if self._log_end_offset > self._log_start_offset and (
                    not self._epochs.entries
                    or self._epochs.entries[0][1] > self._log_start_offset):
                self._rebuild_epochs()
            if self._epochs.entries:
                self.leader_epoch = max(self.leader_epoch, self._epochs.latest_epoch)

    def _rebuild_epochs(self) -> None:
        def epochs():
            for segment in self._segments:
                for _, header in segment.headers():
                    if header.base_offset >= self._log_start_offset:
                        yield header.partition_leader_epoch, header.base_offset
        try:
            self._epochs.rebuild(epochs())
        except CorruptRecordError as error:
            log.warning("%s: leader epochs rebuilt up to %s", self.name, error)

    def _assign_epoch(self, epoch: int, offset: int) -> None:
        if epoch > self._epochs.latest_epoch:
            try:
                self._epochs.assign(epoch, offset)
            except OSError as error:
                raise self._fail("writing the leader epoch checkpoint", error) from error

    @property
    def latest_epoch(self) -> int:
        """The newest leader epoch with a batch here (or begun here), or -1."""
        with self._lock:
            return self._epochs.latest_epoch if self._epochs is not None else UNDEFINED

    def become_leader(self, epoch: int) -> None:
        """Lead from ``epoch`` on: batches appended from now are stamped with
        it, and it begins at the log end offset (KIP-101)."""
        with self._lock:
            self._check_usable()
            self.leader_epoch = epoch
            self._assign_epoch(epoch, self._log_end_offset)

    def end_offset_for_epoch(self, epoch: int) -> tuple[int, int]:
        """OffsetForLeaderEpoch: (largest epoch <= ``epoch`` here, the offset
        where it ended); (-1, -1) when unknown."""
        with self._lock:
            self._check_usable()
            if self._epochs is None:
                return UNDEFINED, UNDEFINED
            return self._epochs.end_offset_for(epoch, self._log_end_offset)

    def append_replicated(self, data) -> int:
        """A follower appends batches fetched from its leader as they are
        (offsets and leader epochs kept, every CRC checked). The first batch
        must start at the log end offset. Returns the new log end offset."""
        with self._lock:
            self._check_usable()
            for position, header in scan_batches(data, verify=True):
                if header.base_offset != self._log_end_offset:
                    raise CorruptRecordError(
                        f"{self.name}: a replicated batch at offset {header.base_offset}, "
                        f"expected {self._log_end_offset}")
                batch = bytes(data[position:position + header.size])
                if self._epochs is not None:
                    self._assign_epoch(header.partition_leader_epoch, header.base_offset)
                segment = self._maybe_roll(header)
                try:
                    segment.append(batch, header)
                except OSError as error:
                    raise self._fail("write", error) from error
                if self._active_since is None:
                    self._active_since = self._clock.monotonic()
                self._log_end_offset = header.next_offset
                self._producers.update(header)
            return self._log_end_offset

    def update_high_watermark(self, offset: int) -> bool:
        """Raise the high watermark to ``offset`` (never past what is
        fsynced here, never down); True when it moved."""
        with self._lock:
            offset = min(offset, self._recovery_point)
            if offset > self._high_watermark:
                self._high_watermark = offset
                return True
            return False

    def truncate_to(self, offset: int) -> None:
        """Remove every batch from the one holding ``offset`` on (a
        divergent tail, never anything acknowledged), durably."""
        with self._flush_lock, self._lock:
            self._check_usable()
            if offset >= self._log_end_offset:
                return
            offset = max(offset, self._log_start_offset)
            self._truncations += 1
            try:
                index = self._segment_index(offset)
                doomed = self._segments[index + 1:]
                del self._segments[index + 1:]
                del self._bases[index + 1:]
                for segment in doomed:
                    segment.delete()
                removed = self._segments[-1].truncate_to(offset)
                if doomed:
                    fsync_dir(self.directory)
            except OSError as error:
                raise self._fail("truncation", error) from error
            self._log_end_offset = self._segments[-1].next_offset
            self._recovery_point = min(self._recovery_point, self._log_end_offset)
            self._high_watermark = min(self._high_watermark, self._log_end_offset)
            if self._epochs is not None:
                self._epochs.truncate_from_end(self._log_end_offset)
            self._producers = ProducerStateManager(self.name)
            self._rebuild_producers_from(self._log_start_offset)
            log.info("%s: truncated to offset %d (%d bytes of the last segment, %d later "
                     "segments removed)", self.name, self._log_end_offset, removed, len(doomed))
            self._checkpoint_after_truncation()

    def truncate_fully(self, start_offset: int) -> None:
        """Empty the log and start it at ``start_offset`` (a follower whose
        leader no longer has what follows this log's end)."""
        with self._flush_lock, self._lock:
            self._check_usable()
            self._truncations += 1
            try:
                for segment in self._segments:
                    segment.delete()
                self._segments, self._bases = [], []
                self._append_segment(self._new_segment(start_offset))
                fsync_dir(self.directory)
            except OSError as error:
                raise self._fail("truncation", error) from error
            self._log_start_offset = self._log_end_offset = start_offset
            self._recovery_point = self._high_watermark = start_offset
            self._active_since = None
            self._producers = ProducerStateManager(self.name)
            if self._epochs is not None:
                self._epochs.clear()
            self._checkpoint_after_truncation()

    def _checkpoint_after_truncation(self) -> None:
        """Record the truncated log's offsets, and drop the producer snapshot:
        it describes batches that are gone."""
        self._write([(CHECKPOINT_FILE, self._checkpoint_data())])
        try:
            os.unlink(self._path(PRODUCER_SNAPSHOT_FILE))
        except FileNotFoundError:
            pass

    def _rebuild_producers_from(self, offset: int) -> None:
        """Replay the headers of the batches from ``offset`` on into the
        producer state (at open, and after a truncation)."""
        for segment in self._segments[self._segment_index(offset):]:
            try:
                for _, header in segment.headers(max(offset, segment.base_offset)):
                    if header.base_offset >= offset:
                        self._producers.update(header)
            except CorruptRecordError as error:
                log.warning("%s: producer state misses batches after %s", self.name, error)

    def _checkpoint_data(self) -> bytes:
        return json.dumps({"version": _CHECKPOINT_VERSION,
                           "log_start_offset": self._log_start_offset,
                           "recovery_point": self._recovery_point,
                           "high_watermark": self._high_watermark}).encode()

    def _write(self, files: list[tuple[str, bytes]]) -> None:
        try:
            for name, data in files:
                atomic_write(self._path(name), data)
        except OSError as error:
            with self._lock:
                raise self._fail("writing a checkpoint", error) from error

    def checkpoint(self) -> None:
        """Persist the log start offset, the recovery point and a producer
        state snapshot, so the next load has less to recover."""
        with self._checkpoint_lock:
            with self._lock:
                self._check_usable()
                files = [(CHECKPOINT_FILE, self._checkpoint_data()),
                         (PRODUCER_SNAPSHOT_FILE,
                          self._producers.snapshot(self._log_end_offset))]
            self._write(files)

    # --- reading -------------------------------------------------------------------

    def _check_range(self, offset: int) -> None:
        if not self._log_start_offset <= offset <= self._log_end_offset:
            error = OffsetOutOfRangeError(
                f"offset {offset} is out of range for {self.name}: valid offsets are "
                f"{self._log_start_offset} to {self._log_end_offset}")
            error.topic, error.partition, error.offset = self.topic, self.partition, offset
            error.log_start_offset = self._log_start_offset
            error.log_end_offset = self._log_end_offset
            raise error

    def read(self, offset: int, max_bytes: int = DEFAULT_MAX_READ_BYTES, *,
             committed_only: bool = True) -> bytes:
        """Raw whole batches from the one holding ``offset`` (CRC-checked).

        At most ``max_bytes`` unless the first batch alone is larger; from one
        segment per call; empty at the end of the log. ``committed_only`` stops
        at the high watermark. Offsets outside [log start, log end] raise
        OffsetOutOfRangeError.
        """
        with self._lock:
            self._check_usable()
            self._check_range(offset)
            limit = self._high_watermark if committed_only else self._log_end_offset
            if offset >= limit:
                return b""
            segment = self._segments[self._segment_index(offset)]
            try:
                return segment.read(offset, max_bytes, max_offset=limit)
            except CorruptRecordError:
                raise
            except OSError as error:
                raise self._fail("read", error) from error

    def offset_for_timestamp(self, timestamp: int) -> tuple[int, int] | None:
        """``(offset, timestamp)`` of the first committed record whose
        timestamp is at least ``timestamp``, or None."""
        with self._lock:
            self._check_usable()
            for segment in self._segments:
                if segment.largest_timestamp >= timestamp:
                    found = segment.find_offset_by_timestamp(timestamp, self._high_watermark)
                    if found is not None:
                        return found
            return None

    # --- retention and lifecycle ---------------------------------------------------

    def delete_old_segments(self) -> list[int]:
        """Apply retention; returns the base offsets of the deleted segments."""
        with self._flush_lock, self._checkpoint_lock, self._lock:
            self._check_usable()
            sealed = [segment for segment in self._segments[:-1]
                      if segment.next_offset <= min(self._recovery_point,
                                                    self._high_watermark)]
            count = 0
            if self.config.retention_ms >= 0:
                now_ms = self._clock.time_ms()
                while (count < len(sealed) and now_ms - sealed[count].largest_timestamp
                       > self.config.retention_ms):
                    count += 1
            if self.config.retention_bytes >= 0:
                excess, by_size = self.size - self.config.retention_bytes, 0
                while by_size < len(sealed) and excess >= sealed[by_size].size:
                    excess -= sealed[by_size].size
                    by_size += 1
                count = max(count, by_size)
            if not count:
                return []
            doomed = self._segments[:count]
            self._log_start_offset = self._segments[count].base_offset
            self._write([(CHECKPOINT_FILE, self._checkpoint_data())])
            del self._segments[:count]
            del self._bases[:count]
            for segment in doomed:
                segment.delete()
            self._producers.evict_before(self._log_start_offset)
            log.info("%s: retention deleted %d segments; log start offset is now %d",
                     self.name, count, self._log_start_offset)
            return [segment.base_offset for segment in doomed]

    def close(self) -> None:
        """Flush, checkpoint and close (only close the files if offline)."""
        with self._flush_lock, self._checkpoint_lock, self._lock:
            if self._closed:
                return
            try:
                if self._offline is None:
                    self._segments[-1].seal()
                    for segment in self._segments:
                        if segment.dirty:
                            segment.flush()
                    if self._dir_dirty:
                        fsync_dir(self.directory)
                    self._recovery_point = self._log_end_offset
                    if self._hw_follows_flush:
                        self._high_watermark = self._log_end_offset
                    self._write([(CHECKPOINT_FILE, self._checkpoint_data()),
                                 (PRODUCER_SNAPSHOT_FILE,
                                  self._producers.snapshot(self._log_end_offset))])
            except OSError as error:
                if self._offline is None:
                    raise self._fail("flush at close", error) from error
                raise
            finally:
                self._close_files()

    def _close_files(self) -> None:
        for segment in self._segments:
            segment.close()
        self._closed = True

    def delete(self) -> None:
        """Close without flushing and remove the partition's directory."""
        with self._flush_lock, self._checkpoint_lock, self._lock:
            if not self._closed:
                self._close_files()
            shutil.rmtree(self.directory, ignore_errors=True)
