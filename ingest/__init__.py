"""ember.ingest: the bundled, durable, partitioned log store, and LogRDD.

Storage: record_batch, offset_index/time_index, segment, partition_log,
producer_state, log_config, log_manager, durability. Network: protocol (the
wire format), broker (the server process), group_commit, group_coordinator,
client (one connection), store (``LogStore``, ``connect``), producer,
consumer. Batch ingest: log_rdd (``topic_rdd``, ``LogRDD``), kafka_utils.

The public names below are loaded lazily (PEP 562), so a worker that
unpickles a LogRDD does not import the broker or the clients it does not use.

Imports ember.engine only.
"""

from __future__ import annotations

_EXPORTS = {
    "LogStore": "ember.ingest.store",
    "connect": "ember.ingest.store",
    "Producer": "ember.ingest.producer",
    "FutureRecordMetadata": "ember.ingest.producer",
    "Consumer": "ember.ingest.consumer",
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


def __getattr__(name: str):
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'ember.ingest' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
