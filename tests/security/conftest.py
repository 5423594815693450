"""Fixtures of the security suite (helpers live in security_helpers.py): a
log store broker per module, a ZeroMQ context and relays per test, each
stopped at teardown."""

from __future__ import annotations

import pickle

import pytest
import zmq

from ember.ingest.client.store import LogStore
from security_helpers import Canary, Relay


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A broker in its own process, with an empty topic ``t``."""
    broker = LogStore.start(tmp_path_factory.mktemp("log"))
    broker.create_topic("t")
    yield broker
    broker.stop()


@pytest.fixture
def canary(tmp_path):
    """(pickled canary, marker path): unpickling the bytes creates the marker."""
    marker = tmp_path / "canary-was-unpickled"
    return pickle.dumps(Canary(marker)), marker


@pytest.fixture
def zctx():
    context = zmq.Context()
    yield context
    context.destroy(linger=0)


@pytest.fixture
def relay():
    """``relay(target_port, alter=None)`` -> a Relay, closed at teardown."""
    made = []

    def make(port, alter=None):
        made.append(Relay(port, alter))
        return made[-1]

    yield make
    for item in made:
        item.close()
