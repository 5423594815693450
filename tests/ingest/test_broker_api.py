"""The broker and its clients over real sockets: produce and fetch, the
kafka-python vocabulary, bad input as named errors (RELIABILITY.md B16),
idempotence when a reply is lost (L17) and sequence gaps (L18), the
standalone entry point, and the lifeline."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import psutil
import pytest

from ember.engine.errors import (
    AuthenticationError, ConfigError, InvalidTopicError, OffsetOutOfRangeError,
    OutOfOrderSequenceError, ProtocolError, RecordTooLargeError, SecretFileError,
    TopicAlreadyExistsError, UnknownTopicOrPartitionError,
)
from ember.ingest import connect, protocol
from ember.ingest.client.client import BrokerConnection
from ember.ingest.client.partitioner import murmur2, partition_for_key
from ember.ingest.log.record_batch import SimpleRecord, encode_batch
from ember.ingest.structs import TopicPartition

from broker_helpers import read_topic


def test_murmur2_matches_kafka():
    # Kafka's own test vectors for its murmur2 (the default partitioner's hash).
    assert murmur2(b"21") == -973932308
    assert murmur2(b"foobar") == -790332482
    assert murmur2(b"a-little-bit-long-string") == -985981536
    assert murmur2(b"a-little-bit-longer-string") == -1486304829
    assert murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") == -58897971
    assert murmur2(b"abc") == 479470107


def test_errors_cross_the_wire_with_their_class_and_fields():
    error = OffsetOutOfRangeError("offset 9 is out of range")
    error.topic, error.partition, error.offset = "t", 3, 9
    rebuilt = protocol.error_from(json.loads(protocol.error_reply(1, error))["error"])
    assert type(rebuilt) is OffsetOutOfRangeError and str(rebuilt) == str(error)
    assert (rebuilt.topic, rebuilt.partition, rebuilt.offset) == ("t", 3, 9)


def test_produce_then_consume_round_trips_keys_values_headers_and_offsets(store):
    store.create_topic("clicks", partitions=3)
    producer = store.producer(key_serializer=str.encode)
    sent = []
    for i in range(300):
        key = f"user-{i % 7}"
        future = producer.send("clicks", value=b"v%d" % i, key=key,
                               headers=[("trace", b"%d" % i)], timestamp_ms=1_700_000_000_000 + i)
        sent.append((key, b"v%d" % i, future))
    producer.flush()
    for key, value, future in sent:
        meta = future.get(timeout=5)
        assert meta.topic == "clicks" and meta.offset >= 0
        assert meta.partition == partition_for_key(key.encode(), 3)  # Kafka's placement
    consumer = store.consumer(enable_auto_commit=False, key_deserializer=bytes.decode)
    consumer.assign([TopicPartition("clicks", p) for p in range(3)])
    consumer.seek_to_beginning()
    got = {}
    while len(got) < 300:
        for tp, records in consumer.poll(timeout_ms=1000).items():
            for r in records:
                got[r.value] = r
    for key, value, future in sent:
        record = got[value]
        meta = future.get()
        assert (record.key, record.partition, record.offset) == (key, meta.partition, meta.offset)
        assert record.headers == [("trace", value[1:])]
        assert record.timestamp == meta.timestamp
    consumer.close()


def test_records_without_keys_spread_over_every_partition(store):
    store.create_topic("spread", partitions=4)
    producer = store.producer(batch_size=200, linger_ms=0)
    for i in range(400):
        producer.send("spread", value=b"x" * 50)
    producer.flush()
    counts = [len(records) for records in read_topic(store, "spread").values()]
    assert sum(counts) == 400 and all(counts), counts


@pytest.mark.parametrize("name", ["..", ".", "a/b", "x" * 250, "", "sp ace"])
def test_invalid_topic_names_are_named_errors(store, name):
    with pytest.raises(InvalidTopicError, match="invalid topic name"):
        store.create_topic(name)


def test_bad_requests_are_named_errors_and_change_nothing(store):
    store.create_topic("t", partitions=2, config={"max.message.bytes": 1000})
    producer = store.producer()
    acked = producer.send("t", value=b"kept", partition=0).get(timeout=5)
    with pytest.raises(TopicAlreadyExistsError):
        store.create_topic("t")
    with pytest.raises(ConfigError, match="retention.ms"):
        store.create_topic("u", config={"retention.mss": 5})
    with pytest.raises(UnknownTopicOrPartitionError, match="nope"):
        producer.send("nope", value=b"x")
    with pytest.raises(UnknownTopicOrPartitionError, match="partition 7"):
        producer.send("t", value=b"x", partition=7)
    with pytest.raises(TypeError, match="value must be bytes.*str.*value_serializer"):
        producer.send("t", value="text")
    with pytest.raises(TypeError, match="key must be bytes.*int"):
        producer.send("t", value=b"x", key=5)
    with pytest.raises(RecordTooLargeError, match="1000"):
        producer.send("t", value=b"x" * 2000)
    consumer = store.consumer(enable_auto_commit=False)
    with pytest.raises(UnknownTopicOrPartitionError):
        consumer.assign([TopicPartition("t", 2)])
    consumer.assign([TopicPartition("t", 0)])
    with pytest.raises(OffsetOutOfRangeError, match="-1"):
        consumer.seek(TopicPartition("t", 0), -1)
    consumer.seek(TopicPartition("t", 0), 5)  # past the end: named when read
    with pytest.raises(OffsetOutOfRangeError, match="offset 5 .*'t' partition 0"):
        consumer.poll(timeout_ms=100)
    conn = BrokerConnection(store.address, store.secret)
    try:
        with pytest.raises(OffsetOutOfRangeError):
            conn.request("fetch", {"topic": "t", "partition": 0, "offset": -3, "max_bytes": 100})
        with pytest.raises(ProtocolError, match="max_bytes"):
            conn.request("fetch", {"topic": "t", "partition": 0, "offset": 0, "max_bytes": "x"})
        with pytest.raises(ProtocolError, match="unknown op"):
            conn.request("unpickle", {})
        # A batch over max.message.bytes is refused by the broker too.
        big = encode_batch([SimpleRecord(None, b"y" * 1500, (), None)])
        reply, _ = conn.request("produce", {"acks": -1, "partitions": [["t", 0]]}, [big])
        assert reply["results"][0]["error"]["type"] == "RecordTooLargeError"
    finally:
        conn.close()
    assert read_topic(store, "t")[0] == [(acked.offset, None, b"kept")]


def test_a_sequence_gap_is_refused_and_appends_nothing(store):
    store.create_topic("t")
    conn = BrokerConnection(store.address, store.secret)
    try:
        pid = conn.request("init_producer_id")[0]["producer_id"]

        def produce(sequence):
            batch = encode_batch([SimpleRecord(None, b"s%d" % sequence, (), None)],
                                 producer_id=pid, producer_epoch=0, base_sequence=sequence)
            reply, _ = conn.request("produce", {"acks": -1, "partitions": [["t", 0]]}, [batch])
            return reply["results"][0]

        assert produce(0)["offset"] == 0
        assert produce(0)["offset"] == 0  # a retry: the original offset, stored once
        error = protocol.error_from(produce(2)["error"])
        assert isinstance(error, OutOfOrderSequenceError)
        assert produce(1)["offset"] == 1
    finally:
        conn.close()
    assert [v for _, _, v in read_topic(store, "t")[0]] == [b"s0", b"s1"]


@pytest.mark.parametrize("idempotent", [True, False])
def test_a_lost_reply_is_retried_and_stored_once_by_the_idempotent_producer(
        start_broker, idempotent):
    store = start_broker(env={"EMBER_BROKER_FAULTS": "produce.drop_reply@3"})
    store.create_topic("t")
    producer = store.producer(request_timeout_ms=500, retry_backoff_ms=10,
                              enable_idempotence=idempotent)
    for i in range(6):
        producer.send("t", value=b"r%d" % i).get(timeout=10)  # one request each
    values = [v for _, _, v in read_topic(store, "t")[0]]
    if idempotent:
        assert values == [b"r%d" % i for i in range(6)]
    else:  # documented: without idempotence a retried batch may be stored twice
        assert values == [b"r0", b"r1", b"r2", b"r2", b"r3", b"r4", b"r5"]


def test_acks_settings(store):
    store.create_topic("t")
    with pytest.raises(ConfigError, match="acks"):
        store.producer(acks=2)
    with pytest.raises(ConfigError, match="idempotence"):
        store.producer(acks=1, enable_idempotence=True)
    with pytest.raises(ConfigError, match="linger_ms"):
        store.producer(linger_mss=3)
    one = store.producer(acks=1)
    assert one.send("t", value=b"a").get(timeout=5).offset == 0
    zero = store.producer(acks=0)
    assert zero.send("t", value=b"b").get(timeout=5).offset == -1  # nothing confirmed
    zero.flush()
    deadline = time.monotonic() + 5
    while len(read_topic(store, "t")[0]) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [v for _, _, v in read_topic(store, "t")[0]] == [b"a", b"b"]


def test_retention_moves_the_log_start_and_a_read_below_it_is_named(store):
    store.create_topic("r", config={"segment.bytes": 1000, "retention.bytes": 2500})
    producer = store.producer(linger_ms=0)
    for i in range(60):
        producer.send("r", value=b"%03d" % i + b"." * 100).get(timeout=5)
    assert store.enforce_retention()[("r", 0)]
    tp = TopicPartition("r", 0)
    consumer = store.consumer(enable_auto_commit=False)
    consumer.assign([tp])
    start = consumer.beginning_offsets([tp])[tp]
    assert 0 < start < 60
    consumer.seek(tp, 0)
    with pytest.raises(OffsetOutOfRangeError) as caught:
        consumer.poll(timeout_ms=100)
    assert (caught.value.topic, caught.value.partition, caught.value.offset) == ("r", 0, 0)
    assert f"{start} to 60" in str(caught.value)
    consumer.seek_to_beginning()
    records = consumer.poll(timeout_ms=1000)[tp]
    assert records[0].offset == start


def test_standalone_broker_keeps_its_secret_in_a_0600_file(tmp_path):
    log_dir, secret_file = tmp_path / "log", tmp_path / "secret"
    broker = subprocess.Popen([sys.executable, "-m", "ember.ingest.server.broker", "--dir", str(log_dir),
                               "--secret-file", str(secret_file)], stdout=subprocess.PIPE, text=True)
    try:
        line = broker.stdout.readline()
        address = line.split(" at ")[1].split()[0]
        assert oct(os.stat(secret_file).st_mode & 0o777) == "0o600"
        assert secret_file.read_text().strip() not in line
        with connect(address, secret_file=secret_file) as store:
            store.create_topic("t")
            assert store.topics() == ["t"]
        os.chmod(secret_file, 0o644)
        with pytest.raises(SecretFileError, match="mode 0644"):
            connect(address, secret_file=secret_file)
        broker.send_signal(signal.SIGTERM)
        assert broker.wait(10) == 0
        assert os.path.exists(log_dir / "clean-shutdown")
    finally:
        broker.kill()
        broker.wait()
        broker.stdout.close()


def test_wrong_secret_is_a_named_authentication_error_not_a_timeout(store):
    """Refused at the first answer, not after the connect timeout (600 s,
    ten times the wait below)."""
    outcome: list = []

    def attempt():
        try:
            connect(store.address, secret=os.urandom(32), timeout=600)
        except Exception as error:  # noqa: BLE001 - checked below
            outcome.append(error)
    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(60)
    assert outcome, "connect kept trying with a wrong secret"
    with pytest.raises(AuthenticationError, match="secret mismatch"):
        raise outcome[0]


PARENT = textwrap.dedent("""
    import sys, time
    from ember.ingest import LogStore
    store = LogStore.start(sys.argv[1])
    print(store.pid, flush=True)
    time.sleep(60)
""")


@pytest.mark.fault
def test_a_spawned_broker_exits_when_its_parent_is_sigkilled(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    parent = subprocess.Popen([sys.executable, str(script), str(tmp_path / "log")],
                              stdout=subprocess.PIPE, text=True)
    try:
        broker_pid = int(parent.stdout.readline())
        assert psutil.pid_exists(broker_pid)
        os.kill(parent.pid, signal.SIGKILL)
        broker = psutil.Process(broker_pid)
        broker.wait(5)  # raises TimeoutExpired if it outlives its parent
        assert os.path.exists(tmp_path / "log" / "clean-shutdown")
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()
