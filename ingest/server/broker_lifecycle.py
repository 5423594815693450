"""BrokerLifecycle: one broker's place in a cluster: registration,
heartbeats, the metadata image it follows, and producer-id blocks.

At start the broker registers with the controller quorum
(``register_broker``: its id, an incarnation drawn at random per process
start, the host and port its clients and followers reach it at, and its
Kafka listener if any); the registration's Raft offset is its broker epoch.
A heartbeat thread then sends ``broker_heartbeat`` every interval the
controller asked for, with the metadata offset applied here and each
replica's log end offset and high watermark (what the controller needs to
report an unclean election); a heartbeat refused for a stale epoch or an
unknown broker registers again. The controller unfences the broker once
its heartbeat shows it applied its own registration.

A metadata thread long-polls ``fetch_metadata`` on the active controller
(one ControllerClient of its own, so heartbeats never wait behind it) and
hands every newer image to ``on_image`` on that thread: roles change on
one thread only, in image order.

Stopping (``stop(controlled=True)``) is Kafka's controlled shutdown: the
heartbeat asks to shut down, the controller moves this broker's
leaderships and ISR memberships away, and once it answers
``shutdown_ready`` (or after ``shutdown_timeout``) the threads end.

Producer ids (:class:`ClusterProducerIds`): blocks of 1,000 from the
controller's ``allocate_producer_ids``, unique in the cluster for good, so
an idempotent producer keeps its id's sequence numbers valid whichever
broker leads its partitions.

What it must not know: partitions and logs (``on_image`` and
``replica_offsets`` are the broker's).

Thread-safety: thread-safe; ``start``/``stop`` from one thread.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from typing import Callable

from ember.engine.errors import (
    BrokerNotAvailableError, EmberError, KafkaTimeoutError, StaleBrokerEpochError,
)
from ember.ingest.cluster.controller_client import ControllerClient
from ember.ingest.cluster.metadata import MetadataImage
from ember.ingest.server import broker_faults

log = logging.getLogger(__name__)

METADATA_WAIT_MS = 2000


class BrokerLifecycle:
    def __init__(self, broker_id: int, controllers: dict[int, str], secret: bytes, host: str,
                 port: int, *, kafka: str | None = None,
                 on_image: Callable[[MetadataImage], None] = lambda image: None,
                 replica_offsets: Callable[[], list] = lambda: [],
                 shutdown_timeout: float = 10.0):
        self.broker_id = broker_id
        self.incarnation = secrets.token_hex(8)
        self._registration = {"broker_id": broker_id, "incarnation": self.incarnation,
                              "host": host, "port": port}
        if kafka:
            self._registration["kafka"] = kafka
        self._on_image = on_image
        self._replica_offsets = replica_offsets
        self._shutdown_timeout = shutdown_timeout
        self._client = ControllerClient(controllers, secret)
        self._metadata_client = ControllerClient(controllers, secret,
                                                 attempt_timeout=METADATA_WAIT_MS / 1000 + 1.0)
        self.epoch: int | None = None
        self.image = MetadataImage()
        self.fenced = True
        self.heartbeat_interval = 0.5
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._want_shutdown = False
        self._shutdown_ready = threading.Event()
        self._threads: list[threading.Thread] = []

    # --- lifecycle ----------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> None:
        """Register (retrying until a controller answers or ``timeout``),
        then start heartbeating and following the metadata."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._register()
                break
            except (KafkaTimeoutError, EmberError) as error:
                if time.monotonic() >= deadline or self._stopping.is_set():
                    raise KafkaTimeoutError(f"broker {self.broker_id} could not register with "
                                            f"the controller quorum: {error}") from None
                time.sleep(0.2)
        for target, name in ((self._heartbeats, "ember-broker-heartbeat"),
                             (self._follow_metadata, "ember-broker-metadata")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def _register(self) -> None:
        reply = self._client.request("register_broker", timeout=5.0, **self._registration)
        self.heartbeat_interval = float(reply.get("heartbeat_interval", 0.5))
        with self._cond:
            self.epoch = reply["offset"]
            self._cond.notify_all()
        log.info("broker %d registered with epoch %d", self.broker_id, self.epoch)

    def stop(self, controlled: bool = True) -> None:
        if controlled and self.epoch is not None and self._threads:
            self._want_shutdown = True
            if not self._shutdown_ready.wait(self._shutdown_timeout):
                log.warning("broker %d: the controller did not confirm the controlled "
                            "shutdown within %.0f s", self.broker_id, self._shutdown_timeout)
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(METADATA_WAIT_MS / 1000 + 5)
        self._client.close()
        self._metadata_client.close()

    # --- talking to the controller ------------------------------------------------

    def request(self, op: str, timeout: float = 15.0, **fields) -> dict:
        """``op`` at the active controller (create_topic, alter_partition, ...)."""
        return self._client.request(op, timeout=timeout, **fields)

    def _heartbeats(self) -> None:
        while not self._stopping.wait(self.heartbeat_interval):
            try:
                reply = self._client.request(
                    "broker_heartbeat", timeout=max(1.0, 2 * self.heartbeat_interval),
                    broker_id=self.broker_id, epoch=self.epoch,
                    metadata_offset=self.image.offset, want_shutdown=self._want_shutdown,
                    replicas=self._replica_offsets())
            except (StaleBrokerEpochError, BrokerNotAvailableError) as error:
                log.warning("broker %d: %s; registering again", self.broker_id, error)
                try:
                    self._register()
                except EmberError as again:
                    log.warning("broker %d could not register again: %s", self.broker_id, again)
                continue
            except EmberError as error:
                log.debug("broker %d: heartbeat failed: %s", self.broker_id, error)
                continue
            self.fenced = bool(reply.get("fenced"))
            if self._want_shutdown and reply.get("shutdown_ready"):
                self._shutdown_ready.set()

    def _follow_metadata(self) -> None:
        while not self._stopping.is_set():
            try:
                reply = self._metadata_client.request(
                    "fetch_metadata", timeout=METADATA_WAIT_MS / 1000 + 3.0,
                    since=self.image.offset, max_wait_ms=METADATA_WAIT_MS)
            except EmberError as error:
                log.debug("broker %d: fetch_metadata failed: %s", self.broker_id, error)
                self._stopping.wait(0.1)
                continue
            if "image" not in reply or reply["offset"] <= self.image.offset:
                continue
            image = MetadataImage.from_json(reply["image"])
            if broker_faults.hit("metadata.slow_apply"):
                self._stopping.wait(2.0)
            try:
                self._on_image(image)
            except Exception:  # noqa: BLE001 - keep following; the next image retries
                log.exception("broker %d: applying metadata at offset %d failed",
                              self.broker_id, image.offset)
                self._stopping.wait(0.2)
                continue
            with self._cond:
                self.image = image
                self._cond.notify_all()

    def wait_for(self, predicate: Callable[[MetadataImage], bool], timeout: float) -> bool:
        """Wait until the applied image satisfies ``predicate``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.image):
                left = deadline - time.monotonic()
                if left <= 0 or self._stopping.is_set():
                    return False
                self._cond.wait(left)
            return True


class ClusterProducerIds:
    """Producer ids from blocks the controller hands this broker."""

    def __init__(self, lifecycle: BrokerLifecycle):
        self._lifecycle = lifecycle
        self._lock = threading.Lock()
        self._next = self._end = 0

    def allocate(self) -> int:
        with self._lock:
            if self._next >= self._end:
                reply = self._lifecycle.request("allocate_producer_ids",
                                                broker_id=self._lifecycle.broker_id,
                                                broker_epoch=self._lifecycle.epoch)
                self._next, self._end = reply["first"], reply["first"] + reply["count"]
            self._next += 1
            return self._next - 1
