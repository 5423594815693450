"""Large messages over bounded frames (engine/wire/framing.py), through real
CURVE sockets whose frame limit (ZMQ_MAXMSGSIZE) is far below the messages
sent: they arrive whole, no frame on the wire is larger than CHUNK_BYTES, a
message over the receiver's limit is refused before its pieces are kept, and
a stream cut short leaves nothing behind."""

from __future__ import annotations

import os
import struct
import threading
import time

import pytest
import zmq

from ember.engine.errors import MessageTooLargeError, ProtocolError
from ember.engine.wire import framing
from ember.engine.wire.framing import CHUNK_BYTES, HEAD, PIECE, Reassembler
from ember.engine.wire.transport import (
    DEFAULT_MAX_MESSAGE_SIZE, Authenticator, Endpoint, MessageReader, client_socket,
    connect_authenticated, derive_keys, new_secret, send_message, server_socket,
)

LIMIT = DEFAULT_MAX_MESSAGE_SIZE


@pytest.fixture
def wire():
    """(zctx, keys): a ZeroMQ context with the ZAP handler of a fresh secret."""
    zctx = zmq.Context()
    keys = derive_keys(new_secret())
    auth = Authenticator(zctx, keys)
    yield zctx, keys
    auth.stop()
    zctx.destroy(linger=0)


class Inbox:
    """What an Endpoint's handler and refusal callback were given."""

    def __init__(self):
        self.messages: list[list] = []
        self.refused: list[tuple[list, MessageTooLargeError]] = []
        self.changed = threading.Condition()

    def handler(self, frames):
        with self.changed:
            self.messages.append(frames)
            self.changed.notify_all()

    def on_refused(self, frames, error):
        with self.changed:
            self.refused.append((frames, error))
            self.changed.notify_all()

    def wait(self, count: int, what: str = "messages", timeout: float = 30.0) -> list:
        with self.changed:
            assert self.changed.wait_for(lambda: len(getattr(self, what)) >= count, timeout), \
                f"only {len(getattr(self, what))} {what} of {count} arrived"
            return list(getattr(self, what))


@pytest.fixture
def server(wire):
    """(Endpoint, Inbox, address): a CURVE ROUTER with the default frame limit."""
    zctx, keys = wire
    made = []

    def start(**options):
        inbox = Inbox()
        sock, address = server_socket(zctx, zmq.ROUTER, keys)
        endpoint = Endpoint(zctx, sock, inbox.handler, "test-server", on_refused=inbox.on_refused,
                            **options).start()
        made.append(endpoint)
        return endpoint, inbox, address

    yield start
    for endpoint in made:
        endpoint.close()


def connect(wire, address, identity=b"peer-1"):
    zctx, keys = wire
    sock = client_socket(zctx, zmq.DEALER, keys, address, identity=identity)
    connect_authenticated(sock, address, 10)
    return sock


def test_messages_with_frames_far_past_the_frame_limit_arrive_whole_both_ways(wire, server):
    endpoint, inbox, address = server()
    client_inbox = Inbox()
    client = Endpoint(wire[0], connect(wire, address), client_inbox.handler, "test-client").start()
    try:
        big = os.urandom(3 * LIMIT + 12345)
        message = [b"header", big, b"", b"small", big[:CHUNK_BYTES + 1], big[:CHUNK_BYTES]]
        client.send(message)
        client.send([b"after it"])
        received = inbox.wait(2)
        assert received[0] == [b"peer-1", *message]
        assert received[1] == [b"peer-1", b"after it"], "order kept"
        assert all(isinstance(frame, bytes) for frame in received[1]), \
            "a message sent whole is handed on as bytes, as before"
        endpoint.send([b"peer-1", b"reply", big])
        assert client_inbox.wait(1) == [[b"reply", big]]
    finally:
        client.close()


def test_no_frame_on_the_wire_is_larger_than_a_chunk(wire):
    zctx, _ = wire
    pull = zctx.socket(zmq.PULL)
    pull.setsockopt(zmq.MAXMSGSIZE, CHUNK_BYTES + 64)  # a larger frame would be dropped
    port = pull.bind_to_random_port("tcp://127.0.0.1")
    push = zctx.socket(zmq.PUSH)
    push.connect(f"tcp://127.0.0.1:{port}")
    try:
        payload = bytes(range(256)) * (9 * CHUNK_BYTES // 256 + 7)
        send_message(push, [b"h", payload, b"tail"])
        raw = []
        for _ in range(1 + -(-len(payload) // CHUNK_BYTES)):  # the head, then the pieces
            assert pull.poll(10_000), "the stream stopped"
            raw.append(pull.recv_multipart())
        assert not pull.poll(200), "nothing more"
        assert raw[0][0].startswith(HEAD) and raw[0][1:] == [b"h", b"tail"]
        assert max(len(frame) for message in raw for frame in message) == CHUNK_BYTES
        assembler = Reassembler()
        results = [assembler.feed(None, message) for message in raw]
        assert results[:-1] == [None] * (len(raw) - 1)
        assert results[-1] == [b"h", payload, b"tail"]
        assert not assembler.pending
    finally:
        push.close(linger=0)
        pull.close(linger=0)


def pieces_of(frames: list) -> list[list]:
    """The messages framing.send makes of ``frames``."""

    class Recorder:
        type = zmq.DEALER

        def __init__(self):
            self.sent = []

        def send_multipart(self, message, copy=True):
            self.sent.append([bytes(part) for part in message])

    recorder = Recorder()
    framing.send(recorder, frames)
    return recorder.sent


def test_a_message_of_very_many_small_frames_and_one_large_frame_keeps_its_head_small():
    """A shuffle fetch answer may carry tens of thousands of small blocks
    beside one large one: its head names only the large frame."""
    frames = [b"header", *(b"%d" % i for i in range(70_000)), b"L" * (CHUNK_BYTES + 1), b"end"]
    stream = pieces_of(frames)
    assert len(stream) == 3 and len(stream[0][0]) < 64
    assembler = Reassembler()
    assert [assembler.feed(None, message) for message in stream] == [None, None, frames]


def test_a_message_over_the_receivers_limit_is_refused_at_its_head_and_its_pieces_are_dropped():
    stream = pieces_of([b'{"id": 7}', b"x" * (5 * CHUNK_BYTES)])
    assembler = Reassembler(limit=4 * CHUNK_BYTES, limit_name="socket.request.max.bytes")
    with pytest.raises(MessageTooLargeError, match=r"of 2621449 bytes is larger than the "
                                                   r"2097152 bytes allowed \(socket.request.max."
                                                   r"bytes\)") as refused:
        assembler.feed(b"peer", stream[0])
    assert refused.value.head == b'{"id": 7}', "the header is kept, to answer the request"
    assert (refused.value.size, refused.value.limit) == (2621449, 4 * CHUNK_BYTES)
    assert [assembler.feed(b"peer", piece) for piece in stream[1:]] == [None] * 5
    assert not assembler.pending, "nothing kept of the refused message"
    assert assembler.feed(b"peer", [b"next"]) == [b"next"]


def test_a_message_sent_whole_is_bounded_by_the_same_limit():
    assembler = Reassembler(limit=100)
    with pytest.raises(MessageTooLargeError) as refused:
        assembler.feed(None, [b"h" * 60, b"p" * 60])
    assert refused.value.head == b"h" * 60
    assert assembler.feed(None, [b"h" * 50, b"p" * 50]) == [b"h" * 50, b"p" * 50]


def test_a_new_message_from_the_same_peer_abandons_one_cut_short():
    first = pieces_of([b"first", b"1" * (3 * CHUNK_BYTES)])
    second = pieces_of([b"second", b"2" * (2 * CHUNK_BYTES + 1)])
    assembler = Reassembler()
    for message in first[:2]:  # the connection dropped after one piece
        assert assembler.feed(b"a", message) is None
    results = [assembler.feed(b"a", message) for message in second]
    assert results[-1] == [b"second", b"2" * (2 * CHUNK_BYTES + 1)]
    assert not assembler.pending
    # A plain message abandons one in progress too.
    assembler.feed(b"a", first[0])
    assert assembler.feed(b"a", [b"plain"]) == [b"plain"]
    assert not assembler.pending
    assert assembler.feed(b"a", first[1]) is None, "a late piece of it is ignored"


def test_a_lost_piece_is_noticed_not_glued_over():
    stream = pieces_of([b"h", b"z" * (4 * CHUNK_BYTES)])
    assembler = Reassembler()
    assembler.feed(b"a", stream[0])
    assembler.feed(b"a", stream[1])
    with pytest.raises(ProtocolError, match="at offset 1048576 .* at offset 524288 were due"):
        assembler.feed(b"a", stream[3])
    assert not assembler.pending
    assert assembler.feed(b"a", stream[4]) is None


def test_peers_streams_are_kept_apart():
    a = pieces_of([b"a", b"A" * (3 * CHUNK_BYTES)])
    b = pieces_of([b"b", b"B" * (2 * CHUNK_BYTES + 5)])
    assembler = Reassembler()
    done = {}
    for index in range(max(len(a), len(b))):
        for peer, stream in ((b"pa", a), (b"pb", b)):
            if index < len(stream):
                result = assembler.feed(peer, stream[index])
                if result is not None:
                    done[peer] = result
    assert done == {b"pa": [b"a", b"A" * (3 * CHUNK_BYTES)],
                    b"pb": [b"b", b"B" * (2 * CHUNK_BYTES + 5)]}


def test_a_message_whose_sender_went_silent_is_swept():
    stream = pieces_of([b"h", b"s" * (2 * CHUNK_BYTES)])
    assembler = Reassembler()
    assembler.feed(b"gone", stream[0])
    assembler.feed(b"gone", stream[1])
    assert assembler.sweep(time.monotonic() + 1) == 0 and assembler.pending
    assert assembler.sweep(time.monotonic() + framing.STALE_AFTER + 1) == 1
    assert not assembler.pending


@pytest.mark.parametrize("message, problem", [
    ([b"\x00what"], "unknown tag"),
    ([HEAD + b"\x01\x02"], "malformed layout"),
    ([HEAD + (10).to_bytes(8, "little")], "malformed layout"),
    ([HEAD + struct.pack("<QQQ", 3, 0, 2 * CHUNK_BYTES), b"one"], "does not match its layout"),
    ([HEAD + struct.pack("<QQQ", 2, 0, CHUNK_BYTES), b"one"], "does not match its layout"),
    ([PIECE + bytes(8), b"data"], None),  # a piece of nothing in progress: ignored
])
def test_malformed_streams_are_protocol_errors_naming_the_problem(message, problem):
    assembler = Reassembler()
    if problem is None:
        assert assembler.feed(b"a", message) is None
        return
    with pytest.raises(ProtocolError, match=problem):
        assembler.feed(b"a", message)


def test_an_endpoint_over_its_limit_tells_its_owner_with_the_peer_and_header(wire, server):
    endpoint, inbox, address = server(max_message_bytes=2 * LIMIT, limit_name="a test limit")
    client = connect(wire, address)
    try:
        send_message(client, [b"header-7", b"q" * (3 * LIMIT)])
        send_message(client, [b"fits", b"q" * LIMIT])
        (frames, error), = inbox.wait(1, "refused")
        assert frames == [b"peer-1", b"header-7"]
        assert "(a test limit)" in str(error) and error.size == 3 * LIMIT + 8
        assert inbox.wait(1) == [[b"peer-1", b"fits", b"q" * LIMIT]]
    finally:
        client.close(linger=0)


def test_a_message_reader_gives_whole_messages_on_a_socket_served_by_hand(wire, server):
    endpoint, inbox, address = server()
    reader = MessageReader(connect(wire, address, identity=b"reader"))
    try:
        block = os.urandom(2 * LIMIT + 3)
        endpoint.send([b"reader", b"response", block, b"end"])
        deadline = time.monotonic() + 30
        message = None
        while message is None and time.monotonic() < deadline:
            reader.sock.poll(100)
            message = reader.receive()
        assert [framing.as_buffer(frame) for frame in message] == [b"response", block, b"end"]
    finally:
        reader.sock.close(linger=0)
