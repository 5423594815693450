"""Kafka's error codes, and the code each of ember's log store errors maps to.

What it must not know: messages and sockets.

Thread-safety: constants and pure functions.
"""

from __future__ import annotations

from ember.engine import errors

CODES = {
    "UNKNOWN_SERVER_ERROR": -1, "NONE": 0, "OFFSET_OUT_OF_RANGE": 1, "CORRUPT_MESSAGE": 2,
    "UNKNOWN_TOPIC_OR_PARTITION": 3, "LEADER_NOT_AVAILABLE": 5, "NOT_LEADER_OR_FOLLOWER": 6,
    "REQUEST_TIMED_OUT": 7, "MESSAGE_TOO_LARGE": 10, "COORDINATOR_NOT_AVAILABLE": 15,
    "NOT_COORDINATOR": 16, "INVALID_TOPIC_EXCEPTION": 17, "INVALID_REQUIRED_ACKS": 21,
    "ILLEGAL_GENERATION": 22, "INCONSISTENT_GROUP_PROTOCOL": 23, "INVALID_GROUP_ID": 24,
    "UNKNOWN_MEMBER_ID": 25, "INVALID_SESSION_TIMEOUT": 26, "REBALANCE_IN_PROGRESS": 27,
    "UNSUPPORTED_SASL_MECHANISM": 33, "ILLEGAL_SASL_STATE": 34, "UNSUPPORTED_VERSION": 35,
    "TOPIC_ALREADY_EXISTS": 36, "INVALID_PARTITIONS": 37, "INVALID_REPLICATION_FACTOR": 38,
    "INVALID_REPLICA_ASSIGNMENT": 39, "INVALID_CONFIG": 40, "INVALID_REQUEST": 42,
    "UNSUPPORTED_FOR_MESSAGE_FORMAT": 43, "OUT_OF_ORDER_SEQUENCE_NUMBER": 45,
    "INVALID_PRODUCER_EPOCH": 47, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED": 53,
    "KAFKA_STORAGE_ERROR": 56, "SASL_AUTHENTICATION_FAILED": 58, "GROUP_ID_NOT_FOUND": 69,
    "MEMBER_ID_REQUIRED": 79, "NOT_ENOUGH_REPLICAS": 19,
    "NOT_ENOUGH_REPLICAS_AFTER_APPEND": 20, "FENCED_LEADER_EPOCH": 74, "UNKNOWN_LEADER_EPOCH": 75, "INVALID_RECORD": 87, "UNKNOWN_TOPIC_ID": 100,
}

_BY_TYPE = [
    (errors.OffsetOutOfRangeError, "OFFSET_OUT_OF_RANGE"),
    (errors.CorruptRecordError, "CORRUPT_MESSAGE"),
    (errors.UnknownTopicOrPartitionError, "UNKNOWN_TOPIC_OR_PARTITION"),
    (errors.RecordTooLargeError, "MESSAGE_TOO_LARGE"),
    (errors.OutOfOrderSequenceError, "OUT_OF_ORDER_SEQUENCE_NUMBER"),
    (errors.InvalidProducerEpochError, "INVALID_PRODUCER_EPOCH"),
    (errors.KafkaStorageError, "KAFKA_STORAGE_ERROR"),
    (errors.TopicAlreadyExistsError, "TOPIC_ALREADY_EXISTS"),
    (errors.InvalidPartitionsError, "INVALID_PARTITIONS"),
    (errors.InvalidReplicationFactorError, "INVALID_REPLICATION_FACTOR"),
    (errors.InvalidTopicError, "INVALID_TOPIC_EXCEPTION"),
    (errors.ConfigError, "INVALID_CONFIG"),
    (errors.BrokerUnavailableError, "LEADER_NOT_AVAILABLE"),
    (errors.NotLeaderOrFollowerError, "NOT_LEADER_OR_FOLLOWER"),
    (errors.FencedLeaderEpochError, "FENCED_LEADER_EPOCH"),
    (errors.LeaderNotAvailableError, "LEADER_NOT_AVAILABLE"),
    (errors.NotEnoughReplicasError, "NOT_ENOUGH_REPLICAS"),
    (errors.NotCoordinatorError, "NOT_COORDINATOR"),
]


def code_of(error: BaseException) -> int:
    """The Kafka error code for one of ember's errors."""
    named = getattr(error, "kafka_error", None)
    if named in CODES:
        return CODES[named]
    for kind, name in _BY_TYPE:
        if isinstance(error, kind):
            return CODES[name]
    return CODES["UNKNOWN_SERVER_ERROR"]
