"""Input splits read every line exactly once, wherever the split boundaries fall."""

from __future__ import annotations

import random

import pytest

from ember.engine.io import textfile
from ember.engine.io.textfile import compute_splits, list_input_files, read_split


@pytest.mark.parametrize("seed", range(6))
def test_every_line_read_once_whatever_the_split_size(tmp_path, seed, monkeypatch):
    rng = random.Random(seed)
    lines = ["".join(rng.choice("abcé\t ") for _ in range(rng.randrange(0, 40))) for _ in range(400)]
    ending = rng.choice(["\n", "\r\n"])
    path = tmp_path / "data.txt"
    path.write_bytes((ending.join(lines) + rng.choice(["", ending])).encode())
    monkeypatch.setattr(textfile, "READ_CHUNK", rng.choice([1, 7, 64, 4096]))
    for partitions in (1, 2, 3, 7, 50, 400):
        splits = compute_splits([str(path)], partitions)
        read = [line for split in splits for line in read_split(*split)]
        assert read == lines, f"{partitions} splits"


def test_split_sizes_follow_the_goal_and_slop(tmp_path):
    path = tmp_path / "f.txt"
    path.write_bytes(b"x\n" * 5000)  # 10000 bytes
    splits = compute_splits([str(path)], 4)
    assert [length for _, _, length, _ in splits] == [2500, 2500, 2500, 2500]
    splits = compute_splits([str(path)], 3)
    assert sum(length for _, _, length, _ in splits) == 10000 and len(splits) == 3


def test_listing_skips_hidden_files_and_reports_missing_paths(tmp_path):
    (tmp_path / "a").write_text("1\n")
    (tmp_path / "_SUCCESS").write_text("")
    (tmp_path / ".crc").write_text("")
    assert list_input_files(str(tmp_path)) == [str(tmp_path / "a")]
    assert list_input_files(f"file://{tmp_path}/a") == [str(tmp_path / "a")]
    with pytest.raises(FileNotFoundError, match="matches 0 files"):
        list_input_files(str(tmp_path / "*.csv"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list_input_files(str(tmp_path / "nope"))
    with pytest.raises(ValueError, match="non-empty"):
        list_input_files("")
