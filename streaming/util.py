"""Times, durations and output file names of ember.streaming.

A batch time is an ``int`` of milliseconds since the epoch (Spark's
``Time``); a duration given by a user is in seconds (``int`` or ``float``,
as in PySpark) and kept as ``int`` milliseconds. User functions see a
batch time as a local ``datetime``, as PySpark hands it to them.

Must not know: anything of DStreams or the scheduler.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any


def rddToFileName(prefix: str, suffix: str | None, timestamp: Any) -> str:
    """``prefix-<milliseconds>[.suffix]``: the directory ``saveAsTextFiles``
    writes a batch to (PySpark's name and format).

    >>> rddToFileName("spark", None, 12345678910)
    'spark-12345678910'
    >>> rddToFileName("spark", "tmp", 12345678910)
    'spark-12345678910.tmp'
    """
    if isinstance(timestamp, datetime):
        timestamp = datetime_to_ms(timestamp)
    name = f"{prefix}-{timestamp}"
    return name if suffix is None else f"{name}.{suffix}"


def datetime_to_ms(moment: datetime) -> int:
    """Milliseconds since the epoch of a local (naive) or aware datetime."""
    if moment.tzinfo is not None:
        return int(round(moment.timestamp() * 1000))
    return int(time.mktime(moment.timetuple())) * 1000 + moment.microsecond // 1000


def ms_to_datetime(ms: int) -> datetime:
    """A batch time as user functions see it: a local datetime."""
    return datetime.fromtimestamp(ms / 1000.0)


def duration_ms(seconds: Any, what: str) -> int:
    """A duration in seconds (int or float) as milliseconds; a clear error otherwise."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{what} must be a number of seconds, got {seconds!r}")
    ms = int(round(seconds * 1000))
    if ms <= 0:
        raise ValueError(f"{what} must be positive (at least 1 ms), got {seconds!r}")
    return ms


def time_argument_ms(moment: Any, what: str) -> int:
    """A point in time given as a datetime or a unix timestamp in seconds."""
    if isinstance(moment, datetime):
        return datetime_to_ms(moment)
    if isinstance(moment, bool) or not isinstance(moment, (int, float)):
        raise TypeError(f"{what} must be a datetime or a unix timestamp in seconds, got {moment!r}")
    return int(round(moment * 1000))


def format_time(ms: int) -> str:
    """A batch time for people: local wall-clock time with milliseconds."""
    moment = ms_to_datetime(ms)
    return moment.strftime("%H:%M:%S") + (f".{ms % 1000:03d}" if ms % 1000 else "")
