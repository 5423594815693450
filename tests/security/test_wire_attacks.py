"""Attacks on the wire against every kind of listening port: the driver, each
worker's shuffle service and the log store broker (RELIABILITY.md S01-S06,
S09, S11).

The driver and the shuffle services unpickle what an authenticated peer
sends, so each attack carries a canary pickle whose unpickling would create a
marker directory. The broker never unpickles; there an attack carries a
request with a visible effect (creating a topic) as well. Pass means: the
marker never appears, the attacked process is still alive, and a legitimate
job and a broker round trip afterwards succeed.
"""

from __future__ import annotations

import os

import pytest
import zmq
from zmq.utils.monitor import recv_monitor_message

from ember.engine.errors import AuthenticationError, ProtocolError
from ember.engine.wire.transport import derive_keys
from ember.ingest import connect, protocol
from ember.ingest.client.producer import Producer
from security_helpers import (
    HANDSHAKE_FRAMES, assert_broker_unharmed, assert_cluster_unharmed, authenticated_client,
    closed_by_server, cluster_ports, flip_last_byte, forged_header, frame, greeting,
    hold_after_handshake, null_ready, offer, settle, TWO_GIB,
)
from tests.waiting import wait_for

pytestmark = pytest.mark.security


def test_the_attack_tools_would_get_through_to_a_server_without_curve(zctx, relay):
    """The control experiment: against a plain ZeroMQ server (NULL
    mechanism), the hand-written ZMTP bytes deliver their message, a replayed
    recording delivers the message the relay held back, and a flipped byte
    arrives flipped. So when an ember server refuses them, CURVE did."""
    server = zctx.socket(zmq.ROUTER)
    server.setsockopt(zmq.LINGER, 0)
    port = server.bind_to_random_port("tcp://127.0.0.1")
    try:
        assert not closed_by_server(port, greeting(b"NULL"), null_ready() + frame(b"by hand"), timeout=1)
        assert server.poll(2000) and server.recv_multipart()[1:] == [b"by hand"]

        recorder = relay(port, lambda index, raw: raw if index < 1 else b"")  # NULL: READY only
        client = zctx.socket(zmq.DEALER)
        client.connect(recorder.address)
        client.send(b"held back")
        wait_for(lambda: len(recorder.frames) == 2, timeout=10, interval=0.02,  # READY, then the message
                 what="the relay to record READY and the message")
        assert not server.poll(300)
        client.close(linger=0)
        assert not closed_by_server(port, *recorder.recorded, timeout=1)
        assert server.poll(2000) and server.recv_multipart()[1:] == [b"held back"]

        tamperer = relay(port, lambda index, raw: flip_last_byte(index, raw, which=1))
        client = zctx.socket(zmq.DEALER)
        client.connect(tamperer.address)
        client.send(b"flip")
        assert server.poll(5000) and server.recv_multipart()[1:] == [b"fliq"]  # p ^ 1
        client.close(linger=0)
    finally:
        server.close(linger=0)


@pytest.fixture
def ports(sc, store):
    """Every listening port of the cluster and of the broker, by name."""
    return {**cluster_ports(sc), "broker": store.port}


def keys_for(name, sc, store):
    return derive_keys(store.secret if name == "broker" else sc._cluster._secret)


def create_topic_request(topic):
    return protocol.request(7, "create_topic", {"topic": topic, "partitions": 1, "config": None})


def assert_everything_unharmed(sc, store, marker):
    assert_cluster_unharmed(sc, marker)
    assert_broker_unharmed(store, marker)


def test_raw_bytes_and_zmtp_greetings_followed_by_garbage_are_dropped_on_every_port(
        sc, store, ports, canary):
    payload, marker = canary
    attacks = {  # each a sequence of pieces sent one after the other
        "the bare canary pickle": [payload],
        "a CURVE greeting, then the canary as a message": [greeting(), frame(payload)],
        "a CURVE greeting, then garbage": [greeting(), os.urandom(4096)],
        "a CURVE greeting, then a malformed HELLO": [greeting(), frame(b"\x05HELLO" + payload,
                                                                      command=True)],
        "a NULL greeting, READY, then the canary": [greeting(b"NULL"), null_ready() + frame(payload)],
        "a PLAIN greeting, then the canary": [greeting(b"PLAIN"), frame(payload)],
        "a greeting claiming to be the server": [greeting(as_server=True), frame(payload)],
        "a CURVE greeting, then a frame claiming 2 GiB": [greeting(), forged_header(TWO_GIB, command=True)],
    }
    for name, port in ports.items():
        for attack, parts in attacks.items():
            assert closed_by_server(port, *parts), f"the {name} kept a connection open after {attack}"
    assert_everything_unharmed(sc, store, marker)


@pytest.mark.parametrize("mechanism", ["NULL", "PLAIN"])
def test_zmtp_clients_with_the_null_or_plain_mechanism_deliver_nothing(
        sc, store, ports, canary, zctx, mechanism):
    payload, marker = canary
    for name, port in ports.items():
        client = zctx.socket(zmq.DEALER)
        client.setsockopt(zmq.LINGER, 0)
        if mechanism == "PLAIN":
            client.plain_username, client.plain_password = b"ember", b"guess"
        monitor = client.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_AUTH
                                            | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                                            | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)
        client.connect(f"tcp://127.0.0.1:{port}")
        offer(client, [create_topic_request("by-" + mechanism.lower()), payload], [payload])
        assert monitor.poll(5000), f"no handshake outcome from the {name}"
        event = recv_monitor_message(monitor)["event"]
        assert event != zmq.EVENT_HANDSHAKE_SUCCEEDED, f"the {name} accepted a {mechanism} client"
        client.disable_monitor()
        monitor.close(linger=0)
        client.close(linger=0)
    assert "by-" + mechanism.lower() not in store.topics()
    assert_everything_unharmed(sc, store, marker)


def test_a_replayed_recording_of_an_authenticated_session_is_rejected(
        sc, store, ports, canary, zctx, relay):
    """The session completes its CURVE handshake through a recording relay,
    then sends the canary, which the relay holds back. Replayed byte for byte
    on a new connection, the recording fails the handshake (the server's
    cookie and session keys are new), so the canary is never unpickled."""
    payload, marker = canary
    for name, port in ports.items():
        if name == "broker":
            continue  # below: a replayed broker session with a visible effect
        recorder = relay(port, hold_after_handshake)
        client = authenticated_client(zctx, keys_for(name, sc, store), recorder.address,
                                      identity=b"replayer")
        client.send(payload)
        recorder.after_handshake(1)  # the canary was sent
        client.close(linger=0)
        assert closed_by_server(port, *recorder.recorded), f"the {name} accepted a replay"
    assert_everything_unharmed(sc, store, marker)


def test_a_replayed_broker_session_does_not_repeat_its_request(store, zctx, relay):
    recorder = relay(store.port)
    client = authenticated_client(zctx, derive_keys(store.secret), recorder.address)
    client.send(create_topic_request("replayed"))
    assert client.poll(10_000), "no reply to the recorded request"
    assert "error" not in protocol.decode(client.recv())
    client.close(linger=0)
    assert "replayed" in store.topics()  # the recording holds a request that worked
    store.delete_topic("replayed")
    recorder.after_handshake(1)
    assert closed_by_server(store.port, *recorder.recorded), "the broker accepted a replay"
    settle()
    assert "replayed" not in store.topics()
    assert_broker_unharmed(store)


def test_a_frame_tampered_with_after_the_handshake_drops_the_connection(
        sc, store, ports, canary, zctx, relay):
    payload, marker = canary
    for name, port in ports.items():
        tamperer = relay(port, flip_last_byte)
        client = authenticated_client(zctx, keys_for(name, sc, store), tamperer.address)
        if name == "broker":
            client.send_multipart([create_topic_request("tampered"), payload])
        else:
            client.send(payload)
        assert tamperer.server_closed.wait(5), f"the {name} kept a connection with a forged frame"
        assert len(tamperer.frames) > HANDSHAKE_FRAMES  # what was flipped was a message
        client.close(linger=0)
    assert "tampered" not in store.topics()
    assert_everything_unharmed(sc, store, marker)


def test_malformed_messages_from_an_authenticated_peer_get_a_named_error_or_are_dropped(
        sc, store, ports, zctx, canary):
    garbage = [[b""], [os.urandom(64)], [b"\x80\x05"], [b"\x80\x05N."], [b"{}"], [b"[1, 2]"],
               [b'{"v":1,"id":"x","op":"fetch"}'], [b'{"v":1,"id":3,"op":"no-such-op"}'],
               [b'{"v":1,"id":4,"op":"fetch","topic":"t","partition":0,"offset":0,"max_bytes":-1}'],
               [b'{"v":1,"id":5,"op":"produce","acks":-1,"partitions":[["t",0]]}', b"not a batch"]]
    for name, port in ports.items():
        client = authenticated_client(zctx, keys_for(name, sc, store), f"tcp://127.0.0.1:{port}")
        for frames in garbage:
            client.send_multipart(frames)
        if name == "broker":  # every request gets a reply naming its problem
            replies = []
            while len(replies) < len(garbage) and client.poll(5000):
                replies.append(protocol.decode(client.recv()))
            assert len(replies) == len(garbage)
            # Request threads answer in any order: match replies by id.
            (produced,) = [reply for reply in replies if reply["id"] == 5]
            assert produced["results"][0]["error"]["type"] == "CorruptRecordError"
            refused = {reply["id"]: reply["error"] for reply in replies if reply["id"] != 5}
            assert all(error["type"] == "ProtocolError" for error in refused.values()), refused
            assert "no-such-op" in refused[3]["message"] and "max_bytes" in refused[4]["message"]
        client.close(linger=0)
    assert_everything_unharmed(sc, store, canary[1])


def test_a_broker_client_with_the_wrong_secret_fails_at_once_without_revealing_secrets(store):
    wrong = os.urandom(32)
    for attempt in (lambda: connect(store.address, secret=wrong, timeout=10),
                    lambda: Producer(store.address, secret=wrong)):
        with pytest.raises(AuthenticationError,
                           match="authentication failed: cluster secret mismatch") as info:
            attempt()
        text = "".join(str(item) for item in (info.value, info.value.__cause__, info.value.__context__))
        for secret in (wrong, store.secret):
            assert secret.hex() not in text
            keys = derive_keys(secret)
            assert keys.client_secret.decode() not in text and keys.server_secret.decode() not in text
    for _ in range(30):  # again and again in one process: each time the same named error
        with pytest.raises(AuthenticationError, match="cluster secret mismatch"):
            connect(store.address, secret=os.urandom(32), timeout=10)
    with pytest.raises(ProtocolError, match="no-such-op"):
        store._admin.request("no-such-op")
    assert_broker_unharmed(store)
