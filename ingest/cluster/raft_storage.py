"""The durable state of one Raft member: its identity, term and vote, log,
and snapshot.

Directory layout::

    meta.json       {"version", "cluster_id", "node_id", "incarnation"}: written
                    once when the directory is formatted
    vote.json       {"term", "voted_for": [node_id, incarnation] | null}
    snapshot.json   {"index", "term", "config", "state"}: everything up to and
                    including ``index``
    raft.log        the entries after the snapshot, one record each:
                    u32 length | u32 CRC-32 of the payload | payload, the
                    payload being the JSON list [index, term, kind, data]

Invariants:

* Raft is safe only if a vote and an acknowledged entry survive a crash.
  ``set_term_vote`` returns only once the new term and vote are durable
  (``engine.io.fileio``: tmp, fsync, rename, fsync dir). Appends and
  truncations are written at once and made durable by ``sync``; the caller
  (``raft.RaftNode.ready``) calls it before any message that reflects them
  leaves the process.
* The log holds consecutive indexes, starting right after the snapshot. A
  torn or corrupt record ends the log at open: everything from it on is cut
  (it cannot have been acknowledged, since acknowledgements follow fsync).
* Compaction writes the snapshot first, then rewrites the log without the
  entries it covers. A crash between the two leaves entries the snapshot
  covers at the log's head; they are skipped at open.
* The incarnation is random and never reused: a directory that was wiped
  and formatted again is a new member, however its node id is spelled.

``durable=False`` skips every fsync: only for simulations in which no
machine loses power. Segment and index files are written through the log
store's file layer (``ingest.log.durability``) so the power-loss simulation
of the storage tests covers this log too.

Thread-safety: one owner (the Raft loop); not thread-safe.
"""

from __future__ import annotations

import json
import os
import secrets
import struct
import zlib
from dataclasses import dataclass
from typing import Any

from ember.engine.errors import KafkaStorageError
from ember.engine.io.fileio import atomic_write, atomic_writer, fsync_dir
from ember.ingest.log import durability

META_FILE = "meta.json"
VOTE_FILE = "vote.json"
SNAPSHOT_FILE = "snapshot.json"
LOG_FILE = "raft.log"
FORMAT_VERSION = 1

_HEADER = struct.Struct(">II")
_MAX_RECORD = 64 * 1024 * 1024

# The kinds of log entries. Commands carry the state machine's records;
# configs the voter set; a leader's first entry of its term is a no-op.
NOOP, CONFIG, COMMAND = "noop", "config", "command"
KINDS = (NOOP, CONFIG, COMMAND)


@dataclass(frozen=True)
class Entry:
    index: int
    term: int
    kind: str
    data: Any

    def encode(self) -> list:
        return [self.index, self.term, self.kind, self.data]


@dataclass(frozen=True)
class Snapshot:
    index: int
    term: int
    config: tuple  # ((node_id, incarnation), ...) sorted
    state: Any


def _encode_record(entry: Entry) -> bytes:
    payload = json.dumps(entry.encode(), separators=(",", ":")).encode()
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def config_of(data: Any) -> tuple:
    """A voter set as stored: sorted (node_id, incarnation) pairs."""
    return tuple(sorted((int(node), str(incarnation)) for node, incarnation in data))


def format_directory(directory: str | os.PathLike, cluster_id: str, node_id: int,
                     initial_voters: dict[int, str] | None = None,
                     incarnation: str | None = None) -> str:
    """Make ``directory`` a member's home; returns its incarnation.

    ``initial_voters`` (node id -> incarnation) is given only to the founding
    members of a new cluster: it is written as a snapshot at index 0 holding
    that voter set. A member formatted without it starts with no voter set: it
    is an observer until the cluster's leader adds it (see ``raft``)."""
    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    if os.path.exists(os.path.join(directory, META_FILE)):
        raise KafkaStorageError(f"{directory} is already formatted (it has {META_FILE})")
    incarnation = incarnation or secrets.token_hex(8)
    if initial_voters is not None:
        if initial_voters.get(node_id) not in (None, incarnation):
            raise ValueError(f"initial voters give node {node_id} the incarnation "
                             f"{initial_voters[node_id]!r}, this directory {incarnation!r}")
        snapshot = {"index": 0, "term": 0, "config": [list(v) for v in config_of(initial_voters.items())],
                    "state": None}
        atomic_write(os.path.join(directory, SNAPSHOT_FILE), json.dumps(snapshot).encode())
    meta = {"version": FORMAT_VERSION, "cluster_id": cluster_id, "node_id": node_id,
            "incarnation": incarnation}
    atomic_write(os.path.join(directory, META_FILE), json.dumps(meta).encode())
    return incarnation


def is_formatted(directory: str | os.PathLike) -> bool:
    return os.path.exists(os.path.join(os.fspath(directory), META_FILE))


class RaftStorage:
    """Open with :meth:`open`; see the module docstring for the format."""

    def __init__(self, directory: str, meta: dict, durable: bool):
        self.directory = directory
        self.cluster_id: str = meta["cluster_id"]
        self.node_id: int = meta["node_id"]
        self.incarnation: str = meta["incarnation"]
        self._durable = durable
        self._log_path = os.path.join(directory, LOG_FILE)
        self.term = 0
        self.voted_for: tuple[int, str] | None = None
        self.snapshot = Snapshot(0, 0, (), None)
        self._entries: list[Entry] = []
        self._offsets: list[int] = []  # file offset of each entry's record
        self._end = 0
        self._fd = -1
        self._dirty = False
        self.cut_bytes = 0  # bytes of torn or corrupt tail dropped at open

    # --- opening ------------------------------------------------------------------

    @classmethod
    def open(cls, directory: str | os.PathLike, *, durable: bool = True) -> "RaftStorage":
        directory = os.fspath(directory)
        meta = _read_json(os.path.join(directory, META_FILE))
        if meta is None:
            raise KafkaStorageError(f"{directory} is not a formatted controller directory "
                                    f"(no {META_FILE})")
        if meta.get("version") != FORMAT_VERSION:
            raise KafkaStorageError(f"{directory}/{META_FILE} has format version "
                                    f"{meta.get('version')!r}, expected {FORMAT_VERSION}")
        storage = cls(directory, meta, durable)
        storage._load()
        return storage

    def _load(self) -> None:
        vote = _read_json(os.path.join(self.directory, VOTE_FILE))
        if vote is not None:
            self.term = int(vote["term"])
            self.voted_for = tuple(vote["voted_for"]) if vote["voted_for"] else None
        snap = _read_json(os.path.join(self.directory, SNAPSHOT_FILE))
        if snap is not None:
            self.snapshot = Snapshot(int(snap["index"]), int(snap["term"]),
                                     config_of(snap["config"]), snap["state"])
        self._fd = os.open(self._log_path, os.O_RDWR | os.O_CREAT, 0o644)
        with open(self._log_path, "rb") as handle:
            data = handle.read()
        position, expected = 0, self.snapshot.index + 1
        while position + _HEADER.size <= len(data):
            length, crc = _HEADER.unpack_from(data, position)
            payload = data[position + _HEADER.size:position + _HEADER.size + length]
            if length > _MAX_RECORD or len(payload) != length or zlib.crc32(payload) != crc:
                break
            try:
                index, term, kind, entry_data = json.loads(payload)
            except (ValueError, TypeError):
                break
            if index >= expected:
                if index != expected or kind not in KINDS:
                    break
                self._entries.append(Entry(index, term, kind, entry_data))
                self._offsets.append(position)
                expected += 1
            position += _HEADER.size + length
        if position < len(data) or self._entries and self._offsets[0] != 0:
            # Cut the torn tail; drop the head the snapshot covers.
            self.cut_bytes = len(data) - position
            self._rewrite(self._entries)
        else:
            self._end = position
        # A term below the log's last term cannot be (terms only grow), but a
        # vote file lost to a disk fault must not let the member go backwards.
        self.term = max(self.term, self.last_term)

    # --- term and vote ------------------------------------------------------------

    def set_term_vote(self, term: int, voted_for: tuple[int, str] | None) -> None:
        """Durable before it returns."""
        doc = {"term": term, "voted_for": list(voted_for) if voted_for else None}
        atomic_write(os.path.join(self.directory, VOTE_FILE), json.dumps(doc).encode(),
                     durable=self._durable)
        self.term, self.voted_for = term, voted_for

    # --- the log ------------------------------------------------------------------

    @property
    def first_index(self) -> int:
        return self.snapshot.index + 1

    @property
    def last_index(self) -> int:
        return self._entries[-1].index if self._entries else self.snapshot.index

    @property
    def last_term(self) -> int:
        return self._entries[-1].term if self._entries else self.snapshot.term

    def term_at(self, index: int) -> int | None:
        """The term of the entry at ``index``; None when it is not held
        (compacted away, other than the snapshot's last, or past the end)."""
        if index == self.snapshot.index:
            return self.snapshot.term
        position = index - self.first_index
        if 0 <= position < len(self._entries):
            return self._entries[position].term
        return None

    def entry(self, index: int) -> Entry:
        return self._entries[index - self.first_index]

    def entries(self, start: int, end: int | None = None, max_bytes: int | None = None) -> list[Entry]:
        """Entries ``[start, end)`` (``start`` >= first_index), at least one
        when any, then no more than about ``max_bytes`` of them."""
        lo = start - self.first_index
        hi = len(self._entries) if end is None else end - self.first_index
        chosen = self._entries[max(lo, 0):max(hi, 0)]
        if max_bytes is None or not chosen:
            return chosen
        first = self.first_index + max(lo, 0)
        size_limit = self._offsets[first - self.first_index] + max_bytes
        count = 1
        while count < len(chosen):
            position = first - self.first_index + count
            if self._offsets[position] > size_limit:
                break
            count += 1
        return chosen[:count]

    def append(self, entries: list[Entry]) -> None:
        """Append after the last entry (not yet durable: see :meth:`sync`)."""
        if not entries:
            return
        if entries[0].index != self.last_index + 1:
            raise ValueError(f"append at index {entries[0].index}, "
                             f"the log ends at {self.last_index}")
        blob = bytearray()
        for entry in entries:
            self._offsets.append(self._end + len(blob))
            blob += _encode_record(entry)
            self._entries.append(entry)
        durability.pwrite_all(self._fd, blob, self._end)
        self._end += len(blob)
        self._dirty = True

    def truncate_from(self, index: int) -> None:
        """Remove the entries from ``index`` on (not yet durable)."""
        position = index - self.first_index
        if position < 0:
            raise ValueError(f"cannot truncate at {index}: entries up to "
                             f"{self.snapshot.index} are in the snapshot")
        if position >= len(self._entries):
            return
        self._end = self._offsets[position]
        del self._entries[position:]
        del self._offsets[position:]
        os.ftruncate(self._fd, self._end)
        self._dirty = True

    def sync(self) -> None:
        """Make every append and truncation durable."""
        if self._dirty:
            if self._durable:
                durability.fsync(self._fd, self._log_path)
            self._dirty = False

    # --- snapshots ----------------------------------------------------------------

    def save_snapshot(self, index: int, term: int, config: tuple, state: Any) -> None:
        """Record the state machine as of ``index`` (applied, so committed),
        then drop the entries it covers."""
        self._write_snapshot(Snapshot(index, term, config_of(config), state))
        self._rewrite([e for e in self._entries if e.index > index])

    def install_snapshot(self, snapshot: Snapshot) -> None:
        """A snapshot from the leader: keep the entries after it only when the
        log holds the snapshot's last entry with the same term (Raft §7)."""
        keep = []
        if self.term_at(snapshot.index) == snapshot.term:
            keep = [e for e in self._entries if e.index > snapshot.index]
        self._write_snapshot(snapshot)
        self._rewrite(keep)

    def _write_snapshot(self, snapshot: Snapshot) -> None:
        doc = {"index": snapshot.index, "term": snapshot.term,
               "config": [list(v) for v in snapshot.config], "state": snapshot.state}
        atomic_write(os.path.join(self.directory, SNAPSHOT_FILE),
                     json.dumps(doc, separators=(",", ":")).encode(), durable=self._durable)
        self.snapshot = snapshot

    def _rewrite(self, entries: list[Entry]) -> None:
        """Replace the log file with ``entries`` (crash-safe: whole or old)."""
        offsets, position = [], 0
        with atomic_writer(self._log_path, durable=self._durable) as handle:
            for entry in entries:
                record = _encode_record(entry)
                offsets.append(position)
                handle.write(record)
                position += len(record)
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = os.open(self._log_path, os.O_RDWR)
        self._entries, self._offsets, self._end = list(entries), offsets, position
        self._dirty = False
        if self._durable:
            fsync_dir(self.directory)

    def log_bytes(self) -> int:
        return self._end

    def close(self) -> None:
        if self._fd >= 0:
            self.sync()
            os.close(self._fd)
            self._fd = -1


def _read_json(path: str) -> Any:
    try:
        with open(path, "rb") as handle:
            return json.loads(handle.read())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise KafkaStorageError(f"unreadable {path}: {error}") from error
