"""Broadcast variables, shipped files, profiles, status, system properties:
the Context's services around jobs."""

from __future__ import annotations

import os
import zipfile

import pytest

import ember
from ember import SparkFiles


def test_only_persisted_rdds_leave_blocks_on_the_workers(sc):
    plain = sc.parallelize(range(100), 4).map(lambda x: x + 1)
    assert plain.sum() == 5050
    cached = sc.parallelize(range(100), 4).map(lambda x: x + 1).cache()
    assert cached.sum() == 5050
    tracked = sc._scheduler.query(lambda: (sc._scheduler.cache.cached_partitions(plain._id),
                                           sc._scheduler.cache.cached_partitions(cached._id)))
    assert tracked[0] == {} and sorted(tracked[1]) == [0, 1, 2, 3]


def test_broadcast_value_reaches_every_task_and_unpersist_and_destroy(sc):
    table = sc.broadcast({i: i * i for i in range(1000)})
    assert sc.parallelize(range(1000), 4).map(lambda x: table.value[x]).sum() == sum(i * i for i in range(1000))
    table.unpersist()
    assert sc.parallelize([3], 1).map(lambda x: table.value[x]).collect() == [9]
    table.destroy()
    with pytest.raises(Exception, match="destroyed"):
        sc.parallelize([3], 1).map(lambda x: table.value[x]).collect()
    with pytest.raises(RuntimeError, match="destroyed"):
        table.value  # noqa: B018


def test_added_files_and_python_modules_reach_the_tasks(sc, tmp_path):
    data = tmp_path / "rates.txt"
    data.write_text("1.5")
    module = tmp_path / "pricing_rules.py"
    module.write_text("def price(x):\n    return x * 2\n")
    package = tmp_path / "bundled.zip"
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("bundled_rules.py", "BONUS = 7\n")
    sc.addFile(str(data))
    sc.addPyFile(str(module))
    sc.addPyFile(str(package))

    def compute(x):
        import bundled_rules
        import pricing_rules
        rate = float(open(SparkFiles.get("rates.txt")).read())
        return pricing_rules.price(x) * rate + bundled_rules.BONUS

    assert sc.parallelize([1, 2], 2).map(compute).collect() == [10.0, 13.0]
    assert f"file:{data}" in sc.listFiles
    sc.addFile(str(data))  # the same file again: fine
    data.write_text("2.5")
    with pytest.raises(ValueError, match="different file named 'rates.txt'"):
        sc.addFile(str(data))
    with pytest.raises(ValueError, match="recursive"):
        sc.addFile(str(tmp_path))


def test_archives_are_unpacked_for_the_tasks(sc, tmp_path):
    archive = tmp_path / "lookup.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("table/values.txt", "a,b,c")
    sc.addArchive(f"{archive}#lookups")
    read = sc.parallelize([0], 1).map(
        lambda _: open(os.path.join(SparkFiles.get("lookups"), "table", "values.txt")).read())
    assert read.collect() == ["a,b,c"]
    assert sc.listArchives == [f"file:{archive}"]


def test_status_tracker_follows_jobs_groups_and_stages(sc):
    tracker = sc.statusTracker()
    sc.setJobGroup("status-check", "tracker test")
    try:
        sc.parallelize(range(20), 4).map(lambda x: (x % 2, x)).reduceByKey(lambda a, b: a + b).collect()
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
    (job_id,) = tracker.getJobIdsForGroup("status-check")
    job = tracker.getJobInfo(job_id)
    assert job.status == "SUCCEEDED" and len(job.stageIds) == 2
    stages = [tracker.getStageInfo(s) for s in job.stageIds]
    assert sorted(s.numTasks for s in stages) == [4, 4]
    assert all(s.numCompletedTasks == s.numTasks and s.numActiveTasks == 0 for s in stages)
    assert tracker.getActiveJobsIds() == [] and tracker.getActiveStageIds() == []
    assert tracker.getJobInfo(10 ** 9) is None and tracker.getStageInfo(10 ** 9) is None


def test_profiles_need_the_setting(sc):
    with pytest.raises(RuntimeError, match="spark.python.profile"):
        sc.show_profiles()


def test_system_properties_become_conf_defaults():
    ember.Context.setSystemProperty("spark.default.parallelism", "3")
    try:
        assert ember.Context.getSystemProperty("spark.default.parallelism") == "3"
        assert ember.Conf().get("spark.default.parallelism") == "3"
        assert ember.Conf(loadDefaults=False).get("spark.default.parallelism") is None
    finally:
        ember.Context._system_properties.clear()

