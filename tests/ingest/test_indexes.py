"""OffsetIndex and TimeIndex on their own: lookups against a plain-Python
oracle, persistence, and the sanity checks that send a bad index to rebuild."""

import bisect
import os
import random

import pytest

from ember.engine.errors import CorruptRecordError
from ember.ingest.log.offset_index import OffsetIndex
from ember.ingest.log.record_batch import NO_TIMESTAMP
from ember.ingest.log.time_index import TimeIndex

BASE = 1000


def sparse_entries(rng, count):
    offsets = sorted(rng.sample(range(BASE + 1, BASE + 100 * count), count))
    positions = sorted(rng.sample(range(1, 4096 * count), count))
    return list(zip(offsets, positions))


def oracle_floor(entries, target, default):
    keys = [k for k, _ in entries]
    i = bisect.bisect_right(keys, target) - 1
    return entries[i] if i >= 0 else default


def test_offset_lookup_returns_the_last_entry_at_or_below_the_target(tmp_path):
    rng = random.Random(3)
    entries = sparse_entries(rng, 500)
    index = OffsetIndex(str(tmp_path / "x.index"), BASE)
    for offset, position in entries:
        index.append(offset, position)
    targets = [BASE, BASE - 1 + 1, entries[-1][0] + 50] + [o for o, _ in entries] + \
              [o - 1 for o, _ in entries] + [rng.randrange(BASE, BASE + 50_000) for _ in range(500)]
    for target in targets:
        assert index.lookup(target) == oracle_floor(entries, target, (BASE, 0)), target


def test_offset_index_survives_flush_and_reopen(tmp_path):
    path = str(tmp_path / "x.index")
    entries = sparse_entries(random.Random(4), 100)
    index = OffsetIndex(path, BASE)
    for entry in entries:
        index.append(*entry)
    assert index.dirty
    index.flush()
    assert not index.dirty
    index.close()
    assert os.path.getsize(path) == 8 * len(entries)
    reopened = OffsetIndex(path, BASE)
    assert reopened.entries() == entries
    reopened.sanity_check(log_size=entries[-1][1] + 1)


def test_entries_out_of_order_are_refused_at_append(tmp_path):
    index = OffsetIndex(str(tmp_path / "x.index"), BASE)
    index.append(BASE + 10, 100)
    with pytest.raises(ValueError, match="must increase"):
        index.append(BASE + 10, 200)
    with pytest.raises(ValueError, match="must increase"):
        index.append(BASE + 11, 100)


def write_raw(path, data):
    with open(path, "wb") as handle:
        handle.write(data)


@pytest.mark.parametrize("make, problem", [
    (lambda good: good + b"\x00\x01\x02", "not a multiple"),
    (lambda good: b"\x00" * len(good), "not in increasing order"),
    (lambda good: good[8:16] + good[:8] + good[16:], "not in increasing order"),
    (lambda good: good + good[-8:], "not in increasing order"),
])
def test_sanity_check_rejects_torn_and_garbled_offset_indexes(tmp_path, make, problem):
    path = str(tmp_path / "x.index")
    index = OffsetIndex(path, BASE)
    for entry in sparse_entries(random.Random(5), 20):
        index.append(*entry)
    index.flush()
    index.close()
    with open(path, "rb") as handle:
        good = handle.read()
    write_raw(path, make(good))
    with pytest.raises(CorruptRecordError, match=problem) as caught:
        OffsetIndex(path, BASE).sanity_check(log_size=1 << 30)
    assert path in str(caught.value)


def test_sanity_check_rejects_an_entry_beyond_the_log(tmp_path):
    index = OffsetIndex(str(tmp_path / "x.index"), BASE)
    index.append(BASE + 5, 5000)
    index.sanity_check(log_size=5001)
    with pytest.raises(CorruptRecordError, match="beyond the 5000-byte log"):
        index.sanity_check(log_size=5000)


def test_reset_empties_the_index_on_disk(tmp_path):
    path = str(tmp_path / "x.index")
    index = OffsetIndex(path, BASE)
    index.append(BASE + 1, 10)
    index.flush()
    index.reset()
    index.flush()
    assert len(index) == 0 and os.path.getsize(path) == 0
    assert index.lookup(BASE + 99) == (BASE, 0)


def test_time_index_appends_only_growing_timestamps(tmp_path):
    index = TimeIndex(str(tmp_path / "x.timeindex"), BASE)
    index.maybe_append(NO_TIMESTAMP, BASE)
    index.maybe_append(100, BASE + 1)
    index.maybe_append(100, BASE + 2)
    index.maybe_append(90, BASE + 3)
    index.maybe_append(150, BASE + 4)
    assert index.entries() == [(100, BASE + 1), (150, BASE + 4)]


def test_time_lookup_returns_the_last_entry_at_or_below_the_timestamp(tmp_path):
    rng = random.Random(6)
    timestamps = sorted(rng.sample(range(10_000, 10_000_000), 300))
    offsets = sorted(rng.sample(range(BASE, BASE + 1_000_000), 300))
    entries = list(zip(timestamps, offsets))
    path = str(tmp_path / "x.timeindex")
    index = TimeIndex(path, BASE)
    for timestamp, offset in entries:
        index.maybe_append(timestamp, offset)
    index.flush()
    index.close()
    index = TimeIndex(path, BASE)
    assert index.entries() == entries
    index.sanity_check(next_offset=offsets[-1] + 1)
    for target in timestamps + [t + 1 for t in timestamps] + [0, 20_000_000]:
        assert index.lookup(target) == oracle_floor(entries, target, (NO_TIMESTAMP, BASE))


def test_time_index_sanity_check_rejects_offsets_past_the_segment(tmp_path):
    index = TimeIndex(str(tmp_path / "x.timeindex"), BASE)
    index.maybe_append(100, BASE + 7)
    with pytest.raises(CorruptRecordError, match="beyond the segment's last offset"):
        index.sanity_check(next_offset=BASE + 7)


def test_zeroed_time_index_fails_the_sanity_check(tmp_path):
    path = str(tmp_path / "x.timeindex")
    write_raw(path, b"\x00" * 12 * 5)
    with pytest.raises(CorruptRecordError, match="increasing order"):
        TimeIndex(path, BASE).sanity_check(next_offset=BASE + 100)
