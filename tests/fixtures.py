"""Fixtures shared by several suites, and the one way a factory fixture
stops what it made.

A suite takes the fixtures it needs by importing them into its conftest
(``from tests.fixtures import store  # noqa: F401 - fixture``); a factory
fixture (``start_broker``, ``start_cluster``, ``stream``...) hands its test a
function and, at teardown, stops everything that function returned, in the
order it was made.
"""

from __future__ import annotations

import operator

import pytest

from ember.ingest.client.store import LogStore


def made_and_stopped(make, stop=operator.methodcaller("stop")):
    """The body of a factory fixture (``yield from made_and_stopped(make)``):
    yields ``make`` remembering what each call returns, then calls ``stop``
    on each of those at teardown."""
    made = []

    def remembered(*args, **kwargs):
        thing = make(*args, **kwargs)
        made.append(thing)
        return thing

    yield remembered
    for thing in made:
        stop(thing)


@pytest.fixture
def log_dir(tmp_path):
    return str(tmp_path / "log")


@pytest.fixture
def start_broker(log_dir):
    """``start_broker(directory=log_dir, **kw)`` -> a LogStore, a broker in
    its own process; every broker started through it is stopped when the
    test ends."""
    def start(directory=None, **kwargs):
        return LogStore.start(directory or log_dir, **kwargs)

    yield from made_and_stopped(start)


@pytest.fixture
def store(start_broker):
    """A log store broker in its own process on ``log_dir``, stopped at teardown."""
    return start_broker()
