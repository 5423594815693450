"""Fixtures for the log store's network tests: brokers started in real
processes, stopped (or reaped, if a test killed them) at teardown."""

from __future__ import annotations

from tests.fixtures import log_dir, start_broker, store  # noqa: F401 - fixtures
