"""A PySpark program's launch as PySpark launches it: no master means
``local[*]``; ``local-cluster[N,C,M]``; the active Context and
``getOrCreate``; ``spark.executor.pyspark.memory`` caps each worker's
address space; ``profiler_cls`` shows each RDD's profile under PySpark's
number."""

from __future__ import annotations

import os
import resource

import pytest

import ember
from ember import SparkConf, SparkContext
from ember.profiler import BasicProfiler, ProfilerCollector


@pytest.fixture(autouse=True)
def no_master_from_outside(monkeypatch):
    monkeypatch.delenv("EMBER_MASTER", raising=False)
    monkeypatch.delenv("EMBER_CONF", raising=False)


def test_a_context_without_a_master_runs_on_local_star_and_is_the_active_one():
    assert SparkContext._active_spark_context is None
    sc = SparkContext(appName="no-master")
    try:
        assert sc.master == "local[*]" and sc.appName == "no-master"
        assert len(sc._backend.registered()) == os.cpu_count() == sc.defaultParallelism
        assert SparkContext._active_spark_context is sc and SparkContext.getOrCreate() is sc
        assert sc.parallelize(range(10)).sum() == 45
    finally:
        sc.stop()
    assert SparkContext._active_spark_context is None
    with SparkContext.getOrCreate() as again:  # a conf without a master: local[*] too
        assert again.master == "local[*]" and again is SparkContext._active_spark_context


def test_local_cluster_starts_n_workers_of_c_cores_and_m_mib():
    with SparkContext("local-cluster[2,2,512]", "local-cluster") as sc:
        workers = sc._backend.registered()
        assert sorted(workers) == ["w-0", "w-1"]
        assert {(w.cores, w.memory) for w in workers.values()} == {(2, 512 << 20)}
        assert sc.defaultParallelism == 4
        assert sc.parallelize(range(100), 8).map(lambda x: x * x).sum() == sum(x * x for x in range(100))


def test_pyspark_memory_limits_each_workers_address_space():
    limit = 2 << 30
    conf = SparkConf().set("spark.executor.pyspark.memory", "2g")
    with SparkContext("local[1,1]", "pyspark-memory", conf=conf) as sc:
        def limits(_):
            import resource as r

            return r.getrlimit(r.RLIMIT_AS)

        assert sc.parallelize([0], 1).map(limits).collect() == [(limit, limit)]
        with pytest.raises(MemoryError):
            sc.parallelize([0], 1).map(lambda _: len(bytearray(3 << 30))).collect()
        assert sc.parallelize([0], 1).map(lambda _: len(bytearray(100 << 20))).collect() == \
            [100 << 20], "the worker goes on"
    assert resource.getrlimit(resource.RLIMIT_AS)[0] == resource.RLIM_INFINITY, "not the driver's"


class TaggedProfiler(BasicProfiler):
    def show(self, id):
        print("My custom profiles for RDD:%s" % id)


def test_a_custom_profiler_shows_each_profiled_rdd_under_pysparks_number(capsys, tmp_path):
    conf = SparkConf().set("spark.python.profile", "true")
    with SparkContext("local[1]", "profiles", conf=conf, profiler_cls=TaggedProfiler) as sc:
        assert isinstance(sc.profiler_collector, ProfilerCollector)
        assert sc.parallelize(range(1000)).map(lambda x: 2 * x).take(10) == list(range(0, 20, 2))
        assert sc.parallelize(range(1000)).count() == 1000
        sc.show_profiles()
        # PySpark's own example prints exactly these two lines.
        assert capsys.readouterr().out == ("My custom profiles for RDD:1\n"
                                           "My custom profiles for RDD:3\n")
        [profiler] = [p for id, p, _ in sc.profiler_collector.profilers if id == 3]
        assert profiler.stats().total_calls > 0
        sc.dump_profiles(str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == ["rdd_1.pstats", "rdd_3.pstats"]
    with ember.SparkContext("local[1]", "unprofiled") as sc:
        with pytest.raises(RuntimeError, match="spark.python.profile"):
            sc.show_profiles()
