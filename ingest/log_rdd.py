"""LogRDD: an RDD over fixed offset ranges of a log store topic.

``topic_rdd(sc, store, topic)`` asks the broker, once, where each partition's
durable data starts and ends, and fixes one ``OffsetRange`` per partition:
``[start, end)`` with ``end`` never past the high watermark (the end of what
is fsynced, so never past what is durable). The RDD has one partition per
range, and its contents never change: a producer appending during a job
adds records past the ranges, and a recomputation (a lost worker's task run
again) reads exactly the same range again. If retention removed part of a
range, reading it fails with OffsetOutOfRangeError naming the topic, the
partition and the offsets: never fewer rows.

The five properties: ``_get_partitions`` (the ranges), ``compute`` (read one
range from the broker: the worker connects to the broker itself, with the
address and secret the RDD carries), no dependencies, no partitioner, and no
preferred locations (the broker is not a worker, so no worker is closer to
it than another). Elements are ``(key, value)`` decoded as UTF-8 by default
(None stays None), or what ``keyDecoder``/``valueDecoder`` make of the raw
bytes. An exception from a decoder carries a note naming the topic,
partition and offset of the record. ``OffsetRangeRDD`` is this RDD without
its reader: the Kafka client's ``KafkaRDD`` is the same RDD over a Kafka
cluster's ranges.

In a cluster each range is read from its partition's leader, found through
metadata and followed through a failover (``cluster_client``); a new leader
holds every record below the old one's high watermark, so a recomputation
after a failover reads the same records. A new leader's high watermark may
trail the old one's for a moment (until its followers fetch): a read that
finds the range's end past it waits, up to ``retry_window``, rather than
fail.

The secret travels inside the task binary (over the CURVE-encrypted
connection to the workers) and never appears in ``repr``, logs or messages.

Thread-safety: RDD objects are used by the driver's thread; ``compute`` runs
in a task slot and shares this process's cached connection per broker, which
is thread-safe.
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any, Callable, Iterator, Mapping

from ember.engine.wire.closure import Closure
from ember.engine.errors import BrokerUnavailableError, OffsetOutOfRangeError
from ember.engine.api.rdd import RDD, Partition
from ember.ingest.client.cluster_client import RETRIABLE, ClusterClient
from ember.ingest.log.record_batch import Record, iter_records
from ember.ingest.client.store import LogStore, connect, normalize_address
from ember.ingest.structs import OffsetRange

DEFAULT_FETCH_MAX_BYTES = 1 << 20
DEFAULT_RETRY_WINDOW = 30.0


def utf8_decoder(data: bytes | None) -> str | None:
    """Decode UTF-8 bytes; None stays None (PySpark's ``utf8_decoder``)."""
    return None if data is None else data.decode("utf-8")


class BrokerAccess:
    """Where a worker reads from: a broker's address and the store's secret.
    The secret is not part of its repr."""

    __slots__ = ("address", "secret")

    def __init__(self, address: str, secret: bytes):
        self.address = normalize_address(address)
        self.secret = secret

    def __repr__(self) -> str:
        return f"BrokerAccess({self.address!r})"

    def __getstate__(self):
        return {"address": self.address, "secret": self.secret}

    def __setstate__(self, state):
        self.address, self.secret = state["address"], state["secret"]


class KeyValueDecoder:
    """Record -> ``(keyDecoder(key), valueDecoder(value))``."""

    def __init__(self, key_decoder: Callable, value_decoder: Callable):
        self.key_decoder, self.value_decoder = key_decoder, value_decoder

    def __call__(self, topic: str, partition: int, record: Record) -> Any:
        return self.key_decoder(record.key), self.value_decoder(record.value)


class RangePartition(Partition):
    """One fixed offset range of a topic partition."""

    __slots__ = ("range",)

    def __init__(self, index: int, offset_range: OffsetRange):
        super().__init__(index)
        self.range = offset_range

    def __repr__(self) -> str:
        r = self.range
        return (f"{type(self).__name__}({self.index}, {r.topic}-{r.partition} "
                f"[{r.fromOffset}, {r.untilOffset}))")


class OffsetRangeRDD(RDD):
    """An RDD with one partition per fixed ``OffsetRange``, whose elements
    are ``decode(topic, partition, record)`` of the range's records. A kind
    of it says how a worker reads a range (``_read``), what its partitions
    are called (``partition_type``) and how a decoder's error names the
    range (``range_name``)."""

    partition_type: type = RangePartition
    range_name = "range"

    def __init__(self, ctx: Any, access: Any, ranges: list[OffsetRange],
                 decode: Callable[[str, int, Record], Any], op: str, callsite: str | None,
                 retry_window: float):
        super().__init__(ctx, op, callsite)
        self._access = access
        self._ranges = list(ranges)
        self._decode = Closure(decode, [(op, self._callsite, decode)])
        self._retry_window = retry_window

    def offsetRanges(self) -> list[OffsetRange]:
        """The offset range of each partition, fixed when the RDD was made."""
        return list(self._ranges)

    def _get_partitions(self) -> list[Partition]:
        return [self.partition_type(i, r) for i, r in enumerate(self._ranges)]

    def _read(self, r: OffsetRange) -> Iterator[Record]:
        raise NotImplementedError

    def compute(self, split: RangePartition, context) -> Iterator:
        decode = self._decode.value
        r = split.range
        for record in self._read(r):
            try:
                yield decode(r.topic, r.partition, record)
            except Exception as error:
                error.add_note(f"while decoding the record at offset {record.offset} of topic "
                               f"{r.topic!r} partition {r.partition} ({self.range_name} "
                               f"[{r.fromOffset}, {r.untilOffset}))")
                raise

    def _closures(self) -> list[Closure]:
        return [self._decode]


class LogPartition(RangePartition):
    __slots__ = ()


class LogRDD(OffsetRangeRDD):
    partition_type = LogPartition
    range_name = "LogRDD range"

    def __init__(self, ctx: Any, access: BrokerAccess, ranges: list[OffsetRange],
                 decode: Callable[[str, int, Record], Any], *,
                 fetch_max_bytes: int = DEFAULT_FETCH_MAX_BYTES,
                 retry_window: float = DEFAULT_RETRY_WINDOW, op: str = "topicRDD",
                 callsite: str | None = None):
        super().__init__(ctx, access, ranges, decode, op, callsite, retry_window)
        self._fetch_max_bytes = fetch_max_bytes

    def _read(self, r: OffsetRange) -> Iterator[Record]:
        return read_range(self._access, r, self._fetch_max_bytes, self._retry_window)


# --- reading a range on a worker -------------------------------------------------

_clients: dict[tuple[str, bytes], ClusterClient] = {}
_clients_lock = threading.Lock()


def _client(access: BrokerAccess) -> ClusterClient:
    """This process's client of a store, made once and shared by tasks."""
    key = (access.address, hashlib.sha256(access.secret).digest())
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = ClusterClient(access.address, access.secret,
                                                   name="ember-logrdd")
        return client


def range_unavailable(r: OffsetRange, reason: str) -> OffsetOutOfRangeError:
    error = OffsetOutOfRangeError(f"offsets [{r.fromOffset}, {r.untilOffset}) of topic "
                                  f"{r.topic!r} partition {r.partition} are no longer "
                                  f"available: {reason}")
    error.topic, error.partition = r.topic, r.partition
    error.fromOffset, error.untilOffset = r.fromOffset, r.untilOffset
    return error


def read_range(access: BrokerAccess, r: OffsetRange, fetch_max_bytes: int,
               retry_window: float) -> Iterator[Record]:
    """Every record of ``r``, in offset order, exactly once; raises rather
    than return fewer. A broker that does not answer is retried for
    ``retry_window`` seconds (it may be restarting) before the read fails."""
    offset, until = r.fromOffset, r.untilOffset
    client = _client(access) if offset < until else None
    while offset < until:
        fields = {"topic": r.topic, "partition": r.partition, "offset": offset,
                  "max_bytes": fetch_max_bytes}
        give_up = time.monotonic() + retry_window
        while True:
            try:
                header, frames = client.call_leader(r.topic, r.partition, "fetch", fields,
                                                    deadline=give_up,
                                                    timeout=min(10.0, retry_window))
            except OffsetOutOfRangeError as error:
                raise range_unavailable(r, f"the log now starts at "
                                           f"{getattr(error, 'log_start_offset', '?')}") from None
            except RETRIABLE as error:
                raise BrokerUnavailableError(
                    f"topic {r.topic!r} partition {r.partition} is unavailable: no leader at "
                    f"{access.address} answered for {retry_window:g} s ({error})") from None
            if frames and frames[0]:
                break
            if not client.clustered or time.monotonic() >= give_up:
                raise range_unavailable(r, f"the log holds acknowledged records only up to "
                                           f"offset {header.get('high_watermark')}")
            time.sleep(0.1)  # a new leader whose high watermark has not caught up yet
        for record in iter_records(frames[0]):
            if record.offset < offset:
                continue
            if record.offset >= until:
                return
            yield record
            offset = record.offset + 1


# --- making a LogRDD on the driver -----------------------------------------------


def open_store(store_or_address: LogStore | str, secret: bytes | str | None) -> tuple[LogStore, bool]:
    """A store handle, and whether the caller must close it."""
    if isinstance(store_or_address, LogStore):
        return store_or_address, False
    if secret is None:
        raise ValueError(f"reading from the broker at {store_or_address!r} needs its secret "
                         f"(secret=...), or pass the LogStore handle")
    return connect(store_or_address, secret), True


def _offset_for(spec: Any, partition: int, edges: tuple[int, int], what: str) -> int:
    if isinstance(spec, Mapping):
        spec = spec.get(partition, "earliest" if what == "start" else "latest")
    if spec == "earliest":
        return edges[0]
    if spec == "latest":
        return edges[1]
    if isinstance(spec, bool) or not isinstance(spec, int):
        raise ValueError(f"{what}={spec!r}: expected 'earliest', 'latest', an offset, or a "
                         f"dict of partition -> offset")
    return spec


def check_ranges(store: LogStore, ranges: list[OffsetRange], edges: dict | None = None) -> None:
    """Every range must lie within durable, retained data now."""
    if edges is None:
        edges = _edges(store, [(r.topic, r.partition) for r in ranges])
    for r in ranges:
        low, high = edges[r.topic, r.partition]
        problem = None
        if r.fromOffset < 0 or r.fromOffset > r.untilOffset:
            problem = "expected 0 <= fromOffset <= untilOffset"
        elif r.untilOffset > high:
            problem = (f"untilOffset is past the high watermark {high} (the end of durable "
                       f"data); a range may only cover what is durable")
        elif r.fromOffset < low and r.fromOffset < r.untilOffset:
            problem = f"retention moved the log start to {low}"
        if problem:
            error = range_unavailable(r, problem) if "retention" in problem else \
                OffsetOutOfRangeError(f"offsets [{r.fromOffset}, {r.untilOffset}) of topic "
                                      f"{r.topic!r} partition {r.partition}: {problem}")
            error.topic, error.partition = r.topic, r.partition
            error.fromOffset, error.untilOffset = r.fromOffset, r.untilOffset
            raise error


def _edges(store: LogStore, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], tuple[int, int]]:
    """(log start, high watermark) of each partition."""
    if not partitions:
        return {}
    specs = [(t, p, -2) for t, p in partitions] + [(t, p, -1) for t, p in partitions]
    offsets = store.list_offsets(specs)
    n = len(partitions)
    return {tp: (offsets[i], offsets[n + i]) for i, tp in enumerate(partitions)}


def topic_rdd(sc: Any, store_or_address: LogStore | str, topic: str, start: Any = "earliest",
              end: Any = "latest", keyDecoder: Callable = utf8_decoder,
              valueDecoder: Callable = utf8_decoder, secret: bytes | str | None = None, *,
              fetch_max_bytes: int = DEFAULT_FETCH_MAX_BYTES,
              retry_window: float = DEFAULT_RETRY_WINDOW) -> LogRDD:
    """An RDD of ``(key, value)`` over ``topic``, one partition per topic
    partition, each covering ``[start, end)`` as the broker reports them now.

    ``start``/``end``: ``"earliest"`` (the log start), ``"latest"`` (the high
    watermark: the end of durable data), an offset for every partition, or a
    dict ``{partition: offset}``. ``store_or_address``: a LogStore handle, or
    a broker address with ``secret``.
    """
    store, owned = open_store(store_or_address, secret)
    try:
        count = store.partitions_for(topic)
        edges = _edges(store, [(topic, p) for p in range(count)])
        ranges = [OffsetRange(topic, p, _offset_for(start, p, edges[topic, p], "start"),
                              _offset_for(end, p, edges[topic, p], "end"))
                  for p in range(count)]
        check_ranges(store, ranges, edges)
        access = BrokerAccess(store.address, store.secret)
    finally:
        if owned:
            store.stop()
    return LogRDD(sc, access, ranges, KeyValueDecoder(keyDecoder, valueDecoder),
                  fetch_max_bytes=fetch_max_bytes, retry_window=retry_window)
