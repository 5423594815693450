"""Fixtures for the replication tests: clusters of real processes (a
controller quorum and brokers) started on loopback, stopped by PID at
teardown whatever the test did to them."""

from __future__ import annotations

import pytest

from ember.ingest.client.store import LogStore


@pytest.fixture
def start_cluster(tmp_path):
    """``start_cluster(brokers=3, replication_factor=3, **kw)`` -> a LogStore
    handle on a new cluster (``store.cluster`` is its LocalCluster)."""
    started = []

    def start(brokers=3, replication_factor=3, **kwargs):
        directories = [tmp_path / f"node{len(started)}-{i}" for i in range(brokers)]
        store = LogStore.start_cluster(directories, replication_factor, **kwargs)
        started.append(store)
        return store

    yield start
    for store in started:
        store.stop()


@pytest.fixture
def cluster(start_cluster):
    return start_cluster()
