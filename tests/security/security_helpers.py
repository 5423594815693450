"""Tools of the security suite: the canary, what "unharmed" means, ZMTP
byte strings written by hand, and a recording TCP relay.

The relay sits between a real authenticated client and a real server on
loopback. It parses the client's byte stream as ZMTP 3 (a 64-byte greeting,
then frames: one flags byte, a 1- or 8-byte size, the body) so a test can
hold back, alter or add frames after the CURVE handshake (the client's first
two frames are HELLO and INITIATE), and it keeps every byte the client sent,
for replay on a new connection.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time

import zmq
from zmq.utils.monitor import recv_monitor_message

import psutil

from ember.engine.wire.transport import DEFAULT_MAX_MESSAGE_SIZE, client_socket, connect_authenticated
from tests.waiting import wait_for

GREETING_BYTES = 64
HANDSHAKE_FRAMES = 2  # a CURVE client sends HELLO, then INITIATE
LONG = 0x02
COMMAND = 0x04
TWO_GIB = 2 ** 31


class Canary:
    """Unpickling this creates the marker directory."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def greeting(mechanism: bytes = b"CURVE", as_server: bool = False) -> bytes:
    """A ZMTP 3.0 greeting, byte for byte."""
    return (b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03\x00" + mechanism.ljust(20, b"\x00")
            + bytes([as_server]) + b"\x00" * 31)


def frame(body: bytes, command: bool = False) -> bytes:
    """One ZMTP frame carrying ``body``."""
    flags = COMMAND if command else 0
    if len(body) > 255:
        return bytes([flags | LONG]) + struct.pack(">Q", len(body)) + body
    return bytes([flags, len(body)]) + body


def forged_header(size: int, command: bool = False) -> bytes:
    """The header of a frame claiming ``size`` bytes, none of which follow."""
    return bytes([(COMMAND if command else 0) | LONG]) + struct.pack(">Q", size)


def null_ready(socket_type: bytes = b"DEALER") -> bytes:
    """The READY command a NULL-mechanism peer sends after its greeting."""
    prop = b"\x0bSocket-Type" + struct.pack(">I", len(socket_type)) + socket_type
    return frame(b"\x05READY" + prop, command=True)


def offer(sock: zmq.Socket, *messages: list) -> None:
    """Queue messages on a socket that may never get a peer: an
    unauthenticated client's connection is torn down after its failed
    handshake, and a blocking send would then wait for ever."""
    for message in messages:
        try:
            sock.send_multipart(message, zmq.NOBLOCK)
        except zmq.Again:
            pass


def assert_curve_refused_without_the_secret(zctx: zmq.Context, address: str, server_public: bytes,
                                            payload: bytes) -> None:
    """A CURVE client that knows the server's public key (as if it leaked)
    but not the secret fails its handshake, its ``payload`` undelivered."""
    client = zctx.socket(zmq.DEALER)
    client.setsockopt(zmq.LINGER, 0)
    public, secret = zmq.curve_keypair()
    client.curve_serverkey, client.curve_publickey, client.curve_secretkey = server_public, public, secret
    monitor = client.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_SUCCEEDED)
    try:
        client.connect(address)
        offer(client, [payload])
        assert monitor.poll(5000), "no handshake outcome"
        assert recv_monitor_message(monitor)["event"] == zmq.EVENT_HANDSHAKE_FAILED_AUTH
        client.disable_monitor()
    finally:
        monitor.close(linger=0)
        client.close(linger=0)


def closed_by_server(port: int, *parts: bytes, timeout: float = 5.0) -> bool:
    """Whether the server hangs up on a connection that sends ``parts``
    (rather than waiting for more).

    Parts go one at a time, each after the server's answer to the one before
    (or a short pause), as a real peer paces a handshake: libzmq drops a peer
    whose greeting arrives run together with what follows it, so sending
    everything at once would be refused for the wrong reason."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        try:
            for part in parts:
                conn.sendall(part)
                conn.settimeout(0.2)
                try:
                    if conn.recv(65536) == b"":
                        return True
                except socket.timeout:
                    pass
            conn.settimeout(timeout)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if not conn.recv(65536):
                    return True
        except ConnectionResetError:
            return True
        except (socket.timeout, OSError):
            return False
    return False


def send_raw(port: int, payload: bytes) -> None:
    """Send ``payload`` as raw TCP bytes to a port three ways, each on its own
    connection: alone, after a ZMTP signature, and fifty times over."""
    for data in (payload, b"\xff" + b"\x00" * 8 + b"\x7f" + payload, payload * 50):
        with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
            try:
                conn.sendall(data)
                conn.recv(64)
            except OSError:
                pass


def cluster_ports(sc) -> dict[str, int]:
    """{'driver': port, 'w-0 shuffle service': port, ...}: every port a Context listens on."""
    ports = {"driver": int(sc._backend.address.rsplit(":", 1)[1])}
    for worker_id, registration in sorted(sc._backend.registered().items()):
        ports[f"{worker_id} shuffle service"] = int(registration.shuffle_address.rsplit(":", 1)[1])
    return ports


def settle() -> None:
    # Let anything that got through reach an unpickler before looking for
    # the marker.
    time.sleep(0.3)


def assert_cluster_unharmed(sc, marker=None) -> None:
    settle()
    assert marker is None or not os.path.exists(marker), "a canary pickle was unpickled"
    assert not sc._cluster.exited(), f"workers died: {sc._cluster.exited()}"
    assert len(sc._cluster.pids()) == 2
    assert sc.parallelize(range(100), 4).map(lambda x: (x % 3, 1)).reduceByKey(
        lambda a, b: a + b).collectAsMap() == {0: 34, 1: 33, 2: 33}


def assert_broker_unharmed(store, marker=None) -> None:
    settle()
    assert marker is None or not os.path.exists(marker), "a canary pickle was unpickled"
    assert store.alive()
    producer = store.producer()
    try:
        assert producer.send("t", value=b"legit").get(timeout=10).offset >= 0
    finally:
        producer.close()


class Relay:
    """A recording TCP relay in front of ``127.0.0.1:target_port``.

    It accepts one connection on ``self.port``. ``alter(index, raw)`` gets
    each whole frame the client sends after its greeting (``index`` counts
    from 0; ``raw`` includes the frame header) and returns the bytes to pass
    on (``b""`` holds the frame back). ``self.recorded`` keeps everything the
    client sent, unaltered, in the pieces it arrived in. ``self.server_closed`` is set when the server
    hangs up.
    """

    def __init__(self, target_port: int, alter=None):
        self._target = target_port
        self._alter = alter or (lambda index, raw: raw)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.recorded: list[bytes] = []  # the client's bytes, in the pieces they came in
        self.frames: list[bytes] = []
        self.server_closed = threading.Event()
        self._upstream: socket.socket | None = None
        self._client: socket.socket | None = None
        self._write_lock = threading.Lock()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    # --- relaying -----------------------------------------------------------

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except OSError:
            return
        finally:
            self._listener.close()  # one connection only: a reconnect finds nothing
        self._client = client
        self._upstream = socket.create_connection(("127.0.0.1", self._target))
        for target in (self._client_to_server, self._server_to_client):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)

    def _client_to_server(self) -> None:
        buffer = bytearray()
        greeting_left = GREETING_BYTES
        while True:
            try:
                chunk = self._client.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                return
            self.recorded.append(chunk)
            if greeting_left:
                # libzmq sends its greeting in parts and waits for the peer's
                # in between: pass each part on at once.
                part, chunk = chunk[:greeting_left], chunk[greeting_left:]
                greeting_left -= len(part)
                self.inject(part)
            buffer += chunk
            while True:
                raw = _take_frame(buffer)
                if raw is None:
                    break
                self.frames.append(raw)
                out = self._alter(len(self.frames) - 1, raw)
                if out:
                    self.inject(out)

    def _server_to_client(self) -> None:
        while True:
            try:
                chunk = self._upstream.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                self.server_closed.set()
                return
            try:
                self._client.sendall(chunk)
            except OSError:
                pass

    def inject(self, data: bytes) -> bool:
        """Write bytes to the server as if the client sent them; False once
        the server has hung up."""
        try:
            with self._write_lock:
                self._upstream.sendall(data)
            return True
        except OSError:
            return False

    def after_handshake(self, count: int, timeout: float = 10.0) -> None:
        """Wait until the client sent ``count`` frames after its handshake."""
        wait_for(lambda: len(self.frames) >= HANDSHAKE_FRAMES + count, timeout, interval=0.02,
                 what=f"the client to send {count} frames after its handshake")

    def close(self) -> None:
        for sock in (self._listener, self._client, self._upstream):
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
        for thread in self._threads:
            thread.join(5)


def _take_frame(buffer: bytearray) -> bytes | None:
    if len(buffer) < 2:
        return None
    if buffer[0] & LONG:
        if len(buffer) < 9:
            return None
        end = 9 + struct.unpack(">Q", bytes(buffer[1:9]))[0]
    else:
        end = 2 + buffer[1]
    if len(buffer) < end:
        return None
    raw = bytes(buffer[:end])
    del buffer[:end]
    return raw


def flip_last_byte(index: int, raw: bytes, which: int = HANDSHAKE_FRAMES) -> bytes:
    """An ``alter`` for Relay: flip one bit of the MAC-protected box of the
    first frame after the handshake."""
    if index != which:
        return raw
    return raw[:-1] + bytes([raw[-1] ^ 0x01])


def hold_after_handshake(index: int, raw: bytes) -> bytes:
    """An ``alter`` for Relay: complete the handshake, deliver nothing more."""
    return raw if index < HANDSHAKE_FRAMES else b""


def authenticated_client(zctx: zmq.Context, keys, address: str, identity: bytes | None = None,
                         max_message_size: int = -1) -> zmq.Socket:
    """A DEALER holding the cluster's client keys, connected and past its
    CURVE handshake (through a relay, if ``address`` is one)."""
    sock = client_socket(zctx, zmq.DEALER, keys, address, identity=identity,
                         max_message_size=max_message_size)
    try:
        connect_authenticated(sock, address, timeout=10)
    except BaseException:
        sock.close(linger=0)
        raise
    return sock


def greeted(port):
    """A raw connection past the greeting exchange: the CURVE greeting sent,
    the server's read (pacing as a real peer does)."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=5)
    conn.sendall(greeting())
    received = b""
    while len(received) < 64:
        chunk = conn.recv(64 - len(received))
        assert chunk, "the server hung up on a well-formed greeting"
        received += chunk
    return conn


def hung_up(conn, timeout=5.0) -> bool:
    conn.settimeout(timeout)
    try:
        while conn.recv(65536):
            pass
        return True
    except ConnectionResetError:
        return True
    except OSError:
        return False


class PeakRss:
    """Samples a process's RSS in a thread, from ``start`` until ``stop``."""

    def __init__(self, pid):
        self._process = psutil.Process(pid)
        self.before = self.peak = self._process.memory_info().rss
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while not self._done.wait(0.01):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)

    @property
    def growth(self) -> int:
        return self.peak - self.before


def flood_before_authenticating(port, total, streams=4) -> int:
    """Send ``total`` bytes to ``port`` from peers that never authenticate,
    ``streams`` connections at a time: each sends a CURVE greeting and then a
    command frame as large as the listener reads (the limit), which the
    server takes in whole, refuses as a HELLO and hangs up on; then the next
    connection. Returns the bytes the server read in full."""
    # One buffer for every frame: the sender (the driver's own process, for
    # the driver) allocates nothing as it goes.
    frame = forged_header(DEFAULT_MAX_MESSAGE_SIZE, command=True) + b"\xa5" * DEFAULT_MAX_MESSAGE_SIZE
    per_stream = total // DEFAULT_MAX_MESSAGE_SIZE // streams
    read = [0] * streams

    def stream(index):
        for _ in range(per_stream):
            with greeted(port) as conn:
                try:
                    conn.sendall(frame)
                except OSError:
                    continue  # hung up before the frame's end: not read in full
                if hung_up(conn, timeout=10):
                    read[index] += DEFAULT_MAX_MESSAGE_SIZE

    threads = [threading.Thread(target=stream, args=(i,)) for i in range(streams)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(read)
