"""LeaderEpochCache: where each leader epoch began in one partition's log
(KIP-101's leader-epoch checkpoint).

An entry ``(epoch, start_offset)`` says that the first batch stamped with
``epoch`` is at ``start_offset``; entries are in increasing epoch and
non-decreasing offset order. :meth:`end_offset_for` answers Kafka's
OffsetForLeaderEpoch: for a requested epoch, the largest epoch at most that
one, and the offset where it ended here (the start of the next epoch, or the
log end offset for the latest). A follower that returns truncates its log to
that boundary, which is where its log and the leader's first differ.

On-disk format, beside the segments::

    leader-epoch.checkpoint   {"version": 1, "epochs": [[epoch, start_offset], ...]}

replaced atomically (``engine.io.fileio``) before the first batch of a new
epoch is appended and after every truncation, so the file is never behind
the log; after a crash it may be ahead (an entry whose batch was never
written), and :meth:`truncate_from_end` at load removes such entries.

Thread-safety: not thread-safe; the partition log calls it under its lock.
"""

from __future__ import annotations

import json
import logging
import os

from ember.engine.io.fileio import atomic_write

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "leader-epoch.checkpoint"
UNDEFINED = -1
_VERSION = 1


class LeaderEpochCache:
    def __init__(self, directory: str):
        self._path = os.path.join(directory, CHECKPOINT_FILE)
        self.entries: list[tuple[int, int]] = []
        try:
            with open(self._path, "rb") as handle:
                doc = json.loads(handle.read())
            if doc.get("version") != _VERSION:
                raise ValueError(f"version {doc.get('version')!r}")
            self.entries = [(int(e), int(o)) for e, o in doc["epochs"]]
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, TypeError) as error:
            # Rebuilt from the batch headers by the caller.
            log.warning("ignoring unreadable %s (%r)", self._path, error)
            self.entries = []

    @property
    def latest_epoch(self) -> int:
        return self.entries[-1][0] if self.entries else UNDEFINED

    def _save(self) -> None:
        atomic_write(self._path, json.dumps({"version": _VERSION,
                                             "epochs": self.entries}).encode())

    def assign(self, epoch: int, start_offset: int) -> None:
        """The first batch of ``epoch`` is about to go at ``start_offset``
        (durable before that batch is written)."""
        if epoch < 0 or (self.entries and epoch <= self.entries[-1][0]):
            return
        # Earlier epochs starting here or later have no batch left of their own.
        while self.entries and self.entries[-1][1] >= start_offset:
            self.entries.pop()
        self.entries.append((epoch, start_offset))
        self._save()

    def end_offset_for(self, epoch: int, log_end_offset: int) -> tuple[int, int]:
        """(largest epoch <= ``epoch``, where it ended here); (UNDEFINED,
        UNDEFINED) when every epoch here is newer, or there is none."""
        if not self.entries or epoch < self.entries[0][0]:
            return UNDEFINED, UNDEFINED
        for i in range(len(self.entries) - 1, -1, -1):
            found, _ = self.entries[i]
            if found <= epoch:
                end = self.entries[i + 1][1] if i + 1 < len(self.entries) else log_end_offset
                return found, end
        return UNDEFINED, UNDEFINED

    def truncate_from_end(self, end_offset: int) -> None:
        """The log now ends at ``end_offset``: forget epochs starting at or after it."""
        kept = [entry for entry in self.entries if entry[1] < end_offset]
        if kept != self.entries:
            self.entries = kept
            self._save()

    def truncate_from_start(self, start_offset: int) -> None:
        """The log now starts at ``start_offset`` (a follower starting over)."""
        kept = [entry for entry in self.entries if entry[1] >= start_offset]
        if kept != self.entries:
            self.entries = kept
            self._save()

    def clear(self) -> None:
        if self.entries:
            self.entries = []
            self._save()

    def rebuild(self, headers) -> None:
        """From ``(epoch, base_offset)`` of every batch, in log order."""
        entries: list[tuple[int, int]] = []
        for epoch, base in headers:
            if not entries or epoch > entries[-1][0]:
                entries.append((epoch, base))
        self.entries = entries
        self._save()
