"""Fixtures for the log store's network tests: brokers started in real
processes, stopped (or reaped, if a test killed them) at teardown."""

from __future__ import annotations

import pytest

from ember.ingest.client.store import LogStore


@pytest.fixture
def log_dir(tmp_path):
    return str(tmp_path / "log")


@pytest.fixture
def start_broker(log_dir):
    """``start_broker(directory=log_dir, **kw)`` -> a LogStore; every broker
    started through it is stopped when the test ends."""
    started = []

    def start(directory=None, **kwargs):
        store = LogStore.start(directory or log_dir, **kwargs)
        started.append(store)
        return store

    yield start
    for store in started:
        store.stop()


@pytest.fixture
def store(start_broker):
    return start_broker()
