"""Fuzzing the Kafka listener: 10,000 random and mutated requests (mutations
of requests recorded from real kafka-python and confluent-kafka sessions)
against a broker process. The broker never dies, its memory stays bounded,
and a well-behaved client produces and reads throughout and afterwards."""

from __future__ import annotations

import random
import socket
import struct
import threading
import time

import psutil
import pytest

from kafka_helpers import confluent_config, kafka_python_member, read_log
from ember.engine.wire.transport import new_secret
from ember.ingest.client.store import LogStore
from ember.ingest.kafka import server as kafka_server
from ember.ingest.server.broker import Broker
from kafka_clients import consume_from_beginning, produce

pytestmark = [pytest.mark.security, pytest.mark.slow]

REQUESTS = 10_000
ADMIN_KEYS = {19, 20, 37}  # CreateTopics, DeleteTopics, CreatePartitions: not mutated
INTERESTING_INT32 = [0x7FFFFFFF, -1, -(1 << 31), 0, 1, 0xFFFF]


def record_client_requests(tmp_path) -> list[bytes]:
    """Request frames (without their size prefix) a kafka-python and a
    confluent-kafka session send: produce in every codec, consume in a
    group, commit, list offsets, describe groups."""
    recorded: list[bytes] = []
    original = kafka_server._Connection.request

    def recording(self, frame):
        recorded.append(bytes(frame))
        return original(self, frame)

    kafka_server._Connection.request = recording
    broker = Broker(str(tmp_path / "record"), new_secret(), kafka_listener="127.0.0.1:0")
    try:
        broker.start()
        broker.logs.create_topic("fuzz", 2)
        address = broker.kafka_address
        produced = 0
        for client, codecs in (("kafka-python", (None, "gzip", "snappy")),
                               ("confluent-kafka", ("lz4", "zstd"))):
            for codec in codecs:
                produce(client, address, "fuzz",
                        [(i % 2, b"k%d" % i, b"value %d" % i) for i in range(20)],
                        compression=codec)
                produced += 20
            consume_from_beginning(client, address, "fuzz", 2, produced)
        consumer = kafka_python_member(address, "fuzz", group_id="fuzz-group",
                                       auto_offset_reset="earliest")
        consumer.poll(timeout_ms=3000)
        consumer.commit()
        consumer.close()
        from confluent_kafka.admin import AdminClient
        admin = AdminClient(confluent_config(address))
        admin.list_topics(timeout=10)
        admin.list_consumer_groups().result(10)
    finally:
        kafka_server._Connection.request = original
        broker.stop()
    return [frame for frame in recorded if struct.unpack_from(">h", frame)[0] not in ADMIN_KEYS]


def mutate(rng: random.Random, corpus: list[bytes]) -> bytes:
    """A request frame with its size prefix (sometimes a wrong one)."""
    kind = rng.random()
    if kind < 0.1:
        body = rng.randbytes(rng.randint(0, 300))
    else:
        data = bytearray(rng.choice(corpus))
        for _ in range(rng.randint(1, 4)):
            choice = rng.random()
            if choice < 0.3 and data:
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            elif choice < 0.5 and len(data) >= 4:
                at = rng.randrange(len(data) - 3)
                struct.pack_into(">i", data, at, rng.choice(INTERESTING_INT32))
            elif choice < 0.6 and len(data) >= 4:
                struct.pack_into(">h", data, 2, rng.randint(-1, 20))  # another version
            elif choice < 0.7 and len(data) >= 2:
                struct.pack_into(">h", data, 0, rng.choice([0, 1, 3, 8, 9, 11, 14, 22, 1000]))
            elif choice < 0.85:
                del data[rng.randrange(len(data) + 1):]
            else:
                data += rng.randbytes(rng.randint(1, 64))
        body = bytes(data)
    size = len(body)
    if rng.random() < 0.05:
        size = rng.choice([-1, size + 1, size * 2 + 100, 0x7FFFFFFF, 3])
    return struct.pack(">i", size) + body


def fire(address: str, frame: bytes) -> None:
    """Send one request on a new connection, half-close, and drain what comes
    back until the broker closes (a bad request is the first and only one the
    broker reads on its connection, so each gets its own)."""
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        try:
            sock.sendall(frame)
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(65536):
                pass
        except OSError:
            pass  # reset by the broker: it closed a bad connection


def test_ten_thousand_random_and_mutated_requests(tmp_path):
    started = time.monotonic()
    corpus = record_client_requests(tmp_path)
    print(f"recorded {len(corpus)} requests in {time.monotonic() - started:.1f} s")
    assert len(corpus) > 50 and {struct.unpack_from(">h", f)[0] for f in corpus} >= {0, 1, 3, 11}
    rng = random.Random(20240514)
    store = LogStore.start(tmp_path / "fuzzed", kafka_listener="127.0.0.1:0")
    try:
        store.create_topic("fuzz", 2)
        store.create_topic("steady", 1)
        broker = psutil.Process(store.pid)
        address = store.kafka_address
        stop = threading.Event()
        sent: list[bytes] = []
        failures: list = []

        def well_behaved() -> None:
            from confluent_kafka import Producer
            producer = Producer(confluent_config(address, **{"acks": "all",
                                                              "enable.idempotence": True}))
            i = 0
            while not stop.is_set():
                value = b"steady-%d" % i
                producer.produce("steady", value, partition=0,
                                 on_delivery=lambda err, msg: failures.append(err) if err else
                                 sent.append(msg.value()))
                producer.poll(0.01)
                i += 1
            assert producer.flush(60) == 0

        client = threading.Thread(target=well_behaved, daemon=True)
        client.start()
        for _ in range(50):  # warm up
            fire(address, mutate(rng, corpus))
        baseline = broker.memory_info().rss
        started = time.monotonic()
        peak, done = baseline, 0
        while done < REQUESTS:
            fire(address, mutate(rng, corpus))
            done += 1
            if done % 1000 == 0:
                assert broker.is_running() and store.alive(), f"the broker died after {done}"
                peak = max(peak, broker.memory_info().rss)
        print(f"fired {REQUESTS} requests in {time.monotonic() - started:.1f} s")
        stop.set()
        client.join(120)
        assert store.alive()
        assert not failures, failures[:5]
        assert peak - baseline < 200 * 1024 * 1024, \
            f"broker RSS grew from {baseline >> 20} MiB to {peak >> 20} MiB"
        # Every acknowledged record of the well-behaved producer is there, in order, once.
        stored = [v for _, v, _ in read_log(store, "steady")[0]]
        assert stored == sent and len(sent) > 50
        # And the listener still serves a new client end to end.
        produce("kafka-python", address, "steady", [(0, None, b"after")])
        assert consume_from_beginning("kafka-python", address, "steady", 1, len(sent) + 1)[0][-1] \
            == (None, b"after")
    finally:
        store.stop()
