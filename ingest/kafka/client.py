"""ember as a Kafka client: RDDs over fixed offset ranges of topics in any
broker that speaks Kafka's protocol (a Kafka cluster, or this store's Kafka
listener), read with confluent-kafka (librdkafka).

*Design choice*: confluent-kafka rather than kafka-python, by measurement
(one partition of 100-byte records from the bundled listener, side by
side: confluent-kafka about 160,000 records/s, kafka-python about 30,000).
It is the ``kafka`` extra: ``pip install 'ember[kafka]'``.

``kafka_offset_range_rdd(sc, kafka_params, offset_ranges, decode)`` is the
building block (``topicRDD("kafka://...")``, ``KafkaUtils.createRDD`` with
``bootstrap.servers`` and topic streams use it): one RDD partition per
``OffsetRange``, fixed when the RDD is made, so a lost partition is
recomputed by reading exactly the same offsets again. ``KafkaCluster`` is
the driver's side, one long-lived consumer asking the cluster about its
topics: partitions, watermarks (``latest_offsets`` is a one-off of it), a
consumer group's committed offsets, and committing them. Latest is always
the high watermark: what every in-sync replica has, so never a record that
can disappear. A task assigns its partition at ``fromOffset`` and reads until
``untilOffset``; offsets that no longer exist (retention) raise
OffsetOutOfRangeError naming topic, partition and range, never fewer rows.
Offsets missing inside a range (compaction, transaction markers) are
skipped, as Spark's Kafka RDD skips them.

``kafka_params`` are passed to the client under its own names
(``bootstrap.servers`` or PySpark's older ``metadata.broker.list``,
``security.protocol``, ``sasl.mechanism``, ``sasl.username``,
``sasl.password``, ``ssl.ca.location``, ...); ``group.id`` is not needed.
Whatever they say, reads never commit and never reset an offset
(``auto.offset.reset`` is ``error``, as Spark fixes its executors' Kafka
parameters): a range either reads exactly or fails. Settings librdkafka
does not know are a ConfigError when the RDD or stream is made. They travel
to the workers inside the task (over the authenticated engine connection);
``repr`` hides every password and secret.

Thread-safety: RDD objects are used by the driver's thread; ``compute``
makes its own consumer per task. A ``KafkaCluster`` is used by one thread
at a time.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterator, Mapping

from ember.engine.errors import (
    AuthenticationError, BrokerUnavailableError, CommitFailedError, ConfigError,
    OffsetOutOfRangeError,
    UnknownTopicOrPartitionError,
)
from ember.ingest.log.record_batch import Record
from ember.ingest.log_rdd import OffsetRangeRDD, RangePartition
from ember.ingest.structs import OffsetRange, TopicPartition

SCHEME = "kafka://"
_HIDDEN = ("password", "secret", "key.password", "sasl.jaas.config", "oauthbearer")
_POLL = 1.0


def _confluent():
    try:
        import confluent_kafka
    except ImportError:
        raise ImportError("reading a Kafka cluster needs confluent-kafka: "
                          "pip install 'ember[kafka]'") from None
    return confluent_kafka


def client_config(kafka_params: Mapping[str, Any]) -> dict:
    """librdkafka's settings from ``kafka_params`` (PySpark's names mapped)."""
    config = {str(k): v for k, v in kafka_params.items() if not str(k).startswith("ember.")}
    servers = config.pop("metadata.broker.list", None)
    if "bootstrap.servers" not in config and servers:
        config["bootstrap.servers"] = servers
    if not config.get("bootstrap.servers"):
        raise ConfigError(f"kafkaParams must name the brokers as 'bootstrap.servers' (or "
                          f"'metadata.broker.list'), got {sorted(config)}")
    config["bootstrap.servers"] = ",".join(
        s.strip().removeprefix(SCHEME) for s in str(config["bootstrap.servers"]).split(","))
    config.setdefault("group.id", "ember-kafka-rdd")  # librdkafka wants one; nothing is committed
    config["enable.auto.commit"] = False
    config["auto.offset.reset"] = "error"  # a range reads exactly or fails, never skips
    config.setdefault("enable.partition.eof", True)
    config.setdefault("log_level", 3)
    return config


class KafkaAccess:
    """The client settings a worker reads with; secrets stay out of repr."""

    __slots__ = ("config",)

    def __init__(self, config: dict):
        self.config = config

    def __repr__(self) -> str:
        shown = {k: ("***" if any(h in k for h in _HIDDEN) else v)
                 for k, v in sorted(self.config.items())}
        return f"KafkaAccess({shown})"

    def __getstate__(self):
        return {"config": self.config}

    def __setstate__(self, state):
        self.config = state["config"]


def new_consumer(config: Mapping[str, Any]):
    """A confluent-kafka Consumer; what librdkafka refuses (an unknown
    property, a bad value) is a ConfigError naming it. Connects lazily."""
    kafka = _confluent()
    try:
        return kafka.Consumer(dict(config))
    except kafka.KafkaException as error:
        raise ConfigError(f"kafkaParams: {error.args[0].str()}") from None


class KafkaCluster:
    """The driver's questions to a Kafka cluster, over one consumer that
    never joins a group: topic partitions, watermarks, and a group's
    committed offsets (``group_id``, else the client's default group).
    A broker that does not answer within ``timeout`` is a
    BrokerUnavailableError; a refused login an AuthenticationError at once."""

    def __init__(self, kafka_params: Mapping[str, Any], group_id: str | None = None,
                 timeout: float = 30.0):
        self._kafka = _confluent()
        config = client_config(kafka_params)
        if group_id is not None:
            config["group.id"] = group_id
        self.group_id = config["group.id"]
        self.servers = config["bootstrap.servers"]
        self.timeout = timeout
        self._refused: str | None = None
        users_callback = config.get("error_cb")

        def on_error(error) -> None:
            if error.code() in (self._kafka.KafkaError._AUTHENTICATION,
                                self._kafka.KafkaError.SASL_AUTHENTICATION_FAILED):
                self._refused = error.str()
            if users_callback is not None:
                users_callback(error)

        config["error_cb"] = on_error
        self._consumer = new_consumer(config)

    def __enter__(self) -> "KafkaCluster":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _request(self, what: str, call: Callable[[float], Any],
                 failed: Callable[[Any], Exception] | None = None) -> Any:
        """``call(timeout)``, asked again in short slices until ``timeout``:
        librdkafka reports a refused login to ``error_cb``, not to the call,
        so each slice looks for one. A non-transient error is ``failed(error)``."""
        kafka = self._kafka
        transient = (kafka.KafkaError._TRANSPORT, kafka.KafkaError._TIMED_OUT,
                     kafka.KafkaError._ALL_BROKERS_DOWN, kafka.KafkaError._WAIT_COORD)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                return call(max(min(_POLL, deadline - time.monotonic()), 0.01))
            except kafka.KafkaException as error:
                failure = error.args[0]
                self._consumer.poll(0)  # serves error_cb
                if self._refused is not None:
                    raise AuthenticationError(f"the Kafka brokers at {self.servers} refused the "
                                              f"login: {self._refused}") from None
                retry = failure.retriable() or failure.code() in transient
                if not retry and failed is not None:
                    raise failed(failure) from None
                if not retry and failure.code() == kafka.KafkaError.UNKNOWN_TOPIC_OR_PART:
                    raise UnknownTopicOrPartitionError(f"{what} at {self.servers}: "
                                                       f"{failure.str()}") from None
                if not retry or time.monotonic() >= deadline:
                    raise BrokerUnavailableError(f"the Kafka brokers at {self.servers} did not "
                                                 f"answer {what}: {failure.str()}") from None

    def partitions(self, topics: list[str]) -> list[TopicPartition]:
        """Every partition of ``topics``, in topic order then partition order."""
        metadata = self._request("a metadata request",
                                 lambda timeout: self._consumer.list_topics(timeout=timeout))
        out = []
        for topic in topics:
            info = metadata.topics.get(topic)
            if info is None or info.error is not None:
                raise UnknownTopicOrPartitionError(
                    f"unknown topic {topic!r} at {self.servers}: "
                    f"{info.error if info else 'not in the metadata'}")
            out.extend(TopicPartition(topic, p) for p in sorted(info.partitions))
        return out

    def watermarks(self, partitions: list[TopicPartition]) -> dict[TopicPartition, tuple[int, int]]:
        """``{TopicPartition: (earliest, latest)}`` now (latest: the high watermark)."""
        return {tp: self._request(
            "a ListOffsets request", lambda timeout, tp=tp: self._consumer.get_watermark_offsets(
                self._kafka.TopicPartition(tp.topic, tp.partition), timeout=timeout,
                cached=False)) for tp in partitions}

    def committed(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        """The group's committed offsets; partitions without one are left out."""
        found = self._request(f"an OffsetFetch for group {self.group_id!r}",
                              lambda timeout: self._consumer.committed(
                                  [self._kafka.TopicPartition(tp.topic, tp.partition)
                                   for tp in partitions], timeout=timeout))
        return {TopicPartition(t.topic, t.partition): t.offset for t in found
                if t.error is None and t.offset >= 0}

    def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit ``offsets`` for the group, as a consumer outside it
        (generation -1: the group must have no active members)."""
        if not offsets:
            return

        def refused(failure) -> CommitFailedError:
            return CommitFailedError(f"committing {dict(offsets)} for group {self.group_id!r} "
                                     f"at {self.servers} failed: {failure.str()}")

        answered = self._request(
            f"an OffsetCommit for group {self.group_id!r}",
            lambda timeout: self._consumer.commit(offsets=[
                self._kafka.TopicPartition(tp.topic, tp.partition, offset)
                for tp, offset in sorted(offsets.items())], asynchronous=False), refused)
        errors = [t for t in answered or () if t.error is not None]
        if errors:
            raise CommitFailedError(f"committing for group {self.group_id!r} at {self.servers}: "
                                    + "; ".join(f"{t.topic}-{t.partition}: {t.error.str()}"
                                                for t in errors))

    def close(self) -> None:
        self._consumer.close()


def latest_offsets(kafka_params: Mapping[str, Any], topics: list[str],
                   timeout: float = 30.0) -> dict[TopicPartition, tuple[int, int]]:
    """``{TopicPartition: (earliest, latest)}`` of every partition of
    ``topics`` now (latest: the high watermark)."""
    with KafkaCluster(kafka_params, timeout=timeout) as cluster:
        return cluster.watermarks(cluster.partitions(topics))


class KafkaPartition(RangePartition):
    __slots__ = ()


class KafkaRDD(OffsetRangeRDD):
    """An RDD over fixed offset ranges of a Kafka cluster's topics."""

    partition_type = KafkaPartition
    range_name = "Kafka range"

    def __init__(self, ctx: Any, access: KafkaAccess, ranges: list[OffsetRange],
                 decode: Callable[[str, int, Record], Any], *, op: str = "createRDD",
                 callsite: str | None = None, retry_window: float = 30.0):
        super().__init__(ctx, access, ranges, decode, op, callsite, retry_window)

    def _read(self, r: OffsetRange) -> Iterator[Record]:
        return read_kafka_range(self._access, r, self._retry_window)


def _unavailable(r: OffsetRange, reason: str) -> OffsetOutOfRangeError:
    error = OffsetOutOfRangeError(f"offsets [{r.fromOffset}, {r.untilOffset}) of topic "
                                  f"{r.topic!r} partition {r.partition} cannot be read: {reason}")
    error.topic, error.partition = r.topic, r.partition
    error.fromOffset, error.untilOffset = r.fromOffset, r.untilOffset
    return error


def read_kafka_range(access: KafkaAccess, r: OffsetRange,
                     retry_window: float = 30.0) -> Iterator[Record]:
    """Every record of ``r`` in offset order; raises rather than return fewer
    (but for offsets the log itself skips: compaction, transaction markers)."""
    if r.fromOffset >= r.untilOffset:
        return
    kafka = _confluent()
    consumer = new_consumer(access.config)
    try:
        consumer.assign([kafka.TopicPartition(r.topic, r.partition, r.fromOffset)])
        position, silent_since = r.fromOffset, time.monotonic()
        while position < r.untilOffset:
            # consume() waits until it has as many as asked or the poll time is up: ask for
            # no more than the range still holds, so a short range costs no idle wait.
            messages = consumer.consume(min(10000, r.untilOffset - position), timeout=_POLL)
            if not messages and time.monotonic() - silent_since > retry_window:
                raise BrokerUnavailableError(
                    f"topic {r.topic!r} partition {r.partition}: nothing read past offset "
                    f"{position} for {retry_window:g} s (range [{r.fromOffset}, "
                    f"{r.untilOffset}))")
            for message in messages:
                error = message.error()
                if error is not None:
                    if error.code() == kafka.KafkaError._PARTITION_EOF:
                        if message.offset() >= r.untilOffset:
                            return
                        continue  # more may still arrive up to the high watermark
                    if error.code() in (kafka.KafkaError._AUTO_OFFSET_RESET,
                                        kafka.KafkaError.OFFSET_OUT_OF_RANGE):
                        raise _unavailable(r, f"{error.str()} (retention may have removed them)")
                    if error.retriable() or error.code() == kafka.KafkaError._TRANSPORT:
                        continue
                    raise BrokerUnavailableError(f"reading topic {r.topic!r} partition "
                                                 f"{r.partition}: {error.str()}")
                offset = message.offset()
                if offset < position:
                    continue
                if offset >= r.untilOffset:
                    return
                silent_since = time.monotonic()
                _, timestamp = message.timestamp()
                headers = tuple(message.headers() or ())
                yield Record(offset, timestamp, message.key(), message.value(), headers)
                position = offset + 1
    finally:
        consumer.close()


def kafka_offset_range_rdd(sc: Any, kafka_params: Mapping[str, Any],
                           offset_ranges: list, decode: Callable[[str, int, Record], Any], *,
                           op: str = "createRDD", check: bool = True) -> KafkaRDD:
    """An RDD over exactly ``offset_ranges`` of the Kafka cluster
    ``kafka_params`` names; each range is first checked to lie within the
    partition's (earliest, latest) offsets now (``check``)."""
    config = client_config(kafka_params)
    ranges = [OffsetRange(*r) for r in offset_ranges]
    if check and ranges:
        edges = latest_offsets(kafka_params, sorted({r.topic for r in ranges}))
        for r in ranges:
            low, high = edges.get(TopicPartition(r.topic, r.partition), (None, None))
            problem = None
            if low is None:
                problem = "the topic has no such partition"
            elif r.fromOffset < 0 or r.fromOffset > r.untilOffset:
                problem = "expected 0 <= fromOffset <= untilOffset"
            elif r.untilOffset > high:
                problem = f"untilOffset is past the high watermark {high}"
            elif r.fromOffset < low and r.fromOffset < r.untilOffset:
                problem = f"the log now starts at {low}"
            if problem:
                raise _unavailable(r, problem)
    return KafkaRDD(sc, KafkaAccess(config), ranges, decode, op=op)


def kafka_topic_rdd(sc: Any, url: str, topic: str, start: Any, end: Any, decode,
                    kafka_params: Mapping[str, Any] | None = None) -> KafkaRDD:
    """``topicRDD("kafka://host:port[,host:port]", topic, start, end)``."""
    params = dict(kafka_params or {})
    params["bootstrap.servers"] = url.removeprefix(SCHEME)
    edges = latest_offsets(params, [topic])
    ranges = []
    for tp, (low, high) in sorted(edges.items()):
        ranges.append(OffsetRange(topic, tp.partition, _offset(start, tp.partition, low, high, "start"),
                                  _offset(end, tp.partition, low, high, "end")))
    return kafka_offset_range_rdd(sc, params, ranges, decode, op="topicRDD")


def _offset(spec: Any, partition: int, low: int, high: int, what: str) -> int:
    if isinstance(spec, Mapping):
        spec = spec.get(partition, "earliest" if what == "start" else "latest")
    if spec == "earliest":
        return low
    if spec == "latest":
        return high
    if isinstance(spec, bool) or not isinstance(spec, int):
        raise ValueError(f"{what}={spec!r}: expected 'earliest', 'latest', an offset, or a "
                         f"dict of partition -> offset")
    return spec
