"""Growing a topic's partition count on one broker (Kafka's CreatePartitions
through ember's store handle): the new partitions take records and keep
them across a restart; a count that would not grow the topic, an unknown
topic and a replication factor above 1 are named errors."""

from __future__ import annotations

import pytest

from ember.engine.errors import (
    InvalidPartitionsError, InvalidReplicationFactorError, UnknownTopicOrPartitionError,
)
from ember.ingest.client.store import LogStore

from tests.ingest.broker_helpers import read_topic


def test_a_topic_grows_on_one_broker_and_its_new_partitions_keep_records(tmp_path):
    store = LogStore.start(tmp_path / "log")
    try:
        store.create_topic("clicks", partitions=2)
        store.create_partitions("clicks", 5, validate_only=True)
        assert store.partitions_for("clicks") == 2  # validation changes nothing
        store.create_partitions("clicks", 5)
        assert store.partitions_for("clicks") == 5
        with store.producer() as producer:
            for p in range(5):
                producer.send("clicks", f"v{p}".encode(), partition=p)
            producer.flush(30)
        secret, port = store.secret, store.port
    finally:
        store.stop()
    store = LogStore.start(tmp_path / "log", secret=secret, port=port)
    try:
        assert store.partitions_for("clicks") == 5
        contents = read_topic(store, "clicks")
        assert {p: [v for _, _, v in records] for p, records in contents.items()} == \
            {p: [f"v{p}".encode()] for p in range(5)}
    finally:
        store.stop()


def test_partition_counts_that_do_not_grow_a_topic_are_named_errors(tmp_path):
    with LogStore.start(tmp_path / "log") as store:
        store.create_topic("clicks", partitions=3)
        with pytest.raises(InvalidPartitionsError,
                           match="currently has 3 partitions, which is higher than the "
                                 "requested 2"):
            store.create_partitions("clicks", 2)
        with pytest.raises(InvalidPartitionsError, match="already has 3 partitions"):
            store.create_partitions("clicks", 3)
        with pytest.raises(InvalidPartitionsError, match="partitions = 0"):
            store.create_partitions("clicks", 0)
        with pytest.raises(InvalidPartitionsError, match="already has 3 partitions"):
            store.create_partitions("clicks", 3, validate_only=True)
        with pytest.raises(UnknownTopicOrPartitionError, match="'nope'"):
            store.create_partitions("nope", 4)
        with pytest.raises(InvalidReplicationFactorError,
                           match="replication factor 3: this store is one broker"):
            store.create_topic("replicated", partitions=1, replication_factor=3)
        assert store.topics() == ["clicks"] and store.partitions_for("clicks") == 3
