"""Clients of a cluster follow leaders: producers, consumers and groups,
topic RDDs and Kafka clients find each partition's leader (and each group's
coordinator) through metadata and follow them through a leader's clean
stop or loss (RELIABILITY.md L03; I3 after a failover)."""

from __future__ import annotations

import threading
import time

import pytest

import ember
from ember.ingest import topic_rdd
from ember.ingest.server.group_metadata_manager import OFFSETS_TOPIC, offsets_partition
from ember.ingest.structs import TopicPartition

from tests.ingest.broker_helpers import AckHistory, check_history, read_topic
from tests.replication.cluster_helpers import leader_of, wait_for, wait_for_new_leader

pytestmark = pytest.mark.slow


class BackgroundProducer:
    """Sends unique values as fast as acknowledgements allow, recording
    every outcome, until stopped."""

    def __init__(self, store, topic, **configs):
        self.history = AckHistory()
        self.errors = []
        self._producer = store.producer(**configs)
        self._topic = topic
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.sent = 0

    def __enter__(self):
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            value = f"v{self.sent}".encode()
            future = self._producer.send(self._topic, value)
            self.history.track(future, value)
            future.add_errback(self.errors.append)
            self.sent += 1
            if self.sent % 20 == 0:
                self._producer.flush(120)

    def wait_acked(self, count, timeout=60.0):
        wait_for(lambda: len(self.history) >= count, timeout,
                 what=f"{count} acknowledged records (have {len(self.history)})")

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join(60)
        self._producer.flush(120)
        self._producer.close()


def test_a_leaders_clean_stop_moves_leadership_and_the_producer_follows(cluster):
    cluster.create_topic("events", 1)
    with BackgroundProducer(cluster, "events") as producer:
        producer.wait_acked(100)
        old = leader_of(cluster, "events")
        cluster.cluster.stop_broker(old)  # SIGTERM-like: controlled shutdown
        new = wait_for_new_leader(cluster, "events", old)
        acked = len(producer.history)
        producer.wait_acked(acked + 100)
    assert producer.errors == [], producer.errors[:3]
    check_history(producer.history, read_topic(cluster, "events"))
    # The broker comes back (clean shutdown marker: no recovery) and rejoins the ISR.
    cluster.cluster.restart(old)
    wait_for(lambda: sorted(cluster.topic_metadata(["events"])["events"]["isr"][0]) == [1, 2, 3],
             what=f"broker {old} to rejoin the ISR of a partition led by {new}")


@pytest.mark.fault
def test_committed_offsets_survive_the_loss_of_the_groups_coordinator(cluster):
    cluster.create_topic("events", 2)
    with cluster.producer() as producer:
        for i in range(60):
            producer.send("events", f"r{i}".encode(), partition=i % 2)
        producer.flush(60)
    consumer = cluster.consumer("events", group_id="readers", auto_offset_reset="earliest",
                                enable_auto_commit=False)
    seen = []
    wait_for(lambda: seen.extend(r.value for rs in consumer.poll(500).values() for r in rs)
             or len(seen) >= 60, what="60 records to be read")
    consumer.commit({TopicPartition("events", 0): 17, TopicPartition("events", 1): 23})
    consumer.close(autocommit=False)
    offsets = cluster.topic_metadata([OFFSETS_TOPIC])[OFFSETS_TOPIC]
    coordinator = offsets["leaders"][offsets_partition("readers", offsets["partitions"])]
    cluster.cluster.kill(coordinator)
    again = cluster.consumer("events", group_id="readers", auto_offset_reset="earliest",
                             enable_auto_commit=False)
    try:
        assert again.committed(TopicPartition("events", 0)) == 17
        assert again.committed(TopicPartition("events", 1)) == 23
        rest = []
        wait_for(lambda: rest.extend((tp.partition, r.offset) for tp, rs in
                                     again.poll(500).items() for r in rs) or len(rest) >= 20,
                 what="the records after the committed offsets")
        assert sorted(rest) == [(0, o) for o in range(17, 30)] + [(1, o) for o in range(23, 30)]
    finally:
        again.close()


@pytest.mark.fault
def test_a_topic_rdd_recomputed_after_a_failover_reads_the_same_records(cluster):
    cluster.create_topic("events", 2)
    with cluster.producer() as producer:
        for i in range(400):
            producer.send("events", f"line {i % 37}".encode(), key=f"k{i}".encode())
        producer.flush(60)
    sc = ember.Context("local[2]", appName="replication-rdd")
    try:
        rdd = topic_rdd(sc, cluster, "events")
        first = sorted(rdd.collect())
        assert len(first) == 400
        cluster.cluster.kill(leader_of(cluster, "events", 0))
        # Every partition is read again, one of them from a new leader.
        assert sorted(rdd.collect()) == first
        counts = dict(rdd.map(lambda kv: (kv[1], 1)).reduceByKey(lambda a, b: a + b).collect())
        assert counts == {f"line {n}": sum(1 for i in range(400) if i % 37 == n)
                          for n in range(37)}
    finally:
        sc.stop()


def test_kafka_clients_see_each_partitions_real_leader(start_cluster):
    kafka = pytest.importorskip("kafka")
    store = start_cluster(kafka_listener=True)
    store.create_topic("events", 3)
    leaders = store.topic_metadata(["events"])["events"]["leaders"]
    bootstrap = [a for a in store.cluster.kafka_addresses.values()]
    admin = kafka.KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    try:
        described = admin.describe_topics(["events"])[0]
        assert {p["partition_index"]: p["leader_id"] for p in described["partitions"]} == \
            dict(enumerate(leaders))
        assert all(sorted(p["isr_nodes"]) == [1, 2, 3] for p in described["partitions"])
    finally:
        admin.close()
    producer = kafka.KafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                   request_timeout_ms=10000)
    try:
        for i in range(30):
            producer.send("events", f"k{i}".encode(), partition=i % 3)
        producer.flush(30)
    finally:
        producer.close()
    contents = read_topic(store, "events")
    assert sorted(v for records in contents.values() for _, _, v in records) == \
        sorted(f"k{i}".encode() for i in range(30))
    assert {p: len(records) for p, records in contents.items()} == {0: 10, 1: 10, 2: 10}
