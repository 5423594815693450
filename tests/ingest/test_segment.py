"""LogSegment: reads of whole batches, exact lookups, recovery of torn and
garbage tails (L09, L10), index rebuilds (L12) and bit rot (L11)."""

import os
import random

import pytest

from ember.engine.errors import CorruptRecordError
from ember.ingest.log.record_batch import SimpleRecord, check_batch, encode_batch, iter_records
from ember.ingest.log.segment import LogSegment

from ingest_helpers import flip_byte, read_records, truncate_by

BASE = 500
TS = 1_700_000_000_000


class Oracle:
    """What was appended, in plain Python: batch bytes, positions, records."""

    def __init__(self):
        self.batches = []  # (position, header, bytes)

    @property
    def records(self):
        return [r for _, _, data in self.batches for r in iter_records(data)]

    def batch_holding(self, offset):
        for entry in self.batches:
            if entry[1].base_offset <= offset <= entry[1].last_offset:
                return entry
        return None

    def first_at_or_after(self, timestamp, records=None):
        candidates = [r for r in (records or self.records) if r.timestamp >= timestamp]
        return (candidates[0].offset, candidates[0].timestamp) if candidates else None


def fill(segment, oracle, count, rng, next_offset=None):
    offset = segment.next_offset if next_offset is None else next_offset
    for _ in range(count):
        n = rng.randint(1, 8)
        records = [SimpleRecord(None, b"v%d" % (offset + i) + b"x" * rng.randint(0, 300), (),
                                TS + rng.randint(-50_000, 50_000)) for i in range(n)]
        data = encode_batch(records, base_offset=offset)
        header = check_batch(data)
        oracle.batches.append((segment.size, header, data))
        segment.append(data, header)
        offset = header.next_offset


@pytest.fixture
def built(tmp_path):
    """A flushed segment of 60 batches with small index spacing, and its oracle."""
    segment = LogSegment(str(tmp_path), BASE, index_interval_bytes=700)
    oracle = Oracle()
    fill(segment, oracle, 60, random.Random(11))
    segment.seal()
    segment.flush()
    yield segment, oracle
    segment.close()


def reopen(segment, **kwargs):
    segment.close()
    return LogSegment(segment.directory, segment.base_offset,
                      index_interval_bytes=kwargs.get("interval", 700))


def assert_matches(segment, oracle, records=None):
    """Every offset reads back its own batch; timestamps look up exactly."""
    records = oracle.records if records is None else records
    assert segment.next_offset == (records[-1].offset + 1 if records else BASE)
    for record in records[::3]:
        _, header, data = oracle.batch_holding(record.offset)
        assert segment.read(record.offset, 1) == data
    assert read_records(segment) == records
    assert segment.largest_timestamp == max(r.timestamp for r in records)
    for timestamp in sorted({r.timestamp for r in records})[::5] + [TS - 10**6, TS + 10**6]:
        assert segment.find_offset_by_timestamp(timestamp) == \
            oracle.first_at_or_after(timestamp, records)


def test_appended_batches_read_back_exactly_from_every_offset(built):
    segment, oracle = built
    assert len(segment.offset_index) > 5  # the scans below start from real entries
    assert_matches(segment, oracle)


def test_read_returns_whole_batches_up_to_max_bytes_but_never_less_than_one(built):
    segment, oracle = built
    first = oracle.batches[0]
    assert segment.read(BASE, 1) == first[2]
    two = first[2] + oracle.batches[1][2]
    assert segment.read(BASE, len(two)) == two
    assert segment.read(BASE, len(two) + len(oracle.batches[2][2]) - 1) == two


def test_read_stops_before_max_offset(built):
    segment, oracle = built
    limit = oracle.batches[3][1].base_offset
    data = segment.read(BASE, 1 << 20, max_offset=limit)
    assert data == b"".join(b for _, _, b in oracle.batches[:3])
    assert segment.read(limit, 1 << 20, max_offset=limit) == b""


def test_clean_reopen_restores_offsets_timestamps_and_indexes(built):
    segment, oracle = built
    entries = (segment.offset_index.entries(), segment.time_index.entries())
    segment = reopen(segment)
    assert segment.load()
    assert (segment.offset_index.entries(), segment.time_index.entries()) == entries
    assert_matches(segment, oracle)
    segment.close()


def test_recovery_of_an_intact_segment_drops_nothing_and_rebuilds_the_same_indexes(built):
    segment, oracle = built
    entries = segment.offset_index.entries()
    segment = reopen(segment)
    assert segment.recover() == 0
    assert segment.offset_index.entries() == entries
    assert_matches(segment, oracle)
    segment.close()


def valid_prefix(oracle, keep):
    oracle.batches = oracle.batches[:keep]
    return oracle


@pytest.mark.parametrize("cut_into_last", [1, 7, 56, 57, 60, -1])
def test_recovery_truncates_torn_tail_to_last_valid_batch(built, cut_into_last):
    segment, oracle = built
    position, header, data = oracle.batches[-1]
    keep = len(data) - 1 if cut_into_last == -1 else cut_into_last
    with open(segment.path, "r+b") as handle:
        handle.truncate(position + keep)
    segment = reopen(segment)
    assert segment.recover() == keep
    assert os.path.getsize(segment.path) == position
    assert_matches(segment, valid_prefix(oracle, len(oracle.batches) - 1))
    # The log accepts appends again right after the last valid batch.
    fill(segment, oracle, 3, random.Random(2))
    assert_matches(segment, oracle)
    segment.close()


def test_recovery_drops_garbage_appended_to_the_log_and_its_indexes(built):
    segment, oracle = built
    rng = random.Random(12)
    garbage = bytes(rng.getrandbits(8) for _ in range(3000))
    for path in (segment.path, segment.offset_index.path, segment.time_index.path):
        with open(path, "ab") as handle:
            handle.write(garbage[:rng.randint(1, 3000)])
    log_size = os.path.getsize(segment.path)
    segment = reopen(segment)
    assert segment.recover() == log_size - oracle.batches[-1][0] - len(oracle.batches[-1][2])
    assert_matches(segment, oracle)
    segment.close()


def test_load_notices_a_garbage_tail_on_the_log(built):
    segment, oracle = built
    with open(segment.path, "ab") as handle:
        handle.write(b"\x00" * 100)
    segment = reopen(segment)
    assert not segment.load()
    assert "offset" in segment.corruption and segment.path in segment.corruption
    segment.close()


def zero(path):
    size = os.path.getsize(path)
    with open(path, "wb") as handle:
        handle.write(b"\x00" * size)


def garble(path):
    size = os.path.getsize(path)
    with open(path, "wb") as handle:
        handle.write(random.Random(13).randbytes(size))


def tear(path):
    truncate_by(path, 3)


def shift_positions(path):
    """Monotonic, well-formed and wrong: every position moved by 4 bytes."""
    with open(path, "rb") as handle:
        data = bytearray(handle.read())
    for i in range(4, len(data), 8):
        data[i + 3] = (data[i + 3] + 4) % 256
    with open(path, "wb") as handle:
        handle.write(data)


@pytest.mark.parametrize("damage", [os.unlink, zero, garble, tear])
@pytest.mark.parametrize("which", ["offset_index", "time_index", "both"])
def test_missing_or_corrupt_indexes_are_rebuilt_with_exact_lookups(built, damage, which):
    segment, oracle = built
    entries = (segment.offset_index.entries(), segment.time_index.entries())
    paths = {"offset_index": [segment.offset_index.path],
             "time_index": [segment.time_index.path]}
    paths["both"] = paths["offset_index"] + paths["time_index"]
    segment = reopen(segment)
    segment.close()
    for path in paths[which]:
        damage(path)
    segment = reopen(segment)
    assert segment.load()
    assert (segment.offset_index.entries(), segment.time_index.entries()) == entries
    assert_matches(segment, oracle)
    segment.close()
    # The rebuilt indexes were written out: the next load trusts them as they are.
    segment = LogSegment(segment.directory, BASE, index_interval_bytes=700)
    segment.load()
    assert (segment.offset_index.entries(), segment.time_index.entries()) == entries
    segment.close()


def test_well_formed_but_wrong_index_is_caught_and_rebuilt(built):
    segment, oracle = built
    segment = reopen(segment)
    segment.close()
    shift_positions(segment.offset_index.path)
    segment = reopen(segment)
    assert segment.load()
    assert_matches(segment, oracle)
    segment.close()


def test_a_wrong_middle_index_entry_is_caught_at_read_time(built, caplog):
    segment, oracle = built
    entries = segment.offset_index.entries()
    segment = reopen(segment)
    segment.close()
    with open(segment.offset_index.path, "r+b") as handle:  # second entry: position + 4
        handle.seek(8 + 4)
        position = int.from_bytes(handle.read(4), "big")
        handle.seek(8 + 4)
        handle.write((position + 4).to_bytes(4, "big"))
    segment = reopen(segment)
    assert segment.load()  # the last entry is right, so the load trusts the index
    assert not caplog.records
    assert_matches(segment, oracle)
    assert "rebuilding the indexes" in caplog.text
    assert segment.offset_index.entries() == entries
    segment.close()


def test_bit_flip_in_a_sealed_segment_is_reported_on_read_and_never_returned(built):
    segment, oracle = built
    victim = 20
    position, header, data = oracle.batches[victim]
    flip_byte(segment.path, position + len(data) // 2)
    segment = reopen(segment)
    assert segment.load()
    with pytest.raises(CorruptRecordError) as caught:
        segment.read(header.base_offset, 1 << 20)
    error = caught.value
    assert error.offset == header.base_offset and error.path == segment.path
    assert str(header.base_offset) in str(error) and segment.path in str(error)
    # Reads before it stop short of it; reads after it are unaffected.
    before = segment.read(BASE, 1 << 20)
    assert before == b"".join(b for _, _, b in oracle.batches[:victim])
    after = oracle.batches[victim + 1]
    assert segment.read(after[1].base_offset, 1) == after[2]
    segment.close()


def test_decoding_a_corrupt_batch_while_seeking_a_timestamp_names_the_file(built):
    segment, oracle = built
    latest = max(r.timestamp for r in oracle.records)
    position, header, data = next(b for b in oracle.batches if b[1].max_timestamp >= latest)
    flip_byte(segment.path, position + len(data) - 1)
    segment = reopen(segment)
    assert segment.load()
    with pytest.raises(CorruptRecordError, match="CRC mismatch") as caught:
        segment.find_offset_by_timestamp(latest)
    assert (caught.value.path, caught.value.offset) == (segment.path, header.base_offset)
    segment.close()


def test_a_batch_larger_than_the_read_chunk_is_walked_and_recovered(tmp_path):
    segment = LogSegment(str(tmp_path), 0, index_interval_bytes=0)
    oracle = Oracle()
    big = encode_batch([SimpleRecord(None, b"y" * (3 << 20))], base_offset=0, timestamp=TS)
    small = encode_batch([SimpleRecord(None, b"z")], base_offset=1, timestamp=TS + 1)
    for data in (big, small, big.replace(b"\x00" * 8, (2).to_bytes(8, "big"), 1)):
        header = check_batch(data)
        oracle.batches.append((segment.size, header, data))
        segment.append(data, header)
    segment.flush()
    size = segment.size
    segment.close()
    with open(segment.path, "r+b") as handle:
        handle.truncate(size - 10)
    segment = LogSegment(str(tmp_path), 0, index_interval_bytes=0)
    assert segment.recover() == len(big) - 10
    assert segment.next_offset == 2
    assert segment.read(0, 1) == big
    assert segment.read(1, 1) == small
    segment.close()
