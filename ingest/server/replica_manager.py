"""ReplicaManager: the one produce and fetch path of the broker, whatever
protocol a request came in (ember's own over ZeroMQ, or Kafka's), and, in a
cluster, each partition's replica: leader or follower.

Produce (:meth:`append`): each ``(topic, partition, batch)`` is appended to
its partition log (which validates the batch, checks the idempotent
producer's sequence and stamps offsets and the leader epoch); the logs
touched go to the group-commit flusher. The outcome per entry is a
``LogAppendInfo`` or the error; a later batch for a partition whose earlier
batch failed in the same request is not attempted (an idempotent producer's
sequence numbers stay contiguous). ``acks=1`` and ``0`` complete at once.
``acks=-1`` completes once every appended batch is below its partition's
high watermark:

* one broker: the high watermark is the end of fsynced data, so the group
  commit's ``when_durable`` answers it;
* a cluster (``broker_id`` set): the partition must be led here (else
  NotLeaderOrFollowerError) and have at least ``min.insync.replicas`` in
  its ISR (else NotEnoughReplicasError, nothing appended). The high
  watermark is what every member of the ISR has fsynced
  (``partition.Partition.compute_high_watermark``); it moves when the
  leader's flush completes and when a follower fetches past it, and each
  move re-checks the waiting produces (Kafka's delayed produce). A waiting
  batch fails with NotLeaderOrFollowerError if the leadership moves first
  (it may or may not survive: the producer retries, and idempotence makes
  the retry a duplicate where it did), with NotEnoughReplicasError if the
  ISR shrank below the minimum before the high watermark passed it
  (NOT_ENOUGH_REPLICAS_AFTER_APPEND), and with KafkaTimeoutError after
  ``replica_wait_timeout``.

Fetch (:meth:`read`): whole, CRC-checked batches from an offset up to the
high watermark (what is acknowledged); in a cluster, only at the leader.
:meth:`watch` registers a callback run with the logs whose high watermark
moved, which is how a Kafka fetch long-polls.

Replication, leader side (:meth:`replica_fetch`, Kafka's fetch from a
follower): the request names, per partition, the follower's fetch offset,
the epoch of its last batch and the leader epoch it believes current. An
older current epoch is FencedLeaderEpochError, a newer one
NotLeaderOrFollowerError (this broker has not caught up with the metadata
yet). If the follower's last epoch ended here before its fetch offset (or
is unknown here), the answer is the diverging epoch and where it ended
(KIP-320): the follower truncates there and fetches again. Otherwise the
fetch offset is the follower's durable end (it fetches on only after an
fsync): it updates the follower's state, may advance the high watermark
and may propose adding the follower to the ISR. A fetch that finds nothing
new waits (parked, no thread held) until an append or ``max_wait_ms``.

Replication, follower side: ``replica_fetcher`` fetches and appends; roles
come from the cluster's metadata image (:meth:`apply_metadata`).

A corrupt batch found by a read in a cluster: ``replica_repair`` (the
leadership goes to a healthy in-sync replica, the copy is fetched again).

ISR changes (Kafka's AlterPartition) are proposed through ``alter_isr`` (set
by the broker: it sends them to the controller) with the leader epoch and
partition epoch; a removal counts only once the controller committed it,
an addition at once (``Partition.maximal_isr``), so a leader cut off from
the controller cannot acknowledge alone.

What it must not know: wire formats and sockets (callers turn outcomes
into replies), the controller's protocol.

Thread-safety: thread-safe; callbacks run on the caller's thread, the
flusher's, a fetcher's, or the maintenance thread's.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable, Iterable

from ember.engine.clock import SYSTEM_CLOCK, Clock
from ember.engine.errors import (
    CorruptRecordError, EmberError, FencedLeaderEpochError, KafkaStorageError, KafkaTimeoutError,
    NotEnoughReplicasError, NotLeaderOrFollowerError, OffsetOutOfRangeError,
    UnknownTopicOrPartitionError,
)
from ember.ingest.log.log_manager import LogManager
from ember.ingest.log.partition_log import LogAppendInfo, PartitionLog
from ember.ingest.server import broker_faults
from ember.ingest.server.group_commit import GroupCommit
from ember.ingest.server.partition import FOLLOWER, LEADER, NONE, Partition
from ember.ingest.server.replica_repair import ReplicaRepair

log = logging.getLogger(__name__)

Outcome = "LogAppendInfo | EmberError"
CLUSTER_CONFIGS = ("min.insync.replicas", "unclean.leader.election.enable")


class _DelayedProduce:
    """An acks=all produce waiting for its partitions' high watermarks."""

    __slots__ = ("targets", "outcomes", "callback", "deadline", "pending")

    def __init__(self, targets, outcomes, callback, deadline):
        self.targets = targets  # [(outcome index, Partition, leader epoch, last offset)]
        self.outcomes = outcomes
        self.callback = callback
        self.deadline = deadline
        self.pending = len(targets)

    def check(self, now: float) -> bool:
        """Decide what can be decided; True once every target is."""
        for i, (index, partition, epoch, last) in enumerate(self.targets):
            if partition is None:
                continue
            error = None
            if partition.log.offline is not None:
                error = KafkaStorageError(f"{partition.log.name} is offline: "
                                          f"{partition.log.offline}")
            elif partition.role != LEADER or partition.leader_epoch != epoch:
                error = NotLeaderOrFollowerError(
                    f"{partition.log.name}: the leadership moved (epoch {epoch} -> "
                    f"{partition.leader_epoch}) before the batch was replicated; it may or "
                    f"may not be kept")
            elif partition.log.high_watermark > last:
                if len(partition.isr) < partition.min_insync:
                    error = NotEnoughReplicasError(
                        f"{partition.log.name}: the in-sync replicas {list(partition.isr)} fell "
                        f"below min.insync.replicas={partition.min_insync} before the batch "
                        f"was acknowledged (NOT_ENOUGH_REPLICAS_AFTER_APPEND)")
                else:
                    self.targets[i] = (index, None, epoch, last)
                    self.pending -= 1
                    continue
            elif now >= self.deadline:
                error = KafkaTimeoutError(
                    f"{partition.log.name}: the batch at offset {last} was not replicated to "
                    f"the in-sync replicas {list(partition.maximal_isr)} in time")
            if error is not None:
                self.outcomes[index] = error
                self.targets[i] = (index, None, epoch, last)
                self.pending -= 1
        return self.pending == 0


class _ParkedFetch:
    __slots__ = ("keys", "retry", "deadline")

    def __init__(self, keys, retry, deadline):
        self.keys, self.retry, self.deadline = keys, retry, deadline


class ReplicaManager:
    def __init__(self, logs: LogManager, group_commit: GroupCommit, *,
                 broker_id: int | None = None, clock: Clock = SYSTEM_CLOCK,
                 replica_lag_time_max: float = 10.0, replica_wait_timeout: float = 30.0):
        self.logs = logs
        self._group_commit = group_commit
        self._watchers: list[Callable[[set], None]] = []
        self._watch_lock = threading.Lock()
        group_commit.on_flushed = self._flushed
        self.broker_id = broker_id
        self._clock = clock
        self.replica_lag_time_max = replica_lag_time_max
        self.replica_wait_timeout = replica_wait_timeout
        self.partitions: dict[tuple[str, int], Partition] = {}
        self._by_log: dict[int, Partition] = {}
        self._lock = threading.RLock()  # the tables below and the partitions dict
        self._delayed: list[_DelayedProduce] = []
        self._parked: list[_ParkedFetch] = []
        # Set by the broker: alter_isr(partition, new_isr) sends an ISR change
        # to the controller; fetchers follows roles; on_leadership(topic,
        # partition, leads) tells the group coordinator.
        self.alter_isr: Callable[[Partition, list[int]], None] | None = None
        self.fetchers = None
        self.on_leadership: Callable[[str, int, bool], None] | None = None
        self.repair = ReplicaRepair(broker_id)

    @property
    def clustered(self) -> bool:
        return self.broker_id is not None

    # --- produce ------------------------------------------------------------------

    def append(self, entries: list[tuple[str, int, bytes]], acks: int,
               callback: Callable[[list, BaseException | None], None]) -> None:
        """Append each entry; ``callback(outcomes, error)`` once ``acks`` is
        satisfied: ``outcomes`` holds a LogAppendInfo or an EmberError per
        entry, ``error`` is set when the batches could not be made durable."""
        if self.clustered:
            self._append_replicated(entries, acks, callback)
            return
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

    def _append_replicated(self, entries, acks, callback) -> None:
        outcomes: list = []
        targets, touched, failed = [], {}, {}
        for topic, index, batch in entries:
            if (topic, index) in failed:
                outcomes.append(failed[topic, index])
                continue
            try:
                partition = self.leader_partition(topic, index)
                with partition.lock:
                    if partition.role != LEADER:
                        raise self._not_leader(partition)
                    if acks == -1 and len(partition.isr) < partition.min_insync:
                        raise NotEnoughReplicasError(
                            f"{partition.log.name}: {len(partition.isr)} in-sync replicas "
                            f"{list(partition.isr)}, fewer than min.insync.replicas="
                            f"{partition.min_insync}; nothing was appended")
                    info = partition.log.append(batch)
                    epoch = partition.leader_epoch
            except EmberError as error:
                failed[topic, index] = error
                outcomes.append(error)
                continue
            outcomes.append(info)
            targets.append((len(outcomes) - 1, partition, epoch, info.last_offset))
            if not info.duplicate:
                touched[partition.key] = partition
        if touched:
            self._group_commit.appended(p.log for p in touched.values())
            self._wake_fetches(set(touched))
        if acks != -1 or not targets:
            callback(outcomes, None)
            return
        delayed = _DelayedProduce(targets, outcomes, callback,
                                  self._clock.monotonic() + self.replica_wait_timeout)
        with self._lock:
            done = delayed.check(self._clock.monotonic())
            if not done:
                self._delayed.append(delayed)
        if done:
            callback(outcomes, None)

    def _check_delayed(self) -> None:
        now = self._clock.monotonic()
        with self._lock:
            if not self._delayed:
                return
            done = [d for d in self._delayed if d.check(now)]
            if done:
                self._delayed = [d for d in self._delayed if d.pending]
        for delayed in done:
            try:
                delayed.callback(delayed.outcomes, None)
            except Exception:  # noqa: BLE001 - one reply must not stop the others
                log.exception("error while answering a produce request")

    # --- fetch --------------------------------------------------------------------

    def read(self, topic: str, partition: int, offset: int, max_bytes: int) -> tuple[bytes, PartitionLog]:
        """Batches from ``offset`` (at most ``max_bytes`` unless the first
        batch is larger) below the high watermark, and the log they came
        from (for its offsets)."""
        partition_log = self.get_log(topic, partition)
        try:
            return partition_log.read(offset, max_bytes), partition_log
        except CorruptRecordError as error:
            if not self.clustered:
                raise
            answer = self._damaged(self.partitions[topic, partition], error)
            if answer is error:
                raise
            raise answer from error

    def get_log(self, topic: str, partition: int) -> PartitionLog:
        """The log a client may read or list offsets of: in a cluster, the
        leader's only."""
        if self.clustered:
            return self.leader_partition(topic, partition).log
        return self.logs.get_log(topic, partition)

    def watch(self, callback: Callable[[set], None]) -> Callable[[], None]:
        """Call ``callback(logs)`` after each flush round or replication step
        that advanced some high watermarks; returns the function that stops it."""
        with self._watch_lock:
            self._watchers.append(callback)

        def stop() -> None:
            with self._watch_lock:
                if callback in self._watchers:
                    self._watchers.remove(callback)
        return stop

    def _notify_watchers(self, logs: set) -> None:
        with self._watch_lock:
            watchers = list(self._watchers)
        for watcher in watchers:
            try:
                watcher(logs)
            except Exception:  # noqa: BLE001 - one watcher must not stop the flusher
                log.exception("error in a flush watcher")

    def _flushed(self, logs: Iterable[PartitionLog]) -> None:
        logs = set(logs)
        if self.clustered:
            moved = set()
            for partition_log in logs:
                partition = self._by_log.get(id(partition_log))
                if partition is not None and partition.role == LEADER:
                    with partition.lock:
                        if self._advance_high_watermark(partition):
                            moved.add(partition_log)
            self._check_delayed()
            logs = moved
        if logs:
            self._notify_watchers(logs)

    # --- the cluster: partitions and roles ----------------------------------------

    def _damaged(self, partition: Partition, error: CorruptRecordError) -> EmberError:
        """A read here found a corrupt batch (``replica_repair``): the error
        to answer with, once the leadership is on its way to a healthy replica."""
        with partition.lock:
            return self.repair.damaged(partition, error,
                                       self._propose_isr if self.alter_isr else None)

    def _not_leader(self, partition: Partition) -> NotLeaderOrFollowerError:
        error = NotLeaderOrFollowerError(
            f"{partition.log.name}: broker {self.broker_id} is not its leader (leader: "
            f"{partition.leader_id}, epoch {partition.leader_epoch})")
        error.leader_id = partition.leader_id
        return error

    def leader_partition(self, topic: str, index: int) -> Partition:
        partition = self.partitions.get((topic, index))
        if partition is None:
            try:
                self.logs.get_log(topic, index)  # UnknownTopicOrPartitionError names it
            except UnknownTopicOrPartitionError:
                if topic not in self.logs.topics() or not isinstance(index, int) or index < 0:
                    raise
                # A partition just added that this broker's image does not have
                # yet, though the client's metadata (from another broker) does:
                # the client refreshes and asks again, as after a leader change.
                error = NotLeaderOrFollowerError(
                    f"topic {topic!r} partition {index}: broker {self.broker_id} has not yet "
                    f"seen the partition (its metadata is behind)")
                error.leader_id = -1
                raise error from None
            error = NotLeaderOrFollowerError(f"topic {topic!r} partition {index}: broker "
                                             f"{self.broker_id} is not one of its replicas")
            error.leader_id = -1
            raise error
        if partition.role != LEADER:
            raise self._not_leader(partition)
        return partition

    def apply_metadata(self, image) -> None:
        """Take the roles ``image`` (a ``MetadataImage``) gives this broker:
        create and delete topics' logs, lead, follow or do neither."""
        now = self._clock.monotonic()
        wanted = {}
        for name, topic in image.topics.items():
            self._ensure_topic(name, len(topic.partitions), topic.config)
            wanted[name] = topic
        for name in self.logs.topics():
            if name not in wanted:
                self._drop_topic(name)
        brokers = image.brokers
        for name, topic in sorted(wanted.items()):
            min_insync = int(topic.config.get("min.insync.replicas", 1))
            for index, state in enumerate(topic.partitions):
                key = (name, index)
                if self.broker_id not in state.replicas:
                    partition = self.partitions.pop(key, None)
                    if partition is not None:
                        self._stop_partition(partition)
                    self._drop_stray_replica(name, index, partition)
                    continue
                partition = self.partitions.get(key)
                if partition is None:
                    partition_log = self.logs.get_log(name, index)
                    partition = Partition(name, index, partition_log, self.broker_id)
                    with self._lock:
                        self.partitions[key] = partition
                        self._by_log[id(partition_log)] = partition
                self._take_role(partition, state, min_insync, brokers, now)
        self._check_delayed()
        self._wake_fetches(None)

    def _take_role(self, partition: Partition, state, min_insync: int, brokers, now) -> None:
        leads_before = partition.role == LEADER
        with partition.lock:
            if state.leader == self.broker_id:
                new_term = partition.make_leader(state.leader_epoch, state.partition_epoch,
                                                 state.replicas, state.isr, min_insync, now)
                if new_term:
                    log.info("%s: leader in epoch %d from offset %d, ISR %s",
                             partition.log.name, state.leader_epoch,
                             partition.epoch_start_offset, list(state.isr))
                self._advance_high_watermark(partition)
                source = None
            elif state.leader >= 0:
                changed = partition.make_follower(state.leader, state.leader_epoch,
                                                  state.partition_epoch, state.replicas,
                                                  state.isr)
                partition.min_insync = min_insync
                if changed:
                    log.info("%s: follower of broker %d in epoch %d", partition.log.name,
                             state.leader, state.leader_epoch)
                    self.repair.before_following(partition)
                broker = brokers.get(state.leader)
                source = (state.leader, f"tcp://{broker.host}:{broker.port}") if broker else None
            else:
                partition.make_none()
                partition.leader_epoch = state.leader_epoch
                source = None
        if self.fetchers is not None:
            self.fetchers.follow(partition, source)
        leads = partition.role == LEADER
        if leads != leads_before and self.on_leadership is not None:
            self.on_leadership(partition.topic, partition.index, leads)

    def _stop_partition(self, partition: Partition) -> None:
        with partition.lock:
            was_leader = partition.role == LEADER
            partition.make_none()
        with self._lock:
            self._by_log.pop(id(partition.log), None)
        if self.fetchers is not None:
            self.fetchers.follow(partition, None)
        if was_leader and self.on_leadership is not None:
            self.on_leadership(partition.topic, partition.index, False)

    def _drop_stray_replica(self, topic: str, index: int, partition: Partition | None) -> None:
        """This broker is not (or no longer, after a reassignment) a replica
        of the partition: its records are no one's to serve or to elect, so
        they are freed (Kafka deletes a removed replica's log). Under the
        partition's lock, so a fetch answer still in flight finds the role
        gone rather than appending after the truncation."""
        plog = self.logs.get_log(topic, index)
        if plog.log_end_offset == 0 or plog.offline is not None:
            return
        if partition is None:
            partition = Partition(topic, index, plog, self.broker_id)
        with partition.lock:
            plog.truncate_fully(0)
        log.info("%s: not a replica here; its records were dropped", plog.name)

    def _ensure_topic(self, name: str, partitions: int, config: dict) -> None:
        overrides = {k: v for k, v in config.items() if k not in CLUSTER_CONFIGS}
        if name not in self.logs.topics():
            self.logs.create_topic(name, partitions, overrides)
        elif self.logs.describe_topic(name).partitions < partitions:
            self.logs.create_partitions(name, partitions)

    def _drop_topic(self, name: str) -> None:
        for key in [k for k in self.partitions if k[0] == name]:
            self._stop_partition(self.partitions.pop(key))
        try:
            self.logs.delete_topic(name)
        except UnknownTopicOrPartitionError:
            pass

    # --- the leader's side of replication -----------------------------------------

    def _advance_high_watermark(self, partition: Partition) -> bool:
        """Under ``partition.lock``: move the leader's high watermark to what
        the ISR holds; True when it moved."""
        if partition.role != LEADER or partition.log.offline is not None:
            return False
        hw = partition.compute_high_watermark()
        return hw >= 0 and partition.log.update_high_watermark(hw)

    def replica_fetch(self, replica_id: int, requests: list, max_bytes: int, max_wait_ms: int,
                      respond: Callable[[list, list], None]) -> None:
        """A follower's fetch: ``requests`` are ``(topic, partition,
        fetch_offset, last_fetched_epoch, current_leader_epoch)``;
        ``respond(results, payloads)`` gets, per partition, a dict (error,
        diverging epoch, or the leader's offsets) and its batches."""
        keys = {(t, p) for t, p, *_ in requests}
        deadline = self._clock.monotonic() + max_wait_ms / 1000
        ends = self._log_ends(keys)

        def attempt(final: bool) -> bool:
            results, payloads, moved = self._replica_read(replica_id, requests, max_bytes)
            if moved:
                self._check_delayed()
                self._notify_watchers(moved)
            if final or any(payloads) or any("hw" not in r for r in results):
                respond(results, payloads)
                return True
            return False

        if attempt(max_wait_ms <= 0):
            return
        parked = _ParkedFetch(keys, attempt, deadline)
        with self._lock:
            self._parked.append(parked)
        if self._log_ends(keys) != ends:
            self._wake_fetches(keys)  # an append between the read and the parking

    def _log_ends(self, keys) -> dict:
        return {k: p.log.log_end_offset for k in keys
                if (p := self.partitions.get(k)) is not None}

    def _replica_read(self, replica_id: int, requests: list, max_bytes: int):
        now = self._clock.monotonic()
        results, payloads, moved, budget = [], [], set(), max_bytes
        for topic, index, fetch_offset, last_epoch, current_epoch in requests:
            data = b""
            try:
                result = self._serve_follower(replica_id, topic, index, fetch_offset, last_epoch,
                                              current_epoch, now, moved)
                if "hw" in result and budget > 0 and not result.pop("stalled", False):
                    partition = self.partitions[topic, index]
                    data = partition.log.read(fetch_offset, budget, committed_only=False)
                    budget -= len(data)
            except CorruptRecordError as error:
                result = {"error": self._damaged(self.partitions[topic, index], error)}
            except EmberError as error:
                result = {"error": error}
            results.append(result)
            payloads.append(data)
        return results, payloads, moved

    def _serve_follower(self, replica_id, topic, index, fetch_offset, last_epoch, current_epoch,
                        now, moved) -> dict:
        partition = self.partitions.get((topic, index))
        if partition is None:
            self.logs.get_log(topic, index)
            raise NotLeaderOrFollowerError(f"topic {topic!r} partition {index}: broker "
                                           f"{self.broker_id} holds no replica of it")
        with partition.lock:
            name = partition.log.name
            if partition.role == LEADER and current_epoch < partition.leader_epoch:
                raise FencedLeaderEpochError(
                    f"{name}: a fetch in leader epoch {current_epoch}; the current one is "
                    f"{partition.leader_epoch}")
            if partition.role != LEADER or current_epoch != partition.leader_epoch:
                raise NotLeaderOrFollowerError(
                    f"{name}: broker {self.broker_id} does not lead epoch {current_epoch} "
                    f"(its role: {partition.role}, epoch {partition.leader_epoch})")
            if replica_id not in partition.replicas:
                raise NotLeaderOrFollowerError(f"{name}: broker {replica_id} is not a replica "
                                               f"({list(partition.replicas)})")
            plog = partition.log
            if fetch_offset < plog.log_start_offset or fetch_offset > plog.log_end_offset:
                if last_epoch >= 0 and fetch_offset > plog.log_end_offset:
                    # A longer log than the leader's: find where it diverged first.
                    epoch, end = plog.end_offset_for_epoch(last_epoch)
                    return {"diverging": [epoch, end if epoch >= 0 else plog.log_start_offset]}
                error = OffsetOutOfRangeError(
                    f"{name}: replica fetch at offset {fetch_offset}, the leader holds "
                    f"{plog.log_start_offset} to {plog.log_end_offset}")
                error.log_start_offset = plog.log_start_offset
                error.log_end_offset = plog.log_end_offset
                raise error
            if last_epoch >= 0 and fetch_offset > plog.log_start_offset:
                epoch, end = plog.end_offset_for_epoch(last_epoch)
                if epoch < 0:
                    return {"diverging": [-1, plog.log_start_offset]}
                if epoch != last_epoch or end < fetch_offset:
                    return {"diverging": [epoch, end]}
            if broker_faults.hit("replica_fetch.stall"):
                return {"hw": plog.high_watermark, "log_start": plog.log_start_offset,
                        "log_end": plog.log_end_offset, "stalled": True}
            partition.update_follower(replica_id, fetch_offset, now)
            if self._advance_high_watermark(partition):
                moved.add(plog)
            self._maybe_expand_isr(partition)
            return {"hw": plog.high_watermark, "log_start": plog.log_start_offset,
                    "log_end": plog.log_end_offset}

    def _wake_fetches(self, keys: set | None) -> None:
        """New data in ``keys`` (None: anything may have changed): answer the
        parked fetches on them."""
        with self._lock:
            if not self._parked:
                return
            woken = [f for f in self._parked if keys is None or f.keys & keys]
            if not woken:
                return
            self._parked = [f for f in self._parked if f not in woken]
        still = []
        for fetch in woken:
            if not fetch.retry(self._clock.monotonic() >= fetch.deadline):
                still.append(fetch)
        if still:
            with self._lock:
                self._parked.extend(still)

    def tick(self) -> None:
        """From the maintenance thread: expire parked fetches and waiting
        produces, and propose ISR shrinks for followers that fell behind."""
        if not self.clustered:
            return
        now = self._clock.monotonic()
        with self._lock:
            expired = [f for f in self._parked if now >= f.deadline]
            self._parked = [f for f in self._parked if now < f.deadline]
            partitions = list(self.partitions.values())
        for fetch in expired:
            try:
                fetch.retry(True)
            except Exception:  # noqa: BLE001 - a dead peer must not stop maintenance
                log.exception("error while answering a replica fetch")
        for partition in partitions:
            if partition.role != LEADER:
                continue
            with partition.lock:
                self._maybe_shrink_isr(partition, now)
        self._check_delayed()

    def _maybe_expand_isr(self, partition: Partition) -> None:
        if partition.pending_isr is not None or self.alter_isr is None:
            return
        joining = partition.isr_to_expand()
        if joining:
            self._propose_isr(partition, sorted(set(partition.isr) | set(joining)))

    def _maybe_shrink_isr(self, partition: Partition, now: float) -> None:
        if self.alter_isr is None:
            return
        if partition.pending_isr is not None:
            if now - partition.pending_since > 5.0:
                partition.pending_isr = None  # the controller never answered: ask again
            return
        lagging = partition.isr_to_shrink(now, self.replica_lag_time_max)
        if lagging:
            log.info("%s: followers %s have not caught up for %.1f s; shrinking the ISR",
                     partition.log.name, lagging, self.replica_lag_time_max)
            self._propose_isr(partition, [b for b in partition.isr if b not in lagging])

    def _propose_isr(self, partition: Partition, isr: list[int]) -> None:
        partition.pending_isr = tuple(isr)
        partition.pending_since = self._clock.monotonic()
        self.alter_isr(partition, list(isr))

    def isr_change_failed(self, partition: Partition, proposed: tuple) -> None:
        """The controller refused (or never answered) an ISR change: forget
        it; the next metadata or fetch proposes again if still needed."""
        with partition.lock:
            if partition.pending_isr == proposed:
                partition.pending_isr = None
            self._advance_high_watermark(partition)
        self._check_delayed()

    def isr_changed(self, partition: Partition, proposed: tuple, reply: dict) -> None:
        """The controller committed an ISR change: take it now rather than
        when the metadata arrives."""
        moved = False
        with partition.lock:
            if (partition.role == LEADER and partition.leader_epoch == reply["leader_epoch"]
                    and reply["partition_epoch"] > partition.partition_epoch):
                partition.isr = tuple(reply["isr"])
                partition.partition_epoch = reply["partition_epoch"]
            if partition.pending_isr == proposed:
                if reply["leader"] != self.broker_id:
                    # The change also moved the leadership (a reassignment that
                    # removes this broker completed): until the image takes the
                    # leadership away, its maximal ISR keeps the new leader, so
                    # it cannot acknowledge a record the new leader lacks (the
                    # new leader no longer fetches: the high watermark stops).
                    # Kept past the usual expiry, as Kafka keeps a pending ISR
                    # until the metadata resolves it.
                    partition.pending_since = float("inf")
                else:
                    partition.pending_isr = None
            moved = self._advance_high_watermark(partition)
        self._check_delayed()
        if moved:
            self._notify_watchers({partition.log})

    def describe(self) -> dict:
        """Per partition held here: role, leader, epochs, replicas, ISR,
        offsets and (as leader) each follower's lag."""
        with self._lock:
            partitions = list(self.partitions.values())
        out = {}
        for partition in partitions:
            with partition.lock:
                try:
                    out[f"{partition.topic}-{partition.index}"] = partition.describe()
                except EmberError as error:
                    out[f"{partition.topic}-{partition.index}"] = {"error": str(error)}
        return out


__all__ = ["ReplicaManager", "LEADER", "FOLLOWER", "NONE", "LogAppendInfo"]
