"""A controller quorum member: one process running Raft, the metadata image,
and, while it leads, the active controller.

Run it with ``python -m ember.ingest.cluster.controller_server`` (flags below)
or let ``local_quorum.LocalQuorum`` spawn it: then its bootstrap (secret
included) is one JSON line on stdin, it answers with one JSON line on stdout
(address, pid, incarnation), reads a second line naming its peers'
addresses, and keeps stdin open as its lifeline (EOF: it stops).

One socket kind for everything: a CURVE ROUTER (``engine.wire.transport``;
ZAP admits only holders of the cluster secret) receives Raft messages from
peers (frames ``raft``, JSON) and requests from clients (one JSON header,
``ingest.protocol``'s format and error replies). Raft messages go out on one
CURVE DEALER per peer, with a bounded queue and ``ZMQ_IMMEDIATE``: a message
to a peer that is down or paused is dropped, as Raft allows, rather than
queued and delivered stale in a burst. No byte from a peer is unpickled:
there is no unpickler here.

One thread owns every socket and all state (the ZAP handler and the
lifeline watcher are the others): poll, feed messages to Raft, tick, then
``RaftNode.ready``: fsync, send, apply committed entries to the image,
answer the requests they complete, and let the active controller decide
the next request. The controller decides one request at a time, on the
committed image: a decision's records are proposed as one entry, and the
next request waits until that entry is applied (so each decision sees every
earlier one). A request whose entry was proposed by a leader that then lost
leadership is answered NotControllerError: its outcome is unknown (the
entry may still commit), as with Kafka's NOT_CONTROLLER.

Requests (``ingest.protocol`` headers): ``describe`` (any member: its
committed image and Raft status); ``fetch_metadata`` (the active controller:
a long-poll answered with the whole committed image as soon as it moves past
the offset the broker has, or with the offset alone at the deadline);
``register_broker``, ``broker_heartbeat``, ``unregister_broker``,
``create_topic``, ``create_partitions``, ``delete_topic``, ``alter_partition``,
``reassign_partitions``, ``elect_leaders``, ``allocate_producer_ids`` (the
active controller only; others answer NotControllerError naming the leader
they know). A write's reply carries ``offset``, the Raft index of the entry
that committed it (a registration's is the broker's epoch).

Test hook: ``trace`` (a file path) appends one line per applied entry
(``index term kind digest``, the digest of the image after it) and per
installed snapshot (``S index term digest``), so the consistency checker can
compare what every member applied at every index.

Thread-safety: ``run`` on one thread; ``stop`` from any.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import queue
import signal
import sys
import threading
import time
from typing import Any

import zmq

from ember.engine.clock import SYSTEM_CLOCK, Clock
from ember.engine.errors import (
    EmberError, LogStoreError, MessageTooLargeError, NotControllerError, ProtocolError,
)
from ember.engine.wire import framing
from ember.engine.wire.spawn import report_start_failure
from ember.engine.wire.transport import Authenticator, client_socket, derive_keys, server_socket
from ember.ingest import protocol
from ember.ingest.cluster import raft_wire
from ember.ingest.cluster.controller import Controller, ControllerSettings
from ember.ingest.cluster.metadata import MetadataImage
from ember.ingest.cluster.raft import LEADER, RaftNode, RaftTimeouts
from ember.ingest.cluster.raft_storage import COMMAND, RaftStorage, format_directory, is_formatted
from ember.ingest.protocol import field, topic_partition
from ember.ingest.secret_file import read_secret_file

log = logging.getLogger(__name__)

PEER_QUEUE = 1000  # messages to one peer before new ones are dropped
PEER_SEND_TIMEOUT_MS = 200  # the longest a message in pieces may block the loop
SNAPSHOT_EVERY = 1000  # applied entries between two snapshots
_POLL_MS = 20
WRITE_OPS = frozenset({"register_broker", "broker_heartbeat", "unregister_broker",
                       "create_topic", "create_partitions", "delete_topic", "alter_partition",
                       "reassign_partitions", "elect_leaders", "allocate_producer_ids"})
MAX_METADATA_WAIT_MS = 5000


class ControllerServer:
    def __init__(self, directory: str, secret: bytes, *, host: str = "127.0.0.1", port: int = 0,
                 timeouts: RaftTimeouts = RaftTimeouts(),
                 settings: ControllerSettings = ControllerSettings(),
                 clock: Clock = SYSTEM_CLOCK, trace: str | None = None,
                 snapshot_every: int = SNAPSHOT_EVERY):
        self.directory = directory
        self._keys = derive_keys(secret)
        self._host, self._port = host, port
        self._timeouts, self._settings, self._clock = timeouts, settings, clock
        self._snapshot_every = snapshot_every
        self._trace_fd = os.open(trace, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) if trace else None
        self._stop = threading.Event()
        self._peer_updates: queue.Queue = queue.Queue()
        self._peers: dict[int, tuple[str, zmq.Socket]] = {}
        self.address: str | None = None
        self.storage = RaftStorage.open(directory)
        self.cluster_id = self.storage.cluster_id
        self.image = MetadataImage.from_json(self.storage.snapshot.state)
        self.node: RaftNode | None = None
        self._controller: Controller | None = None
        self._active_term = -1
        self._requests: list[tuple[bytes, dict]] = []
        self._waiting: dict[int, tuple[bytes | None, int, dict, int]] = {}
        self._inflight: int | None = None
        # fetch_metadata long-polls: (identity, request id, since, deadline)
        self._metadata_waiters: list[tuple[bytes, int, int, float]] = []

    # --- lifecycle ----------------------------------------------------------------

    def bind(self) -> str:
        self._zctx = zmq.Context()
        self._auth = Authenticator(self._zctx, self._keys)
        # Frames are bounded by transport's default (all a peer that has not
        # authenticated can make this process hold); messages up to the log
        # store's request limit arrive in pieces (engine.wire.framing).
        self._router, self.address = server_socket(self._zctx, zmq.ROUTER, self._keys, self._host,
                                                   self._port)
        self._inbox = framing.Reassembler(protocol.MAX_MESSAGE_BYTES, "socket.request.max.bytes")
        return self.address

    def set_peers(self, peers: dict[int, str]) -> None:
        """Peers' addresses (node id -> tcp://...); may be called again from
        any thread when one moves."""
        self._peer_updates.put({int(k): v for k, v in peers.items()})

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        """Serve until :meth:`stop`; closes everything on the way out."""
        try:
            self._apply_peer_updates(block=True)
            self.node = RaftNode(self.storage, set(self._peers), timeouts=self._timeouts,
                                 clock=self._clock)
            poller = zmq.Poller()
            poller.register(self._router, zmq.POLLIN)
            while not self._stop.is_set():
                self._apply_peer_updates()
                if poller.poll(_POLL_MS):
                    self._drain()
                self.node.tick()
                self._pump()
                self._answer_metadata_waiters()
        finally:
            self._close()

    def _close(self) -> None:
        for _, sock in self._peers.values():
            sock.close(linger=0)
        self._router.close(linger=0)
        self._auth.stop()
        self._zctx.destroy(linger=0)
        self.storage.close()
        if self._trace_fd is not None:
            os.close(self._trace_fd)

    def _apply_peer_updates(self, block: bool = False) -> None:
        while True:
            try:
                update = self._peer_updates.get(block=block, timeout=0.1 if block else None)
            except queue.Empty:
                if block and not self._stop.is_set():
                    continue
                return
            block = False
            for node_id, address in update.items():
                if node_id == self.storage.node_id:
                    continue
                old = self._peers.get(node_id)
                if old is not None and old[0] == address:
                    continue
                if old is not None:
                    old[1].close(linger=0)
                sock = client_socket(self._zctx, zmq.DEALER, self._keys, address)
                sock.setsockopt(zmq.SNDHWM, PEER_QUEUE)
                # A message too large for one frame goes in pieces, which
                # may block: never for longer than this (Raft resends).
                sock.setsockopt(zmq.SNDTIMEO, PEER_SEND_TIMEOUT_MS)
                sock.setsockopt(zmq.IMMEDIATE, 1)
                sock.connect(address)
                self._peers[node_id] = (address, sock)
            if self.node is not None:
                self.node.peers = set(self._peers)

    # --- input --------------------------------------------------------------------

    def _drain(self) -> None:
        for _ in range(1000):
            try:
                received = framing.recv(self._router, routed=True)
            except zmq.Again:
                self._inbox.sweep()
                return
            try:
                message = self._inbox.feed(received[0], received[1:])
            except (MessageTooLargeError, ProtocolError) as error:
                log.warning("dropped a message: %s", error)
                continue
            if message is None:
                continue  # a large message in progress
            frames = [received[0], *(framing.as_bytes(frame) for frame in message)]
            if len(frames) == 3 and frames[1] == raft_wire.RAFT_MARK:
                try:
                    message = raft_wire.decode(frames[2], self.cluster_id)
                except ProtocolError as error:
                    log.warning("dropped a Raft message: %s", error)
                    continue
                self.node.step(message)
            elif len(frames) == 2:
                self._on_request(frames[0], frames[1])

    def _on_request(self, identity: bytes, frame: bytes) -> None:
        request_id = -1
        try:
            header = protocol.decode(frame)
            request_id = header["id"]
            op = field(header, "op", str)
            if op == "describe":
                self._reply(identity, request_id, self._describe())
            elif op == "fetch_metadata":
                if not self._is_active():
                    raise self._not_controller()
                since = field(header, "since", int, low=-1)
                wait = field(header, "max_wait_ms", int, low=0, high=MAX_METADATA_WAIT_MS,
                             optional=True) or 0
                self._metadata_waiters.append((identity, request_id, since,
                                               self._clock.monotonic() + wait / 1000))
                self._answer_metadata_waiters()
            elif op in WRITE_OPS:
                if not self._is_active():
                    raise self._not_controller()
                self._requests.append((identity, header))
            else:
                raise ProtocolError(f"unknown op {op!r:.60}; known ops: describe, "
                                    f"{', '.join(sorted(WRITE_OPS))}")
        except EmberError as error:
            self._reply_error(identity, request_id, error)

    def _answer_metadata_waiters(self) -> None:
        """Answer the fetch_metadata long-polls that something new (or their
        deadline) completes: the whole committed image when it moved past
        what the broker has, else only its offset."""
        if not self._metadata_waiters:
            return
        now = self._clock.monotonic()
        active = self._is_active()
        image_doc = None
        waiting = []
        for identity, request_id, since, deadline in self._metadata_waiters:
            if not active:
                self._reply_error(identity, request_id, self._not_controller())
            elif self.image.offset > since:
                if image_doc is None:
                    image_doc = self.image.to_json()
                self._reply(identity, request_id, {"offset": self.image.offset,
                                                   "image": image_doc})
            elif now >= deadline:
                self._reply(identity, request_id, {"offset": self.image.offset})
            else:
                waiting.append((identity, request_id, since, deadline))
        self._metadata_waiters = waiting

    def _not_controller(self) -> NotControllerError:
        leader = self.node.leader_id if self.node is not None else None
        error = NotControllerError(f"controller {self.storage.node_id} is not the active "
                                   f"controller (active: {leader})")
        error.leader_id = leader if leader != self.storage.node_id else None
        return error

    def _describe(self) -> dict:
        return {"status": self.node.status(), "active": self._is_active(),
                "applied": self.image.offset, "digest": self.image.digest(),
                "image": self.image.describe()}

    # --- output -------------------------------------------------------------------

    def _reply(self, identity: bytes | None, request_id: int, fields: dict) -> None:
        if identity is not None:
            framing.send(self._router, [identity, protocol.reply(request_id, fields)], routed=True)

    def _reply_error(self, identity: bytes | None, request_id: int, error: BaseException) -> None:
        if identity is not None:
            framing.send(self._router, [identity, protocol.error_reply(request_id, error)],
                         routed=True)

    def _pump(self) -> None:
        """Hand out what Raft produced until it produces nothing more (a
        proposal made while handling committed entries leaves at once, not
        after the next poll)."""
        for _ in range(100):
            self._pump_once()
            if not self.node.has_ready():
                return

    def _pump_once(self) -> None:
        ready = self.node.ready()
        for to, message in ready.messages:
            peer = self._peers.get(to)
            if peer is None:
                continue
            frames = [raft_wire.RAFT_MARK, raft_wire.encode(self.cluster_id, message)]
            try:
                if len(frames[1]) <= framing.CHUNK_BYTES:
                    peer[1].send_multipart(frames, zmq.NOBLOCK)
                else:  # a snapshot or a long append, in pieces
                    framing.send(peer[1], frames)
            except zmq.Again:
                pass  # the peer is down or not keeping up: Raft resends
        if ready.snapshot is not None:
            self.image = MetadataImage.from_json(ready.snapshot.state)
            self._trace(f"S {ready.snapshot.index} {ready.snapshot.term} {self.image.digest()}")
        for entry in ready.committed:
            if entry.kind == COMMAND:
                self.image.apply_entry(entry.index, entry.data["records"])
            else:
                self.image.offset = entry.index
            if self._trace_fd is not None:
                self._trace(f"{entry.index} {entry.term} {entry.kind} {self.image.digest()}")
            self._complete(entry.index, entry.term)
        if ready.committed and self.image.offset - self.storage.snapshot.index >= self._snapshot_every:
            self.node.compact(self.image.offset, self.image.to_json())
        self._lead()

    def _trace(self, line: str) -> None:
        if self._trace_fd is not None:
            os.write(self._trace_fd, (line + "\n").encode())

    def _complete(self, index: int, term: int) -> None:
        waiting = self._waiting.pop(index, None)
        if index == self._inflight:
            self._inflight = None
        if waiting is None:
            return
        identity, request_id, reply, proposed_term = waiting
        if term == proposed_term:
            # The entry's offset: a registration's is the broker's epoch.
            self._reply(identity, request_id, {**reply, "offset": index})
        else:
            self._reply_error(identity, request_id, self._not_controller())

    # --- the active controller ----------------------------------------------------

    def _is_active(self) -> bool:
        return self._controller is not None and self._active_term == self.storage.term \
            and self.node.role == LEADER

    def _lead(self) -> None:
        node = self.node
        if node.role != LEADER or self._active_term != self.storage.term:
            if self._controller is not None:
                self._resign()
            if node.role == LEADER and node.commit_index == self.storage.last_index \
                    and self.image.offset == node.commit_index:
                # Every entry of earlier terms is applied (the no-op of this term
                # committed them): the image is complete, decisions may start.
                self._controller = Controller(self.image, self._settings, clock=self._clock)
                self._controller.activate()
                self._active_term = self.storage.term
                log.info("controller %s is active in term %s", node.id, self._active_term)
            else:
                return
        self._controller.image = self.image
        while self._inflight is None:
            if self._requests:
                identity, header = self._requests.pop(0)
            else:
                identity, header = None, None
            decision = None
            try:
                decision = self._decide(header) if header is not None else self._controller.tick()
            except EmberError as error:
                self._reply_error(identity, header["id"], error)
                continue
            except Exception as error:  # noqa: BLE001 - a bug must not stop the quorum
                log.exception("controller decision failed")
                if header is not None:
                    self._reply_error(identity, header["id"], LogStoreError(
                        f"internal error in the controller: {type(error).__name__}: {error}"))
                    continue
                return
            if decision.records:
                for record in decision.records:
                    if record.get("unclean"):
                        # Kafka warns at this point too: the operator must know
                        # that acknowledged records may be gone.
                        log.warning("unclean leader election: broker %s leads %s-%s alone, "
                                    "records in offsets %s (from its log end to the highest "
                                    "high watermark reported) may be lost", record["leader"],
                                    record["topic"], record["partition"], record.get("lost_range"))
                index, term = node.propose({"records": decision.records})
                self._waiting[index] = (identity, header["id"] if header else -1,
                                        decision.reply, term)
                self._inflight = index
            elif header is not None:
                self._reply(identity, header["id"], decision.reply)
            if header is None:
                return

    def _resign(self) -> None:
        log.info("controller %s is no longer active", self.storage.node_id)
        for identity, request_id, _, _ in self._waiting.values():
            self._reply_error(identity, request_id, self._not_controller())
        for identity, header in self._requests:
            self._reply_error(identity, header["id"], self._not_controller())
        self._waiting.clear()
        self._requests.clear()
        self._inflight = None
        self._controller = None
        self._active_term = -1

    def _decide(self, h: dict):
        c = self._controller
        op = h["op"]
        if op == "register_broker":
            return c.register_broker(field(h, "broker_id", int, low=0), field(h, "incarnation", str),
                                     field(h, "host", str), field(h, "port", int, low=0, high=65535),
                                     field(h, "rack", str, optional=True),
                                     field(h, "kafka", str, optional=True))
        if op == "broker_heartbeat":
            replicas = []
            for item in field(h, "replicas", list, optional=True) or []:
                topic, partition = topic_partition(item, "replica")
                if len(item) != 4 or not all(isinstance(x, int) for x in item[2:]):
                    raise ProtocolError(f"each replica must be [topic, partition, log end offset, "
                                        f"high watermark], got {item!r:.80}")
                replicas.append((topic, partition, item[2], item[3]))
            return c.broker_heartbeat(field(h, "broker_id", int, low=0), field(h, "epoch", int, low=0),
                                      field(h, "metadata_offset", int, low=0),
                                      bool(field(h, "want_shutdown", bool, optional=True)), replicas)
        if op == "unregister_broker":
            return c.unregister_broker(field(h, "broker_id", int, low=0))
        if op == "create_topic":
            return c.create_topic(field(h, "topic", str), h.get("partitions", 1),
                                  h.get("replication_factor"),
                                  field(h, "config", dict, optional=True),
                                  field(h, "assignment", list, optional=True))
        if op == "create_partitions":
            return c.create_partitions(field(h, "topic", str), h.get("count"),
                                       bool(field(h, "validate_only", bool, optional=True)))
        if op == "delete_topic":
            return c.delete_topic(field(h, "topic", str))
        if op == "alter_partition":
            isr = field(h, "isr", list)
            if not all(isinstance(b, int) and not isinstance(b, bool) for b in isr):
                raise ProtocolError(f"field 'isr' must list broker ids, got {isr!r:.80}")
            return c.alter_partition(field(h, "broker_id", int, low=0), field(h, "broker_epoch", int),
                                     field(h, "topic", str), field(h, "partition", int, low=0),
                                     field(h, "leader_epoch", int), field(h, "partition_epoch", int),
                                     isr)
        if op == "reassign_partitions":
            targets: dict[tuple[str, int], Any] = {}
            for item in field(h, "partitions", list):
                topic, partition = topic_partition(item)
                target = item[2] if len(item) > 2 else None
                if target is not None and not (isinstance(target, list) and all(
                        isinstance(b, int) and not isinstance(b, bool) for b in target)):
                    raise ProtocolError(f"a reassignment target must list broker ids or be null, "
                                        f"got {target!r:.80}")
                targets[topic, partition] = target
            return c.reassign_partitions(targets)
        if op == "allocate_producer_ids":
            return c.allocate_producer_ids(field(h, "broker_id", int, low=0),
                                           field(h, "broker_epoch", int, low=0))
        if op == "elect_leaders":
            partitions = [topic_partition(item) for item in field(h, "partitions", list)]
            return c.elect_leaders(partitions, field(h, "election_type", str, optional=True)
                                   or "preferred")
        raise ProtocolError(f"unknown op {op!r:.60}")


# --- the process --------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ember.ingest.cluster.controller_server",
        description="Run one member of an ember controller quorum (Raft over CURVE ZeroMQ).",
        epilog="example: python -m ember.ingest.cluster.controller_server --node-id 1 "
               "--dir data/c1 --port 9093 --peers 2@tcp://hostb:9093,3@tcp://hostc:9093 "
               "--secret-file cluster.secret")
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser, lifeline: bool = True) -> None:
    """The member's options (also ``ember logstore controller``'s)."""
    parser.add_argument("--node-id", type=int, help="this member's id")
    parser.add_argument("--dir", help="its directory (formatted on first start)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind (default: any free one)")
    parser.add_argument("--peers", default="", help="the other members: ID@tcp://HOST:PORT,...")
    parser.add_argument("--secret-file", help="the cluster's secret (hex, mode 0600)")
    parser.add_argument("--cluster-id", default="ember", help="refuses members of other clusters")
    parser.add_argument("--initial-voters", default=None,
                        help="only when founding a cluster: ID:INCARNATION,... for every "
                             "founding member (this one's incarnation comes from --incarnation)")
    parser.add_argument("--incarnation", default=None, help="with --initial-voters")
    parser.add_argument("--config", action="append", default=[], metavar="KEY=VALUE",
                        help="a controller setting by Kafka's name (repeatable): "
                             + ", ".join(CONTROLLER_CONFIGS))
    if lifeline:
        parser.add_argument("--lifeline", action="store_true",
                            help="bootstrap on stdin, exit at its EOF (local_quorum)")


# Kafka's name -> (ControllerSettings field, parser, factor to seconds).
CONTROLLER_CONFIGS = {
    "broker.session.timeout.ms": ("broker_session_timeout", float, 0.001),
    "broker.heartbeat.interval.ms": ("broker_heartbeat_interval", float, 0.001),
    "default.replication.factor": ("default_replication_factor", int, None),
    "auto.leader.rebalance.enable": ("auto_leader_rebalance_enable", "bool", None),
    "leader.imbalance.check.interval.seconds": ("leader_imbalance_check_interval", float, 1.0),
    "leader.imbalance.per.broker.percentage": ("leader_imbalance_per_broker_percentage",
                                               float, None),
}


def settings_from_config(items: list[str]) -> dict:
    """``--config KEY=VALUE`` items as ControllerSettings fields; a ValueError
    names an unknown key or a value that does not parse."""
    settings = {}
    for item in items:
        key, sep, text = item.partition("=")
        key, text = key.strip(), text.strip()
        if not sep or key not in CONTROLLER_CONFIGS:
            raise ValueError(f"--config {item!r}: expected KEY=VALUE with KEY one of "
                             f"{', '.join(CONTROLLER_CONFIGS)}")
        name, kind, factor = CONTROLLER_CONFIGS[key]
        try:
            if kind == "bool":
                if text.lower() not in ("true", "false"):
                    raise ValueError
                value = text.lower() == "true"
            else:
                value = kind(text)
        except ValueError:
            raise ValueError(f"--config {key}={text!r}: expected "
                             f"{'true or false' if kind == 'bool' else kind.__name__}") from None
        settings[name] = value * factor if factor else value
    return settings


def _parse_peers(text: str) -> dict[int, str]:
    peers = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        node, _, address = item.partition("@")
        if not node.isdigit() or not address.startswith("tcp://"):
            raise ValueError(f"--peers item {item!r}: expected ID@tcp://HOST:PORT")
        peers[int(node)] = address
    return peers


def _watch_lifeline(server: ControllerServer) -> None:
    try:
        for line in sys.stdin.buffer:
            update = json.loads(line)
            if "peers" in update:
                server.set_peers(update["peers"])
    except (OSError, ValueError):
        pass
    server.stop()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=os.environ.get("EMBER_CONTROLLER_LOG", "WARNING"), stream=sys.stderr,
                        format="ember controller %(process)d: %(levelname)s %(name)s: %(message)s")
    try:
        if args.lifeline:
            boot = json.loads(sys.stdin.buffer.readline() or b"{}")
            secret = bytes.fromhex(boot.pop("secret"))
        else:
            boot = {"node_id": args.node_id, "dir": args.dir, "host": args.host, "port": args.port,
                    "cluster_id": args.cluster_id, "incarnation": args.incarnation,
                    "settings": settings_from_config(args.config)}
            if args.initial_voters:
                boot["initial_voters"] = dict(item.split(":", 1) for item in args.initial_voters.split(","))
            if args.node_id is None or not args.dir or not args.secret_file:
                raise ValueError("--node-id, --dir and --secret-file are required")
            secret = read_secret_file(args.secret_file)
        directory = boot["dir"]
        if not is_formatted(directory):
            voters = boot.get("initial_voters")
            format_directory(directory, boot["cluster_id"], int(boot["node_id"]),
                             {int(k): v for k, v in voters.items()} if voters else None,
                             incarnation=boot.get("incarnation"))
        server = ControllerServer(directory, secret, host=boot.get("host", "127.0.0.1"),
                                  port=int(boot.get("port") or 0),
                                  timeouts=RaftTimeouts(**boot.get("timeouts", {})),
                                  settings=ControllerSettings(**boot.get("settings", {})),
                                  trace=boot.get("trace"),
                                  snapshot_every=int(boot.get("snapshot_every", SNAPSHOT_EVERY)))
        if server.storage.node_id != int(boot["node_id"]):
            raise ValueError(f"{directory} belongs to node {server.storage.node_id}, "
                             f"not {boot['node_id']}")
        address = server.bind()
    except (EmberError, OSError, ValueError, KeyError, TypeError, zmq.ZMQError) as error:
        return report_start_failure("ember controller", error, args.lifeline)
    del secret
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: server.stop())
    if args.lifeline:
        print(json.dumps({"address": address, "pid": os.getpid(),
                          "incarnation": server.storage.incarnation}), flush=True)
        threading.Thread(target=_watch_lifeline, args=(server,), name="ember-lifeline",
                         daemon=True).start()
    else:
        server.set_peers(_parse_peers(args.peers))
        print(f"ember controller {server.storage.node_id}: serving at {address}", flush=True)
    started = time.monotonic()
    server.run()
    log.info("stopped after %.0f s", time.monotonic() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
