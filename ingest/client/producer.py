"""Producer: kafka-python's ``KafkaProducer`` vocabulary over ember's broker.

``send()`` serializes a record, picks its partition (``partitioner``),
queues it and returns a :class:`FutureRecordMetadata`; one sender thread
turns queued records into record batches and produce requests.

Batching: a partition's records are sent once ``batch_size`` bytes are
queued, once the oldest has waited ``linger_ms``, or at ``flush()``/
``close()``. At most one batch per partition is in flight; records queued
meanwhile go out together in the next batch (up to ``max_request_size`` or
the topic's ``max.message.bytes``, whichever is smaller), so a slow fsync
makes batches larger rather than requests more numerous.

Acknowledgement (``acks``): ``"all"`` (the default, also ``-1``): the future
completes once the batch is written and fsynced: acknowledged means durable.
``1``: once written, not fsynced (a broker crash may lose it). ``0``: at
once, offset -1, nothing confirmed at all. ``1`` and ``0`` are weaker on
purpose and documented as such.

Idempotence (the default with ``acks="all"``): the producer gets an id from
the broker and numbers each partition's records; a batch whose reply was
lost is sent again byte for byte, and the partition log answers a repeat
with the original offsets instead of appending it again. A batch whose
outcome stays unknown until ``delivery_timeout_ms`` fails its futures, and
the producer takes a new id, so a later batch can never be mistaken for it.
A batch the broker refused (record too large, unknown partition, sequence
gap) fails its futures and is not retried; nothing of it was stored. After
a sequence gap (the log lost the producer's last batches, as an unclean
election does) the producer also takes a new id, so the batches after it
are accepted again.

Leaders (``cluster_client``): each batch goes to its partition's leader,
batches for one leader in one request. On the errors of a failover (not the
leader, no leader yet, the ISR below ``min.insync.replicas``, a lost or
silent broker) the producer forgets the topic's leaders, refreshes the
metadata and sends the batch again, byte for byte, after
``retry_backoff_ms``: the new leader holds the producer state of every
batch it replicated, so a batch the old leader had already passed on is
answered as a duplicate with its original offsets, and one it had not is
appended once. Producer ids come from the cluster (blocks handed out by the
controller), so they stay unique whichever broker gives them.

Batches are Kafka's RecordBatch v2, compressed as a whole with
``compression_type`` ('gzip', 'snappy', 'lz4' or 'zstd'; none by default).

Errors raised by ``send`` itself: a non-bytes key or value without a
serializer is a TypeError naming it; an unknown topic or partition,
UnknownTopicOrPartitionError; a record over the limit, RecordTooLargeError
with both sizes.

Thread-safety: thread-safe (``send`` from any thread); futures complete on
the sender thread, so their callbacks must be quick.
"""

from __future__ import annotations

import collections
import difflib
import logging
import threading
import time
from typing import Any, Callable

from ember.engine.clock import SYSTEM_CLOCK
from ember.engine.errors import (
    BrokerUnavailableError, ConfigError, KafkaStorageError, KafkaTimeoutError,
    LeaderNotAvailableError, OutOfOrderSequenceError, RecordTooLargeError,
    UnknownTopicOrPartitionError,
)
from ember.ingest import protocol
from ember.ingest.client.cluster_client import RETRIABLE, ClusterClient
from ember.ingest.log.log_manager import validate_topic_name
from ember.ingest.client.partitioner import StickyPartitions, partition_for_key
from ember.ingest.log.compression import codec_for
from ember.ingest.log.producer_state import sequence_after
from ember.ingest.log.record_batch import (
    HEADER_SIZE, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, SimpleRecord, encode_batch,
    record_size,
)
from ember.ingest.secret_file import coerce_secret
from ember.ingest.client.store import normalize_address
from ember.ingest.structs import RecordMetadata

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "acks": "all",
    "batch_size": 16384,
    "linger_ms": 5,
    "max_request_size": 1048576,
    "buffer_memory": 32 * 1024 * 1024,
    "max_block_ms": 60000,
    "request_timeout_ms": 30000,
    "delivery_timeout_ms": 120000,
    "retry_backoff_ms": 100,
    "enable_idempotence": None,  # True when acks="all"
    "key_serializer": None,
    "value_serializer": None,
    "client_id": None,
    "connect_timeout_ms": 10000,
    "compression_type": None,  # 'gzip', 'snappy', 'lz4', 'zstd' (kafka-python's names)
    "metadata_max_age_ms": 300000,  # partition counts are learnt again this often
}
_ACKS = {"all": -1, -1: -1, "-1": -1, 1: 1, "1": 1, 0: 0, "0": 0}
# Errors after which the batch may have been lost on the way, or was not
# taken (a leader moved), and is sent again.
_RETRIABLE = (KafkaStorageError, *RETRIABLE)


def check_configs(configs: dict, defaults: dict, kind: str) -> dict:
    """``defaults`` updated with ``configs``; an unknown key is a ConfigError
    naming the closest known one (kafka-python also refuses unknown keys)."""
    for key in configs:
        if key not in defaults:
            close = difflib.get_close_matches(key, defaults, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"unknown {kind} setting {key!r}{hint}; known settings: "
                              f"{', '.join(sorted(defaults))}")
    return {**defaults, **configs}


_future_lock = threading.Lock()  # futures share it: held for a few instructions at a time


class FutureRecordMetadata:
    """The outcome of one ``send``: ``get(timeout)`` returns its
    RecordMetadata or raises why it failed."""

    __slots__ = ("value", "exception", "_is_done", "_event", "_callbacks")

    def __init__(self) -> None:
        self.value: RecordMetadata | None = None
        self.exception: BaseException | None = None
        self._is_done = False
        self._event: threading.Event | None = None  # made only if someone waits
        self._callbacks: list | None = None

    @property
    def is_done(self) -> bool:
        return self._is_done

    def succeeded(self) -> bool:
        return self._is_done and self.exception is None

    def failed(self) -> bool:
        return self._is_done and self.exception is not None

    def _wait(self, timeout: float | None) -> bool:
        if not self._is_done:
            with _future_lock:
                if not self._is_done and self._event is None:
                    self._event = threading.Event()
                event = self._event
            if event is not None:
                return event.wait(timeout)
        return True

    def get(self, timeout: float | None = None) -> RecordMetadata:
        if not self._wait(timeout):
            raise KafkaTimeoutError(f"the record was not acknowledged within {timeout} s")
        if self.exception is not None:
            raise self.exception
        return self.value

    def add_callback(self, fn: Callable, *args, **kwargs) -> "FutureRecordMetadata":
        return self._add(True, fn, args, kwargs)

    def add_errback(self, fn: Callable, *args, **kwargs) -> "FutureRecordMetadata":
        return self._add(False, fn, args, kwargs)

    def _add(self, on_success: bool, fn: Callable, args: tuple, kwargs: dict):
        with _future_lock:
            if not self._is_done:
                if self._callbacks is None:
                    self._callbacks = []
                self._callbacks.append((on_success, fn, args, kwargs))
                return self
        self._run(on_success, fn, args, kwargs)
        return self

    def _run(self, on_success: bool, fn: Callable, args: tuple, kwargs: dict) -> None:
        if on_success == (self.exception is None):
            try:
                fn(*args, self.value if on_success else self.exception, **kwargs)
            except Exception:  # noqa: BLE001 - a user callback must not stop the sender
                log.exception("error in a producer callback")

    def _complete(self, value: RecordMetadata | None, exception: BaseException | None) -> None:
        with _future_lock:
            if self._is_done:
                return
            self.value, self.exception = value, exception
            self._is_done = True
            event, callbacks, self._callbacks = self._event, self._callbacks, None
        if event is not None:
            event.set()
        for callback in callbacks or ():
            self._run(*callback)


class _Record:
    __slots__ = ("key", "value", "headers", "timestamp", "future", "size", "queued_at")

    def __init__(self, key, value, headers, timestamp, size, queued_at):
        self.key, self.value, self.headers = key, value, headers
        self.timestamp, self.size, self.queued_at = timestamp, size, queued_at
        self.future = FutureRecordMetadata()


class _Batch:
    """Records sent (and resent) as one encoded batch."""
    __slots__ = ("topic", "partition", "records", "data", "producer_id", "base_sequence",
                 "retry_at")

    def __init__(self, topic: str, partition: int, records: list[_Record]):
        self.topic, self.partition, self.records = topic, partition, records
        self.data: bytes | None = None
        self.producer_id = NO_PRODUCER_ID
        self.base_sequence = NO_SEQUENCE
        self.retry_at = 0.0


class _PartitionQueue:
    __slots__ = ("records", "bytes", "in_flight", "next_sequence")

    def __init__(self) -> None:
        self.records: collections.deque[_Record] = collections.deque()
        self.bytes = 0
        self.in_flight: _Batch | None = None
        self.next_sequence = 0


class _Request:
    __slots__ = ("batches", "deadline", "call", "conn")

    def __init__(self, batches: list[_Batch], deadline: float, conn):
        self.batches, self.deadline, self.call, self.conn = batches, deadline, None, conn


class Producer:
    def __init__(self, bootstrap_servers: str, *, secret: bytes | str | None = None,
                 secret_file: str | None = None, **configs):
        self.config = config = check_configs(configs, DEFAULTS, "producer")
        if config["acks"] not in _ACKS:
            raise ConfigError(f"acks={config['acks']!r}: expected 'all' (-1), 1 or 0")
        self._acks = _ACKS[config["acks"]]
        idempotent = config["enable_idempotence"]
        if idempotent is None:
            idempotent = self._acks == -1
        if idempotent and self._acks != -1:
            raise ConfigError(f"enable_idempotence=True needs acks='all', got "
                              f"acks={config['acks']!r}")
        self._idempotent = idempotent
        try:
            self._compression = codec_for(config["compression_type"])
        except ValueError as error:
            raise ConfigError(str(error)) from None
        for name in ("batch_size", "max_request_size", "buffer_memory"):
            if not isinstance(config[name], int) or config[name] < 1:
                raise ConfigError(f"{name}={config[name]!r}: expected a whole number >= 1")
        self._key_serializer = config["key_serializer"]
        self._value_serializer = config["value_serializer"]
        self._linger = config["linger_ms"] / 1000
        self._request_timeout = config["request_timeout_ms"] / 1000
        self._delivery_timeout = config["delivery_timeout_ms"] / 1000
        self._backoff = config["retry_backoff_ms"] / 1000
        self._client = ClusterClient(
            normalize_address(bootstrap_servers), coerce_secret(secret, secret_file),
            connect_timeout=config["connect_timeout_ms"] / 1000,
            request_timeout=self._request_timeout, retry_backoff=self._backoff,
            name="ember-producer")
        self._cond = threading.Condition()
        self._queues: dict[tuple[str, int], _PartitionQueue] = {}
        self._topics: dict[str, tuple[int, int]] = {}  # topic -> (partitions, max batch bytes)
        self._topics_expire: dict[str, float] = {}  # topic -> when to learn it again
        self._sticky = StickyPartitions()
        self._requests: list[_Request] = []
        self._replies: list[_Request] = []
        self._queued_bytes = 0
        self._flushing = 0
        self._closing = False
        self._sender_ended = False  # set by the sender thread as it ends, however it ends
        self._closed = False
        self._producer_id = NO_PRODUCER_ID
        self._new_id_needed = idempotent
        self._thread = threading.Thread(target=self._run, name="ember-producer-sender",
                                        daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"Producer({','.join(self._client.bootstrap)}, acks={self.config['acks']!r})"

    # --- the user's side ----------------------------------------------------------

    def send(self, topic: str, value: Any = None, key: Any = None, headers=None,
             partition: int | None = None, timestamp_ms: int | None = None) -> FutureRecordMetadata:
        """Queue one record; the future completes when it is acknowledged."""
        if self._closing or self._sender_ended:
            raise RuntimeError("this producer is closed; make a new one to send more")
        if topic not in self._topics:  # a known topic's name was checked when it was learnt
            validate_topic_name(topic)
        if value is None and key is None:
            raise ValueError("a record needs a key or a value (or both); got neither")
        key_bytes = _serialize(self._key_serializer, key, "key", "key_serializer")
        value_bytes = _serialize(self._value_serializer, value, "value", "value_serializer")
        headers = _check_headers(headers)
        partitions, max_batch = self._topic(topic)
        if partition is not None:
            if isinstance(partition, bool) or not isinstance(partition, int) or \
                    not 0 <= partition < partitions:
                raise UnknownTopicOrPartitionError(
                    f"topic {topic!r} has partitions 0 to {partitions - 1}; there is no "
                    f"partition {partition!r}")
        size = record_size(key_bytes, value_bytes, headers)
        if HEADER_SIZE + size > max_batch:
            raise RecordTooLargeError(
                f"a record of {HEADER_SIZE + size} bytes (as a batch) exceeds the limit of "
                f"{max_batch} bytes for topic {topic!r} (the smaller of max_request_size and "
                f"the topic's max.message.bytes)")
        if timestamp_ms is None:
            timestamp_ms = SYSTEM_CLOCK.time_ms()
        record = _Record(key_bytes, value_bytes, headers, timestamp_ms, size, time.monotonic())
        deadline = time.monotonic() + self.config["max_block_ms"] / 1000
        with self._cond:
            while self._queued_bytes + size > self.config["buffer_memory"] and self._queued_bytes:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise KafkaTimeoutError(
                        f"the producer's buffer ({self.config['buffer_memory']} bytes) stayed "
                        f"full for max_block_ms={self.config['max_block_ms']}")
                self._cond.wait(left)
            sticky = partition is None and key_bytes is None
            if partition is None:
                partition = (partition_for_key(key_bytes, partitions) if key_bytes is not None
                             else self._sticky.current(topic, partitions))
            queue = self._queues.get((topic, partition))
            if queue is None:
                queue = self._queues[topic, partition] = _PartitionQueue()
            queue.records.append(record)
            queue.bytes += size
            self._queued_bytes += size
            batch_size = self.config["batch_size"]
            if queue.bytes >= batch_size and queue.bytes - size < batch_size:
                # A batch just filled: wake the sender (once, not for every
                # record added while it is busy), and null-key records move on.
                if sticky:
                    self._sticky.move_on(topic, partition, partitions)
                self._cond.notify_all()
            elif self._linger <= 0 or len(queue.records) == 1:
                self._cond.notify_all()  # send now, or the sender times this record's linger
        return record.future

    def _topic(self, topic: str) -> tuple[int, int]:
        """(partitions, max batch bytes) of ``topic``, learnt again once older
        than ``metadata_max_age_ms`` so partitions added meanwhile are used."""
        known = self._topics.get(topic)
        now = time.monotonic()
        if known is not None and now < self._topics_expire.get(topic, 0.0):
            return known
        try:
            info = self._client.topic(topic, refresh=True)
        except UnknownTopicOrPartitionError:
            raise UnknownTopicOrPartitionError(
                f"unknown topic {topic!r}: create it first (store.create_topic)") from None
        except RETRIABLE as error:
            if known is None:
                raise
            # Keep sending with what is known; ask again after a backoff.
            log.debug("metadata refresh of %r failed: %s", topic, error)
            self._topics_expire[topic] = now + self._backoff
            return known
        max_batch = min(self.config["max_request_size"], info["config"]["max.message.bytes"])
        # Never fewer partitions than known: a broker behind the one that
        # answered before may still show the count from before a growth.
        partitions = max(info["partitions"], known[0] if known else 0)
        known = self._topics[topic] = (partitions, max_batch)
        self._topics_expire[topic] = now + self.config["metadata_max_age_ms"] / 1000
        return known

    def partitions_for(self, topic: str) -> set[int]:
        return set(range(self._topic(topic)[0]))

    def flush(self, timeout: float | None = None) -> None:
        """Send everything queued now and wait until each record is
        acknowledged or has failed. KafkaTimeoutError after ``timeout`` s."""
        with self._cond:
            futures = [record.future for queue in self._queues.values()
                       for record in [*queue.records,
                                      *(queue.in_flight.records if queue.in_flight else ())]]
            self._flushing += 1
            self._cond.notify_all()
        try:
            deadline = None if timeout is None else time.monotonic() + timeout
            for future in futures:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                if not future._wait(left):
                    raise KafkaTimeoutError(f"flush: records still unacknowledged after "
                                            f"{timeout} s")
        finally:
            with self._cond:
                self._flushing -= 1

    def close(self, timeout: float | None = None) -> None:
        """Send what is queued (waiting up to ``timeout`` s), then stop. Records
        not acknowledged by then fail with KafkaTimeoutError."""
        if self._closed:
            return
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(5)
        self._client.close()

    def __enter__(self) -> "Producer":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # --- the sender thread --------------------------------------------------------

    def _run(self) -> None:
        try:
            while self._step():
                pass
        except Exception:  # noqa: BLE001 - fail every record rather than hang its sender
            log.exception("the producer's sender thread failed")
        self._sender_ended = True
        self._fail_everything(KafkaTimeoutError("the producer was closed before the record "
                                                "was acknowledged"))

    def _step(self) -> bool:
        """One round: take replies, expire requests, send what is ready.
        Returns False when the thread should end."""
        done: list[tuple[_Record, RecordMetadata | None, BaseException | None]] = []
        silent: set[str] = set()
        with self._cond:
            now = time.monotonic()
            replies, self._replies = self._replies, []
            for request in replies:
                self._requests.remove(request)
                self._take_reply(request, done, now)
            for request in [r for r in self._requests if r.deadline <= now]:
                self._requests.remove(request)
                if request.call is not None:
                    request.conn.forget(request.call)
                    silent.add(request.conn.address)
                error = KafkaTimeoutError(f"no reply to a produce request within "
                                          f"{self._request_timeout:g} s")
                for batch in request.batches:
                    self._retry_or_fail(batch, error, done, now)
            batches = self._ready(now)
            if self._closed or (self._closing and not batches and not self._requests and
                                not any(q.records or q.in_flight for q in self._queues.values())):
                return self._finish(done)
            if not batches and not done and not silent:
                self._cond.wait(self._next_wakeup(now))
                return True
        for address in silent:
            # As Kafka's client disconnects a node whose request timed out: a
            # leader cut off from its followers still answers metadata (naming
            # itself), so it must not be the first broker asked again.
            self._client.drop(address)
        self._complete(done)
        if batches:
            self._send(batches)
        return True

    def _finish(self, done) -> bool:
        self._complete(done)
        return False

    def _next_wakeup(self, now: float) -> float:
        times = [r.deadline for r in self._requests]
        for queue in self._queues.values():
            if queue.in_flight is not None and queue.in_flight.retry_at:
                times.append(queue.in_flight.retry_at)
            elif queue.in_flight is None and queue.records:
                times.append(queue.records[0].queued_at + self._linger)
        return max(0.001, min(times) - now) if times else 1.0

    def _in_request(self, batch: _Batch) -> bool:
        return any(batch in request.batches for request in self._requests)

    def _ready(self, now: float) -> list[_Batch]:
        """Batches to send now: retries that are due, and new batches of
        partitions with nothing in flight whose records are ready."""
        ready = []
        urgent = self._flushing or self._closing
        for (topic, partition), queue in self._queues.items():
            batch = queue.in_flight
            if batch is not None:
                if batch.retry_at and batch.retry_at <= now and not self._in_request(batch):
                    batch.retry_at = 0.0
                    ready.append(batch)
                continue
            if not queue.records or not (urgent or queue.bytes >= self.config["batch_size"]
                                         or now - queue.records[0].queued_at >= self._linger):
                continue
            partitions, max_batch = self._topics[topic]
            records, size = [], HEADER_SIZE
            while queue.records and (not records or size + queue.records[0].size <= max_batch):
                record = queue.records.popleft()
                records.append(record)
                size += record.size
                queue.bytes -= record.size
                self._queued_bytes -= record.size
            batch = _Batch(topic, partition, records)
            if self._acks != 0:
                queue.in_flight = batch
            self._sticky.move_on(topic, partition, partitions)
            ready.append(batch)
        if ready:
            self._cond.notify_all()  # buffer space freed
        return ready

    def _send(self, batches: list[_Batch]) -> None:
        if self._new_id_needed and any(b.data is None for b in batches):
            try:
                self._take_new_producer_id()
            except _RETRIABLE as error:
                log.warning("could not get a producer id yet: %s", error)
                done: list = []
                with self._cond:
                    for batch in batches:
                        self._retry_or_fail(batch, error, done, time.monotonic())
                self._complete(done)
                return
        for batch in batches:
            if batch.data is None:
                if self._idempotent:
                    with self._cond:
                        queue = self._queues[batch.topic, batch.partition]
                        batch.producer_id, batch.base_sequence = self._producer_id, queue.next_sequence
                        queue.next_sequence = sequence_after(queue.next_sequence, len(batch.records))
                batch.data = encode_batch(
                    [SimpleRecord(r.key, r.value, r.headers, r.timestamp) for r in batch.records],
                    producer_id=batch.producer_id,
                    producer_epoch=0 if self._idempotent else NO_PRODUCER_EPOCH,
                    base_sequence=batch.base_sequence, compression_type=self._compression)
        by_leader: dict[str, list[_Batch]] = {}
        unrouted: list = []
        for batch in batches:
            try:
                address = self._client.leader_address(batch.topic, batch.partition)
            except _RETRIABLE as error:
                unrouted.append((batch, error))
                continue
            except UnknownTopicOrPartitionError as error:
                if batch.partition < self._topics.get(batch.topic, (0,))[0]:
                    # Added lately: the broker asked has not applied it yet.
                    error = LeaderNotAvailableError(
                        f"topic {batch.topic!r} partition {batch.partition}: not yet in the "
                        f"metadata a broker gave ({error})")
                unrouted.append((batch, error))
                continue
            by_leader.setdefault(address, []).append(batch)
        if unrouted:
            done: list = []
            with self._cond:
                for batch, error in unrouted:
                    self._retry_or_fail(batch, error, done, time.monotonic())
            self._complete(done)
        for address, group in by_leader.items():
            self._send_to(address, group)

    def _send_to(self, address: str, batches: list[_Batch]) -> None:
        fields = {"acks": self._acks, "partitions": [[b.topic, b.partition] for b in batches]}
        frames = [b.data for b in batches]
        try:
            conn = self._client.connection(address)
        except _RETRIABLE as error:
            self._client.drop(address)
            conn = None
            connect_error = error
        if self._acks == 0:
            if conn is not None:
                try:
                    conn.send_oneway("produce", fields, frames)
                except BrokerUnavailableError:
                    pass  # acks=0 confirms nothing
            self._complete([(r, _metadata(b, r, -1), None) for b in batches for r in b.records])
            return
        if conn is None:
            done: list = []
            with self._cond:
                for batch in batches:
                    self._retry_or_fail(batch, connect_error, done, time.monotonic())
            self._complete(done)
            return
        request = _Request(batches, time.monotonic() + self._request_timeout, conn)
        with self._cond:
            self._requests.append(request)
        try:
            request.call = conn.call("produce", fields, frames,
                                     callback=lambda _call: self._on_reply(request))
        except BrokerUnavailableError:
            request.deadline = 0.0  # the connection is lost: expire now
            with self._cond:
                self._cond.notify_all()

    def _take_new_producer_id(self) -> None:
        reply, _ = self._client.request_any("init_producer_id", {},
                                            timeout=self._request_timeout)
        with self._cond:
            self._producer_id = reply["producer_id"]
            self._new_id_needed = False
            for queue in self._queues.values():
                queue.next_sequence = 0

    def _on_reply(self, request: _Request) -> None:
        with self._cond:
            if request in self._requests:
                self._replies.append(request)
                self._cond.notify_all()

    def _take_reply(self, request: _Request, done: list, now: float) -> None:
        call = request.call
        if call.error is not None:
            for batch in request.batches:
                self._retry_or_fail(batch, call.error, done, now)
            return
        results = call.header.get("results")
        if not isinstance(results, list) or len(results) != len(request.batches):
            results = [{"error": protocol.error_doc(BrokerUnavailableError(
                "a malformed produce reply; sending again"))}] * len(request.batches)
        for batch, result in zip(request.batches, results):
            if "error" in result:
                self._retry_or_fail(batch, protocol.error_from(result["error"]), done, now)
                continue
            self._queues[batch.topic, batch.partition].in_flight = None
            done.extend((r, _metadata(batch, r, result["offset"] + i), None)
                        for i, r in enumerate(batch.records))

    def _retry_or_fail(self, batch: _Batch, error: BaseException, done: list, now: float) -> None:
        queue = self._queues[batch.topic, batch.partition]
        oldest = min(r.queued_at for r in batch.records)
        if isinstance(error, _RETRIABLE):
            self._client.invalidate(batch.topic)  # the leader may have moved
        if isinstance(error, _RETRIABLE) and now - oldest < self._delivery_timeout \
                and not self._closed:
            batch.retry_at = now + self._backoff
            return
        queue.in_flight = None
        if isinstance(error, _RETRIABLE):
            # The batch may or may not be stored: a new producer id makes sure
            # no later batch can be taken for a repeat of it.
            self._new_id_needed = self._idempotent
        elif isinstance(error, OutOfOrderSequenceError) and self._idempotent:
            # The partition's log no longer holds this producer's last batches
            # (an unclean election dropped them): its sequence cannot go on.
            # As Kafka's producer bumps its epoch, later batches start over
            # under a new id.
            self._new_id_needed = True
        elif self._idempotent and batch.base_sequence != NO_SEQUENCE:
            queue.next_sequence = batch.base_sequence  # refused: nothing was stored
        done.extend((r, None, error) for r in batch.records)

    def _complete(self, done: list) -> None:
        for record, metadata, error in done:
            record.future._complete(metadata, error)

    def _fail_everything(self, error: BaseException) -> None:
        with self._cond:
            records = [r for q in self._queues.values()
                       for r in [*q.records, *(q.in_flight.records if q.in_flight else ())]]
            for queue in self._queues.values():
                queue.records.clear()
                queue.in_flight = None
            self._queued_bytes = 0
            self._cond.notify_all()
        self._complete([(r, None, error) for r in records])


def _metadata(batch: _Batch, record: _Record, offset: int) -> RecordMetadata:
    return RecordMetadata(batch.topic, batch.partition, offset, record.timestamp,
                          -1 if record.key is None else len(record.key),
                          -1 if record.value is None else len(record.value))


def _serialize(serializer: Callable | None, item: Any, what: str, setting: str) -> bytes | None:
    if item is None:
        return None
    if serializer is not None:
        item = serializer(item)
    if isinstance(item, bytes):
        return item
    if isinstance(item, (bytearray, memoryview)):
        return bytes(item)
    raise TypeError(f"the record's {what} must be bytes, got {type(item).__name__} "
                    f"{item!r:.60}" + ("" if serializer is not None else
                                       f"; pass {setting}= to the producer to turn it into "
                                       f"bytes (e.g. {setting}=str.encode)"))


def _check_headers(headers) -> tuple:
    if not headers:
        return ()
    checked = []
    for header in headers:
        if (not isinstance(header, tuple) or len(header) != 2 or not isinstance(header[0], str)
                or not (header[1] is None or isinstance(header[1], (bytes, bytearray)))):
            raise TypeError(f"each header must be a (str, bytes) pair, got {header!r:.80}")
        checked.append((header[0], None if header[1] is None else bytes(header[1])))
    return tuple(checked)
