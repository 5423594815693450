"""LogRDD on a real local[2] Context (RELIABILITY.md I1, I3, I4, I5, B06):
a topic read as an RDD equals a plain-Python reading of what was produced;
a producer appending during the job changes nothing; a range that retention
removed and a malformed record are named errors. (Killed workers and
brokers: test_log_rdd_faults.py.)"""

from __future__ import annotations

import collections
import json
import threading
import time

import pytest

import ember
from ember.engine.errors import OffsetOutOfRangeError
from ember.ingest import KafkaUtils, OffsetRange, topic_rdd

WORDS = "the quick brown fox jumps over the lazy dog and the cat".split()


def produce_lines(store, topic, count, partitions=2, start=0):
    producer = store.producer(value_serializer=str.encode, key_serializer=str.encode)
    lines = [" ".join(WORDS[(i + j) % len(WORDS)] for j in range(i % 5 + 1))
             for i in range(start, start + count)]
    for i, line in enumerate(lines, start):
        producer.send(topic, value=line, key=f"k{i}")
    producer.flush()
    producer.close()
    return lines


def wordcount(rdd):
    return (rdd.flatMap(lambda kv: kv[1].split()).map(lambda w: (w, 1))
            .reduceByKey(lambda a, b: a + b).collectAsMap())


def oracle(lines):
    return dict(collections.Counter(w for line in lines for w in line.split()))


def test_topic_wordcount_equals_the_plain_python_count(sc, store):
    store.create_topic("lines", partitions=3)
    lines = produce_lines(store, "lines", 3000)
    rdd = topic_rdd(sc, store, "lines")
    assert rdd.getNumPartitions() == 3
    assert sum(r.untilOffset - r.fromOffset for r in rdd.offsetRanges()) == 3000
    assert wordcount(rdd) == oracle(lines)
    assert sorted(v for _, v in rdd.collect()) == sorted(lines)
    assert store.secret.hex() not in repr(rdd) + rdd.toDebugString().decode()
    # By address and secret too; and as PySpark's KafkaUtils.createRDD.
    by_address = topic_rdd(sc, store.address, "lines", secret=store.secret, start=10, end=20)
    assert by_address.count() == 30
    params = {"metadata.broker.list": store.address.split("//")[1], "ember.secret": store.secret}
    ranges = [OffsetRange("lines", 0, 0, 5), OffsetRange("lines", 2, 3, 7)]
    picked = KafkaUtils.createRDD(sc, params, ranges,
                                  messageHandler=lambda m: (m.partition, m.offset, m.message))
    assert [(p, o) for p, o, _ in picked.collect()] == \
        [(0, o) for o in range(5)] + [(2, o) for o in range(3, 7)]


def test_ranges_are_fixed_at_creation_while_a_producer_appends(sc, store):
    store.create_topic("live", partitions=2)
    lines = produce_lines(store, "live", 1000)
    rdd = topic_rdd(sc, store, "live")
    stop = threading.Event()

    def keep_producing():
        start = 1000
        while not stop.is_set():
            produce_lines(store, "live", 200, start=start)
            start += 200

    appender = threading.Thread(target=keep_producing)
    appender.start()
    try:
        first = wordcount(rdd)
        time.sleep(0.3)
        second = wordcount(rdd)  # a recomputation reads exactly the same ranges
    finally:
        stop.set()
        appender.join(30)
    assert first == second == oracle(lines)


def test_ranges_must_lie_within_durable_data(sc, store):
    store.create_topic("t", partitions=1)
    produce_lines(store, "t", 10)
    with pytest.raises(OffsetOutOfRangeError, match="high watermark 10"):
        topic_rdd(sc, store, "t", end=11)
    with pytest.raises(OffsetOutOfRangeError, match=r"\[-1, 10\)"):
        topic_rdd(sc, store, "t", start=-1)
    params = {"bootstrap.servers": store.address, "ember.secret": store.secret.hex()}
    with pytest.raises(OffsetOutOfRangeError, match="'t' partition 0"):
        KafkaUtils.createRDD(sc, params, [OffsetRange("t", 0, 5, 50)])


def test_a_range_removed_by_retention_fails_with_a_named_error_never_fewer_rows(sc, store):
    store.create_topic("old", partitions=1, config={"segment.bytes": 2000,
                                                    "retention.bytes": 4000})
    for start in range(0, 500, 50):  # batches small enough to fill several segments
        produce_lines(store, "old", 50, start=start)
    rdd = topic_rdd(sc, store, "old")
    assert rdd.count() == 500
    assert store.enforce_retention()[("old", 0)]
    with pytest.raises(OffsetOutOfRangeError) as caught:
        rdd.count()
    message = str(caught.value)
    assert "offsets [0, 500) of topic 'old' partition 0 are no longer available" in message
    assert (caught.value.fromOffset, caught.value.untilOffset) == (0, 500)


def test_a_malformed_record_names_topic_partition_and_offset(sc, store):
    store.create_topic("json", partitions=1)
    producer = store.producer()
    for i in range(10):
        producer.send("json", value=b'{"n": %d}' % i if i != 6 else b"{not json")
    producer.flush()
    rdd = topic_rdd(sc, store, "json", valueDecoder=lambda b: json.loads(b))
    with pytest.raises(ValueError) as caught:
        rdd.collect()
    # The note travels in the worker's traceback (the cause); exceptions that
    # pickle their attributes also carry it themselves.
    assert "offset 6 of topic 'json' partition 0" in str(caught.value.__cause__)
