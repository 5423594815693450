"""ZeroMQ transport and its authentication.

Owns every socket ember opens and how it is secured:

* **One secret per cluster.** A random 32-byte secret (fresh per local
  Context, or read from a 0600 file for a remote cluster). Both CURVE key
  pairs are derived from it with HMAC-SHA256: the server pair (driver,
  shuffle services) and the client pair (every connecting peer). Knowing the
  secret is the only way to obtain either secret key.
* **CURVE everywhere, ZAP first.** Every server socket is a CURVE server whose
  ZAP handler admits only the derived client public key, so a peer that
  knows the server's public key but not the secret is rejected in the
  handshake (HANDSHAKE_FAILED_AUTH), and a peer with a wrong secret cannot
  even complete the CURVE hello. No byte of an unauthenticated peer ever
  reaches application code, so nothing unauthenticated is ever unpickled.
* **Bounded frames.** ``ZMQ_MAXMSGSIZE`` on every socket: an oversized frame
  (or a forged 2 GiB length prefix) drops the connection without allocating.
  libzmq applies it to each frame, the CURVE handshake's included, so it is
  also all a peer that has not authenticated can make a process buffer per
  connection: 1 MiB by default. Larger payloads cross in bounded pieces
  (``framing``), sent and put back together by ``Endpoint`` and by
  ``send_message``/``MessageReader`` for sockets served by hand; a receiver
  may bound the whole message (``max_message_bytes``).
* **Loopback by default.** Servers bind 127.0.0.1 on an ephemeral port unless
  a host is given.

``Endpoint`` runs one socket in one I/O thread: received messages go to a
handler; any thread may ``send`` (through a per-thread inproc PUSH socket, so
the ZeroMQ socket itself is only ever touched by its own thread). Messages
of any size go in and come out whole; on the wire no frame is larger than
``framing.CHUNK_BYTES``.

The secret never appears in argv, logs or error messages.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Callable

import zmq
from zmq.utils import z85

from ember.engine.errors import AuthenticationError, MessageTooLargeError, ProtocolError
from ember.engine.wire import framing

log = logging.getLogger("ember.transport")

SECRET_BYTES = 32
ZAP_DOMAIN = "ember"
# ZMQ_MAXMSGSIZE (per frame, handshake included): ``ember.network.maxMessageSize``.
DEFAULT_MAX_MESSAGE_SIZE = 1024 ** 2
RECEIVE_QUEUE = 64  # messages (ZMQ_RCVHWM): 32 MiB of pieces

# Socket monitor events of interest (libzmq >= 4.3).
_HANDSHAKE_OK = zmq.EVENT_HANDSHAKE_SUCCEEDED
_HANDSHAKE_FAILED = (zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                     | zmq.EVENT_HANDSHAKE_FAILED_AUTH)


# Names of inproc endpoints. Not id(): libzmq unbinds a closed socket's
# endpoint later, on its reaper thread, so a new object at a recycled address
# would find the name still taken (EADDRINUSE).
_inproc_names = itertools.count()


def new_secret() -> bytes:
    return os.urandom(SECRET_BYTES)


@dataclass(frozen=True)
class ClusterKeys:
    """CURVE key pairs derived from a cluster secret (Z85-encoded)."""

    server_public: bytes
    server_secret: bytes
    client_public: bytes
    client_secret: bytes

    def __repr__(self) -> str:  # never print secret keys
        return f"ClusterKeys(server_public={self.server_public!r})"


def derive_keys(secret: bytes) -> ClusterKeys:
    if not isinstance(secret, bytes) or len(secret) < 16:
        raise AuthenticationError("the cluster secret must be at least 16 random bytes")

    def pair(role: bytes) -> tuple[bytes, bytes]:
        secret_key = z85.encode(hmac.new(secret, b"ember curve key v1 " + role, hashlib.sha256).digest())
        return zmq.curve_public(secret_key), secret_key

    server_public, server_secret = pair(b"server")
    client_public, client_secret = pair(b"client")
    return ClusterKeys(server_public, server_secret, client_public, client_secret)


class _ClientKeyCheck:
    """ZAP credentials provider: only the cluster's client key is admitted."""

    def __init__(self, client_public: bytes):
        self._expected = client_public

    def callback(self, domain: str, key: bytes) -> bool:
        admitted = hmac.compare_digest(key, self._expected)
        if not admitted:
            log.warning("rejected a connection that did not present the cluster's key")
        return admitted


class Authenticator:
    """The ZAP handler of one ZeroMQ context (one thread, started once)."""

    def __init__(self, zctx: zmq.Context, keys: ClusterKeys):
        from zmq.auth.thread import ThreadAuthenticator

        self._auth = ThreadAuthenticator(zctx, log=logging.getLogger("ember.transport.zap"))
        self._auth.start()
        self._auth.configure_curve_callback(ZAP_DOMAIN, credentials_provider=_ClientKeyCheck(keys.client_public))

    def stop(self) -> None:
        self._auth.stop()


def _limit(sock: zmq.Socket, max_message_size: int) -> None:
    sock.setsockopt(zmq.MAXMSGSIZE, max_message_size)
    sock.setsockopt(zmq.LINGER, 0)
    # ROUTER silently drops messages past the send high-water mark; ember's
    # own protocol bounds what is in flight, so no message may be dropped.
    sock.setsockopt(zmq.SNDHWM, 0)
    # Past the receive high-water mark libzmq stops reading the connection
    # (nothing is dropped: the sender queues): a large message's pieces wait
    # on the sender's side, which references its buffer, rather than pile up
    # decrypted here faster than they are put together.
    sock.setsockopt(zmq.RCVHWM, RECEIVE_QUEUE)


def server_socket(zctx: zmq.Context, kind: int, keys: ClusterKeys, host: str = "127.0.0.1",
                  port: int = 0, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
                  ) -> tuple[zmq.Socket, str]:
    """A CURVE server socket bound to ``host:port`` (port 0: ephemeral).
    Returns it and its ``tcp://host:port`` address."""
    sock = zctx.socket(kind)
    _limit(sock, max_message_size)
    sock.curve_server = True
    sock.curve_secretkey = keys.server_secret
    sock.curve_publickey = keys.server_public
    sock.zap_domain = ZAP_DOMAIN.encode()
    if port:
        sock.bind(f"tcp://{host}:{port}")
    else:
        port = sock.bind_to_random_port(f"tcp://{host}")
    return sock, f"tcp://{host}:{port}"


def client_socket(zctx: zmq.Context, kind: int, keys: ClusterKeys, address: str,
                  identity: bytes | None = None,
                  max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> zmq.Socket:
    """A CURVE client socket (not yet connected)."""
    sock = zctx.socket(kind)
    _limit(sock, max_message_size)
    sock.curve_serverkey = keys.server_public
    sock.curve_publickey = keys.client_public
    sock.curve_secretkey = keys.client_secret
    if identity is not None:
        sock.setsockopt(zmq.ROUTING_ID, identity)
    return sock


def connect_authenticated(sock: zmq.Socket, address: str, timeout: float) -> None:
    """Connect and wait for the CURVE handshake. Raises AuthenticationError
    at the first handshake failure (a wrong secret fails in milliseconds),
    or ConnectionError when nothing answers within ``timeout`` seconds."""
    from zmq.utils.monitor import recv_monitor_message

    monitor_address = f"inproc://ember-monitor-{next(_inproc_names)}-{os.getpid()}"
    sock.monitor(monitor_address, _HANDSHAKE_OK | _HANDSHAKE_FAILED)
    monitor = sock.context.socket(zmq.PAIR)
    monitor.connect(monitor_address)
    try:
        sock.connect(address)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ConnectionError(f"no answer from {address} within {timeout:.0f} s")
            if not monitor.poll(int(left * 1000) + 1):
                continue
            event = recv_monitor_message(monitor)["event"]
            if event == _HANDSHAKE_OK:
                return
            if event & _HANDSHAKE_FAILED:
                raise AuthenticationError(
                    f"authentication failed: cluster secret mismatch (connecting to {address})")
    finally:
        sock.monitor(None, 0)
        monitor.close(linger=0)


Handler = Callable[[list], None]
# Called on the I/O thread with a refused message's routing frame (ROUTER
# sockets) and first frame (when it came whole), and the error.
Refusal = Callable[[list, MessageTooLargeError], None]

_STOP = b""


def send_message(sock: zmq.Socket, frames: list) -> None:
    """Send one message of any size on a socket served by hand (not by an
    Endpoint), in bounded frames. On a ROUTER socket frame 0 is the peer's
    routing id."""
    framing.send(sock, frames, sock.type == zmq.ROUTER)


class MessageReader:
    """Receives whole messages from one DEALER socket served by hand.
    ``max_message_bytes``: see ``Endpoint``."""

    def __init__(self, sock: zmq.Socket, max_message_bytes: int | None = None,
                 limit_name: str = "its limit"):
        self.sock = sock
        self._inbox = framing.Reassembler(max_message_bytes, limit_name)

    def receive(self) -> list | None:
        """The next whole message if one has arrived (its frames as
        zmq.Frame, bytes or bytearray: ``framing.as_buffer`` reads each
        without a copy), else None. Never blocks. Raises
        MessageTooLargeError or ProtocolError for a refused message."""
        while True:
            try:
                frames = framing.recv(self.sock, copy=False)
            except zmq.Again:
                self._inbox.sweep()
                return None
            message = self._inbox.feed(None, frames)
            if message is not None:
                return message


class Endpoint:
    """One ZeroMQ socket served by one I/O thread.

    Received multipart messages are passed to ``handler`` on the I/O thread
    (it must be quick: hand work to other threads), their frames as bytes (a
    frame that crossed in pieces as a bytearray). ``send`` may be called from
    any thread; ``reply`` only from the handler. Messages of any size may be
    sent: ``framing`` cuts them into bounded frames and puts them back
    together. ``max_message_bytes`` bounds a received message (all frames;
    ``limit_name`` names the bound in the error): a larger one is dropped
    before its pieces are kept, and ``on_refused`` hears of it (by default it
    is logged). Thread-safety: the socket is touched only by the I/O thread.
    """

    def __init__(self, zctx: zmq.Context, sock: zmq.Socket, handler: Handler, name: str, *,
                 max_message_bytes: int | None = None, limit_name: str = "its limit",
                 on_refused: Refusal | None = None):
        self._zctx = zctx
        self._sock = sock
        self._handler = handler
        self._routed = sock.type == zmq.ROUTER
        self._inbox = framing.Reassembler(max_message_bytes, limit_name)
        self._on_refused = on_refused
        self._outbox = f"inproc://ember-outbox-{next(_inproc_names)}-{os.getpid()}"
        self._pull = zctx.socket(zmq.PULL)
        self._pull.setsockopt(zmq.LINGER, 0)
        self._pull.setsockopt(zmq.RCVHWM, 0)
        self._pull.bind(self._outbox)
        self._local = threading.local()
        self._pushes: list[zmq.Socket] = []
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> "Endpoint":
        self._thread.start()
        return self

    def send(self, frames: list) -> None:
        push = getattr(self._local, "push", None)
        if push is None:
            with self._lock:
                if self._closed:
                    return
                push = self._zctx.socket(zmq.PUSH)
                push.setsockopt(zmq.LINGER, 0)
                push.setsockopt(zmq.SNDHWM, 0)
                push.connect(self._outbox)
                self._pushes.append(push)
            self._local.push = push
        push.send_multipart(frames, copy=False)

    def reply(self, frames: list) -> None:
        """Send at once, from inside the handler (on the I/O thread only)."""
        framing.send(self._sock, frames, self._routed)

    def _run(self) -> None:
        poller = zmq.Poller()
        poller.register(self._sock, zmq.POLLIN)
        poller.register(self._pull, zmq.POLLIN)
        while True:
            try:
                # While a message is arriving in pieces, wake now and then to
                # drop it if its sender went silent.
                ready = dict(poller.poll(1000 if self._inbox.pending else None))
            except zmq.ZMQError:
                return
            if self._pull in ready:
                while True:
                    try:
                        frames = self._pull.recv_multipart(zmq.NOBLOCK, copy=False)
                    except zmq.Again:
                        break
                    if len(frames) == 1 and frames[0].bytes == _STOP:
                        return
                    try:
                        framing.send(self._sock, frames, self._routed)
                    except zmq.ZMQError as error:
                        log.debug("send failed: %s", error)
            if self._sock in ready:
                while True:
                    try:
                        frames = framing.recv(self._sock, self._routed)
                    except zmq.Again:
                        break
                    self._received(frames)
            if self._inbox.pending:
                self._inbox.sweep()

    def _received(self, frames: list) -> None:
        prefix = frames[:1] if self._routed else []
        try:
            message = self._inbox.feed(prefix[0] if prefix else None, frames[len(prefix):])
        except MessageTooLargeError as error:
            head = [error.head] if error.head is not None else []
            if self._on_refused is None:
                log.warning("dropped a message: %s", error)
                return
            try:
                self._on_refused(prefix + head, error)
            except Exception:  # noqa: BLE001 - as for the handler
                log.exception("error while refusing a message")
            return
        except ProtocolError as error:
            log.warning("dropped a malformed message: %s", error)
            return
        if message is None:
            return
        try:
            # recv copied every frame that came whole: all are bytes already.
            self._handler(prefix + message)
        except Exception:  # noqa: BLE001 - one bad message must not stop the loop
            log.exception("error while handling a message")

    def close(self, linger: float = 0.0) -> None:
        """Stop the I/O thread and close the sockets. ``linger``: seconds the
        messages still queued in the socket may take to leave (a parting
        message to peers on other hosts); the default drops them."""
        if not self._closed:
            self.send([_STOP])
            self._thread.join(timeout=5)
            with self._lock:
                self._closed = True
                for push in self._pushes:
                    push.close(linger=0)
                self._pushes.clear()
            self._pull.close(linger=0)
            self._sock.close(linger=int(linger * 1000))
