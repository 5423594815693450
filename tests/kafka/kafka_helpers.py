"""Helpers of the Kafka listener's tests: the ``kafka_store`` and
``new_topic`` fixtures, the kcat program, a plain reader of what the log
holds (ember's own consumer), confluent-kafka settings, polling."""

from __future__ import annotations

import itertools
import shutil
import subprocess
import time

import pytest

from ember.ingest.client.store import LogStore
from ember.ingest.structs import TopicPartition
from tests.waiting import wait_for

_names = itertools.count()


@pytest.fixture(scope="module")
def kafka_store(tmp_path_factory):
    """A broker with a Kafka listener, in its own process, for one test module."""
    store = LogStore.start(tmp_path_factory.mktemp("kafka-log"), kafka_listener="127.0.0.1:0")
    yield store
    store.stop()


@pytest.fixture
def new_topic(kafka_store):
    """``new_topic(partitions=3)`` -> the name of a new topic."""
    def make(partitions: int = 3, **config) -> str:
        name = f"t{next(_names)}-{int(time.time() * 1000) % 100000}"
        kafka_store.create_topic(name, partitions, config or None)
        return name
    return make

def kcat_program() -> str:
    path = shutil.which("kcat")
    if path is None:
        pytest.skip("kcat is not installed (Debian package kcat, listed in .ci/apt-packages)")
    return path


def kcat(*args: str, input: bytes | None = None, timeout: float = 60, check: bool = True):
    done = subprocess.run([kcat_program(), *args], input=input, capture_output=True,
                          timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"kcat {' '.join(args)} exited {done.returncode}: "
                             f"{done.stderr.decode(errors='replace')[-2000:]}")
    return done


def read_log(store: LogStore, topic: str, partitions: int | None = None) -> dict[int, list]:
    """Every durable record of ``topic`` as ember's own consumer reads it:
    {partition: [(key, value, headers), ...]} in offset order."""
    count = partitions if partitions is not None else store.partitions_for(topic)
    consumer = store.consumer(auto_offset_reset="earliest", enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in range(count)]
        consumer.assign(tps)
        ends = consumer.end_offsets(tps)
        out = {p: [] for p in range(count)}
        deadline = time.monotonic() + 60
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            assert time.monotonic() < deadline, "reading the log did not reach its end"
            for tp, records in consumer.poll(timeout_ms=500, max_records=100000).items():
                out[tp.partition].extend((r.key, r.value, tuple(r.headers)) for r in records)
        return out
    finally:
        consumer.close()


def confluent_config(store_or_address, **extra) -> dict:
    address = getattr(store_or_address, "kafka_address", store_or_address)
    return {"bootstrap.servers": address, "log_level": 3, **extra}


def kafka_python_member(address: str, topic: str, **configs):
    """A kafka-python group consumer that knows the topic's partitions before
    it joins: a leader elected before its first metadata answer assigns
    nothing, and kafka-python rejoins only at its next metadata refresh."""
    from kafka import KafkaConsumer
    consumer = KafkaConsumer(bootstrap_servers=address, **configs)
    wait_for(lambda: consumer.partitions_for_topic(topic), timeout=60, what=f"metadata of {topic!r}")
    consumer.subscribe([topic])
    return consumer
