"""Brokers in a cluster: registration, roles from the controller's metadata,
followers fetching from leaders, the high watermark, acks=all and
min.insync.replicas, with real broker and controller processes."""

from __future__ import annotations

import signal

import pytest

from ember.engine.errors import NotEnoughReplicasError, NotLeaderOrFollowerError
from ember.ingest.client.client import BrokerConnection
from ember.ingest.structs import TopicPartition

from tests.replication.cluster_helpers import (
    leader_of, partition_state, replica_view, stored_values, wait_for,
)

pytestmark = pytest.mark.slow


def test_every_broker_registers_and_each_partition_gets_a_leader_and_full_isr(cluster):
    cluster.create_topic("events", 3)
    info = cluster.topic_metadata(["events"])["events"]
    assert info["partitions"] == 3
    assert [sorted(r) for r in info["replicas"]] == [[1, 2, 3]] * 3
    assert [sorted(i) for i in info["isr"]] == [[1, 2, 3]] * 3
    assert all(leader in (1, 2, 3) for leader in info["leaders"])
    assert info["config"]["min.insync.replicas"] == 2

    def roles():
        described = cluster.describe_cluster()
        return {(p, node): described[node]["partitions"].get(f"events-{p}", {}).get("role")
                for node in described for p in range(3)}

    # Each broker takes its roles once it has applied the topic's metadata.
    expected = {(p, node): "leader" if node == leader else "follower"
                for p, leader in enumerate(info["leaders"]) for node in (1, 2, 3)}
    wait_for(lambda: roles() == expected, what="every broker to take its roles")


def test_acks_all_records_are_stored_byte_for_byte_on_every_replica(cluster):
    cluster.create_topic("events", 2)
    values = [f"value-{i}".encode() for i in range(300)]
    with cluster.producer() as producer:
        futures = [producer.send("events", v, partition=i % 2) for i, v in enumerate(values)]
        producer.flush(60)
        acked = {v: f.get() for v, f in zip(values, futures)}
    expected = {p: [(m.offset, v) for v, m in sorted(acked.items(), key=lambda x: x[1].offset)
                    if m.partition == p] for p in (0, 1)}
    # Every replica reaches the leader's end and high watermark.
    for p in (0, 1):
        wait_for(lambda: all(
            (view := replica_view(cluster, node, "events", p)) is not None
            and view["log_end_offset"] == len(expected[p])
            and view["high_watermark"] == len(expected[p]) for node in (1, 2, 3)),
            what=f"every replica of events-{p} to hold {len(expected[p])} records")
    cluster.stop()
    for node in (1, 2, 3):
        directory = cluster.cluster.broker_directory(node)
        for p in (0, 1):
            assert stored_values(directory, "events", p) == expected[p]


def test_only_the_leader_serves_produce_and_fetch(cluster):
    cluster.create_topic("events", 1)
    leader = leader_of(cluster, "events")
    follower = next(n for n in (1, 2, 3) if n != leader)
    conn = BrokerConnection(cluster.cluster.addresses[follower], cluster.secret)
    try:
        with pytest.raises(NotLeaderOrFollowerError, match="not its leader") as raised:
            conn.request("fetch", {"topic": "events", "partition": 0, "offset": 0,
                                   "max_bytes": 1024})
        assert raised.value.leader_id == leader
        reply, _ = conn.request("produce", {"acks": -1, "partitions": [["events", 0]]},
                                [_one_batch(b"x")])
        assert reply["results"][0]["error"]["type"] == "NotLeaderOrFollowerError"
    finally:
        conn.close()


def _one_batch(value):
    from ember.ingest.log.record_batch import SimpleRecord, encode_batch
    return encode_batch([SimpleRecord(None, value)], timestamp=1_700_000_000_000)


def test_records_past_the_high_watermark_are_never_read(start_cluster):
    # Leaders answer their followers with nothing: what a leader appends stays
    # its own, above the high watermark, until it disappears with the leader.
    store = start_cluster(env={"EMBER_BROKER_FAULTS": "replica_fetch.stall@*"},
                          broker_args=["--replica-lag-time-max-ms", "600000"])
    store.create_topic("events", 1)
    leader = leader_of(store, "events")
    with store.producer(acks=1) as producer:
        metadata = [producer.send("events", f"unreplicated-{i}".encode()).get(30)
                    for i in range(5)]
    assert [m.offset for m in metadata] == [0, 1, 2, 3, 4]
    view = replica_view(store, leader, "events")
    assert (view["log_end_offset"], view["high_watermark"]) == (5, 0)
    assert store.list_offsets([("events", 0, -1)]) == [0]
    consumer = store.consumer(enable_auto_commit=False, auto_offset_reset="earliest")
    consumer.assign([TopicPartition("events", 0)])
    assert consumer.poll(timeout_ms=1000) == {}
    consumer.close()


@pytest.mark.fault
def test_acks_all_is_refused_with_fewer_in_sync_replicas_than_the_minimum(cluster):
    cluster.create_topic("events", 1)
    with cluster.producer() as producer:
        for i in range(20):
            producer.send("events", f"before-{i}".encode())
        producer.flush(60)
    leader = leader_of(cluster, "events")
    for node in (1, 2, 3):
        if node != leader:
            cluster.cluster.kill(node, signal.SIGKILL)
    wait_for(lambda: partition_state(cluster, "events")[2] == [leader],
             what="the ISR to shrink to the leader")
    with cluster.producer(delivery_timeout_ms=3000) as producer:
        future = producer.send("events", b"refused")
        with pytest.raises(NotEnoughReplicasError, match="min.insync.replicas=2"):
            future.get(30)
    with cluster.producer(acks=1) as producer:
        assert producer.send("events", b"acks-1").get(30).offset == 20
    # What was acknowledged stays readable from the lone leader.
    consumer = cluster.consumer(enable_auto_commit=False, auto_offset_reset="earliest")
    consumer.assign([TopicPartition("events", 0)])
    seen = []
    wait_for(lambda: seen.extend(r.value for rs in consumer.poll(500).values() for r in rs)
             or len(seen) >= 21, what="the records to be read back")
    consumer.close()
    assert seen[:20] == [f"before-{i}".encode() for i in range(20)]
    assert b"refused" not in seen
