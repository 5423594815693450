"""Task metrics are measured on the workers and match what the job really
read, shuffled, spilled and wrote (checked against the files on disk and a
plain-Python oracle), as the status page's JSON API reports them."""

from __future__ import annotations

import glob
import json
import os
import urllib.request
from collections import Counter
from operator import add

import pytest

import ember

WORDS = [f"w{i}" for i in range(30_000)]


@pytest.fixture(scope="module")
def tight():
    """Workers whose aggregations spill past 256 KiB per task."""
    conf = ember.Conf().set("spark.python.worker.memory", "256k")
    context = ember.Context("local[2]", appName="metrics", conf=conf)
    yield context
    context.stop()


def api(sc, path: str) -> dict:
    with urllib.request.urlopen(sc.uiWebUrl + path, timeout=30) as reply:
        return json.loads(reply.read())


def stages_of_last_job(sc) -> list[dict]:
    tracker = sc.statusTracker()
    job = tracker.getJobInfo(max(tracker.getJobIdsForGroup()))
    return [api(sc, f"/api/stage/{sid}") for sid in sorted(job.stageIds)]


def summed(report: dict, name: str) -> int:
    return sum(task["metrics"][name] for task in report["tasks"] if task["status"] == "SUCCESS")


def test_a_word_count_s_metrics_match_its_input_file_shuffle_and_output_files(tight, tmp_path):
    source = tmp_path / "words.txt"
    lines = [" ".join(WORDS[i:i + 10]) + " " + WORDS[i % 97] for i in range(0, len(WORDS), 10)]
    source.write_text("\n".join(lines) + "\n")
    out = str(tmp_path / "counts")
    counts = (tight.textFile(str(source), 4).flatMap(str.split).map(lambda w: (w, 1))
              .reduceByKey(add))
    counts.saveAsTextFile(out)
    oracle = Counter(word for line in lines for word in line.split())

    map_stage, result_stage = stages_of_last_job(tight)
    assert summed(map_stage, "inputRecords") == len(lines)
    assert summed(map_stage, "inputBytes") == os.path.getsize(source)
    written = summed(map_stage, "shuffleWriteRecords")
    assert len(oracle) <= written <= sum(oracle.values()), "combined on the map side"
    assert summed(result_stage, "shuffleReadRecords") == written
    assert summed(result_stage, "shuffleReadBytes") == summed(map_stage, "shuffleWriteBytes") > 0
    remote = summed(result_stage, "shuffleRemoteBytes")
    assert 0 < remote < summed(result_stage, "shuffleReadBytes"), "two workers: some blocks local"
    parts = sorted(glob.glob(os.path.join(out, "part-*")))
    assert summed(result_stage, "outputRecords") == len(oracle)
    assert summed(result_stage, "outputBytes") == sum(os.path.getsize(p) for p in parts)
    # 30,000 distinct words do not fit 256 KiB: both sides of the shuffle spilled.
    for stage in (map_stage, result_stage):
        assert summed(stage, "memorySpilled") > 0 and summed(stage, "diskSpilled") > 0
        assert stage["stage"]["metrics"]["diskSpilled"] == summed(stage, "diskSpilled")
    for task in map_stage["tasks"] + result_stage["tasks"]:
        metrics = task["metrics"]
        assert metrics["runTime"] > 0 and metrics["cpuTime"] > 0
        assert metrics["started"] <= metrics["finished"]
        assert task["slot"] == metrics["slot"] == 0, "one slot per worker"


def test_parallelized_and_cached_input_is_counted_and_results_are_sized(tight):
    data = list(range(5000))
    rdd = tight.parallelize(data, 5).cache()
    try:
        assert rdd.sum() == sum(data)
        (computed,) = stages_of_last_job(tight)
        assert summed(computed, "inputRecords") == len(data)
        assert summed(computed, "resultSize") > 0
        assert summed(computed, "shuffleWriteRecords") == summed(computed, "diskSpilled") == 0
        assert rdd.count() == len(data)
        (from_cache,) = stages_of_last_job(tight)
        assert summed(from_cache, "inputRecords") == len(data), "read back from the cache"
    finally:
        rdd.unpersist()


def test_a_sort_that_outgrows_its_budget_reports_its_spill(tight):
    data = [(f"k{(i * 7919) % 40_000:06d}", "x" * 20) for i in range(40_000)]
    result = tight.parallelize(data, 2).sortByKey(numPartitions=2).keys().collect()
    assert result == sorted(k for k, _ in data)
    reports = stages_of_last_job(tight)
    assert sum(summed(r, "diskSpilled") for r in reports) > 0
    assert summed(reports[-1], "shuffleReadRecords") == len(data)
