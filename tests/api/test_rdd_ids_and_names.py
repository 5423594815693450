"""RDDs are numbered and named as PySpark numbers and names them: ``id()``
counts as PySpark's JVM numbers its RDDs, and reprs, lineage and stage
names give the user's call (``range at``, ``distinct at``), not a step taken
inside it."""

from __future__ import annotations

import os
import re
import sys

import pytest

import ember
from ember import TaskContext

HERE = os.path.abspath(__file__)


@pytest.fixture
def fresh(tmp_path):
    with ember.SparkContext("local[2]", "ids") as sc:
        yield sc


def test_ids_are_numbered_as_pyspark_numbers_them(fresh, tmp_path):
    sc = fresh
    path = tmp_path / "t.txt"
    path.write_text("a b\nc\n")
    out = []
    r = sc.range(5); out.append(r.id())  # noqa: E702 - one line per step, as recorded
    p = sc.parallelize([(1, 2), (3, 4), (1, 5)], 2); out.append(p.id())  # noqa: E702
    m = p.map(lambda kv: kv); f = m.filter(bool); out.append(f.id())  # noqa: E702
    out.append(m.id())
    out.append(p.distinct().id())
    rk = f.reduceByKey(lambda a, b: a + b); out.append(rk.id())  # noqa: E702
    out.append(rk.count())
    out.append(sc.emptyRDD().id())
    out.append(p.groupByKey().mapValues(list).id())
    out.append(p.join(p).id())
    out.append(p.union(sc.parallelize([(9, 9)])).id())
    out.append(sc.textFile(str(path)).id())
    out.append(sorted(p.sortByKey().collect()) and sc.emptyRDD().id())
    out.append(p.repartition(3).id())
    out.append(p.coalesce(1).id())
    out.append(p.zip(p).id())
    out.append(p.cartesian(p).id())
    out.append(p.cache().map(str).id())
    out.append(p.take(2) and sc.emptyRDD().id())
    out.append(p.first() and sc.emptyRDD().id())
    rng = sc.range(10, numSlices=2)
    out.append(rng.map(str).id())
    out.append(rng.id())
    out.append(rng.zipWithIndex().id())
    out.append(sc.union([rng, p]).id())
    out.append(p.saveAsTextFile(str(tmp_path / "o")) or sc.emptyRDD().id())
    out.append(p.countByKey() and sc.emptyRDD().id())
    out.append(p.map(lambda kv: kv[1]).stats() and sc.emptyRDD().id())
    out.append(p.keys().histogram(2) and sc.emptyRDD().id())
    out.append(p.subtract(p).id())
    # What PySpark 4.3 prints for the same program (PYTHONHASHSEED=0).
    assert out == [1, 2, 3, 4, 9, 14, 2, 16, 21, 29, 31, 33, 41, 46, 47, 48, 49, 50, 53, 55, 57,
                   58, 60, 62, 66, 68, 70, 73, 81]


def test_reprs_lineage_and_stages_name_the_users_call(fresh):
    sc = fresh
    r, line = sc.range(5), _line()
    assert repr(r) == f"ParallelCollectionRDD[1] at range at {HERE}:{line}"
    words = sc.parallelize(["a", "b", "a"], 2)
    unique, line = words.distinct(), _line()
    assert re.fullmatch(rf"PipelinedRDD\[\d+\] at distinct at {re.escape(HERE)}:{line}", repr(unique))
    lineage = unique.toDebugString().decode()
    assert "partitionBy" not in lineage and "reduceByKey" not in lineage
    assert lineage.count(f"at distinct at {HERE}:{line}") == 3, lineage
    collected, collect_line = unique.collect(), _line()
    assert sorted(collected) == ["a", "b"]
    tracker = sc.statusTracker()
    [job] = tracker.getJobIdsForGroup()
    names = sorted(tracker.getStageInfo(stage).name for stage in tracker.getJobInfo(job).stageIds)
    assert names == [f"collect at {HERE}:{collect_line}", f"distinct at {HERE}:{line}"]
    assert repr(words.setName("words")).startswith("words ParallelCollectionRDD[")


def test_task_context_constructor_is_the_running_tasks(fresh):
    ids = fresh.parallelize(range(4), 2).map(
        lambda _: (TaskContext().partitionId(), TaskContext() is TaskContext.get())).collect()
    assert ids == [(0, True), (0, True), (1, True), (1, True)]
    assert TaskContext.get() is None and TaskContext().partitionId() is None  # on the driver


def _line() -> int:
    """The caller's line number."""
    return sys._getframe(1).f_lineno
