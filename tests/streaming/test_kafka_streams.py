"""Topic streams over a Kafka cluster: ``topicStream("kafka://...")`` and
``KafkaUtils.createDirectStream`` with ``bootstrap.servers``, read through
confluent-kafka from the log store's Kafka listener (a broker in its own
process), with the records produced by a real Kafka client while the stream
runs on a manual clock. Each batch's output is checked against plain Python;
the offset ranges against what was produced."""

from __future__ import annotations

from collections import Counter

import pytest

from ember.engine.errors import ConfigError, UnknownTopicOrPartitionError
from ember.ingest.kafka.client import KafkaRDD
from ember.ingest.structs import OffsetRange, TopicPartition
from ember.streaming.kafka import KafkaUtils, TopicAndPartition

from kafka_clients import produce  # the Kafka tests' real-client producer (see conftest)

pytestmark = pytest.mark.slow

WORDS = ["apple", "pear", "fig", "kiwi", "plum", "lime"]


def lines_for(batch: int, partitions: int, per_partition: int) -> dict[int, list[str]]:
    return {p: [" ".join(WORDS[(batch * 5 + p * 3 + i + j) % len(WORDS)] for j in range(i % 3 + 1))
                for i in range(per_partition)] for p in range(partitions)}


def send(store, topic: str, lines: dict[int, list[str]]) -> None:
    """Produce with confluent-kafka (acks=all, idempotent); returns once acknowledged."""
    produce("confluent-kafka", store.kafka_address, topic,
            [(p, None, line.encode()) for p, values in sorted(lines.items()) for line in values])


def word_counts(lines: dict[int, list[str]]) -> Counter:
    return Counter(w for values in lines.values() for line in values for w in line.split())


def test_word_count_over_a_kafka_stream_equals_plain_python(stream, kafka_store, new_topic):
    name = new_topic(3)
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
                                                                         new_topic):
    name = new_topic(2)
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
            lambda rdd: (ranges.append((type(rdd), sorted(rdd.offsetRanges()))), rdd)[1]))
        manual.ssc.start()
        send(kafka_store, name, {1: [f"new-{how}"]})
        manual.run(1)
        manual.stop()
        kind, first_ranges = ranges[0]
        assert kind is KafkaRDD  # no store secret: read over Kafka's protocol
        firsts[how] = (sorted(values[0]), first_ranges)
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


def committed(kafka_store, group: str, name: str, partitions: int) -> list:
    """The group's committed offsets as a Kafka client (confluent-kafka) sees them."""
    from confluent_kafka import Consumer
    from confluent_kafka import TopicPartition as KafkaTopicPartition

    consumer = Consumer({"bootstrap.servers": kafka_store.kafka_address, "group.id": group,
                         "log_level": 3})
    try:
        return [tp.offset for tp in consumer.committed(
            [KafkaTopicPartition(name, p) for p in range(partitions)], timeout=30)]
    finally:
        consumer.close()


def test_a_group_starts_from_its_committed_offsets_and_commits_after_each_batch(
        stream, kafka_store, new_topic):
    from confluent_kafka import Consumer
    from confluent_kafka import TopicPartition as KafkaTopicPartition

    name = new_topic(2)
    send(kafka_store, name, {0: ["a0", "a1", "a2", "a3"], 1: ["b0", "b1"]})
    seeded = Consumer({"bootstrap.servers": kafka_store.kafka_address, "group.id": "audit",
                       "log_level": 3})
    seeded.commit(offsets=[KafkaTopicPartition(name, 0, 3)], asynchronous=False)
    seeded.close()
    params = {"bootstrap.servers": kafka_store.kafka_address, "group.id": "audit",
              "auto.offset.reset": "smallest"}
    values = []
    for batch in ({1: ["b2"]}, {0: ["a4"], 1: ["b3"]}):
        manual = stream()
        got = manual.collect(KafkaUtils.createDirectStream(manual.ssc, [name], params)
                             .map(lambda kv: kv[1]))
        manual.ssc.start()
        send(kafka_store, name, batch)
        manual.run(1)
        manual.stop()
        values.append(sorted(got[0]))
    # partition 0 from the group's commit, partition 1 (none committed) from the smallest
    assert values[0] == ["a3", "b0", "b1", "b2"]
    assert values[1] == ["a4", "b3"]  # the second stream resumes from the first one's commits
    assert committed(kafka_store, "audit", name, 2) == [5, 4]


def backlog_stream(sc, stream, kafka_store, new_topic, backlog: dict[int, int], **settings):
    """A stream from the earliest offsets of a new topic holding ``backlog``
    records per partition, made under ``settings`` (restored after)."""
    name = new_topic(len(backlog))
    send(kafka_store, name, {p: [f"{'ab'[p]}{i}" for i in range(n)] for p, n in backlog.items()})
    saved = {key: sc._conf.get(key) for key in settings}
    for key, value in settings.items():
        sc._conf.set(key, value)
    try:
        manual = stream()
        return manual, manual.ssc.topicStream(f"kafka://{kafka_store.kafka_address}", [name],
                                              start="earliest")
    finally:
        for key, value in saved.items():
            if value is None:
                sc._conf._values.pop(key)  # unset again: the declared default applies
            else:
                sc._conf.set(key, value)


def test_max_rate_per_partition_bounds_each_batch(sc, stream, kafka_store, new_topic):
    manual, records = backlog_stream(sc, stream, kafka_store, new_topic, {0: 12, 1: 3}, **{
        "spark.streaming.kafka.maxRatePerPartition": "5"})
    ranges, values = [], manual.collect(records.map(lambda kv: kv[1]))
    records.foreachRDD(lambda rdd: ranges.append([(r.partition, r.fromOffset, r.untilOffset)
                                                  for r in rdd.offsetRanges()]))
    manual.run(4)
    assert ranges == [[(0, 0, 5), (1, 0, 3)], [(0, 5, 10), (1, 3, 3)], [(0, 10, 12), (1, 3, 3)],
                      [(0, 12, 12), (1, 3, 3)]]
    assert [sorted(v) for v in values] == [
        sorted([f"a{i}" for i in range(5)] + ["b0", "b1", "b2"]),
        sorted(f"a{i}" for i in range(5, 10)), ["a10", "a11"], []]


def test_backpressure_starts_at_the_initial_rate_shared_by_lag(sc, stream, kafka_store,
                                                               new_topic):
    manual, records = backlog_stream(sc, stream, kafka_store, new_topic, {0: 30, 1: 10}, **{
        "spark.streaming.backpressure.enabled": "true",
        "spark.streaming.backpressure.initialRate": "4"})
    counts = []
    records.foreachRDD(lambda rdd: counts.append([r.count() for r in rdd.offsetRanges()]))
    manual.run(1)
    assert counts == [[3, 1]]  # 4 records/s over lags of 30 and 10, 1 s batches


@pytest.mark.parametrize("params,error,named", [
    ({}, ConfigError, "bootstrap.servers"),
    ({"group.id": "g"}, ConfigError, "metadata.broker.list"),
    ({"auto.offset.reset": "middle"}, ConfigError, "auto.offset.reset.*'middle'.*smallest"),
    ({"no.such.setting": "1"}, ConfigError, "no.such.setting"),
    ({"security.protocol": "carrier-pigeon"}, ConfigError, "carrier-pigeon.*security.protocol"),
])
def test_bad_kafka_params_are_named_errors_before_any_batch(stream, kafka_store, new_topic,
                                                            params, error, named):
    name = new_topic(1)
    if params and "group.id" not in params:
        params = {"bootstrap.servers": kafka_store.kafka_address, **params}
    manual = stream()
    with pytest.raises(error, match=named):
        KafkaUtils.createDirectStream(manual.ssc, [name], params)
    assert manual.ssc.getState() == "INITIALIZED"


def test_an_unknown_topic_fails_the_start_naming_it(stream, kafka_store):
    manual = stream()
    manual.collect(manual.ssc.topicStream(f"kafka://{kafka_store.kafka_address}", ["missing"]))
    with pytest.raises(UnknownTopicOrPartitionError, match="'missing'"):
        manual.ssc.start()
    assert manual.completed_count() == 0
