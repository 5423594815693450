"""TimeIndex: a sparse map from timestamps to offsets in one segment.

On-disk format (``<base_offset:020d>.timeindex``): a sequence of 12-byte
entries, big-endian, no header::

    timestamp        int64    ms; the largest timestamp in the segment so far
    relative_offset  uint32   base offset of the batch holding it - segment base

An entry ``(T, o)`` is added, at the same moments as an offset index entry and
when the segment is sealed, only if ``T`` is larger than the last entry's
timestamp. So every record before offset ``o`` has a timestamp below ``T``,
and the last entry with ``T <= t`` is a safe place to start scanning for the
first record whose timestamp is ``>= t``. The last entry after sealing holds
the segment's largest timestamp, which retention by age reads.

After a crash: like the offset index, a torn, stale or garbage file is caught
by :meth:`sanity_check` (or by the segment checking the last entry against the
log) and rebuilt from the log.

Invariants: timestamps and offsets strictly increase; every offset is below
the segment's next offset.

Thread-safety: the owning segment serialises every call but ``flush``, which may run concurrently.
"""

from __future__ import annotations

import struct

from ember.ingest.log.abstract_index import AbstractIndex
from ember.ingest.log.record_batch import NO_TIMESTAMP


class TimeIndex(AbstractIndex):
    ENTRY = struct.Struct(">qI")
    KIND = "time index"

    def _from_file(self, timestamp: int, relative_offset: int) -> tuple[int, int]:
        return timestamp, self.base_offset + relative_offset

    def _to_file(self, timestamp: int, offset: int) -> bytes:
        return self.ENTRY.pack(timestamp, offset - self.base_offset)

    def maybe_append(self, timestamp: int, offset: int) -> None:
        """Record that the segment's largest timestamp reached ``timestamp``
        in the batch at ``offset``; a no-op unless it grew."""
        if timestamp > (self._keys[-1] if self._keys else NO_TIMESTAMP):
            self._append(timestamp, offset)

    def _before_first(self) -> tuple[int, int]:
        return NO_TIMESTAMP, self.base_offset

    # lookup(t) -> (timestamp, offset) of the last entry with timestamp <= t:
    # where a scan for the first record at or after t starts.

    def sanity_check(self, next_offset: int) -> None:
        """Raise CorruptRecordError if the index cannot belong to a segment
        whose records end before ``next_offset``."""
        problem = self._structure_problem()
        if not problem and self._values and self._values[-1] >= next_offset:
            problem = (f"last entry names offset {self._values[-1]}, beyond the "
                       f"segment's last offset {next_offset - 1}")
        self._raise_if(problem)
