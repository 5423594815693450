"""Fixtures of the streaming tests."""

from __future__ import annotations

import pytest

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
