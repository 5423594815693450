"""Growing a replicated topic's partition count (Kafka's CreatePartitions)
on a cluster of three brokers at replication factor 3: through ember's
store handle and through a Kafka admin client at the brokers' Kafka
listeners. The new partitions get three replicas spread over the brokers, a
leader, a full ISR and epoch 0, and replicate; an idempotent producer and a
consumer group running across the growth use them, and every acknowledged
record is read exactly once."""

from __future__ import annotations

import collections
import subprocess
import sys
import threading

import pytest

from ember.engine.errors import InvalidPartitionsError, UnknownTopicOrPartitionError
from ember.engine.wire.secret_file import write_secret_file
from ember.engine.wire.transport import new_secret

from tests.ingest.broker_helpers import read_topic
from tests.replication.cluster_helpers import replica_view, wait_for

pytestmark = pytest.mark.slow


def test_a_replicated_topic_grows_through_the_store_and_a_kafka_admin_client(start_cluster):
    kafka = pytest.importorskip("kafka")
    store = start_cluster(kafka_listener=True)
    store.create_topic("events", partitions=2)

    for count, error, message in [
            (1, InvalidPartitionsError, "currently has 2 partitions, which is higher than the "
                                        "requested 1"),
            (2, InvalidPartitionsError, "already has 2 partitions"),
            (0, InvalidPartitionsError, "partitions = 0")]:
        with pytest.raises(error, match=message):
            store.create_partitions("events", count)
    with pytest.raises(UnknownTopicOrPartitionError, match="'nope'"):
        store.create_partitions("nope", 3)
    store.create_partitions("events", 5, validate_only=True)
    assert store.partitions_for("events") == 2

    store.create_partitions("events", 5)
    info = store.topic_metadata(["events"])["events"]
    assert info["partitions"] == 5
    new = range(2, 5)
    for p in new:
        assert sorted(info["replicas"][p]) == [1, 2, 3]
        assert sorted(info["isr"][p]) == [1, 2, 3]
        assert info["leaders"][p] == info["replicas"][p][0] and info["leader_epochs"][p] == 0
    # Three new partitions over three brokers: each broker leads one.
    assert sorted(info["leaders"][p] for p in new) == [1, 2, 3]

    # Through the Kafka listeners: a validation, a refusal, then a growth.
    bootstrap = list(store.cluster.kafka_addresses.values())
    admin = kafka.KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=20000)
    try:
        from kafka.admin import NewPartitions
        admin.create_partitions({"events": NewPartitions(7)}, validate_only=True)
        assert store.partitions_for("events") == 5
        with pytest.raises(kafka.errors.InvalidPartitionsError):
            admin.create_partitions({"events": NewPartitions(4)})
        admin.create_partitions({"events": NewPartitions(7)})
        # Answered once the listener's broker has them; the broker the
        # store's handle asks may apply the metadata a moment later.
        wait_for(lambda: store.partitions_for("events") == 7, 30,
                 what="every broker's metadata to show 7 partitions")
        described = wait_for(lambda: next(
            (d for d in admin.describe_topics(["events"]) if len(d["partitions"]) == 7), None),
            30, what="the Kafka metadata to list 7 partitions")
        assert all(sorted(p["isr_nodes"]) == [1, 2, 3] for p in described["partitions"])
    finally:
        admin.close()

    # Records in every partition, old and new, are replicated to all three
    # brokers and read back.
    with store.producer() as producer:
        for i in range(70):
            producer.send("events", f"e{i}".encode(), partition=i % 7)
        producer.flush(60)
    contents = read_topic(store, "events")
    assert {p: sorted(v for _, _, v in records) for p, records in contents.items()} == \
        {p: sorted(f"e{i}".encode() for i in range(p, 70, 7)) for p in range(7)}
    wait_for(lambda: all((replica_view(store, node, "events", p) or {}).get("log_end_offset") == 10
                         for node in (1, 2, 3) for p in range(7)),
             60, what="every replica of every partition to hold its 10 records")


class _GroupMember(threading.Thread):
    """One consumer of a group, polling until told to stop; records every
    (partition, offset, value) it is given."""

    def __init__(self, store, topic, group, reads, lock):
        super().__init__(daemon=True)
        self.consumer = store.consumer(topic, group_id=group, auto_offset_reset="earliest",
                                       heartbeat_interval_ms=300, session_timeout_ms=10000,
                                       auto_commit_interval_ms=500)
        self.reads, self.lock = reads, lock
        self.stop = threading.Event()
        self.error = None

    def run(self):
        try:
            while not self.stop.is_set():
                batch = self.consumer.poll(timeout_ms=200)
                with self.lock:
                    self.reads += [(tp.partition, r.offset, r.value)
                                   for tp, records in batch.items() for r in records]
        except Exception as error:  # noqa: BLE001 - reported by the test
            self.error = error
        finally:
            self.consumer.close()


def test_a_producer_and_a_group_running_across_the_growth_lose_and_repeat_nothing(cluster):
    cluster.create_topic("orders", partitions=2)
    lock = threading.Lock()
    reads: list = []
    members = [_GroupMember(cluster, "orders", "billing", reads, lock) for _ in range(2)]
    for member in members:
        member.start()
    wait_for(lambda: all(m.consumer.assignment() for m in members), 60,
             what="both members of the group to be assigned a partition")

    producer = cluster.producer(metadata_max_age_ms=300, linger_ms=2)
    acked: dict = {}
    failed: dict = {}
    sent: list = []
    stop = threading.Event()

    def produce():
        n = 0
        while not stop.is_set():
            value = f"o{n}".encode()
            sent.append(value)
            future = producer.send("orders", value, key=f"customer-{n % 50}".encode())
            future.add_callback(lambda md, v=value: acked.__setitem__(v, (md.partition, md.offset)))
            future.add_errback(lambda error, v=value: failed.__setitem__(v, repr(error)))
            n += 1
            if n % 20 == 0:
                producer.flush(60)

    sender = threading.Thread(target=produce, daemon=True)
    sender.start()
    try:
        wait_for(lambda: len(acked) >= 200, 60, what="200 acknowledged records before the growth")
        cluster.create_partitions("orders", 4)
        # Keys now hash over four partitions, and the group rebalances onto them.
        wait_for(lambda: {p for p, _ in list(acked.values())} >= {2, 3}, 60,
                 what="records acknowledged in the new partitions 2 and 3")
        wait_for(lambda: {p for p, _, _ in list(reads)} >= {2, 3}, 60,
                 what="the group to read the new partitions")
        wait_for(lambda: sorted(tp.partition for m in members
                                for tp in m.consumer.assignment()) == [0, 1, 2, 3], 60,
                 what="the four partitions to be shared by the two members")
        target = len(acked) + 200
        wait_for(lambda: len(acked) >= target, 60, what="200 more acknowledged records")
    finally:
        stop.set()
        sender.join(60)
        producer.flush(60)
        producer.close()
    assert not failed, f"refused records: {list(failed.items())[:3]}"
    assert len(acked) == len(sent)

    wait_for(lambda: {v for _, _, v in list(reads)} >= set(acked), 60,
             what="the group to read every acknowledged record")
    for member in members:
        member.stop.set()
    for member in members:
        member.join(60)
        assert member.error is None, member.error

    stored = {value: (p, offset) for p, records in read_topic(cluster, "orders").items()
              for offset, _, value in records}
    assert stored == acked  # each acknowledged once, where its acknowledgement said
    counts = collections.Counter(v for _, _, v in reads)
    repeated = [v for v, n in counts.items() if n > 1]
    assert not repeated, f"read more than once: {repeated[:5]}"
    assert all(stored[v] == (p, o) for p, o, v in reads)


def test_topics_create_with_a_replication_factor_and_alter_from_the_shell(start_cluster,
                                                                           tmp_path):
    secret = new_secret()
    write_secret_file(tmp_path / "secret", secret)
    store = start_cluster(secret=secret)
    args = ["--broker", store.address, "--secret-file", str(tmp_path / "secret")]

    def topics(*more):
        return subprocess.run([sys.executable, "-m", "ember", "logstore", "topics", *args, *more],
                              capture_output=True, text=True, timeout=120)

    created = topics("--create", "audit", "--partitions", "1", "--replication-factor", "2")
    assert created.returncode == 0, created.stderr
    assert "Created topic audit with 1 partition and replication factor 2." in created.stdout
    grown = topics("--alter", "audit", "--partitions", "3")
    assert grown.returncode == 0 and "Topic audit now has 3 partitions." in grown.stdout, \
        grown.stderr
    info = store.topic_metadata(["audit"])["audit"]
    assert [len(replicas) for replicas in info["replicas"]] == [2, 2, 2]
    described = topics("--describe", "audit").stdout
    assert "Topic: audit\tPartitions: 3\tReplicationFactor: 2" in described
    assert all(f"Partition: {p}\t" in described for p in range(3))
    too_many = topics("--create", "wide", "--replication-factor", "4")
    assert too_many.returncode == 1
    assert "InvalidReplicationFactorError: topic 'wide': replication factor 4 is larger than " \
           "the 3 live brokers" in too_many.stderr
    shrink = topics("--alter", "audit", "--partitions", "2")
    assert shrink.returncode == 1 and "InvalidPartitionsError" in shrink.stderr
