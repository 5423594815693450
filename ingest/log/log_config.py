"""LogConfig: the per-topic settings of the log store, with Kafka's names.

Each setting is declared once below (key, default, bounds, meaning). A topic
stores only its overrides (in its metadata file); the effective config is the
broker's defaults with those overrides applied. Unknown keys and bad values
raise ConfigError naming the key, the value and what was expected.

Thread-safety: immutable; safe from any thread.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from typing import Any, Mapping

from ember.engine.errors import ConfigError

_DAY_MS = 24 * 60 * 60 * 1000
_INT32_MAX = 0x7FFFFFFF
_INT64_MAX = (1 << 63) - 1

# key: (attribute, default, minimum, maximum, meaning)
SETTINGS: dict[str, tuple[str, int, int, int, str]] = {
    "segment.bytes": ("segment_bytes", 1 << 30, 128, _INT32_MAX,
                      "roll a new segment when the active one would pass this size"),
    "segment.ms": ("segment_ms", 7 * _DAY_MS, 1, _INT64_MAX,
                   "roll a new segment when the active one's first append is this old"),
    "retention.bytes": ("retention_bytes", -1, -1, _INT64_MAX,
                        "delete the oldest sealed segments while the partition is larger "
                        "than this (-1: no limit)"),
    "retention.ms": ("retention_ms", 7 * _DAY_MS, -1, _INT64_MAX,
                     "delete sealed segments whose newest record is older than this "
                     "(-1: no limit)"),
    "max.message.bytes": ("max_message_bytes", 1048588, 0, _INT32_MAX,
                          "the largest record batch a partition accepts"),
    "index.interval.bytes": ("index_interval_bytes", 4096, 0, _INT32_MAX,
                             "bytes of log between two offset index entries"),
}


@dataclasses.dataclass(frozen=True)
class LogConfig:
    segment_bytes: int = SETTINGS["segment.bytes"][1]
    segment_ms: int = SETTINGS["segment.ms"][1]
    retention_bytes: int = SETTINGS["retention.bytes"][1]
    retention_ms: int = SETTINGS["retention.ms"][1]
    max_message_bytes: int = SETTINGS["max.message.bytes"][1]
    index_interval_bytes: int = SETTINGS["index.interval.bytes"][1]

    def with_overrides(self, overrides: Mapping[str, Any] | None) -> "LogConfig":
        """A copy with ``overrides`` (Kafka keys, e.g. ``"retention.ms"``) applied."""
        return dataclasses.replace(self, **validate(overrides or {}))

    def to_dict(self) -> dict[str, int]:
        return {key: getattr(self, attribute) for key, (attribute, *_) in SETTINGS.items()}


def validate(overrides: Mapping[str, Any]) -> dict[str, int]:
    """Check ``overrides``; returns them as attribute names -> ints."""
    if not isinstance(overrides, Mapping):
        raise ConfigError(f"log config must be a mapping of setting -> value, "
                          f"got {type(overrides).__name__}")
    checked = {}
    for key, value in overrides.items():
        if key not in SETTINGS:
            close = difflib.get_close_matches(str(key), SETTINGS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"unknown log config {key!r}{hint}; known settings: "
                              f"{', '.join(sorted(SETTINGS))}")
        attribute, _, low, high, meaning = SETTINGS[key]
        number = _as_int(value)
        if number is None or not low <= number <= high:
            raise ConfigError(f"log config {key!r} = {value!r}: expected a whole number "
                              f"from {low} to {high} ({meaning})")
        checked[attribute] = number
    return checked


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    return None
