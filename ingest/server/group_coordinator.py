"""GroupCoordinator: consumer groups, their members and their committed offsets.

Membership (eager rebalancing, as Kafka's classic protocol). A group is
``empty``, ``rebalancing`` or ``stable``, and has a generation number.

* A member joins (``join``) with the topics it subscribes to and gets a
  member id. A join by a new member, a member's leave, a member's session
  expiring (no request from it for ``session_timeout_ms``) or a change of
  subscription starts a rebalance.
* During a rebalance every member must join again; members learn of it from
  their heartbeats. A consumer gives up its partitions *before* it joins
  again, so the rebalance completes only once every member has given up what
  it owned, or has been removed: a member that does not join again within
  its ``rebalance_timeout_ms``, or stops heartbeating, is removed (and such
  a member stops using its partitions by itself once its own session time
  has passed without a successful heartbeat, which is never later than the
  coordinator removes it).
* Completion bumps the generation and assigns partitions with Kafka's range
  assignor (per topic, contiguous ranges over the members sorted by id). So
  two members never own one partition at once.
* The partition counts of the subscribed topics are noted at completion; a
  count that changes (partitions added, a subscribed topic created) starts a
  rebalance at the next ``tick``, so the new partitions are assigned (as
  Kafka's consumers rejoin when their metadata shows a subscribed topic's
  partition count changed).

Members speaking Kafka's protocol (``kafka_join``/``kafka_sync``, called by
the Kafka listener) and ember's own share these groups: one group, one
generation, one assignment, one offset store. Kafka's classic protocol lets
the group's leader member compute the assignment: when a rebalance
completes and the group has a Kafka member, one of them is the leader
(state ``completing``): its JoinGroup response lists every member with its
subscription (an ember member's is synthesised from its topics), and its
SyncGroup carries everyone's assignment, which the listener decodes for
ember members and for the commit checks. A group of ember members only is
assigned here (range). The protocol (assignor) is the first of the leader's
that every member supports; ember members support the eager "range" and
"roundrobin". Kafka members wait in JoinGroup until the rebalance completes
and in SyncGroup until the leader's assignment arrives (callbacks, so no
thread waits); a new member of a rebalance that completes without it is
answered then.

Offsets: a commit is accepted only from a current member of the current
generation, for partitions assigned to it (during a rebalance, the
generation being replaced still counts, so members commit before they give
up their partitions); generation -1 commits are for consumers that
``assign()`` partitions themselves and are accepted only while the group has
no members. Anything else is a :class:`CommitFailedError`. A committed offset
never moves backwards: the store keeps the larger of the old and the new.

On-disk format, in the log directory::

    consumer-offsets.json   {"version": 1, "groups": {G: [[topic, partition, offset], ...]}}

replaced atomically (``engine.io.fileio``: tmp, fsync, rename, fsync dir)
before a commit is acknowledged, so after a crash it holds the old or the
new offsets, never a mix. Membership is not persisted: after a broker
restart every consumer joins again (with a new member id).

In a cluster the offsets are kept by a ``ReplicatedOffsetStore``
(``group_metadata_manager``: the replicated ``__consumer_offsets`` topic)
instead of the file, and this coordinator serves only the groups whose
offsets partition this broker leads: anything else is NotCoordinatorError
(``{"status": "not_coordinator"}`` for a heartbeat, NOT_COORDINATOR for a
Kafka member). A commit is appended under the lock and waits for its
replication outside it. :meth:`forget` drops the groups of a partition led
elsewhere now: their members join the new coordinator.

What it must not know: sockets and the wire (the broker calls it with
checked arguments and turns its results into replies).

Thread-safety: thread-safe (one lock; a commit holds it while its file is written).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
from typing import Callable

from ember.engine.clock import SYSTEM_CLOCK, Clock
from ember.engine.errors import (
    CommitFailedError, KafkaStorageError, OffsetOutOfRangeError, UnknownTopicOrPartitionError,
)
from ember.engine.io.fileio import atomic_writer
from ember.ingest.server import broker_faults

log = logging.getLogger(__name__)

OFFSETS_FILE = "consumer-offsets.json"
_OFFSETS_VERSION = 1
EMPTY, REBALANCING, COMPLETING, STABLE = "empty", "rebalancing", "completing", "stable"
KAFKA_STATES = {EMPTY: "Empty", REBALANCING: "PreparingRebalance",
                COMPLETING: "CompletingRebalance", STABLE: "Stable"}
EMBER_PROTOCOLS = ("range", "roundrobin")  # the assignors an ember member accepts (eager)


class OffsetStore:
    """Committed offsets of every group, mirrored in one atomically replaced file."""

    def __init__(self, directory: str):
        self.path = os.path.join(directory, OFFSETS_FILE)
        self._offsets: dict[str, dict[tuple[str, int], int]] = self._load()

    def _load(self) -> dict[str, dict[tuple[str, int], int]]:
        try:
            with open(self.path, "rb") as handle:
                doc = json.loads(handle.read())
            if doc["version"] != _OFFSETS_VERSION:
                raise ValueError(f"version {doc['version']}, expected {_OFFSETS_VERSION}")
            return {str(group): {(str(t), int(p)): int(o) for t, p, o in entries}
                    for group, entries in doc["groups"].items()}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError) as error:
            # Written atomically, so this is not a torn write: refuse to guess.
            raise KafkaStorageError(f"unreadable committed offsets {self.path}: {error!r}") from error

    def groups(self) -> list[str]:
        return list(self._offsets)

    def of_group(self, group: str) -> dict[tuple[str, int], int]:
        return dict(self._offsets.get(group, {}))

    def get(self, group: str, topic: str, partition: int) -> int | None:
        return self._offsets.get(group, {}).get((topic, partition))

    def commit(self, group: str, offsets: list[tuple[str, int, int]]) -> list[int]:
        """Store ``offsets`` (never lowering one); returns what is stored."""
        merged = dict(self._offsets.get(group, {}))
        for topic, partition, offset in offsets:
            merged[topic, partition] = max(offset, merged.get((topic, partition), -1))
        state = {**self._offsets, group: merged}
        doc = {"version": _OFFSETS_VERSION,
               "groups": {g: [[t, p, o] for (t, p), o in sorted(entries.items())]
                          for g, entries in sorted(state.items())}}
        try:
            with atomic_writer(self.path) as handle:
                handle.write(json.dumps(doc).encode())
                if broker_faults.hit("offsets.before_rename"):
                    handle.flush()
                    broker_faults.die()
        except OSError as error:
            raise KafkaStorageError(f"could not store committed offsets in {self.path}: "
                                    f"{error}; nothing was committed") from error
        self._offsets = state
        return [merged[t, p] for t, p, _ in offsets]


class _Member:
    __slots__ = ("member_id", "topics", "session_timeout", "rebalance_timeout", "last_seen",
                 "rejoined", "protocols", "client_id", "client_host", "join_waiter",
                 "sync_waiter", "assignment_bytes")

    def __init__(self, member_id: str, topics: list[str], session_timeout: float,
                 rebalance_timeout: float, now: float):
        self.member_id = member_id
        self.topics = topics
        self.session_timeout = session_timeout
        self.rebalance_timeout = rebalance_timeout
        self.last_seen = now
        self.rejoined = True
        self.protocols: list[tuple[str, bytes]] | None = None  # a Kafka member's assignors
        self.client_id = "ember"
        self.client_host = ""
        self.join_waiter: Callable[[dict], None] | None = None
        self.sync_waiter: Callable[[dict], None] | None = None
        self.assignment_bytes = b""

    @property
    def kafka(self) -> bool:
        return self.protocols is not None

    def supports(self, protocol: str) -> bool:
        return (protocol in EMBER_PROTOCOLS if self.protocols is None
                else any(name == protocol for name, _ in self.protocols))


class _Group:
    def __init__(self, group_id: str):
        self.group_id = group_id
        self.generation = 0
        self.state = EMPTY
        self.members: dict[str, _Member] = {}
        self.assignment: dict[str, list[tuple[str, int]]] = {}
        self.rebalance_started = 0.0
        self.leader: str | None = None
        self.protocol: str | None = None
        self.pending: set[str] = set()  # member ids handed out by MEMBER_ID_REQUIRED
        self.partition_counts: dict[str, int | None] = {}  # of the subscribed topics, as assigned


def range_assignment(members: dict[str, list[str]],
                     partitions_of: Callable[[str], int | None]) -> dict[str, list[tuple[str, int]]]:
    """Kafka's range assignor: per topic, contiguous partition ranges over
    its subscribers sorted by member id, the first ones one partition more."""
    assignment: dict[str, list[tuple[str, int]]] = {member: [] for member in members}
    for topic in sorted({t for topics in members.values() for t in topics}):
        count = partitions_of(topic) or 0
        subscribers = sorted(m for m, topics in members.items() if topic in topics)
        share, extra = divmod(count, len(subscribers))
        start = 0
        for i, member in enumerate(subscribers):
            size = share + (1 if i < extra else 0)
            assignment[member].extend((topic, p) for p in range(start, start + size))
            start += size
    return assignment


def _commit_failed(kafka_error: str, message: str) -> CommitFailedError:
    """A CommitFailedError carrying the Kafka error code name that says why."""
    error = CommitFailedError(message)
    error.kafka_error = kafka_error
    return error


class GroupCoordinator:
    def __init__(self, directory: str, partitions_of: Callable[[str], int | None], *,
                 clock: Clock = SYSTEM_CLOCK, offsets=None):
        self._partitions_of = partitions_of
        self._clock = clock
        self._offsets = offsets if offsets is not None else OffsetStore(directory)
        self._groups: dict[str, _Group] = {}
        self._lock = threading.Lock()

    def _coordinates(self, group_id: str) -> bool:
        check = getattr(self._offsets, "owns", None)
        return check is None or check(group_id)

    def _check_coordinator(self, group_id: str) -> None:
        check = getattr(self._offsets, "check_owner", None)
        if check is not None:
            check(group_id)

    def forget(self, groups: list[str]) -> None:
        """Stop coordinating ``groups`` (another broker does now): their
        members are dropped, and Kafka members waiting are told NOT_COORDINATOR."""
        with self._lock:
            dropped = [self._groups.pop(g) for g in groups if g in self._groups]
            dropped += [self._groups.pop(g) for g in list(self._groups)
                        if not self._coordinates(g)]
        for group in dropped:
            for member in group.members.values():
                for waiter in (member.join_waiter, member.sync_waiter):
                    if waiter is not None:
                        waiter({"error": "NOT_COORDINATOR", "member_id": member.member_id})

    # --- membership ---------------------------------------------------------------

    def join(self, group_id: str, member_id: str, topics: list[str], session_timeout_ms: int,
             rebalance_timeout_ms: int) -> dict:
        now = self._clock.monotonic()
        topics = sorted(set(topics))
        self._check_coordinator(group_id)
        with self._lock:
            group = self._groups.setdefault(group_id, _Group(group_id))
            member = group.members.get(member_id) if member_id else None
            if member_id and member is None:
                return {"status": "unknown_member", "member_id": member_id}
            if member is None:
                member_id = f"member-{secrets.token_hex(8)}"
                self._start_rebalance(group, now)
                member = group.members[member_id] = _Member(
                    member_id, topics, session_timeout_ms / 1000, rebalance_timeout_ms / 1000, now)
                log.info("group %r: member %s joined (topics %s)", group_id, member_id, topics)
            else:
                member.last_seen = now
                member.session_timeout = session_timeout_ms / 1000
                member.rebalance_timeout = rebalance_timeout_ms / 1000
                if member.topics != topics:
                    member.topics = topics
                    self._start_rebalance(group, now)
                if group.state == REBALANCING:
                    member.rejoined = True
            self._maybe_complete(group)
            if group.state != STABLE:
                return {"status": "rebalancing", "member_id": member_id}
            return {"status": "stable", "member_id": member_id, "generation": group.generation,
                    "assignment": [list(tp) for tp in group.assignment.get(member_id, [])]}

    def kafka_join(self, group_id: str, member_id: str, protocols: list[tuple[str, bytes, list]],
                   session_timeout_ms: int, rebalance_timeout_ms: int, client_id: str,
                   client_host: str, require_known_member_id: bool,
                   callback: Callable[[dict], None]) -> None:
        """A Kafka JoinGroup: ``protocols`` are (assignor name, metadata,
        subscribed topics). ``callback`` gets ``{"error": name}`` or the
        join's outcome (generation, protocol, leader, member id, and for the
        leader every member's (id, metadata)) once the rebalance completes."""
        now = self._clock.monotonic()
        if not self._coordinates(group_id):
            callback({"error": "NOT_COORDINATOR", "member_id": member_id})
            return
        with self._lock:
            group = self._groups.setdefault(group_id, _Group(group_id))
            member = group.members.get(member_id) if member_id else None
            if member_id and member is None and member_id not in group.pending:
                callback({"error": "UNKNOWN_MEMBER_ID", "member_id": member_id})
                return
            if not member_id and require_known_member_id:
                member_id = f"{client_id or 'consumer'}-{secrets.token_hex(8)}"
                group.pending.add(member_id)
                callback({"error": "MEMBER_ID_REQUIRED", "member_id": member_id})
                return
            names = [name for name, _, _ in protocols]
            if group.members and not any(
                    all(m.supports(name) for m in group.members.values() if m is not member)
                    for name in names):
                callback({"error": "INCONSISTENT_GROUP_PROTOCOL", "member_id": member_id})
                return
            topics = sorted({t for _, _, subscribed in protocols for t in subscribed})
            if member is None:
                member_id = member_id or f"{client_id or 'consumer'}-{secrets.token_hex(8)}"
                group.pending.discard(member_id)
                self._start_rebalance(group, now)
                member = group.members[member_id] = _Member(
                    member_id, topics, session_timeout_ms / 1000, rebalance_timeout_ms / 1000, now)
                log.info("group %r: Kafka member %s joined (topics %s)", group_id, member_id,
                         topics)
            else:
                member.last_seen = now
                member.session_timeout = session_timeout_ms / 1000
                member.rebalance_timeout = rebalance_timeout_ms / 1000
                if group.state != REBALANCING or member.topics != topics or \
                        [n for n, _ in member.protocols or ()] != names:
                    # A known member joining a settled group asks for a rebalance
                    # (Kafka's rule: a JoinGroup is always answered by a new generation).
                    member.topics = topics
                    self._start_rebalance(group, now)
                member.rejoined = True
            member.protocols = [(name, metadata) for name, metadata, _ in protocols]
            member.client_id, member.client_host = client_id, client_host
            if member.join_waiter is not None:
                member.join_waiter({"error": "REBALANCE_IN_PROGRESS", "member_id": member_id})
            member.join_waiter = callback
            self._maybe_complete(group)

    def kafka_sync(self, group_id: str, member_id: str, generation: int,
                   assignments: dict[str, tuple[bytes, list[tuple[str, int]]]] | None,
                   callback: Callable[[dict], None]) -> None:
        """A Kafka SyncGroup: the leader's ``assignments`` ({member id:
        (assignment bytes, its partitions)}); ``callback`` gets this
        member's assignment bytes or ``{"error": name}``."""
        if not self._coordinates(group_id):
            callback({"error": "NOT_COORDINATOR"})
            return
        with self._lock:
            group = self._groups.get(group_id)
            member = group.members.get(member_id) if group else None
            if member is None:
                callback({"error": "UNKNOWN_MEMBER_ID"})
                return
            member.last_seen = self._clock.monotonic()
            if group.state == REBALANCING:
                callback({"error": "REBALANCE_IN_PROGRESS"})
                return
            if generation != group.generation:
                callback({"error": "ILLEGAL_GENERATION"})
                return
            if group.state == STABLE:
                callback({"assignment": member.assignment_bytes, "protocol": group.protocol})
                return
            if member.sync_waiter is not None:
                member.sync_waiter({"error": "REBALANCE_IN_PROGRESS"})
            member.sync_waiter = callback
            if member_id == group.leader and assignments is not None:
                for other in group.members.values():
                    data, partitions = assignments.get(other.member_id, (b"", []))
                    other.assignment_bytes = data
                    group.assignment[other.member_id] = list(partitions)
                group.state = STABLE
                log.info("group %r: generation %d assigned by %s: %s", group_id,
                         group.generation, member_id, group.assignment)
                for other in group.members.values():
                    if other.sync_waiter is not None:
                        waiter, other.sync_waiter = other.sync_waiter, None
                        waiter({"assignment": other.assignment_bytes, "protocol": group.protocol})

    def describe(self, group_id: str) -> dict:
        """State, protocol and members of a group, for DescribeGroups."""
        with self._lock:
            group = self._groups.get(group_id)
            if group is None:
                known = self._offsets.groups()
                return {"state": "Empty" if group_id in known else "Dead",
                        "protocol_type": "consumer" if group_id in known else "",
                        "protocol": "", "members": []}
            members = [{"member_id": m.member_id, "client_id": m.client_id,
                        "client_host": m.client_host,
                        "metadata": dict(m.protocols or ()).get(group.protocol or "", b""),
                        "topics": m.topics, "assignment_bytes": m.assignment_bytes,
                        "assignment": group.assignment.get(m.member_id, []), "kafka": m.kafka}
                       for m in group.members.values()]
            return {"state": KAFKA_STATES[group.state], "protocol_type": "consumer",
                    "protocol": group.protocol or "" if group.state != EMPTY else "",
                    "members": members}

    def list_groups(self) -> list[tuple[str, str]]:
        """(group id, Kafka state name) of every group with members or offsets."""
        with self._lock:
            names = set(self._groups) | set(self._offsets.groups())
            return sorted((name, KAFKA_STATES[self._groups[name].state]
                           if name in self._groups else "Empty") for name in names)

    def heartbeat(self, group_id: str, member_id: str, generation: int) -> dict:
        if not self._coordinates(group_id):
            return {"status": "not_coordinator"}
        with self._lock:
            group = self._groups.get(group_id)
            member = group.members.get(member_id) if group else None
            if member is None:
                return {"status": "unknown_member"}
            member.last_seen = self._clock.monotonic()
            if group.state == REBALANCING:
                return {"status": "rebalancing"}
            if generation != group.generation:
                return {"status": "stale_generation"}
            return {"status": "ok"}

    def leave(self, group_id: str, member_id: str) -> dict:
        with self._lock:
            group = self._groups.get(group_id)
            if group is not None and member_id in group.members:
                self._remove(group, [member_id], "left")
        return {}

    def tick(self) -> None:
        """Expire silent members and overdue rebalances (called periodically)."""
        now = self._clock.monotonic()
        with self._lock:
            for group in self._groups.values():
                silent = [m.member_id for m in group.members.values()
                          if now - m.last_seen > m.session_timeout]
                if silent:
                    self._remove(group, silent, "stopped heartbeating")
                if group.state == REBALANCING:
                    late = [m.member_id for m in group.members.values() if not m.rejoined
                            and now - group.rebalance_started > m.rebalance_timeout]
                    if late:
                        self._remove(group, late, "did not rejoin in time")
                elif group.state == STABLE and group.partition_counts != self._counts(group):
                    log.info("group %r: the partition counts of its topics changed from %s to "
                             "%s; rebalancing", group.group_id, group.partition_counts,
                             self._counts(group))
                    self._start_rebalance(group, now)

    def _counts(self, group: _Group) -> dict[str, int | None]:
        topics = {t for m in group.members.values() for t in m.topics}
        return {topic: self._partitions_of(topic) for topic in sorted(topics)}

    def _remove(self, group: _Group, member_ids: list[str], why: str) -> None:
        for member_id in member_ids:
            member = group.members.pop(member_id)
            group.assignment.pop(member_id, None)
            for waiter in (member.join_waiter, member.sync_waiter):
                if waiter is not None:
                    waiter({"error": "UNKNOWN_MEMBER_ID", "member_id": member_id})
        log.info("group %r: members %s %s", group.group_id, member_ids, why)
        if group.members:
            self._start_rebalance(group, self._clock.monotonic())
            self._maybe_complete(group)
        else:
            group.state, group.assignment = EMPTY, {}
            group.generation += 1  # fences any commit of the departed generation

    def _start_rebalance(self, group: _Group, now: float) -> None:
        if group.state != REBALANCING:
            group.state = REBALANCING
            group.rebalance_started = now
            for member in group.members.values():
                member.rejoined = False
                if member.sync_waiter is not None:
                    waiter, member.sync_waiter = member.sync_waiter, None
                    waiter({"error": "REBALANCE_IN_PROGRESS"})

    def _maybe_complete(self, group: _Group) -> None:
        if group.state != REBALANCING or not all(m.rejoined for m in group.members.values()):
            return
        group.generation += 1
        group.partition_counts = self._counts(group)
        members = list(group.members.values())
        kafka = [m for m in members if m.kafka]
        if not kafka:
            group.leader, group.protocol = None, None
            group.assignment = range_assignment(
                {m.member_id: m.topics for m in members}, self._partitions_of)
            group.state = STABLE if members else EMPTY
            log.info("group %r: generation %d: %s", group.group_id, group.generation,
                     group.assignment)
            return
        leader = group.members.get(group.leader) if group.leader else None
        if leader is None or not leader.kafka:
            leader = kafka[0]
        group.leader = leader.member_id
        group.protocol = next((name for name, _ in leader.protocols
                               if all(m.supports(name) for m in members)), None)
        group.assignment = {}
        group.state = COMPLETING
        for member in members:
            member.assignment_bytes = b""
        log.info("group %r: generation %d, leader %s, protocol %s", group.group_id,
                 group.generation, leader.member_id, group.protocol)
        for member in kafka:
            if member.join_waiter is None:
                continue
            waiter, member.join_waiter = member.join_waiter, None
            waiter({"generation": group.generation, "protocol": group.protocol,
                    "leader": leader.member_id, "member_id": member.member_id,
                    "members": [(m.member_id, dict(m.protocols).get(group.protocol, b"")
                                 if m.kafka else None, m.topics) for m in members]
                    if member is leader else []})

    # --- offsets ------------------------------------------------------------------

    def commit(self, group_id: str, member_id: str, generation: int,
               offsets: list[tuple[str, int, int]]) -> list[int]:
        stored = self._commit(group_id, member_id, generation, offsets)
        return stored if isinstance(stored, list) else stored.wait()

    def _commit(self, group_id, member_id, generation, offsets):
        self._check_coordinator(group_id)
        with self._lock:
            group = self._groups.get(group_id)
            who = f"group {group_id!r}: commit by member {member_id or '(none)'}"
            if generation < 0:
                if group is not None and group.members:
                    raise _commit_failed("UNKNOWN_MEMBER_ID",
                        f"{who} refused: the group has active members, so only they may "
                        f"commit (a consumer that assign()s its partitions must use a "
                        f"group id no subscribed consumer uses)")
            else:
                member = group.members.get(member_id) if group else None
                if member is None:
                    raise _commit_failed("UNKNOWN_MEMBER_ID",
                        f"{who} refused: the member is no longer in the group (it left or "
                        f"its session expired, and its partitions were reassigned); "
                        f"nothing was committed")
                if generation != group.generation or group.state == COMPLETING:
                    raise _commit_failed("ILLEGAL_GENERATION" if generation != group.generation
                                         else "REBALANCE_IN_PROGRESS",
                        f"{who} refused: generation {generation} is stale, the group is at "
                        f"generation {group.generation} after a rebalance; nothing was "
                        f"committed")
                owned = set(group.assignment.get(member_id, ()))
                foreign = [(t, p) for t, p, _ in offsets if (t, p) not in owned]
                if foreign:
                    raise _commit_failed("ILLEGAL_GENERATION",
                        f"{who} refused: it is not assigned {foreign[:5]} in generation "
                        f"{generation}; nothing was committed")
            for topic, partition, offset in offsets:
                self._check_partition(topic, partition)
                if offset < 0:
                    error = OffsetOutOfRangeError(
                        f"{who}: offset {offset} for topic {topic!r} partition {partition} "
                        f"is negative; a committed offset is the next offset to read (>= 0)")
                    error.topic, error.partition, error.offset = topic, partition, offset
                    raise error
            return self._offsets.commit(group_id, offsets)

    def committed(self, group_id: str, partitions: list[tuple[str, int]]) -> list[int]:
        self._check_coordinator(group_id)
        with self._lock:
            stored = [self._offsets.get(group_id, t, p) for t, p in partitions]
        return [-1 if offset is None else offset for offset in stored]

    def offsets_of(self, group_id: str) -> dict[tuple[str, int], int]:
        """Every committed offset of a group."""
        self._check_coordinator(group_id)
        with self._lock:
            return self._offsets.of_group(group_id)

    def _check_partition(self, topic: str, partition: int) -> None:
        count = self._partitions_of(topic)
        if count is None or not 0 <= partition < count:
            raise UnknownTopicOrPartitionError(
                f"unknown topic {topic!r}" if count is None else
                f"topic {topic!r} has partitions 0 to {count - 1}; there is no partition "
                f"{partition}")
