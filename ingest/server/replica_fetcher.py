"""Replica fetchers: a follower's threads that copy its leaders' logs.

One thread per source broker (Kafka's ReplicaFetcherThread), fetching every
partition this broker follows on that leader in one ``replica_fetch``
request: per partition the fetch offset (this replica's log end, which is
fsynced before the request leaves, so the leader may count it as durable
here), the epoch of the last batch held and the leader epoch it believes
current. The leader parks a fetch that finds nothing new for up to
``max_wait_ms``.

Per partition, the answer is one of:

* batches: appended as the leader stored them (``append_replicated``:
  offsets, leader epochs and producer state kept), then fsynced before the
  next fetch; the high watermark becomes the leader's, bounded by what is
  fsynced here;
* a diverging epoch and its end offset at the leader (KIP-320): this log
  holds batches the leader does not. Kafka's rule: if this log has the
  same epoch, truncate to the smaller of the two ends (truncation done);
  if it only has an older one, truncate to where that one ends here and
  fetch again, so the leader checks the older epoch (a few rounds at
  most, one per epoch). An unknown epoch at the leader (its log starts
  later) truncates to the leader's log start;
* OffsetOutOfRangeError: a fetch offset past the leader's end (this log is
  longer, with no epoch to compare: truncate to the leader's end) or below
  its start (retention moved it: start over there, ``truncate_fully``);
* FencedLeaderEpochError / NotLeaderOrFollowerError: one side has not
  applied the latest metadata yet; wait and fetch again.

Only a partition still following the same leader in the same epoch as when
the request left takes the answer (roles change under ``Partition.lock``).
A leader that does not answer is retried with a backoff until the metadata
names another (the replica manager then moves the partition).

What it must not know: how roles are chosen (``replica_manager``), the
controller.

Thread-safety: ``follow`` and ``stop`` from any thread.
"""

from __future__ import annotations

import logging
import threading
import time

from ember.engine.errors import (
    BrokerUnavailableError, CorruptRecordError, EmberError, KafkaStorageError,
    KafkaTimeoutError, OffsetOutOfRangeError,
)
from ember.ingest import protocol
from ember.ingest.client.client import BrokerConnection
from ember.ingest.server.partition import FOLLOWER, Partition

log = logging.getLogger(__name__)

MAX_FETCH_BYTES = 4 << 20
MAX_WAIT_MS = 500
_BACKOFF = 0.1


class FetcherThread:
    def __init__(self, manager: "ReplicaFetcherManager", leader_id: int, address: str):
        self.manager = manager
        self.leader_id = leader_id
        self.address = address
        self.partitions: dict[tuple[str, int], Partition] = {}
        self._cond = threading.Condition()
        self._stopped = False
        self._conn: BrokerConnection | None = None
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"ember-replica-fetcher-{leader_id}")
        self._thread.start()

    def add(self, partition: Partition) -> None:
        with self._cond:
            self.partitions[partition.key] = partition
            self._cond.notify()

    def remove(self, key) -> None:
        with self._cond:
            self.partitions.pop(key, None)

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    # --- the loop -----------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop()
        finally:
            self._drop_connection()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self.partitions and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                partitions = list(self.partitions.values())
            try:
                backoff = self._fetch_once(partitions)
            except (BrokerUnavailableError, KafkaTimeoutError) as error:
                log.debug("fetch from broker %d at %s failed: %s", self.leader_id,
                          self.address, error)
                self._drop_connection()
                backoff = True
            except Exception:  # noqa: BLE001 - a bug must not end replication silently
                log.exception("replica fetch from broker %d failed", self.leader_id)
                self._drop_connection()
                backoff = True
            if backoff:
                with self._cond:
                    self._cond.wait(_BACKOFF)

    def _drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> BrokerConnection:
        if self._conn is None:
            self._conn = BrokerConnection(self.address, self.manager.secret, connect_timeout=2.0,
                                          request_timeout=MAX_WAIT_MS / 1000 + 5.0,
                                          name=f"ember-replica-fetch-{self.leader_id}-io")
        return self._conn

    def _fetch_once(self, partitions: list[Partition]) -> bool:
        """One request and its answers; True to back off before the next."""
        entries, sent = [], []
        for partition in partitions:
            with partition.lock:
                if partition.role != FOLLOWER or partition.leader_id != self.leader_id:
                    continue
                plog = partition.log
                entries.append([partition.topic, partition.index, plog.log_end_offset,
                                plog.latest_epoch, partition.leader_epoch])
                sent.append((partition, partition.leader_epoch, plog.log_end_offset))
        if not entries:
            return True
        conn = self._connection()
        header, frames = conn.request("replica_fetch", {
            "replica_id": self.manager.broker_id, "partitions": entries,
            "max_bytes": MAX_FETCH_BYTES, "max_wait_ms": MAX_WAIT_MS})
        results = header.get("results")
        if not isinstance(results, list) or len(results) != len(sent):
            raise BrokerUnavailableError(f"a malformed replica_fetch reply from {self.address}")
        backoff = False
        appended = []
        for (partition, epoch, fetch_offset), result, data in zip(sent, results,
                                                                   frames + [b""] * len(sent)):
            with partition.lock:
                if (partition.role != FOLLOWER or partition.leader_id != self.leader_id
                        or partition.leader_epoch != epoch
                        or partition.log.log_end_offset != fetch_offset):
                    continue  # the role moved on meanwhile: this answer is stale
                try:
                    if "error" in result:
                        backoff |= self._on_error(partition, fetch_offset,
                                                  protocol.error_from(result["error"]))
                    elif "diverging" in result:
                        self._truncate(partition, *result["diverging"])
                    else:
                        if data:
                            partition.log.append_replicated(data)
                            appended.append((partition, result["hw"]))
                        else:
                            partition.log.update_high_watermark(
                                min(result["hw"], partition.log.log_end_offset))
                except CorruptRecordError as error:
                    log.warning("%s: %s; fetching again", partition.log.name, error)
                    backoff = True
                except KafkaStorageError as error:
                    log.error("%s: stops replicating: %s", partition.log.name, error)
                    self.remove(partition.key)
        for partition, hw in appended:
            try:
                partition.log.flush()
            except (KafkaStorageError, OSError) as error:
                log.error("%s: stops replicating: %s", partition.log.name, error)
                self.remove(partition.key)
                continue
            partition.log.update_high_watermark(min(hw, partition.log.log_end_offset))
        return backoff

    def _on_error(self, partition: Partition, fetch_offset: int, error: BaseException) -> bool:
        plog = partition.log
        if isinstance(error, OffsetOutOfRangeError):
            leader_end = getattr(error, "log_end_offset", None)
            leader_start = getattr(error, "log_start_offset", None)
            if isinstance(leader_end, int) and fetch_offset > leader_end:
                log.info("%s: longer than the leader's log (%d > %d): truncating",
                         plog.name, fetch_offset, leader_end)
                plog.truncate_to(leader_end)
                return False
            if isinstance(leader_start, int) and fetch_offset < leader_start:
                log.info("%s: the leader's log starts at %d, past this log's end %d: "
                         "starting over there", plog.name, leader_start, fetch_offset)
                plog.truncate_fully(leader_start)
                return False
        elif not isinstance(error, EmberError):
            log.warning("%s: replica fetch failed: %s", plog.name, error)
        return True

    def _truncate(self, partition: Partition, epoch: int, end: int) -> None:
        """The leader says this log diverged: its ``epoch`` ended at ``end`` there."""
        plog = partition.log
        if epoch < 0:
            target = end  # every epoch here is older than the leader's log
            if plog.log_end_offset < target:
                plog.truncate_fully(target)
                return
        else:
            local_epoch, local_end = plog.end_offset_for_epoch(epoch)
            if local_epoch < 0:
                target = plog.log_start_offset
            elif local_epoch == epoch:
                target = min(end, local_end)
            else:
                target = local_end  # check the older epoch in the next round
        target = min(target, plog.log_end_offset)
        log.info("%s: diverged from leader %d (its epoch %d ends at %d): truncating "
                 "from %d to %d", plog.name, self.leader_id, epoch, end,
                 plog.log_end_offset, target)
        plog.truncate_to(target)


class ReplicaFetcherManager:
    def __init__(self, broker_id: int, secret: bytes):
        self.broker_id = broker_id
        self.secret = secret
        self._lock = threading.Lock()
        self._threads: dict[int, FetcherThread] = {}
        self._assigned: dict[tuple[str, int], int] = {}
        self._stopped = False

    def follow(self, partition: Partition, source: tuple[int, str] | None) -> None:
        """Fetch ``partition`` from ``source`` (leader id, address), or from
        no one."""
        with self._lock:
            if self._stopped:
                return
            key = partition.key
            current = self._assigned.get(key)
            if source is not None:
                thread = self._threads.get(source[0])
                if thread is not None and thread.address != source[1]:
                    # The leader moved to another address (a restart): its
                    # partitions go to a new thread there.
                    moved = self._retire(source[0])
                    thread = self._threads[source[0]] = FetcherThread(self, *source)
                    for other in moved:
                        thread.add(other)
                        self._assigned[other.key] = source[0]
            if current is not None and (source is None or current != source[0]):
                thread = self._threads.get(current)
                if thread is not None:
                    thread.remove(key)
                del self._assigned[key]
            if source is None:
                return
            thread = self._threads.get(source[0])
            if thread is None:
                thread = self._threads[source[0]] = FetcherThread(self, *source)
            thread.add(partition)
            self._assigned[key] = source[0]

    def _retire(self, leader_id: int) -> list[Partition]:
        thread = self._threads.pop(leader_id)
        with thread._cond:
            partitions = list(thread.partitions.values())
        thread.stop()
        return partitions

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            threads = list(self._threads.values())
            self._threads.clear()
        for thread in threads:
            thread.stop()
        deadline = time.monotonic() + 5.0
        for thread in threads:
            thread.join(max(0.1, deadline - time.monotonic()))
