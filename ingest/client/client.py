"""BrokerConnection: one authenticated client connection to a broker.

Owns one CURVE DEALER socket (``engine.wire.transport``), served by one
``Endpoint`` I/O thread, and the requests in flight on it. Any thread may
start a request (:meth:`call`) and wait for its reply, or pass a callback
that runs on the I/O thread when the reply arrives (it must be quick). Many
requests may be in flight at once; each carries an id the reply echoes.

Connecting waits for the CURVE handshake, so a wrong secret is an
:class:`AuthenticationError` within milliseconds and an address where
nothing answers a :class:`BrokerUnavailableError` after ``connect_timeout``.

Losing the broker: ZMTP heartbeats (every ``HEARTBEAT_IVL_MS``, given up
after ``HEARTBEAT_TIMEOUT_MS`` without an answer, which a paused process
never gives) and the socket's monitor tell the connection when its TCP
connection goes: every request in flight then fails at once with
:class:`BrokerUnavailableError` (its outcome is unknown; the caller decides
whether a retry is safe), and so does a new request until ZeroMQ has
reconnected by itself (a broker restarted on the same address). Without a
disconnect, a request whose reply never comes ends in
:class:`KafkaTimeoutError` after the caller's timeout.

What it must not know: what the ops mean (``protocol`` lists them; the
producer, consumer and store use them). The secret is used to derive keys
and then dropped; it never appears in a message or repr.

Thread-safety: thread-safe.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
from typing import Callable

import zmq

from ember.engine.errors import (
    BrokerUnavailableError, KafkaTimeoutError, MessageTooLargeError, ProtocolError,
)
from ember.engine.wire.transport import Endpoint, client_socket, connect_authenticated, derive_keys
from ember.ingest import protocol

log = logging.getLogger(__name__)

_zctx: zmq.Context | None = None
_zctx_pid = 0
_zctx_lock = threading.Lock()


def shared_context() -> zmq.Context:
    """The ZeroMQ context of this process's log store clients (one per
    process; a forked child gets a new one)."""
    global _zctx, _zctx_pid
    with _zctx_lock:
        if _zctx is None or _zctx_pid != os.getpid():
            _zctx, _zctx_pid = zmq.Context(), os.getpid()
        return _zctx


class Call:
    """One request in flight."""

    __slots__ = ("request_id", "op", "header", "frames", "error", "_done", "_callback")

    def __init__(self, request_id: int, op: str, callback: Callable[["Call"], None] | None):
        self.request_id = request_id
        self.op = op
        self.header: dict | None = None
        self.frames: list = []
        self.error: BaseException | None = None
        self._done = threading.Event()
        self._callback = callback

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def _finish(self) -> None:
        self._done.set()
        if self._callback is not None:
            try:
                self._callback(self)
            except Exception:  # noqa: BLE001 - a callback must not stop the I/O thread
                log.exception("error in a reply callback for %s", self.op)

    def result(self) -> tuple[dict, list]:
        """The reply (header, payload frames); raises the broker's error."""
        if self.error is not None:
            raise self.error
        return self.header, self.frames


HEARTBEAT_IVL_MS = 1000
HEARTBEAT_TIMEOUT_MS = 3000
_monitor_names = itertools.count(1)


def _watch_connection(sock: zmq.Socket, conn: "BrokerConnection") -> threading.Thread:
    """A thread reporting ``sock``'s connects and disconnects to ``conn``
    until ``conn`` is closed."""
    from zmq.utils.monitor import recv_monitor_message

    address = f"inproc://ember-connection-monitor-{next(_monitor_names)}-{os.getpid()}"
    sock.monitor(address, zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED)
    monitor = sock.context.socket(zmq.PAIR)
    monitor.connect(address)

    def run() -> None:
        try:
            while not conn._closed:
                if not monitor.poll(200):
                    continue
                event = recv_monitor_message(monitor)["event"]
                if event == zmq.EVENT_DISCONNECTED:
                    conn._connection_state(False)
                elif event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                    conn._connection_state(True)
        except zmq.ZMQError:
            pass
        finally:
            monitor.close(linger=0)

    thread = threading.Thread(target=run, name="ember-logstore-monitor", daemon=True)
    thread.start()
    return thread


class BrokerConnection:
    def __init__(self, address: str, secret: bytes, *, connect_timeout: float = 10.0,
                 request_timeout: float = 30.0, name: str = "ember-logstore-client"):
        self.address = address
        self.request_timeout = request_timeout
        zctx = shared_context()
        sock = client_socket(zctx, zmq.DEALER, derive_keys(secret), address)
        sock.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_IVL_MS)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)
        try:
            connect_authenticated(sock, address, connect_timeout)
        except ConnectionError as error:  # nothing answered (a wrong secret raises at once)
            sock.close(linger=0)
            raise BrokerUnavailableError(f"the log store broker at {address} is unavailable: "
                                         f"{error}") from None
        except BaseException:
            sock.close(linger=0)
            raise
        self._ids = itertools.count(1)
        self._pending: dict[int, Call] = {}
        self._lock = threading.Lock()
        self._closed = False
        self.connected = True
        self._monitor = _watch_connection(sock, self)
        self._endpoint = Endpoint(zctx, sock, self._on_reply, name,
                                  max_message_bytes=protocol.MAX_MESSAGE_BYTES,
                                  limit_name="socket.request.max.bytes",
                                  on_refused=self._refused).start()

    def __repr__(self) -> str:
        return f"BrokerConnection({self.address})"

    def call(self, op: str, fields: dict | None = None, frames=(),
             callback: Callable[[Call], None] | None = None) -> Call:
        """Send a request; the reply completes the returned Call."""
        call = Call(next(self._ids), op, callback)
        with self._lock:
            if self._closed:
                raise BrokerUnavailableError(f"the connection to {self.address} is closed")
            if not self.connected:
                raise BrokerUnavailableError(f"the broker at {self.address} is unreachable "
                                             f"(connection lost; reconnecting)")
            self._pending[call.request_id] = call
        self._endpoint.send([protocol.request(call.request_id, op, fields or {}), *frames])
        return call

    def send_oneway(self, op: str, fields: dict, frames=()) -> None:
        """Send a request that gets no reply (produce with acks=0)."""
        if self._closed:
            raise BrokerUnavailableError(f"the connection to {self.address} is closed")
        self._endpoint.send([protocol.request(next(self._ids), op, fields), *frames])

    def wait(self, call: Call, timeout: float | None = None) -> tuple[dict, list]:
        timeout = self.request_timeout if timeout is None else timeout
        if not call._done.wait(timeout):
            self.forget(call)
            if not call.done:
                raise KafkaTimeoutError(f"no reply from the log store broker at {self.address} "
                                        f"to {call.op!r} within {timeout:g} s")
        return call.result()

    def request(self, op: str, fields: dict | None = None, frames=(),
                timeout: float | None = None) -> tuple[dict, list]:
        """Send a request and wait for its reply."""
        return self.wait(self.call(op, fields, frames), timeout)

    def forget(self, call: Call) -> None:
        """Stop waiting for ``call``'s reply (a late reply is then ignored)."""
        with self._lock:
            self._pending.pop(call.request_id, None)

    def _on_reply(self, frames: list) -> None:
        try:
            header = protocol.decode(frames[0])
        except ProtocolError as error:
            log.warning("dropped a malformed reply from %s: %s", self.address, error)
            return
        with self._lock:
            call = self._pending.pop(header["id"], None)
        if call is None:
            return  # the caller gave up on it (timeout): a retry carries the request
        if "error" in header:
            call.error = protocol.error_from(header["error"])
        else:
            call.header, call.frames = header, frames[1:]
        call._finish()

    def _refused(self, frames: list, error: MessageTooLargeError) -> None:
        """A reply over MAX_MESSAGE_BYTES, dropped unread: its call fails
        with the error."""
        try:
            header = protocol.decode(frames[0]) if frames else None
        except ProtocolError:
            header = None
        log.warning("dropped a reply from %s: %s", self.address, error)
        if header is None:
            return
        with self._lock:
            call = self._pending.pop(header["id"], None)
        if call is not None:
            call.error = error
            call._finish()

    def _connection_state(self, connected: bool) -> None:
        """From the monitor thread: the TCP connection came or went."""
        with self._lock:
            self.connected = connected
            if connected or self._closed:
                return
            pending, self._pending = list(self._pending.values()), {}
        for call in pending:
            call.error = BrokerUnavailableError(f"lost the connection to {self.address} "
                                                f"before {call.op!r} was answered")
            call._finish()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pending, self._pending = list(self._pending.values()), {}
        self._endpoint.close()
        self._monitor.join(1.0)
        for call in pending:
            call.error = BrokerUnavailableError(f"the connection to {self.address} was closed "
                                                f"before {call.op!r} was answered")
            call._finish()
