"""Raft's durable state against torn tails, garbage, interrupted compactions
and simulated power loss (the log store's fsync journal): what was synced
before an acknowledgement survives; what was not may be lost but never
read back half."""

from __future__ import annotations

import os

import pytest

from ember.engine.errors import KafkaStorageError
from ember.ingest.cluster.raft_storage import (
    COMMAND, LOG_FILE, Entry, RaftStorage, Snapshot, format_directory,
)
from ember.ingest.log import durability


def entries(start, count, term=1):
    return [Entry(i, term, COMMAND, {"n": i}) for i in range(start, start + count)]


@pytest.fixture
def directory(tmp_path):
    path = tmp_path / "member"
    format_directory(path, "c", 1, {1: "one", 2: "two", 3: "three"}, incarnation="one")
    return path


def test_a_formatted_directory_holds_its_identity_and_founding_voters(directory):
    storage = RaftStorage.open(directory)
    assert (storage.node_id, storage.incarnation, storage.cluster_id) == (1, "one", "c")
    assert storage.snapshot.config == ((1, "one"), (2, "two"), (3, "three"))
    storage.close()
    with pytest.raises(KafkaStorageError, match="already formatted"):
        format_directory(directory, "c", 1)
    with pytest.raises(KafkaStorageError, match="not a formatted controller directory"):
        RaftStorage.open(directory.parent / "elsewhere")


def test_term_vote_and_synced_entries_survive_a_power_loss(directory, tmp_path):
    journal = tmp_path / "fsyncs"
    durability.track_fsyncs(journal)
    try:
        storage = RaftStorage.open(directory)
        storage.set_term_vote(4, (2, "two"))
        storage.append(entries(1, 10, term=4))
        storage.sync()  # acknowledged from here on
        storage.append(entries(11, 5, term=4))  # written, never synced
        os.close(storage._fd)  # the process dies (no close(), no sync)
    finally:
        durability.track_fsyncs(None)
    cut = durability.simulate_power_loss(journal, garbage=b"\x00\x07garbage")
    assert [os.path.basename(path) for path, _, _ in cut] == [LOG_FILE]
    reopened = RaftStorage.open(directory)
    assert (reopened.term, reopened.voted_for) == (4, (2, "two"))
    assert reopened.last_index == 10 and reopened.entry(10).data == {"n": 10}
    assert reopened.cut_bytes > 0  # the garbage after the durable prefix was cut
    reopened.append(entries(11, 1, term=5))
    reopened.close()
    assert RaftStorage.open(directory).last_term == 5


def test_a_torn_or_corrupt_record_ends_the_log(directory):
    storage = RaftStorage.open(directory)
    storage.append(entries(1, 6))
    storage.close()
    path = directory / LOG_FILE
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # bit rot in the last record
    path.write_bytes(bytes(data))
    reopened = RaftStorage.open(directory)
    assert reopened.last_index == 5
    reopened.close()
    with open(path, "ab") as handle:
        handle.write(b"\x00\x00\x00\x40half a record")
    assert RaftStorage.open(directory).last_index == 5


def test_truncation_drops_a_conflicting_suffix_durably(directory):
    storage = RaftStorage.open(directory)
    storage.append(entries(1, 8, term=1))
    storage.truncate_from(5)
    storage.append(entries(5, 2, term=2))
    storage.close()
    reopened = RaftStorage.open(directory)
    assert reopened.last_index == 6 and reopened.term_at(4) == 1 and reopened.term_at(5) == 2
    with pytest.raises(ValueError, match="the log ends at 6"):
        reopened.append(entries(9, 1))


def test_a_compaction_interrupted_after_the_snapshot_skips_the_covered_entries(directory):
    storage = RaftStorage.open(directory)
    storage.append(entries(1, 10))
    storage.sync()
    log_before = (directory / LOG_FILE).read_bytes()
    storage.save_snapshot(7, 1, ((1, "one"),), {"state": 7})
    storage.close()
    # The crash came after the snapshot was written, before the log was rewritten.
    (directory / LOG_FILE).write_bytes(log_before)
    reopened = RaftStorage.open(directory)
    assert reopened.snapshot.index == 7 and reopened.first_index == 8
    assert [e.index for e in reopened.entries(8)] == [8, 9, 10]
    assert reopened.term_at(7) == 1 and reopened.term_at(6) is None


def test_an_installed_snapshot_keeps_only_a_matching_log_suffix(directory):
    storage = RaftStorage.open(directory)
    storage.append(entries(1, 10, term=1))
    storage.install_snapshot(Snapshot(6, 1, ((1, "one"),), None))
    assert storage.first_index == 7 and storage.last_index == 10
    storage.install_snapshot(Snapshot(12, 3, ((1, "one"),), None))
    assert storage.first_index == 13 and storage.last_index == 12
    storage.close()
