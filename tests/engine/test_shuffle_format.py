"""Map output files: blocks round-trip, and any damage is a FetchFailedError
(the map task is rerun), never wrong records."""

from __future__ import annotations

import os
import random

import pytest

from ember.engine.errors import FetchFailedError
from ember.engine.data.hashing import portable_hash
from ember.engine.api.partitioner import Partitioner
from ember.engine.data.shuffle import MapStatus, block_records, output_paths, read_block, remove_shuffle_files, verify_block, write_map_output


def records():
    return [(f"key{i % 13}", i) for i in range(500)]


def written(tmp_path, partitions=4):
    sizes, checksums = write_map_output(str(tmp_path), 7, 2, 99, records(), Partitioner(partitions))
    return MapStatus("w-0", "tcp://x", 99, sizes, checksums)


def test_blocks_round_trip_by_partition(tmp_path):
    status = written(tmp_path)
    seen = []
    for reduce_index in range(4):
        blob, crc = read_block(str(tmp_path), 7, 2, 99, reduce_index)
        assert len(blob) == status.block_size(reduce_index)
        verify_block(blob, crc, 7, 2, reduce_index, "w-0")
        block = list(block_records(blob))
        assert all(portable_hash(k) % 4 == reduce_index for k, _ in block)
        seen.extend(block)
    assert sorted(seen) == sorted(records())
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]


def test_equal_output_has_equal_checksums_and_different_output_does_not(tmp_path):
    first = written(tmp_path)
    again = written(tmp_path)
    assert first.checksums == again.checksums and len(first.checksums) == 4 * 4
    _, changed = write_map_output(str(tmp_path), 7, 2, 100, records()[:-1], Partitioner(4))
    assert changed != first.checksums


def test_flipped_byte_is_a_fetch_failure(tmp_path):
    status = written(tmp_path)
    data_path, _ = output_paths(str(tmp_path), 7, 2, 99)
    raw = bytearray(open(data_path, "rb").read())
    raw[status.block_size(0) // 2] ^= 0xFF
    open(data_path, "wb").write(raw)
    blob, crc = read_block(str(tmp_path), 7, 2, 99, 0)
    with pytest.raises(FetchFailedError, match="checksum mismatch") as raised:
        verify_block(blob, crc, 7, 2, 0, "w-0")
    assert (raised.value.shuffle_id, raised.value.map_index, raised.value.worker_id) == (7, 2, "w-0")


@pytest.mark.parametrize("damage", ["delete_data", "delete_index", "truncate_data", "garbage_index"])
def test_missing_or_malformed_files_are_fetch_failures(tmp_path, damage):
    written(tmp_path)
    data_path, index_path = output_paths(str(tmp_path), 7, 2, 99)
    if damage == "delete_data":
        os.unlink(data_path)
    elif damage == "delete_index":
        os.unlink(index_path)
    elif damage == "truncate_data":
        os.truncate(data_path, 10)
    else:
        open(index_path, "wb").write(b"garbage!")
    with pytest.raises(FetchFailedError):
        for reduce_index in range(4):
            blob, crc = read_block(str(tmp_path), 7, 2, 99, reduce_index)
            verify_block(blob, crc, 7, 2, reduce_index, "w-0")


def test_remove_shuffle_files_removes_only_that_shuffle(tmp_path):
    written(tmp_path)
    write_map_output(str(tmp_path), 70, 0, 1, records(), Partitioner(2))
    remove_shuffle_files(str(tmp_path), 7)
    assert sorted(os.listdir(tmp_path)) == ["shuffle_70_0_1.data", "shuffle_70_0_1.index"]


def test_map_output_past_its_budget_spills_frames_and_writes_the_same_blocks(tmp_path):
    rng = random.Random(4)
    records = [(rng.randrange(500), "v" * rng.randrange(50)) for _ in range(30_000)]
    partitioner = Partitioner(5)
    in_memory, spilled = tmp_path / "in-memory", tmp_path / "spilled"
    in_memory.mkdir(), spilled.mkdir()
    whole = write_map_output(str(in_memory), 1, 0, 1, iter(records), partitioner)
    parts = write_map_output(str(spilled), 1, 0, 1, iter(records), partitioner, budget=50_000)
    assert parts != whole  # several frames per block: other bytes, other checksums
    assert parts == write_map_output(str(spilled), 1, 0, 2, iter(records), partitioner,
                                     budget=50_000)  # but the same on every attempt
    for reduce_index in range(5):
        expected = [r for r in records if portable_hash(r[0]) % 5 == reduce_index]
        for directory in (in_memory, spilled):
            blob, crc = read_block(str(directory), 1, 0, 1, reduce_index)
            verify_block(blob, crc, 1, 0, reduce_index, None)
            assert list(block_records(blob)) == expected  # input order kept
    assert sorted(os.listdir(spilled)) == ["shuffle_1_0_1.data", "shuffle_1_0_1.index",
                                           "shuffle_1_0_2.data", "shuffle_1_0_2.index"]
