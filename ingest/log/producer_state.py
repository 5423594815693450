"""ProducerStateManager: what one partition knows of its idempotent producers.

For each producer id: its epoch and its last few appended batches (first and
last sequence number, first and last offset). That is enough to answer a
retried batch with the offsets it was first stored under (a duplicate: nothing
is appended), and to refuse a batch whose sequence skips ahead (a gap: a batch
was lost between producer and broker) or comes from a fenced, older epoch.

Rules, checked against the producer's current entry before an append:

* unknown producer: any first sequence is accepted (its earlier batches may
  have been removed by retention);
* older epoch: refused;
* newer epoch: must start at sequence 0;
* same epoch: a batch equal in first and last sequence to one of the last
  ``MAX_CACHED_BATCHES`` is a duplicate; otherwise the first sequence must
  follow the last one (sequences wrap from 2**31 - 1 to 0).

Durability: the state is derived from the batch headers in the log. The
partition log rebuilds it at load by replaying headers, starting from a
snapshot if one is usable. Snapshot file format (JSON, written atomically with
``engine.io.fileio``)::

    {"version": 1, "offset": N,
     "producers": [[producer_id, epoch, [[first_seq, last_seq, first_offset, last_offset], ...]], ...]}

``offset`` is the log end offset the state covers; a snapshot whose offset is
beyond the log after recovery describes batches that are gone and is ignored.

Invariants: per producer, cached batches are in append order and their offsets
increase; at most ``MAX_CACHED_BATCHES`` are kept.

Thread-safety: not thread-safe; the partition log calls it under its lock.
"""

from __future__ import annotations

import json
from collections import deque
from typing import NamedTuple

from ember.engine.errors import InvalidProducerEpochError, OutOfOrderSequenceError
from ember.ingest.log.record_batch import NO_PRODUCER_ID, BatchHeader

MAX_CACHED_BATCHES = 5
_SEQUENCE_MODULUS = 1 << 31
_SNAPSHOT_VERSION = 1


def sequence_after(sequence: int, count: int = 1) -> int:
    return (sequence + count) % _SEQUENCE_MODULUS


def last_sequence(header: BatchHeader) -> int:
    return sequence_after(header.base_sequence, header.last_offset_delta)


class BatchMetadata(NamedTuple):
    first_seq: int
    last_seq: int
    first_offset: int
    last_offset: int


class ProducerStateEntry:
    __slots__ = ("epoch", "batches")

    def __init__(self, epoch: int):
        self.epoch = epoch
        self.batches: deque[BatchMetadata] = deque(maxlen=MAX_CACHED_BATCHES)

    @property
    def last_seq(self) -> int:
        return self.batches[-1].last_seq

    @property
    def last_offset(self) -> int:
        return self.batches[-1].last_offset


class ProducerStateManager:
    def __init__(self, name: str = "the log"):
        self.name = name  # e.g. "topic 'clicks' partition 0", for messages
        self._producers: dict[int, ProducerStateEntry] = {}

    def __len__(self) -> int:
        return len(self._producers)

    def get(self, producer_id: int) -> ProducerStateEntry | None:
        return self._producers.get(producer_id)

    def check(self, header: BatchHeader) -> BatchMetadata | None:
        """Before appending ``header``'s batch: the original metadata if it is
        a duplicate, None if it may be appended; raises OutOfOrderSequenceError (a gap) or
        InvalidProducerEpochError (a fenced epoch)."""
        producer_id = header.producer_id
        entry = self._producers.get(producer_id)
        if producer_id == NO_PRODUCER_ID or entry is None:
            return None
        epoch, first_seq = header.producer_epoch, header.base_sequence
        who = f"{self.name}: producer {producer_id}"
        if epoch < entry.epoch:
            raise InvalidProducerEpochError(
                f"{who} sent epoch {epoch}, older than its current epoch {entry.epoch}: "
                f"a newer instance of the producer has fenced it; nothing was appended")
        if epoch > entry.epoch:
            if first_seq != 0:
                raise OutOfOrderSequenceError(
                    f"{who} began epoch {epoch} at sequence {first_seq}, expected 0; "
                    f"nothing was appended")
            return None
        last_seq = last_sequence(header)
        for batch in entry.batches:
            if batch.first_seq == first_seq and batch.last_seq == last_seq:
                return batch
        expected = sequence_after(entry.last_seq)
        if first_seq != expected:
            raise OutOfOrderSequenceError(
                f"{who} (epoch {epoch}) sent sequence {first_seq}, expected {expected}: "
                f"a batch is missing between them, or this one repeats a batch older than "
                f"the last {MAX_CACHED_BATCHES} kept; nothing was appended")
        return None

    def update(self, header: BatchHeader) -> None:
        """Record an appended batch (``header`` carries its stored offsets).
        Also used to replay the log, where no check applies."""
        producer_id = header.producer_id
        if producer_id == NO_PRODUCER_ID:
            return
        entry = self._producers.get(producer_id)
        if entry is None or entry.epoch != header.producer_epoch:
            entry = self._producers[producer_id] = ProducerStateEntry(header.producer_epoch)
        entry.batches.append(BatchMetadata(header.base_sequence, last_sequence(header),
                                           header.base_offset, header.last_offset))

    def evict_before(self, log_start_offset: int) -> None:
        """Forget producers none of whose cached batches is still in the log."""
        for producer_id in [pid for pid, entry in self._producers.items()
                            if entry.last_offset < log_start_offset]:
            del self._producers[producer_id]

    def snapshot(self, offset: int) -> bytes:
        producers = [[pid, entry.epoch, [list(batch) for batch in entry.batches]]
                     for pid, entry in self._producers.items()]
        return json.dumps({"version": _SNAPSHOT_VERSION, "offset": offset,
                           "producers": producers}).encode()

    def load_snapshot(self, data: bytes) -> int:
        """Replace the state with a snapshot's; returns the offset it covers.
        Raises ValueError when the snapshot is not one this version wrote."""
        try:
            doc = json.loads(data)
            if doc["version"] != _SNAPSHOT_VERSION:
                raise ValueError(f"version {doc['version']}, expected {_SNAPSHOT_VERSION}")
            producers = {}
            for producer_id, epoch, batches in doc["producers"]:
                entry = producers[int(producer_id)] = ProducerStateEntry(int(epoch))
                entry.batches.extend(BatchMetadata(*map(int, batch)) for batch in batches)
                if not entry.batches:
                    raise ValueError(f"producer {producer_id} has no batches")
            offset = int(doc["offset"])
        except (KeyError, TypeError, IndexError, ValueError) as error:
            raise ValueError(f"unreadable producer state snapshot: {error!r}") from error
        self._producers = producers
        return offset
