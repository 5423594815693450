"""Raft messages on the wire: one JSON object per ZeroMQ frame.

Owns the encoding of ``raft`` messages between controller processes and the
check of every field before ``raft`` sees a message: a peer (which has
authenticated with the cluster secret, or its bytes would not have arrived)
that sends a malformed message gets it dropped with a ProtocolError logged,
never a crash and never an unpickled byte. Messages carry the cluster id: a
message of another cluster is refused even if it shares the secret.

Thread-safety: pure functions; safe from any thread.
"""

from __future__ import annotations

import json
from typing import Any

from ember.engine.errors import ProtocolError
from ember.ingest.cluster.raft_storage import KINDS
from ember.ingest.protocol import INT64_MAX, field

VERSION = 1
RAFT_MARK = b"raft"

_COMMON = (("term", int), ("from", int), ("inc", str))
_FIELDS: dict[str, tuple[tuple[str, type], ...]] = {
    "pre_vote": (("last_index", int), ("last_term", int)),
    "vote": (("last_index", int), ("last_term", int)),
    "pre_vote_resp": (("granted", bool),),
    "vote_resp": (("granted", bool),),
    "append": (("prev_index", int), ("prev_term", int), ("entries", list), ("commit", int)),
    "append_resp": (("success", bool), ("match", int), ("hint", int)),
    "snapshot": (("index", int), ("sterm", int), ("config", list)),
    "snapshot_resp": (("match", int),),
}
TYPES = frozenset(_FIELDS)


def encode(cluster_id: str, message: dict) -> bytes:
    return json.dumps({"v": VERSION, "cluster": cluster_id, **message},
                      separators=(",", ":")).encode()


def decode(frame: bytes, cluster_id: str) -> dict:
    """A checked message; ProtocolError naming what is wrong otherwise."""
    try:
        message = json.loads(frame)
    except (ValueError, UnicodeDecodeError) as error:
        raise ProtocolError(f"a Raft message that is not JSON: {error}") from None
    if not isinstance(message, dict) or message.get("v") != VERSION:
        raise ProtocolError(f"a Raft message must be an object of version {VERSION}")
    if message.get("cluster") != cluster_id:
        raise ProtocolError(f"a Raft message of cluster {message.get('cluster')!r:.40}; "
                            f"this is cluster {cluster_id!r}")
    kind = message.get("type")
    if kind not in _FIELDS:
        raise ProtocolError(f"unknown Raft message type {kind!r:.40}; known: {', '.join(sorted(TYPES))}")
    for name, expected in _COMMON + _FIELDS[kind]:
        field(message, name, expected, low=0 if expected is int else None, high=INT64_MAX)
    if kind == "append":
        for item in message["entries"]:
            _check_entry(item)
    if kind in ("snapshot",):
        for voter in message["config"]:
            _check_voter(voter)
    return message


def _check_entry(item: Any) -> None:
    if (not isinstance(item, list) or len(item) != 4 or not all(
            isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in item[:2])
            or item[2] not in KINDS):
        raise ProtocolError(f"a log entry must be [index, term, kind, data], got {item!r:.80}")
    if item[2] == "config":
        if not isinstance(item[3], list):
            raise ProtocolError(f"a config entry must list voters, got {item[3]!r:.80}")
        for voter in item[3]:
            _check_voter(voter)


def _check_voter(voter: Any) -> None:
    if (not isinstance(voter, list) or len(voter) != 2 or not isinstance(voter[0], int)
            or isinstance(voter[0], bool) or not isinstance(voter[1], str)):
        raise ProtocolError(f"a voter must be [node_id, incarnation], got {voter!r:.80}")
