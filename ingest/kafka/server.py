"""KafkaListener: the broker's Kafka-protocol socket server.

One asyncio event loop on one thread (``ember-kafka-io``) owns every Kafka
connection: it reads size-prefixed requests, decodes them with ``codec``,
hands them to ``apis.KafkaApis`` and writes the responses back.
*Design choice*: asyncio rather than a selectors thread, because TLS on
non-blocking sockets (handshakes, renegotiation, want-read/want-write) is
the standard library's job there, and because a request whose answer comes
later (a produce waiting for its fsync, a fetch long-polling, a JoinGroup
parked until the rebalance completes) is just a callback that posts its
response to the loop. Appends and reads run on the loop thread itself (no
fsync ever happens there: the group-commit flusher does that).

Per connection, requests are handled as they arrive (so a producer's
pipelined requests reach the log while the previous one waits for its
fsync, and share that fsync), and responses are written in request order,
as the protocol requires. At most ``_MAX_IN_FLIGHT`` requests wait per
connection; past that the connection stops being read (back-pressure).

Bounds and bad input: a request's size prefix is checked against
``socket.request.max.bytes`` (and, before SASL authentication, against
``sasl.server.max.receive.size``) before anything is buffered for it, and
bytes are buffered only as they arrive. A malformed request (a size out of
bounds, a body that does not decode, an unknown API key or an unserved
version of an API other than ApiVersions, a request other than the
handshake before authentication) closes that connection with one warning
naming the peer and the problem; every other connection goes on.
ApiVersions at a version the listener does not serve is answered at
version 0 with UNSUPPORTED_VERSION and the list of what is served, as
KIP-511 prescribes.

Security: ``PLAINTEXT``, ``SSL`` (stdlib ``ssl``, certificate and key
files), ``SASL_PLAINTEXT`` and ``SASL_SSL`` (SaslHandshake v0/v1 and
SaslAuthenticate, ``sasl``). Bound to anything but a loopback address the
listener refuses to start unless it is ``SASL_SSL``. A failed
authentication is answered with SASL_AUTHENTICATION_FAILED and the
connection is closed.

Thread-safety: ``start``/``stop`` from one thread; responses may be posted
from any thread (they hop to the loop).
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import logging
import ssl
import struct
import threading
from typing import Any, Callable

from ember.engine.errors import AuthenticationError, ConfigError
from ember.ingest.kafka import codec
from ember.ingest.kafka.apis import API_NAMES, SERVED, KafkaApis
from ember.ingest.kafka.errors import CODES
from ember.ingest.kafka.sasl import MECHANISMS, UserStore, server_for

log = logging.getLogger(__name__)

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
DEFAULT_MAX_REQUEST_BYTES = 100 * 1024 * 1024   # Kafka's socket.request.max.bytes
SASL_MAX_RECEIVE_BYTES = 512 * 1024             # Kafka's sasl.server.max.receive.size
_MAX_IN_FLIGHT = 64
_SIZE = struct.Struct(">i")
_HEADER = struct.Struct(">hhi")
API_VERSIONS, SASL_HANDSHAKE, SASL_AUTHENTICATE = 18, 17, 36


def parse_listener(spec: str) -> tuple[str, str, int]:
    """``(security protocol, host, port)`` from ``[PROTOCOL://]HOST:PORT``."""
    protocol, _, rest = spec.rpartition("://")
    protocol = (protocol or "PLAINTEXT").upper()
    host, _, port = rest.rpartition(":")
    if protocol not in SECURITY_PROTOCOLS or not port.isdigit() or not host:
        raise ConfigError(f"Kafka listener {spec!r}: expected [PROTOCOL://]HOST:PORT with "
                          f"PROTOCOL one of {', '.join(SECURITY_PROTOCOLS)}")
    return protocol, host.strip("[]"), int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Slot:
    __slots__ = ("correlation_id", "api_key", "version", "parts", "done", "close_after")

    def __init__(self, correlation_id: int, api_key: int, version: int):
        self.correlation_id, self.api_key, self.version = correlation_id, api_key, version
        self.parts: list | None = None
        self.done = False
        self.close_after = False


class _Connection(asyncio.Protocol):
    def __init__(self, listener: "KafkaListener"):
        self.listener = listener
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.buffer = bytearray()
        self.slots: collections.deque[_Slot] = collections.deque()
        self.closed = False
        self.paused = False
        self.authenticated = not listener.sasl
        self.mechanism: str | None = None
        self.sasl_server = None
        self.raw_sasl = False  # SaslHandshake v0: tokens follow without Kafka framing
        self.user: str | None = None
        self.client_id = ""

    # --- asyncio callbacks ---------------------------------------------------------

    def connection_made(self, transport) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        self.listener.connections.add(self)

    def connection_lost(self, exc) -> None:
        self.closed = True
        self.listener.connections.discard(self)

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        buffer = self.buffer
        buffer += data
        limit = (self.listener.max_request_bytes if self.authenticated
                 else SASL_MAX_RECEIVE_BYTES)
        pos, end = 0, len(buffer)
        while end - pos >= 4 and not self.closed:
            (size,) = _SIZE.unpack_from(buffer, pos)
            if size < (0 if self.raw_sasl else _HEADER.size) or size > limit:
                self.fail(f"a request size of {size} bytes (expected "
                          f"{_HEADER.size} to {limit})")
                return
            if end - pos - 4 < size:
                break
            frame = memoryview(bytes(buffer[pos + 4:pos + 4 + size]))
            pos += 4 + size
            try:
                self.request(frame)
            except codec.MalformedRequest as error:
                self.fail(str(error))
            except Exception as error:  # noqa: BLE001 - one request must not kill the loop
                log.exception("Kafka listener: error handling a request from %s", self.peer)
                self.fail(f"internal error: {type(error).__name__}: {error}")
        if pos:
            del buffer[:pos]

    # --- requests ------------------------------------------------------------------

    def fail(self, problem: str) -> None:
        """Close this connection after a bad request, with one log line."""
        if not self.closed:
            log.warning("Kafka listener: closing the connection from %s: %s", self.peer, problem)
            self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()

    def request(self, frame: memoryview) -> None:
        if self.raw_sasl:
            self.raw_sasl_token(bytes(frame))
            return
        api_key, version, correlation_id = _HEADER.unpack_from(frame, 0)
        name = API_NAMES.get(api_key)
        if name is None:
            raise codec.MalformedRequest(f"unknown API key {api_key}")
        served = SERVED[api_key]
        if not self.authenticated and api_key not in (API_VERSIONS, SASL_HANDSHAKE,
                                                      SASL_AUTHENTICATE):
            raise codec.MalformedRequest(f"{name} before SASL authentication completed")
        if not served[0] <= version <= served[1]:
            if api_key == API_VERSIONS:
                slot = self.new_slot(correlation_id, api_key, 0)
                self.complete(slot, self.listener.apis.api_versions_response(
                    CODES["UNSUPPORTED_VERSION"]))
                return
            raise codec.MalformedRequest(f"{name} version {version} is not served "
                                         f"(versions {served[0]} to {served[1]} are)")
        # Request header: v1 (client id) before the flexible versions, v2 (+ tags) after.
        p = _HEADER.size
        try:
            (length,) = struct.unpack_from(">h", frame, p)
            p += 2
            if length > 0:
                codec._need(frame, p, length, "client id")
                self.client_id = str(frame[p:p + length], "utf-8", "replace")
                p += length
            if codec.is_flexible(name + "Request", version):
                p = codec._skip_tags(frame, p)
        except (IndexError, struct.error):
            raise codec.MalformedRequest(f"{name} v{version}: the request header is cut "
                                         f"short") from None
        # Bytes after the message are ignored, as Kafka's brokers ignore them
        # (librdkafka sends some after a MetadataRequest v12).
        body = codec.decode(name + "Request", version, frame, p, whole=False)
        slot = self.new_slot(correlation_id, api_key, version)
        self.listener.apis.handle(self, api_key, version, body,
                                  lambda response, close=False: self.respond(slot, response, close))

    def new_slot(self, correlation_id: int, api_key: int, version: int) -> _Slot:
        slot = _Slot(correlation_id, api_key, version)
        self.slots.append(slot)
        if len(self.slots) >= _MAX_IN_FLIGHT and not self.paused:
            self.paused = True
            self.transport.pause_reading()
        return slot

    def respond(self, slot: _Slot, response: dict | None, close: bool = False) -> None:
        """From any thread: the response to ``slot`` (None: no response)."""
        self.listener.on_loop(self.complete, slot, response, close)

    def complete(self, slot: _Slot, response: dict | None, close: bool = False) -> None:
        if slot.done:
            return
        slot.done, slot.close_after = True, close
        if response is not None:
            name = API_NAMES[slot.api_key] + "Response"
            header = _SIZE.pack(slot.correlation_id)
            # Response header v1 (tagged fields) for flexible versions, but
            # ApiVersions always answers with header v0 (KIP-511).
            if slot.api_key != API_VERSIONS and codec.is_flexible(name, slot.version):
                header += b"\x00"
            slot.parts = [header, *codec.encode(name, slot.version, response)]
        self.flush()

    def flush(self) -> None:
        slots = self.slots
        out = []
        close = False
        while slots and slots[0].done:
            slot = slots.popleft()
            if slot.parts is not None:
                size = sum(map(len, slot.parts))
                out.append(_SIZE.pack(size))
                out.extend(slot.parts)
            if slot.close_after:
                close = True
                break
        if out and not self.closed:
            self.transport.write(b"".join(out))
        if close:
            self.close()
        elif self.paused and len(slots) < _MAX_IN_FLIGHT // 2 and not self.closed:
            self.paused = False
            self.transport.resume_reading()

    # --- SASL ----------------------------------------------------------------------

    def start_sasl(self, mechanism: str, raw: bool) -> None:
        self.mechanism = mechanism
        self.sasl_server = server_for(mechanism, self.listener.users)
        self.raw_sasl = raw

    def sasl_step(self, token: bytes) -> tuple[bytes | None, str | None]:
        """``(challenge, error message)`` for one token of the exchange."""
        if self.sasl_server is None:
            return None, "SaslAuthenticate before SaslHandshake"
        try:
            challenge, done = self.sasl_server.step(token)
        except AuthenticationError as error:
            log.warning("Kafka listener: %s from %s: %s", self.mechanism, self.peer, error)
            return None, str(error)
        if done:
            self.user = self.sasl_server.user
            self.authenticated = True
            log.info("Kafka listener: %s authenticated as %r with %s", self.peer, self.user,
                     self.mechanism)
        return challenge, None

    def raw_sasl_token(self, token: bytes) -> None:
        challenge, error = self.sasl_step(token)
        if error is not None:
            self.close()
            return
        if self.authenticated:
            self.raw_sasl = False
        self.transport.write(_SIZE.pack(len(challenge)) + challenge)


class KafkaListener:
    def __init__(self, apis_context: dict, listener: str, *, certfile: str | None = None,
                 keyfile: str | None = None, users_dir: str | None = None,
                 max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
                 advertised_host: str | None = None):
        self.security_protocol, self.host, self.port = parse_listener(listener)
        self.sasl = self.security_protocol.startswith("SASL_")
        self.tls = self.security_protocol in ("SSL", "SASL_SSL")
        if not is_loopback(self.host) and self.security_protocol != "SASL_SSL":
            raise ConfigError(
                f"Kafka listener {listener!r} binds {self.host}, which is not a loopback "
                f"address: it must be SASL_SSL:// (TLS with --kafka-ssl-certfile/keyfile and "
                f"SASL/SCRAM users from 'ember logstore users add'), got "
                f"{self.security_protocol}")
        self.ssl_context = None
        if self.tls:
            if not certfile or not keyfile:
                raise ConfigError(f"Kafka listener {listener!r} is {self.security_protocol}: "
                                  f"it needs a certificate and a key file (PEM)")
            self.ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ssl_context.minimum_version = ssl.TLSVersion.TLSv1_2
            self.ssl_context.load_cert_chain(certfile, keyfile)
        self.users = UserStore(users_dir) if users_dir else None
        if self.sasl and self.users is None:
            raise ConfigError("a SASL listener needs the users file's directory")
        self.mechanisms = MECHANISMS
        self.max_request_bytes = max_request_bytes
        self.advertised_host = advertised_host
        self.connections: set[_Connection] = set()
        self.apis = KafkaApis(self, **apis_context)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server = None

    @property
    def address(self) -> str:
        return f"{self.advertised_host or self.host}:{self.port}"

    def start(self) -> str:
        """Bind and serve; returns ``HOST:PORT`` (the port bound, if 0 was asked)."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = self._loop = asyncio.new_event_loop()
            try:
                self._server = loop.run_until_complete(loop.create_server(
                    lambda: _Connection(self), self.host, self.port, ssl=self.ssl_context,
                    reuse_address=True, backlog=512))
                self.port = self._server.sockets[0].getsockname()[1]
            except BaseException as error:  # noqa: BLE001 - reported to start()
                failure.append(error)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="ember-kafka-io", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        self.apis.start()
        log.info("Kafka listener (%s) at %s", self.security_protocol, self.address)
        return self.address

    def on_loop(self, fn: Callable, *args: Any) -> None:
        """Run ``fn(*args)`` on the loop thread (now, if already on it)."""
        if threading.current_thread() is self._thread:
            fn(*args)
        elif self._loop is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(fn, *args)
            except RuntimeError:
                pass  # the loop is closing: the connection goes with it

    def call_later(self, delay: float, fn: Callable, *args: Any):
        return self._loop.call_later(delay, fn, *args)

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        self.apis.stop()

        def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for connection in list(self.connections):
                connection.close()
            self._loop.call_later(0.05, self._loop.stop)

        self.on_loop(shutdown)
        self._thread.join(10)
