"""Map output files: blocks round-trip, and any damage is a FetchFailedError
(the map task is rerun), never wrong records."""

from __future__ import annotations

import os

import pytest

from ember.engine.errors import FetchFailedError
from ember.engine.hashing import portable_hash
from ember.engine.partitioner import Partitioner
from ember.engine.serializer import loads
from ember.engine.shuffle import MapStatus, output_paths, read_block, remove_shuffle_files, verify_block, write_map_output


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
        block = loads(blob) if blob else []
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
