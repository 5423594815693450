"""The Kafka listener against three independent client implementations
(kafka-python, confluent-kafka, kcat): produce with acks=all and
idempotence, consume from the beginning, each compression codec stored as
received, seek and offsets-for-times, commit and resume, topic
administration; every result compared with what ember's own consumer reads
from the same log."""

from __future__ import annotations

import time

import pytest

from kafka_helpers import kafka_python_member, kcat, read_log
from tests.waiting import wait_for
from ember.ingest.log import compression
from ember.ingest.log.record_batch import scan_batches
from kafka_clients import CLIENTS, CODECS, consume_from_beginning, create_list_delete, produce

pytestmark = pytest.mark.slow


def make_records(tag: str, count: int, partitions: int = 3):
    return [(i % partitions, b"key-%d" % i, f"{tag}-{i}".encode()) for i in range(count)]


def expected(records, partitions: int = 3) -> dict[int, list]:
    out = {p: [] for p in range(partitions)}
    for p, k, v in records:
        out[p].append((k, v))
    return out


def stored(kafka_store, topic: str) -> dict[int, list]:
    return {p: [(k, v) for k, v, _ in items] for p, items in read_log(kafka_store, topic).items()}


@pytest.mark.parametrize("client", CLIENTS)
def test_produce_with_acks_all_and_idempotence_then_consume_from_the_beginning(
        kafka_store, new_topic, client):
    topic = new_topic(3)
    records = make_records(client, 300)
    produce(client, kafka_store.kafka_address, topic, records)
    # Every acknowledged record is in the log exactly once, in order per partition ...
    assert stored(kafka_store, topic) == expected(records)
    # ... and the same client reads it back from offset 0.
    assert consume_from_beginning(client, kafka_store.kafka_address, topic, 3, 300) == \
        expected(records)


@pytest.mark.parametrize("client", CLIENTS)
def test_records_an_ember_producer_wrote_are_read_by_kafka_clients(kafka_store, new_topic,
                                                                   client):
    topic = new_topic(2)
    with kafka_store.producer(compression_type="lz4") as producer:
        for i in range(100):
            producer.send(topic, value=b"ember-%d" % i, key=b"k%d" % i, partition=i % 2)
        producer.flush()
    got = consume_from_beginning(client, kafka_store.kafka_address, topic, 2, 100)
    assert got == {p: [(b"k%d" % i, b"ember-%d" % i) for i in range(p, 100, 2)] for p in range(2)}


def stored_codecs(kafka_store, topic: str, partitions: int) -> set[int]:
    codecs = set()
    for p in range(partitions):
        reply, frames = kafka_store._admin.request("fetch", {
            "topic": topic, "partition": p, "offset": 0, "max_bytes": 1 << 24})
        codecs |= {header.compression for _, header in scan_batches(frames[0])}
    return codecs


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("client", CLIENTS)
def test_batches_in_each_codec_are_stored_as_received_and_read_by_every_consumer(
        kafka_store, new_topic, client, codec):
    topic = new_topic(2)
    records = [(i % 2, b"k%d" % i, (f"{client}-{codec}-{i} " * 8).encode()) for i in range(200)]
    produce(client, kafka_store.kafka_address, topic, records, compression=codec)
    assert stored_codecs(kafka_store, topic, 2) == {compression.codec_for(codec)}
    assert stored(kafka_store, topic) == expected(records, 2)  # ember decompresses it
    assert consume_from_beginning(client, kafka_store.kafka_address, topic, 2, 200) == \
        expected(records, 2)


@pytest.mark.parametrize("client", CLIENTS)
def test_seek_and_offsets_for_times(kafka_store, new_topic, client):
    topic = new_topic(1)
    address = kafka_store.kafka_address
    produce(client, address, topic, [(0, None, b"early-%d" % i) for i in range(10)])
    time.sleep(0.05)
    boundary = int(time.time() * 1000)
    time.sleep(0.05)
    produce(client, address, topic, [(0, None, b"late-%d" % i) for i in range(10)])
    if client == "kafka-python":
        from kafka import KafkaConsumer, TopicPartition
        tp = TopicPartition(topic, 0)
        consumer = KafkaConsumer(bootstrap_servers=address, enable_auto_commit=False)
        try:
            consumer.assign([tp])
            assert consumer.offsets_for_times({tp: boundary})[tp].offset == 10
            assert consumer.beginning_offsets([tp])[tp] == 0
            assert consumer.end_offsets([tp])[tp] == 20
            consumer.seek(tp, 15)
            got = []
            deadline = time.monotonic() + 30
            while len(got) < 5 and time.monotonic() < deadline:
                got += [m.value for ms in consumer.poll(timeout_ms=500).values() for m in ms]
        finally:
            consumer.close()
    elif client == "confluent-kafka":
        from confluent_kafka import Consumer, TopicPartition
        from kafka_helpers import confluent_config
        consumer = Consumer(confluent_config(address, **{"group.id": f"seek-{topic}",
                                                         "enable.auto.commit": False}))
        try:
            found = consumer.offsets_for_times([TopicPartition(topic, 0, boundary)], timeout=30)
            assert found[0].offset == 10
            assert consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=30) == (0, 20)
            consumer.assign([TopicPartition(topic, 0, 15)])
            got = []
            deadline = time.monotonic() + 30
            while len(got) < 5 and time.monotonic() < deadline:
                got += [m.value() for m in consumer.consume(10, timeout=0.5) if not m.error()]
        finally:
            consumer.close()
    else:
        by_time = kcat("-b", address, "-C", "-t", topic, "-o", f"s@{boundary}", "-e", "-q",
                       "-f", "%o %s\n").stdout.split()
        assert by_time[:2] == [b"10", b"late-0"]
        got = kcat("-b", address, "-C", "-t", topic, "-o", "15", "-e", "-q",
                   "-f", "%s\n").stdout.split()
    assert got[:5] == [b"late-%d" % i for i in range(5, 10)]


def committed(kafka_store, group: str, topic: str, partitions: int) -> list:
    consumer = kafka_store.consumer(group_id=group, enable_auto_commit=False)
    try:
        from ember.ingest.structs import TopicPartition
        return [consumer.committed(TopicPartition(topic, p)) for p in range(partitions)]
    finally:
        consumer.close()


@pytest.mark.parametrize("client", CLIENTS)
def test_commit_and_resume(kafka_store, new_topic, client):
    topic = new_topic(1)
    group = f"resume-{topic}"
    address = kafka_store.kafka_address
    produce(client, address, topic, [(0, None, b"r-%d" % i) for i in range(40)])
    if client == "kafka-python":
        first = kafka_python_member(address, topic, group_id=group,
                                    auto_offset_reset="earliest", enable_auto_commit=False,
                                    max_poll_records=15)
        got = wait_for(lambda: [m.value for ms in first.poll(timeout_ms=500).values() for m in ms],
                       timeout=60, what="the first poll")
        first.commit()
        first.close()
        assert committed(kafka_store, group, topic, 1) == [15]
        second = kafka_python_member(address, topic, group_id=group,
                                     auto_offset_reset="earliest", enable_auto_commit=False)
        rest = []
        deadline = time.monotonic() + 30
        while len(rest) < 25 and time.monotonic() < deadline:
            rest += [m.value for ms in second.poll(timeout_ms=500).values() for m in ms]
        second.close()
    elif client == "confluent-kafka":
        from confluent_kafka import Consumer
        from kafka_helpers import confluent_config
        settings = confluent_config(address, **{"group.id": group, "auto.offset.reset": "earliest",
                                                "enable.auto.commit": False})
        first = Consumer(settings)
        first.subscribe([topic])
        got = []
        deadline = time.monotonic() + 30
        while len(got) < 15 and time.monotonic() < deadline:
            got += [m.value() for m in first.consume(15 - len(got), timeout=0.5) if not m.error()]
        first.commit(asynchronous=False)
        first.close()
        assert committed(kafka_store, group, topic, 1) == [15]
        second = Consumer(settings)
        second.subscribe([topic])
        rest = []
        deadline = time.monotonic() + 30
        while len(rest) < 25 and time.monotonic() < deadline:
            rest += [m.value() for m in second.consume(25, timeout=0.5) if not m.error()]
        second.close()
    else:
        got = kcat("-b", address, "-G", group, topic, "-c", "15", "-q", "-f", "%s\n",
                   "-X", "auto.offset.reset=earliest").stdout.split()
        assert committed(kafka_store, group, topic, 1) == [15]
        rest = kcat("-b", address, "-G", group, topic, "-c", "25", "-q", "-f", "%s\n",
                    "-X", "auto.offset.reset=earliest").stdout.split()
    assert got == [b"r-%d" % i for i in range(15)]
    assert rest == [b"r-%d" % i for i in range(15, 40)]


@pytest.mark.parametrize("client", CLIENTS)
def test_create_list_and_delete_topics(kafka_store, client):
    name = f"admin-{client}-{int(time.time() * 1000) % 100000}"
    listed, after = create_list_delete(client, kafka_store.kafka_address, name)
    assert name in listed and name not in after
    assert name not in kafka_store.topics()


def test_admin_clients_grow_partitions_describe_configs_and_groups(kafka_store, new_topic):
    from confluent_kafka import ConsumerGroupState
    from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions
    from kafka_helpers import confluent_config
    topic = new_topic(2, **{"retention.ms": 3_600_000})
    admin = AdminClient(confluent_config(kafka_store))
    admin.create_partitions([NewPartitions(topic, 5)])[topic].result(30)
    assert kafka_store.partitions_for(topic) == 5
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    configs = admin.describe_configs([resource])[resource].result(30)
    assert configs["retention.ms"].value == "3600000" and not configs["retention.ms"].is_default
    assert configs["segment.bytes"].is_default
    group = f"described-{topic}"
    consumer = kafka_python_member(kafka_store.kafka_address, topic, group_id=group,
                                   auto_offset_reset="earliest")
    try:
        wait_for(lambda: consumer.poll(timeout_ms=100) is not None and consumer.assignment(),
                 timeout=60, what="the consumer to be assigned")
        listed = admin.list_consumer_groups().result(30)
        assert group in {g.group_id for g in listed.valid}
        described = admin.describe_consumer_groups([group])[group].result(30)
        assert described.state == ConsumerGroupState.STABLE
        [member] = described.members
        assert {tp.partition for tp in member.assignment.topic_partitions} == set(range(5))
    finally:
        consumer.close()
