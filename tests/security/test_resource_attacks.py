"""Attacks on memory and connections (RELIABILITY.md S07, S08): oversized
frames, forged length prefixes, a gibibyte from peers that never
authenticate, and a flood of idle connections, against the driver, each
worker's shuffle service and the log store broker.

Every listener accepts frames of at most 1 MiB (the default
``ember.network.maxMessageSize``), handshake frames included, so an
oversized frame costs little to send. A frame is judged by its header:
libzmq reads a frame's size before its body, so a peer claiming more than
the limit is dropped before anything is allocated; one claiming the limit
makes the server read it, refuse it as a HELLO and hang up. RSS is read with
psutil, never timed.
"""

from __future__ import annotations

import os
import pickle
import socket
import threading
from operator import add

import psutil
import pytest
import zmq
from zmq.utils.monitor import recv_monitor_message

import ember
from ember.engine.wire.transport import DEFAULT_MAX_MESSAGE_SIZE, derive_keys
from ember.ingest.structs import TopicPartition
from security_helpers import (
    TWO_GIB, Canary, PeakRss, assert_broker_unharmed, assert_cluster_unharmed,
    authenticated_client, cluster_ports, flood_before_authenticating, forged_header, greeted,
    greeting, hold_after_handshake, hung_up,
)
from tests.waiting import wait_for

pytestmark = pytest.mark.security

LIMIT = DEFAULT_MAX_MESSAGE_SIZE
JUNK_MIB = 48  # streamed after a forged header: RSS would show it if it were buffered
RSS_SLACK = 24 << 20
FLOOD_BYTES = 1 << 30
FLOOD_RSS_LIMIT = 32 << 20


@pytest.fixture(scope="module")
def sc():
    context = ember.Context("local[2]", appName="ember-security-resources")
    yield context
    context.stop()


def pid_of(name, sc, store):
    if name == "driver":
        return os.getpid()
    if name == "broker":
        return store.pid
    return sc._cluster.pids()[name.split()[0]]


def targets(sc, store):
    """(name, port, limit, secret) of every listening port."""
    cluster = [(name, port, LIMIT, sc._cluster._secret) for name, port in cluster_ports(sc).items()]
    return cluster + [("broker", store.port, LIMIT, store.secret)]


def stream_junk(send) -> int:
    """Call ``send`` with 1 MiB chunks until it fails; MiB sent."""
    chunk = b"\xa5" * (1 << 20)
    for sent in range(JUNK_MIB):
        if not send(chunk):
            return sent
    return JUNK_MIB


def raw_sender(conn):
    def send(data):
        try:
            conn.sendall(data)
            return True
        except OSError:
            return False
    return send


def rss(pid) -> int:
    return psutil.Process(pid).memory_info().rss


def test_an_oversized_frame_from_an_authenticated_peer_drops_its_connection(sc, store, zctx, tmp_path):
    marker = tmp_path / "oversized-canary"
    payload = pickle.dumps((Canary(marker), b"x" * (2 * LIMIT)))
    for name, port in cluster_ports(sc).items():
        client = authenticated_client(zctx, derive_keys(sc._cluster._secret), f"tcp://127.0.0.1:{port}")
        monitor = client.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        client.send(payload)
        assert monitor.poll(5000), f"the {name} kept the connection of an oversized message"
        assert recv_monitor_message(monitor)["event"] == zmq.EVENT_DISCONNECTED
        client.disable_monitor()
        monitor.close(linger=0)
        client.close(linger=0)
    assert_cluster_unharmed(sc, marker)


@pytest.mark.parametrize("claimed", ["just over the limit", "2 GiB"])
def test_a_forged_length_prefix_is_dropped_without_allocating(sc, store, zctx, relay, claimed):
    """Before the handshake (raw TCP after a CURVE greeting) and after it
    (injected into an authenticated session by a relay), a frame header
    claiming more than the limit, followed by a stream of junk: the server
    hangs up and its RSS does not grow by what was streamed."""
    for name, port, limit, secret in targets(sc, store):
        size = limit + 1 if claimed == "just over the limit" else TWO_GIB
        pid = pid_of(name, sc, store)
        before = rss(pid)
        with greeted(port) as conn:
            conn.sendall(forged_header(size, command=True))
            streamed = stream_junk(raw_sender(conn))
            assert hung_up(conn), f"the {name} waited for a {claimed} handshake frame"
        assert rss(pid) - before < RSS_SLACK, f"the {name} buffered {streamed} MiB before the handshake"

        session = relay(port, hold_after_handshake)
        client = authenticated_client(zctx, derive_keys(secret), session.address)
        before = rss(pid)
        streamed = stream_junk(session.inject) if session.inject(forged_header(size)) else 0
        assert session.server_closed.wait(5), f"the {name} waited for a {claimed} message"
        assert rss(pid) - before < RSS_SLACK, f"the {name} buffered {streamed} MiB of a message"
        client.close(linger=0)
    assert_cluster_unharmed(sc)
    assert_broker_unharmed(store)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["driver", "shuffle service", "broker"])
def test_a_gibibyte_from_peers_that_never_authenticate_grows_no_listener_by_32_mib(sc, store, kind):
    """libzmq reads handshake frames up to ZMQ_MAXMSGSIZE: with frames of at
    most 1 MiB, a peer without the secret can make a listener hold about
    that much per connection, whatever it sends, and the listener serves on."""
    name, port = next((name, port) for name, port, _, _ in targets(sc, store) if kind in name)
    with PeakRss(pid_of(name, sc, store)) as rss_of_target:
        read = flood_before_authenticating(port, FLOOD_BYTES)
    print(f"{kind}: {read >> 20} MiB sent before authenticating, RSS grew by at most "
          f"{rss_of_target.growth / 2**20:.1f} MiB")
    assert read >= FLOOD_BYTES * 0.99, f"the {name} read {read >> 20} MiB of handshake frames"
    assert rss_of_target.growth < FLOOD_RSS_LIMIT, \
        f"the {name} grew by {rss_of_target.growth >> 20} MiB while {read >> 20} MiB arrived"
    if kind == "broker":
        assert_broker_unharmed(store)
    else:
        assert_cluster_unharmed(sc)


def established(pid, port) -> int:
    return sum(1 for c in psutil.Process(pid).net_connections(kind="tcp")
               if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port)


def open_flood(port, count):
    """``count`` connections to ``port``: half send nothing at all, half
    start a greeting and stall (slowloris)."""
    conns = []
    for i in range(count):
        conn = socket.create_connection(("127.0.0.1", port), timeout=5)
        if i % 2:
            conn.sendall(greeting()[:11])
        conns.append(conn)
    return conns


@pytest.mark.slow
def test_500_idle_or_stalled_connections_per_port_do_not_stop_a_job(sc):
    ports = cluster_ports(sc)
    pids = {name: (os.getpid() if name == "driver" else sc._cluster.pids()[name.split()[0]])
            for name in ports}
    fds = {name: psutil.Process(pid).num_fds() for name, pid in pids.items()}
    legit = {name: established(pids[name], port) for name, port in ports.items()}
    conns = []
    try:
        for port in ports.values():
            conns += open_flood(port, 500)
        wait_for(lambda: all(established(pids[name], port) >= legit[name] + 500
                             for name, port in ports.items()),
                 timeout=10, interval=0.02, what="every flood connection to land")
        data = [(i % 97, i) for i in range(20_000)]
        oracle = {}
        for key, value in data:
            oracle[key] = oracle.get(key, 0) + value
        assert sc.parallelize(data, 8).reduceByKey(add, 4).collectAsMap() == oracle
    finally:
        for conn in conns:
            conn.close()
    for name, port in ports.items():
        wait_for(lambda: established(pids[name], port) <= legit[name], timeout=10, interval=0.02,
                 what=f"the {name} to drop the flood connections")
        wait_for(lambda: psutil.Process(pids[name]).num_fds() <= fds[name] + 8, timeout=10,
                 interval=0.02, what=f"the {name} to close the flood connections' descriptors")


def test_500_idle_or_stalled_connections_do_not_stop_the_broker(store):
    legit = established(store.pid, store.port)
    conns = open_flood(store.port, 500)
    try:
        wait_for(lambda: established(store.pid, store.port) >= legit + 500, timeout=10, interval=0.02,
                 what="every flood connection to land")
        producer = store.producer()
        metadata = producer.send("t", value=b"during the flood").get(timeout=10)
        producer.close()
        consumer = store.consumer(enable_auto_commit=False)
        consumer.assign([TopicPartition("t", 0)])
        consumer.seek(TopicPartition("t", 0), metadata.offset)
        assert [r.value for r in consumer.poll(timeout_ms=5000)[TopicPartition("t", 0)]] \
            == [b"during the flood"]
        consumer.close()
    finally:
        for conn in conns:
            conn.close()
    wait_for(lambda: established(store.pid, store.port) <= legit, timeout=10, interval=0.02,
             what="the broker to drop the flood connections")
    assert_broker_unharmed(store)
