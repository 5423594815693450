"""Fixtures for the Kafka listener's tests: a broker with a Kafka listener
in a real process (one per module) and unique topics. The helpers every
module uses are in ``kafka_helpers``."""

from __future__ import annotations

import itertools
import time

import pytest

from ember.ingest.client.store import LogStore

_names = itertools.count()


@pytest.fixture(scope="module")
def kafka_store(tmp_path_factory):
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
