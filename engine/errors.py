"""ember's error tree.

Owns every exception type ember raises on purpose. One tree rooted at
:class:`EmberError`; each subclass also subclasses the built-in a caller would
naturally catch (``ValueError``, ``LookupError``, ``OSError``, ...), so code
written against PySpark's or kafka-python's behaviour keeps working.

Invariants:

* Every error pickles and unpickles to an equal error, with its fields: errors
  cross process boundaries (worker -> driver, broker -> client). The shared
  ``__reduce__`` below restores ``args`` and every attribute without calling
  ``__init__`` again, so subclasses are free to take keyword fields.
* A message names the thing, the value, and what was expected.

This module must not import anything from ember: everything imports it.
"""

from __future__ import annotations

import pickle


def _rebuild(cls, args, state):
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class EmberError(Exception):
    """Root of every error ember raises on purpose."""

    def __reduce__(self):
        return _rebuild, (type(self), self.args, dict(self.__dict__))


# --- configuration and arguments ------------------------------------------------


class ConfigError(EmberError, ValueError):
    """A setting has an unknown key or a value of the wrong form."""


class DriverOnlyError(EmberError, pickle.PicklingError):
    """An RDD or the Context was captured by a function shipped to workers;
    both exist only on the driver."""


# --- security and transport -----------------------------------------------------


class AuthenticationError(EmberError, PermissionError):
    """A peer could not authenticate with the cluster secret."""


class SecretFileError(EmberError, PermissionError):
    """A secret file is missing, malformed, or readable by others."""


class ProtocolError(EmberError, ConnectionError):
    """A peer sent a message that does not follow ember's wire protocol."""


class MessageTooLargeError(EmberError, ValueError):
    """A message larger than its receiver accepts (``size`` and ``limit`` in
    bytes; the message names the setting that sets the limit)."""

    def __init__(self, message: str, *, size: int | None = None, limit: int | None = None):
        super().__init__(message)
        self.size = size
        self.limit = limit


# --- jobs and tasks -------------------------------------------------------------


class TaskFailedError(EmberError, RuntimeError):
    """A task raised an exception that could not be rebuilt on the driver.

    Carries what could be carried as text: the remote exception's type name,
    its message, and the worker's formatted traceback.
    """

    def __init__(self, message: str, *, exc_type: str = "", remote_traceback: str = ""):
        super().__init__(message)
        self.exc_type = exc_type
        self.remote_traceback = remote_traceback


class RemoteTraceback(EmberError):
    """The formatted traceback of an exception raised in a worker, attached as
    the ``__cause__`` of the exception re-raised on the driver."""

    def __init__(self, traceback_text: str):
        super().__init__(traceback_text)
        self.traceback_text = traceback_text

    def __str__(self) -> str:
        return "\n" + self.traceback_text.rstrip()


class JobAbortedError(EmberError, RuntimeError):
    """A job stopped before finishing: a stage failed too often, or an
    unrecoverable condition (such as an indeterminate stage) was found."""


class JobCancelledError(JobAbortedError):
    """A job was cancelled by the user (cancel API or Ctrl-C)."""


class TaskKilledError(EmberError, RuntimeError):
    """Raised inside a running task to stop it (its job was cancelled or failed,
    or another attempt of it won)."""


class IndeterminateStageError(JobAbortedError):
    """A map stage produced different output when recomputed after part of its
    old output had been consumed: the job cannot be completed consistently."""


class WorkerLostError(EmberError, RuntimeError):
    """A worker process exited or stopped answering while it ran a task."""


class FetchFailedError(EmberError, OSError):
    """A reducer could not fetch a shuffle block (worker gone, file missing or
    corrupt). Routed to the DAGScheduler, which reruns the map stage."""

    def __init__(self, message: str, *, shuffle_id: int, map_index: int,
                 reduce_index: int, worker_id: str | None):
        super().__init__(message)
        self.shuffle_id = shuffle_id
        self.map_index = map_index
        self.reduce_index = reduce_index
        self.worker_id = worker_id


class ResultTooLargeError(EmberError, RuntimeError):
    """The results of a job would exceed ``spark.driver.maxResultSize``."""


class StoppedContextError(EmberError, RuntimeError):
    """A method was called on a Context that has been stopped."""


class NoWorkersError(EmberError, RuntimeError):
    """No live worker is left to run tasks on, and none can be started."""


class NoSuchElementError(EmberError, LookupError):
    """A setting or element that does not exist was asked for by name
    (Spark's NoSuchElementException)."""


class StopIterationOccurredError(EmberError, RuntimeError):
    """A user's function raised StopIteration, which would otherwise end the
    loop feeding it and silently drop the rest of its input."""


# --- the log store (names follow kafka-python) ----------------------------------


class LogStoreError(EmberError):
    """Root of the log store's errors."""


class CorruptRecordError(LogStoreError, OSError):
    """Stored bytes failed their CRC check. Names topic, partition, offset and
    file. Corrupt bytes are never returned to a reader."""


class OffsetOutOfRangeError(LogStoreError, LookupError):
    """An offset below the log start offset or above the log end offset."""


class InvalidTopicError(LogStoreError, ValueError):
    """A topic name that is empty, too long, '.' or '..', or has characters
    other than ASCII letters, digits, '.', '_' and '-'."""


class TopicAlreadyExistsError(LogStoreError, ValueError):
    """A topic of that name exists already."""


class UnknownTopicOrPartitionError(LogStoreError, LookupError):
    """No such topic, or no such partition in the topic."""


class RecordTooLargeError(LogStoreError, ValueError):
    """A record or batch over ``max.message.bytes``; names both sizes."""


class OutOfOrderSequenceError(LogStoreError, ValueError):
    """An idempotent producer's sequence number skipped ahead: a batch was
    lost between producer and broker. Nothing was appended."""


class InvalidProducerEpochError(LogStoreError, ValueError):
    """An idempotent producer sent an epoch older than the partition's current
    one: a newer instance of that producer has fenced it. Nothing was appended."""


class KafkaStorageError(LogStoreError, OSError):
    """The log directory failed (fsync error, disk full). The broker stops
    acknowledging writes to it rather than retry and risk a false ack."""


class KafkaTimeoutError(LogStoreError, TimeoutError):
    """A request to the broker did not complete in time."""


class BrokerUnavailableError(LogStoreError, ConnectionError):
    """The broker cannot be reached."""


class CommitFailedError(LogStoreError, RuntimeError):
    """A consumer group refused an offset commit: the committing member is no
    longer in the group, or its generation is stale (the group rebalanced and
    its partitions may belong to another member now). Nothing was stored."""


class GroupIdRequiredError(LogStoreError, AssertionError):
    """A consumer without a ``group_id`` was asked to commit or read committed
    offsets (kafka-python asserts the same: "Requires group_id")."""


# --- the cluster controller (names follow Kafka's error codes) ------------------


class NotControllerError(LogStoreError, ConnectionError):
    """The request reached a controller that is not the active one (or lost
    leadership before the request committed: its outcome is then unknown).
    ``leader_id`` names the active controller when known."""


class InvalidReplicationFactorError(LogStoreError, ValueError):
    """A replication factor below 1 or above the number of live brokers."""


class InvalidConfigurationError(LogStoreError, ValueError):
    """A topic config that contradicts itself, such as min.insync.replicas
    above the replication factor."""


class LeaderNotAvailableError(LogStoreError, LookupError):
    """A partition has no leader: no in-sync replica is alive and unclean
    leader election is off."""


class FencedLeaderEpochError(LogStoreError, ValueError):
    """A request carried a leader epoch older than the partition's: it comes
    from a leader that has been replaced."""


class InvalidUpdateVersionError(LogStoreError, ValueError):
    """An ISR change was based on a partition epoch that is no longer current."""


class StaleBrokerEpochError(LogStoreError, ValueError):
    """A broker spoke with the epoch of an earlier registration."""


class BrokerNotAvailableError(LogStoreError, LookupError):
    """A broker id that is not registered (or not alive) where one is required."""


class IneligibleReplicaError(LogStoreError, ValueError):
    """An ISR change would add a replica that is fenced, shutting down, or not
    a replica of the partition."""


class NotLeaderOrFollowerError(LogStoreError, ValueError):
    """A partition request reached a broker that is not its current leader."""


class NoReassignmentInProgressError(LogStoreError, ValueError):
    """A reassignment was cancelled for a partition that is not being moved."""


class ElectionNotNeededError(LogStoreError, ValueError):
    """A preferred leader election for a partition already led by its
    preferred replica."""


class PreferredLeaderNotAvailableError(LogStoreError, LookupError):
    """The preferred replica of a partition is not alive or not in sync."""


class InvalidPartitionsError(LogStoreError, ValueError):
    """A topic's partition count below 1, or one that would not grow it."""


class NotEnoughReplicasError(LogStoreError, RuntimeError):
    """An acks=all produce to a partition whose in-sync replicas are fewer
    than its min.insync.replicas (Kafka's NOT_ENOUGH_REPLICAS, or
    NOT_ENOUGH_REPLICAS_AFTER_APPEND when the set shrank while the batch
    waited: then the batch is stored on fewer replicas and not acknowledged)."""


class NotCoordinatorError(LogStoreError, ConnectionError):
    """A consumer group request reached a broker that does not coordinate
    the group (Kafka's NOT_COORDINATOR); the client finds the coordinator
    again."""


# --- records read from files and databases (ember.etl) ------------------------------


class MalformedRecordError(EmberError, ValueError):
    """A record a reader could not parse, in parse mode FAILFAST. Names the
    file, where the record starts (line and byte offset) and its first bytes;
    fields ``path``, ``line``, ``offset``, ``snippet``, ``reason``."""

    def __init__(self, message: str, *, path: str = "", line: int | None = None,
                 offset: int | None = None, snippet: bytes = b"", reason: str = ""):
        super().__init__(message)
        self.path = path
        self.line = line
        self.offset = offset
        self.snippet = snippet
        self.reason = reason


# --- streaming ------------------------------------------------------------------


class StreamingStateError(EmberError, RuntimeError):
    """A StreamingContext used out of its lifecycle: started after it stopped,
    a second one started, or DStreams added after start (Spark's
    IllegalStateException)."""


class CorruptCheckpointError(EmberError, OSError):
    """A streaming checkpoint file is torn or damaged (short, bad checksum, not
    a checkpoint); names the file and what is wrong."""


class ForeignCheckpointError(EmberError, ValueError):
    """A streaming checkpoint file was written by another application or by
    another ember version than the directory's; names both."""


# --- machine learning (ember.mllib) ---------------------------------------------


class MLlibError(EmberError):
    """Root of the errors ``ember.mllib`` raises on purpose."""


class InvalidDataError(MLlibError, ValueError):
    """Training or scoring data that an algorithm cannot use: a feature vector
    of the wrong size, a label outside the classes, a value that is not a
    number. The message names the partition and the row when the data was
    read on a worker."""
