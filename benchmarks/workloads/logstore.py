"""Log-store workloads: durable appends, a consumer group, a topic as an RDD.

The records are the ``events`` dataset: ``scale.log_records`` lines of
``LOG_RECORD_BYTES`` bytes each. Three engines store them:

* ``ember``: its log store (a broker process started for the run, a topic
  of ``scale.partitions`` partitions), through its own Producer and Consumer
  with their defaults, ``acks="all"``: a record is acknowledged once fsynced.
* ``raw``: the floor for durable appends on this disk. Plain Python writes
  each producer's records to a file of its own, framed (4-byte length, then
  the bytes), and fsyncs after every batch. A batch is as many records as
  fit in the ember producer's ``batch_size`` (16 KiB by default), the size
  at which ember's producer sends a partition's batch (it may send larger
  ones when the broker is slow; the floor never does).
* ``redis``: Redis Streams on a redis-server with ``appendonly yes`` and
  ``appendfsync always`` (every write fsynced before Redis replies), one
  stream; XADD pipelined in batches of the same number of records, so one
  fsync per batch; XREADGROUP of 500 entries (ember's ``max_poll_records``)
  acknowledged with one XACK per batch.

Workloads:

* ``logstore_produce``: one producer sends every record and waits for all
  acknowledgements; ``logstore_produce_4``: ``LOG_PRODUCERS`` producers, each
  in its own process, each sending an equal share at the same time.
  Producers connect before the clock starts; the timed span ends when the
  last producer has every record acknowledged (fsynced). The answer is the
  number of records the store holds afterwards, counted from the store.
* ``logstore_consume``: the records are stored first (untimed); the timed
  span is one consumer reading all of them through a consumer group
  (joining the group included) and committing. The answer is the count and
  a checksum of the values read.
* ``topic_rdd_read``: ``sc.topicRDD`` -> parse -> ``reduceByKey(add)`` ->
  ``collect``, bytes per user, against the serial version: one process
  reading the same topic with one Consumer and summing in a dict.

Every store lives in a scratch folder on the repository's disk and is
removed (its broker or server stopped) when the run ends.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import struct
import threading
import time
import zlib
from operator import add

from benchmarks.answers import keyed_totals
from benchmarks.engines import scratch_directory
from benchmarks.scales import LOG_LARGE_SHARE, LOG_PRODUCERS
from benchmarks.workloads import Workload

TOPIC = "events"
STREAM = "events"
GROUP = "bench"
CONSUMER_BATCH = 500     # ember's max_poll_records default; Redis reads as many per call
_FRAME = struct.Struct(">I")
# A stalled store must fail the run, not hang it until the suite's timeout.
STALL_S = 120.0


def inputs(scale, files):
    return {"path": files["events"][0], "records": scale.log_records,
            "partitions": scale.partitions}


def inputs_1k(scale, files):
    return {"path": files["events_1k"][0], "records": scale.log_records // LOG_LARGE_SHARE,
            "partitions": scale.partitions}


def load_events(path: str, share: int = 0, shares: int = 1) -> list[bytes]:
    """Share ``share`` of ``shares`` (contiguous slices) of the records."""
    with open(path, "rb") as source:
        records = source.read().split(b"\n")
    if records and not records[-1]:
        records.pop()
    size = -(-len(records) // shares)
    return records[share * size:(share + 1) * size]


def batch_records(record_bytes: int) -> int:
    """Records per raw/Redis batch: what fills one ember producer batch."""
    from ember.ingest.client.producer import DEFAULTS
    return max(1, DEFAULTS["batch_size"] // record_bytes)


def _batches(records: list[bytes], size: int):
    for start in range(0, len(records), size):
        yield records[start:start + size]


# --- the three ways to append ---------------------------------------------------

class EmberAppender:
    def __init__(self, target):
        from ember.ingest import Producer
        address, secret = target
        self._producer = Producer(address, secret=secret, acks="all")
        self._producer.partitions_for(TOPIC)   # topic metadata before the clock starts

    def append(self, records: list[bytes]) -> int:
        send = self._producer.send
        futures = [send(TOPIC, value=record) for record in records]
        self._producer.flush()
        for future in futures:
            future.get()   # raises the failure of any record not stored
        return len(futures)

    def close(self) -> None:
        self._producer.close()


class RawAppender:
    def __init__(self, target):
        folder, name = target
        path = os.path.join(folder, f"{name}.log")
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        # The new file's directory entry is made durable once, before timing.
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def append(self, records: list[bytes]) -> int:
        pack = _FRAME.pack
        for batch in _batches(records, batch_records(len(records[0]) if records else 1)):
            data = b"".join([part for record in batch for part in (pack(len(record)), record)])
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
            os.fsync(self._fd)
        return len(records)

    def close(self) -> None:
        os.close(self._fd)


class RedisAppender:
    def __init__(self, target):
        import redis
        host, port = target
        self._client = redis.Redis(host=host, port=port)
        self._client.ping()

    def append(self, records: list[bytes]) -> int:
        for batch in _batches(records, batch_records(len(records[0]) if records else 1)):
            pipe = self._client.pipeline(transaction=False)
            for record in batch:
                pipe.xadd(STREAM, {b"v": record})
            pipe.execute()
        return len(records)

    def close(self) -> None:
        self._client.close()


APPENDERS = {"ember": EmberAppender, "raw": RawAppender, "redis": RedisAppender}


def _producer_process(engine, target, path, share, shares, barrier, results) -> None:
    """One producer: load its share, connect, wait for the start, send it all."""
    appender = None
    try:
        records = load_events(path, share, shares)
        appender = APPENDERS[engine](target if engine != "raw" else (target, f"producer-{share}"))
        barrier.wait(STALL_S)
        sent = appender.append(records)
        results.put((share, sent, sum(map(len, records)), None))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises
        barrier.abort()
        results.put((share, 0, 0, f"{type(exc).__name__}: {exc}"))
    finally:
        if appender is not None:
            appender.close()


class ProducerGroup:
    """``count`` producer processes, connected and waiting for ``run``."""

    def __init__(self, engine: str, target, path: str, count: int):
        context = multiprocessing.get_context("spawn")
        self._barrier = context.Barrier(count + 1)
        self._results = context.Queue()
        self._processes = [
            context.Process(target=_producer_process, name=f"bench-producer-{share}",
                            args=(engine, target, path, share, count, self._barrier,
                                  self._results))
            for share in range(count)]
        for process in self._processes:
            process.start()

    def run(self) -> tuple[int, int]:
        """Start every producer at once; (records, bytes) once all are acknowledged."""
        try:
            self._barrier.wait(STALL_S)
        except threading.BrokenBarrierError:
            pass   # a producer failed to start: its error is on the queue
        outcomes = [self._results.get(timeout=STALL_S) for _ in self._processes]
        errors = [f"producer {share}: {error}" for share, _, _, error in outcomes if error]
        if errors:
            raise RuntimeError("; ".join(errors))
        return sum(o[1] for o in outcomes), sum(o[2] for o in outcomes)

    def close(self) -> None:
        # Releases producers still waiting for a start that will not come
        # (the run failed before it); ones already sending are unaffected.
        self._barrier.abort()
        for process in self._processes:
            process.join(30)
            if process.is_alive():
                process.kill()
                process.join()


# --- stores ---------------------------------------------------------------------

@contextlib.contextmanager
def ember_store(partitions: int):
    from ember.ingest import LogStore
    with scratch_directory("logstore-") as folder:
        with LogStore.start(os.path.join(folder, "log")) as store:
            store.create_topic(TOPIC, partitions=partitions)
            yield store


def ember_stored(store, partitions: int) -> int:
    ends = store.list_offsets([(TOPIC, p, -1) for p in range(partitions)])
    starts = store.list_offsets([(TOPIC, p, -2) for p in range(partitions)])
    return sum(ends) - sum(starts)


def raw_stored(folder: str) -> int:
    count = 0
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), "rb") as log:
            count += sum(1 for _ in _frames(log.read()))
    return count


def redis_stored(server) -> int:
    client = server.client()
    try:
        return client.xlen(STREAM)
    finally:
        client.close()


def _frames(data: bytes):
    position, end = 0, len(data)
    while position < end:
        (size,) = _FRAME.unpack_from(data, position)
        position += _FRAME.size
        if position + size > end:
            raise ValueError(f"a torn frame at byte {position - _FRAME.size}")
        yield data[position:position + size]
        position += size


def _store_all(engine: str, target, records: list[bytes]) -> None:
    appender = APPENDERS[engine](target)
    try:
        appender.append(records)
    finally:
        appender.close()


# --- produce --------------------------------------------------------------------

def _prepare_produce(producers: int):
    @contextlib.contextmanager
    def prepare(engine, handle, inputs):
        with contextlib.ExitStack() as stack:
            if engine == "ember":
                store = stack.enter_context(ember_store(inputs["partitions"]))
                target = (store.address, store.secret)
                stored = lambda: ember_stored(store, inputs["partitions"])  # noqa: E731
            elif engine == "raw":
                target = stack.enter_context(scratch_directory("raw-"))
                stored = lambda: raw_stored(target)  # noqa: E731
            else:
                target = (handle.host, handle.port)
                stored = lambda: redis_stored(handle)  # noqa: E731
            group = ProducerGroup(engine, target, inputs["path"], producers)
            stack.callback(group.close)
            yield {"group": group, "stored": stored}
    return prepare


def produce(inputs):
    records, size = inputs["group"].run()
    return {"sent": records, "bytes": size, "stored": inputs["stored"]}


def _normalise_produce(raw) -> dict:
    return {"records_sent": raw["sent"], "bytes_sent": raw["bytes"],
            "records_stored": raw["stored"]()}


# --- consume --------------------------------------------------------------------

def _checksum(count: int, crc_sum: int) -> dict:
    return {"records": count, "crc32_sum": crc_sum}


@contextlib.contextmanager
def _prepare_consume(engine, handle, inputs):
    records = load_events(inputs["path"])
    if engine == "ember":
        with ember_store(inputs["partitions"]) as store:
            _store_all("ember", (store.address, store.secret), records)
            consumer = store.consumer(TOPIC, group_id=GROUP, auto_offset_reset="earliest",
                                      enable_auto_commit=False)
            try:
                yield {"consumer": consumer, "records": len(records)}
            finally:
                consumer.close()
    elif engine == "raw":
        with scratch_directory("raw-") as folder:
            _store_all("raw", (folder, "producer-0"), records)
            yield {"folder": folder, "records": len(records)}
    else:
        _store_all("redis", (handle.host, handle.port), records)
        client = handle.client()
        client.xgroup_create(STREAM, GROUP, id="0")
        try:
            yield {"client": client, "records": len(records)}
        finally:
            client.close()


def _check_progress(count: int, expected: int, last_progress: float) -> None:
    if time.monotonic() - last_progress > STALL_S:
        raise TimeoutError(f"read {count} of {expected} records, then nothing for {STALL_S:g} s")


def consume_ember(inputs):
    consumer, expected = inputs["consumer"], inputs["records"]
    count = crc_sum = 0
    crc32 = zlib.crc32
    last_progress = time.monotonic()
    while count < expected:
        polled = consumer.poll(timeout_ms=1000)
        for records in polled.values():
            for record in records:
                crc_sum += crc32(record.value)
            count += len(records)
            last_progress = time.monotonic()
        _check_progress(count, expected, last_progress)
    consumer.commit()
    return _checksum(count, crc_sum)


def consume_redis(inputs):
    client, expected = inputs["client"], inputs["records"]
    count = crc_sum = 0
    crc32 = zlib.crc32
    last_progress = time.monotonic()
    while count < expected:
        reply = client.xreadgroup(GROUP, "consumer-1", {STREAM: ">"}, count=CONSUMER_BATCH,
                                  block=1000)
        for _, entries in reply:
            if entries:
                for _, fields in entries:
                    crc_sum += crc32(fields[b"v"])
                client.xack(STREAM, GROUP, *[entry_id for entry_id, _ in entries])
                count += len(entries)
                last_progress = time.monotonic()
        _check_progress(count, expected, last_progress)
    return _checksum(count, crc_sum)


def consume_raw(inputs):
    count = crc_sum = 0
    crc32 = zlib.crc32
    folder = inputs["folder"]
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), "rb") as log:
            for record in _frames(log.read()):
                crc_sum += crc32(record)
                count += 1
    return _checksum(count, crc_sum)


# --- a topic as an RDD ----------------------------------------------------------

def parse_event(value: str) -> tuple[str, int]:
    """(user, response size) from one record."""
    user, _page, _status, size = value.split(None, 4)[:4]
    return user, int(size)


@contextlib.contextmanager
def _prepare_topic(engine, handle, inputs):
    with ember_store(inputs["partitions"]) as store:
        _store_all("ember", (store.address, store.secret), load_events(inputs["path"]))
        yield {"store": store, "partitions": inputs["partitions"]}


def topic_rdd(sc, inputs):
    return sc.topicRDD(inputs["store"], TOPIC).values().map(parse_event).reduceByKey(add).collect()


def topic_serial(inputs):
    from ember.ingest import TopicPartition
    store = inputs["store"]
    partitions = [TopicPartition(TOPIC, p) for p in range(inputs["partitions"])]
    totals: dict[str, int] = {}
    with store.consumer(auto_offset_reset="earliest", enable_auto_commit=False) as consumer:
        consumer.assign(partitions)
        ends = consumer.end_offsets(partitions)
        last_progress = time.monotonic()
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            for records in consumer.poll(timeout_ms=1000).values():
                for record in records:
                    user, size = parse_event(record.value.decode())
                    totals[user] = totals.get(user, 0) + size
                last_progress = time.monotonic()
            _check_progress(sum(consumer.position(tp) for tp in partitions),
                            sum(ends.values()), last_progress)
    return totals.items()


def _produce_workload(name: str, measures: str, producers: int, inputs_of, dataset: str):
    """A produce workload: ``producers`` processes send the dataset's records."""
    return Workload(name=name, measures=measures, inputs=inputs_of, ingest=produce, raw=produce,
                    redis=produce, prepare=_prepare_produce(producers),
                    normalise=_normalise_produce, datasets=(dataset,), group="log store")


WORKLOADS = [
    _produce_workload("logstore_produce",
                      "1 producer sends every record (acks=all) and waits for every ack",
                      1, inputs, "events"),
    _produce_workload(f"logstore_produce_{LOG_PRODUCERS}",
                      f"{LOG_PRODUCERS} producer processes send a share each, concurrently",
                      LOG_PRODUCERS, inputs, "events"),
    _produce_workload("logstore_produce_1k",
                      "as logstore_produce, with 1 KB records (a tenth as many)",
                      1, inputs_1k, "events_1k"),
    _produce_workload(f"logstore_produce_{LOG_PRODUCERS}_1k",
                      f"as logstore_produce_{LOG_PRODUCERS}, with 1 KB records",
                      LOG_PRODUCERS, inputs_1k, "events_1k"),
    Workload(name="logstore_consume",
             measures="1 consumer in a group reads every record back and commits",
             inputs=inputs, ingest=consume_ember, raw=consume_raw, redis=consume_redis,
             prepare=_prepare_consume, datasets=("events",), group="log store"),
    Workload(name="topic_rdd_read",
             measures="sc.topicRDD -> parse -> reduceByKey(add) -> collect, bytes per user",
             inputs=inputs, rdd=topic_rdd, serial=topic_serial, prepare=_prepare_topic,
             normalise=keyed_totals, datasets=("events",), group="log store",
             only=("ember", "serial")),
]
