"""The active controller's decisions, as pure code: requests and time in,
records and replies out.

Owns what Kafka's QuorumController decides: broker registration, sessions
(heartbeats, expiry, fencing, unfencing), controlled shutdown, topic creation
(replica placement, the replication checks of RELIABILITY.md B17),
growth (CreatePartitions: new partitions placed as a new topic's are) and
deletion, leader election (clean from the ISR; unclean only when the topic
allows it), ISR changes requested by partition leaders (accepted only with
the current leader epoch and partition epoch, KIP-101/KIP-279 and Kafka's
AlterPartition), partition reassignment (add the target replicas, then drop
the old ones once the targets are in sync, KIP-455) and preferred leader
election.

Every method reads the committed image (``metadata.MetadataImage``) and
returns a :class:`Decision`: the records to write and the reply to send once
they are committed. It never changes the image itself: the caller proposes
the records through Raft and applies them when they commit (on every
member), and only then asks for the next decision. A request that is refused
raises a named error from ``engine.errors`` and writes nothing.

Volatile state, rebuilt by every newly active controller rather than
replicated: broker sessions (last heartbeat, on ``engine.clock``'s monotonic
reading; :meth:`activate` gives every broker a full session, so a controller
failover never expires a broker that heartbeats) and the offsets brokers
report for their replicas (to choose and report an unclean election).

What it must not know: sockets, Raft, files.

Thread-safety: one owner; not thread-safe.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterable

from ember.engine.clock import SYSTEM_CLOCK, Clock
from ember.engine.errors import (
    BrokerNotAvailableError, ConfigError, ElectionNotNeededError, FencedLeaderEpochError,
    IneligibleReplicaError, InvalidConfigurationError, InvalidPartitionsError, InvalidReplicationFactorError,
    InvalidUpdateVersionError, LeaderNotAvailableError, NoReassignmentInProgressError,
    NotLeaderOrFollowerError, PreferredLeaderNotAvailableError, ProtocolError, StaleBrokerEpochError,
    TopicAlreadyExistsError, UnknownTopicOrPartitionError,
)
from ember.ingest.cluster.metadata import NO_LEADER, MetadataImage, PartitionState
from ember.ingest.log import log_config
from ember.ingest.log.log_manager import check_partition_growth, validate_topic_name

MIN_INSYNC_REPLICAS = "min.insync.replicas"
UNCLEAN_LEADER_ELECTION = "unclean.leader.election.enable"
CLUSTER_TOPIC_CONFIGS = (MIN_INSYNC_REPLICAS, UNCLEAN_LEADER_ELECTION)
PRODUCER_ID_BLOCK = 1000


@dataclass(frozen=True)
class ControllerSettings:
    """Kafka's names; seconds where Kafka has milliseconds.

    broker.session.timeout.ms: a broker silent this long is fenced and its
    leaderships move (Kafka: 9 s; ember 3 s, so a broker's loss is repaired
    well within the 5 s failover goal). broker.heartbeat.interval.ms: what
    brokers are told to use. default.replication.factor as Kafka's (1).
    auto.leader.rebalance.enable, leader.imbalance.check.interval.seconds
    and leader.imbalance.per.broker.percentage as Kafka's (on, 300 s,
    10 %)."""

    broker_session_timeout: float = 3.0
    broker_heartbeat_interval: float = 0.5
    default_replication_factor: int = 1
    auto_leader_rebalance_enable: bool = True
    leader_imbalance_check_interval: float = 300.0
    leader_imbalance_per_broker_percentage: float = 10.0

    def __post_init__(self):
        if not 0 < self.broker_heartbeat_interval < self.broker_session_timeout:
            raise ConfigError(
                f"broker.heartbeat.interval ({self.broker_heartbeat_interval} s) must be "
                f"positive and below broker.session.timeout ({self.broker_session_timeout} s)")
        if not self.leader_imbalance_check_interval > 0:
            raise ConfigError(f"leader.imbalance.check.interval "
                              f"({self.leader_imbalance_check_interval} s) must be positive")
        if not 0 <= self.leader_imbalance_per_broker_percentage <= 100:
            raise ConfigError(f"leader.imbalance.per.broker.percentage "
                              f"({self.leader_imbalance_per_broker_percentage}) must be 0 to 100")


@dataclass
class Decision:
    records: list[dict] = field(default_factory=list)
    reply: dict = field(default_factory=dict)


def assign_replicas(brokers: list[int], partitions: int, replication_factor: int,
                    rng: random.Random, start_index: int | None = None,
                    replica_shift: int | None = None) -> list[list[int]]:
    """Kafka's rack-unaware placement (AdminUtils): partition p's first
    replica is broker (p + start) mod n; the others follow it at a shift that
    grows by one every n partitions, so leaders and followers both spread
    round robin. ``start_index`` and ``replica_shift`` are random unless
    given (Kafka's fixedStartIndex)."""
    brokers = sorted(brokers)
    n = len(brokers)
    start = rng.randrange(n) if start_index is None else start_index
    shift = rng.randrange(n) if replica_shift is None else replica_shift
    assignment = []
    for p in range(partitions):
        if p > 0 and p % n == 0:
            shift += 1
        first = (p + start) % n
        replicas = [brokers[first]]
        for j in range(replication_factor - 1):
            replicas.append(brokers[(first + 1 + (shift + j) % (n - 1)) % n])
        assignment.append(replicas)
    return assignment


class Controller:
    def __init__(self, image: MetadataImage, settings: ControllerSettings = ControllerSettings(),
                 *, clock: Clock = SYSTEM_CLOCK, rng: random.Random | None = None):
        self.image = image
        self.settings = settings
        self._clock = clock
        self._rng = rng or random.Random()
        self._last_heartbeat: dict[int, float] = {}
        self._metadata_offset: dict[int, int] = {}
        self._replica_offsets: dict[tuple[str, int, int], tuple[int, int]] = {}
        self._shutdown_offset: dict[int, int] = {}
        self._next_rebalance_check = clock.monotonic() + settings.leader_imbalance_check_interval

    # --- activation and time ------------------------------------------------------

    def activate(self) -> None:
        """This controller just became active: every registered broker gets a
        full session from now (its heartbeats went to the old controller)."""
        now = self._clock.monotonic()
        self._last_heartbeat = {broker: now for broker in self.image.brokers}
        self._next_rebalance_check = now + self.settings.leader_imbalance_check_interval

    def tick(self) -> Decision:
        """Fence brokers whose session expired; their partitions get new
        leaders (or none) in the same decision. Otherwise, every
        leader.imbalance.check.interval, give leaderships back to preferred
        replicas (:meth:`_rebalance_leaders`)."""
        now = self._clock.monotonic()
        records: list[dict] = []
        expired = sorted(b.broker_id for b in self.image.brokers.values()
                         if not b.fenced and now - self._last_heartbeat.get(b.broker_id, now)
                         > self.settings.broker_session_timeout)
        if expired:
            records = self._fence(expired)
        elif self.settings.auto_leader_rebalance_enable and now >= self._next_rebalance_check:
            self._next_rebalance_check = now + self.settings.leader_imbalance_check_interval
            records = self._rebalance_leaders()
        return Decision(records, {"fenced": expired})

    def _rebalance_leaders(self) -> list[dict]:
        """Kafka's automatic preferred leader election: a broker that is the
        preferred (first) replica of more partitions it does not lead than
        leader.imbalance.per.broker.percentage of its preferred partitions
        takes those leaderships back, wherever it is alive and in sync and no
        reassignment is moving the partition. After a rolling restart this
        is what spreads the leaders again."""
        preferred: dict[int, list] = {}
        for topic, index, state in self.image.partitions():
            if state.replicas:
                preferred.setdefault(state.preferred_leader, []).append((topic, index, state))
        records = []
        for broker, partitions in sorted(preferred.items()):
            led_elsewhere = [(t, i, s) for t, i, s in partitions if s.leader != broker]
            share = 100.0 * len(led_elsewhere) / len(partitions)
            if share <= self.settings.leader_imbalance_per_broker_percentage \
                    or not self.image.eligible(broker):
                continue
            records += [self._change(t, i, leader=broker) for t, i, s in led_elsewhere
                        if broker in s.isr and not s.adding and not s.removing]
        return records

    def _fence(self, broker_ids: list[int]) -> list[dict]:
        records = [{"type": "fence_broker", "broker_id": b,
                    "epoch": self.image.brokers[b].epoch} for b in broker_ids]
        gone = set(broker_ids)
        records += self._move_away(gone, alive=lambda b: self.image.alive(b) and b not in gone)
        return records

    # --- brokers ------------------------------------------------------------------

    def register_broker(self, broker_id: int, incarnation: str, host: str, port: int,
                        rack: str | None = None, kafka: str | None = None) -> Decision:
        """A broker (re)starts. Its epoch will be the offset of this record.
        A restarted broker is a new incarnation: whatever the old one led or
        was in sync for moves away first, since its log may be behind."""
        if not isinstance(broker_id, int) or broker_id < 0:
            raise BrokerNotAvailableError(f"broker id {broker_id!r}: expected an integer >= 0")
        old = self.image.brokers.get(broker_id)
        records: list[dict] = []
        if old is not None and old.incarnation != incarnation and not old.fenced:
            records += self._fence([broker_id])
        records.append({"type": "register_broker", "broker_id": broker_id,
                        "incarnation": incarnation, "host": host, "port": port, "rack": rack,
                        "kafka": kafka})
        self._last_heartbeat[broker_id] = self._clock.monotonic()
        return Decision(records, {"heartbeat_interval": self.settings.broker_heartbeat_interval,
                                  "session_timeout": self.settings.broker_session_timeout})

    def _registered(self, broker_id: int, epoch: int):
        broker = self.image.brokers.get(broker_id)
        if broker is None:
            raise BrokerNotAvailableError(f"broker {broker_id} is not registered")
        if broker.epoch != epoch:
            raise StaleBrokerEpochError(f"broker {broker_id} spoke with epoch {epoch}; its "
                                        f"current registration has epoch {broker.epoch}")
        return broker

    def broker_heartbeat(self, broker_id: int, epoch: int, metadata_offset: int,
                         want_shutdown: bool = False,
                         replicas: Iterable[tuple[str, int, int, int]] = ()) -> Decision:
        """A broker's heartbeat: ``metadata_offset`` is how far it has applied
        the metadata log; ``replicas`` (topic, partition, log end offset, high
        watermark) what it holds. Unfences it once it caught up with its own
        registration; with ``want_shutdown``, starts or continues its
        controlled shutdown. The reply says whether it is fenced and whether
        it may stop now."""
        broker = self._registered(broker_id, epoch)
        self._last_heartbeat[broker_id] = self._clock.monotonic()
        self._metadata_offset[broker_id] = metadata_offset
        for topic, partition, end_offset, high_watermark in replicas:
            self._replica_offsets[topic, partition, broker_id] = (end_offset, high_watermark)
        records: list[dict] = []
        if want_shutdown and not broker.fenced:
            if not broker.in_controlled_shutdown:
                records.append({"type": "begin_shutdown", "broker_id": broker_id, "epoch": epoch})
                records += self._move_away({broker_id}, alive=lambda b: (
                    self.image.eligible(b) and b != broker_id))
            elif broker_id not in self._shutdown_offset:
                self._shutdown_offset[broker_id] = self.image.offset
        elif broker.fenced and not want_shutdown and metadata_offset >= broker.epoch:
            records.append({"type": "unfence_broker", "broker_id": broker_id, "epoch": epoch})
            records += self._elect_returning(broker_id)
        leads = any(state.leader == broker_id for _, _, state in self.image.partitions())
        ready = (broker.in_controlled_shutdown and not leads
                 and metadata_offset >= self._shutdown_offset.get(broker_id, 1 << 62))
        return Decision(records, {"fenced": broker.fenced and not records,
                                  "shutdown_ready": bool(ready or (want_shutdown and broker.fenced))})

    def unregister_broker(self, broker_id: int) -> Decision:
        if broker_id not in self.image.brokers:
            raise BrokerNotAvailableError(f"broker {broker_id} is not registered")
        records = []
        if not self.image.brokers[broker_id].fenced:
            records += self._fence([broker_id])
        records.append({"type": "unregister_broker", "broker_id": broker_id})
        return Decision(records)

    # --- topics -------------------------------------------------------------------

    def create_topic(self, name: str, partitions: int, replication_factor: int | None = None,
                     config: dict | None = None,
                     assignment: list[list[int]] | None = None) -> Decision:
        validate_topic_name(name)
        if name in self.image.topics:
            raise TopicAlreadyExistsError(f"topic {name!r} already exists")
        config = dict(config or {})
        if assignment is not None:
            assignment = self._check_assignment(name, assignment)
            partitions, replication_factor = len(assignment), len(assignment[0])
        if not isinstance(partitions, int) or isinstance(partitions, bool) or partitions < 1:
            raise InvalidPartitionsError(
                f"topic {name!r}: partitions = {partitions!r}; expected an integer >= 1")
        if replication_factor is None:
            replication_factor = self.settings.default_replication_factor
        live = sorted(b for b in self.image.brokers if self.image.eligible(b))
        if (not isinstance(replication_factor, int) or isinstance(replication_factor, bool)
                or replication_factor < 1):
            raise InvalidReplicationFactorError(
                f"topic {name!r}: replication factor {replication_factor!r}; expected an "
                f"integer >= 1")
        if assignment is None and replication_factor > len(live):
            raise InvalidReplicationFactorError(
                f"topic {name!r}: replication factor {replication_factor} is larger than the "
                f"{len(live)} live broker{'s' if len(live) != 1 else ''} ({live})")
        config = self._check_config(name, config, replication_factor)
        if assignment is None:
            assignment = assign_replicas(live, partitions, replication_factor, self._rng)
        records: list[dict] = [{"type": "topic", "name": name,
                                "topic_id": str(uuid.UUID(int=self._rng.getrandbits(128))),
                                "config": config}]
        records += self._new_partitions(name, 0, assignment)
        return Decision(records, {"topic": name, "partitions": len(assignment),
                                  "replication_factor": replication_factor,
                                  "assignment": assignment})

    def _new_partitions(self, name: str, first: int, assignment: list[list[int]]) -> list[dict]:
        """The records of new partitions ``first``, ``first + 1``, ...: every
        live replica in sync (they are all empty), the first eligible one leads."""
        records = []
        for index, replicas in enumerate(assignment, start=first):
            isr = [b for b in replicas if self.image.alive(b)]
            leader = next((b for b in replicas if self.image.eligible(b)), NO_LEADER)
            records.append({"type": "partition", "topic": name, "partition": index,
                            "replicas": replicas, "isr": isr or replicas[:1], "leader": leader})
        return records

    def create_partitions(self, name: str, count: int, validate_only: bool = False) -> Decision:
        """Kafka's CreatePartitions: grow topic ``name`` to ``count``
        partitions (never shrink it). The new partitions get as many
        replicas as the topic's first partition, placed over the live
        brokers as ``create_topic`` places them, continuing its round robin
        from the first partition's preferred leader; each starts at leader
        epoch 0 with every live replica in sync. ``validate_only``: every
        check, no records."""
        topic = self.image.topics.get(name)
        if topic is None:
            raise UnknownTopicOrPartitionError(f"topic {name!r} does not exist")
        current = len(topic.partitions)
        check_partition_growth(name, current, count)
        if name.startswith("__"):
            # Groups are mapped to its partitions by a hash over their count:
            # growing it would move every group's coordinator and offsets.
            raise InvalidPartitionsError(
                f"topic {name!r} is internal: its number of partitions ({current}) cannot "
                f"be changed")
        first = topic.partitions[0]
        replication_factor = len([b for b in first.replicas if b not in first.adding])
        live = sorted(b for b in self.image.brokers if self.image.eligible(b))
        if replication_factor > len(live):
            raise InvalidReplicationFactorError(
                f"topic {name!r}: its replication factor {replication_factor} is larger than "
                f"the {len(live)} live broker{'s' if len(live) != 1 else ''} ({live}), so no "
                f"new partition can be placed")
        preferred = first.preferred_leader
        start = ((live.index(preferred) + current) % len(live)) if preferred in live else None
        assignment = assign_replicas(live, count - current, replication_factor, self._rng,
                                     start_index=start)
        records = [] if validate_only else self._new_partitions(name, current, assignment)
        return Decision(records, {"topic": name, "partitions": count,
                                  "replication_factor": replication_factor,
                                  "assignment": assignment})

    def _check_assignment(self, name: str, assignment: list) -> list[list[int]]:
        if not assignment or not all(isinstance(r, list) and r for r in assignment):
            raise InvalidReplicationFactorError(
                f"topic {name!r}: a replica assignment must list one non-empty list of brokers "
                f"per partition, got {assignment!r:.100}")
        if len({len(r) for r in assignment}) != 1:
            raise InvalidReplicationFactorError(
                f"topic {name!r}: every partition needs the same number of replicas, got "
                f"{[len(r) for r in assignment]}")
        for index, replicas in enumerate(assignment):
            if len(set(replicas)) != len(replicas):
                raise InvalidReplicationFactorError(
                    f"topic {name!r} partition {index}: replicas {replicas} repeat a broker")
            unknown = [b for b in replicas if b not in self.image.brokers]
            if unknown:
                raise BrokerNotAvailableError(
                    f"topic {name!r} partition {index}: brokers {unknown} are not registered")
        return [list(r) for r in assignment]

    def _check_config(self, name: str, config: dict, replication_factor: int) -> dict:
        cluster = {k: config.pop(k) for k in CLUSTER_TOPIC_CONFIGS if k in config}
        log_config.validate(config)  # the log's own settings, checked as the broker will
        checked = dict(config)
        if MIN_INSYNC_REPLICAS in cluster:
            value = cluster[MIN_INSYNC_REPLICAS]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidConfigurationError(
                    f"topic {name!r}: {MIN_INSYNC_REPLICAS} = {value!r}; expected an integer >= 1")
            if value > replication_factor:
                raise InvalidConfigurationError(
                    f"topic {name!r}: {MIN_INSYNC_REPLICAS} = {value} is larger than the "
                    f"replication factor {replication_factor}: no write could ever be "
                    f"acknowledged with acks=all")
            checked[MIN_INSYNC_REPLICAS] = value
        else:
            # ember's default (RELIABILITY.md 3.6), stricter than Kafka's 1.
            checked[MIN_INSYNC_REPLICAS] = min(2, replication_factor)
        value = cluster.get(UNCLEAN_LEADER_ELECTION, False)
        if not isinstance(value, bool):
            raise InvalidConfigurationError(
                f"topic {name!r}: {UNCLEAN_LEADER_ELECTION} = {value!r}; expected true or false")
        checked[UNCLEAN_LEADER_ELECTION] = value
        return checked

    def delete_topic(self, name: str) -> Decision:
        if name not in self.image.topics:
            raise UnknownTopicOrPartitionError(f"topic {name!r} does not exist")
        return Decision([{"type": "remove_topic", "name": name}], {"topic": name})

    def _state(self, topic: str, partition: int) -> PartitionState:
        t = self.image.topics.get(topic)
        if t is None or not isinstance(partition, int) or not 0 <= partition < len(t.partitions):
            raise UnknownTopicOrPartitionError(
                f"no partition {topic}-{partition}" if t is not None
                else f"topic {topic!r} does not exist")
        return t.partitions[partition]

    def leader_of(self, topic: str, partition: int) -> int:
        """The leader's broker id; LeaderNotAvailableError (named, with the
        reason) when the partition has none."""
        state = self._state(topic, partition)
        if state.leader == NO_LEADER:
            unclean = self.image.topics[topic].config.get(UNCLEAN_LEADER_ELECTION, False)
            raise LeaderNotAvailableError(
                f"{topic}-{partition} has no leader: none of its in-sync replicas "
                f"{list(state.isr)} is alive" + ("" if unclean else
                f" and {UNCLEAN_LEADER_ELECTION} is false, so none of the other replicas "
                f"{[b for b in state.replicas if b not in state.isr]} may take over"))
        return state.leader

    # --- elections ----------------------------------------------------------------

    def _change(self, topic: str, partition: int, **fields: Any) -> dict:
        return {"type": "partition_change", "topic": topic, "partition": partition, **fields}

    def _move_away(self, gone: set[int], alive) -> list[dict]:
        """Records taking ``gone`` out of every ISR and leadership. ``alive``
        says who may lead or stay in sync."""
        records = []
        for topic, index, state in self.image.partitions():
            if not gone & set(state.isr) and state.leader not in gone:
                continue
            isr = [b for b in state.isr if b not in gone]
            change: dict[str, Any] = {}
            if state.leader in gone or state.leader == NO_LEADER:
                leader = next((b for b in state.replicas if b in isr and alive(b)), NO_LEADER)
                if leader == NO_LEADER:
                    unclean = self._unclean_choice(topic, index, state, alive, exclude=gone)
                    if unclean is not None:
                        records.append(self._change(topic, index, **unclean))
                        continue
                change["leader"] = leader
            if not isr:
                # The last in-sync replica stays in the ISR: only it holds every
                # acknowledged record, so only it may lead again (cleanly).
                isr = list(state.isr)
            if isr != list(state.isr):
                change["isr"] = isr
            if change:
                records.append(self._change(topic, index, **change))
        return records

    def _unclean_choice(self, topic: str, index: int, state: PartitionState, alive,
                        exclude: set[int] = frozenset()) -> dict | None:
        """An unclean election when the topic allows it: the live replica
        holding the most records leads, alone in the ISR; the change records
        the range that may be lost (from its log end offset to the highest
        high watermark any replica reported)."""
        if not self.image.topics[topic].config.get(UNCLEAN_LEADER_ELECTION, False):
            return None
        candidates = [b for b in state.replicas if alive(b) and b not in exclude]
        if not candidates:
            return None

        def end_offset(b):
            return self._replica_offsets.get((topic, index, b), (-1, -1))[0]

        leader = max(candidates, key=lambda b: (end_offset(b), -state.replicas.index(b)))
        reported = [hw for (t, p, _), (_, hw) in self._replica_offsets.items()
                    if (t, p) == (topic, index)]
        lost = None
        if end_offset(leader) >= 0 and reported:
            lost = [end_offset(leader), max(max(reported), end_offset(leader))]
        return {"leader": leader, "isr": [leader], "unclean": True, "lost_range": lost}

    def _elect_returning(self, broker_id: int) -> list[dict]:
        """A broker was unfenced: partitions waiting for it get a leader."""
        records = []
        for topic, index, state in self.image.partitions():
            if state.leader != NO_LEADER or broker_id not in state.replicas:
                continue
            if broker_id in state.isr:
                records.append(self._change(topic, index, leader=broker_id))
            else:
                choice = self._unclean_choice(topic, index, state,
                                              lambda b: b == broker_id or self.image.eligible(b))
                if choice is not None:
                    records.append(self._change(topic, index, **choice))
        return records

    def elect_leaders(self, partitions: list[tuple[str, int]],
                      election_type: str = "preferred") -> Decision:
        """Kafka's ElectLeaders: ``preferred`` moves leadership to each
        partition's first replica when it is alive and in sync; ``unclean``
        gives a leaderless partition its first live replica, whatever the
        topic's config says (an operator's explicit choice, as with Kafka's
        admin API). Per-partition results: None or the named error."""
        if election_type not in ("preferred", "unclean"):
            raise ProtocolError(f"election type {election_type!r}: expected 'preferred' or 'unclean'")
        records, results = [], {}
        for topic, index in partitions:
            key = f"{topic}-{index}"
            try:
                state = self._state(topic, index)
                if election_type == "preferred":
                    preferred = state.preferred_leader
                    if state.leader == preferred:
                        raise ElectionNotNeededError(
                            f"{key} is already led by its preferred replica {preferred}")
                    if preferred not in state.isr or not self.image.eligible(preferred):
                        raise PreferredLeaderNotAvailableError(
                            f"{key}: preferred replica {preferred} is not "
                            + ("in sync" if preferred not in state.isr else "alive"))
                    records.append(self._change(topic, index, leader=preferred))
                else:
                    if state.leader != NO_LEADER:
                        raise ElectionNotNeededError(f"{key} has a leader ({state.leader})")
                    candidates = [b for b in state.replicas if self.image.eligible(b)]
                    if not candidates:
                        raise LeaderNotAvailableError(f"{key}: none of its replicas "
                                                      f"{list(state.replicas)} is alive")
                    records.append(self._change(topic, index, leader=candidates[0],
                                                isr=[candidates[0]], unclean=True,
                                                lost_range=None))
                results[key] = None
            except (LookupError, ValueError) as error:
                results[key] = {"type": type(error).__name__, "message": str(error)}
        return Decision(records, {"results": results})

    # --- ISR changes (AlterPartition) ---------------------------------------------

    def alter_partition(self, broker_id: int, broker_epoch: int, topic: str, partition: int,
                        leader_epoch: int, partition_epoch: int, isr: list[int]) -> Decision:
        """A partition leader asks to change its ISR. Accepted only from the
        current leader, at its current broker epoch, leader epoch and
        partition epoch; anything older is fenced. A replica may join only if
        it is a replica, alive and not shutting down. The leader may leave
        the ISR itself (its copy is damaged: ``replica_repair``) for live
        members of the current ISR; the first of them in replica order leads.
        Completes a reassignment whose targets are now all in sync."""
        self._registered(broker_id, broker_epoch)
        state = self._state(topic, partition)
        key = f"{topic}-{partition}"
        if leader_epoch < state.leader_epoch:
            raise FencedLeaderEpochError(f"{key}: leader epoch {leader_epoch} is older than "
                                         f"the current {state.leader_epoch}")
        if state.leader != broker_id:
            raise NotLeaderOrFollowerError(f"{key}: broker {broker_id} is not the leader "
                                           f"(leader: {state.leader})")
        if leader_epoch > state.leader_epoch:
            raise FencedLeaderEpochError(f"{key}: leader epoch {leader_epoch} is newer than "
                                         f"the controller's {state.leader_epoch}")
        if partition_epoch != state.partition_epoch:
            raise InvalidUpdateVersionError(f"{key}: partition epoch {partition_epoch}, the "
                                            f"current one is {state.partition_epoch}")
        if not isinstance(isr, list) or not isr or len(set(isr)) != len(isr):
            raise IneligibleReplicaError(f"{key}: ISR {isr!r:.80} must be a non-empty list of "
                                         f"distinct brokers")
        change: dict[str, Any] = {}
        if broker_id not in isr:
            # The leader gives up its copy (found corrupt): a live member of the
            # current ISR, which holds every acknowledged record, leads instead.
            leader = next((b for b in state.replicas if b in isr and b in state.isr
                           and self.image.eligible(b)), None)
            if leader is None or not set(isr) <= set(state.isr):
                raise IneligibleReplicaError(
                    f"{key}: leader {broker_id} may leave the ISR only for live members of "
                    f"the current ISR {list(state.isr)}, got {isr!r:.80}")
            change["leader"] = leader
        for b in isr:
            if b not in state.replicas:
                raise IneligibleReplicaError(f"{key}: broker {b} is not a replica "
                                             f"({list(state.replicas)})")
            if b not in state.isr and not self.image.eligible(b):
                raise IneligibleReplicaError(f"{key}: broker {b} is fenced or shutting down "
                                             f"and cannot join the ISR")
        ordered = [b for b in state.replicas if b in isr]
        change["isr"] = ordered
        change.update(self._completed_reassignment(state, ordered))
        record = self._change(topic, partition, **change)
        new_leader_epoch = state.leader_epoch + (record.get("leader", state.leader) != state.leader)
        return Decision([record], {"isr": record["isr"], "leader": record.get("leader", state.leader),
                                   "leader_epoch": new_leader_epoch,
                                   "partition_epoch": state.partition_epoch + 1})

    # --- producer ids -------------------------------------------------------------

    def allocate_producer_ids(self, broker_id: int, broker_epoch: int) -> Decision:
        """A block of producer ids for one broker, unique in the cluster for
        good (Kafka's AllocateProducerIds): the image keeps the next free id."""
        self._registered(broker_id, broker_epoch)
        first = self.image.next_producer_id
        return Decision([{"type": "producer_ids", "broker_id": broker_id,
                          "next": first + PRODUCER_ID_BLOCK}],
                        {"first": first, "count": PRODUCER_ID_BLOCK})

    # --- reassignment -------------------------------------------------------------

    def reassign_partitions(self, targets: dict[tuple[str, int], list[int] | None]) -> Decision:
        """Start (target replicas) or cancel (None) reassignments. Starting
        makes the replicas target + old (adding the new, removing the
        departing); completion follows once every target is in sync."""
        records, results = [], {}
        for (topic, index), target in sorted(targets.items()):
            key = f"{topic}-{index}"
            try:
                state = self._state(topic, index)
                original = [b for b in state.replicas if b not in state.adding]
                if target is None:
                    if not state.adding and not state.removing:
                        raise NoReassignmentInProgressError(f"{key} is not being reassigned")
                    records.append(self._revert(topic, index, state, original))
                else:
                    self._check_assignment(topic, [target])
                    if target == original and not state.adding:
                        results[key] = None
                        continue
                    replicas = list(target) + [b for b in original if b not in target]
                    change = {"replicas": replicas,
                              "adding": [b for b in target if b not in original],
                              "removing": [b for b in original if b not in target]}
                    future = PartitionState(tuple(replicas), state.isr, state.leader,
                                            adding=tuple(change["adding"]),
                                            removing=tuple(change["removing"]))
                    change.update(self._completed_reassignment(future, list(state.isr)))
                    records.append(self._change(topic, index, **change))
                results[key] = None
            except (LookupError, ValueError) as error:
                results[key] = {"type": type(error).__name__, "message": str(error)}
        return Decision(records, {"results": results})

    def _revert(self, topic: str, index: int, state: PartitionState, original: list[int]) -> dict:
        isr = [b for b in state.isr if b in original] or [state.leader]
        change: dict[str, Any] = {"replicas": original, "isr": isr, "adding": [], "removing": []}
        if state.leader not in original:
            change["leader"] = next((b for b in original if b in isr and self.image.eligible(b)),
                                    NO_LEADER)
        return self._change(topic, index, **change)

    def _completed_reassignment(self, state: PartitionState, isr: list[int]) -> dict:
        """If every target replica is in ``isr``, the fields finishing the
        reassignment: replicas = target, ISR within it, and a leader from it."""
        if not state.adding and not state.removing:
            return {}
        target = [b for b in state.replicas if b not in state.removing]
        if not set(target) <= set(isr):
            return {}
        change: dict[str, Any] = {"replicas": target, "isr": [b for b in target if b in isr],
                                  "adding": [], "removing": []}
        if state.leader not in target:
            change["leader"] = next((b for b in target if self.image.eligible(b)), NO_LEADER)
        return change

    def reassignments(self) -> dict[str, dict]:
        return {f"{t}-{p}": {"replicas": list(s.replicas), "adding": list(s.adding),
                             "removing": list(s.removing)}
                for t, p, s in self.image.partitions() if s.adding or s.removing}
