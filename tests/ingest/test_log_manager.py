"""LogManager: topics and their metadata, config validation, the
clean-shutdown marker and recovery at open."""

import json
import os

import pytest

from ember.engine.errors import (
    ConfigError, InvalidTopicError, KafkaStorageError, TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)
from ember.engine.io.fileio import temp_name
from ember.ingest.log.log_config import LogConfig
from ember.ingest.log.log_manager import CATALOG_FILE, CLEAN_SHUTDOWN_FILE, LogManager

from ingest_helpers import crash, log_files, read_records, values_batch, values_of


@pytest.fixture
def log_dir(tmp_path):
    return str(tmp_path / "logs")


@pytest.fixture
def manager(log_dir):
    opened = LogManager(log_dir)
    yield opened
    opened.close()


@pytest.mark.parametrize("name, rule", [
    ("", "is empty"),
    (".", "cannot be '.' or '..'"),
    ("..", "cannot be '.' or '..'"),
    ("a" * 250, "250 characters long, more than the 249 allowed"),
    ("a/b", "contains '/'"),
    ("../etc", "contains '/'"),
    ("with space", "contains ' '"),
    ("caf\u00e9", "contains '\u00e9'"),
    ("nul\x00", "contains '\\x00'"),
    (7, "must be a str"),
])
def test_invalid_topic_names_are_refused_naming_the_name_and_the_rule(manager, name, rule):
    with pytest.raises(InvalidTopicError) as caught:
        manager.create_topic(name)
    assert rule in str(caught.value)
    assert repr(name)[:40] in str(caught.value)
    assert manager.topics() == []


@pytest.mark.parametrize("name", ["a" * 249, "Clicks.v2_raw-events", "-", "_", "a..b"])
def test_valid_topic_names_are_accepted(manager, name):
    manager.create_topic(name, 2)
    assert manager.topics() == [name]
    assert os.path.isdir(os.path.join(manager.log_dir, f"{name}-1"))


def test_creating_an_existing_topic_is_refused(manager):
    manager.create_topic("clicks", 2)
    with pytest.raises(TopicAlreadyExistsError, match="'clicks' already exists with 2"):
        manager.create_topic("clicks", 4)


@pytest.mark.parametrize("partitions", [0, -1, 1.5, "3", True])
def test_partition_count_must_be_a_positive_whole_number(manager, partitions):
    with pytest.raises(ConfigError, match="partitions must be a whole number"):
        manager.create_topic("t", partitions)


def test_unknown_topic_and_partition_errors_name_what_exists(manager):
    manager.create_topic("clicks", 3)
    manager.create_topic("views", 1)
    with pytest.raises(UnknownTopicOrPartitionError) as caught:
        manager.get_log("click", 0)
    assert "'click'" in str(caught.value) and "'clicks', 'views'" in str(caught.value)
    for partition in (3, -1):
        with pytest.raises(UnknownTopicOrPartitionError,
                           match=f"partitions 0 to 2; there is no partition {partition}"):
            manager.get_log("clicks", partition)
    with pytest.raises(UnknownTopicOrPartitionError, match="existing topics"):
        manager.delete_topic("nope")


def test_deleting_a_topic_removes_its_data_and_the_name_can_be_reused(manager):
    manager.create_topic("clicks", 2)
    log = manager.get_log("clicks", 1)
    log.append(values_batch(["a"]))
    log.flush()
    manager.delete_topic("clicks")
    assert manager.topics() == []
    assert not os.path.exists(log.directory)
    with pytest.raises(UnknownTopicOrPartitionError):
        log.append(values_batch(["late"]))
    manager.create_topic("clicks", 1)
    assert manager.get_log("clicks", 0).log_end_offset == 0


def test_unknown_config_keys_are_refused_with_a_suggestion(manager):
    with pytest.raises(ConfigError, match=r"'retention.msec' \(did you mean 'retention.ms'\?\)"):
        manager.create_topic("t", 1, {"retention.msec": 10})
    assert manager.topics() == []


@pytest.mark.parametrize("key, value", [
    ("segment.bytes", 10), ("segment.bytes", "big"), ("retention.ms", -2),
    ("max.message.bytes", 1.5), ("index.interval.bytes", True), ("segment.ms", 0),
])
def test_bad_config_values_name_key_value_and_expectation(manager, key, value):
    with pytest.raises(ConfigError) as caught:
        manager.create_topic("t", 1, {key: value})
    message = str(caught.value)
    assert repr(key) in message and repr(value) in message and "expected a whole number" in message


def test_config_overrides_are_persisted_and_applied_after_reopen(log_dir):
    defaults = LogConfig(segment_bytes=50_000)
    with LogManager(log_dir, default_config=defaults) as manager:
        manager.create_topic("t", 1, {"retention.ms": "60000", "max.message.bytes": 300})
    with open(os.path.join(log_dir, CATALOG_FILE)) as handle:
        assert json.load(handle)["topics"]["t"]["config"] == \
            {"retention.ms": 60000, "max.message.bytes": 300}
    with LogManager(log_dir, default_config=defaults) as manager:
        config = manager.describe_topic("t").config
        assert (config.retention_ms, config.max_message_bytes, config.segment_bytes) == \
            (60000, 300, 50_000)
        assert manager.get_log("t", 0).config == config


def test_clean_shutdown_marker_is_written_at_close_and_removed_at_open(log_dir):
    marker = os.path.join(log_dir, CLEAN_SHUTDOWN_FILE)
    manager = LogManager(log_dir)
    manager.create_topic("t", 2)
    assert not os.path.exists(marker)
    manager.close()
    assert os.path.exists(marker)
    manager = LogManager(log_dir)
    assert not os.path.exists(marker) and manager.recovery_report == []
    manager.close()


def test_recovery_after_a_crash_reports_what_it_truncated(log_dir):
    manager = LogManager(log_dir)
    manager.create_topic("t", 3)
    appended = {}
    for partition in range(3):
        log = manager.get_log("t", partition)
        appended[partition] = [f"p{partition}-{i}" for i in range(5)]
        for value in appended[partition]:
            log.append(values_batch([value]))
        log.flush()
    manager.checkpoint()
    crash(manager)
    victim = log_files(os.path.join(log_dir, "t-1"))[-1]
    with open(victim, "ab") as handle:
        handle.write(b"\xde\xad" * 50)
    manager = LogManager(log_dir)
    assert [(r.topic, r.partition, r.file, r.bytes_dropped) for r in manager.recovery_report] \
        == [("t", 1, victim, 100)]
    for partition in range(3):
        assert values_of(read_records(manager.get_log("t", partition))) == appended[partition]
    manager.close()


def test_leftover_temp_files_are_removed_at_open(log_dir):
    with LogManager(log_dir) as manager:
        manager.create_topic("t", 1)
    leftovers = [temp_name(os.path.join(log_dir, CLEAN_SHUTDOWN_FILE)),
                 temp_name(os.path.join(log_dir, CATALOG_FILE)),
                 temp_name(os.path.join(log_dir, "t-0", "partition.checkpoint"))]
    for path in leftovers:
        with open(path, "wb") as handle:
            handle.write(b"half")
    with LogManager(log_dir) as manager:
        assert manager.topics() == ["t"]
    assert not any(os.path.exists(path) for path in leftovers)


def test_partition_directories_without_committed_metadata_are_removed(log_dir):
    with LogManager(log_dir) as manager:
        manager.create_topic("kept", 1)
        manager.create_topic("deleting", 2)
    # A delete cut short after its commit point; a create cut short before it.
    catalog = os.path.join(log_dir, CATALOG_FILE)
    with open(catalog) as handle:
        doc = json.load(handle)
    del doc["topics"]["deleting"]
    with open(catalog, "w") as handle:
        json.dump(doc, handle)
    os.makedirs(os.path.join(log_dir, "creating-0"))
    os.makedirs(os.path.join(log_dir, "kept-1"))
    with LogManager(log_dir) as manager:
        assert manager.topics() == ["kept"]
    assert sorted(os.listdir(log_dir)) == sorted([CLEAN_SHUTDOWN_FILE, CATALOG_FILE, "kept-0"])


def test_a_partition_offline_at_close_leaves_no_clean_shutdown_marker(log_dir, monkeypatch):
    manager = LogManager(log_dir)
    manager.create_topic("t", 2)
    manager.get_log("t", 0).append(values_batch(["a"]))

    def failing_fsync(fd):
        raise OSError(5, "Input/output error")

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", failing_fsync)
        with pytest.raises(KafkaStorageError):
            manager.get_log("t", 0).flush()
    manager.close()
    assert not os.path.exists(os.path.join(log_dir, CLEAN_SHUTDOWN_FILE))
    with LogManager(log_dir) as manager:
        assert values_of(read_records(manager.get_log("t", 0))) == ["a"]


def test_a_closed_manager_refuses_new_topics(log_dir):
    manager = LogManager(log_dir)
    manager.close()
    manager.close()
    with pytest.raises(KafkaStorageError, match="closed"):
        manager.create_topic("t")


def test_retention_and_checkpoints_run_across_all_partitions(log_dir):
    with LogManager(log_dir) as manager:
        manager.create_topic("t", 2, {"segment.bytes": 500, "retention.bytes": 600})
        for partition in range(2):
            log = manager.get_log("t", partition)
            for i in range(20):
                log.append(values_batch([f"{i}" * 30]))
            log.flush()
        deleted = manager.enforce_retention()
        assert set(deleted) == {("t", 0), ("t", 1)}
        manager.checkpoint()
        starts = {p: manager.get_log("t", p).log_start_offset for p in range(2)}
        assert all(starts.values())
    with LogManager(log_dir) as manager:
        assert {p: manager.get_log("t", p).log_start_offset for p in range(2)} == starts


@pytest.mark.parametrize("clean", [True, False])
def test_logs_in_the_earlier_magic_1_format_are_converted_at_open(log_dir, caplog, clean):
    from ember.ingest.log import legacy_batch
    from ember.ingest.log.record_batch import SimpleRecord, encode_batch

    with LogManager(log_dir) as logs:
        logs.create_topic("old", 2)
    partition_dir = os.path.join(log_dir, "old-0")
    batches = [legacy_batch.encode_batch(
        [legacy_batch.SimpleRecord(b"k%d" % i, b"v%d-%d" % (i, j), [("h", b"x")], 1000 + j)
         for j in range(3)], base_offset=3 * i, producer_id=9, producer_epoch=0,
        base_sequence=3 * i) for i in range(4)]
    for name in os.listdir(partition_dir):
        if name.startswith("0000"):
            os.unlink(os.path.join(partition_dir, name))
    with open(os.path.join(partition_dir, "00000000000000000000.log"), "wb") as handle:
        handle.write(b"".join(batches) + (b"" if clean else batches[0][:30]))
    if not clean:
        os.unlink(os.path.join(log_dir, CLEAN_SHUTDOWN_FILE))
    with caplog.at_level("INFO", logger="ember.ingest.log.format_upgrade"):
        logs = LogManager(log_dir)
    try:
        converted = [r.getMessage() for r in caplog.records
                     if r.name == "ember.ingest.log.format_upgrade"]
        assert len(converted) == 1 and "topic 'old' partition 0" in converted[0]
        assert "4 batches" in converted[0]
        log = logs.get_log("old", 0)
        records = read_records(log)
        assert [(r.offset, r.key, r.value, r.headers, r.timestamp) for r in records] == \
            [(3 * i + j, b"k%d" % i, b"v%d-%d" % (i, j), (("h", b"x"),), 1000 + j)
             for i in range(4) for j in range(3)]
        # The idempotent producer's state survived: a retry of the last batch is a duplicate.
        retry = encode_batch([SimpleRecord(b"k3", b"v3-%d" % j) for j in range(3)],
                             producer_id=9, producer_epoch=0, base_sequence=9)
        info = log.append(retry)
        assert info.duplicate and info.first_offset == 9
        log.append(encode_batch([SimpleRecord(None, b"new")]))
        log.flush()
        assert [r.value for r in read_records(log)][-1] == b"new"
    finally:
        logs.close()
    caplog.clear()
    with caplog.at_level("INFO", logger="ember.ingest.log.format_upgrade"):
        with LogManager(log_dir) as logs:
            assert len(read_records(logs.get_log("old", 0))) == 13
    assert not [r for r in caplog.records if r.name == "ember.ingest.log.format_upgrade"]
