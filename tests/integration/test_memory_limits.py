"""Memory limits on a real local cluster: aggregations, sorts and joins past a
task's budget spill to disk and still equal a plain-Python oracle; spill files
exist while a spilled result is read and are gone afterwards; a job whose
results would pass ``spark.driver.maxResultSize`` fails with its named error;
a cached RDD larger than a worker's storage memory follows its storage level.
"""

from __future__ import annotations

import os
import random
from operator import add

import pytest

import ember
from ember import StorageLevel
from ember.engine.errors import ResultTooLargeError

pytestmark = pytest.mark.slow


def _spill_files() -> int:
    """Files under this worker's spill directory now."""
    root = os.environ.get("SPARK_LOCAL_DIRS", "")
    return sum(len(files) for _, _, files in os.walk(root)) if root else 0


def _files_under(root: str, folder: str) -> list[str]:
    return [os.path.join(d, f) for d, _, files in os.walk(root) for f in files
            if os.sep + folder in d]


@pytest.fixture
def budget_sc():
    # 128 KiB per task: the data below is many times that.
    conf = ember.Conf().set("spark.python.worker.memory", "128k")
    with ember.Context("local[2]", conf=conf) as sc:
        yield sc


def test_aggregations_sorts_and_joins_past_the_budget_equal_the_oracle(budget_sc):
    sc = budget_sc
    rng = random.Random(7)
    rows = [(rng.randrange(5_000), "v%d" % rng.randrange(10 ** 6)) for _ in range(60_000)]
    other = [(key, key * 3) for key in range(0, 6_000, 2)]
    rdd = sc.parallelize(rows, 4)

    groups = rdd.groupByKey(3).mapValues(sorted).collect()
    sums = rdd.mapValues(len).reduceByKey(add, 3).collect()
    ordered = rdd.sortByKey(numPartitions=3).collect()
    descending = rdd.sortByKey(ascending=False, numPartitions=2).keys().collect()
    joined = rdd.join(sc.parallelize(other, 3), 3).collect()

    oracle: dict[int, list[str]] = {}
    for key, value in rows:
        oracle.setdefault(key, []).append(value)
    right = dict(other)
    assert dict(groups) == {key: sorted(values) for key, values in oracle.items()}
    assert len(groups) == len(oracle)
    assert dict(sums) == {key: sum(map(len, values)) for key, values in oracle.items()}
    assert ordered == sorted(rows, key=lambda kv: kv[0])  # stable, as sorted() is
    assert descending == sorted((key for key, _ in rows), reverse=True)
    assert sorted(joined) == sorted((key, (value, right[key])) for key, value in rows
                                    if key in right)
    spills = sum(sc.parallelize(range(8), 8).map(lambda _: __import__(
        "ember.engine.data.spill", fromlist=["spill_count"]).spill_count()).collect())
    assert spills > 0, "nothing spilled: the budget did not bind"


def test_spill_files_exist_while_a_spilled_group_is_read_and_are_gone_after(budget_sc):
    sc = budget_sc
    rows = [(i % 3_000, "x" * 30) for i in range(80_000)]

    def seen_while_reading(iterator):
        first = next(iterator, None)
        during = _spill_files()
        rest = sum(1 for _ in iterator)
        yield during, (first is not None) + rest

    observed = sc.parallelize(rows, 4).groupByKey(2).mapPartitions(seen_while_reading).collect()
    assert sum(count for _, count in observed) == 3_000
    assert all(during > 0 for during, _ in observed), observed
    leftovers = sc.parallelize(range(8), 8).map(lambda _: _spill_files()).collect()
    assert leftovers == [0] * 8
    assert _files_under(sc._work_root, "spill") == []


def test_collect_past_max_result_size_raises_its_error_and_the_context_goes_on():
    conf = ember.Conf().set("spark.driver.maxResultSize", "1m")
    with ember.Context("local[2]", conf=conf) as sc:
        big = sc.parallelize(range(64), 8).map(lambda i: os.urandom(64 * 1024))
        with pytest.raises(ResultTooLargeError, match="spark.driver.maxResultSize"):
            big.collect()
        assert sc.parallelize(range(100), 4).sum() == 4950


def _cached_job(sc, level, tmp_path):
    """An RDD of 8 partitions of about 430 KiB each, persisted at ``level``,
    counting every computation of a partition in a file per partition."""
    marks = tmp_path / "computed"
    marks.mkdir()

    def block(index, _):
        (marks / f"{index}-{os.urandom(4).hex()}").write_text("")
        rng = random.Random(index)
        return [(index, rng.randbytes(100)) for _ in range(2_000)]

    rdd = sc.parallelize(range(8), 8).mapPartitionsWithIndex(block).persist(level)
    return rdd, lambda: len(list(marks.iterdir()))


@pytest.fixture
def small_cache_sc():
    # 2 MiB per worker, half of it for the cache: about 2 of the 8 blocks fit on each.
    conf = (ember.Conf().set("spark.executor.memory", "2m")
            .set("spark.memory.fraction", "0.5"))
    with ember.Context("local[2]", conf=conf) as sc:
        yield sc


def test_memory_only_rdd_larger_than_the_cache_drops_blocks_and_recomputes_them(
        small_cache_sc, tmp_path):
    sc = small_cache_sc
    rdd, computed = _cached_job(sc, StorageLevel.MEMORY_ONLY, tmp_path)
    expected = 8 * 2_000
    assert rdd.count() == expected
    assert computed() == 8
    assert rdd.map(lambda kv: len(kv[1])).sum() == expected * 100
    recomputed = computed() - 8
    assert 0 < recomputed < 8, "either everything or nothing fitted: the limit was not tested"
    held = sc._scheduler.cache.cached_partitions(rdd._id)
    assert 0 < len(held) < 8
    assert sorted(rdd.keys().distinct().collect()) == list(range(8))


def test_memory_and_disk_rdd_larger_than_the_cache_spills_blocks_to_disk(small_cache_sc, tmp_path):
    sc = small_cache_sc
    rdd, computed = _cached_job(sc, StorageLevel.MEMORY_AND_DISK, tmp_path)
    assert rdd.count() == 8 * 2_000
    assert rdd.map(lambda kv: len(kv[1])).sum() == 8 * 2_000 * 100
    assert rdd.keys().distinct().count() == 8
    assert computed() == 8, "a MEMORY_AND_DISK block was recomputed instead of read from disk"
    assert len(sc._scheduler.cache.cached_partitions(rdd._id)) == 8
    on_disk = [p for p in _files_under(sc._work_root, "blocks")
               if os.path.basename(p).startswith(f"rdd_{rdd._id}_")]
    assert 0 < len(on_disk) < 8, on_disk
    rdd.unpersist()
    sc.parallelize(range(4), 4).count()  # RemoveRdd reaches the workers before this job
    assert [p for p in _files_under(sc._work_root, "blocks")
            if os.path.basename(p).startswith(f"rdd_{rdd._id}_")] == []


def test_a_new_cached_rdd_evicts_the_least_recently_used_blocks_of_another(small_cache_sc,
                                                                            tmp_path):
    sc = small_cache_sc
    first = sc.parallelize(range(2), 2).map(lambda i: [i] * 10_000).cache()
    assert first.map(len).sum() == 20_000
    assert len(sc._scheduler.cache.cached_partitions(first._id)) == 2
    second, _ = _cached_job(sc, StorageLevel.MEMORY_ONLY, tmp_path)
    assert second.count() == 16_000
    assert len(sc._scheduler.cache.cached_partitions(first._id)) < 2
    assert first.map(len).sum() == 20_000  # an evicted block is recomputed from lineage
