"""ember reading over Kafka's protocol: ``topicRDD("kafka://...")`` and
``KafkaUtils.createRDD`` with ``bootstrap.servers`` give the same answer as
over ember's own protocol and as plain Python, also with a worker SIGKILLed
in the middle of its range (the lost partition re-reads the same offsets)."""

from __future__ import annotations

import collections
import os
import threading
import time

import pytest

import ember
from ember.engine.errors import OffsetOutOfRangeError
from ember.ingest import KafkaUtils, OffsetRange
from kafka_clients import produce

pytestmark = pytest.mark.slow


@pytest.fixture
def sc():
    context = ember.Context("local[2]", appName="ember-kafka-rdd")
    yield context
    context.stop()


def fill(store, topic: str, lines: int = 1500) -> list[str]:
    """Lines written by a Kafka client (zstd batches) and by ember's producer (lz4)."""
    words = ["alpha", "beta", "gamma", "delta", "ember", "kafka"]
    text = [" ".join(words[(i * j) % 6] for j in range(i % 7 + 1)) for i in range(lines)]
    half = lines // 2
    produce("confluent-kafka", store.kafka_address, topic,
            [(i % 3, b"c%d" % i, text[i].encode()) for i in range(half)], compression="zstd")
    with store.producer(compression_type="lz4") as producer:
        for i in range(half, lines):
            producer.send(topic, value=text[i].encode(), key=b"e%d" % i, partition=i % 3)
        producer.flush()
    return text


def wordcount(rdd):
    return dict(rdd.values().flatMap(str.split).map(lambda w: (w, 1))
                .reduceByKey(lambda a, b: a + b).collect())


def oracle(lines):
    return dict(collections.Counter(w for line in lines for w in line.split()))


def test_kafka_and_ember_protocols_give_the_same_rdd(sc, kafka_store, new_topic):
    topic = new_topic(3)
    lines = fill(kafka_store, topic)
    over_ember = sc.topicRDD(kafka_store, topic)
    over_kafka = sc.topicRDD(f"kafka://{kafka_store.kafka_address}", topic)
    assert over_kafka.offsetRanges() == over_ember.offsetRanges()
    ranges = over_ember.offsetRanges()
    created = KafkaUtils.createRDD(sc, {"bootstrap.servers": kafka_store.kafka_address}, ranges)
    older_name = KafkaUtils.createRDD(sc, {"metadata.broker.list": kafka_store.kafka_address},
                                      ranges, valueDecoder=lambda v: v.decode().upper())
    expected = oracle(lines)
    assert wordcount(over_ember) == wordcount(over_kafka) == wordcount(created) == expected
    assert wordcount(older_name) == {w.upper(): n for w, n in expected.items()}
    assert sorted(over_kafka.keys().collect()) == sorted(over_ember.keys().collect())
    # A sub-range reads exactly that range.
    part = KafkaUtils.createRDD(sc, {"bootstrap.servers": kafka_store.kafka_address},
                                [OffsetRange(topic, 1, 10, 20)])
    assert part.collect() == sc.topicRDD(kafka_store, topic, start={1: 10, 0: 0, 2: 0},
                                         end={1: 20, 0: 0, 2: 0}).collect()


def test_a_range_past_the_high_watermark_is_refused(sc, kafka_store, new_topic):
    topic = new_topic(1)
    produce("kafka-python", kafka_store.kafka_address, topic, [(0, None, b"only")])
    with pytest.raises(OffsetOutOfRangeError, match="past the high watermark 1"):
        KafkaUtils.createRDD(sc, {"bootstrap.servers": kafka_store.kafka_address},
                             [OffsetRange(topic, 0, 0, 5)])


def slow_decoder(marker: str):
    def decode(data):
        if not os.path.exists(marker):
            with open(marker, "w"):
                pass
        time.sleep(0.002)
        return data.decode()
    return decode


@pytest.mark.fault
@pytest.mark.parametrize("how", ["topicRDD", "createRDD"])
def test_a_worker_killed_mid_read_over_kafka_rereads_the_same_offsets(
        sc, kafka_store, new_topic, tmp_path, how):
    topic = new_topic(3)
    lines = fill(kafka_store, topic, 1200)
    marker = str(tmp_path / "started")
    if how == "topicRDD":
        rdd = sc.topicRDD(f"kafka://{kafka_store.kafka_address}", topic,
                          valueDecoder=slow_decoder(marker))
    else:
        ranges = sc.topicRDD(kafka_store, topic).offsetRanges()
        rdd = KafkaUtils.createRDD(sc, {"bootstrap.servers": kafka_store.kafka_address}, ranges,
                                   valueDecoder=slow_decoder(marker))
    result = {}
    job = threading.Thread(target=lambda: result.update(counts=wordcount(rdd)))
    job.start()
    deadline = time.monotonic() + 30
    while not os.path.exists(marker) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # both workers are inside their ranges
    os.kill(sorted(sc._cluster.pids().values())[0], 9)
    job.join(120)
    assert result.get("counts") == oracle(lines)
