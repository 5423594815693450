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
EMPTY, REBALANCING, STABLE = "empty", "rebalancing", "stable"


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
                 "rejoined")

    def __init__(self, member_id: str, topics: list[str], session_timeout: float,
                 rebalance_timeout: float, now: float):
        self.member_id = member_id
        self.topics = topics
        self.session_timeout = session_timeout
        self.rebalance_timeout = rebalance_timeout
        self.last_seen = now
        self.rejoined = True


class _Group:
    def __init__(self, group_id: str):
        self.group_id = group_id
        self.generation = 0
        self.state = EMPTY
        self.members: dict[str, _Member] = {}
        self.assignment: dict[str, list[tuple[str, int]]] = {}
        self.rebalance_started = 0.0


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


class GroupCoordinator:
    def __init__(self, directory: str, partitions_of: Callable[[str], int | None], *,
                 clock: Clock = SYSTEM_CLOCK):
        self._partitions_of = partitions_of
        self._clock = clock
        self._offsets = OffsetStore(directory)
        self._groups: dict[str, _Group] = {}
        self._lock = threading.Lock()

    # --- membership ---------------------------------------------------------------

    def join(self, group_id: str, member_id: str, topics: list[str], session_timeout_ms: int,
             rebalance_timeout_ms: int) -> dict:
        now = self._clock.monotonic()
        topics = sorted(set(topics))
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

    def heartbeat(self, group_id: str, member_id: str, generation: int) -> dict:
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

    def _remove(self, group: _Group, member_ids: list[str], why: str) -> None:
        for member_id in member_ids:
            del group.members[member_id]
            group.assignment.pop(member_id, None)
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

    def _maybe_complete(self, group: _Group) -> None:
        if group.state == REBALANCING and all(m.rejoined for m in group.members.values()):
            group.generation += 1
            group.assignment = range_assignment(
                {m.member_id: m.topics for m in group.members.values()}, self._partitions_of)
            group.state = STABLE if group.members else EMPTY
            log.info("group %r: generation %d: %s", group.group_id, group.generation,
                     group.assignment)

    # --- offsets ------------------------------------------------------------------

    def commit(self, group_id: str, member_id: str, generation: int,
               offsets: list[tuple[str, int, int]]) -> list[int]:
        with self._lock:
            group = self._groups.get(group_id)
            who = f"group {group_id!r}: commit by member {member_id or '(none)'}"
            if generation < 0:
                if group is not None and group.members:
                    raise CommitFailedError(
                        f"{who} refused: the group has active members, so only they may "
                        f"commit (a consumer that assign()s its partitions must use a "
                        f"group id no subscribed consumer uses)")
            else:
                member = group.members.get(member_id) if group else None
                if member is None:
                    raise CommitFailedError(
                        f"{who} refused: the member is no longer in the group (it left or "
                        f"its session expired, and its partitions were reassigned); "
                        f"nothing was committed")
                if generation != group.generation:
                    raise CommitFailedError(
                        f"{who} refused: generation {generation} is stale, the group is at "
                        f"generation {group.generation} after a rebalance; nothing was "
                        f"committed")
                owned = set(group.assignment.get(member_id, ()))
                foreign = [(t, p) for t, p, _ in offsets if (t, p) not in owned]
                if foreign:
                    raise CommitFailedError(
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
        with self._lock:
            stored = [self._offsets.get(group_id, t, p) for t, p in partitions]
        return [-1 if offset is None else offset for offset in stored]

    def _check_partition(self, topic: str, partition: int) -> None:
        count = self._partitions_of(topic)
        if count is None or not 0 <= partition < count:
            raise UnknownTopicOrPartitionError(
                f"unknown topic {topic!r}" if count is None else
                f"topic {topic!r} has partitions 0 to {count - 1}; there is no partition "
                f"{partition}")
