"""Fixtures of the streaming tests."""

from __future__ import annotations

import os
import sys

import pytest

# The Kafka tests' fixtures and helpers (a broker with a Kafka listener, real
# Kafka clients) serve the streams over a Kafka cluster too.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "kafka"))
from kafka_helpers import kafka_store, new_topic  # noqa: E402,F401 - fixtures

from streaming_helpers import ManualStream


@pytest.fixture
def stream(sc):
    """``stream(batch=1.0)`` -> a ManualStream on the module's Context; stopped at teardown."""
    made = []

    def make(batch: float = 1.0, **kwargs) -> ManualStream:
        manual = ManualStream(sc, batch, **kwargs)
        made.append(manual)
        return manual

    yield make
    for manual in made:
        manual.stop()


@pytest.fixture
def store(tmp_path):
    """A log store broker in its own process, stopped at teardown."""
    from ember.ingest.client.store import LogStore

    broker = LogStore.start(str(tmp_path / "log"))
    yield broker
    broker.stop()
