"""The messages between driver and workers, and their framing.

One of the two seams between scheduler and worker (with ``task``). A message
is a multipart ZeroMQ message: the first frame is the pickled message object
(one of the small classes below), the following frames are raw payloads
(task binaries, splits, results) sent without a copy. Messages are only ever
read from peers that authenticated with the cluster's secret (CURVE + ZAP,
see ``transport``): nothing unauthenticated reaches ``decode``.

Driver -> worker: Registered, Refused, HeartbeatAck, LaunchTask, KillTask,
CommitAnswer, BarrierAnswer, RemoveBinary, RemoveBroadcast, AddPyFile,
ShipFile, BroadcastData, RemoveShuffle, RemoveRdd, PeerLost, Shutdown.
Worker -> driver: Register, Heartbeat, StatusUpdate, CommitRequest, BarrierRequest,
FetchBroadcast, Leaving, WorkerOutput.
Worker <-> worker (shuffle service): FetchRequest, FetchResponse.

Workers of a local cluster share the driver's disk: they read shipped files
and broadcast values where the driver wrote them. A worker that registers with
``own_files`` (one started on another host) shares nothing: the driver sends it
every shipped file (``ShipFile``, at registration and when added) and answers
its requests for broadcast values (``FetchBroadcast``), over the same
authenticated connection.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Any

from ember.engine.errors import ProtocolError
from ember.engine.wire.task import TaskDescription


@dataclass(frozen=True)
class Register:
    worker_id: str
    pid: int
    host: str
    cores: int
    shuffle_address: str
    version: str
    python: str
    memory: int = 0  # the worker's memory budget in bytes (0: not given)
    own_files: bool = False  # shares no disk with the driver (see the module doc)
    hash_seed: str = ""  # its PYTHONHASHSEED: every worker must hash other keys alike


@dataclass(frozen=True)
class Registered:
    """Registration accepted. ``lost_workers``: peers already declared lost,
    so the new worker never waits on their shuffle blocks."""

    lost_workers: tuple = ()
    py_files: tuple = ()  # added with addPyFile before this worker joined
    # The cluster's timeouts, which a worker started by hand takes from its
    # driver: heartbeat_interval, heartbeat_timeout, fetch_timeout, kill_timeout;
    # and environment: the variables every worker sets (spark.executorEnv.*).
    settings: tuple = ()


@dataclass(frozen=True)
class Heartbeat:
    """Worker -> driver, every heartbeat interval; answered by HeartbeatAck
    (or by Refused once the driver has declared the worker lost). ``state``:
    the worker's memory and cached blocks, for the status page (a dict of
    plain values: see ``Worker._state``)."""

    worker_id: str
    state: Any = None


@dataclass(frozen=True)
class HeartbeatAck:
    pass


@dataclass(frozen=True)
class Refused:
    reason: str


@dataclass(frozen=True)
class LaunchTask:
    """Frames: [split bytes] or [split bytes, stage binary] when the worker
    has not received this stage attempt's binary yet."""

    task: TaskDescription
    with_binary: bool


@dataclass(frozen=True)
class KillTask:
    tid: int


@dataclass(frozen=True)
class StatusUpdate:
    """A finished task attempt. ``outcome`` is a TaskSuccess (its payload in
    the next frame), ExceptionFailure, FetchFailure or TaskKilled."""

    worker_id: str
    tid: int
    outcome: Any
    duration: float
    metrics: Any = None  # the attempt's TaskMetrics


@dataclass(frozen=True)
class WorkerOutput:
    """Worker -> driver: what tasks wrote to sys.stdout/sys.stderr and log
    records at WARNING and above, in the order written. ``entries``: (kind,
    tag, payload) with kind "stdout" or "stderr" (payload: text) or "log"
    (payload: (level number, logger name, formatted message)); ``tag`` names
    the task ("task 3.0 in stage 1"), or is "" outside tasks. A task's last
    output is sent before its StatusUpdate."""

    entries: tuple


@dataclass(frozen=True)
class CommitRequest:
    """Worker -> driver: may this task attempt publish its output for the
    partition? (Exactly one attempt per partition is allowed to.)"""

    tid: int
    stage_id: int
    partition: int


@dataclass(frozen=True)
class CommitAnswer:
    tid: int
    allowed: bool


@dataclass(frozen=True)
class BarrierRequest:
    """Worker -> driver: a barrier task reached barrier()/allGather() for the
    ``round``-th time."""

    tid: int
    stage_id: int
    stage_attempt: int
    partition: int
    round: int
    message: str


@dataclass(frozen=True)
class BarrierAnswer:
    """Every task of the stage arrived (messages by partition), or ``error``."""

    tid: int
    messages: tuple | None
    error: str | None = None


@dataclass(frozen=True)
class RemoveBinary:
    """A stage attempt ended: its binary will not be needed again."""

    binary_id: int


@dataclass(frozen=True)
class RemoveBroadcast:
    broadcast_id: int


@dataclass(frozen=True)
class AddPyFile:
    """A file added with addPyFile: make it importable (a .zip or .egg goes on
    sys.path itself; a .py file's directory already is)."""

    path: str


@dataclass(frozen=True)
class ShipFile:
    """A file, directory or unpacked archive added on the driver, for a worker
    with ``own_files``: one frame follows, a tar of the entry ``name``.
    ``python``: added with addPyFile (make it importable)."""

    name: str
    python: bool


@dataclass(frozen=True)
class FetchBroadcast:
    """Worker (``own_files``) -> driver: the pickled value of a broadcast."""

    request_id: int
    broadcast_id: int


@dataclass(frozen=True)
class BroadcastData:
    """The answer to FetchBroadcast: one frame with the pickled value follows,
    unless ``error`` says why there is none (destroyed, for instance)."""

    request_id: int
    error: str | None = None


@dataclass(frozen=True)
class RemoveShuffle:
    shuffle_id: int


@dataclass(frozen=True)
class RemoveRdd:
    rdd_id: int


@dataclass(frozen=True)
class PeerLost:
    """A worker is gone: stop waiting for its shuffle blocks."""

    worker_id: str


@dataclass(frozen=True)
class Leaving:
    """Worker -> driver: this worker is stopping (a signal): declare it lost
    now rather than after the heartbeat timeout. Answered by Shutdown."""

    reason: str


@dataclass(frozen=True)
class Shutdown:
    """The driver is stopping: exit (a worker started by hand has no lifeline
    to learn it from)."""


@dataclass(frozen=True)
class FetchRequest:
    """Reducer -> shuffle service: blocks of one reduce partition, named by
    (map index, map attempt id)."""

    request_id: int
    shuffle_id: int
    reduce_index: int
    blocks: tuple


@dataclass(frozen=True)
class FetchResponse:
    """Shuffle service -> reducer: one (map index, crc, error) entry per
    requested block; the blocks that were found follow as frames, in order."""

    request_id: int
    entries: tuple


def encode(message: Any, *payloads: bytes) -> list:
    return [pickle.dumps(message, protocol=5), *payloads]


def decode(frames: list) -> tuple[Any, list]:
    if not frames:
        raise ProtocolError("empty message")
    try:
        message = pickle.loads(frames[0])
    except Exception as error:  # noqa: BLE001
        raise ProtocolError(f"undecodable message header: {error}") from error
    return message, list(frames[1:])
