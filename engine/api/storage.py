"""Storage levels: how a persisted RDD's partitions are kept on workers.

Same constants, fields and printed forms as PySpark's ``StorageLevel``. ember
keeps cached partitions in the worker that computed them: in memory as live
Python objects, on the worker's local disk as a pickled batch, or both.
Replication above 1 is accepted and recorded, but a single copy is kept: a
lost copy is recomputed from lineage.
"""

from __future__ import annotations


class StorageLevel:
    """Flags for controlling the storage of an RDD.

    >>> print(StorageLevel.MEMORY_AND_DISK)
    Disk Memory Serialized 1x Replicated
    >>> StorageLevel.DISK_ONLY_2
    StorageLevel(True, False, False, False, 2)
    """

    NONE: "StorageLevel"
    DISK_ONLY: "StorageLevel"
    DISK_ONLY_2: "StorageLevel"
    DISK_ONLY_3: "StorageLevel"
    MEMORY_ONLY: "StorageLevel"
    MEMORY_ONLY_2: "StorageLevel"
    MEMORY_AND_DISK: "StorageLevel"
    MEMORY_AND_DISK_2: "StorageLevel"
    OFF_HEAP: "StorageLevel"
    MEMORY_AND_DISK_DESER: "StorageLevel"

    __slots__ = ("useDisk", "useMemory", "useOffHeap", "deserialized", "replication")

    def __init__(self, useDisk: bool, useMemory: bool, useOffHeap: bool,
                 deserialized: bool, replication: int = 1):
        self.useDisk = useDisk
        self.useMemory = useMemory
        self.useOffHeap = useOffHeap
        self.deserialized = deserialized
        self.replication = replication

    def _fields(self):
        return (self.useDisk, self.useMemory, self.useOffHeap, self.deserialized,
                self.replication)

    def __repr__(self) -> str:
        return "StorageLevel(%s, %s, %s, %s, %s)" % self._fields()

    def __str__(self) -> str:
        return "".join((
            "Disk " if self.useDisk else "",
            "Memory " if self.useMemory else "",
            "OffHeap " if self.useOffHeap else "",
            "Deserialized " if self.deserialized else "Serialized ",
            f"{self.replication}x Replicated",
        ))

    def __eq__(self, other) -> bool:
        return isinstance(other, StorageLevel) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __reduce__(self):
        return StorageLevel, self._fields()


StorageLevel.NONE = StorageLevel(False, False, False, False)
StorageLevel.DISK_ONLY = StorageLevel(True, False, False, False)
StorageLevel.DISK_ONLY_2 = StorageLevel(True, False, False, False, 2)
StorageLevel.DISK_ONLY_3 = StorageLevel(True, False, False, False, 3)
StorageLevel.MEMORY_ONLY = StorageLevel(False, True, False, False)
StorageLevel.MEMORY_ONLY_2 = StorageLevel(False, True, False, False, 2)
StorageLevel.MEMORY_AND_DISK = StorageLevel(True, True, False, False)
StorageLevel.MEMORY_AND_DISK_2 = StorageLevel(True, True, False, False, 2)
StorageLevel.OFF_HEAP = StorageLevel(True, True, True, False, 1)
StorageLevel.MEMORY_AND_DISK_DESER = StorageLevel(True, True, False, True)
