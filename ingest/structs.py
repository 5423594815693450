"""The small value types of the log store's client API, with kafka-python's
(and, for ``OffsetRange``, PySpark's) names and fields.

All are named tuples: immutable, hashable, picklable, cheap. They carry no
behaviour and know nothing of the wire.

Thread-safety: immutable; safe from any thread.
"""

from __future__ import annotations

from typing import NamedTuple


class TopicPartition(NamedTuple):
    topic: str
    partition: int


class OffsetAndMetadata(NamedTuple):
    """A committed offset: the next offset the group will read."""
    offset: int
    metadata: str = ""


class OffsetRange(NamedTuple):
    """Offsets ``[fromOffset, untilOffset)`` of one topic-partition (PySpark's
    ``OffsetRange``): the input of one LogRDD partition."""
    topic: str
    partition: int
    fromOffset: int
    untilOffset: int

    def count(self) -> int:
        return self.untilOffset - self.fromOffset


class RecordMetadata(NamedTuple):
    """Where an acknowledged record was stored. ``offset`` is -1 when the
    producer asked for no acknowledgement (``acks=0``)."""
    topic: str
    partition: int
    offset: int
    timestamp: int
    serialized_key_size: int
    serialized_value_size: int

    @property
    def topic_partition(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)


class ConsumerRecord(NamedTuple):
    topic: str
    partition: int
    offset: int
    timestamp: int
    timestamp_type: int  # 0: the producer's create time (the only kind stored)
    key: object
    value: object
    headers: list
    serialized_key_size: int
    serialized_value_size: int
