"""Fixtures for the Kafka listener's tests: a broker with a Kafka listener
in a real process (one per module) and unique topics. They and the helpers
every module uses are in ``kafka_helpers`` (the streaming tests use them too)."""

from __future__ import annotations

from kafka_helpers import kafka_store, new_topic  # noqa: F401 - fixtures
