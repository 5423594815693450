"""Behaviour PySpark's own docstrings document and ember once departed from,
found by running those docstrings against ember (the developer tool
``tests/compat/pyspark_examples.py``): each test states the behaviour on
real local clusters, in this repository's own words and data."""

from __future__ import annotations

import os
import statistics
import zipfile

import pytest

import ember
from ember import SparkFiles, TaskContext


def test_spark_home_is_an_attribute_read_from_the_conf():
    # First in this module: it needs no other Context running (the shared
    # one starts with the next test).
    conf = ember.SparkConf().setMaster("local[1]").setAppName("home").setSparkHome("/opt/x")
    with ember.Context(conf=conf) as from_conf:
        assert from_conf.sparkHome == "/opt/x"
    with ember.Context("local[1]", "home", sparkHome="/opt/y") as from_argument:
        assert from_argument.sparkHome == "/opt/y"
        assert from_argument.getConf().get("spark.home") == "/opt/y"
    with ember.Context("local[1]", "home") as without:
        assert without.sparkHome is None


def test_stats_as_dict_gives_sample_deviation_unless_sample_is_true(sc):
    values = [3.0, 8.0, 1.0, 9.0, 4.0]
    stats = sc.parallelize(values, 2).stats()
    default = stats.asDict()
    assert default["variance"] == statistics.variance(values)  # n - 1, as PySpark returns
    assert default["stdev"] == statistics.stdev(values)
    flipped = stats.asDict(sample=True)
    assert flipped["variance"] == statistics.pvariance(values)
    assert flipped["stdev"] == statistics.pstdev(values)
    assert {key: default[key] for key in ("count", "mean", "sum", "min", "max")} == {
        "count": 5, "mean": 5.0, "sum": 25.0, "min": 1.0, "max": 9.0}
    assert list(default) == ["count", "mean", "sum", "min", "max", "stdev", "variance"]


def test_added_files_and_archives_are_listed_once_by_properties(sc, tmp_path):
    rate = tmp_path / "rate.txt"
    rate.write_text("3")
    extra = tmp_path / "extra.txt"
    extra.write_text("unused")
    helper = tmp_path / "doubling_helper.py"
    helper.write_text("def twice(x):\n    return 2 * x\n")
    bundle = tmp_path / "bundle.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.writestr("factor.txt", "5")

    sc.addFile(str(rate))
    sc.addFile(str(extra))
    sc.addFile(f"file://{rate}")  # the same path again: ignored
    sc.addPyFile(str(helper))
    sc.addArchive(str(bundle))
    sc.addArchive(str(bundle))

    # read as attributes (no call), each path once, as file: URIs
    assert sorted(sc.listFiles) == sorted(f"file:{p}" for p in (rate, extra, helper))
    assert sc.listArchives == [f"file:{bundle}"]
    sc.listFiles.clear()  # a copy: the Context's own list is untouched
    assert len(sc.listFiles) == 3

    def scale(x):
        import doubling_helper

        with open(SparkFiles.get("rate.txt")) as f:
            rate_value = int(f.read())
        with open(os.path.join(SparkFiles.get("bundle.zip"), "factor.txt")) as f:
            factor = int(f.read())
        return doubling_helper.twice(x) * rate_value * factor

    assert sc.parallelize([1, 2, 3], 2).map(scale).collect() == [30, 60, 90]

    # another archive under a name already taken is refused, naming it
    other = tmp_path / "elsewhere"
    other.mkdir()
    with zipfile.ZipFile(other / "bundle.zip", "w") as archive:
        archive.writestr("factor.txt", "7")
    with pytest.raises(ValueError, match="different archive named 'bundle.zip'"):
        sc.addArchive(str(other / "bundle.zip"))
    assert sc.listArchives == [f"file:{bundle}"]
    assert sc.parallelize([1], 1).map(scale).collect() == [30]


def test_whole_file_inputs_are_named_after_their_path(sc, tmp_path):
    (tmp_path / "notes.txt").write_text("first\nsecond\n")
    text_path = str(tmp_path / "notes.txt")
    glob_path = str(tmp_path / "*.txt")
    lines = sc.textFile(text_path)
    assert lines.name() == text_path
    assert repr(lines).startswith(f"{text_path} TextFileRDD[{lines.id()}] at textFile at ")
    assert sc.textFile(glob_path).name() == glob_path  # the argument, as given
    assert sc.wholeTextFiles(str(tmp_path)).name() == str(tmp_path)
    assert sc.binaryFiles(str(tmp_path)).name() == str(tmp_path)
    assert lines.collect() == ["first", "second"]
    # derived and in-memory RDDs stay unnamed; setName still renames
    assert lines.map(str.upper).name() is None
    assert sc.parallelize([1]).name() is None
    assert lines.setName("notes").name() == "notes"


def test_a_task_can_return_its_task_context_to_the_driver(sc):
    sc.setLocalProperty("report.owner", "billing")
    try:
        contexts = sc.parallelize(range(6), 3).mapPartitions(
            lambda _: [TaskContext.get()]).collect()
    finally:
        sc.setLocalProperty("report.owner", None)
    assert [c.partitionId() for c in contexts] == [0, 1, 2]
    assert len({c.stageId() for c in contexts}) == 1
    assert all(c.attemptNumber() == 0 and c.cpus() == 1 for c in contexts)
    assert len({c.taskAttemptId() for c in contexts}) == 3
    assert {c.getLocalProperty("report.owner") for c in contexts} == {"billing"}
    # the copy carries the description only, none of the worker's services
    assert all(c._env is None and c._map_outputs == {} for c in contexts)
    assert TaskContext.get() is None  # and the driver is still no task

