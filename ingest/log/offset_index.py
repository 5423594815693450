"""OffsetIndex: a sparse map from offsets to byte positions in one segment.

On-disk format (``<base_offset:020d>.index``): a sequence of 8-byte entries,
big-endian, no header::

    relative_offset  uint32   batch base offset - segment base offset
    position         uint32   byte position of that batch in the .log file

The segment adds an entry for the batch being appended once more than
``index.interval.bytes`` of log have been appended since the previous entry,
so a lookup is followed by a short forward scan of batch headers. An entry
names a batch's *base* offset, so the batch header found at its position can
confirm it (the segment does, and rebuilds the index when it disagrees).

Lookup: the last entry whose offset is <= the target (binary search); with no
such entry, the segment's start ``(base_offset, 0)``.

After a crash: entries not yet flushed are missing, the file may be torn or
hold garbage. :meth:`sanity_check` catches a size that is not a multiple of 8,
entries out of order and an entry beyond the end of the log; the segment then
rebuilds the index from the log. Derived data: never trusted over the log.

Invariants: offsets and positions strictly increase; every position is below
the log's size; relative offsets fit in 32 bits (the segment rolls before
they would not).

Thread-safety: the owning segment serialises every call but ``flush``, which may run concurrently.
"""

from __future__ import annotations

import struct

from ember.ingest.log.abstract_index import AbstractIndex


class OffsetIndex(AbstractIndex):
    ENTRY = struct.Struct(">II")
    KIND = "offset index"

    def _from_file(self, relative_offset: int, position: int) -> tuple[int, int]:
        return self.base_offset + relative_offset, position

    def _to_file(self, offset: int, position: int) -> bytes:
        return self.ENTRY.pack(offset - self.base_offset, position)

    def _before_first(self) -> tuple[int, int]:
        return self.base_offset, 0

    def append(self, offset: int, position: int) -> None:
        self._append(offset, position)

    # lookup(target) -> (offset, position) of the last entry with offset <= target

    def sanity_check(self, log_size: int) -> None:
        """Raise CorruptRecordError if the index cannot belong to a log of
        ``log_size`` bytes."""
        problem = self._structure_problem()
        if not problem and self._values and self._values[-1] >= log_size:
            problem = (f"last entry points at byte {self._values[-1]}, beyond the "
                       f"{log_size}-byte log")
        self._raise_if(problem)
