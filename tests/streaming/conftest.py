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
from tests.fixtures import log_dir, made_and_stopped, start_broker, store  # noqa: F401 - fixtures


@pytest.fixture
def stream(sc):
    """``stream(batch=1.0)`` -> a ManualStream on the module's Context; stopped at teardown."""
    def make(batch: float = 1.0, **kwargs) -> ManualStream:
        return ManualStream(sc, batch, **kwargs)

    yield from made_and_stopped(make)
