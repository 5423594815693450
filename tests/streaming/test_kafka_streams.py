"""Topic streams over a Kafka cluster: ``topicStream("kafka://...")`` and
``KafkaUtils.createDirectStream`` with ``bootstrap.servers``, read through
confluent-kafka from the log store's Kafka listener (a broker in its own
process), with the records produced by a real Kafka client while the stream
runs on a manual clock. Each batch's output is checked against plain Python;
the offset ranges against what was produced."""

from __future__ import annotations

import itertools
import os
import sys
from collections import Counter

import pytest

from ember.engine.errors import ConfigError, UnknownTopicOrPartitionError
from ember.ingest.client.store import LogStore
from ember.ingest.kafka.client import KafkaRDD
from ember.ingest.structs import OffsetRange, TopicPartition
from ember.streaming.kafka import KafkaUtils, TopicAndPartition

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "kafka"))
from kafka_clients import produce  # noqa: E402 - the Kafka tests' real-client producer

pytestmark = pytest.mark.slow

WORDS = ["apple", "pear", "fig", "kiwi", "plum", "lime"]
_names = itertools.count()


@pytest.fixture(scope="module")
def kafka_store(tmp_path_factory):
    store = LogStore.start(tmp_path_factory.mktemp("kafka-log"), kafka_listener="127.0.0.1:0")
    yield store
    store.stop()


@pytest.fixture
def topic(kafka_store):
    """``topic(partitions)`` -> a new topic's name."""
    def make(partitions: int) -> str:
        name = f"stream{next(_names)}"
        kafka_store.create_topic(name, partitions)
        return name
    return make


def lines_for(batch: int, partitions: int, per_partition: int) -> dict[int, list[str]]:
    return {p: [" ".join(WORDS[(batch * 5 + p * 3 + i + j) % len(WORDS)] for j in range(i % 3 + 1))
                for i in range(per_partition)] for p in range(partitions)}


def send(store, topic: str, lines: dict[int, list[str]]) -> None:
    """Produce with confluent-kafka (acks=all, idempotent); returns once acknowledged."""
    produce("confluent-kafka", store.kafka_address, topic,
            [(p, None, line.encode()) for p, values in sorted(lines.items()) for line in values])


def word_counts(lines: dict[int, list[str]]) -> Counter:
    return Counter(w for values in lines.values() for line in values for w in line.split())


def test_word_count_over_a_kafka_stream_equals_plain_python(stream, kafka_store, topic):
    name = topic(3)
    send(kafka_store, name, {0: ["before the stream"]})  # "latest": not read
    manual = stream()
    records = manual.ssc.topicStream(f"kafka://{kafka_store.kafka_address}", [name])
    rdds = []
    records.foreachRDD(lambda rdd: rdds.append((type(rdd), rdd.getNumPartitions(),
                                                rdd.offsetRanges())))
    counts = manual.collect(records.flatMap(lambda kv: kv[1].split())
                            .map(lambda w: (w, 1)).reduceByKey(lambda a, b: a + b))
    manual.ssc.start()
    produced = []
    for i in range(4):
        lines = lines_for(i, 3, i + 2) if i != 2 else {}  # batch 2: nothing new
        send(kafka_store, name, lines)
        produced.append(lines)
        manual.run(1)
    assert [dict(c) for c in counts] == [dict(word_counts(lines)) for lines in produced]
    assert all(kind is KafkaRDD and partitions == 3 for kind, partitions, _ in rdds)
    for p in range(3):  # contiguous: each batch starts where the one before ended
        ranges = [r for _, _, batch in rdds for r in batch if r.partition == p]
        assert ranges[0].fromOffset == (1 if p == 0 else 0)
        assert all(a.untilOffset == b.fromOffset for a, b in zip(ranges, ranges[1:]))
        assert [r.count() for r in ranges] == [len(lines.get(p, [])) for lines in produced]


def test_create_direct_stream_starts_at_smallest_largest_or_from_offsets(stream, kafka_store,
                                                                         topic):
    name = topic(2)
    send(kafka_store, name, {0: ["a", "b", "c"], 1: ["d", "e"]})
    firsts = {}
    starts = {"smallest": ({"auto.offset.reset": "smallest"}, None),
              "earliest": ({"auto.offset.reset": "earliest"}, None),
              "largest": ({}, None),  # PySpark's default
              "fromOffsets": ({}, {TopicAndPartition(name, 0): 2, TopicAndPartition(name, 1): 1})}
    for how, (params, from_offsets) in starts.items():
        manual = stream()
        direct = KafkaUtils.createDirectStream(
            manual.ssc, [name], {"metadata.broker.list": kafka_store.kafka_address, **params},
            fromOffsets=from_offsets, messageHandler=lambda m: (m.partition, m.offset, m.message))
        ranges = []
        values = manual.collect(direct.transform(
            lambda rdd: (ranges.append(sorted(rdd.offsetRanges())), rdd)[1]))
        manual.ssc.start()
        send(kafka_store, name, {1: [f"new-{how}"]})
        manual.run(1)
        manual.stop()
        firsts[how] = (sorted(values[0]), ranges[0])
    assert firsts["smallest"] == (
        [(0, 0, "a"), (0, 1, "b"), (0, 2, "c"), (1, 0, "d"), (1, 1, "e"), (1, 2, "new-smallest")],
        [OffsetRange(name, 0, 0, 3), OffsetRange(name, 1, 0, 3)])
    assert firsts["earliest"] == (
        [(0, 0, "a"), (0, 1, "b"), (0, 2, "c"), (1, 0, "d"), (1, 1, "e"), (1, 2, "new-smallest"),
         (1, 3, "new-earliest")],
        [OffsetRange(name, 0, 0, 3), OffsetRange(name, 1, 0, 4)])
    assert firsts["largest"] == ([(1, 4, "new-largest")],
                                 [OffsetRange(name, 0, 3, 3), OffsetRange(name, 1, 4, 5)])
    assert firsts["fromOffsets"] == (
        [(0, 2, "c"), (1, 1, "e"), (1, 2, "new-smallest"), (1, 3, "new-earliest"),
         (1, 4, "new-largest"), (1, 5, "new-fromOffsets")],
        [OffsetRange(name, 0, 2, 3), OffsetRange(name, 1, 1, 6)])
