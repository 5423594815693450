"""The controller quorum's port under attack: it speaks CURVE only, admits
only holders of the cluster secret, and has no unpickler, so the canary
never runs; malformed Raft messages and requests from an authenticated peer
are dropped or answered with a named error, and the quorum keeps working."""

from __future__ import annotations

import json
import os

import psutil
import pytest
import zmq

from ember.engine.errors import AuthenticationError
from ember.engine.wire.transport import client_socket, connect_authenticated, derive_keys, new_secret
from ember.ingest.cluster.local_quorum import LocalQuorum
from ember.engine.wire.transport import DEFAULT_MAX_MESSAGE_SIZE
from security_helpers import (
    PeakRss, authenticated_client, closed_by_server, flood_before_authenticating, forged_header,
    greeted, greeting, hung_up, null_ready,
)

pytestmark = pytest.mark.security


@pytest.fixture(scope="module")
def quorum(tmp_path_factory):
    q = LocalQuorum(tmp_path_factory.mktemp("quorum"), 3).start()
    with q.client() as client:
        q.wait_for_active(client)
        client.request("register_broker", broker_id=1, incarnation="s", host="127.0.0.1", port=1)
    yield q
    q.stop()


def port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def assert_quorum_unharmed(quorum, marker, name) -> None:
    assert not os.path.exists(marker), "the canary was unpickled"
    assert all(psutil.pid_exists(pid) for pid in quorum.pids().values())
    with quorum.client() as client:
        client.request("create_topic", topic=name, assignment=[[1]])


def test_every_member_listens_on_loopback_only(quorum):
    for pid in quorum.pids().values():
        listening = [c.laddr.ip for c in psutil.Process(pid).net_connections("tcp")
                     if c.status == psutil.CONN_LISTEN]
        assert listening and set(listening) == {"127.0.0.1"}


def test_raw_tcp_and_null_mechanism_canaries_are_dropped_at_the_handshake(quorum, canary):
    payload, marker = canary
    for address in quorum.addresses.values():
        assert closed_by_server(port_of(address), payload)
        assert closed_by_server(port_of(address), greeting(b"NULL"), null_ready(), payload)
    assert_quorum_unharmed(quorum, marker, "after-raw")


def test_a_peer_without_the_secret_cannot_complete_the_handshake(quorum, zctx):
    stranger = derive_keys(new_secret())
    known_server = derive_keys(quorum.secret)
    sock = client_socket(zctx, zmq.DEALER, stranger, quorum.addresses[1])
    # It even knows the real server key: ZAP still refuses its client key.
    sock.curve_serverkey = known_server.server_public
    try:
        with pytest.raises(AuthenticationError, match="cluster secret mismatch"):
            connect_authenticated(sock, quorum.addresses[1], timeout=10)
    finally:
        sock.close(linger=0)


def test_malformed_raft_messages_and_requests_from_a_member_are_refused_by_name(quorum, zctx,
                                                                                   canary):
    payload, marker = canary
    keys = derive_keys(quorum.secret)
    for address in quorum.addresses.values():
        sock = authenticated_client(zctx, keys, address)
        try:
            # Raft frames: a pickle, another cluster's vote, an absurd append.
            sock.send_multipart([b"raft", payload])
            sock.send_multipart([b"raft", json.dumps({
                "v": 1, "cluster": "elsewhere", "type": "vote", "term": 1 << 40, "from": 2,
                "inc": "x", "last_index": 1 << 40, "last_term": 1 << 40}).encode()])
            sock.send_multipart([b"raft", json.dumps({
                "v": 1, "cluster": quorum.cluster_id, "type": "append", "term": "x"}).encode()])
            # A request header that is a pickle: answered with a named error.
            sock.send(payload)
            assert sock.poll(10_000)
            reply = json.loads(sock.recv())
            assert reply["error"]["type"] == "ProtocolError"
            assert "not JSON" in reply["error"]["message"]
        finally:
            sock.close(linger=0)
    assert_quorum_unharmed(quorum, marker, "after-malformed")
    with quorum.client() as client:
        terms = {client.ask(n, "describe")["status"]["term"] for n in quorum.ids}
    assert max(terms) < 1 << 40  # the forged vote of another cluster moved no term


@pytest.mark.slow
def test_a_gibibyte_from_peers_that_never_authenticate_grows_no_member_by_32_mib(quorum, canary):
    """Frames of at most 1 MiB, as on every ember listener: a peer without
    the secret makes a member hold about that much per connection, and the
    quorum keeps committing."""
    _, marker = canary
    node, address = next(iter(quorum.addresses.items()))
    with PeakRss(quorum.pids()[node]) as rss_of_member:
        read = flood_before_authenticating(port_of(address), 1 << 30)
    assert read >= (1 << 30) * 0.99, f"the member read {read >> 20} MiB of handshake frames"
    assert rss_of_member.growth < 32 << 20, \
        f"the member grew by {rss_of_member.growth >> 20} MiB while {read >> 20} MiB arrived"
    # A handshake frame claiming one byte more than the limit is refused at its header.
    with greeted(port_of(address)) as conn:
        conn.sendall(forged_header(DEFAULT_MAX_MESSAGE_SIZE + 1, command=True) + b"\0" * 4096)
        assert hung_up(conn), "the member waited for a handshake frame over the limit"
    assert_quorum_unharmed(quorum, marker, "after-flood")
