"""The cluster's metadata as a state machine over the records of the Raft log.

Owns the image that every controller builds by applying the same records in
the same order (KRaft's metadata image): brokers (registration, epoch,
fencing, controlled shutdown), topics (id, config) and partitions (replicas,
in-sync replicas, leader, leader epoch, partition epoch, a reassignment's
adding and removing replicas). It decides nothing: the active controller
(``controller``) validates requests and makes decisions, and expresses each
as records; :meth:`MetadataImage.apply` only carries records out. A record
is applied the same way on every member, so the image is a function of the
log: it has no clock and no randomness.

Records (dicts; ``offset`` is the Raft index of the entry carrying them)::

    register_broker     broker_id, incarnation, host, port, rack, kafka (HOST:PORT
                        of its Kafka listener, or null)
                        -> epoch = offset; fenced until it catches up
    unfence_broker      broker_id, epoch
    fence_broker        broker_id, epoch
    begin_shutdown      broker_id, epoch    (controlled shutdown under way)
    unregister_broker   broker_id
    topic               name, topic_id, config
    partition           topic, partition, replicas, isr, leader
    partition_change    topic, partition, and any of: leader, isr, replicas,
                        adding, removing, unclean, lost_range
                        -> partition_epoch + 1; leader_epoch + 1 when the
                           leader changes
    remove_topic        name
    producer_ids        broker_id, next   (the next producer id never handed out)

Snapshot: :meth:`to_json` / :meth:`from_json` (plain JSON, so a snapshot
travels to a follower without pickling). :meth:`digest` fingerprints the
image for the consistency checks.

Thread-safety: one owner; not thread-safe.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

NO_LEADER = -1


@dataclass(frozen=True)
class BrokerRegistration:
    broker_id: int
    incarnation: str
    epoch: int
    host: str
    port: int
    rack: str | None = None
    fenced: bool = True
    in_controlled_shutdown: bool = False
    kafka: str | None = None


@dataclass(frozen=True)
class PartitionState:
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    leader: int
    leader_epoch: int = 0
    partition_epoch: int = 0
    adding: tuple[int, ...] = ()
    removing: tuple[int, ...] = ()
    last_unclean_election: dict | None = None

    @property
    def preferred_leader(self) -> int:
        return self.replicas[0]


@dataclass
class Topic:
    name: str
    topic_id: str
    config: dict
    partitions: list[PartitionState] = field(default_factory=list)


class MetadataImage:
    def __init__(self):
        self.brokers: dict[int, BrokerRegistration] = {}
        self.topics: dict[str, Topic] = {}
        self.offset = 0  # the Raft index of the last applied entry
        self.next_producer_id = 0

    # --- reading ------------------------------------------------------------------

    def partition(self, topic: str, partition: int) -> PartitionState:
        return self.topics[topic].partitions[partition]

    def partitions(self):
        """Every (topic, partition, state), topics in name order."""
        for name in sorted(self.topics):
            for index, state in enumerate(self.topics[name].partitions):
                yield name, index, state

    def alive(self, broker_id: int) -> bool:
        """Registered and unfenced: may lead and be in sync."""
        broker = self.brokers.get(broker_id)
        return broker is not None and not broker.fenced

    def eligible(self, broker_id: int) -> bool:
        """Alive and not shutting down: may be elected or join an ISR."""
        broker = self.brokers.get(broker_id)
        return broker is not None and not broker.fenced and not broker.in_controlled_shutdown

    # --- applying -----------------------------------------------------------------

    def apply_entry(self, offset: int, records: list[dict]) -> None:
        for record in records:
            self.apply(record, offset)
        self.offset = offset

    def apply(self, record: dict, offset: int) -> None:
        getattr(self, f"_apply_{record['type']}")(record, offset)

    def _apply_register_broker(self, r: dict, offset: int) -> None:
        self.brokers[r["broker_id"]] = BrokerRegistration(
            r["broker_id"], r["incarnation"], offset, r["host"], r["port"], r.get("rack"),
            kafka=r.get("kafka"))

    def _broker_at_epoch(self, r: dict) -> BrokerRegistration | None:
        broker = self.brokers.get(r["broker_id"])
        return broker if broker is not None and broker.epoch == r["epoch"] else None

    def _apply_unfence_broker(self, r: dict, offset: int) -> None:
        broker = self._broker_at_epoch(r)
        if broker is not None:
            self.brokers[broker.broker_id] = replace(broker, fenced=False)

    def _apply_fence_broker(self, r: dict, offset: int) -> None:
        broker = self._broker_at_epoch(r)
        if broker is not None:
            self.brokers[broker.broker_id] = replace(broker, fenced=True,
                                                     in_controlled_shutdown=False)

    def _apply_begin_shutdown(self, r: dict, offset: int) -> None:
        broker = self._broker_at_epoch(r)
        if broker is not None:
            self.brokers[broker.broker_id] = replace(broker, in_controlled_shutdown=True)

    def _apply_unregister_broker(self, r: dict, offset: int) -> None:
        self.brokers.pop(r["broker_id"], None)

    def _apply_topic(self, r: dict, offset: int) -> None:
        self.topics[r["name"]] = Topic(r["name"], r["topic_id"], dict(r["config"]))

    def _apply_partition(self, r: dict, offset: int) -> None:
        partitions = self.topics[r["topic"]].partitions
        if r["partition"] != len(partitions):
            raise ValueError(f"partition record {r['topic']}-{r['partition']} out of order "
                             f"(the topic has {len(partitions)})")
        partitions.append(PartitionState(tuple(r["replicas"]), tuple(r["isr"]), r["leader"]))

    def _apply_partition_change(self, r: dict, offset: int) -> None:
        partitions = self.topics[r["topic"]].partitions
        old = partitions[r["partition"]]
        changes: dict[str, Any] = {"partition_epoch": old.partition_epoch + 1}
        for name in ("replicas", "isr", "adding", "removing"):
            if name in r:
                changes[name] = tuple(r[name])
        if "leader" in r:
            changes["leader"] = r["leader"]
            if r["leader"] != old.leader:
                changes["leader_epoch"] = old.leader_epoch + 1
        if r.get("unclean"):
            changes["last_unclean_election"] = {"offset": offset, "leader": r["leader"],
                                                "lost_range": r.get("lost_range")}
        partitions[r["partition"]] = replace(old, **changes)

    def _apply_remove_topic(self, r: dict, offset: int) -> None:
        self.topics.pop(r["name"], None)

    def _apply_producer_ids(self, r: dict, offset: int) -> None:
        self.next_producer_id = max(self.next_producer_id, r["next"])

    # --- snapshots ----------------------------------------------------------------

    def to_json(self) -> dict:
        return {
            "offset": self.offset,
            "next_producer_id": self.next_producer_id,
            "brokers": [asdict(b) for _, b in sorted(self.brokers.items())],
            "topics": [{"name": t.name, "topic_id": t.topic_id, "config": t.config,
                        "partitions": [_partition_doc(p) for p in t.partitions]}
                       for _, t in sorted(self.topics.items())],
        }

    @classmethod
    def from_json(cls, doc: dict | None) -> "MetadataImage":
        image = cls()
        if not doc:
            return image
        image.offset = doc["offset"]
        image.next_producer_id = doc.get("next_producer_id", 0)
        for b in doc["brokers"]:
            image.brokers[b["broker_id"]] = BrokerRegistration(**b)
        for t in doc["topics"]:
            topic = Topic(t["name"], t["topic_id"], t["config"])
            for p in t["partitions"]:
                topic.partitions.append(PartitionState(
                    tuple(p["replicas"]), tuple(p["isr"]), p["leader"], p["leader_epoch"],
                    p["partition_epoch"], tuple(p["adding"]), tuple(p["removing"]),
                    p["last_unclean_election"]))
            image.topics[topic.name] = topic
        return image

    def digest(self) -> str:
        doc = self.to_json()
        doc.pop("offset")
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]

    def describe(self) -> dict:
        """The image as the describe reply and the status pages show it."""
        return self.to_json()


def _partition_doc(p: PartitionState) -> dict:
    return {"replicas": list(p.replicas), "isr": list(p.isr), "leader": p.leader,
            "leader_epoch": p.leader_epoch, "partition_epoch": p.partition_epoch,
            "adding": list(p.adding), "removing": list(p.removing),
            "last_unclean_election": p.last_unclean_election}
