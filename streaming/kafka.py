"""PySpark 2's ``pyspark.streaming.kafka`` names over ember's log store or
any Kafka cluster (``bootstrap.servers`` without a store secret):
``from ember.streaming.kafka import KafkaUtils, OffsetRange, TopicAndPartition``.

``KafkaUtils`` is ``ember.ingest.KafkaUtils`` (``createRDD``,
``createDirectStream``); ``TopicAndPartition`` is the log store's
``TopicPartition`` (same fields); ``OffsetRange`` and
``KafkaMessageAndMetadata`` are the log store's.
"""

from __future__ import annotations

from ember.ingest.kafka_utils import KafkaMessageAndMetadata, KafkaUtils
from ember.ingest.structs import OffsetRange, TopicPartition

TopicAndPartition = TopicPartition

__all__ = ["KafkaUtils", "OffsetRange", "TopicAndPartition", "KafkaMessageAndMetadata"]
