"""Context lifecycle, master URLs and configuration."""

from __future__ import annotations

import os

import pytest

import ember
from ember import ConfigError
from ember.driver.conf import Conf, parse_duration, parse_size
from ember.driver.master import parse_master
from ember.engine.errors import StoppedContextError


@pytest.mark.parametrize("url, workers, failures", [
    ("local", 1, None), ("local[3]", 3, None), ("local[ 2 ]", 2, None), ("local[2,5]", 2, 5),
])
def test_master_urls(url, workers, failures):
    spec = parse_master(url)
    assert (spec.kind, spec.workers, spec.max_failures) == ("local", workers, failures)


def test_local_star_uses_every_cpu():
    import os

    assert parse_master("local[*]").workers == (os.cpu_count() or 1)
    assert parse_master("local[*,3]").max_failures == 3


@pytest.mark.parametrize("url", ["local[0]", "local[x]", "yarn", "", "local[2,0]", "spark://h:7077",
                                 "ember://host", "local[-1]"])
def test_bad_master_names_it_and_lists_the_accepted_forms(url):
    with pytest.raises(ValueError) as raised:
        parse_master(url)
    assert repr(url) in str(raised.value)
    assert "local[N]" in str(raised.value) and "local[N,F]" in str(raised.value)


def test_context_refuses_a_bad_master_without_starting_anything():
    with pytest.raises(ValueError, match="local\\[0\\]"):
        ember.Context("local[0]")


def test_context_lifecycle_and_pyspark_names():
    assert ember.SparkContext is ember.Context
    with ember.Context("local[2]", appName="lifecycle") as sc:
        assert sc.master == "local[2]" and sc.appName == "lifecycle"
        assert sc.defaultParallelism == 2 and sc.defaultMinPartitions == 2
        assert sc.version == ember.__version__
        assert isinstance(sc.startTime, int) and sc.applicationId
        assert sc.getConf().get("spark.app.name") == "lifecycle"
        assert ember.Context.getOrCreate() is sc
        with pytest.raises(ValueError, match="Cannot run multiple Contexts at once"):
            ember.Context("local")
        assert sc.parallelize([1, 2, 3]).count() == 3
    with pytest.raises(StoppedContextError, match="stopped Context"):
        sc.parallelize([1])
    sc.stop()  # a second stop is harmless


def test_conf_sets_parallelism_and_task_attempts():
    conf = Conf().setMaster("local[2,1]").setAppName("confd").set("spark.default.parallelism", 5)
    with ember.Context(conf=conf) as sc:
        assert sc.defaultParallelism == 5
        assert sc.parallelize(range(10)).getNumPartitions() == 5
        assert sc.parallelize([(1, 1)], 2).reduceByKey(lambda a, b: a).getNumPartitions() == 5
        launches = sc._scheduler.tasks.launches
        with pytest.raises(ZeroDivisionError):
            sc.parallelize([0], 1).map(lambda x: 1 / x).collect()
        assert sc._scheduler.tasks.launches - launches == 1  # local[N,1]: no retry


def test_conf_checks_values_and_keys():
    conf = Conf()
    with pytest.raises(ConfigError, match="spark.task.maxFailures = '0' is invalid: expected at least 1"):
        conf.set("spark.task.maxFailures", 0)
    with pytest.raises(ConfigError, match="spark.driver.maxResultSize = 'lots' is invalid"):
        conf.set("spark.driver.maxResultSize", "lots")
    with pytest.raises(ConfigError, match="unknown setting 'ember.shuffle.fetchTimout'; did you mean "
                                          "'ember.shuffle.fetchTimeout'"):
        conf.set("ember.shuffle.fetchTimout", "3s")
    conf.set("spark.sql.shuffle.partitions", 8)  # a PySpark program's setting: accepted, ignored
    assert conf.get("spark.sql.shuffle.partitions") == "8"
    assert conf.setIfMissing("spark.app.name", "a").setIfMissing("spark.app.name", "b").get("spark.app.name") == "a"
    assert conf.contains("spark.app.name") and not conf.contains("spark.master")
    assert ("spark.app.name", "a") in conf.getAll()
    assert "spark.app.name=a" in conf.toDebugString()
    assert conf.value("spark.locality.wait") == 3.0
    assert parse_size("512m") == 512 * 1024 ** 2 and parse_size("2g") == 2 * 1024 ** 3
    assert parse_duration("100ms") == 0.1 and parse_duration("2min") == 120.0


def test_interpreter_exit_without_stop_leaves_nothing(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "forgets_stop.py"
    script.write_text(
        "import ember\n"
        "sc = ember.Context('local[2]')\n"
        "print(sc._work_root, *sc._cluster.pids().values())\n"
        "print(sc.parallelize(range(5)).sum())\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()
    work_root, *pids = first.split()
    assert second == "10"
    import os
    import time

    import psutil

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(psutil.pid_exists(int(p)) for p in pids):
        time.sleep(0.05)
    assert not [p for p in pids if psutil.pid_exists(int(p))]
    assert not os.path.exists(work_root)


def test_profiles_of_several_tasks_per_worker_are_collected(tmp_path):
    conf = ember.Conf().set("spark.python.profile", "true")
    with ember.Context("local[1]", conf=conf) as context:
        rdd = context.parallelize(range(2000), 4).map(lambda x: sum(range(x % 50)))
        assert rdd.count() == 2000  # four tasks on one worker, one after another
        context.dump_profiles(str(tmp_path))
    # Named as PySpark names it: count's pipeline (1), after the range's own parallelize (0).
    assert os.listdir(tmp_path) == ["rdd_1.pstats"]


def test_environment_and_executor_env_settings_reach_every_worker():
    import ember

    conf = ember.Conf().setExecutorEnv("EMBER_TEST_FROM_CONF", "conf").set(
        "spark.executorEnv.EMBER_TEST_BOTH", "conf wins")
    with ember.Context("local[2]", conf=conf,
                       environment={"EMBER_TEST_FROM_ARG": "arg",
                                    "EMBER_TEST_BOTH": "arg"}) as sc:
        seen = set(sc.parallelize(range(8), 8).map(
            lambda _: (os.environ.get("EMBER_TEST_FROM_CONF"), os.environ.get("EMBER_TEST_FROM_ARG"),
                       os.environ.get("EMBER_TEST_BOTH"))).collect())
        assert sc.environment["EMBER_TEST_BOTH"] == "conf wins"
    assert seen == {("conf", "arg", "conf wins")}
