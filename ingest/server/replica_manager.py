"""ReplicaManager: the one produce and fetch path of the broker, whatever
protocol a request came in (ember's own over ZeroMQ, or Kafka's).

Produce (:meth:`append`): each ``(topic, partition, batch)`` is appended to
its partition log (which validates the batch, checks the idempotent
producer's sequence and stamps offsets and the leader epoch); the logs
touched go to the group-commit flusher. The outcome per entry is a
``LogAppendInfo`` or the error; a later batch for a partition whose earlier
batch failed in the same request is not attempted (an idempotent producer's
sequence numbers stay contiguous). ``acks=-1`` completes once every
appended batch is fsynced (the high watermark passed it) or a log failed;
``acks=1`` and ``0`` complete at once.

Fetch (:meth:`read`): whole, CRC-checked batches from an offset up to the
high watermark (what is durable); :meth:`watch` registers a callback run
after each flush round with the logs whose high watermark moved, which is
how a Kafka fetch long-polls.

This is where replication slots in: a leader's ``append`` will wait for
its in-sync followers as well as its own fsync before ``acks=-1``
completes, a follower's fetch will come through :meth:`read`, and the
partition leader epoch each log stamps is the one a leader election sets.

What it must not know: wire formats and sockets (callers turn outcomes
into replies).

Thread-safety: thread-safe; callbacks run on the caller's thread or the flusher's.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable, Iterable

from ember.engine.errors import EmberError
from ember.ingest.log.log_manager import LogManager
from ember.ingest.log.partition_log import LogAppendInfo, PartitionLog
from ember.ingest.server.group_commit import GroupCommit

log = logging.getLogger(__name__)

Outcome = "LogAppendInfo | EmberError"


class ReplicaManager:
    def __init__(self, logs: LogManager, group_commit: GroupCommit):
        self.logs = logs
        self._group_commit = group_commit
        self._watchers: list[Callable[[set], None]] = []
        self._watch_lock = threading.Lock()
        group_commit.on_flushed = self._flushed

    # --- produce ------------------------------------------------------------------

    def append(self, entries: list[tuple[str, int, bytes]], acks: int,
               callback: Callable[[list, BaseException | None], None]) -> None:
        """Append each entry; ``callback(outcomes, error)`` once ``acks`` is
        satisfied: ``outcomes`` holds a LogAppendInfo or an EmberError per
        entry, ``error`` is set when the batches could not be made durable."""
        outcomes: list = []
        targets, touched, failed = [], set(), {}
        for topic, partition, batch in entries:
            if (topic, partition) in failed:
                outcomes.append(failed[topic, partition])
                continue
            try:
                partition_log = self.logs.get_log(topic, partition)
                info = partition_log.append(batch)
            except EmberError as error:
                failed[topic, partition] = error
                outcomes.append(error)
                continue
            outcomes.append(info)
            targets.append((partition_log, info.last_offset))
            if not info.duplicate:
                touched.add(partition_log)
        if touched:
            self._group_commit.appended(touched)
        if acks != -1 or not targets:
            callback(outcomes, None)
            return
        self._group_commit.when_durable(targets, lambda error: callback(outcomes, error))

    # --- fetch --------------------------------------------------------------------

    def read(self, topic: str, partition: int, offset: int, max_bytes: int) -> tuple[bytes, PartitionLog]:
        """Batches from ``offset`` (at most ``max_bytes`` unless the first
        batch is larger) below the high watermark, and the log they came
        from (for its offsets)."""
        partition_log = self.logs.get_log(topic, partition)
        return partition_log.read(offset, max_bytes), partition_log

    def watch(self, callback: Callable[[set], None]) -> Callable[[], None]:
        """Call ``callback(logs)`` after each flush round that advanced some
        high watermarks; returns the function that stops it."""
        with self._watch_lock:
            self._watchers.append(callback)

        def stop() -> None:
            with self._watch_lock:
                if callback in self._watchers:
                    self._watchers.remove(callback)
        return stop

    def _flushed(self, logs: Iterable[PartitionLog]) -> None:
        with self._watch_lock:
            watchers = list(self._watchers)
        logs = set(logs)
        for watcher in watchers:
            try:
                watcher(logs)
            except Exception:  # noqa: BLE001 - one watcher must not stop the flusher
                log.exception("error in a flush watcher")
