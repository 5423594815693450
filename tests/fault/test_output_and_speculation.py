"""Output commit (E24) and speculation (E13): exactly one part file per
partition with the right content, no temporary files, _SUCCESS only on
success; a straggler gets a copy and the first attempt to finish wins."""

from __future__ import annotations

import os
import time

import pytest

from ember import TaskContext
from faults import launches, w2, w2_data, w2_oracle, worker_pids

pytestmark = pytest.mark.fault


def part_contents(path):
    names = sorted(os.listdir(path))
    parts = [n for n in names if n.startswith("part-")]
    lines = []
    for name in parts:
        with open(os.path.join(path, name)) as handle:
            lines.extend(handle.read().splitlines())
    return names, parts, lines


@pytest.mark.parametrize("failpoint", ["w-1:output.mid_write=kill", "w-0:output.mid_write=exit"])
def test_save_as_text_file_commits_each_partition_once_despite_a_killed_writer(cluster, tmp_path, monkeypatch,
                                                                             failpoint):
    monkeypatch.setenv("EMBER_FAILPOINTS", failpoint)
    sc = cluster(2, **{"spark.task.maxFailures": 1})
    out = str(tmp_path / "out")
    data = [f"line {i}" for i in range(20_000)]
    sc.parallelize(data, 6).saveAsTextFile(out)
    names, parts, lines = part_contents(out)
    assert parts == [f"part-{i:05d}" for i in range(6)]
    assert names == ["_SUCCESS"] + parts, "no temporary or extra files"
    assert lines == data
    assert failpoint.split(":")[0] not in worker_pids(sc), "the writer was killed mid-write"


def test_failed_save_leaves_no_success_marker(cluster, tmp_path):
    sc = cluster(2)
    out = str(tmp_path / "out")

    def explode(x):
        if x == 5:
            raise ValueError("bad row")
        return x

    with pytest.raises(ValueError):
        sc.parallelize(range(10), 3).map(explode).saveAsTextFile(out)
    assert "_SUCCESS" not in os.listdir(out)
    assert not [n for n in os.listdir(out) if n.endswith(".tmp")]


def straggler(directory):
    """Partition 3's first attempt runs until it is killed as the loser (or
    a minute has passed, when it leaves a marker); its speculative copy is
    quick."""
    def straggle(index, iterator):
        if index == 3 and TaskContext.get().attemptNumber() == 0:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                time.sleep(0.05)
            open(os.path.join(directory, "straggler-finished"), "w").close()
        return iterator
    return straggle


def test_straggler_gets_a_speculative_copy_and_the_first_to_finish_wins(cluster, tmp_path):
    sc = cluster(2, **{"spark.speculation": "true", "spark.speculation.multiplier": "1.5"})
    data = w2_data()
    before = len(launches(sc))
    straggle = straggler(str(tmp_path))
    assert w2(sc, data, prepare=lambda rdd: rdd.mapPartitionsWithIndex(straggle)) == w2_oracle(data)
    copies = [l for l in launches(sc, before) if l.kind == "shuffle_map" and l.partition == 3]
    assert [l.attempt for l in copies] == [0, 1]
    assert copies[0].worker_id != copies[1].worker_id
    assert not os.path.exists(tmp_path / "straggler-finished"), \
        "the job waited for the straggler instead of taking its copy's output"


def test_speculative_save_commits_one_copy_per_partition(cluster, tmp_path):
    sc = cluster(2, **{"spark.speculation": "true"})
    out = str(tmp_path / "out")
    data = [f"row {i}" for i in range(8000)]
    sc.parallelize(data, 8).mapPartitionsWithIndex(straggler(str(tmp_path))).saveAsTextFile(out)
    time.sleep(0.5)  # let the killed straggler unwind
    names, parts, lines = part_contents(out)
    assert names == ["_SUCCESS"] + [f"part-{i:05d}" for i in range(8)]
    assert lines == data
