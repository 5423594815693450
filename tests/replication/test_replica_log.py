"""A partition log as one replica: the high watermark set by replication,
batches appended as the leader stored them, leader epochs, and truncation
of a divergent tail at an epoch boundary (KIP-101)."""

import pytest

from ember.engine.errors import CorruptRecordError
from ember.ingest.log.log_config import LogConfig
from ember.ingest.log.partition_log import PartitionLog
from ember.ingest.log.record_batch import SimpleRecord, encode_batch, iter_records


def batch(values, **producer):
    return encode_batch([SimpleRecord(None, v.encode()) for v in values],
                        timestamp=1_700_000_000_000, **producer)


def values(partition_log, committed_only=False):
    out, offset = [], partition_log.log_start_offset
    end = partition_log.high_watermark if committed_only else partition_log.log_end_offset
    while offset < end:
        data = partition_log.read(offset, 1 << 20, committed_only=committed_only)
        records = [r for r in iter_records(data) if r.offset >= offset]
        out += [r.value.decode() for r in records]
        offset = records[-1].offset + 1
    return out


@pytest.fixture
def open_log(tmp_path):
    opened = []

    def opener(name="leader", **config):
        config.setdefault("segment_bytes", 400)
        log = PartitionLog(str(tmp_path / name / "t-0"), "t", 0, LogConfig(**config))
        log.enable_replication()
        opened.append(log)
        return log

    yield opener
    for log in opened:
        if log.offline is None and not log._closed:
            log.close()


def test_high_watermark_waits_for_replication_not_the_fsync(open_log):
    log = open_log()
    log.become_leader(1)
    log.append(batch(["a", "b"]))
    log.flush()
    assert log.recovery_point == 2 and log.high_watermark == 0
    assert values(log, committed_only=True) == []
    assert log.update_high_watermark(5) and log.high_watermark == 2  # never past the fsync
    assert not log.update_high_watermark(1) and log.high_watermark == 2  # never down


def test_follower_stores_the_leaders_batches_byte_for_byte(open_log):
    leader, follower = open_log("leader"), open_log("follower")
    leader.become_leader(3)
    for i in range(6):
        leader.append(batch([f"v{i}a", f"v{i}b"], producer_id=7, producer_epoch=0,
                            base_sequence=2 * i))
    data = leader.read(0, 1 << 20, committed_only=False)
    while follower.log_end_offset < leader.log_end_offset:
        data = leader.read(follower.log_end_offset, 1 << 20, committed_only=False)
        follower.append_replicated(data)
    assert values(follower) == values(leader)
    assert len(follower.segments) > 1  # rolled by the follower's own segment.bytes
    assert follower.end_offset_for_epoch(3) == (3, 12)
    # The producer state came along: a retried batch is a duplicate there too.
    again = follower.append(batch(["v5a", "v5b"], producer_id=7, producer_epoch=0,
                                  base_sequence=10))
    assert again.duplicate and again.first_offset == 10


def test_a_replicated_batch_out_of_place_is_refused(open_log):
    leader, follower = open_log("leader"), open_log("follower")
    leader.become_leader(1)
    leader.append(batch(["a"]))
    leader.append(batch(["b"]))
    second = leader.read(1, 1 << 20, committed_only=False)
    with pytest.raises(CorruptRecordError, match="expected 0"):
        follower.append_replicated(second)
    assert follower.log_end_offset == 0


def test_divergent_tail_is_truncated_at_the_epoch_boundary(open_log):
    old, new = open_log("old"), open_log("new")
    old.become_leader(1)
    for v in ("a", "b", "c"):
        old.append(batch([v]))
    new.append_replicated(old.read(0, 1 << 20, committed_only=False))
    # The old leader appends two more in epoch 1 that never reach the new one...
    old.append(batch(["lost1"]))
    old.append(batch(["lost2"]))
    # ...which leads in epoch 2 and appends its own.
    new.become_leader(2)
    new.append(batch(["d"]))
    epoch, end = new.end_offset_for_epoch(old.latest_epoch)
    assert (epoch, end) == (1, 3)
    old.truncate_to(end)
    assert values(old) == ["a", "b", "c"] and old.log_end_offset == 3
    old.append_replicated(new.read(3, 1 << 20, committed_only=False))
    assert values(old) == values(new) == ["a", "b", "c", "d"]
    assert old.latest_epoch == 2


def test_truncation_is_durable_and_epochs_survive_a_reopen(open_log, tmp_path):
    log = open_log("r")
    log.become_leader(4)
    for i in range(8):
        log.append(batch([f"x{i}" * 20]))
    log.flush()
    log.update_high_watermark(3)
    log.truncate_to(5)
    log.close()
    again = PartitionLog(str(tmp_path / "r" / "t-0"), "t", 0, LogConfig(segment_bytes=400),
                         clean_shutdown=True)
    again.enable_replication()
    try:
        assert again.log_end_offset == 5
        assert again.high_watermark == 3  # checkpointed, not the log end
        assert again.end_offset_for_epoch(4) == (4, 5)
        assert again.end_offset_for_epoch(2) == (-1, -1)
    finally:
        again.close()


def test_a_follower_starts_over_where_the_leader_starts(open_log):
    follower = open_log("f")
    follower.become_leader(1)
    follower.append(batch(["stale"]))
    follower.truncate_fully(40)
    assert (follower.log_start_offset, follower.log_end_offset) == (40, 40)
    assert follower.latest_epoch == -1
