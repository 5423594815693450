"""Consumer groups whose members speak different protocols and libraries:
one group, one assignment, one offset store. Two members split the
partitions; when one leaves, the other takes them all and reads on."""

from __future__ import annotations

import re
import signal
import subprocess
import threading
import time

import pytest

from kafka_helpers import confluent_config, kafka_python_member, kcat_program
from tests.waiting import wait_for
from kafka_clients import produce

pytestmark = pytest.mark.slow

PARTITIONS = 4


class Member(threading.Thread):
    """One group member polling in its own thread (each client object is
    used by that thread only); ``assignment`` is what the member itself
    reports, ``values`` what it read."""

    def __init__(self, kind: str, store, group: str, topic: str):
        super().__init__(name=f"member-{kind}", daemon=True)
        self.kind, self.store, self.group, self.topic = kind, store, group, topic
        self.assignment: set[int] = set()
        self.values: list[bytes] = []
        self.error: BaseException | None = None
        self.stopping = threading.Event()
        self.process: subprocess.Popen | None = None

    def run(self) -> None:
        try:
            getattr(self, "_run_" + self.kind.replace("-", "_"))()
        except BaseException as error:  # noqa: BLE001 - reported by the test
            self.error = error

    def _run_kafka_python(self) -> None:
        consumer = kafka_python_member(self.store.kafka_address, self.topic,
                                       group_id=self.group, auto_offset_reset="earliest",
                                       heartbeat_interval_ms=300, session_timeout_ms=10000)
        try:
            while not self.stopping.is_set():
                for messages in consumer.poll(timeout_ms=100).values():
                    self.values += [m.value for m in messages]
                self.assignment = {tp.partition for tp in consumer.assignment()}
        finally:
            consumer.close()

    def _run_confluent_kafka(self) -> None:
        from confluent_kafka import Consumer
        consumer = Consumer(confluent_config(self.store, **{
            "group.id": self.group, "auto.offset.reset": "earliest",
            "heartbeat.interval.ms": 300, "session.timeout.ms": 10000}))
        consumer.subscribe([self.topic])
        try:
            while not self.stopping.is_set():
                self.values += [m.value() for m in consumer.consume(100, timeout=0.1)
                                if not m.error()]
                self.assignment = {tp.partition for tp in consumer.assignment()}
        finally:
            consumer.close()

    def _run_ember(self) -> None:
        consumer = self.store.consumer(self.topic, group_id=self.group,
                                       auto_offset_reset="earliest", heartbeat_interval_ms=300)
        try:
            while not self.stopping.is_set():
                for records in consumer.poll(timeout_ms=100).values():
                    self.values += [r.value for r in records]
                self.assignment = {tp.partition for tp in consumer.assignment()}
        finally:
            consumer.close()

    def _run_kcat(self) -> None:
        self.process = subprocess.Popen(
            [kcat_program(), "-u", "-b", self.store.kafka_address, "-G", self.group, self.topic,
             "-f", "%s\n", "-X", "auto.offset.reset=earliest", "-X", "heartbeat.interval.ms=300"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        reader = threading.Thread(target=self._read_kcat_output, daemon=True)
        reader.start()
        for line in self.process.stderr:
            text = line.decode(errors="replace")
            if "assigned:" in text:
                self.assignment = {int(p) for p in re.findall(r"\[(\d+)\]", text)}
            elif "revoked:" in text:
                self.assignment = set()
        reader.join(10)

    def _read_kcat_output(self) -> None:
        for line in self.process.stdout:
            self.values.append(line.rstrip(b"\n"))

    def leave(self) -> None:
        self.stopping.set()
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)  # kcat leaves the group and exits
            self.process.wait(30)
        self.join(30)
        assert not self.is_alive(), f"{self.kind} member did not stop"
        if self.error is not None:
            raise self.error


@pytest.mark.parametrize("first, second", [
    ("ember", "kafka-python"), ("confluent-kafka", "kafka-python"), ("confluent-kafka", "kcat")])
def test_a_group_of_two_members_of_different_libraries_splits_and_rebalances(
        kafka_store, new_topic, first, second):
    if "kcat" in (first, second):
        kcat_program()
    topic = new_topic(PARTITIONS)
    group = f"mixed-{topic}"
    everything = set(range(PARTITIONS))
    a = Member(first, kafka_store, group, topic)
    b = Member(second, kafka_store, group, topic)
    a.start()
    try:
        wait_for(lambda: a.assignment == everything, timeout=60, what=f"{first} to own every partition")
        b.start()
        try:
            wait_for(lambda: a.assignment and b.assignment and not a.assignment & b.assignment
                     and a.assignment | b.assignment == everything,
                     timeout=60, what=f"{first} and {second} to split the partitions")
            produce("confluent-kafka", kafka_store.kafka_address, topic,
                    [(p, None, b"split-%d" % p) for p in range(PARTITIONS)])
            wait_for(lambda: sorted(a.values + b.values) ==
                     [b"split-%d" % p for p in range(PARTITIONS)],
                     timeout=60, what="each record read once by the member owning its partition")
            assert {int(v[6:]) for v in a.values} == a.assignment
        finally:
            b.leave()
        wait_for(lambda: a.assignment == everything, timeout=60, what=f"{first} to take every partition back")
        produce("kafka-python", kafka_store.kafka_address, topic,
                [(p, None, b"after-%d" % p) for p in range(PARTITIONS)])
        wait_for(lambda: {v for v in a.values if v.startswith(b"after-")} ==
                 {b"after-%d" % p for p in range(PARTITIONS)},
                 timeout=60, what=f"{first} to read every partition after the rebalance")
    finally:
        a.leave()
