"""KafkaUtils: PySpark's old Kafka integration (``KafkaUtils.createRDD``)
over ember's log store.

``createRDD(sc, kafkaParams, offsetRanges, ...)`` makes a LogRDD of exactly
the ranges given, after checking with the broker that each lies within
durable, retained data (as Spark checks the ranges against the leaders).
``kafkaParams`` names the broker as ``"metadata.broker.list"`` or
``"bootstrap.servers"`` (``tcp://HOST:PORT`` or ``HOST:PORT``; the first
entry of a comma-separated list) and the store's secret as ``"ember.secret"``
(bytes or hex) or ``"ember.secret.file"``. Without a store secret the
brokers are read over Kafka's protocol (any Kafka cluster, or this store's
Kafka listener) with confluent-kafka, the other ``kafkaParams`` passed to
it under its own names (``ingest.kafka.client``). ``leaders`` is accepted and
ignored: a single broker leads every partition.

Elements are ``(key, value)`` decoded with ``keyDecoder``/``valueDecoder``,
or, with ``messageHandler``, whatever it returns for each
:class:`KafkaMessageAndMetadata`.

``createDirectStream(ssc, topics, kafkaParams, fromOffsets=None, ...)``
(PySpark 2's direct stream) hands the same broker, secret and decoders to
``ssc.topicStream`` (``ember.streaming``; called by duck typing, so this
module does not import the streaming package): it starts at ``fromOffsets``,
else at ``"auto.offset.reset"`` (``"smallest"``/``"earliest"`` or, by
default, ``"largest"``/``"latest"``); a ``"group.id"`` starts from the
group's committed offsets and commits after each batch. Without a store
secret the stream is over the Kafka cluster the parameters name
(``topicStream("kafka://...", kafka_params=kafkaParams)``). Bad parameters
are a ConfigError when the stream is made, before any batch.

Thread-safety: as LogRDD.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from ember.engine.errors import ConfigError
from ember.ingest.log_rdd import (
    BrokerAccess, KeyValueDecoder, LogRDD, check_ranges, utf8_decoder,
)
from ember.ingest.secret_file import coerce_secret
from ember.ingest.client.store import connect
from ember.ingest.structs import OffsetRange


class KafkaMessageAndMetadata:
    """One record for a ``messageHandler``: ``topic``, ``partition``,
    ``offset``, and ``key``/``message`` decoded with the RDD's decoders."""

    __slots__ = ("topic", "partition", "offset", "_raw_key", "_raw_message", "_key_decoder",
                 "_value_decoder")

    def __init__(self, topic: str, partition: int, offset: int, key: bytes | None,
                 message: bytes | None, key_decoder: Callable = utf8_decoder,
                 value_decoder: Callable = utf8_decoder):
        self.topic, self.partition, self.offset = topic, partition, offset
        self._raw_key, self._raw_message = key, message
        self._key_decoder, self._value_decoder = key_decoder, value_decoder

    @property
    def key(self) -> Any:
        return self._key_decoder(self._raw_key)

    @property
    def message(self) -> Any:
        return self._value_decoder(self._raw_message)

    def __repr__(self) -> str:
        return (f"KafkaMessageAndMetadata(topic={self.topic!r}, partition={self.partition}, "
                f"offset={self.offset})")


class MessageHandlerDecoder:
    """Record -> ``messageHandler(KafkaMessageAndMetadata)``."""

    def __init__(self, key_decoder: Callable, value_decoder: Callable, handler: Callable):
        self.key_decoder, self.value_decoder, self.handler = key_decoder, value_decoder, handler

    def __call__(self, topic: str, partition: int, record) -> Any:
        return self.handler(KafkaMessageAndMetadata(
            topic, partition, record.offset, record.key, record.value, self.key_decoder,
            self.value_decoder))


def _broker_address(kafka_params: Mapping[str, Any]) -> str:
    servers = kafka_params.get("metadata.broker.list") or kafka_params.get("bootstrap.servers")
    if not servers or not isinstance(servers, str):
        raise ValueError("kafkaParams must name the broker as 'metadata.broker.list' or "
                         "'bootstrap.servers' ('HOST:PORT'), got "
                         f"{sorted(k for k in kafka_params if k != 'ember.secret')}")
    return servers.split(",")[0].strip()


def _over_kafka(kafka_params: Mapping[str, Any]) -> bool:
    """No store secret: the brokers are read over Kafka's protocol."""
    return "ember.secret" not in kafka_params and "ember.secret.file" not in kafka_params


class KafkaUtils:
    @staticmethod
    def createRDD(sc: Any, kafkaParams: Mapping[str, Any], offsetRanges: list,
                  leaders: Mapping | None = None, keyDecoder: Callable = utf8_decoder,
                  valueDecoder: Callable = utf8_decoder,
                  messageHandler: Callable | None = None) -> LogRDD:
        """An RDD over exactly ``offsetRanges`` (``OffsetRange(topic,
        partition, fromOffset, untilOffset)``), one partition per range."""
        decode = (KeyValueDecoder(keyDecoder, valueDecoder) if messageHandler is None
                  else MessageHandlerDecoder(keyDecoder, valueDecoder, messageHandler))
        if _over_kafka(kafkaParams):
            from ember.ingest.kafka.client import kafka_offset_range_rdd
            return kafka_offset_range_rdd(sc, kafkaParams, offsetRanges, decode)
        address = _broker_address(kafkaParams)
        secret = coerce_secret(kafkaParams.get("ember.secret"),
                               kafkaParams.get("ember.secret.file"))
        ranges = [OffsetRange(*r) for r in offsetRanges]
        with connect(address, secret) as store:
            check_ranges(store, ranges)
        return LogRDD(sc, BrokerAccess(address, secret), ranges, decode, op="createRDD")

    @staticmethod
    def createDirectStream(ssc: Any, topics: list, kafkaParams: Mapping[str, Any],
                           fromOffsets: Mapping | None = None, keyDecoder: Callable = utf8_decoder,
                           valueDecoder: Callable = utf8_decoder,
                           messageHandler: Callable | None = None) -> Any:
        """A direct stream over ``topics``: each batch an RDD (LogRDD, or
        KafkaRDD without a store secret) of the offsets from the last batch's
        end to the latest, ``offsetRanges()`` on it."""
        reset = kafkaParams.get("auto.offset.reset", "largest")
        starts = {"smallest": "earliest", "earliest": "earliest", "largest": "latest",
                  "latest": "latest"}
        if str(reset).lower() not in starts:
            raise ConfigError(f"kafkaParams['auto.offset.reset']={reset!r}: expected 'smallest' "
                              f"or 'largest' (or 'earliest'/'latest')")
        start = dict(fromOffsets) if fromOffsets else starts[str(reset).lower()]
        decoders = {"keyDecoder": keyDecoder, "valueDecoder": valueDecoder,
                    "messageHandler": messageHandler}
        if _over_kafka(kafkaParams):
            from ember.ingest.kafka.client import SCHEME, client_config
            servers = client_config(kafkaParams)["bootstrap.servers"]
            return ssc.topicStream(SCHEME + servers, list(topics), start=start,
                                   group_id=kafkaParams.get("group.id"),
                                   kafka_params=kafkaParams, **decoders)
        address = _broker_address(kafkaParams)
        secret = coerce_secret(kafkaParams.get("ember.secret"),
                               kafkaParams.get("ember.secret.file"))
        return ssc.topicStream(address, list(topics), start=start,
                               group_id=kafkaParams.get("group.id"), secret=secret, **decoders)
