"""LogManager: every topic-partition log under one log directory.

On-disk format::

    <log_dir>/
        clean-shutdown          present only while the store is closed cleanly
        topics.json             {"version": 1, "topics": {T: {"partitions": N,
                                 "config": {overrides, Kafka keys}}, ...}}
        <topic>-<partition>/    one PartitionLog each (partition_log.py)

The topic catalog is one file, replaced atomically with ``engine.io.fileio`` (one
file rather than one per topic: a 249-character topic name leaves no room for
a temporary-file suffix). It is the commit point of topic changes:
``create_topic`` makes the partition directories first and rewrites the
catalog last; ``delete_topic`` rewrites the catalog first and removes the
directories after. A crash in between leaves partition directories that the
catalog does not claim, which the next open removes.

Open: leftover temporary files are removed; segments in ember's earlier
batch format are converted to RecordBatch v2 (``format_upgrade``, one log
line per converted partition); if the clean-shutdown marker is
there, every partition loads cheaply; if not (crash, kill, power loss), every
partition is recovered from its recovery point and :attr:`recovery_report`
lists each file that lost bytes as ``(topic, partition, file, bytes_dropped)``;
a long recovery logs its progress at INFO, a line a second. The marker is removed once the logs are loaded, so a crash from then on is
seen as unclean. ``close`` flushes and checkpoints every partition and writes
the marker only if all of them closed without an error.

Topic names follow Kafka's rules: 1 to 249 characters from ``[a-zA-Z0-9._-]``,
not ``.`` or ``..``.

Thread-safety: thread-safe (one lock orders topic changes); each PartitionLog has its own.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import threading
import time
from typing import Mapping, NamedTuple

from ember.engine.clock import SYSTEM_CLOCK, Clock
from ember.engine.errors import (
    ConfigError, InvalidPartitionsError, InvalidTopicError, KafkaStorageError,
    TopicAlreadyExistsError, UnknownTopicOrPartitionError,
)
from ember.engine.io.fileio import atomic_write, fsync_dir, is_temp_name
from ember.ingest.log.format_upgrade import upgrade_partition
from ember.ingest.log.log_config import SETTINGS, LogConfig
from ember.ingest.log.partition_log import PartitionLog, TruncatedFile

log = logging.getLogger(__name__)

CATALOG_FILE = "topics.json"
CLEAN_SHUTDOWN_FILE = "clean-shutdown"
MAX_TOPIC_NAME_LENGTH = 249
_LEGAL_NAME = re.compile(r"[a-zA-Z0-9._-]+")
_PARTITION_DIR = re.compile(r"^(.+)-(0|[1-9]\d*)$")
_CATALOG_VERSION = 1


def validate_topic_name(name: object) -> None:
    """Raise InvalidTopicError naming the name and the rule it breaks."""
    if not isinstance(name, str):
        problem = f"must be a str, got {type(name).__name__}"
    elif not name:
        problem = "is empty"
    elif name in (".", ".."):
        problem = "cannot be '.' or '..'"
    elif len(name) > MAX_TOPIC_NAME_LENGTH:
        problem = (f"is {len(name)} characters long, more than the "
                   f"{MAX_TOPIC_NAME_LENGTH} allowed")
    elif not _LEGAL_NAME.fullmatch(name):
        bad = sorted({c for c in name if not _LEGAL_NAME.fullmatch(c)})
        problem = (f"contains {''.join(bad)!r}; only ASCII letters, digits, '.', '_' "
                   f"and '-' are allowed")
    else:
        return
    raise InvalidTopicError(f"invalid topic name {name!r:.300}: it {problem}")


def check_partition_growth(name: str, current: int, count) -> None:
    """Kafka's CreatePartitions rule: a topic's partition count only ever
    grows. InvalidPartitionsError naming the topic and both counts otherwise."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise InvalidPartitionsError(f"topic {name!r}: partitions = {count!r}; expected an "
                                     f"integer larger than its current {current}")
    if count < current:
        raise InvalidPartitionsError(
            f"topic {name!r} currently has {current} partitions, which is higher than the "
            f"requested {count}: partitions can only be added")
    if count == current:
        raise InvalidPartitionsError(f"topic {name!r} already has {current} partitions")


def partition_dir_name(topic: str, partition: int) -> str:
    return f"{topic}-{partition}"


def parse_partition_dir_name(name: str) -> tuple[str, int] | None:
    match = _PARTITION_DIR.match(name)
    return (match.group(1), int(match.group(2))) if match else None


class TopicMetadata(NamedTuple):
    name: str
    partitions: int
    overrides: dict[str, int]
    config: LogConfig


class LogManager:
    def __init__(self, log_dir: str | os.PathLike, *, clock: Clock = SYSTEM_CLOCK,
                 default_config: LogConfig | Mapping[str, object] | None = None):
        self.log_dir = os.fspath(log_dir)
        self._clock = clock
        if isinstance(default_config, LogConfig):
            self.default_config = default_config
        else:
            self.default_config = LogConfig().with_overrides(default_config)
        self._lock = threading.RLock()
        self._topics: dict[str, TopicMetadata] = {}
        self._logs: dict[tuple[str, int], PartitionLog] = {}
        self._closed = False
        self.recovery_report: list[TruncatedFile] = []
        self._open()

    def __enter__(self) -> "LogManager":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # --- opening -------------------------------------------------------------------

    def _partition_dir(self, topic: str, partition: int) -> str:
        return os.path.join(self.log_dir, partition_dir_name(topic, partition))

    def _open(self) -> None:
        os.makedirs(self.log_dir, exist_ok=True)
        for name in os.listdir(self.log_dir):
            if is_temp_name(name):
                os.unlink(os.path.join(self.log_dir, name))
        marker = os.path.join(self.log_dir, CLEAN_SHUTDOWN_FILE)
        clean = os.path.exists(marker)
        self._topics = self._read_catalog()
        for name in sorted(os.listdir(self.log_dir)):
            parsed = parse_partition_dir_name(name)
            if parsed and os.path.isdir(os.path.join(self.log_dir, name)):
                topic, partition = parsed
                if topic not in self._topics or partition >= self._topics[topic].partitions:
                    log.warning("removing %s: the topic catalog does not claim it (a "
                                "topic creation or deletion was cut short)", name)
                    shutil.rmtree(os.path.join(self.log_dir, name))
        total = sum(metadata.partitions for metadata in self._topics.values())
        if not clean and total:
            log.info("recovering %d partitions of %d topics in %s after an unclean shutdown",
                     total, len(self._topics), self.log_dir)
        opened, reported = 0, time.monotonic()
        for metadata in self._topics.values():
            for partition in range(metadata.partitions):
                directory = self._partition_dir(metadata.name, partition)
                if os.path.isdir(directory):
                    upgrade_partition(directory, f"topic {metadata.name!r} partition {partition}")
                partition_log = PartitionLog(
                    directory, metadata.name, partition,
                    metadata.config, clock=self._clock, clean_shutdown=clean)
                self._logs[metadata.name, partition] = partition_log
                self.recovery_report.extend(partition_log.recovery_report)
                opened += 1
                if time.monotonic() - reported >= 1.0:  # a long recovery: a line a second
                    reported = time.monotonic()
                    log.info("opened %d of %d partitions of %s", opened, total, self.log_dir)
        if clean:
            os.unlink(marker)
        fsync_dir(self.log_dir)
        log.info("opened %s: %d topics, %s shutdown%s", self.log_dir, len(self._topics),
                 "clean" if clean else "unclean",
                 f", recovery dropped {self.recovery_report}" if self.recovery_report else "")

    def _read_catalog(self) -> dict[str, TopicMetadata]:
        path = os.path.join(self.log_dir, CATALOG_FILE)
        topics = {}
        try:
            with open(path, "rb") as handle:
                doc = json.loads(handle.read())
            for name, entry in doc["topics"].items():
                validate_topic_name(name)
                overrides = dict(entry["config"])
                topics[name] = TopicMetadata(name, int(entry["partitions"]), overrides,
                                             self.default_config.with_overrides(overrides))
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise KafkaStorageError(f"unreadable topic catalog {path}: {error}") from error
        return topics

    def _write_catalog(self, topics: dict[str, TopicMetadata]) -> None:
        doc = {"version": _CATALOG_VERSION,
               "topics": {name: {"partitions": m.partitions, "config": m.overrides}
                          for name, m in sorted(topics.items())}}
        atomic_write(os.path.join(self.log_dir, CATALOG_FILE), json.dumps(doc).encode())

    # --- topics --------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise KafkaStorageError(f"the log manager of {self.log_dir} is closed")

    def create_topic(self, name: str, partitions: int = 1,
                     config: Mapping[str, object] | None = None) -> TopicMetadata:
        """Create a topic of ``partitions`` empty partitions; ``config``
        overrides the defaults with Kafka keys (e.g. ``{"retention.ms": 60000}``)."""
        validate_topic_name(name)
        if isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1:
            raise ConfigError(f"topic {name!r}: partitions must be a whole number >= 1, "
                              f"got {partitions!r}")
        effective = self.default_config.with_overrides(config)
        overrides = {key: getattr(effective, SETTINGS[key][0]) for key in (config or {})}
        with self._lock:
            self._check_open()
            if name in self._topics:
                raise TopicAlreadyExistsError(
                    f"topic {name!r} already exists with "
                    f"{self._topics[name].partitions} partitions")
            logs = []
            try:
                for partition in range(partitions):
                    directory = self._partition_dir(name, partition)
                    shutil.rmtree(directory, ignore_errors=True)  # an uncommitted leftover
                    logs.append(PartitionLog(directory, name, partition, effective,
                                             clock=self._clock, clean_shutdown=True))
                for partition_log in logs:
                    partition_log.flush()
                fsync_dir(self.log_dir)
                metadata = TopicMetadata(name, partitions, overrides, effective)
                self._write_catalog({**self._topics, name: metadata})
            except BaseException:
                for partition_log in logs:
                    partition_log.delete()
                raise
            for partition, partition_log in enumerate(logs):
                self._logs[name, partition] = partition_log
            self._topics[name] = metadata
            log.info("created topic %r with %d partitions, overrides %s", name,
                     partitions, overrides)
            return metadata

    def create_partitions(self, name: str, count: int) -> TopicMetadata:
        """Grow topic ``name`` to ``count`` partitions (Kafka's
        CreatePartitions: partitions are only ever added). The new
        directories are made first, the catalog is rewritten last."""
        with self._lock:
            self._check_open()
            metadata = self.check_partition_count(name, count)
            logs = []
            try:
                for partition in range(metadata.partitions, count):
                    directory = self._partition_dir(name, partition)
                    shutil.rmtree(directory, ignore_errors=True)
                    logs.append(PartitionLog(directory, name, partition, metadata.config,
                                             clock=self._clock, clean_shutdown=True))
                for partition_log in logs:
                    partition_log.flush()
                fsync_dir(self.log_dir)
                grown = metadata._replace(partitions=count)
                self._write_catalog({**self._topics, name: grown})
            except BaseException:
                for partition_log in logs:
                    partition_log.delete()
                raise
            for partition_log in logs:
                self._logs[name, partition_log.partition] = partition_log
            self._topics[name] = grown
            log.info("topic %r grew from %d to %d partitions", name, metadata.partitions, count)
            return grown

    def check_partition_count(self, name: str, count: int) -> TopicMetadata:
        """The checks of :meth:`create_partitions` alone (Kafka's
        validateOnly): UnknownTopicOrPartitionError, or InvalidPartitionsError
        unless ``count`` is a whole number larger than the current count."""
        metadata = self.describe_topic(name)
        check_partition_growth(name, metadata.partitions, count)
        return metadata

    def delete_topic(self, name: str) -> None:
        with self._lock:
            self._check_open()
            metadata = self.describe_topic(name)
            self._write_catalog({t: m for t, m in self._topics.items() if t != name})
            del self._topics[name]
            for partition in range(metadata.partitions):
                self._logs.pop((name, partition)).delete()
            log.info("deleted topic %r", name)

    def topics(self) -> list[str]:
        return sorted(self._topics)

    def describe_topic(self, name: str) -> TopicMetadata:
        metadata = self._topics.get(name)
        if metadata is None:
            raise self._unknown_topic(name)
        return metadata

    def _unknown_topic(self, name: str) -> UnknownTopicOrPartitionError:
        existing = self.topics()
        shown = ", ".join(map(repr, existing[:20])) + (", ..." if len(existing) > 20 else "")
        return UnknownTopicOrPartitionError(
            f"unknown topic {name!r}; existing topics: {shown or 'none'}")

    def get_log(self, topic: str, partition: int) -> PartitionLog:
        partition_log = self._logs.get((topic, partition))
        if partition_log is not None:
            return partition_log
        metadata = self.describe_topic(topic)
        raise UnknownTopicOrPartitionError(
            f"topic {topic!r} has partitions 0 to {metadata.partitions - 1}; "
            f"there is no partition {partition!r}")

    def logs(self) -> list[PartitionLog]:
        return list(self._logs.values())

    # --- maintenance ---------------------------------------------------------------

    def checkpoint(self) -> None:
        """Checkpoint every online partition (recovery point, log start,
        producer state): bounds the work of the next unclean open."""
        for partition_log in self.logs():
            if partition_log.offline is None:
                partition_log.checkpoint()

    def enforce_retention(self) -> dict[tuple[str, int], list[int]]:
        """Apply every online partition's retention; returns what was deleted."""
        deleted = {}
        for partition_log in self.logs():
            if partition_log.offline is None:
                bases = partition_log.delete_old_segments()
                if bases:
                    deleted[partition_log.topic, partition_log.partition] = bases
        return deleted

    def close(self) -> None:
        """Close every partition; mark a clean shutdown only if all closed well."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            failures = []
            for partition_log in self._logs.values():
                try:
                    partition_log.close()
                except OSError as error:
                    failures.append(error)
            if failures or any(p.offline for p in self._logs.values()):
                log.error("%s closed without a clean-shutdown marker: %s", self.log_dir,
                          failures or "a partition is offline")
                if failures:
                    raise failures[0]
                return
            atomic_write(os.path.join(self.log_dir, CLEAN_SHUTDOWN_FILE), b"")
