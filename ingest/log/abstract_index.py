"""AbstractIndex: what the offset index and the time index share.

An index is a file of fixed-size big-endian entries, appended in order, kept
whole in memory (two parallel arrays, searched with ``bisect``) and written to
its file in bulk at :meth:`flush`. Entries not yet flushed are lost in a crash;
that is harmless because an index is derived data: the segment that owns it
checks it with :meth:`sanity_check` when loading and rebuilds it from the log
when it is missing, torn or wrong. The log is always trusted over its index.

After a crash the file holds some prefix of the entries that were appended,
possibly cut mid-entry (a size not a multiple of the entry size), or garbage
if the disk lied; either way the segment rebuilds it.

Invariants: both columns strictly increase (``sanity_check`` enforces it on
load, ``append`` on every entry); the file, once flushed, equals the in-memory
entries.

Thread-safety: the owner serialises every call but ``flush``, which may run concurrently.
"""

from __future__ import annotations

import bisect
import itertools
import operator
import os
import struct
import threading
from array import array

from ember.engine.errors import CorruptRecordError
from ember.ingest.log import durability


def strictly_increasing(column) -> bool:
    return all(map(operator.lt, column, itertools.islice(column, 1, None)))


class AbstractIndex:
    """Subclasses set ``ENTRY`` and ``KIND`` and name their two columns."""

    ENTRY: struct.Struct
    KIND: str

    def __init__(self, path: str, base_offset: int):
        self.path = path
        self.base_offset = base_offset
        self._lock = threading.Lock()
        self.created = not os.path.exists(path)  # a missing index must be rebuilt
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        if self.created:
            durability.note_created(path)
        data = os.pread(self._fd, os.fstat(self._fd).st_size, 0)
        self._file_size = len(data)
        self._torn_bytes = len(data) % self.ENTRY.size
        self._keys = array("q")
        self._values = array("q")
        for fields in self.ENTRY.iter_unpack(data[:len(data) - self._torn_bytes]):
            key, value = self._from_file(*fields)
            self._keys.append(key)
            self._values.append(value)
        self._pending = bytearray()
        self._unsynced = False

    def _from_file(self, first: int, second: int) -> tuple[int, int]:
        """(key, value) from an entry's fields; subclasses undo relative offsets."""
        raise NotImplementedError

    def _to_file(self, key: int, value: int) -> bytes:
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self._keys)

    def entries(self) -> list[tuple[int, int]]:
        return list(zip(self._keys, self._values))

    @property
    def dirty(self) -> bool:
        return bool(self._pending) or self._unsynced

    def _append(self, key: int, value: int) -> None:
        if self._keys and (key <= self._keys[-1] or value <= self._values[-1]):
            raise ValueError(f"{self.KIND} entries must increase: ({key}, {value}) after "
                             f"({self._keys[-1]}, {self._values[-1]}) in {self.path}")
        packed = self._to_file(key, value)
        self._keys.append(key)
        self._values.append(value)
        with self._lock:
            self._pending += packed

    def _before_first(self) -> tuple[int, int]:
        """What a lookup answers when no entry is small enough."""
        raise NotImplementedError

    def lookup(self, key: int) -> tuple[int, int]:
        """The last entry whose key is <= ``key`` (binary search)."""
        i = bisect.bisect_right(self._keys, key) - 1
        if i < 0:
            return self._before_first()
        return self._keys[i], self._values[i]

    @property
    def last_entry(self) -> tuple[int, int]:
        if not self._keys:
            return self._before_first()
        return self._keys[-1], self._values[-1]

    def _structure_problem(self) -> str | None:
        if self._torn_bytes:
            return (f"size {self._file_size} is not a multiple of the "
                    f"{self.ENTRY.size}-byte entry size")
        if not strictly_increasing(self._keys) or not strictly_increasing(self._values):
            return "entries are not in increasing order"
        return None

    def _raise_if(self, problem: str | None) -> None:
        if problem:
            raise CorruptRecordError(f"corrupt {self.KIND} {self.path}: {problem}")

    def flush(self) -> None:
        """Write the entries appended since the last flush and fsync the file."""
        with self._lock:
            if self._pending:
                durability.pwrite_all(self._fd, self._pending, self._file_size)
                self._file_size += len(self._pending)
                self._pending.clear()
                self._unsynced = True
            if not self._unsynced:
                return
            self._unsynced = False
        durability.fsync(self._fd, self.path)

    def reset(self) -> None:
        """Drop every entry, in memory and on disk (before a rebuild)."""
        with self._lock:
            os.ftruncate(self._fd, 0)
            self._file_size = 0
            self._torn_bytes = 0
            self._pending.clear()
            self._unsynced = True
        del self._keys[:]
        del self._values[:]

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
