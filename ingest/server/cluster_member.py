"""ClusterMember: what a broker does as one member of a replicated cluster.

Wires the broker's replica manager to the cluster: the lifecycle
(``broker_lifecycle``: registration, heartbeats, the metadata image), the
replica fetchers (``replica_fetcher``), and the ISR changes the replica
manager proposes, sent to the controller one at a time on their own thread
(``alter_partition`` with the broker epoch, leader epoch and partition
epoch, so the controller refuses a stale leader). A refused or unanswered
change is forgotten (the replica manager proposes again if it still
applies); an accepted one updates the partition at once (the controller's
answer is committed), as Kafka's leader does with its AlterPartition
response.

It also answers what clients ask any broker of a cluster: ``metadata``
(topics with each partition's leader, leader epoch, replicas and ISR, and
every broker's address, from the image this broker applied), topic creation
and deletion (forwarded to the controller, answered once this broker's
image shows the outcome), reassignments (started or cancelled at the
controller, listed from the image), and ``describe``.

What it must not know: sockets of clients (the broker replies), the log
format.

Thread-safety: thread-safe; ``start``/``stop`` from the broker's thread.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass

from ember.engine.errors import (
    EmberError, KafkaTimeoutError, NotCoordinatorError, TopicAlreadyExistsError,
)
from ember.ingest.log.log_config import LogConfig
from ember.ingest.server.broker_lifecycle import BrokerLifecycle, ClusterProducerIds
from ember.ingest.server.group_metadata_manager import (
    OFFSETS_TOPIC, OFFSETS_TOPIC_CONFIG, offsets_partition,
)
from ember.ingest.server.partition import LEADER
from ember.ingest.server.replica_fetcher import ReplicaFetcherManager
from ember.ingest.server.replica_manager import CLUSTER_CONFIGS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplicationSettings:
    """A cluster broker's replication settings (Kafka's names).

    replica.lag.time.max.ms: a follower that has not caught up with the
    leader's log end for this long leaves the ISR (Kafka: 30 s; a dead
    broker leaves sooner, when its session expires at the controller).
    default.replication.factor: for topics created without one (Kafka: 1;
    here, unless set, the smaller of 3 and the brokers alive).
    offsets.topic.replication.factor, offsets.topic.num.partitions: of the
    internal topic keeping committed offsets (Kafka: 3 and 50; a partition
    costs a Python broker more, hence 3)."""

    replica_lag_time_max_ms: int = 10_000
    default_replication_factor: int | None = None
    offsets_topic_replication_factor: int = 3
    offsets_topic_num_partitions: int = 3


class ClusterMember:
    def __init__(self, broker, controllers: dict[int, str], secret: bytes,
                 advertised_host: str | None, settings: ReplicationSettings):
        self.broker = broker
        self.node_id = broker.node_id
        self.settings = settings
        host, port = broker.address.rsplit("://", 1)[1].rsplit(":", 1)
        self.address = f"tcp://{advertised_host or host}:{port}"
        self.replicas = broker.replicas
        self.fetchers = ReplicaFetcherManager(self.node_id, secret)
        self.replicas.fetchers = self.fetchers
        self.replicas.alter_isr = self._alter_isr
        self.replicas.on_leadership = self._leadership_changed
        self.lifecycle = BrokerLifecycle(
            self.node_id, controllers, secret, advertised_host or host, int(port),
            kafka=broker.kafka_address, on_image=self.replicas.apply_metadata,
            replica_offsets=self._replica_offsets)
        self.producer_ids = ClusterProducerIds(self.lifecycle)
        self._isr_changes: queue.Queue = queue.Queue()
        self._isr_thread = threading.Thread(target=self._send_isr_changes, daemon=True,
                                            name="ember-broker-alter-isr")

    def start(self) -> None:
        self._isr_thread.start()
        self.lifecycle.start()

    def stop(self) -> None:
        self.lifecycle.stop(controlled=True)
        self._isr_changes.put(None)
        self.fetchers.stop()
        self._isr_thread.join(5)

    @property
    def image(self):
        return self.lifecycle.image

    # --- ISR changes --------------------------------------------------------------

    def _alter_isr(self, partition, isr: list[int]) -> None:
        self._isr_changes.put((partition, tuple(isr), partition.leader_epoch,
                               partition.partition_epoch))

    def _send_isr_changes(self) -> None:
        while True:
            change = self._isr_changes.get()
            if change is None:
                return
            partition, isr, leader_epoch, partition_epoch = change
            try:
                reply = self.lifecycle.request(
                    "alter_partition", timeout=5.0, broker_id=self.node_id,
                    broker_epoch=self.lifecycle.epoch, topic=partition.topic,
                    partition=partition.index, leader_epoch=leader_epoch,
                    partition_epoch=partition_epoch, isr=list(isr))
            except EmberError as error:
                log.info("%s: ISR change to %s refused: %s", partition.log.name, list(isr), error)
                self.replicas.isr_change_failed(partition, isr)
                continue
            log.info("%s: ISR is now %s (partition epoch %d)", partition.log.name,
                     reply["isr"], reply["partition_epoch"])
            self.replicas.isr_changed(partition, isr, reply)

    # --- group coordination -------------------------------------------------------

    def _leadership_changed(self, topic: str, partition: int, leads: bool) -> None:
        """From the metadata thread: load or drop the groups of an offsets
        partition this broker starts or stops leading."""
        if topic != OFFSETS_TOPIC:
            return
        offsets = self.broker.offsets
        offsets.partitions = self.broker.logs.describe_topic(OFFSETS_TOPIC).partitions
        if leads:
            offsets.load(partition, self.broker.logs.get_log(OFFSETS_TOPIC, partition))
        else:
            self.broker.groups.forget(offsets.unload(partition))

    def find_coordinator(self, group: str) -> dict:
        """The broker coordinating ``group``: the leader of its offsets
        partition (the offsets topic is created on first use)."""
        image = self.image
        topic = image.topics.get(OFFSETS_TOPIC)
        if topic is None:
            live = sum(1 for b in image.brokers.values() if not b.fenced)
            factor = max(1, min(self.settings.offsets_topic_replication_factor, live))
            try:
                self.lifecycle.request(
                    "create_topic", topic=OFFSETS_TOPIC,
                    partitions=self.settings.offsets_topic_num_partitions,
                    replication_factor=factor, config=dict(OFFSETS_TOPIC_CONFIG))
            except TopicAlreadyExistsError:
                pass
            self._await(lambda img: OFFSETS_TOPIC in img.topics, f"topic {OFFSETS_TOPIC}")
            image = self.image
            topic = image.topics[OFFSETS_TOPIC]
        state = topic.partitions[offsets_partition(group, len(topic.partitions))]
        broker = image.brokers.get(state.leader)
        if state.leader < 0 or broker is None or broker.fenced:
            raise NotCoordinatorError(f"group {group!r}: its coordinator is not available "
                                      f"yet (the offsets partition has no leader)")
        return {"node_id": state.leader, "address": f"tcp://{broker.host}:{broker.port}"}

    # --- what clients ask ---------------------------------------------------------

    def _replica_offsets(self) -> list:
        out = []
        for (topic, index), partition in list(self.replicas.partitions.items()):
            plog = partition.log
            if plog.offline is None:
                out.append([topic, index, plog.log_end_offset, plog.high_watermark])
        return out

    def brokers(self) -> dict[str, str]:
        return {str(b.broker_id): f"tcp://{b.host}:{b.port}"
                for b in self.image.brokers.values() if not b.fenced}

    def metadata(self, wanted: list | None) -> dict:
        image = self.image
        names = sorted(image.topics) if wanted is None else wanted
        topics, unknown = {}, []
        for name in names:
            topic = image.topics.get(name) if isinstance(name, str) else None
            if topic is None:
                unknown.append(name)
                continue
            overrides = {k: v for k, v in topic.config.items() if k not in CLUSTER_CONFIGS}
            config = LogConfig().with_overrides(overrides).to_dict()
            config.update({k: topic.config[k] for k in CLUSTER_CONFIGS if k in topic.config})
            topics[name] = {
                "partitions": len(topic.partitions), "config": config,
                "leaders": [p.leader for p in topic.partitions],
                "leader_epochs": [p.leader_epoch for p in topic.partitions],
                "replicas": [list(p.replicas) for p in topic.partitions],
                "isr": [list(p.isr) for p in topic.partitions]}
        return {"topics": topics, "unknown": unknown, "node_id": self.node_id,
                "brokers": self.brokers(), "metadata_offset": image.offset}

    def create_topic(self, name, partitions, replication_factor, config) -> dict:
        if replication_factor is None:
            replication_factor = self.settings.default_replication_factor or min(
                3, sum(1 for b in self.image.brokers.values() if not b.fenced))
        reply = self.lifecycle.request(
            "create_topic", topic=name, partitions=partitions,
            replication_factor=max(1, replication_factor), config=config)
        self._await(lambda image: name in image.topics, f"topic {name!r} to be created")
        return {"replication_factor": reply.get("replication_factor"),
                "assignment": reply.get("assignment")}

    def create_partitions(self, name, count, validate_only: bool = False) -> dict:
        """Grow topic ``name`` to ``count`` partitions at the controller;
        answered once this broker's image has them (``validate_only``: the
        controller's checks alone)."""
        reply = self.lifecycle.request("create_partitions", topic=name, count=count,
                                       validate_only=validate_only)
        if not validate_only:
            self._await(lambda image: name in image.topics
                        and len(image.topics[name].partitions) >= count,
                        f"topic {name!r} to have {count} partitions")
        return {"partitions": reply.get("partitions"),
                "replication_factor": reply.get("replication_factor"),
                "assignment": reply.get("assignment")}

    def delete_topic(self, name) -> dict:
        self.lifecycle.request("delete_topic", topic=name)
        self._await(lambda image: name not in image.topics, f"topic {name!r} to be deleted")
        return {}

    def reassign_partitions(self, partitions: list) -> dict:
        """Start or cancel reassignments at the controller (it checks each
        item); answered once this broker's image shows the outcome."""
        reply = self.lifecycle.request("reassign_partitions", partitions=partitions)
        offset = reply.get("offset", -1)
        self._await(lambda image: image.offset >= offset, "the reassignment")
        return {"results": reply.get("results", {})}

    def reassignments(self) -> dict:
        return {f"{t}-{p}": {"replicas": list(s.replicas), "adding": list(s.adding),
                             "removing": list(s.removing)}
                for t, p, s in self.image.partitions() if s.adding or s.removing}

    def _await(self, predicate, what: str) -> None:
        if not self.lifecycle.wait_for(predicate, 10.0):
            raise KafkaTimeoutError(f"broker {self.node_id} did not see {what} within 10 s "
                                    f"(the controller accepted it)")

    def describe(self) -> dict:
        image = self.image
        return {"node_id": self.node_id, "address": self.address,
                "broker_epoch": self.lifecycle.epoch, "fenced": self.lifecycle.fenced,
                "metadata_offset": image.offset, "brokers": self.brokers(),
                "partitions": self.replicas.describe(),
                "leads": sorted(f"{t}-{p}" for (t, p), part in self.replicas.partitions.items()
                                if part.role == LEADER)}
