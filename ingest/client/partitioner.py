"""Which partition a produced record goes to.

A record with a key goes to ``murmur2(key) & 0x7fffffff % partitions``: the
32-bit MurmurHash2 with Kafka's seed, so a key lands on the same partition
number as with Kafka's default partitioner (and keeps landing there: the
hash does not depend on the process or ``PYTHONHASHSEED``). A record without
a key goes to the topic's current "sticky" partition, which moves on to the
next partition each time a batch for it fills up or is sent (Kafka's sticky
partitioner): null-key records spread over all partitions while filling
whole batches.

Thread-safety: ``murmur2``/``partition_for_key`` are pure; ``StickyPartitions``
is guarded by its owner's lock.
"""

from __future__ import annotations

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's 32-bit MurmurHash2 of ``data`` as a signed int."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    end = length - length % 4
    for i in range(0, end, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = length % 4
    if tail == 3:
        h ^= data[end + 2] << 16
    if tail >= 2:
        h ^= data[end + 1] << 8
    if tail >= 1:
        h ^= data[end]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for_key(key: bytes, partitions: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class StickyPartitions:
    """The current partition of each topic for records without a key."""

    def __init__(self) -> None:
        self._current: dict[str, int] = {}

    def current(self, topic: str, partitions: int) -> int:
        return self._current.setdefault(topic, 0) % partitions

    def move_on(self, topic: str, partition: int, partitions: int) -> None:
        """A batch for ``partition`` filled up or left: null-key records move on."""
        if self._current.get(topic, 0) % partitions == partition:
            self._current[topic] = (partition + 1) % partitions
