"""PartitionLog: offsets, rolling, the high watermark, retention, checkpoints,
idempotent producers, corruption and crash recovery of a whole partition."""

import errno
import json
import os
import shutil
import threading

import pytest

from ember.engine.clock import ManualClock
from ember.engine.errors import (
    CorruptRecordError, InvalidProducerEpochError, KafkaStorageError, OffsetOutOfRangeError,
    OutOfOrderSequenceError,
    RecordTooLargeError,
)
from ember.engine.io.fileio import temp_name
from ember.ingest.log.log_config import LogConfig
from ember.ingest.log.partition_log import CHECKPOINT_FILE, PRODUCER_SNAPSHOT_FILE, PartitionLog
from ember.ingest.log.record_batch import iter_records
from ember.ingest.log.segment import SEGMENT_SUFFIXES

from ingest_helpers import (
    crash, flip_byte, log_files, read_records, truncate_by, values_batch, values_of,
)


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def open_log(tmp_path, clock):
    opened = []

    def opener(clean_shutdown=False, **config):
        config.setdefault("index_interval_bytes", 256)
        partition_log = PartitionLog(str(tmp_path / "clicks-3"), "clicks", 3,
                                     LogConfig(**config), clock=clock,
                                     clean_shutdown=clean_shutdown)
        opened.append(partition_log)
        return partition_log

    yield opener
    for partition_log in opened:
        if partition_log.offline is None:
            partition_log.close()


def append_values(partition_log, values, clock=None, **producer):
    timestamp = clock.time_ms() if clock else 1_700_000_000_000
    return partition_log.append(values_batch(values, timestamp=timestamp, **producer))


def fill(partition_log, batches, per_batch=3, clock=None, prefix="v"):
    """Append ``batches`` batches of numbered values; returns the values."""
    values = []
    for _ in range(batches):
        start = partition_log.log_end_offset
        batch = [f"{prefix}{start + i}-" + "x" * 40 for i in range(per_batch)]
        append_values(partition_log, batch, clock)
        values.extend(batch)
    return values


# --- offsets, acknowledgement, rolling ---------------------------------------------


def test_append_assigns_contiguous_offsets_from_the_log_end(open_log):
    log = open_log()
    infos = [append_values(log, ["a"] * n) for n in (1, 5, 2)]
    assert [(i.first_offset, i.last_offset) for i in infos] == [(0, 0), (1, 5), (6, 7)]
    assert log.log_end_offset == 8 and not any(i.duplicate for i in infos)


def test_appends_are_acknowledged_and_visible_only_after_flush(open_log):
    log = open_log()
    info = append_values(log, ["a", "b"])
    assert log.high_watermark == 0
    assert log.read(0) == b""
    assert values_of(iter_records(log.read(0, committed_only=False))) == ["a", "b"]
    assert log.flush() == info.last_offset + 1 == log.high_watermark
    assert values_of(iter_records(log.read(0))) == ["a", "b"]


def test_one_flush_acknowledges_many_appends_with_the_same_fsyncs(open_log, monkeypatch):
    calls = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real_fsync(fd))[1])
    log = open_log()
    log.flush()

    def fsyncs_for(appends):
        calls.clear()
        infos = [append_values(log, [f"r{i}"]) for i in range(appends)]
        hw = log.flush()
        assert all(info.last_offset < hw for info in infos)
        return len(calls)

    # One fsync per file of the active segment at most, however many appends it covers.
    assert max(fsyncs_for(n) for n in (1, 60, 240)) <= len(SEGMENT_SUFFIXES)


def test_segments_roll_by_size_and_stay_contiguous(open_log):
    log = open_log(segment_bytes=2000)
    values = fill(log, 40)
    log.flush()
    segments = log.segments
    assert len(segments) > 3
    for before, after in zip(segments, segments[1:]):
        assert after.base_offset == before.next_offset
        assert before.size <= 2000
    assert values_of(read_records(log)) == values


def test_segments_roll_by_age_of_their_first_append(open_log, clock):
    log = open_log(segment_ms=60_000)
    append_values(log, ["a"])
    clock.advance(59.999)
    append_values(log, ["b"])
    assert len(log.segments) == 1
    clock.advance(0.001)
    append_values(log, ["c"])
    assert [s.base_offset for s in log.segments] == [0, 2]


def test_roll_on_an_empty_active_segment_is_a_no_op(open_log):
    log = open_log()
    assert log.roll() is log.segments[-1]
    append_values(log, ["a"])
    log.roll()
    assert log.roll() is log.segments[-1] and len(log.segments) == 2


# --- reading -----------------------------------------------------------------------


def test_read_outside_the_log_names_topic_partition_offset_and_range(open_log):
    log = open_log()
    fill(log, 2)
    log.flush()
    for offset in (-1, log.log_end_offset + 1):
        with pytest.raises(OffsetOutOfRangeError) as caught:
            log.read(offset)
        message = str(caught.value)
        assert "'clicks'" in message and "partition 3" in message and str(offset) in message
        assert f"{log.log_start_offset} to {log.log_end_offset}" in message
        assert (caught.value.topic, caught.value.partition, caught.value.offset) == \
            ("clicks", 3, offset)
    assert log.read(log.log_end_offset) == b""


def test_reads_return_raw_batches_and_stay_within_one_segment(open_log):
    log = open_log(segment_bytes=1000)
    values = fill(log, 20)
    log.flush()
    first = log.segments[0]
    data = log.read(0, 1 << 20)
    assert [r.offset for r in iter_records(data)] == list(range(first.next_offset))
    assert values_of(read_records(log, max_bytes=1)) == values


def test_offset_for_timestamp_finds_the_first_record_at_or_after_it(open_log, clock):
    log = open_log(segment_bytes=1500)
    stamps = []
    for i in range(30):
        clock.advance(1 + (i % 4))
        append_values(log, [f"t{i}"] * 2, clock)
        stamps += [clock.time_ms()] * 2
    log.flush()
    records = read_records(log)
    assert [r.timestamp for r in records] == stamps
    for target in [stamps[0] - 1] + stamps + [stamps[-1] + 1]:
        expected = next(((r.offset, r.timestamp) for r in records if r.timestamp >= target),
                        None)
        assert log.offset_for_timestamp(target) == expected


def test_bit_flip_in_a_sealed_segment_raises_naming_topic_partition_offset_and_file(open_log):
    log = open_log(segment_bytes=1500)
    values = fill(log, 20)
    log.close()
    victim = log_files(log.directory)[1]
    size = os.path.getsize(victim)
    flip_byte(victim, size // 2)
    log = open_log(clean_shutdown=True)
    with pytest.raises(CorruptRecordError) as caught:
        read_records(log)
    error = caught.value
    assert (error.topic, error.partition, error.path) == ("clicks", 3, victim)
    for part in ("'clicks'", "partition 3", victim, f"offset {error.offset}"):
        assert part in str(error)
    # Everything before the bad batch reads back intact; nothing after it is skipped.
    records = []
    offset = 0
    while offset < error.offset:
        records += [r for r in iter_records(log.read(offset, 1)) if r.offset >= offset]
        offset = records[-1].offset + 1
    assert values_of(records) == values[:error.offset]


# --- validation --------------------------------------------------------------------


def test_a_batch_over_max_message_bytes_is_refused_naming_both_sizes(open_log):
    log = open_log(max_message_bytes=500)
    batch = values_batch(["x" * 600])
    with pytest.raises(RecordTooLargeError) as caught:
        log.append(batch)
    assert str(len(batch)) in str(caught.value) and "max.message.bytes=500" in str(caught.value)
    assert log.log_end_offset == 0


def test_a_corrupt_or_concatenated_produce_is_refused(open_log):
    log = open_log()
    batch = bytearray(values_batch(["a"]))
    batch[-1] ^= 1
    with pytest.raises(CorruptRecordError, match="CRC mismatch"):
        log.append(bytes(batch))
    with pytest.raises(CorruptRecordError, match="exactly one batch"):
        log.append(values_batch(["a"]) + values_batch(["b"]))
    assert log.log_end_offset == 0


# --- idempotent producers ----------------------------------------------------------


def produce(log, values, pid=7, epoch=0, seq=0):
    return append_values(log, values, producer_id=pid, producer_epoch=epoch, base_sequence=seq)


def test_a_retried_batch_is_stored_once_and_answered_with_its_offsets(open_log):
    log = open_log()
    first = produce(log, ["a", "b"], seq=0)
    second = produce(log, ["c"], seq=2)
    end = log.log_end_offset
    again = produce(log, ["a", "b"], seq=0)
    assert again.duplicate and (again.first_offset, again.last_offset) == \
        (first.first_offset, first.last_offset)
    assert produce(log, ["c"], seq=2).first_offset == second.first_offset
    assert log.log_end_offset == end
    log.flush()
    assert values_of(read_records(log)) == ["a", "b", "c"]


def test_a_sequence_gap_is_refused_and_nothing_is_appended(open_log):
    log = open_log()
    produce(log, ["a"], seq=0)
    produce(log, ["b"], seq=1)
    with pytest.raises(OutOfOrderSequenceError, match="sent sequence 3, expected 2"):
        produce(log, ["lost"], seq=3)
    assert log.log_end_offset == 2
    produce(log, ["c"], seq=2)
    log.flush()
    assert values_of(read_records(log)) == ["a", "b", "c"]


def test_epochs_fence_old_producers_and_restart_sequences(open_log):
    log = open_log()
    produce(log, ["a"], epoch=0, seq=0)
    with pytest.raises(OutOfOrderSequenceError, match="expected 0"):
        produce(log, ["b"], epoch=1, seq=5)
    produce(log, ["b"], epoch=1, seq=0)
    with pytest.raises(InvalidProducerEpochError, match="older than its current epoch 1"):
        produce(log, ["zombie"], epoch=0, seq=1)
    assert log.log_end_offset == 2


def test_sequences_wrap_around_and_unknown_producers_start_anywhere(open_log):
    log = open_log()
    top = (1 << 31) - 1
    produce(log, ["a", "b"], seq=top - 1)
    produce(log, ["c"], seq=0)
    assert log.producer_state(7).last_seq == 0


def test_non_idempotent_batches_are_never_deduplicated(open_log):
    log = open_log()
    append_values(log, ["a"])
    assert not append_values(log, ["a"]).duplicate
    assert log.log_end_offset == 2


@pytest.mark.parametrize("restart", ["clean", "crash", "crash_without_snapshot"])
def test_producer_state_survives_a_reopen(open_log, restart):
    log = open_log(segment_bytes=1000)
    for seq in range(0, 60, 3):
        produce(log, [f"{seq}", f"{seq + 1}", f"{seq + 2}"], seq=seq)
        produce(log, ["other"], pid=9, seq=seq // 3)
    last = produce(log, ["tail"], seq=60)
    log.flush()
    if restart == "clean":
        log.close()
    else:
        log.checkpoint()
        produce(log, ["after-snapshot"], seq=61)
        log.flush()
        crash(log)
        if restart == "crash_without_snapshot":
            os.unlink(os.path.join(log.directory, PRODUCER_SNAPSHOT_FILE))
    log = open_log(clean_shutdown=restart == "clean")
    end = log.log_end_offset
    assert produce(log, ["tail"], seq=60).first_offset == last.first_offset
    with pytest.raises(OutOfOrderSequenceError):
        produce(log, ["gap"], seq=70)
    assert log.log_end_offset == end
    next_seq = 61 if restart == "clean" else 62
    assert not produce(log, ["next"], seq=next_seq).duplicate


def test_a_snapshot_of_batches_lost_in_a_crash_is_never_trusted_again(open_log):
    log = open_log()
    produce(log, ["a"], seq=0)
    produce(log, ["b"], seq=1)
    log.flush()
    produce(log, ["lost"], seq=2)  # never acknowledged
    log.checkpoint()  # the snapshot covers offset 3, the log is fsynced to 2
    crash(log)
    truncate_by(log_files(log.directory)[-1], 1)  # power loss takes the unsynced batch
    log = open_log()
    assert log.log_end_offset == 2
    resent = produce(log, ["c", "d", "e"], seq=2)  # the producer's retry, batched anew
    log.flush()
    crash(log)
    log = open_log()  # the log (offsets 0-4) has grown past the old snapshot's offset 3
    again = produce(log, ["c", "d", "e"], seq=2)
    assert again.duplicate and again.first_offset == resent.first_offset == 2
    assert values_of(read_records(log)) == ["a", "b", "c", "d", "e"]


# --- retention ---------------------------------------------------------------------


def segments_summary(log):
    return [(s.base_offset, s.next_offset, s.size, s.largest_timestamp) for s in log.segments]


def test_retention_by_age_deletes_only_whole_sealed_segments(open_log, clock):
    log = open_log(segment_bytes=1200, retention_ms=10_000)
    for _ in range(12):
        fill(log, 2, clock=clock)
        clock.advance(3)
    log.flush()
    before = segments_summary(log)
    now = clock.time_ms()
    expected = []
    for base, _, _, largest in before[:-1]:
        if now - largest <= 10_000:
            break
        expected.append(base)
    assert expected, "the scenario must make some segments old enough"
    assert log.delete_old_segments() == expected
    assert segments_summary(log) == before[len(expected):]
    assert log.log_start_offset == before[len(expected)][0]
    with pytest.raises(OffsetOutOfRangeError, match="out of range"):
        log.read(log.log_start_offset - 1)


def test_retention_never_deletes_the_active_segment(open_log, clock):
    log = open_log(retention_ms=1000, retention_bytes=0)
    fill(log, 3, clock=clock)
    log.flush()
    clock.advance(10_000)
    assert log.delete_old_segments() == []
    assert len(log.segments) == 1 and log.log_start_offset == 0


def test_retention_by_size_keeps_at_least_retention_bytes(open_log, clock):
    log = open_log(segment_bytes=1000, retention_bytes=3500)
    values = fill(log, 30, clock=clock)
    log.flush()
    sizes = [s.size for s in log.segments]
    excess, expected = sum(sizes) - 3500, 0
    while expected < len(sizes) - 1 and excess >= sizes[expected]:  # the rule, in plain Python
        excess -= sizes[expected]
        expected += 1
    deleted = log.delete_old_segments()
    assert len(deleted) == expected > 0
    assert log.size >= 3500 and log.size - log.segments[0].size < 3500
    assert values_of(read_records(log)) == values[log.log_start_offset:]


def test_retention_waits_for_segments_to_be_flushed(open_log, clock):
    log = open_log(segment_bytes=1000, retention_bytes=0)
    fill(log, 20, clock=clock)
    assert log.delete_old_segments() == []
    log.flush()
    assert log.delete_old_segments() != []


def test_log_start_offset_survives_reopen_and_a_delete_cut_short(open_log, clock, tmp_path):
    log = open_log(segment_bytes=1000, retention_bytes=2500)
    values = fill(log, 30, clock=clock)
    log.flush()
    saved = tmp_path / "saved"
    shutil.copytree(log.directory, saved)
    assert log.delete_old_segments()
    start = log.log_start_offset
    crash(log)
    # A crash after the checkpoint but before the unlinks: the old files are back.
    for name in os.listdir(saved):
        if not os.path.exists(os.path.join(log.directory, name)) and name != CHECKPOINT_FILE:
            shutil.copy(saved / name, log.directory)
    log = open_log()
    assert log.log_start_offset == start == log.segments[0].base_offset
    assert values_of(read_records(log)) == values[start:]


# --- checkpoints and crashes -------------------------------------------------------


def test_interrupted_checkpoint_write_keeps_the_old_value_and_the_temp_file_is_removed(open_log):
    log = open_log()
    fill(log, 5)
    log.flush()
    log.checkpoint()
    path = os.path.join(log.directory, CHECKPOINT_FILE)
    with open(path, "rb") as handle:
        old = handle.read()
    leftover = temp_name(path)  # the writer died between writing the tmp file and renaming it
    with open(leftover, "wb") as handle:
        handle.write(b'{"version": 1, "log_start_offset": 99, "recov')
    crash(log)
    log = open_log()
    assert not os.path.exists(leftover)
    with open(path, "rb") as handle:
        assert handle.read() == old
    assert json.loads(old)["log_start_offset"] == log.log_start_offset == 0


def test_unflushed_appends_survive_a_process_crash_and_are_validated(open_log):
    log = open_log(segment_bytes=1500)
    values = fill(log, 10)
    log.flush()
    values += fill(log, 10)  # in the page cache only: a process crash keeps them
    crash(log)
    log = open_log()
    assert log.recovery_report == []
    assert log.high_watermark == log.log_end_offset == len(values)
    assert values_of(read_records(log)) == values


def test_torn_tail_is_truncated_to_the_last_valid_batch(open_log):
    log = open_log()
    values = fill(log, 10)
    log.flush()
    crash(log)
    active = log_files(log.directory)[-1]
    truncate_by(active, 10)
    log = open_log()
    assert [(r.file, r.bytes_dropped) for r in log.recovery_report] == [(active, len(
        values_batch(values[-3:])) - 10)]
    assert log.log_end_offset == len(values) - 3
    assert values_of(read_records(log)) == values[:-3]
    fill(log, 1)
    assert log.log_end_offset == len(values)


def test_corruption_in_a_middle_segment_drops_every_later_segment(open_log):
    log = open_log(segment_bytes=1000)
    values = fill(log, 30)
    log.flush()
    crash(log)
    files = log_files(log.directory)
    flip_byte(files[2], os.path.getsize(files[2]) - 5)  # inside its last batch
    with open(os.path.join(log.directory, CHECKPOINT_FILE), "w") as handle:
        json.dump({"version": 1, "log_start_offset": 0, "recovery_point": 0}, handle)
    log = open_log()
    dropped = {r.file: r.bytes_dropped for r in log.recovery_report}
    assert set(dropped) == set(files[2:])
    survivors = read_records(log)
    assert values_of(survivors) == values[:len(survivors)]
    assert log.log_end_offset == len(survivors) == log.segments[-1].next_offset
    assert len(log.segments) == 3


def test_crash_at_segment_roll_leaves_an_empty_active_segment_that_recovers(open_log):
    log = open_log()
    values = fill(log, 5)
    log.flush()
    log.roll()
    crash(log)
    assert os.path.getsize(log_files(log.directory)[-1]) == 0
    log = open_log()
    assert log.recovery_report == []
    assert [s.base_offset for s in log.segments] == [0, len(values)]
    values += fill(log, 2)
    log.flush()
    assert values_of(read_records(log)) == values


def test_torn_tail_under_an_empty_new_segment_drops_both(open_log):
    log = open_log()
    values = fill(log, 5)
    log.roll()
    crash(log)
    first, empty = log_files(log.directory)
    truncate_by(first, 1)
    log = open_log()
    assert {r.file for r in log.recovery_report} == {first, empty}
    assert len(log.segments) == 1 and log.log_end_offset == len(values) - 3


# --- storage failures --------------------------------------------------------------


def test_fsync_failure_takes_the_log_offline_and_is_never_retried(open_log, monkeypatch):
    log = open_log()
    fill(log, 2)
    log.flush()
    acked = log.high_watermark
    calls = []

    def failing_fsync(fd):
        calls.append(fd)
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    fill(log, 2)
    with pytest.raises(KafkaStorageError, match="offline") as caught:
        log.flush()
    assert "'clicks'" in str(caught.value) and isinstance(caught.value.__cause__, OSError)
    assert log.high_watermark == acked and log.offline
    for action in (log.flush, lambda: fill(log, 1), lambda: log.read(0), log.checkpoint):
        with pytest.raises(KafkaStorageError):
            action()
    assert len(calls) == 1
    log.close()  # only closes the files
    assert len(calls) == 1


def test_write_failure_takes_the_log_offline_and_leaves_no_partial_batch(open_log, monkeypatch):
    log = open_log()
    values = fill(log, 2)
    log.flush()
    real_pwrite = os.pwrite

    def short_then_full(fd, data, position):
        real_pwrite(fd, bytes(data[:10]), position)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwrite", short_then_full)
    with pytest.raises(KafkaStorageError, match="No space left"):
        fill(log, 1)
    monkeypatch.setattr(os, "pwrite", real_pwrite)
    size = log.segments[-1].size
    assert os.path.getsize(log.segments[-1].path) == size
    log.close()
    log = open_log()
    assert values_of(read_records(log)) == values


# --- concurrency -------------------------------------------------------------------


def test_concurrent_appenders_one_flusher_and_a_reader_lose_and_repeat_nothing(open_log):
    log = open_log(segment_bytes=4000)
    acked: dict[int, list[tuple[int, str]]] = {t: [] for t in range(4)}
    stop = threading.Event()
    errors = []

    def appender(thread):
        try:
            for n in range(150):
                value = f"t{thread}-{n}"
                info = append_values(log, [value])
                while log.high_watermark <= info.last_offset:  # wait for the group commit
                    stop.wait(0.0005)
                acked[thread].append((info.first_offset, value))
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    def flusher():
        while not stop.is_set():
            log.flush()

    def reader():
        while not stop.is_set():
            read_records(log, max_bytes=512)

    background = [threading.Thread(target=flusher), threading.Thread(target=reader)]
    workers = [threading.Thread(target=appender, args=(t,)) for t in acked]
    for thread in background + workers:
        thread.start()
    for thread in workers:
        thread.join(30)
    stop.set()
    for thread in background:
        thread.join(30)
    assert not errors
    records = read_records(log)
    assert [r.offset for r in records] == list(range(len(records)))
    by_offset = {r.offset: r.value.decode() for r in records}
    for thread, entries in acked.items():
        assert [by_offset[offset] for offset, _ in entries] == [v for _, v in entries]
        assert [v for _, v in entries] == [f"t{thread}-{n}" for n in range(150)]
    assert len(records) == 4 * 150
