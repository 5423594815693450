"""Fixtures for the replication tests: clusters of real processes (a
controller quorum and brokers) started on loopback, stopped by PID at
teardown whatever the test did to them."""

from __future__ import annotations

import itertools

import pytest

from ember.ingest.client.store import LogStore
from tests.fixtures import made_and_stopped


@pytest.fixture
def start_cluster(tmp_path):
    """``start_cluster(brokers=3, replication_factor=3, **kw)`` -> a LogStore
    handle on a new cluster (``store.cluster`` is its LocalCluster)."""
    clusters = itertools.count()

    def start(brokers=3, replication_factor=3, **kwargs):
        number = next(clusters)
        directories = [tmp_path / f"node{number}-{i}" for i in range(brokers)]
        return LogStore.start_cluster(directories, replication_factor, **kwargs)

    yield from made_and_stopped(start)


@pytest.fixture
def cluster(start_cluster):
    return start_cluster()
