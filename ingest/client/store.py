"""LogStore: the handle on a log store broker, and ``connect``.

``LogStore.start(directory)`` spawns a broker process (``python -m
ember.ingest.server.broker --lifeline``) bound to 127.0.0.1 on an ephemeral port (or
the ``port`` given, e.g. to restart a broker where its clients expect it),
hands it a fresh random secret on its stdin pipe (never argv or the
environment), and waits for the one line in which it reports its address.
The pipe stays open as the broker's lifeline: it exits when the parent
process goes away for any reason, SIGKILL included. ``stop()`` (also on
``with`` exit) closes the clients made from the handle, then the lifeline,
and waits for the broker's clean shutdown (clean-shutdown marker written);
``kill()`` SIGKILLs it, for tests.

``connect(address, secret=...)`` returns the same kind of handle on a broker
that runs elsewhere; its ``stop()`` closes the handle's clients and
connection only.

The handle's admin calls (topics, retention) go over its own connection;
``producer()`` and ``consumer()`` make clients with their own connections.
The secret is kept out of ``repr`` and messages; a handle does not pickle
(pass ``store.address`` and ``store.secret`` to another process).

Thread-safety: admin calls are thread-safe; start/stop/kill from one thread.
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import subprocess
import time
import weakref
from typing import Mapping

from ember.engine.errors import BrokerUnavailableError
from ember.engine.wire.spawn import child_environment, end, spawn
from ember.engine.wire.transport import new_secret
from ember.ingest import protocol
from ember.ingest.client.cluster_client import ClusterClient, parse_bootstrap
from ember.ingest.secret_file import coerce_secret

log = logging.getLogger(__name__)


def normalize_address(address: str) -> str:
    """``tcp://host:port`` from that or ``host:port``; several, separated by
    commas, for the brokers of a cluster."""
    return ",".join(parse_bootstrap(address))


class LogStore:
    def __init__(self, address: str, secret: bytes, *, process: subprocess.Popen | None = None,
                 directory: str | None = None, connect_timeout: float = 10.0,
                 request_timeout: float = 30.0, cluster=None):
        self.address = normalize_address(address)
        self.directory = directory
        self.kafka_address: str | None = None  # HOST:PORT of the Kafka listener, if any
        self._secret = secret
        self._process = process
        self.cluster = cluster  # the LocalCluster this handle started, if any
        self._request_timeout = request_timeout
        self._clients: "weakref.WeakSet" = weakref.WeakSet()
        self._stopped = False
        # A handle dropped without stop() still ends its broker cleanly (at
        # garbage collection or interpreter exit), as a Context ends its workers.
        self._end_broker = weakref.finalize(self, end, process, kill=False) if process else None
        self._end_cluster = weakref.finalize(self, cluster.stop) if cluster is not None else None
        self._admin = ClusterClient(self.address, secret, connect_timeout=connect_timeout,
                                    request_timeout=request_timeout, name="ember-logstore-admin")

    @classmethod
    def start_cluster(cls, directories: list, replication_factor: int = 3, *,
                      secret: bytes | None = None, env: Mapping[str, str] | None = None,
                      kafka_listener: bool = False, broker_args: list[str] | None = None,
                      controller_settings: dict | None = None,
                      node_env: Mapping[int, Mapping[str, str]] | None = None) -> "LogStore":
        """Start a replicated store on this machine: a controller quorum and
        one broker process per directory (``local_cluster.LocalCluster``),
        one fresh secret for all. Topics created through the handle get
        ``replication_factor`` replicas (and ``min.insync.replicas`` of
        min(2, replication factor)). The handle's ``address`` lists every
        broker; ``store.cluster`` kills, pauses and restarts brokers for
        tests. ``kafka_listener``: each broker also serves Kafka's protocol
        on a loopback port of its own."""
        from ember.ingest.cluster.local_cluster import LocalCluster

        cluster = LocalCluster(directories, replication_factor=replication_factor,
                               secret=None if secret is None else coerce_secret(secret, None),
                               env=env, kafka_listener=kafka_listener, broker_args=broker_args,
                               controller_settings=controller_settings,
                               node_env=node_env).start()
        try:
            store = cls(cluster.bootstrap, cluster.secret, cluster=cluster)
        except BaseException:
            cluster.stop()
            raise
        store.kafka_address = next(iter(a for a in cluster.kafka_addresses.values() if a), None)
        return store

    # --- spawning -----------------------------------------------------------------

    @classmethod
    def start(cls, directory: str | os.PathLike, *, port: int = 0, host: str = "127.0.0.1",
              secret: bytes | None = None, env: Mapping[str, str] | None = None,
              retention_check_ms: int | None = None,
              startup_timeout: float = 30.0, kafka_listener: str | None = None,
              kafka_ssl_certfile: str | None = None,
              kafka_ssl_keyfile: str | None = None) -> "LogStore":
        """Spawn a broker serving ``directory`` and return its handle.

        ``secret``: by default a fresh random one; pass a previous broker's
        (with its ``port``) to restart it where its clients and LogRDDs expect it.
        ``env``: extra environment variables for the broker process (tests arm
        ``EMBER_BROKER_FAULTS`` or ``EMBER_TRACK_FSYNC`` this way).
        ``retention_check_ms``: how often the broker enforces retention.
        ``kafka_listener``: also serve Kafka's wire protocol at
        ``[PROTOCOL://]HOST:PORT`` (e.g. ``"127.0.0.1:9092"``, port 0 for any;
        ``SASL_SSL://0.0.0.0:9093`` with ``kafka_ssl_certfile`` and
        ``kafka_ssl_keyfile``); its address is then ``kafka_address``.
        """
        directory = os.path.abspath(os.fspath(directory))
        args = ["--lifeline", "--dir", directory, "--host", host, "--port", str(port)]
        if retention_check_ms is not None:
            args += ["--retention-check-ms", str(int(retention_check_ms))]
        for flag, value in (("--kafka-listener", kafka_listener),
                            ("--kafka-ssl-certfile", kafka_ssl_certfile),
                            ("--kafka-ssl-keyfile", kafka_ssl_keyfile)):
            if value is not None:
                args += [flag, os.fspath(value)]
        secret = new_secret() if secret is None else coerce_secret(secret, None)
        process = spawn("ember.ingest.server.broker", args, {"secret": secret.hex()},
                        env=child_environment(env), stdout=subprocess.PIPE)
        try:
            ready = _read_ready_line(process, startup_timeout)
            if "address" not in ready:
                raise BrokerUnavailableError(
                    f"the log store broker for {directory} did not start: "
                    f"{ready.get('error', 'no reason given')}")
            store = cls(ready["address"], secret, process=process, directory=directory)
            store.kafka_address = ready.get("kafka_address")
            return store
        except BaseException:
            end(process, kill=True)
            raise
        finally:
            process.stdout.close()

    # --- identity -----------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def port(self) -> int:
        return int(self.address.split(",")[0].rsplit(":", 1)[1])

    @property
    def secret(self) -> bytes:
        """The store's secret: what another process needs to ``connect``."""
        return self._secret

    def alive(self) -> bool:
        if self.cluster is not None:
            return bool(self.cluster.alive())
        return self._process is None or self._process.poll() is None

    def __repr__(self) -> str:
        where = f", pid={self.pid}" if self._process is not None else ""
        return f"LogStore(address={self.address!r}{where})"

    def _repr_html_(self) -> str:
        """A notebook's display: address, broker process, directory, and the
        topics with their partitions (asked for with a short timeout)."""
        from html import escape

        state, topics = self.describe()
        rows = [("address", self.address),
                ("broker pid", "elsewhere" if self.pid is None else self.pid),
                ("directory", self.directory or ""), ("state", state)]
        table = "".join(f"<tr><th style='text-align:left'>{key}</th>"
                        f"<td>{escape(str(value))}</td></tr>" for key, value in rows)
        listed = "".join(f"<tr><td>{escape(name)}</td><td>{meta['partitions']}</td></tr>"
                         for name, meta in sorted(topics.items()))
        topic_table = (f"<table><tr><th>topic</th><th>partitions</th></tr>{listed}</table>"
                       if listed else "<p>no topics</p>")
        return f"<div><p><b>LogStore</b></p><table>{table}</table>{topic_table}</div>"

    def describe(self, timeout: float = 2.0) -> tuple[str, dict]:
        """(state, {topic: {"partitions": N, "config": {...}}}) for displays:
        "running", "stopped", "broker exited" or "unreachable (...)"; the
        topics are asked for with a short timeout and are empty unless running.
        In a cluster each topic is as ``describe_topics`` gives it (leaders,
        replicas, ISR, leader epochs, follower lag)."""
        if self._stopped or not self.alive():
            return ("stopped" if self._stopped else "broker exited"), {}
        try:
            return "running", self.describe_topics(timeout=timeout)
        except Exception as error:  # noqa: BLE001 - a display shows what it can
            return f"unreachable ({type(error).__name__}: {error})", {}

    def describe_topics(self, topics: list[str] | None = None, timeout: float = 5.0) -> dict:
        """``topic_metadata`` with, in a cluster, what each partition's
        leader knows: per topic ``replication_factor``, and per partition
        (lists, as ``leaders`` and ``isr``) ``log_end_offsets``,
        ``high_watermarks`` and ``follower_lag`` (``{broker: offsets behind
        the leader's log end}``; None where the leader did not answer within
        ``timeout``). See ``cluster_describe``."""
        from ember.ingest.client.cluster_describe import add_partition_states

        reply = self._admin.metadata(topics, timeout=timeout)
        return _known_topics(add_partition_states(self._admin, reply, timeout))

    def __getstate__(self):
        raise TypeError("a LogStore handle cannot be pickled: pass store.address and "
                        "store.secret, and call ember.ingest.connect where they arrive")

    # --- lifecycle ----------------------------------------------------------------

    def __enter__(self) -> "LogStore":
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _close_clients(self, timeout: float) -> None:
        for client in list(self._clients):
            try:
                client.close(timeout=timeout)
            except Exception:  # noqa: BLE001 - closing the rest matters more
                log.exception("error while closing %r", client)
        self._admin.close()

    def stop(self, timeout: float = 10.0) -> None:
        """Close this handle's clients; a spawned broker shuts down cleanly."""
        if self._stopped:
            return
        self._stopped = True
        self._close_clients(timeout=1.0 if self.alive() else 0.0)
        if self.cluster is not None:
            self._end_cluster.detach()
            self.cluster.stop()
        if self._process is not None:
            self._end_broker.detach()
            end(self._process, kill=False, timeout=timeout)
            if self._process.returncode not in (0, -signal.SIGKILL):
                log.warning("the log store broker %d exited with code %s", self._process.pid,
                            self._process.returncode)

    close = stop

    def kill(self) -> None:
        """SIGKILL the spawned broker (a crash, for tests)."""
        if self.cluster is not None:
            raise ValueError("kill() stops the broker of LogStore.start; in a cluster, "
                             "kill one broker with store.cluster.kill(node)")
        if self._process is None:
            raise ValueError("kill() needs a broker started by LogStore.start; this handle "
                             "is connected to one that runs elsewhere")
        if self._process.poll() is None:
            os.kill(self._process.pid, signal.SIGKILL)
        self._process.wait()
        self._stopped = True
        self._end_broker.detach()
        self._close_clients(timeout=0.0)
        end(self._process, kill=True)

    # --- admin --------------------------------------------------------------------

    def _request(self, op: str, fields: dict | None = None) -> dict:
        return self._admin.request_any(op, fields)[0]

    def create_topic(self, name: str, partitions: int = 1,
                     config: Mapping[str, object] | None = None,
                     replication_factor: int | None = None) -> None:
        """Create a topic; ``config`` overrides settings with Kafka keys
        (``{"retention.ms": 60000, "segment.bytes": 1 << 20}``, and in a
        cluster ``min.insync.replicas``). ``replication_factor``: in a
        cluster, the number of replicas (default: the cluster's)."""
        fields = {"topic": name, "partitions": partitions,
                  "config": dict(config) if config else None}
        if replication_factor is not None:
            fields["replication_factor"] = replication_factor
        self._request("create_topic", fields)
        self._admin.invalidate(name)

    def create_partitions(self, topic: str, count: int, validate_only: bool = False) -> None:
        """Grow ``topic`` to ``count`` partitions (Kafka's
        ``create_partitions``; partitions are only ever added). In a
        cluster the controller places the new partitions' replicas as a new
        topic's (as many as the topic's first partition has). Producers and
        consumers see them at their next metadata refresh
        (``metadata_max_age_ms``); a subscribed group then rebalances.
        InvalidPartitionsError if ``count`` would not grow the topic,
        UnknownTopicOrPartitionError for an unknown topic. ``validate_only``:
        the checks alone."""
        self._request("create_partitions", {"topic": topic, "count": count,
                                            "validate_only": bool(validate_only)})
        self._admin.invalidate(topic)

    def delete_topic(self, name: str) -> None:
        self._request("delete_topic", {"topic": name})
        self._admin.invalidate(name)

    def topics(self) -> list[str]:
        return sorted(self._admin.metadata(None)["topics"])

    def topic_metadata(self, topics: list[str] | None = None) -> dict:
        """``{topic: {"partitions": N, "config": {...}}}`` (in a cluster also
        each partition's ``leaders``, ``leader_epochs``, ``replicas`` and
        ``isr``); unknown names raise."""
        return _known_topics(self._admin.metadata(topics))

    def partitions_for(self, topic: str) -> int:
        return self.topic_metadata([topic])[topic]["partitions"]

    def list_offsets(self, requests: list[tuple[str, int, int]],
                     timeout: float | None = None) -> list[int]:
        """Offsets for ``(topic, partition, spec)``: spec -2 = log start,
        -1 = high watermark (end of acknowledged data), else a timestamp
        (ms). In a cluster each is asked of the partition's leader, following
        it through a failover for up to ``timeout`` s (default: the request
        timeout)."""
        return list_offsets(self._admin, requests, timeout or self._request_timeout)

    def enforce_retention(self) -> dict:
        """Run retention now (on every broker of a cluster); returns
        ``{(topic, partition): [deleted segment bases]}``."""
        if not self._admin.clustered:
            self._admin.metadata([])
        if not self._admin.clustered:
            deleted = self._request("enforce_retention")["deleted"]
            return {(t, p): bases for t, p, bases in deleted}
        out = {}
        for address in self._admin.metadata([]).get("brokers", {}).values():
            reply, _ = self._admin.connection(address).request("enforce_retention")
            for t, p, bases in reply["deleted"]:
                out.setdefault((t, p), []).extend(bases)
        return out

    def reassign_partitions(self, plan: Mapping[tuple[str, int], list[int] | None]) -> None:
        """Move partitions to other brokers (Kafka's
        alterPartitionReassignments): ``{(topic, partition): [broker ids]}``,
        the first id being the preferred leader; None cancels a reassignment
        in progress. The controller adds the new replicas at once; they
        fetch, catch up and join the ISR; then the replica set becomes the
        target and the others drop their copies (the leader moves first if
        it is one of them). Returns once the reassignments started; the
        first refused partition's error is raised (the others started),
        naming every refused one."""
        from ember.ingest.protocol import error_from

        items = [[topic, partition, None if target is None else list(target)]
                 for (topic, partition), target in plan.items()]
        results = self._request("reassign_partitions", {"partitions": items})["results"]
        self._admin.invalidate()
        refused = {key: error for key, error in sorted(results.items()) if error}
        if refused:
            first = error_from(next(iter(refused.values())))
            raise type(first)(f"reassignment refused for {', '.join(refused)}: " + "; ".join(
                f"{key}: {error['message']}" for key, error in refused.items()))

    def list_partition_reassignments(self) -> dict:
        """Reassignments in progress: ``{(topic, partition): {"replicas",
        "adding", "removing"}}`` (Kafka's listPartitionReassignments)."""
        reply = self._request("list_reassignments")["reassignments"]
        return {(key.rsplit("-", 1)[0], int(key.rsplit("-", 1)[1])): state
                for key, state in reply.items()}

    def describe_cluster(self) -> dict:
        """Each broker's view of the partitions it holds: ``{broker id:
        {"partitions": {"topic-p": {role, leader, leader_epoch, isr,
        high_watermark, log_end_offset, follower_lag, ...}}, ...}}``; a
        leader's ``follower_lag`` is ``{broker id: offsets behind its log end}``
        (None until the follower fetched in this epoch). Unreachable brokers
        are left out."""
        out = {}
        for node, address in self._admin.metadata([]).get("brokers", {}).items():
            try:
                out[int(node)] = view = self._admin.connection(address).request(
                    "describe_replicas", timeout=5.0)[0]
            except Exception:  # noqa: BLE001 - a lost broker is simply not described
                continue
            for partition in view.get("partitions", {}).values():
                if isinstance(partition.get("follower_lag"), dict):
                    partition["follower_lag"] = {int(b): lag for b, lag
                                                 in partition["follower_lag"].items()}
        return out

    # --- clients ------------------------------------------------------------------

    def producer(self, **configs):
        """A Producer for this store (kafka-python's settings, ``acks="all"``)."""
        from ember.ingest.client.producer import Producer
        producer = Producer(self.address, secret=self._secret, **configs)
        self._clients.add(producer)
        return producer

    def consumer(self, *topics: str, group_id: str | None = None, **configs):
        """A Consumer for this store, subscribed to ``topics`` if any are given."""
        from ember.ingest.client.consumer import Consumer
        consumer = Consumer(*topics, bootstrap_servers=self.address, secret=self._secret,
                            group_id=group_id, **configs)
        self._clients.add(consumer)
        return consumer


def _known_topics(reply: dict) -> dict:
    if reply.get("unknown"):
        from ember.engine.errors import UnknownTopicOrPartitionError
        raise UnknownTopicOrPartitionError(f"unknown topic {reply['unknown'][0]!r}")
    return reply["topics"]


def list_offsets(client: ClusterClient, requests: list, timeout: float) -> list[int]:
    """``(topic, partition, spec)`` offsets, each from its partition's leader."""
    requests = [list(r) for r in requests]
    if not requests:
        return []
    deadline = time.monotonic() + timeout
    if not client.clustered:
        client.metadata([])
    if not client.clustered:
        return _offsets_or_raise(client.request_any("list_offsets",
                                                    {"partitions": requests})[0])
    out: list = [None] * len(requests)
    by_partition: dict = {}
    for i, request in enumerate(requests):
        by_partition.setdefault((request[0], request[1]), []).append(i)
    for (topic, partition), indexes in by_partition.items():
        reply, _ = client.call_leader(topic, partition, "list_offsets",
                                      {"partitions": [requests[i] for i in indexes]},
                                      deadline=deadline)
        for i, offset in zip(indexes, _offsets_or_raise(reply)):
            out[i] = offset
    return out


def _offsets_or_raise(reply: dict) -> list[int]:
    offsets = []
    for entry in reply["offsets"]:
        if "error" in entry:
            raise protocol.error_from(entry["error"])
        offsets.append(entry["offset"])
    return offsets


def connect(address: str, secret: bytes | str | None = None, *,
            secret_file: str | os.PathLike | None = None, timeout: float = 10.0) -> LogStore:
    """A handle on a running broker. A wrong secret raises AuthenticationError
    within milliseconds; no broker at ``address``, BrokerUnavailableError
    after ``timeout`` seconds."""
    return LogStore(address, coerce_secret(secret, secret_file), connect_timeout=timeout)


def _read_ready_line(process: subprocess.Popen, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        readable, _, _ = select.select([process.stdout], [], [], deadline - time.monotonic())
        if readable:
            line = process.stdout.readline()
            if not line:
                raise BrokerUnavailableError(
                    f"the log store broker exited during start-up (code {process.wait()})")
            try:
                return json.loads(line)
            except ValueError:
                continue  # not the ready line
    raise BrokerUnavailableError(f"the log store broker did not report ready within {timeout:g} s")
