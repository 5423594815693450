"""Acknowledged means durable for Kafka clients too: confluent-kafka
produces with acks=all and idempotence while the broker is SIGKILLed; a new
broker on the same directory and ports comes up and the producer carries
on (librdkafka resends what was in flight; the partition's producer state,
rebuilt from the log, answers a resent batch with its original offsets).
Every acknowledged record is then stored exactly once, in the order it was
sent within its partition."""

from __future__ import annotations

import threading
import time

import pytest

from kafka_helpers import confluent_config, read_log
from tests.waiting import wait_for
from ember.ingest.client.store import LogStore

pytestmark = [pytest.mark.fault, pytest.mark.slow]

PARTITIONS = 3


def test_broker_sigkilled_mid_produce_from_confluent_kafka_keeps_every_ack_exactly_once(tmp_path):
    from confluent_kafka import Producer

    directory = tmp_path / "log"
    store = LogStore.start(directory, kafka_listener="127.0.0.1:0")
    store.create_topic("events", PARTITIONS)
    kafka_port = int(store.kafka_address.rsplit(":", 1)[1])
    acked: dict[bytes, tuple[int, int]] = {}
    failed: list = []
    lock = threading.Lock()

    def delivered(error, message):
        with lock:
            if error is not None:
                failed.append(error)
            else:
                assert message.value() not in acked, "acknowledged twice"
                acked[message.value()] = (message.partition(), message.offset())

    producer = Producer(confluent_config(store, **{
        "acks": "all", "enable.idempotence": True, "linger.ms": 2, "batch.num.messages": 200,
        "message.timeout.ms": 60000, "reconnect.backoff.max.ms": 200}))
    stop = threading.Event()
    sent = {p: 0 for p in range(PARTITIONS)}

    def send() -> None:
        n = 0
        while not stop.is_set():
            partition = n % PARTITIONS
            try:
                producer.produce("events", b"%d-%07d" % (partition, sent[partition]),
                                 partition=partition, on_delivery=delivered)
            except BufferError:
                producer.poll(0.05)
                continue
            sent[partition] += 1
            n += 1
            producer.poll(0)

    sender = threading.Thread(target=send)
    sender.start()
    restarted = None
    try:
        wait_for(lambda: len(acked) >= 20_000, timeout=60, what="20,000 acknowledged records")
        store.kill()
        killed_at = len(acked)
        restarted = LogStore.start(directory, port=store.port, secret=store.secret,
                                   kafka_listener=f"127.0.0.1:{kafka_port}")
        wait_for(lambda: len(acked) >= killed_at + 20_000,
                 timeout=60, what="the producer to go on against the restarted broker")
        stop.set()
        sender.join(30)
        assert producer.flush(90) == 0, "records left unacknowledged after the restart"
        assert not failed, failed[:5]
        contents = read_log(restarted, "events", PARTITIONS)
        seen = {}
        for partition, records in contents.items():
            values = [value for _, value, _ in records]
            assert values == sorted(values), f"partition {partition} out of order"
            for offset, value in enumerate(values):
                assert value not in seen, f"{value!r} stored twice"
                seen[value] = (partition, offset)
        lost = [v for v in acked if v not in seen]
        assert not lost, f"{len(lost)} acknowledged records lost, e.g. {lost[:3]}"
        moved = [v for v in acked if acked[v] != seen[v]]
        assert not moved, f"acknowledged at one offset, stored at another: {moved[:3]}"
        # Everything sent was acknowledged (nothing failed), so the log holds exactly it.
        assert len(seen) == len(acked) == sum(sent.values())
        print(f"\n{killed_at} acknowledged before the SIGKILL, {len(acked)} in all, "
              f"{len(seen)} stored")
    finally:
        stop.set()
        sender.join(30)
        producer.flush(5)
        if restarted is not None:
            restarted.stop()
