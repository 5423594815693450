"""Topic streams by the direct approach: each batch is a topic RDD over the
offset ranges from the last batch's end to the latest offsets at batch time.

``TopicSource`` is everything a topic stream asks of a log: its partitions,
the earliest and latest (durable) offsets, a consumer group's committed
offsets, committing them, and an RDD over given offset ranges. A source
pickles (it travels in the checkpoint) and connects lazily.
``LogStoreSource`` is ember's own log store (over ``LogStore`` and
``LogRDD``); ``KafkaClusterSource`` is any broker that speaks Kafka's
protocol (over ``ingest.kafka.client``: ``KafkaCluster`` asks, ``KafkaRDD``
reads), its settings checked when the stream is made.

``TopicInputDStream`` (``ssc.topicStream``, ``KafkaUtils.createDirectStream``):

* Start: ``start`` ("earliest", "latest", or {TopicPartition or (topic,
  partition): offset}); with a ``group_id`` whose committed offsets exist,
  those win for their partitions.
* Each batch (``_plan``): list the topics' partitions (one added since the
  last batch joins from its earliest offset), ask the latest offsets (an unreachable broker is
  asked again, with a warning each time, for ``ember.streaming.topic.retryWindow``,
  then the stream fails), clamp them by the rate limit
  (``spark.streaming.kafka.maxRatePerPartition``) or the backpressure
  estimate (``spark.streaming.backpressure.enabled``, a PID estimator fed by
  completed batches, as Spark's), and log ``[last end, until)`` per
  partition: one RDD partition per topic partition, ``offsetRanges()`` on it.
* After a batch's outputs all succeeded, the group's offsets are committed to
  the batch's ends (never lowered: the broker keeps the maximum).
* Restarted from a checkpoint, the stream goes on from the end of the last
  logged batch; the logged batches not completed run again with their
  logged ranges.

Partitions are those the topics have when the stream starts.
"""

from __future__ import annotations

import logging
import time as _time
from typing import Any, Callable, Mapping

from ember.engine.api.rdd import RDD
from ember.engine.errors import BrokerUnavailableError, KafkaTimeoutError
from ember.ingest.kafka_utils import MessageHandlerDecoder
from ember.ingest.log_rdd import BrokerAccess, KeyValueDecoder, LogRDD, utf8_decoder
from ember.ingest.structs import OffsetRange, TopicPartition
from ember.streaming.inputs import InputDStream
from ember.streaming.listener import StreamInputInfo
from ember.streaming.rate import PIDRateEstimator

log = logging.getLogger("ember.streaming")


class TopicSource:
    """What a topic stream needs of a log; subclasses implement each method."""

    def partitions(self, topics: list[str]) -> list[TopicPartition]:
        raise NotImplementedError

    def offsets(self, partitions: list[TopicPartition], which: str) -> dict[TopicPartition, int]:
        """``which``: "earliest" (log start) or "latest" (end of durable data)."""
        raise NotImplementedError

    def committed(self, group_id: str, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        """The group's committed offsets; partitions without one are left out."""
        raise NotImplementedError

    def commit(self, group_id: str, offsets: Mapping[TopicPartition, int]) -> None:
        raise NotImplementedError

    def rdd(self, sc: Any, ranges: list[OffsetRange], decode: Callable) -> RDD:
        """An RDD with one partition per range and ``offsetRanges()``."""
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def close(self) -> None:
        pass


class LogStoreSource(TopicSource):
    """ember's log store: a broker's address and the store's secret."""

    def __init__(self, address: str, secret: bytes):
        self.address, self.secret = address, secret
        self._store = None
        self._consumer = None

    def __getstate__(self) -> dict:
        return {"address": self.address, "secret": self.secret}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["address"], state["secret"])

    def __repr__(self) -> str:
        return f"LogStoreSource({self.address!r})"

    def _handle(self):
        if self._store is None:
            from ember.ingest.client.store import connect

            self._store = connect(self.address, self.secret)
        return self._store

    def partitions(self, topics: list[str]) -> list[TopicPartition]:
        return [TopicPartition(topic, p) for topic in topics
                for p in range(self._handle().partitions_for(topic))]

    def offsets(self, partitions: list[TopicPartition], which: str) -> dict[TopicPartition, int]:
        spec = {"earliest": -2, "latest": -1}[which]
        found = self._handle().list_offsets([(tp.topic, tp.partition, spec) for tp in partitions])
        return dict(zip(partitions, found))

    def _group(self, group_id: str):
        if self._consumer is None or self._consumer.config["group_id"] != group_id:
            if self._consumer is not None:
                self._consumer.close(autocommit=False)
            self._consumer = self._handle().consumer(group_id=group_id, enable_auto_commit=False)
        return self._consumer

    def committed(self, group_id: str, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        consumer = self._group(group_id)
        found = {}
        for tp in partitions:
            offset = consumer.committed(tp)
            if offset is not None:
                found[tp] = offset
        return found

    def commit(self, group_id: str, offsets: Mapping[TopicPartition, int]) -> None:
        self._group(group_id).commit(dict(offsets))

    def rdd(self, sc: Any, ranges: list[OffsetRange], decode: Callable) -> RDD:
        return LogRDD(sc, BrokerAccess(self.address, self.secret), ranges, decode,
                      op="topicStream")

    def describe(self) -> str:
        return f"log store {self.address}"

    def close(self) -> None:
        if self._consumer is not None:
            try:
                self._consumer.close(autocommit=False, timeout=1.0)
            except Exception:  # noqa: BLE001 - closing a connection to a dead broker
                pass
            self._consumer = None
        if self._store is not None:
            self._store.stop()
            self._store = None


class KafkaClusterSource(TopicSource):
    """Any Kafka cluster: its client settings (librdkafka's names, TLS and
    SASL included) are all it keeps, and what it pickles."""

    _TIMEOUT = 10.0  # per question; the stream asks again through outages

    def __init__(self, kafka_params: Mapping[str, Any]):
        from ember.ingest.kafka.client import client_config, new_consumer

        self.kafka_params = dict(kafka_params)
        # Missing brokers or a setting librdkafka refuses: a ConfigError now, before any batch.
        new_consumer(client_config(self.kafka_params)).close()
        self._cluster = None
        self._committed: dict[TopicPartition, int] = {}

    def __getstate__(self) -> dict:
        return {"kafka_params": self.kafka_params}

    def __setstate__(self, state: dict) -> None:
        self.kafka_params = state["kafka_params"]
        self._cluster = None
        self._committed = {}

    def __repr__(self) -> str:
        from ember.ingest.kafka.client import KafkaAccess

        return f"KafkaClusterSource({KafkaAccess(self.kafka_params)!r})"

    def _handle(self, group_id: str | None = None):
        from ember.ingest.kafka.client import KafkaCluster

        if self._cluster is not None and group_id is not None \
                and self._cluster.group_id != group_id:
            self._cluster.close()
            self._cluster = None
        if self._cluster is None:
            self._cluster = KafkaCluster(self.kafka_params, group_id, timeout=self._TIMEOUT)
        return self._cluster

    def partitions(self, topics: list[str]) -> list[TopicPartition]:
        return self._handle().partitions(topics)

    def offsets(self, partitions: list[TopicPartition], which: str) -> dict[TopicPartition, int]:
        edge = {"earliest": 0, "latest": 1}[which]
        return {tp: ends[edge] for tp, ends in self._handle().watermarks(partitions).items()}

    def committed(self, group_id: str,
                  partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return self._handle(group_id).committed(partitions)

    def commit(self, group_id: str, offsets: Mapping[TopicPartition, int]) -> None:
        # A Kafka broker keeps the last commit, not the highest: never send a lower one.
        ahead = {tp: o for tp, o in offsets.items() if o > self._committed.get(tp, -1)}
        self._handle(group_id).commit(ahead)
        self._committed.update(ahead)

    def rdd(self, sc: Any, ranges: list[OffsetRange], decode: Callable) -> RDD:
        from ember.ingest.kafka.client import kafka_offset_range_rdd

        # Unchecked: the ranges lie below the high watermark they were planned from.
        return kafka_offset_range_rdd(sc, self.kafka_params, ranges, decode, op="topicStream",
                                      check=False)

    def describe(self) -> str:
        from ember.ingest.kafka.client import client_config

        return f"Kafka cluster {client_config(self.kafka_params)['bootstrap.servers']}"

    def close(self) -> None:
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


def _partition_key(key: Any) -> TopicPartition:
    if isinstance(key, TopicPartition):
        return key
    topic, partition = getattr(key, "topic", None), getattr(key, "partition", None)
    if topic is None and isinstance(key, tuple) and len(key) == 2:
        topic, partition = key
    if not isinstance(topic, str) or isinstance(partition, bool) or not isinstance(partition, int):
        raise ValueError(f"a starting offset must be keyed by TopicPartition(topic, partition), "
                         f"got {key!r}")
    return TopicPartition(topic, partition)


class TopicInputDStream(InputDStream):
    """A direct stream over topics (see the module docstring)."""

    _kind = "topicStream"

    def __init__(self, ssc: Any, source: TopicSource, topics: list[str], start: Any,
                 group_id: str | None, decode: Callable):
        super().__init__(ssc)
        if isinstance(topics, str):
            topics = [topics]
        topics = list(topics)
        if not topics or not all(isinstance(t, str) and t for t in topics):
            raise ValueError(f"topicStream: topics must be a non-empty list of topic names, got "
                             f"{topics!r}")
        if isinstance(start, Mapping):
            start = {_partition_key(key): int(offset) for key, offset in start.items()}
        elif start not in ("earliest", "latest"):
            raise ValueError(f"topicStream: start={start!r}: expected 'earliest', 'latest' or a "
                             f"dict of TopicPartition -> offset")
        if group_id is not None and (not isinstance(group_id, str) or not group_id):
            raise ValueError(f"topicStream: group_id must be a non-empty string, got {group_id!r}")
        self._source = source
        self._topics = topics
        self._start_spec = start
        self._group_id = group_id
        self._decode = decode
        self._partitions: list[TopicPartition] = []
        self._current: dict[TopicPartition, int] = {}
        self._rate: float | None = None
        self._estimator: PIDRateEstimator | None = None
        conf = ssc._sc._conf
        self._max_rate = conf.value("spark.streaming.kafka.maxRatePerPartition")
        self._min_rate = conf.value("spark.streaming.kafka.minRatePerPartition")
        self._retry_window = conf.value("ember.streaming.topic.retryWindow")
        if conf.value("spark.streaming.backpressure.enabled"):
            self._rate = conf.value("spark.streaming.backpressure.initialRate")
            self._estimator = PIDRateEstimator(
                ssc._batch_ms, conf.value("spark.streaming.backpressure.pid.proportional"),
                conf.value("spark.streaming.backpressure.pid.integral"),
                conf.value("spark.streaming.backpressure.pid.derived"),
                conf.value("spark.streaming.backpressure.pid.minRate"))

    _RUNTIME = InputDStream._RUNTIME + ("_current",)

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self._current = {}

    def _describe(self) -> str:
        return f"topicStream [{self._input_id}] {','.join(self._topics)} ({self._source.describe()})"

    # --- talking to the source, through outages ------------------------------------------

    def _ask(self, what: str, call: Callable[[], Any]) -> Any:
        give_up = _time.monotonic() + self._retry_window
        attempt = 0
        while True:
            try:
                return call()
            except (BrokerUnavailableError, KafkaTimeoutError, ConnectionError) as error:
                attempt += 1
                if _time.monotonic() >= give_up or self._ssc._scheduler_halted():
                    raise BrokerUnavailableError(
                        f"topic stream {self._topics}: {what} failed for "
                        f"{self._retry_window:g} s ({attempt} attempts): {error}") from None
                log.warning("topic stream %s: %s failed (attempt %d): %s; asking again",
                            self._topics, what, attempt, error)
                _time.sleep(min(0.2 * attempt, 2.0))

    def _start(self) -> None:
        try:
            self._find_start()
        except BaseException:
            self._source.close()  # the stream never runs: no _stop will close it
            raise

    def _find_start(self) -> None:
        self._partitions = self._ask("listing partitions", lambda: self._source.partitions(self._topics))
        start = self._start_spec
        if isinstance(start, Mapping):
            unknown = set(start) - set(self._partitions)
            if unknown:
                raise ValueError(f"topicStream: start names partitions the topics do not have: "
                                 f"{sorted(unknown)}")
            missing = [tp for tp in self._partitions if tp not in start]
            current = dict(start)
            current.update(self._ask("reading the latest offsets",
                                     lambda: self._source.offsets(missing, "latest"))
                           if missing else {})
        else:
            current = self._ask(f"reading the {start} offsets",
                                lambda: self._source.offsets(self._partitions, start))
        if self._group_id is not None:
            current.update(self._ask("reading the group's committed offsets",
                                     lambda: self._source.committed(self._group_id,
                                                                    self._partitions)))
        self._current = current

    def _recovered(self) -> None:
        latest = max(self._specs, default=None)
        if latest is None:
            self._start()
            return
        ranges = self._specs[latest]
        self._partitions = [TopicPartition(r.topic, r.partition) for r in ranges]
        self._current = {TopicPartition(r.topic, r.partition): r.untilOffset for r in ranges}

    def _stop(self) -> None:
        self._source.close()

    # --- planning a batch ----------------------------------------------------------------

    def _clamp(self, latest: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
        """Spark's maxMessagesPerPartition: per-partition limits from the
        backpressure rate (shared by lag) and the configured maximum."""
        lag = {tp: max(latest[tp] - self._current[tp], 0) for tp in latest}
        rate = self._rate if self._estimator is not None else None
        if rate is not None and rate > 0:
            total = sum(lag.values())
            limits = {}
            for tp in latest:
                share = lag[tp] / total * rate if total else 0.0
                limits[tp] = min(share, self._max_rate) if self._max_rate > 0 else share
        elif self._max_rate > 0:
            limits = {tp: float(self._max_rate) for tp in latest}
        else:
            return latest
        seconds = self._ssc._batch_ms / 1000.0
        clamped = {}
        for tp, limit in limits.items():
            most = max(int(seconds * limit), self._min_rate)
            clamped[tp] = min(self._current[tp] + most, latest[tp])
        return clamped

    def _plan(self, time: int) -> list[OffsetRange]:
        self._follow_new_partitions()
        latest = self._ask("reading the latest offsets",
                           lambda: self._source.offsets(self._partitions, "latest"))
        until = self._clamp(latest)
        ranges = [OffsetRange(tp.topic, tp.partition, self._current[tp],
                              max(self._current[tp], until[tp]))
                  for tp in self._partitions]
        self._current = {TopicPartition(r.topic, r.partition): r.untilOffset for r in ranges}
        return ranges

    def _follow_new_partitions(self) -> None:
        """Partitions added to the topics while the stream runs join it from
        their earliest offset (every record in them was written after the
        stream started), as Spark's direct stream picks them up at its next
        batch. Kafka's partitions never go away, so none is dropped."""
        listed = self._ask("listing partitions", lambda: self._source.partitions(self._topics))
        new = [tp for tp in listed if tp not in self._current]
        if not new:
            return
        start = self._ask("reading the earliest offsets of new partitions",
                          lambda: self._source.offsets(new, "earliest"))
        log.info("topic stream %s: new partitions %s, read from their earliest offsets",
                 self._topics, [f"{tp.topic}-{tp.partition}" for tp in new])
        self._partitions = self._partitions + new
        self._current.update(start)

    def _input_info(self, time: int, spec: list[OffsetRange]) -> StreamInputInfo:
        lines = [f"topic: {r.topic}\tpartition: {r.partition}\toffsets: {r.fromOffset} to "
                 f"{r.untilOffset}\tcount: {r.count()}"
                 for r in sorted(spec, key=lambda r: -r.count()) if r.count()]
        return StreamInputInfo(self._input_id, sum(r.count() for r in spec),
                               {"offsets": list(spec)}, "\n".join(lines))

    def _rdd_for(self, time: int, spec: list[OffsetRange]) -> RDD:
        return self._source.rdd(self._sc, list(spec), self._decode)

    # --- after a batch -------------------------------------------------------------------

    def _batch_completed(self, time: int, records: int, processing_ms: int,
                         scheduling_ms: int) -> None:
        if self._estimator is not None:
            rate = self._estimator.compute(time, records, processing_ms, scheduling_ms)
            if rate is not None:
                self._rate = rate

    def _commit(self, time: int) -> None:
        spec = self._specs.get(time)
        if self._group_id is None or not spec:
            return
        offsets = {TopicPartition(r.topic, r.partition): r.untilOffset for r in spec}
        self._ask("committing the group's offsets",
                  lambda: self._source.commit(self._group_id, offsets))


def make_decoder(keyDecoder: Callable | None, valueDecoder: Callable | None,
                 messageHandler: Callable | None) -> Callable:
    keys, values = keyDecoder or utf8_decoder, valueDecoder or utf8_decoder
    if messageHandler is None:
        return KeyValueDecoder(keys, values)
    return MessageHandlerDecoder(keys, values, messageHandler)
