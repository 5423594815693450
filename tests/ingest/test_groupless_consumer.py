"""kafka-python's group-less consumer: ``group_id=None`` then
``subscribe(topics)`` reads every partition of those topics by itself,
commits nothing, and only ``commit()`` / ``committed()`` say so."""

from __future__ import annotations

import time

import pytest

from ember.engine.errors import GroupIdRequiredError
from ember.ingest.structs import TopicPartition


def produce(store, topic, partitions, count):
    producer = store.producer()
    sent = set()
    for i in range(count):
        value = f"{topic}-{i}".encode()
        producer.send(topic, value=value, partition=i % partitions)
        sent.add((topic, value))
    producer.flush()
    producer.close()
    return sent


def drain(consumer, expected, timeout=30.0):
    seen = []
    deadline = time.monotonic() + timeout
    while len(seen) < expected and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=200).values():
            seen += [(r.topic, r.value) for r in records]
    return seen


def test_a_groupless_subscription_reads_every_partition_and_commits_nothing(store):
    store.create_topic("clicks", partitions=3)
    store.create_topic("views", partitions=2)
    store.create_topic("other", partitions=1)
    sent = produce(store, "clicks", 3, 30) | produce(store, "views", 2, 20)
    produce(store, "other", 1, 5)

    consumer = store.consumer(group_id=None, auto_offset_reset="earliest")
    consumer.subscribe(["clicks", "views"])
    seen = drain(consumer, len(sent))
    assert sorted(seen) == sorted(sent), "each record of both topics, once"
    assert consumer.assignment() == {TopicPartition("clicks", p) for p in range(3)} | \
        {TopicPartition("views", p) for p in range(2)}
    assert consumer.subscription() == {"clicks", "views"}

    with pytest.raises(GroupIdRequiredError, match="group_id") as raised:
        consumer.commit()
    assert isinstance(raised.value, AssertionError), "kafka-python asserts it"
    with pytest.raises(GroupIdRequiredError):
        consumer.committed(TopicPartition("clicks", 0))
    consumer.close()  # auto-commit is on by default: closing commits nothing, and raises nothing

    again = store.consumer(group_id=None, auto_offset_reset="earliest")
    again.subscribe(["clicks", "views"])
    assert sorted(drain(again, len(sent))) == sorted(sent), "nothing was committed anywhere"
    again.close()


def test_a_groupless_subscription_takes_a_topic_created_after_it(store):
    store.create_topic("early", partitions=1)
    consumer = store.consumer(group_id=None, auto_offset_reset="earliest",
                              metadata_max_age_ms=200)
    consumer.subscribe(["early", "late"])  # "late" does not exist yet
    early = produce(store, "early", 1, 3)
    assert sorted(drain(consumer, 3)) == sorted(early)
    store.create_topic("late", partitions=2)
    late = produce(store, "late", 2, 4)
    assert sorted(drain(consumer, 4)) == sorted(late)
    assert TopicPartition("late", 1) in consumer.assignment()
    consumer.close()
