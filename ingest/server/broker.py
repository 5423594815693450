"""The log store broker: one process serving one log directory over ZeroMQ.

Run it from the shell as ``python -m ember.ingest.server.broker --dir D [--port P]
[--secret-file F]`` (the secret is read from F, or created there with mode
0600 if F does not exist; F defaults to ``D/broker.secret``), or let
``LogStore.start`` spawn it: then the secret comes as one JSON line on stdin,
the broker answers with one JSON line on stdout (its address), and stdin
stays open as the lifeline: when it reaches EOF (the parent stopped the
store, exited, or was SIGKILLed: the kernel closes the pipe) the broker
shuts down cleanly and exits.

Serves the ops of ``protocol`` on a CURVE ROUTER socket (``engine.wire.transport``:
only peers holding the store's secret complete the handshake; ZAP rejects
everyone else before any byte reaches this module). Payloads are opaque
bytes: record batches are CRC-checked and stored as they came, never
unpickled (there is no unpickler in the broker), and headers are JSON.

Threads: the socket's I/O thread (``Endpoint``) queues requests; a few
request threads run them (appends and reads, no fsync); the group-commit
flusher (``group_commit``) fsyncs and acknowledges ``acks="all"`` produces;
a maintenance thread expires consumer-group sessions, enforces retention
and checkpoints recovery points; the ZAP handler; and in a spawned broker the
lifeline thread.

Acknowledgements: ``acks=-1`` ("all", the default) replies once the batch is
fsynced; ``acks=1`` once it is written (a crash may lose it); ``acks=0``
never replies. A failed fsync takes the partition offline and fails the
waiting produces: never an ack after a failed fsync.

With ``kafka_listener``, the same logs, groups and producer ids are also
served over Kafka's wire protocol (``ingest.kafka.server``), on the
listener's own thread.

Shutdown (``stop``): requests still arriving are refused with
BrokerUnavailableError, the request threads finish, the flusher answers its
waiters, the socket closes, and the log manager closes every log and writes
the clean-shutdown marker.

Thread-safety: ``start``/``stop`` from one thread; the rest is internal.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import queue
import signal
import sys
import threading
import time
import uuid
from typing import Callable

import zmq

from ember.engine.clock import SYSTEM_CLOCK, Clock
from ember.engine.errors import (
    BrokerUnavailableError, EmberError, InvalidReplicationFactorError, KafkaStorageError,
    LogStoreError, MessageTooLargeError, ProtocolError,
)
from ember.engine.io.fileio import atomic_write
from ember.engine.wire.spawn import report_start_failure
from ember.engine.wire.transport import Authenticator, Endpoint, derive_keys, new_secret, server_socket
from ember.ingest import protocol
from ember.ingest.server import broker_faults
from ember.ingest.server.group_commit import GroupCommit
from ember.ingest.server.cluster_member import ClusterMember, ReplicationSettings
from ember.ingest.server.group_coordinator import GroupCoordinator
from ember.ingest.server.group_metadata_manager import ReplicatedOffsetStore
from ember.ingest.server.replica_manager import ReplicaManager
from ember.ingest.log.log_manager import LogManager
from ember.ingest.protocol import field, topic_partition
from ember.ingest.secret_file import read_secret_file, write_secret_file

log = logging.getLogger(__name__)

PRODUCER_IDS_FILE = "producer-ids.json"
SECRET_FILE = "broker.secret"
_PRODUCER_ID_BLOCK = 1000
_NO_REPLY = object()
_MAX_FETCH_BYTES = 64 * 1024 * 1024


class ProducerIdAllocator:
    """Producer ids unique across restarts: ids are handed out from a block
    whose end is made durable (``engine.io.fileio``) before the first id of the
    block is used, so a restarted broker starts after every id it gave out."""

    def __init__(self, directory: str):
        self._path = os.path.join(directory, PRODUCER_IDS_FILE)
        self._lock = threading.Lock()
        try:
            with open(self._path, "rb") as handle:
                self._next = int(json.loads(handle.read())["next_block"])
        except FileNotFoundError:
            self._next = 0
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise KafkaStorageError(f"unreadable {self._path}: {error!r}") from error
        self._end = self._next

    def allocate(self) -> int:
        with self._lock:
            if self._next >= self._end:
                end = self._next + _PRODUCER_ID_BLOCK
                atomic_write(self._path, json.dumps({"version": 1, "next_block": end}).encode())
                self._end = end
            self._next += 1
            return self._next - 1


class _ClusterProducerIds:
    """Producer ids of a cluster broker: blocks from the controller."""

    def __init__(self, broker: "Broker"):
        self._broker = broker

    def allocate(self) -> int:
        return self._broker.cluster.producer_ids.allocate()


class Broker:
    def __init__(self, log_dir: str, secret: bytes, *, host: str = "127.0.0.1", port: int = 0,
                 clock: Clock = SYSTEM_CLOCK, request_threads: int = 4,
                 retention_check_interval_ms: int = 300_000,
                 checkpoint_interval_ms: int = 60_000, maintenance_interval: float = 0.1,
                 kafka_listener: str | None = None, kafka_ssl_certfile: str | None = None,
                 kafka_ssl_keyfile: str | None = None, kafka_advertised_host: str | None = None,
                 kafka_max_request_bytes: int | None = None, node_id: int | None = None,
                 controllers: dict[int, str] | None = None, advertised_host: str | None = None,
                 replication: dict | None = None):
        self.log_dir = os.fspath(log_dir)
        self._keys = derive_keys(secret)
        # In a cluster (node_id and the controllers' addresses given) the
        # broker registers with the controller quorum and replicates; the
        # secret is kept for its connections to the other brokers.
        self.node_id = node_id
        self._controllers = controllers
        self._cluster_secret = secret if node_id is not None else None
        self._advertised_host = advertised_host
        self._replication = ReplicationSettings(**(replication or {}))
        self.cluster: ClusterMember | None = None
        self._host, self._port = host, port
        self._clock = clock
        self._request_threads = request_threads
        self._retention_interval = retention_check_interval_ms / 1000
        self._checkpoint_interval = checkpoint_interval_ms / 1000
        self._maintenance_interval = maintenance_interval
        self.address: str | None = None
        self._kafka_options = dict(listener=kafka_listener, certfile=kafka_ssl_certfile,
                                   keyfile=kafka_ssl_keyfile, advertised_host=kafka_advertised_host,
                                   max_request_bytes=kafka_max_request_bytes)
        self.kafka = None
        self.kafka_address: str | None = None
        self._queue: queue.Queue = queue.Queue()
        self._accepting = False
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []
        self._ops: dict[str, Callable] = {
            op: getattr(self, f"_op_{op}") for op in protocol.OPS}

    # --- lifecycle ----------------------------------------------------------------

    def start(self) -> str:
        """Open the logs, bind, and serve; returns the ``tcp://`` address."""
        self.logs = LogManager(self.log_dir, clock=self._clock)
        self._group_commit = GroupCommit().start()
        if self.node_id is None:
            self.groups = GroupCoordinator(self.log_dir, self._partitions_of, clock=self._clock)
            self._producer_ids = ProducerIdAllocator(self.log_dir)
            self.replicas = ReplicaManager(self.logs, self._group_commit)
        else:
            self.replicas = ReplicaManager(
                self.logs, self._group_commit, broker_id=self.node_id, clock=self._clock,
                replica_lag_time_max=self._replication.replica_lag_time_max_ms / 1000)
            self.offsets = ReplicatedOffsetStore(self.replicas,
                                                 self._replication.offsets_topic_num_partitions)
            self.groups = GroupCoordinator(self.log_dir, self._partitions_of, clock=self._clock,
                                           offsets=self.offsets)
            self._producer_ids = _ClusterProducerIds(self)
        if self._kafka_options["listener"]:
            self._start_kafka()
        self._zctx = zmq.Context()
        self._auth = Authenticator(self._zctx, self._keys)
        sock, self.address = server_socket(self._zctx, zmq.ROUTER, self._keys, self._host,
                                           self._port)
        self._endpoint = Endpoint(self._zctx, sock, self._on_message, "ember-broker-io",
                                  max_message_bytes=protocol.MAX_MESSAGE_BYTES,
                                  limit_name="socket.request.max.bytes",
                                  on_refused=self._refused)
        for i in range(self._request_threads):
            self._spawn(self._serve_requests, f"ember-broker-request-{i}")
        self._spawn(self._maintain, "ember-broker-maintenance")
        self._accepting = True
        self._endpoint.start()
        if self.node_id is not None:
            self.cluster = ClusterMember(self, self._controllers, self._cluster_secret,
                                         self._advertised_host, self._replication)
            if self.kafka is not None:
                self.kafka.apis.cluster = self.cluster
            self.cluster.start()
        log.info("serving %s at %s", self.log_dir, self.address)
        return self.address

    def _start_kafka(self) -> None:
        from ember.ingest.kafka.server import DEFAULT_MAX_REQUEST_BYTES, KafkaListener

        options = self._kafka_options
        cluster_id = base64.urlsafe_b64encode(uuid.uuid5(
            uuid.NAMESPACE_URL, "ember:" + os.path.abspath(self.log_dir)).bytes).decode()[:22]
        self.kafka = KafkaListener(
            {"logs": self.logs, "replicas": self.replicas, "groups": self.groups,
             "producer_ids": self._producer_ids, "cluster_id": cluster_id},
            options["listener"], certfile=options["certfile"], keyfile=options["keyfile"],
            users_dir=self.log_dir, advertised_host=options["advertised_host"],
            max_request_bytes=options["max_request_bytes"] or DEFAULT_MAX_REQUEST_BYTES)
        self.kafka_address = self.kafka.start()

    def _spawn(self, target: Callable, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        """Clean shutdown: answer what is in flight, close every log, write
        the clean-shutdown marker."""
        if self._stopped.is_set():
            return
        if self.cluster is not None:
            self.cluster.stop()  # controlled shutdown: leaderships move first
        self._accepting = False
        self._stopped.set()
        for _ in range(self._request_threads):
            self._queue.put(None)
        for thread in self._threads:
            thread.join(10)
        if self.kafka is not None:
            self.kafka.stop()
        self._group_commit.stop()
        time.sleep(0.05)  # let the I/O thread send the last replies before it stops
        self._endpoint.close()
        self._auth.stop()
        self._zctx.destroy(linger=0)
        self.logs.close()
        log.info("stopped serving %s", self.log_dir)

    def _partitions_of(self, topic: str) -> int | None:
        try:
            return self.logs.describe_topic(topic).partitions
        except LookupError:
            return None

    # --- requests -----------------------------------------------------------------

    def _on_message(self, frames: list) -> None:
        """On the I/O thread: queue the request (or refuse it while stopping)."""
        if len(frames) < 2:
            return  # not a request from a DEALER: nothing to answer
        if self._accepting:
            self._queue.put(frames)
        else:
            self._endpoint.reply([frames[0], protocol.error_reply(
                -1, BrokerUnavailableError("the broker is shutting down"))])

    def _refused(self, frames: list, error: MessageTooLargeError) -> None:
        """On the I/O thread: a request over MAX_MESSAGE_BYTES was dropped
        unread; answer it with the error if its header says which it was."""
        request_id = -1
        if len(frames) > 1:
            try:
                request_id = protocol.decode(frames[1])["id"]
            except ProtocolError:
                pass
        log.warning("refused a request: %s", error)
        self._endpoint.reply([frames[0], protocol.error_reply(request_id, error)])

    def _serve_requests(self) -> None:
        while True:
            frames = self._queue.get()
            if frames is None:
                return
            self._handle(frames[0], frames[1], frames[2:])

    def _handle(self, identity: bytes, header_frame: bytes, payloads: list) -> None:
        request_id = -1
        try:
            header = protocol.decode(header_frame)
            request_id = header["id"]
            op = field(header, "op", str)
            handler = self._ops.get(op)
            if handler is None:
                raise ProtocolError(f"unknown op {op!r:.60}; known ops: {', '.join(sorted(protocol.OPS))}")
            result = handler(identity, header, payloads)
        except EmberError as error:
            result = error
        except Exception as error:  # noqa: BLE001 - a bug must not kill the request thread
            log.exception("error while handling a request")
            result = LogStoreError(f"internal error in the broker: {type(error).__name__}: {error}")
        if result is _NO_REPLY:
            return
        if isinstance(result, BaseException):
            self._endpoint.send([identity, protocol.error_reply(request_id, result)])
        else:
            fields, frames = result
            self._endpoint.send([identity, protocol.reply(request_id, fields), *frames])

    # --- ops: topics --------------------------------------------------------------

    def _op_metadata(self, identity, header, payloads):
        wanted = field(header, "topics", list, optional=True)
        if self.cluster is not None:
            return self.cluster.metadata(wanted), []
        names = self.logs.topics() if wanted is None else wanted
        topics, unknown = {}, []
        for name in names:
            try:
                metadata = self.logs.describe_topic(name)
            except LookupError:
                unknown.append(name)
                continue
            topics[name] = {"partitions": metadata.partitions,
                            "config": metadata.config.to_dict()}
        return {"topics": topics, "unknown": unknown}, []

    def _op_create_topic(self, identity, header, payloads):
        if self.cluster is not None:
            return self.cluster.create_topic(
                header.get("topic"), header.get("partitions"),
                field(header, "replication_factor", int, optional=True, low=1),
                field(header, "config", dict, optional=True)), []
        factor = field(header, "replication_factor", int, optional=True, low=1)
        if factor is not None and factor > 1:
            raise InvalidReplicationFactorError(
                f"topic {header.get('topic')!r}: replication factor {factor}: this store is "
                f"one broker, so only 1 (start a cluster for more replicas)")
        self.logs.create_topic(header.get("topic"), header.get("partitions"),
                               field(header, "config", dict, optional=True))
        return {}, []

    def _op_create_partitions(self, identity, header, payloads):
        """Kafka's CreatePartitions: grow a topic (at the controller in a cluster)."""
        name = field(header, "topic", str)
        validate_only = bool(field(header, "validate_only", bool, optional=True))
        if self.cluster is not None:
            return self.cluster.create_partitions(name, header.get("count"), validate_only), []
        if validate_only:
            self.logs.check_partition_count(name, header.get("count"))
        else:
            self.logs.create_partitions(name, header.get("count"))
        return {"partitions": header.get("count"), "replication_factor": 1}, []

    def _op_delete_topic(self, identity, header, payloads):
        if self.cluster is not None:
            return self.cluster.delete_topic(field(header, "topic", str)), []
        self.logs.delete_topic(field(header, "topic", str))
        return {}, []

    def _op_find_coordinator(self, identity, header, payloads):
        group = field(header, "group", str)
        if self.cluster is None:
            return {"node_id": None, "address": None}, []  # this broker: the one asked
        return self.cluster.find_coordinator(group), []

    def _op_reassign_partitions(self, identity, header, payloads):
        """Kafka's AlterPartitionReassignments: forwarded to the controller."""
        if self.cluster is None:
            raise ProtocolError("reassign_partitions: this broker is not part of a cluster; "
                                "a single broker has no replicas to move")
        return self.cluster.reassign_partitions(field(header, "partitions", list)), []

    def _op_list_reassignments(self, identity, header, payloads):
        """Kafka's ListPartitionReassignments, from this broker's image."""
        if self.cluster is None:
            return {"reassignments": {}}, []
        return {"reassignments": self.cluster.reassignments()}, []

    def _op_describe_replicas(self, identity, header, payloads):
        """This broker's view of each partition it holds (role, epochs,
        ISR, offsets, followers' lag) and of the cluster."""
        if self.cluster is None:
            return {"node_id": None, "partitions": {}}, []
        return self.cluster.describe(), []

    def _op_replica_fetch(self, identity, header, payloads):
        if self.cluster is None:
            raise ProtocolError("replica_fetch: this broker is not part of a cluster")
        replica_id = field(header, "replica_id", int, low=0)
        requests = []
        for item in field(header, "partitions", list):
            topic, partition = topic_partition(item)
            if len(item) != 5 or not all(isinstance(x, int) and not isinstance(x, bool)
                                         for x in item[2:]):
                raise ProtocolError(f"each replica fetch must be [topic, partition, fetch "
                                    f"offset, last fetched epoch, leader epoch], got {item!r:.80}")
            requests.append((topic, partition, *item[2:]))
        max_bytes = field(header, "max_bytes", int, low=1, high=_MAX_FETCH_BYTES)
        max_wait = field(header, "max_wait_ms", int, low=0, high=10_000)
        request_id = header["id"]

        def respond(results, data):
            docs = [{"error": protocol.error_doc(r["error"])} if "error" in r else r
                    for r in results]
            self._endpoint.send([identity, protocol.reply(request_id, {"results": docs}), *data])

        self.replicas.replica_fetch(replica_id, requests, max_bytes, max_wait, respond)
        return _NO_REPLY

    # --- ops: producing -----------------------------------------------------------

    def _op_init_producer_id(self, identity, header, payloads):
        return {"producer_id": self._producer_ids.allocate(), "producer_epoch": 0}, []

    def _op_produce(self, identity, header, payloads):
        acks = field(header, "acks", int)
        if acks not in (-1, 0, 1):
            raise ProtocolError(f"field 'acks' = {acks}: expected -1 (all), 1 or 0")
        entries = field(header, "partitions", list)
        if len(entries) != len(payloads):
            raise ProtocolError(f"{len(entries)} partitions named for {len(payloads)} batches")
        batches = [(*topic_partition(item), batch) for item, batch in zip(entries, payloads)]
        request_id = header["id"]

        def done(outcomes: list, error: BaseException | None) -> None:
            if acks == 0:
                return
            if error is not None:
                self._endpoint.send([identity, protocol.error_reply(request_id, error)])
                return
            results = [{"error": protocol.error_doc(o)} if isinstance(o, BaseException)
                       else {"offset": o.first_offset, "last": o.last_offset} for o in outcomes]
            if acks == -1 and broker_faults.hit("produce.drop_reply"):
                return
            if acks == -1 and broker_faults.hit("produce.die_before_reply"):
                broker_faults.die()
            self._endpoint.send([identity, protocol.reply(request_id, {"results": results})])

        self.replicas.append(batches, acks, done)
        return _NO_REPLY

    # --- ops: reading -------------------------------------------------------------

    def _op_fetch(self, identity, header, payloads):
        topic = field(header, "topic", str)
        partition = field(header, "partition", int)
        offset = field(header, "offset", int, low=-protocol.INT64_MAX)
        max_bytes = field(header, "max_bytes", int, low=1, high=_MAX_FETCH_BYTES)
        data, partition_log = self.replicas.read(topic, partition, offset, max_bytes)
        return {"high_watermark": partition_log.high_watermark,
                "log_start_offset": partition_log.log_start_offset,
                "log_end_offset": partition_log.log_end_offset}, [data]

    def _op_list_offsets(self, identity, header, payloads):
        offsets = []
        for item in field(header, "partitions", list):
            topic, partition = topic_partition(item)
            spec = item[2] if len(item) > 2 else -1
            if not isinstance(spec, int) or isinstance(spec, bool) or spec < -2:
                raise ProtocolError(f"list_offsets spec {spec!r:.40}: expected -2 (earliest), "
                                    f"-1 (latest) or a timestamp in ms")
            try:
                partition_log = self.replicas.get_log(topic, partition)
                if spec == -2:
                    offsets.append({"offset": partition_log.log_start_offset})
                elif spec == -1:
                    offsets.append({"offset": partition_log.high_watermark})
                else:
                    found = partition_log.offset_for_timestamp(spec)
                    offsets.append({"offset": found[0], "timestamp": found[1]} if found
                                   else {"offset": -1})
            except EmberError as error:
                offsets.append({"error": protocol.error_doc(error)})
        return {"offsets": offsets}, []

    def _op_enforce_retention(self, identity, header, payloads):
        deleted = self.logs.enforce_retention()
        return {"deleted": [[t, p, bases] for (t, p), bases in sorted(deleted.items())]}, []

    # --- ops: consumer groups -----------------------------------------------------

    def _op_join_group(self, identity, header, payloads):
        topics = field(header, "topics", list)
        if not all(isinstance(topic, str) for topic in topics):
            raise ProtocolError("field 'topics' must be a list of topic names")
        return self.groups.join(
            field(header, "group", str), field(header, "member_id", str), topics,
            field(header, "session_timeout_ms", int, low=1),
            field(header, "rebalance_timeout_ms", int, low=1)), []

    def _op_heartbeat(self, identity, header, payloads):
        return self.groups.heartbeat(field(header, "group", str), field(header, "member_id", str),
                                     field(header, "generation", int, low=-1)), []

    def _op_leave_group(self, identity, header, payloads):
        return self.groups.leave(field(header, "group", str),
                                 field(header, "member_id", str)), []

    def _op_commit_offsets(self, identity, header, payloads):
        offsets = []
        for item in field(header, "offsets", list):
            topic, partition = topic_partition(item, "offset")
            if len(item) != 3 or not isinstance(item[2], int) or isinstance(item[2], bool):
                raise ProtocolError(f"each offset must be [topic, partition, offset], "
                                    f"got {item!r:.80}")
            offsets.append((topic, partition, item[2]))
        stored = self.groups.commit(field(header, "group", str), field(header, "member_id", str),
                                    field(header, "generation", int, low=-1), offsets)
        return {"offsets": [[t, p, o] for (t, p, _), o in zip(offsets, stored)]}, []

    def _op_fetch_committed(self, identity, header, payloads):
        partitions = [topic_partition(item) for item in field(header, "partitions", list)]
        return {"offsets": self.groups.committed(field(header, "group", str), partitions)}, []

    # --- maintenance --------------------------------------------------------------

    def _maintain(self) -> None:
        next_retention = self._clock.monotonic() + self._retention_interval
        next_checkpoint = self._clock.monotonic() + self._checkpoint_interval
        while not self._stopped.wait(self._maintenance_interval):
            try:
                self.groups.tick()
                self.replicas.tick()
                now = self._clock.monotonic()
                if now >= next_retention:
                    next_retention = now + self._retention_interval
                    self.logs.enforce_retention()
                if now >= next_checkpoint:
                    next_checkpoint = now + self._checkpoint_interval
                    self.logs.checkpoint()
            except Exception:  # noqa: BLE001 - keep maintaining the other logs
                log.exception("maintenance failed")


# --- the process --------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ember.ingest.server.broker",
        description="Serve an ember log store directory over CURVE-authenticated ZeroMQ.",
        epilog="example: python -m ember.ingest.server.broker --dir data/log --port 9092")
    parser.add_argument("--dir", required=True, help="the log directory (created if missing)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind (default: any free one)")
    parser.add_argument("--secret-file", help=f"the store's secret (hex, mode 0600); created if "
                                              f"missing (default: DIR/{SECRET_FILE})")
    parser.add_argument("--retention-check-ms", type=int, default=300_000,
                        help="how often retention runs (default: 300000)")
    parser.add_argument("--kafka-listener", metavar="[PROTOCOL://]HOST:PORT",
                        help="also serve Kafka's wire protocol there (PLAINTEXT, SSL, "
                             "SASL_PLAINTEXT or SASL_SSL; a non-loopback host needs SASL_SSL)")
    parser.add_argument("--kafka-ssl-certfile", help="the Kafka listener's TLS certificate (PEM)")
    parser.add_argument("--kafka-ssl-keyfile", help="the Kafka listener's TLS key (PEM)")
    parser.add_argument("--kafka-advertised-host",
                        help="the host name Kafka clients are told to connect to")
    parser.add_argument("--kafka-max-request-bytes", type=int,
                        help="socket.request.max.bytes of the Kafka listener (default 104857600)")
    parser.add_argument("--node-id", type=int,
                        help="this broker's id in a cluster (with --cluster)")
    parser.add_argument("--cluster", metavar="ID@tcp://HOST:PORT,...",
                        help="the controller quorum's members: this broker joins that "
                             "cluster and replicates its partitions")
    parser.add_argument("--advertised-host",
                        help="the host name other brokers and clients reach this one at "
                             "(default: --host)")
    parser.add_argument("--default-replication-factor", type=int, default=None,
                        help="replication factor of topics created without one (default: "
                             "the smaller of 3 and the brokers alive)")
    parser.add_argument("--replica-lag-time-max-ms", type=int, default=None,
                        help="a follower not caught up for this long leaves the ISR "
                             "(default: 10000)")
    parser.add_argument("--lifeline", action="store_true",
                        help="started by LogStore.start: bootstrap on stdin, exit at its EOF")
    return parser


def parse_controllers(text: str) -> dict[int, str]:
    """``ID@tcp://HOST:PORT,...`` -> {id: address}; ValueError naming a bad item."""
    controllers = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        node, _, address = item.partition("@")
        if not node.isdigit() or not address.startswith("tcp://") or ":" not in address[6:]:
            raise ValueError(f"--cluster item {item!r}: expected ID@tcp://HOST:PORT")
        controllers[int(node)] = address
    if not controllers:
        raise ValueError("--cluster needs the controller quorum's members: ID@tcp://HOST:PORT,...")
    return controllers


def _shell_secret(args) -> tuple[bytes, str]:
    path = args.secret_file or os.path.join(args.dir, SECRET_FILE)
    if args.cluster and not os.path.exists(path):
        raise ValueError(f"a cluster broker needs the cluster's secret file; {path} does not "
                         f"exist (make one with `ember secret new --out FILE` and copy it to "
                         f"every host, then pass --secret-file FILE)")
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        write_secret_file(path, new_secret())
    return read_secret_file(path), path


def _watch_lifeline(stop: threading.Event) -> None:
    try:
        while sys.stdin.buffer.read(65536):
            pass
    except (OSError, ValueError):
        pass
    stop.set()


def _force_exit_after(seconds: float) -> None:
    """A shutdown that hangs (a stuck fsync) must not keep the process alive."""
    timer = threading.Timer(seconds, lambda: os._exit(1))
    timer.daemon = True
    timer.start()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=os.environ.get("EMBER_BROKER_LOG", "WARNING"), stream=sys.stderr,
                        format="ember broker %(process)d: %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    broker = None
    try:
        if args.lifeline:
            bootstrap = json.loads(sys.stdin.buffer.readline() or b"{}")
            secret, secret_path = bytes.fromhex(bootstrap["secret"]), None
        else:
            secret, secret_path = _shell_secret(args)
        cluster = {}
        if args.cluster or args.node_id is not None:
            if args.cluster is None or args.node_id is None or args.node_id < 0:
                raise ValueError("a cluster broker needs both --node-id (>= 0) and --cluster")
            replication = {}
            if args.default_replication_factor is not None:
                replication["default_replication_factor"] = args.default_replication_factor
                replication["offsets_topic_replication_factor"] = args.default_replication_factor
            if args.replica_lag_time_max_ms is not None:
                replication["replica_lag_time_max_ms"] = args.replica_lag_time_max_ms
            cluster = dict(node_id=args.node_id, controllers=parse_controllers(args.cluster),
                           advertised_host=args.advertised_host, replication=replication)
        broker = Broker(args.dir, secret, host=args.host, port=args.port, **cluster,
                        retention_check_interval_ms=args.retention_check_ms,
                        kafka_listener=args.kafka_listener,
                        kafka_ssl_certfile=args.kafka_ssl_certfile,
                        kafka_ssl_keyfile=args.kafka_ssl_keyfile,
                        kafka_advertised_host=args.kafka_advertised_host,
                        kafka_max_request_bytes=args.kafka_max_request_bytes)
        address = broker.start()
    except (EmberError, OSError, ValueError, KeyError, zmq.ZMQError) as error:
        if broker is not None and broker.kafka is not None:
            broker.kafka.stop()
        return report_start_failure("ember logstore", error, args.lifeline)
    del secret
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    if args.lifeline:
        print(json.dumps({"address": address, "pid": os.getpid(),
                          "kafka_address": broker.kafka_address,
                          "node_id": broker.node_id}), flush=True)
        threading.Thread(target=_watch_lifeline, args=(stop,), name="ember-lifeline",
                         daemon=True).start()
    else:
        print(f"ember log store: {'' if broker.node_id is None else f'broker {broker.node_id} '}"
              f"serving {os.path.abspath(args.dir)} at {address} "
              f"(secret in {secret_path})" + (f"; Kafka protocol at {broker.kafka_address}"
                                              if broker.kafka_address else ""), flush=True)
    while not stop.wait(1.0):
        pass
    _force_exit_after(30)
    broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
