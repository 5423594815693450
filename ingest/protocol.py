"""The log store's wire format between clients and the broker.

Owns how a request and its reply are framed; not what the broker does with
them. Every message is a ZeroMQ multipart message (the ROUTER socket adds the
peer's routing id in front of a request, and routes the reply by it)::

    frame 0     header: one JSON object, UTF-8, at most MAX_HEADER_BYTES
    frame 1..n  raw payloads: record batches exactly as stored
                (``record_batch`` format), never re-encoded

A message is at most MAX_MESSAGE_BYTES; one past it is refused with a
MessageTooLargeError reply (a request) or error (a reply). The transport
carries large frames in bounded pieces, as for the engine's messages.

    request header  {"v": 1, "id": <int>, "op": <name>, ...the op's fields}
    reply header    {"v": 1, "id": <same int>, ...the op's results}
                 or {"v": 1, "id": <same int>,
                     "error": {"type": <error class name>, "message": <text>,
                               "fields": {<name>: <JSON scalar>, ...}}}

Payloads are opaque bytes: nothing on either side unpickles anything, and the
broker has no unpickler at all. A header is parsed by ``json`` and then
checked field by field (:func:`field`) before use, so a malformed request is
a :class:`ProtocolError` reply naming the field, never a crash.

Ops and their fields (``TP`` = ``[topic, partition]``)::

    metadata          topics: [str] | null          -> topics: {name: {partitions, config}}
    create_topic      topic, partitions, config, replication_factor (> 1 only in a cluster)
                                                    -> {}
    create_partitions topic, count, validate_only   -> partitions, replication_factor
                                                       (the topic grows to count partitions)
    delete_topic      topic                         -> {}
    init_producer_id                                -> producer_id, producer_epoch
    produce           acks (-1 all, 1, 0), partitions: [TP] (frame i+1 is its batch)
                                                    -> results: [{offset, last} | {error}]
                                                       (acks=0: no reply at all)
    fetch             topic, partition, offset, max_bytes
                                                    -> high_watermark, log_start_offset,
                                                       log_end_offset; frame 1: batches
    list_offsets      partitions: [[topic, partition, spec]], spec -2 earliest,
                      -1 latest (high watermark), >= 0 a timestamp (ms)
                                                    -> offsets: [offset | {error}]
    join_group        group, member_id, topics, session_timeout_ms, rebalance_timeout_ms
                                                    -> status, member_id, generation, assignment
    heartbeat         group, member_id, generation  -> status
    leave_group       group, member_id              -> {}
    commit_offsets    group, member_id, generation, offsets: [[topic, partition, offset]]
                                                    -> offsets: [[topic, partition, stored]]
    fetch_committed   group, partitions: [TP]       -> offsets: [offset | -1]
    enforce_retention                               -> deleted: [[topic, partition, [bases]]]
    find_coordinator  group                         -> node_id, address (of the broker that
                                                       coordinates the group)

A broker of a cluster also answers (``ingest.server.cluster_member``):
``metadata`` adds, per topic, ``leaders``, ``leader_epochs``, ``replicas``
and ``isr`` (one per partition), and ``brokers`` ({id: address}) and
``node_id``; ``create_topic`` takes ``replication_factor``; and::

    replica_fetch     replica_id, max_bytes, max_wait_ms, partitions: [[topic, partition,
                      fetch_offset, last_fetched_epoch, current_leader_epoch]]
                                                    -> results: [{hw, log_start, log_end}
                                                       | {diverging: [epoch, end_offset]}
                                                       | {error}]; frame i+1: batches
    describe_replicas                               -> node_id, broker_epoch, partitions: {...}
    reassign_partitions  partitions: [[topic, partition, [broker ids] | null (cancel)]]
                                                    -> results: {"topic-p": null | {type, message}}
    list_reassignments                              -> reassignments: {"topic-p": {replicas,
                                                       adding, removing}}

In a cluster, produce, fetch and list_offsets are answered by each
partition's leader only (NotLeaderOrFollowerError elsewhere), and the group
ops by the group's coordinator only (NotCoordinatorError elsewhere).

Thread-safety: pure functions; safe from any thread.
"""

from __future__ import annotations

import json
from typing import Any

from ember.engine import errors
from ember.engine.errors import EmberError, LogStoreError, ProtocolError

VERSION = 1
MAX_HEADER_BYTES = 1 << 20
# The largest request or reply either end accepts (Kafka's
# socket.request.max.bytes). Frames on the wire are bounded much lower
# (``engine.wire.transport``): messages past a frame travel in pieces.
MAX_MESSAGE_BYTES = 100 * 1024 * 1024
INT64_MAX = (1 << 63) - 1

OPS = frozenset({
    "metadata", "create_topic", "create_partitions", "delete_topic", "init_producer_id", "produce", "fetch",
    "list_offsets", "join_group", "heartbeat", "leave_group", "commit_offsets",
    "fetch_committed", "enforce_retention", "replica_fetch", "describe_replicas",
    "find_coordinator", "reassign_partitions", "list_reassignments",
})

# The error classes a reply may name: every EmberError of the shared tree, so
# a client raises exactly what the broker raised.
_ERROR_TYPES = {name: value for name, value in vars(errors).items()
                if isinstance(value, type) and issubclass(value, EmberError)}


def encode(doc: dict) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def request(request_id: int, op: str, fields: dict) -> bytes:
    return encode({"v": VERSION, "id": request_id, "op": op, **fields})


def reply(request_id: int, fields: dict) -> bytes:
    return encode({"v": VERSION, "id": request_id, **fields})


def error_reply(request_id: int, error: BaseException) -> bytes:
    return encode({"v": VERSION, "id": request_id, "error": error_doc(error)})


def decode(frame: bytes) -> dict:
    """Parse a header frame; ProtocolError when it is not a version-1 header."""
    if len(frame) > MAX_HEADER_BYTES:
        raise ProtocolError(f"a header of {len(frame)} bytes exceeds the limit of "
                            f"{MAX_HEADER_BYTES}")
    try:
        doc = json.loads(frame)
    except (ValueError, UnicodeDecodeError) as error:
        raise ProtocolError(f"the header is not JSON: {error}") from None
    if not isinstance(doc, dict):
        raise ProtocolError(f"the header must be a JSON object, got {type(doc).__name__}")
    if doc.get("v") != VERSION:
        raise ProtocolError(f"protocol version {doc.get('v')!r}, expected {VERSION}")
    field(doc, "id", int)
    return doc


_KINDS = {int: "an integer", str: "a string", list: "a list", dict: "an object",
          bool: "true or false"}


def field(doc: dict, name: str, kind: type, *, optional: bool = False, low: int | None = None,
          high: int = INT64_MAX) -> Any:
    """``doc[name]`` checked to be of ``kind`` (and, for ints, within
    ``[low, high]``); ProtocolError naming the field otherwise."""
    value = doc.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProtocolError(f"field {name!r} must be {_KINDS.get(kind, kind.__name__)}, "
                            f"got {type(value).__name__} {value!r:.60}")
    if kind is int and ((low is not None and value < low) or value > high):
        raise ProtocolError(f"field {name!r} = {value} is out of range "
                            f"[{low if low is not None else '-inf'}, {high}]")
    return value


def topic_partition(item: Any, what: str = "partition") -> tuple[str, int]:
    """A ``[topic, partition]`` pair from a request, checked."""
    if (not isinstance(item, list) or len(item) < 2 or not isinstance(item[0], str)
            or not isinstance(item[1], int) or isinstance(item[1], bool)):
        raise ProtocolError(f"each {what} must be [topic, partition, ...], got {item!r:.80}")
    return item[0], item[1]


# --- errors across the wire -------------------------------------------------------


def error_doc(error: BaseException) -> dict:
    """An error as JSON: its class name (if it is one of ember's), its message,
    and its scalar attributes (topic, partition, offsets...)."""
    fields = {key: value for key, value in vars(error).items()
              if not key.startswith("_") and isinstance(value, (str, int, float, bool, type(None)))}
    name = type(error).__name__
    if _ERROR_TYPES.get(name) is not type(error):
        name = "LogStoreError"
    return {"type": name, "message": str(error), "fields": fields}


def error_from(doc: Any) -> Exception:
    """Rebuild an error reply as the exception the broker raised (its class
    and its fields); an unknown class becomes a LogStoreError."""
    if not isinstance(doc, dict):
        return ProtocolError(f"malformed error in a reply: {doc!r:.200}")
    cls = _ERROR_TYPES.get(doc.get("type"), LogStoreError)
    error = cls.__new__(cls)
    error.args = (str(doc.get("message", "")),)
    fields = doc.get("fields")
    if isinstance(fields, dict):
        for key, value in fields.items():
            if isinstance(key, str) and not key.startswith("_"):
                setattr(error, key, value)
    return error
