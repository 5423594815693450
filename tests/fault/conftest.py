"""Fixtures of the fault-injection suite (helpers live in faults.py)."""

from __future__ import annotations

import pytest

from faults import start_cluster


@pytest.fixture
def cluster():
    """A factory of Contexts; each is stopped at teardown."""
    made = []

    def make(workers=2, **settings):
        context = start_cluster(workers, **settings)
        made.append(context)
        return context

    yield make
    for context in made:
        context.stop()
