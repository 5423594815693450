"""Committed offsets in a cluster: kept in the replicated internal topic
``__consumer_offsets``, as Kafka keeps them (its GroupMetadataManager).

*Design choice*: the offsets live in a replicated topic rather than in the
controller's metadata image. A commit is then one acks=all append to a
partition replicated like any other (fsynced on every in-sync replica
before it is acknowledged), so committed offsets survive the loss of any
one broker exactly as acknowledged records do, with no new replication
path; the image stays small (every broker receives the whole image on
every change, and consumers commit every few seconds each); and commits
are spread over the topic's partitions and their leaders instead of going
through the one active controller's Raft log.

Which broker coordinates a group: the leader of partition
``crc32(group) % offsets.topic.num.partitions`` of the topic. The topic is
created (``offsets.topic.replication.factor``, at most the brokers alive;
``min.insync.replicas`` min(2, that); no retention) the first time a
client looks for a coordinator. When a broker becomes the leader of one of
its partitions it reads the whole partition (its log is the one the ISR
agrees on: every acknowledged commit is in it) and then coordinates the
groups that hash there; until the load is done, and once it has lost the
leadership, requests for those groups are NotCoordinatorError (the client
looks for the coordinator again). Group membership is not replicated: a
new coordinator knows no member, and consumers join it again.

Records: key ``[group, topic, partition]`` and value ``offset``, both
JSON, one record per committed partition, one batch per commit. The value
written is already the larger of the old and the new offset, and loading
keeps the largest seen per key, so an offset never moves back, whatever
the order of replays. Retention never removes them (``retention.ms`` -1);
the topic grows with every commit, as a Kafka offsets topic without
compaction would (compaction is not implemented).

What it must not know: membership and rebalances (``group_coordinator``),
sockets.

Thread-safety: thread-safe; ``wait`` of a pending commit blocks the
caller's thread (never the coordinator's lock).
"""

from __future__ import annotations

import json
import logging
import threading
import zlib

from ember.engine.errors import (
    EmberError, KafkaTimeoutError, NotCoordinatorError, NotLeaderOrFollowerError,
)
from ember.ingest.log.record_batch import SimpleRecord, encode_batch, iter_records

log = logging.getLogger(__name__)

OFFSETS_TOPIC = "__consumer_offsets"
OFFSETS_TOPIC_CONFIG = {"retention.ms": -1}
COMMIT_TIMEOUT = 10.0


def offsets_partition(group: str, partitions: int) -> int:
    """The partition of the offsets topic that holds ``group``'s offsets."""
    return zlib.crc32(group.encode("utf-8")) % partitions


class PendingCommit:
    """A commit appended to the offsets topic, waiting for its ISR."""

    def __init__(self, store: "ReplicatedOffsetStore", group: str, merged: dict):
        self._store, self._group, self._merged = store, group, merged
        self._done = threading.Event()
        self._error: BaseException | None = None
        self.offsets: list[int] = []

    def _finish(self, outcomes: list, error: BaseException | None) -> None:
        failure = error or next((o for o in outcomes if isinstance(o, BaseException)), None)
        if isinstance(failure, NotLeaderOrFollowerError):
            failure = NotCoordinatorError(f"group {self._group!r}: this broker stopped "
                                          f"coordinating it before the commit was stored; "
                                          f"find the coordinator again ({failure})")
        self._error = failure
        if failure is None:
            self._store._committed(self._group, self._merged)
        self._done.set()

    def wait(self) -> list[int]:
        if not self._done.wait(COMMIT_TIMEOUT):
            raise KafkaTimeoutError(f"group {self._group!r}: the commit was not replicated "
                                    f"within {COMMIT_TIMEOUT:g} s; it may or may not be stored")
        if self._error is not None:
            raise self._error
        return self.offsets


class ReplicatedOffsetStore:
    def __init__(self, replicas, partitions: int):
        self._replicas = replicas
        self.partitions = partitions
        self._lock = threading.Lock()
        self._offsets: dict[str, dict[tuple[str, int], int]] = {}
        self._loaded: set[int] = set()

    # --- coordination -------------------------------------------------------------

    def partition_of(self, group: str) -> int:
        return offsets_partition(group, self.partitions)

    def owns(self, group: str) -> bool:
        with self._lock:
            return self.partition_of(group) in self._loaded

    def check_owner(self, group: str) -> None:
        if not self.owns(group):
            raise NotCoordinatorError(
                f"group {group!r}: this broker does not coordinate it (its offsets are in "
                f"{OFFSETS_TOPIC}-{self.partition_of(group)}, led elsewhere or still loading)")

    def load(self, partition: int, partition_log) -> None:
        """This broker now leads ``partition``: read every commit in it."""
        loaded: dict[str, dict[tuple[str, int], int]] = {}
        offset, records = partition_log.log_start_offset, 0
        end = partition_log.log_end_offset
        while offset < end:
            data = partition_log.read(offset, 1 << 20, committed_only=False)
            if not data:
                break
            for record in iter_records(data):
                if record.offset < offset:
                    continue
                offset = record.offset + 1
                try:
                    group, topic, index = json.loads(record.key)
                    value = int(json.loads(record.value))
                except (TypeError, ValueError) as error:
                    log.warning("%s-%d: skipping an unreadable record at offset %d: %r",
                                OFFSETS_TOPIC, partition, record.offset, error)
                    continue
                entries = loaded.setdefault(group, {})
                entries[topic, index] = max(value, entries.get((topic, index), -1))
                records += 1
        with self._lock:
            for group in [g for g in self._offsets if self.partition_of(g) == partition]:
                del self._offsets[group]
            self._offsets.update(loaded)
            self._loaded.add(partition)
        log.info("%s-%d: loaded %d commits of %d groups", OFFSETS_TOPIC, partition, records,
                 len(loaded))

    def unload(self, partition: int) -> list[str]:
        """This broker no longer leads ``partition``; returns the groups it
        stops coordinating."""
        with self._lock:
            self._loaded.discard(partition)
            gone = [g for g in self._offsets if self.partition_of(g) == partition]
            for group in gone:
                del self._offsets[group]
            return gone

    # --- the OffsetStore interface ------------------------------------------------

    def groups(self) -> list[str]:
        with self._lock:
            return list(self._offsets)

    def of_group(self, group: str) -> dict[tuple[str, int], int]:
        with self._lock:
            return dict(self._offsets.get(group, {}))

    def get(self, group: str, topic: str, partition: int) -> int | None:
        with self._lock:
            return self._offsets.get(group, {}).get((topic, partition))

    def commit(self, group: str, offsets: list[tuple[str, int, int]]) -> PendingCommit:
        """Append the commit to the group's offsets partition (acks=all); the
        caller waits on the result outside its own lock."""
        self.check_owner(group)
        with self._lock:
            current = self._offsets.get(group, {})
            merged = {}
            for topic, partition, offset in offsets:
                merged[topic, partition] = max(offset, current.get((topic, partition), -1),
                                               merged.get((topic, partition), -1))
        pending = PendingCommit(self, group, merged)
        pending.offsets = [merged[t, p] for t, p, _ in offsets]
        batch = encode_batch([SimpleRecord(json.dumps([group, t, p]).encode(),
                                           json.dumps(o).encode())
                              for (t, p), o in merged.items()])
        try:
            self._replicas.append([(OFFSETS_TOPIC, self.partition_of(group), batch)], -1,
                                  pending._finish)
        except EmberError as error:
            pending._finish([], error)
        return pending

    def _committed(self, group: str, merged: dict) -> None:
        with self._lock:
            if self.partition_of(group) not in self._loaded:
                return
            entries = self._offsets.setdefault(group, {})
            for key, offset in merged.items():
                entries[key] = max(offset, entries.get(key, -1))
