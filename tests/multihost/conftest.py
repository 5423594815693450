"""Fixtures of the multi-host suite: a cluster secret file, hand-started
processes that are always stopped, and (as root) network namespaces that are
always deleted."""

from __future__ import annotations

import pytest

from ember.engine.wire.secret_file import write_secret_file
from ember.engine.wire.transport import new_secret
from multihost_helpers import Hosts, Processes, netns_unavailable


@pytest.fixture
def secret_file(tmp_path):
    path = tmp_path / "cluster.secret"
    write_secret_file(path, new_secret())
    return str(path)


@pytest.fixture
def processes():
    started = Processes()
    yield started
    started.stop_all()


@pytest.fixture(scope="module")
def hosts():
    """Host "a" (driver and broker) and hosts "b" and "c" (workers), on
    10.213.7.1-3, joined by a bridge; deleted at teardown, also on failure."""
    reason = netns_unavailable()
    if reason is not None:
        pytest.skip(reason)
    network = Hosts(["a", "b", "c"]).up()
    try:
        yield network
    finally:
        network.down()
