"""Consumer: kafka-python's ``KafkaConsumer`` vocabulary over ember's broker.

Two ways to get partitions, never both: ``subscribe(topics)`` (with a
``group_id``, the group coordinator shares the topics' partitions among the
group's members and rebalances when one joins, leaves or stops
heartbeating; without one, as in kafka-python, the consumer takes every
partition of those topics itself, again when the topics' partitions change,
and commits nothing: ``commit()`` and ``committed()`` raise
GroupIdRequiredError), or ``assign(partitions)`` (no group membership; a
``group_id`` is then only where offsets are committed).

Positions: a partition's position is the offset of the next record
``poll`` returns. It starts at the group's committed offset, or else by
``auto_offset_reset`` ("earliest": the log start; "latest": the high
watermark; "none": OffsetOutOfRangeError). A position that falls out of the
log (retention removed it) is reset the same way, with a warning, unless the
user put it there with ``seek``: a read below the log start then raises
OffsetOutOfRangeError naming topic, partition and offsets. Consumers read
only durable records (below the high watermark).

Commits: ``commit()`` stores the current positions (or the offsets given) as
the group's committed offsets. With ``enable_auto_commit`` (the default, as
kafka-python) positions are committed every ``auto_commit_interval_ms``
during ``poll``, before giving partitions up in a rebalance, and at
``close``: what a poll returned is committed by a later poll, so a consumer
that dies before that redelivers it to the next owner (at-least-once). A
commit from a member the group has moved past raises CommitFailedError.

Group membership: a heartbeat thread keeps the member's session alive while
the user processes records; it learns of rebalances, which the next ``poll``
carries out: commit (auto-commit), give up every partition
(``on_partitions_revoked``), join again, take the new assignment
(``on_partitions_assigned``). A member that has not had a heartbeat
acknowledged for ``session_timeout_ms`` stops using its partitions by
itself: the coordinator cannot have given them away any earlier.

Leaders and coordinators (``cluster_client``): fetches and offset lookups
go to each partition's leader, group requests to the group's coordinator.
A fetch that fails because the leader moved or went away is retried at
the next poll from the same position, after a metadata refresh; a group
request follows its coordinator (a coordinator that moved no longer knows
the member, so it joins again). Committed offsets live with the
coordinator, replicated, so they survive the loss of a broker.

Thread-safety: like kafka-python's, not thread-safe: one thread uses a
consumer (its heartbeat thread is internal).
"""

from __future__ import annotations

import collections
import logging
import re
import threading
import time
from typing import Any, Iterable

from ember.engine.errors import (
    BrokerUnavailableError, CommitFailedError, GroupIdRequiredError, KafkaTimeoutError,
    OffsetOutOfRangeError, UnknownTopicOrPartitionError,
)
from ember.ingest.client.cluster_client import RETRIABLE, ClusterClient
from ember.ingest.client.producer import check_configs
from ember.ingest.log.record_batch import iter_records
from ember.ingest.secret_file import coerce_secret
from ember.ingest.client.store import _known_topics, list_offsets, normalize_address
from ember.ingest.structs import ConsumerRecord, OffsetAndMetadata, TopicPartition

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "group_id": None,
    "client_id": None,
    "key_deserializer": None,
    "value_deserializer": None,
    "auto_offset_reset": "latest",
    "enable_auto_commit": True,
    "auto_commit_interval_ms": 5000,
    "max_poll_records": 500,
    "max_poll_interval_ms": 300000,
    "max_partition_fetch_bytes": 1048576,
    "fetch_max_wait_ms": 500,
    "session_timeout_ms": 10000,
    "heartbeat_interval_ms": 3000,
    "request_timeout_ms": 30000,
    "retry_backoff_ms": 100,
    "consumer_timeout_ms": float("inf"),
    "connect_timeout_ms": 10000,
    "metadata_max_age_ms": 300000,
}
_RESETS = {"earliest": -2, "smallest": -2, "latest": -1, "largest": -1, "none": None}
_IDLE_FETCH_BACKOFF = 0.02  # between empty fetches, when the log has nothing new


class _Membership:
    """This consumer's membership of its group, and the heartbeat thread."""

    def __init__(self, client: ClusterClient, group_id: str, config: dict):
        self._client = client
        self.group_id = group_id
        self.member_id = ""
        self.generation = -1
        self._session = config["session_timeout_ms"] / 1000
        self._interval = config["heartbeat_interval_ms"] / 1000
        self._timeouts = {"session_timeout_ms": config["session_timeout_ms"],
                          "rebalance_timeout_ms": config["max_poll_interval_ms"]}
        self._backoff = config["retry_backoff_ms"] / 1000
        self._request_timeout = config["request_timeout_ms"] / 1000
        self._lock = threading.Lock()
        self._rejoin = True
        self._last_ok: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def needs_rejoin(self) -> bool:
        with self._lock:
            return self._rejoin or self.expired()

    def expired(self) -> bool:
        """No heartbeat acknowledged for a whole session: the coordinator may
        already have removed this member, so its partitions are not its own."""
        return self._last_ok is None or time.monotonic() - self._last_ok > self._session

    def join(self, topics: list[str], deadline: float) -> list[TopicPartition] | None:
        """Join (or rejoin) the group; the assignment, or None if the group is
        still rebalancing at ``deadline`` (call again)."""
        while True:
            sent = time.monotonic()
            reply, _ = self.request("join_group", {
                "group": self.group_id, "member_id": self.member_id, "topics": topics,
                **self._timeouts}, max(deadline, sent + self._request_timeout))
            status = reply["status"]
            with self._lock:
                if status == "unknown_member":
                    self.member_id, self.generation = "", -1
                    continue
                self.member_id = reply["member_id"]
                if status == "stable":
                    self.generation = reply["generation"]
                    self._rejoin, self._last_ok = False, sent
                    self._start_heartbeats()
                    return [TopicPartition(t, p) for t, p in reply["assignment"]]
            if time.monotonic() + self._backoff > deadline:
                return None
            time.sleep(min(self._backoff, 0.05))

    def _start_heartbeats(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._beat, name="ember-consumer-heartbeat",
                                            daemon=True)
            self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self._interval):
            with self._lock:
                member_id, generation = self.member_id, self.generation
            if not member_id:
                continue
            sent = time.monotonic()
            try:
                reply, _ = self.request(
                    "heartbeat", {"group": self.group_id, "member_id": member_id,
                                  "generation": generation}, sent + max(self._interval, 1.0))
            except RETRIABLE as error:
                log.debug("heartbeat of %s failed: %s", member_id, error)
                continue
            with self._lock:
                if (self.member_id, self.generation) != (member_id, generation):
                    continue  # a join moved on meanwhile
                status = reply.get("status")
                if status == "ok":
                    self._last_ok = sent
                else:
                    self._rejoin = True
                    if status == "unknown_member":
                        self.member_id, self.generation = "", -1

    def request(self, op: str, fields: dict, deadline: float) -> tuple[dict, list]:
        """``op`` at the group's coordinator, following it until ``deadline``."""
        return self._client.call_coordinator(self.group_id, op, fields, deadline=deadline)

    def commit_fields(self) -> dict:
        with self._lock:
            return {"member_id": self.member_id, "generation": self.generation}

    def leave(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self.member_id:
            try:
                self.request("leave_group", {"group": self.group_id,
                                             "member_id": self.member_id},
                             time.monotonic() + timeout)
            except RETRIABLE as error:
                log.debug("could not leave group %r cleanly: %s", self.group_id, error)
        self.member_id, self.generation, self._rejoin = "", -1, True


class Consumer:
    def __init__(self, *topics: str, bootstrap_servers: str, secret: bytes | str | None = None,
                 secret_file: str | None = None, **configs):
        self.config = config = check_configs(configs, DEFAULTS, "consumer")
        if config["auto_offset_reset"] not in _RESETS:
            from ember.engine.errors import ConfigError
            raise ConfigError(f"auto_offset_reset={config['auto_offset_reset']!r}: expected "
                              f"'earliest', 'latest' or 'none'")
        self._reset = _RESETS[config["auto_offset_reset"]]
        self._group_id: str | None = config["group_id"]
        self._request_timeout = config["request_timeout_ms"] / 1000
        self._client = ClusterClient(
            normalize_address(bootstrap_servers), coerce_secret(secret, secret_file),
            connect_timeout=config["connect_timeout_ms"] / 1000,
            request_timeout=self._request_timeout,
            retry_backoff=config["retry_backoff_ms"] / 1000, name="ember-consumer")
        self._subscription: list[str] | None = None
        self._manual = False
        self._listener = None
        self._assignment: list[TopicPartition] = []
        self._positions: dict[TopicPartition, int] = {}
        self._seeked: set[TopicPartition] = set()
        self._failing: set[TopicPartition] = set()  # fetches failing since their warning
        self._buffer: dict[TopicPartition, collections.deque] = {}
        self._membership = (_Membership(self._client, self._group_id, config)
                            if self._group_id else None)
        self._next_auto_commit = time.monotonic() + config["auto_commit_interval_ms"] / 1000
        self._next_metadata = 0.0  # group-less subscription: when to list the partitions again
        self._closed = False
        if topics:
            self.subscribe(list(topics))

    def __repr__(self) -> str:
        return f"Consumer({','.join(self._client.bootstrap)}, group_id={self._group_id!r})"

    # --- what to read ---------------------------------------------------------------

    def subscribe(self, topics: Iterable[str] = (), pattern: str | None = None,
                  listener: Any = None) -> None:
        """Read ``topics`` (or every topic matching ``pattern`` now) as a member
        of the consumer group. ``listener``: an object with
        ``on_partitions_revoked(set)`` and ``on_partitions_assigned(set)``."""
        if self._manual:
            raise RuntimeError("subscribe() after assign(): a consumer either subscribes to "
                               "topics or assigns itself partitions, not both (unsubscribe first)")
        if isinstance(topics, str):
            topics = [topics]
        topics = list(topics)
        if pattern is not None:
            regex = re.compile(pattern)
            topics += [t for t in self.topics() if regex.fullmatch(t)]
        if not topics:
            raise ValueError("subscribe() needs topics or a pattern")
        self._subscription = sorted(set(topics))
        self._listener = listener
        if self._membership is None:  # no group: every partition, taken at the next poll
            self._next_metadata = 0.0
            return
        with self._membership._lock:
            self._membership._rejoin = True

    def subscription(self) -> set[str] | None:
        return set(self._subscription) if self._subscription is not None else None

    def assign(self, partitions: Iterable[TopicPartition]) -> None:
        """Read exactly these partitions, without group membership."""
        if self._subscription is not None:
            raise RuntimeError("assign() after subscribe(): a consumer either subscribes to "
                               "topics or assigns itself partitions, not both (unsubscribe first)")
        partitions = [TopicPartition(*tp) for tp in partitions]
        self._check_partitions(partitions)
        self._manual = True
        self._set_assignment(partitions)

    def assignment(self) -> set[TopicPartition]:
        return set(self._assignment)

    def unsubscribe(self) -> None:
        if self._subscription is not None and self._membership is not None:
            self._revoke(commit=True)
            self._membership.leave()
        self._subscription, self._manual = None, False
        self._set_assignment([])

    def topics(self) -> set[str]:
        return set(self._client.metadata(None)["topics"])

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        reply = self._client.metadata([topic])
        info = reply["topics"].get(topic)
        return set(range(info["partitions"])) if info else None

    def _check_partitions(self, partitions: list[TopicPartition]) -> None:
        metadata = _known_topics(self._client.metadata(sorted({tp.topic for tp in partitions})))
        for tp in partitions:
            count = metadata[tp.topic]["partitions"]
            if isinstance(tp.partition, bool) or not isinstance(tp.partition, int) or \
                    not 0 <= tp.partition < count:
                raise UnknownTopicOrPartitionError(
                    f"topic {tp.topic!r} has partitions 0 to {count - 1}; there is no "
                    f"partition {tp.partition!r}")

    def _set_assignment(self, partitions: list[TopicPartition]) -> None:
        self._assignment = list(partitions)
        keep = set(partitions)
        for table in (self._positions, self._buffer):
            for tp in [tp for tp in table if tp not in keep]:
                del table[tp]
        self._seeked &= keep

    # --- positions ------------------------------------------------------------------

    def _check_assigned(self, tp: TopicPartition) -> TopicPartition:
        tp = TopicPartition(*tp)
        if tp not in self._assignment:
            raise ValueError(f"{tp} is not assigned to this consumer (assigned: "
                             f"{sorted(self._assignment)})")
        return tp

    def seek(self, partition: TopicPartition, offset: int) -> None:
        """Make ``offset`` the next offset ``poll`` returns for ``partition``."""
        tp = self._check_assigned(partition)
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            error = OffsetOutOfRangeError(f"seek to offset {offset!r} of topic {tp.topic!r} "
                                          f"partition {tp.partition}: offsets are whole numbers >= 0")
            error.topic, error.partition, error.offset = tp.topic, tp.partition, offset
            raise error
        self._positions[tp] = offset
        self._buffer.pop(tp, None)
        self._seeked.add(tp)

    def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        self._seek_to(partitions, -2)

    def seek_to_end(self, *partitions: TopicPartition) -> None:
        self._seek_to(partitions, -1)

    def _seek_to(self, partitions, spec: int) -> None:
        tps = [self._check_assigned(tp) for tp in partitions] or list(self._assignment)
        for tp, offset in zip(tps, self._list_offsets(tps, spec)):
            self._positions[tp] = offset
            self._buffer.pop(tp, None)
            self._seeked.discard(tp)

    def position(self, partition: TopicPartition) -> int:
        tp = self._check_assigned(partition)
        if tp not in self._positions:
            self._initialize_positions([tp])
        return self._positions[tp]

    def beginning_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        partitions = [TopicPartition(*tp) for tp in partitions]
        return dict(zip(partitions, self._list_offsets(partitions, -2)))

    def end_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        """The high watermark of each partition: one past the last durable record."""
        partitions = [TopicPartition(*tp) for tp in partitions]
        return dict(zip(partitions, self._list_offsets(partitions, -1)))

    def _list_offsets(self, partitions: list[TopicPartition], spec: int) -> list[int]:
        if not partitions:
            return []
        return list_offsets(self._client, [[tp.topic, tp.partition, spec] for tp in partitions],
                            self._request_timeout)

    def _initialize_positions(self, partitions: list[TopicPartition]) -> None:
        committed = self._committed(partitions) if self._group_id else [None] * len(partitions)
        missing = []
        for tp, offset in zip(partitions, committed):
            if offset is not None:
                self._positions[tp] = offset
            else:
                missing.append(tp)
        if missing:
            if self._reset is None:
                tp = missing[0]
                error = OffsetOutOfRangeError(
                    f"no committed offset for topic {tp.topic!r} partition {tp.partition} "
                    f"and auto_offset_reset='none'; seek() to an offset first")
                error.topic, error.partition = tp.topic, tp.partition
                raise error
            for tp, offset in zip(missing, self._list_offsets(missing, self._reset)):
                self._positions[tp] = offset

    # --- offsets of the group -------------------------------------------------------

    def committed(self, partition: TopicPartition) -> int | None:
        """The group's committed offset for ``partition``, or None."""
        if not self._group_id:
            raise GroupIdRequiredError("committed() requires a group_id: a consumer without one "
                                       "has no committed offsets")
        return self._committed([TopicPartition(*partition)])[0]

    def _committed(self, partitions: list[TopicPartition]) -> list[int | None]:
        reply, _ = self._client.call_coordinator(self._group_id, "fetch_committed", {
            "group": self._group_id, "partitions": [list(tp) for tp in partitions]},
            deadline=time.monotonic() + self._request_timeout)
        return [None if offset < 0 else offset for offset in reply["offsets"]]

    def commit(self, offsets: dict | None = None) -> None:
        """Commit ``offsets`` ({TopicPartition: offset or OffsetAndMetadata}),
        by default the current positions. CommitFailedError if the group has
        moved on (a rebalance gave the partitions to another member)."""
        if not self._group_id:
            raise GroupIdRequiredError("commit() requires a group_id: a consumer without one "
                                       "commits nothing (its positions live only in it)")
        if offsets is None:
            offsets = {tp: self._positions[tp] for tp in self._assignment if tp in self._positions}
        entries = []
        for tp, offset in offsets.items():
            if isinstance(offset, OffsetAndMetadata):
                offset = offset.offset
            entries.append([tp[0], tp[1], offset])
        if not entries:
            return
        fields = (self._membership.commit_fields() if self._subscription is not None
                  else {"member_id": "", "generation": -1})
        self._client.call_coordinator(self._group_id, "commit_offsets", {
            "group": self._group_id, "offsets": entries, **fields},
            deadline=time.monotonic() + self._request_timeout)

    def _maybe_auto_commit(self) -> None:
        if self._group_id and self.config["enable_auto_commit"] and \
                time.monotonic() >= self._next_auto_commit:
            self._next_auto_commit = time.monotonic() + \
                self.config["auto_commit_interval_ms"] / 1000
            self._commit_quietly()

    def _commit_quietly(self) -> None:
        try:
            self.commit()
        except (CommitFailedError, KafkaTimeoutError, BrokerUnavailableError) as error:
            log.warning("auto-commit failed: %s", error)

    # --- group membership -----------------------------------------------------------

    def _revoke(self, commit: bool) -> None:
        """Give up every partition (after committing, if auto-commit is on)."""
        if commit and self.config["enable_auto_commit"] and self._assignment:
            self._commit_quietly()
        revoked = set(self._assignment)
        self._set_assignment([])
        if revoked and self._listener is not None:
            self._listener.on_partitions_revoked(revoked)

    def _ensure_assignment(self, deadline: float) -> bool:
        """Group mode: carry out a pending rebalance. True once assigned."""
        membership = self._membership
        if self._subscription is not None and membership is None:
            self._take_all_partitions()
            return True
        if self._subscription is None or not membership.needs_rejoin():
            return True
        if self._assignment:
            self._revoke(commit=not membership.expired())
        assignment = membership.join(self._subscription, deadline)
        if assignment is None:
            return False
        self._set_assignment(assignment)
        if self._listener is not None:
            self._listener.on_partitions_assigned(set(assignment))
        return True

    def _take_all_partitions(self) -> None:
        """Group-less subscription: every partition of the subscribed topics
        that exist, listed again every ``metadata_max_age_ms`` (sooner while
        a subscribed topic is missing) so new partitions and topics join."""
        now = time.monotonic()
        if now < self._next_metadata:
            return
        topics = self._client.metadata(list(self._subscription))["topics"]
        wanted = [TopicPartition(topic, partition) for topic in self._subscription
                  if topic in topics for partition in range(topics[topic]["partitions"])]
        missing = any(topic not in topics for topic in self._subscription)
        self._next_metadata = now + (1.0 if missing else self.config["metadata_max_age_ms"] / 1000)
        if set(wanted) != set(self._assignment):
            kept = [tp for tp in self._assignment if tp in set(wanted)]
            self._set_assignment(kept + [tp for tp in wanted if tp not in set(kept)])

    # --- reading --------------------------------------------------------------------

    def poll(self, timeout_ms: int = 0, max_records: int | None = None,
             update_offsets: bool = True) -> dict[TopicPartition, list[ConsumerRecord]]:
        """Records from the assigned partitions: ``{TopicPartition: [ConsumerRecord]}``,
        at most ``max_records`` (default ``max_poll_records``), waiting up to
        ``timeout_ms`` for some to arrive."""
        if self._closed:
            raise RuntimeError("this consumer is closed")
        if self._subscription is None and not self._manual:
            raise RuntimeError("poll() before subscribe() or assign(): nothing to read")
        limit = max_records or self.config["max_poll_records"]
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            self._maybe_auto_commit()
            if self._ensure_assignment(deadline):
                if not self._buffered():
                    self._fetch()
                if self._buffered():
                    if self._membership is not None and self._subscription is not None and \
                            self._membership.expired():
                        continue  # lost the session while fetching: the records are not ours
                    return self._drain(limit, update_offsets)
            left = deadline - time.monotonic()
            if left <= 0:
                return {}
            time.sleep(min(left, _IDLE_FETCH_BACKOFF))

    def _buffered(self) -> bool:
        return any(self._buffer.get(tp) for tp in self._assignment)

    def _drain(self, limit: int, update_offsets: bool) -> dict:
        out: dict[TopicPartition, list[ConsumerRecord]] = {}
        for tp in self._assignment:
            queue = self._buffer.get(tp)
            while queue and limit:
                record = queue.popleft()
                out.setdefault(tp, []).append(record)
                limit -= 1
                if update_offsets:
                    self._positions[tp] = record.offset + 1
        # Start the next poll with other partitions first (fairness).
        if out and len(self._assignment) > 1:
            self._assignment.append(self._assignment.pop(0))
        return out

    def _fetch(self) -> None:
        todo = [tp for tp in self._assignment if tp not in self._positions]
        if todo:
            self._initialize_positions(todo)
        calls = []
        for tp in self._assignment:
            try:
                conn = self._client.leader(tp.topic, tp.partition)
                calls.append((tp, conn, conn.call("fetch", {
                    "topic": tp.topic, "partition": tp.partition, "offset": self._positions[tp],
                    "max_bytes": self.config["max_partition_fetch_bytes"]})))
            except RETRIABLE as error:
                self._fetch_failed(tp, error)
        for tp, conn, call in calls:
            try:
                _, frames = conn.wait(call)
            except OffsetOutOfRangeError as error:
                self._out_of_range(tp, error)
                continue
            except RETRIABLE as error:
                self._fetch_failed(tp, error)
                continue
            self._failing.discard(tp)
            if tp not in self._positions:
                continue  # seek or reassignment meanwhile
            position = self._positions[tp]
            records = [self._record(tp, r) for r in iter_records(frames[0] if frames else b"")
                       if r.offset >= position]
            if records:
                self._buffer[tp] = collections.deque(records)

    def _fetch_failed(self, tp: TopicPartition, error: BaseException) -> None:
        """A fetch that the next poll retries (after a metadata refresh):
        one warning per partition until a fetch of it succeeds again."""
        if tp not in self._failing:
            self._failing.add(tp)
            log.warning("fetch of %s failed, retrying: %s", tp, error)  # as kafka-python
        else:
            log.debug("fetch of %s failed again: %s", tp, error)
        self._client.invalidate(tp.topic)

    def _out_of_range(self, tp: TopicPartition, error: OffsetOutOfRangeError) -> None:
        if tp in self._seeked or self._reset is None:
            raise error
        log.warning("%s; resetting to the %s offset (auto_offset_reset)", error,
                    "earliest" if self._reset == -2 else "latest")
        self._positions[tp] = self._list_offsets([tp], self._reset)[0]

    def _record(self, tp: TopicPartition, record) -> ConsumerRecord:
        key, value = record.key, record.value
        try:
            if key is not None and self.config["key_deserializer"] is not None:
                key = self.config["key_deserializer"](key)
            if value is not None and self.config["value_deserializer"] is not None:
                value = self.config["value_deserializer"](value)
        except Exception as error:
            error.add_note(f"while deserializing the record at offset {record.offset} of topic "
                           f"{tp.topic!r} partition {tp.partition}")
            raise
        return ConsumerRecord(tp.topic, tp.partition, record.offset, record.timestamp, 0,
                              key, value, list(record.headers),
                              -1 if record.key is None else len(record.key),
                              -1 if record.value is None else len(record.value))

    def __iter__(self) -> "Consumer":
        return self

    def __next__(self) -> ConsumerRecord:
        timeout = self.config["consumer_timeout_ms"]
        deadline = time.monotonic() + timeout / 1000 if timeout != float("inf") else None
        while True:
            left = 1000 if deadline is None else max(0, (deadline - time.monotonic()) * 1000)
            batch = self.poll(timeout_ms=min(left, 1000), max_records=1)
            for records in batch.values():
                return records[0]
            if deadline is not None and time.monotonic() >= deadline:
                raise StopIteration

    # --- lifecycle ------------------------------------------------------------------

    def close(self, autocommit: bool = True, timeout: float | None = None) -> None:
        """Commit (with auto-commit on), give up the partitions (the listener's
        ``on_partitions_revoked``), leave the group, close the connection; each
        request waits at most ``timeout`` s (default: request_timeout_ms)."""
        if self._closed:
            return
        self._closed = True
        if timeout is not None:
            self._client.request_timeout = max(timeout, 0.001)
            self._request_timeout = self._client.request_timeout
        try:
            if self._membership is not None:
                if self._subscription is not None:
                    self._revoke(commit=autocommit)
                elif autocommit and self.config["enable_auto_commit"] and self._assignment:
                    self._commit_quietly()
                self._membership.leave(self._request_timeout)
        except (KafkaTimeoutError, BrokerUnavailableError) as error:
            log.debug("closing %r: %s", self, error)
        finally:
            self._client.close()

    def __enter__(self) -> "Consumer":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

