"""ClusterClient: a client's view of the store's brokers, and where to send
each request.

Built from bootstrap addresses (``tcp://HOST:PORT`` or ``HOST:PORT``,
comma-separated). ``metadata`` asks any broker that answers (the one that
answered last first, then the bootstrap list, then every broker learnt) and
keeps what it says: per topic, its partition count, config and, from a
broker of a cluster, each partition's leader and leader epoch, and every
broker's address. A single broker (its metadata names no brokers) leads
everything itself: every request goes to it.

Routing: :meth:`leader` (a partition's leader connection) and
:meth:`coordinator` (a consumer group's), each a cached
``BrokerConnection`` per address. :meth:`call_leader` and
:meth:`call_coordinator` send one request and, on the errors a failover
causes (:data:`RETRIABLE`: not leader, no leader yet, not coordinator, a lost
or silent broker, an ISR still too small), forget what they knew, refresh
metadata and retry with a backoff (``retry_backoff`` doubling up to 1 s)
until ``deadline``. Errors that say the request itself is wrong are raised
at once.

What it must not know: what the ops mean beyond routing.

Thread-safety: thread-safe.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from ember.engine.errors import (
    BrokerUnavailableError, FencedLeaderEpochError, KafkaTimeoutError, LeaderNotAvailableError,
    NotCoordinatorError, NotEnoughReplicasError, NotLeaderOrFollowerError,
    UnknownTopicOrPartitionError,
)
from ember.ingest.client.client import BrokerConnection

log = logging.getLogger(__name__)

# The errors a leader change or a lost broker causes: refresh and retry.
RETRIABLE = (NotLeaderOrFollowerError, LeaderNotAvailableError, NotCoordinatorError,
             BrokerUnavailableError, KafkaTimeoutError, FencedLeaderEpochError,
             NotEnoughReplicasError)
_MAX_BACKOFF = 1.0
CONNECT_TIMEOUT_IN_CLUSTER = 2.0


def parse_bootstrap(bootstrap: str) -> list[str]:
    """``tcp://a:1,b:2`` -> ``["tcp://a:1", "tcp://b:2"]``; ValueError naming
    the problem."""
    if not isinstance(bootstrap, str) or not bootstrap.strip():
        raise ValueError(f"a broker address must be 'tcp://HOST:PORT' or 'HOST:PORT' (several "
                         f"separated by commas), got {bootstrap!r}")
    out = []
    for item in bootstrap.split(","):
        item = item.strip()
        if not item:
            continue
        address = item if "://" in item else f"tcp://{item}"
        if not address.startswith("tcp://") or ":" not in address[6:]:
            raise ValueError(f"broker address {item!r}: expected 'tcp://HOST:PORT' or "
                             f"'HOST:PORT'")
        out.append(address)
    if not out:
        raise ValueError(f"no broker address in {bootstrap!r}")
    return out


class ClusterClient:
    def __init__(self, bootstrap: str, secret: bytes, *, connect_timeout: float = 10.0,
                 request_timeout: float = 30.0, retry_backoff: float = 0.1,
                 name: str = "ember-logstore-client"):
        self.bootstrap = parse_bootstrap(bootstrap)
        self._secret = secret
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self.retry_backoff = retry_backoff
        self._name = name
        self._lock = threading.RLock()
        self._connections: dict[str, BrokerConnection] = {}
        self._brokers: dict[int, str] = {}
        self._topics: dict[str, dict] = {}
        self._coordinators: dict[str, str] = {}
        self._last_good: str | None = None
        self._failed: dict[str, float] = {}  # address -> when connecting to it last failed
        self.clustered = False
        self._closed = False
        # The first connection is made now: a wrong secret or no broker at
        # all fails the constructor, as for one connection.
        self._connection(self.bootstrap[0] if len(self.bootstrap) == 1 else None)

    def __repr__(self) -> str:
        return f"ClusterClient({','.join(self.bootstrap)})"

    # --- connections --------------------------------------------------------------

    def connection(self, address: str) -> BrokerConnection:
        with self._lock:
            if self._closed:
                raise BrokerUnavailableError("this client is closed")
            conn = self._connections.get(address)
            if conn is not None:
                return conn
        # Connecting waits for the handshake: not under the lock. With other
        # brokers to try, a silent one is given up sooner.
        several = self.clustered or len(self.bootstrap) > 1
        timeout = min(self.connect_timeout, CONNECT_TIMEOUT_IN_CLUSTER) if several \
            else self.connect_timeout
        try:
            conn = BrokerConnection(address, self._secret, connect_timeout=timeout,
                                    request_timeout=self.request_timeout, name=f"{self._name}-io")
        except BrokerUnavailableError:
            with self._lock:
                self._failed[address] = time.monotonic()
            raise
        with self._lock:
            self._failed.pop(address, None)
        with self._lock:
            if self._closed:
                conn.close()
                raise BrokerUnavailableError("this client is closed")
            existing = self._connections.get(address)
            if existing is not None:
                conn.close()
                return existing
            self._connections[address] = conn
            return conn

    def _candidates(self) -> list[str]:
        with self._lock:
            order = ([self._last_good] if self._last_good else []) + self.bootstrap + \
                list(self._brokers.values())
        seen, out = set(), []
        for address in order:
            if address not in seen:
                seen.add(address)
                out.append(address)
        # Brokers that failed to answer lately go last, the latest failure last.
        with self._lock:
            failed = dict(self._failed)
        return sorted(out, key=lambda a: failed.get(a, 0.0))

    def _connection(self, address: str | None) -> BrokerConnection:
        """A connection to ``address``, or to any broker that answers."""
        if address is not None:
            return self.connection(address)
        errors = []
        for candidate in self._candidates():
            with self._lock:
                conn = self._connections.get(candidate)
            if conn is not None and conn.connected:
                return conn
        for candidate in self._candidates():
            try:
                conn = self.connection(candidate)
            except BrokerUnavailableError as error:
                errors.append(str(error))
                continue
            if conn.connected:
                return conn
        raise BrokerUnavailableError("no log store broker answered: " + "; ".join(errors))

    def drop(self, address: str) -> None:
        """Forget a connection (its broker went away)."""
        with self._lock:
            conn = self._connections.pop(address, None)
            self._failed[address] = time.monotonic()
            if self._last_good == address:
                self._last_good = None
        if conn is not None:
            conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            connections, self._connections = list(self._connections.values()), {}
        for conn in connections:
            conn.close()

    # --- metadata -----------------------------------------------------------------

    def request_any(self, op: str, fields: dict | None = None, frames=(),
                    timeout: float | None = None) -> tuple[dict, list]:
        """``op`` at any broker that answers (metadata, topic changes)."""
        errors = []
        for _ in range(max(2, len(self._candidates()))):
            conn = self._connection(None)
            try:
                reply = conn.request(op, fields, frames, timeout=timeout)
            except (BrokerUnavailableError, KafkaTimeoutError) as error:
                errors.append(f"{conn.address}: {error}")
                self.drop(conn.address)
                continue
            with self._lock:
                self._last_good = conn.address
            return reply
        raise BrokerUnavailableError("no log store broker answered " + op + ": " +
                                     "; ".join(errors))

    def request(self, op: str, fields: dict | None = None, frames=(),
                timeout: float | None = None) -> tuple[dict, list]:
        """As ``BrokerConnection.request``, at any broker that answers."""
        return self.request_any(op, fields, frames, timeout)

    def metadata(self, topics: list[str] | None = None, timeout: float | None = None) -> dict:
        """Ask a broker for ``topics`` (None: all) and remember the answer."""
        header, _ = self.request_any("metadata", {"topics": topics}, timeout=timeout)
        with self._lock:
            brokers = header.get("brokers")
            if isinstance(brokers, dict):
                self.clustered = True
                self._brokers = {int(k): v for k, v in brokers.items()}
            for name, info in header.get("topics", {}).items():
                self._topics[name] = info
            for name in header.get("unknown", []):
                if isinstance(name, str):
                    self._topics.pop(name, None)
        return header

    def topic(self, name: str, refresh: bool = False) -> dict:
        """What the metadata says of topic ``name``; UnknownTopicOrPartitionError if none."""
        with self._lock:
            info = None if refresh else self._topics.get(name)
        if info is None:
            self.metadata([name])
            with self._lock:
                info = self._topics.get(name)
        if info is None:
            raise UnknownTopicOrPartitionError(f"unknown topic {name!r}")
        return info

    def invalidate(self, topic: str | None = None) -> None:
        """Forget what is known of ``topic``'s leaders (all topics: None)."""
        with self._lock:
            if topic is None:
                self._topics.clear()
                self._coordinators.clear()
            else:
                self._topics.pop(topic, None)

    def leader_address(self, topic: str, partition: int, refresh: bool = False) -> str:
        """The address of ``topic``-``partition``'s leader."""
        info = self.topic(topic, refresh)
        if not refresh and not 0 <= partition < info["partitions"]:
            info = self.topic(topic, True)  # the topic may have grown since
        if not 0 <= partition < info["partitions"]:
            raise UnknownTopicOrPartitionError(
                f"topic {topic!r} has partitions 0 to {info['partitions'] - 1}; there is no "
                f"partition {partition}")
        leaders = info.get("leaders")
        if leaders is None:
            return self._single_broker()
        leader = leaders[partition]
        with self._lock:
            address = self._brokers.get(leader)
        if leader < 0 or address is None:
            raise LeaderNotAvailableError(f"topic {topic!r} partition {partition} has no "
                                          f"leader right now" + (f" (broker {leader} is not "
                                          f"reachable)" if leader >= 0 else ""))
        return address

    def _single_broker(self) -> str:
        with self._lock:
            if self._last_good is not None:
                return self._last_good
        return self._connection(None).address

    def leader(self, topic: str, partition: int, refresh: bool = False) -> BrokerConnection:
        return self.connection(self.leader_address(topic, partition, refresh))

    def coordinator(self, group: str, refresh: bool = False) -> BrokerConnection:
        """The connection to the broker coordinating ``group``."""
        with self._lock:
            address = None if refresh else self._coordinators.get(group)
        if address is None:
            header, _ = self.request_any("find_coordinator", {"group": group})
            address = header.get("address") or self._single_broker()
            with self._lock:
                self._coordinators[group] = address
        return self.connection(address)

    # --- requests with failover -----------------------------------------------------

    def _backoff(self, attempt: int, deadline: float) -> None:
        delay = min(_MAX_BACKOFF, self.retry_backoff * (2 ** min(attempt, 6)))
        time.sleep(max(0.0, min(delay, deadline - time.monotonic())))

    def call_leader(self, topic: str, partition: int, op: str, fields: dict, *,
                    deadline: float, timeout: float | None = None) -> tuple[dict, list]:
        """``op`` at the partition's leader, following it through failovers
        until ``deadline`` (then the last error is raised)."""
        return self._call(lambda refresh: self.leader(topic, partition, refresh=refresh),
                          op, fields, deadline, timeout, f"{topic}-{partition}",
                          lambda: self.invalidate(topic))

    def call_coordinator(self, group: str, op: str, fields: dict, *, deadline: float,
                         timeout: float | None = None) -> tuple[dict, list]:
        """``op`` at the group's coordinator, following it until ``deadline``."""
        return self._call(lambda refresh: self.coordinator(group, refresh=refresh),
                          op, fields, deadline, timeout, f"group {group!r}", None)

    def _call(self, find: Callable[[bool], Any], op: str, fields: dict, deadline: float,
              timeout: float | None, what: str,
              forget: Callable[[], None] | None) -> tuple[dict, list]:
        """``op`` at the broker ``find(refresh)`` names, asked again (and the
        broker looked up afresh) after each retriable error until ``deadline``;
        a broker that did not answer is dropped, and ``forget`` clears what
        named it."""
        attempt = 0
        while True:
            conn = None
            try:
                conn = find(attempt > 0)
                left = deadline - time.monotonic()
                return conn.request(op, fields, timeout=max(0.1, min(
                    left, timeout or self.request_timeout)))
            except RETRIABLE as error:
                if conn is not None and isinstance(error, (BrokerUnavailableError,
                                                           KafkaTimeoutError)):
                    self.drop(conn.address)
                if time.monotonic() >= deadline:
                    raise
                log.debug("%s of %s: %s; retrying", op, what, error)
                if forget is not None:
                    forget()
                self._backoff(attempt, deadline)
                attempt += 1
