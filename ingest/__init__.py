"""ember.ingest: the bundled, durable, partitioned log store, and LogRDD.

- ``log``: the store on disk (record batches, indexes, segments, partition
  logs, the log manager, producer state, the file layer).
- ``server``: the broker process (serving, group commit, consumer groups).
- ``client``: one connection, the producer, the consumer, ``LogStore`` and
  ``connect``.
- ``kafka``: Kafka's wire protocol both ways: the broker's Kafka listener,
  and RDDs over offset ranges of any Kafka cluster.
- here: ``protocol`` (the wire format both sides speak), ``structs`` (the
  client API's value types), ``secret_file``, and the bridge to the engine:
  ``log_rdd`` (``topic_rdd``, ``LogRDD``) and ``kafka_utils``.

The public names below are loaded lazily (PEP 562), so a worker that
unpickles a LogRDD does not import the broker or the clients it does not use.

Imports ember.engine only.
"""

from __future__ import annotations

from ember.engine.exports import lazy_exports

_EXPORTS = {
    "LogStore": "ember.ingest.client.store",
    "connect": "ember.ingest.client.store",
    "Producer": "ember.ingest.client.producer",
    "FutureRecordMetadata": "ember.ingest.client.producer",
    "Consumer": "ember.ingest.client.consumer",
    "TopicPartition": "ember.ingest.structs",
    "OffsetRange": "ember.ingest.structs",
    "OffsetAndMetadata": "ember.ingest.structs",
    "RecordMetadata": "ember.ingest.structs",
    "ConsumerRecord": "ember.ingest.structs",
    "LogRDD": "ember.ingest.log_rdd",
    "topic_rdd": "ember.ingest.log_rdd",
    "utf8_decoder": "ember.ingest.log_rdd",
    "KafkaUtils": "ember.ingest.kafka_utils",
    "KafkaMessageAndMetadata": "ember.ingest.kafka_utils",
}

__all__ = list(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
del lazy_exports
