"""Streaming checkpoints: the write-ahead record of a StreamingContext.

A checkpoint directory (``ssc.checkpoint(dir)``) holds:

* ``streaming-app.json``: the directory's owner, written once (crash-safe):
  the application's random id and name. A new StreamingContext (not one
  recovered by ``getOrCreate``) refuses a directory another application owns.
* ``checkpoint-<batch time ms>``: one file per planned batch, written before
  the batch runs, so a batch's input (the offset ranges of a topic stream,
  the files of a file stream) is durable before any of its output exists.
  Each holds everything a restarted driver needs: the settings, the pickled
  DStream graph, the logged input of every batch still needed (pending ones
  and the history windows and state reach back to), the last batch known
  complete, and where the state RDDs were last checkpointed.
* ``<uuid>/rdd-N/``: state and window RDDs saved every checkpoint interval
  (``ember.engine.io.checkpoint``), referenced from the files above.

File format (all integers big-endian)::

    MAGIC (16 bytes) | u32 header length | header (JSON) |
    u64 payload length | payload (pickle) | u32 CRC-32 of all bytes before it

The header names the format, the ember version, the application id and
name, the batch time and batch interval, the zero time and the completed
time; the payload is the rest. Files are written to a temporary name,
fsynced, renamed, and the directory fsynced (``engine/io/fileio.py``); only
the two newest are kept. Mode 0600: the payload holds the settings and a log
store's secret.

Reading (``CheckpointDir.latest``): the newest file that is whole. A file
that is short, has a bad checksum or is not a checkpoint at all raises
``CorruptCheckpointError`` when read on its own; as the newest of a
directory it is skipped, with a warning, for the one before it (it can only
be a file whose batch never ran: batches run after their file is durable).
A file of another application, another ember version or another format is a
``ForeignCheckpointError``, never skipped silently: two applications sharing
a directory would otherwise resume each other.

Must not know: what a DStream or an input spec is (they are pickled data).
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import re
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

from ember.engine.errors import CorruptCheckpointError, ForeignCheckpointError
from ember.engine.io.fileio import atomic_write, atomic_writer, is_temp_name
from ember.engine.version import __version__

log = logging.getLogger("ember.streaming")

MAGIC = b"EMBER-STREAMING\n"
FORMAT = 1
KEEP = 2
IDENTITY = "streaming-app.json"
_NAME = re.compile(r"^checkpoint-(\d+)$")


@dataclass
class Checkpoint:
    app_id: str
    app_name: str
    time: int  # the batch time this file was written for (before that batch ran)
    completed: int  # every batch up to this time is complete (-1: none yet)
    batch_ms: int
    zero: int  # the time before the first batch
    conf: list = field(default_factory=list)
    graph: bytes = b""
    inputs: dict = field(default_factory=dict)  # input stream id -> {batch time: spec}
    state: dict = field(default_factory=dict)  # stream id -> {time: (rdd dir, partitions)}
    pending: list = field(default_factory=list)  # logged batch times not complete, in order
    ember_version: str = __version__

    def header(self) -> dict:
        return {"format": FORMAT, "ember": self.ember_version, "app": self.app_id,
                "appName": self.app_name, "time": self.time, "completed": self.completed,
                "batchMs": self.batch_ms, "zero": self.zero}


def encode(checkpoint: Checkpoint) -> bytes:
    header = json.dumps(checkpoint.header(), sort_keys=True).encode()
    payload = pickle.dumps({"conf": checkpoint.conf, "graph": checkpoint.graph,
                            "inputs": checkpoint.inputs, "state": checkpoint.state,
                            "pending": checkpoint.pending}, protocol=5)
    body = b"".join([MAGIC, struct.pack(">I", len(header)), header,
                     struct.pack(">Q", len(payload)), payload])
    return body + struct.pack(">I", zlib.crc32(body))


def decode(data: bytes, path: str) -> Checkpoint:
    def corrupt(problem: str) -> CorruptCheckpointError:
        error = CorruptCheckpointError(f"streaming checkpoint {path} is corrupt: {problem} "
                                       f"(a torn or damaged file)")
        error.path = path
        return error

    if not data.startswith(MAGIC):
        raise corrupt(f"it does not start with ember's checkpoint magic ({len(data)} bytes)")
    try:
        (header_len,) = struct.unpack_from(">I", data, len(MAGIC))
        offset = len(MAGIC) + 4
        header_bytes = data[offset:offset + header_len]
        offset += header_len
        (payload_len,) = struct.unpack_from(">Q", data, offset)
        offset += 8
        end = offset + payload_len
        if end + 4 != len(data):
            raise corrupt(f"it is {len(data)} bytes long, its lengths say {end + 4}")
        (crc,) = struct.unpack_from(">I", data, end)
    except struct.error:
        raise corrupt(f"it ends after {len(data)} bytes, inside its framing") from None
    if zlib.crc32(data[:end]) != crc:
        raise corrupt("its CRC-32 does not match its contents")
    try:
        header = json.loads(header_bytes)
    except ValueError as error:
        raise corrupt(f"its header is not JSON ({error})") from None
    if header.get("format") != FORMAT or header.get("ember") != __version__:
        error = ForeignCheckpointError(
            f"streaming checkpoint {path} was written by ember {header.get('ember')!r} "
            f"(checkpoint format {header.get('format')!r}); this is ember {__version__} "
            f"(format {FORMAT}): a checkpoint is resumed only by the ember version that wrote "
            f"it; start from a new checkpoint directory")
        error.path = path
        raise error
    payload = pickle.loads(data[offset:end])
    return Checkpoint(app_id=header["app"], app_name=header["appName"], time=header["time"],
                      completed=header["completed"], batch_ms=header["batchMs"],
                      zero=header["zero"], conf=payload["conf"], graph=payload["graph"],
                      inputs=payload["inputs"], state=payload["state"],
                      pending=payload["pending"], ember_version=header["ember"])


def read_checkpoint(path: str, app_id: str | None = None) -> Checkpoint:
    """Read one checkpoint file; ``app_id``: the application it must belong to."""
    with open(path, "rb") as handle:
        checkpoint = decode(handle.read(), path)
    if app_id is not None and checkpoint.app_id != app_id:
        error = ForeignCheckpointError(
            f"streaming checkpoint {path} belongs to application {checkpoint.app_id} "
            f"({checkpoint.app_name!r}), not to {app_id}, the owner of its directory "
            f"(see {IDENTITY}): was it copied from another application's checkpoint directory?")
        error.path = path
        raise error
    return checkpoint


class CheckpointDir:
    """One checkpoint directory: its owner, and its checkpoint files."""

    def __init__(self, directory: str):
        self.path = os.path.abspath(os.path.expanduser(directory))

    def owner(self) -> dict | None:
        try:
            with open(os.path.join(self.path, IDENTITY), encoding="utf-8") as handle:
                return json.load(handle)
        except FileNotFoundError:
            return None
        except ValueError as error:
            raise CorruptCheckpointError(f"{os.path.join(self.path, IDENTITY)} is not valid "
                                         f"JSON ({error})") from None

    def claim(self, app_id: str, app_name: str) -> None:
        """Make ``app_id`` the owner; refuse a directory another application owns."""
        os.makedirs(self.path, mode=0o700, exist_ok=True)
        owner = self.owner()
        if owner is None:
            atomic_write(os.path.join(self.path, IDENTITY),
                         json.dumps({"app": app_id, "appName": app_name}).encode(), mode=0o600)
        elif owner.get("app") != app_id:
            raise ForeignCheckpointError(
                f"checkpoint directory {self.path} holds the checkpoints of application "
                f"{owner.get('app')} ({owner.get('appName')!r}): resume it with "
                f"StreamingContext.getOrCreate({self.path!r}, setup), or checkpoint this "
                f"application to another directory")

    def files(self) -> list[tuple[int, str]]:
        """(batch time, path) of each checkpoint file, oldest first."""
        try:
            names = os.listdir(self.path)
        except FileNotFoundError:
            return []
        found = [(int(m.group(1)), os.path.join(self.path, name))
                 for name in names if (m := _NAME.match(name))]
        return sorted(found)

    def write(self, checkpoint: Checkpoint) -> str:
        path = os.path.join(self.path, f"checkpoint-{checkpoint.time}")
        with atomic_writer(path, mode=0o600) as handle:
            handle.write(encode(checkpoint))
        for _, old in self.files()[:-KEEP]:
            _remove(old)
        for name in os.listdir(self.path):  # what a crash between write and rename left
            if is_temp_name(name) and name.startswith(".checkpoint-") and \
                    f".{os.getpid()}-" not in name:
                _remove(os.path.join(self.path, name))
        return path

    def latest(self) -> Checkpoint | None:
        """The newest whole checkpoint (see the module docstring), or None."""
        owner = self.owner()
        app_id = owner.get("app") if owner else None
        skipped: list[CorruptCheckpointError] = []
        for _, path in reversed(self.files()):
            try:
                checkpoint = read_checkpoint(path, app_id)
            except CorruptCheckpointError as error:
                log.warning("%s; trying the checkpoint before it", error)
                skipped.append(error)
                continue
            except FileNotFoundError:
                continue
            if skipped:
                log.warning("recovering from %s instead of the damaged newer checkpoint", path)
            return checkpoint
        if skipped:
            raise skipped[0]
        return None


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def describe(checkpoint: Checkpoint) -> dict[str, Any]:
    return {"time": checkpoint.time, "completed": checkpoint.completed,
            "pending": list(checkpoint.pending)}
