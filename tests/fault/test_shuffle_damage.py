"""Damaged shuffle output (E17, E18, and E03 through a kill while serving in
test_worker_loss) and a map stage that keeps failing (E19):
a fetch failure, a rerun of the map task, never a wrong answer."""

from __future__ import annotations

import glob
import os

import pytest

from ember import JobAbortedError
from faults import launches, w2, w2_data, w2_oracle

pytestmark = pytest.mark.fault


def shuffle_files(sc, suffix):
    return sorted(glob.glob(os.path.join(sc._work_root, "w-*", "shuffle", f"*{suffix}")))


def prepared(sc, data):
    """A reduceByKey whose map stage has run (its outputs sit on the workers)."""
    counts = sc.parallelize(data, 6).reduceByKey(lambda a, b: a + b, 4)
    assert counts.count() == len(w2_oracle(data))
    return counts


def test_corrupt_shuffle_block_is_detected_and_its_map_task_rerun(cluster):
    sc = cluster(2)
    data = w2_data()
    counts = prepared(sc, data)
    victim = shuffle_files(sc, ".data")[0]
    raw = bytearray(open(victim, "rb").read())
    raw[len(raw) // 2] ^= 0xFF
    open(victim, "wb").write(raw)
    before = len(launches(sc))
    assert counts.collectAsMap() == w2_oracle(data)
    reruns = [l for l in launches(sc, before) if l.kind == "shuffle_map"]
    assert len(reruns) == 1, "exactly the corrupt map output was recomputed"


def test_deleted_shuffle_files_are_recomputed(cluster):
    sc = cluster(2)
    data = w2_data()
    counts = prepared(sc, data)
    doomed = shuffle_files(sc, ".index")[:2]
    for path in doomed:
        os.unlink(path)
    before = len(launches(sc))
    assert counts.collectAsMap() == w2_oracle(data)
    assert len([l for l in launches(sc, before) if l.kind == "shuffle_map"]) == len(doomed)


def test_map_output_that_can_never_be_read_aborts_after_four_stage_attempts(cluster, monkeypatch):
    monkeypatch.setenv("EMBER_FAILPOINTS", "shuffle.read=raise@*")  # every block read fails
    sc = cluster(2, **{"spark.task.maxFailures": 1})
    with pytest.raises(JobAbortedError, match=r"failed 4 times in a row.*maxConsecutiveAttempts = 4"):
        w2(sc, w2_data(5000), partitions=4)
