"""Fixtures of the fault-injection suite (helpers live in faults.py)."""

from __future__ import annotations

import pytest

from faults import start_cluster
from tests.fixtures import made_and_stopped


@pytest.fixture
def cluster():
    """A factory of Contexts; each is stopped at teardown."""
    yield from made_and_stopped(start_cluster)
