"""A client of the controller quorum: finds the active controller and retries.

Used by the tests and benchmarks now, and by brokers in phase 2 (register,
heartbeat, report ISR changes). One CURVE DEALER per quorum member; a
request goes to the member believed active, and on NotControllerError
(naming the active one when it knows) or silence past ``attempt_timeout``
moves on, with a short backoff, until ``timeout``. Replies are matched by
request id, so a late reply to an abandoned attempt is dropped.

A write retried after a silent attempt may have been applied by that
attempt: the retry then fails as a repeat would (a topic that already
exists, a stale partition epoch); callers that must know treat such an
outcome as unknown, as Kafka's clients do.

Thread-safety: one request at a time (a lock serialises callers).
"""

from __future__ import annotations

import itertools
import threading
import time

import zmq

from ember.engine.errors import KafkaTimeoutError, NotControllerError
from ember.engine.wire import framing
from ember.engine.wire.transport import MessageReader, client_socket, derive_keys
from ember.ingest import protocol


class ControllerClient:
    def __init__(self, addresses: dict[int, str], secret: bytes, *, attempt_timeout: float = 1.0,
                 backoff: float = 0.05):
        self._keys = derive_keys(secret)
        self._zctx = zmq.Context()
        self._sockets: dict[int, zmq.Socket] = {}
        self._readers: dict[int, MessageReader] = {}
        self._addresses: dict[int, str] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._attempt_timeout = attempt_timeout
        self._backoff = backoff
        self.leader: int | None = None
        self._cursor = 0
        self.update_addresses(addresses)

    def update_addresses(self, addresses: dict[int, str]) -> None:
        for node, address in addresses.items():
            if self._addresses.get(node) == address:
                continue
            if node in self._sockets:
                self._sockets[node].close(linger=0)
            sock = client_socket(self._zctx, zmq.DEALER, self._keys, address)
            sock.connect(address)
            self._sockets[node], self._addresses[node] = sock, address
            self._readers[node] = MessageReader(sock, protocol.MAX_MESSAGE_BYTES,
                                                "socket.request.max.bytes")

    def close(self) -> None:
        for sock in self._sockets.values():
            sock.close(linger=0)
        self._zctx.term()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def ask(self, node: int, op: str, timeout: float | None = None, **fields) -> dict:
        """One request to one member, no retry (``describe`` a given member)."""
        with self._lock:
            reply = self._attempt(node, op, fields, timeout or self._attempt_timeout)
        if reply is None:
            raise KafkaTimeoutError(f"controller {node} did not answer {op} within "
                                    f"{timeout or self._attempt_timeout:.1f} s")
        if "error" in reply:
            raise protocol.error_from(reply["error"])
        return reply

    def request(self, op: str, timeout: float = 15.0, **fields) -> dict:
        """``op`` at the active controller, retried until ``timeout``."""
        deadline = time.monotonic() + timeout
        order = sorted(self._sockets)
        with self._lock:
            while True:
                node = self.leader if self.leader in self._sockets \
                    else order[self._cursor % len(order)]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise KafkaTimeoutError(f"no active controller answered {op} within "
                                            f"{timeout:.1f} s")
                reply = self._attempt(node, op, fields, min(self._attempt_timeout, left))
                if reply is None:
                    # The next attempt, of this request or the next one, starts
                    # after the silent member: one cut off from this client must
                    # not take every request's whole time (a heartbeat's is short).
                    self.leader = None
                    self._cursor = order.index(node) + 1
                    continue
                if "error" in reply:
                    error = protocol.error_from(reply["error"])
                    if isinstance(error, NotControllerError):
                        hint = getattr(error, "leader_id", None)
                        self.leader = hint if hint in self._sockets and hint != node else None
                        if self.leader is None:
                            self._cursor = order.index(node) + 1
                            time.sleep(min(self._backoff, max(0.0, deadline - time.monotonic())))
                        continue
                    self.leader = node
                    raise error
                self.leader = node
                return reply

    def _attempt(self, node: int, op: str, fields: dict, timeout: float) -> dict | None:
        sock = self._sockets[node]
        request_id = next(self._ids)
        try:
            sock.send(protocol.request(request_id, op, fields), zmq.NOBLOCK)
        except zmq.Again:
            time.sleep(min(timeout, 0.05))
            return None
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0 or not sock.poll(int(left * 1000) + 1):
                if time.monotonic() >= end:
                    return None
                continue
            message = self._readers[node].receive()
            if message is None:
                continue  # a large reply in progress
            reply = protocol.decode(framing.as_bytes(message[0]))
            if reply["id"] == request_id:
                return reply
