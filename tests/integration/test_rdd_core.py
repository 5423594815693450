"""The core RDD API on a real local[2] cluster, each method compared with the
same computation in plain Python (and PySpark's documented results)."""

from __future__ import annotations

import math
import os
from collections import Counter, defaultdict
from functools import reduce
from operator import add

import pytest

from ember import StorageLevel

@pytest.fixture(scope="module", params=["local[2]", "local[4]"])
def sc(request):
    """Every test of this module runs on a 2-worker and a 4-worker cluster."""
    import ember

    with ember.Context(request.param, appName="rdd-core") as context:
        yield context


WORDS = ("the quick brown fox jumps over the lazy dog and the dog sleeps " * 40).split()
PAIRS = [(w, i) for i, w in enumerate(WORDS)]


@pytest.mark.parametrize("slices", [1, 2, 3, 7, 64])
def test_map_filter_flatmap_collect_match_python(sc, slices):
    data = list(range(100))
    rdd = sc.parallelize(data, slices)
    assert rdd.getNumPartitions() == slices
    assert rdd.map(lambda x: x * 3).collect() == [x * 3 for x in data]
    assert rdd.filter(lambda x: x % 3 == 0).collect() == [x for x in data if x % 3 == 0]
    assert rdd.flatMap(lambda x: [x] * (x % 3)).collect() == [x for x in data for _ in range(x % 3)]


def test_more_partitions_than_records_and_empty_partitions(sc):
    rdd = sc.parallelize([1, 2, 3], 10)
    parts = rdd.glom().collect()
    assert len(parts) == 10 and sum(parts, []) == [1, 2, 3]
    assert rdd.count() == 3 and rdd.sum() == 6
    assert rdd.reduce(add) == 6
    assert sorted(rdd.map(lambda x: (x % 2, x)).reduceByKey(add).collect()) == [(0, 2), (1, 4)]
    assert rdd.sortBy(lambda x: -x).collect() == [3, 2, 1]


def test_empty_rdds_follow_pyspark(sc):
    for empty in (sc.emptyRDD(), sc.parallelize([], 3)):
        assert empty.collect() == []
        assert empty.count() == 0
        assert empty.sum() == 0
        assert empty.take(5) == []
        assert empty.top(2) == []
        assert empty.takeOrdered(2) == []
        assert empty.isEmpty()
        assert empty.fold(0, add) == 0
        assert empty.aggregate((0, 0), lambda a, x: a, lambda a, b: a) == (0, 0)
        assert dict(empty.countByValue()) == {}
        assert empty.collectAsMap() == {}
        assert empty.distinct().collect() == []
        assert empty.map(lambda x: (x, x)).reduceByKey(add).collect() == []
        assert empty.map(lambda x: (x, x)).groupByKey().collect() == []
        assert empty.map(lambda x: (x, x)).sortByKey().collect() == []
        with pytest.raises(ValueError, match="empty"):
            empty.reduce(add)
        with pytest.raises(ValueError, match="RDD is empty"):
            empty.first()
    assert sc.parallelize([], 3).stats().count() == 0
    assert sc.parallelize([], 3).getNumPartitions() == 3
    assert sc.emptyRDD().getNumPartitions() == 0


def test_parallelize_slices_like_pyspark(sc):
    assert sc.parallelize([1, 2, 3, 4], 2).glom().collect() == [[1, 2], [3, 4]]
    assert sc.parallelize([0, 2, 3, 4, 6], 5).glom().collect() == [[0], [2], [3], [4], [6]]
    assert sc.parallelize(range(0, 6, 2), 5).glom().collect() == [[], [0], [], [2], [4]]
    assert sc.range(1, 7, 2).collect() == [1, 3, 5]
    assert sc.range(5).collect() == list(range(5))
    assert sc.parallelize(range(10, 0, -3), 2).collect() == list(range(10, 0, -3))
    assert sc.parallelize("abc", 2).collect() == ["a", "b", "c"]


def test_actions_match_python(sc):
    data = [5, 3, 9, 1, 7, 3, 8, 2, 6, 4, 0]
    rdd = sc.parallelize(data, 4)
    assert rdd.count() == len(data)
    assert rdd.sum() == sum(data)
    assert rdd.max() == max(data) and rdd.min() == min(data)
    assert rdd.max(key=lambda x: -x) == min(data)
    assert rdd.reduce(lambda a, b: a * 2 + b) is not None
    assert rdd.fold(0, add) == sum(data)
    assert rdd.aggregate((0, 0), lambda a, x: (a[0] + x, a[1] + 1),
                         lambda a, b: (a[0] + b[0], a[1] + b[1])) == (sum(data), len(data))
    assert rdd.top(3) == sorted(data, reverse=True)[:3]
    assert rdd.top(3, key=lambda x: -x) == sorted(data)[:3]
    assert rdd.takeOrdered(4) == sorted(data)[:4]
    assert rdd.takeOrdered(4, key=lambda x: -x) == sorted(data, reverse=True)[:4]
    assert rdd.take(0) == [] and rdd.take(3) == data[:3] and rdd.take(100) == data
    assert rdd.first() == data[0]
    assert math.isclose(rdd.mean(), sum(data) / len(data))
    stats = rdd.stats()
    assert stats.count() == len(data) and math.isclose(stats.mean(), sum(data) / len(data))
    mean = sum(data) / len(data)
    assert math.isclose(stats.variance(), sum((x - mean) ** 2 for x in data) / len(data))
    assert dict(rdd.countByValue()) == dict(Counter(data))
    assert not rdd.isEmpty()


def test_take_scans_partitions_incrementally_and_exactly(sc):
    rdd = sc.parallelize(range(1000), 50).filter(lambda x: x % 97 == 0)
    assert rdd.take(4) == [0, 97, 194, 291]
    assert rdd.take(1000) == [x for x in range(1000) if x % 97 == 0]


def test_pair_functions_match_python(sc):
    rdd = sc.parallelize(PAIRS, 5)
    expected_sum: dict = defaultdict(int)
    expected_groups: dict = defaultdict(list)
    for key, value in PAIRS:
        expected_sum[key] += value
        expected_groups[key].append(value)
    assert dict(rdd.reduceByKey(add).collect()) == expected_sum
    assert dict(rdd.reduceByKey(add, 3).collect()) == expected_sum
    assert rdd.reduceByKey(add, 3).getNumPartitions() == 3
    assert {k: sorted(v) for k, v in rdd.groupByKey().mapValues(list).collect()} == \
        {k: sorted(v) for k, v in expected_groups.items()}
    assert dict(rdd.foldByKey(0, add).collect()) == expected_sum
    assert dict(rdd.aggregateByKey(0, add, add).collect()) == expected_sum
    assert dict(rdd.aggregateByKey([], lambda a, v: a + [v], lambda a, b: a + b)
                .mapValues(sorted).collect()) == {k: sorted(v) for k, v in expected_groups.items()}
    assert dict(rdd.combineByKey(lambda v: (v, 1), lambda c, v: (c[0] + v, c[1] + 1),
                                 lambda a, b: (a[0] + b[0], a[1] + b[1])).collect()) == \
        {k: (sum(v), len(v)) for k, v in expected_groups.items()}
    assert dict(rdd.countByKey()) == dict(Counter(w for w, _ in PAIRS))
    assert rdd.collectAsMap() == dict(PAIRS)
    assert rdd.keys().collect() == [k for k, _ in PAIRS]
    assert rdd.values().collect() == [v for _, v in PAIRS]
    assert rdd.mapValues(lambda v: v * 2).collect() == [(k, v * 2) for k, v in PAIRS]
    assert rdd.flatMapValues(lambda v: range(v % 3)).collect() == \
        [(k, x) for k, v in PAIRS for x in range(v % 3)]
    assert sorted(rdd.keys().distinct().collect()) == sorted(set(WORDS))
    assert sorted(sc.parallelize(WORDS, 4).distinct(2).collect()) == sorted(set(WORDS))
    assert rdd.keyBy(lambda kv: kv[1]).collect() == [(v, (k, v)) for k, v in PAIRS]
    assert sorted(rdd.groupBy(lambda kv: kv[1] % 3).mapValues(len).collect()) == \
        sorted(Counter(v % 3 for _, v in PAIRS).items())


def test_none_and_tuple_keys(sc):
    pairs = [(None, 1), ((1, "a"), 2), (None, 3), ((1, "a"), 4), (0, 5), ("", 6)]
    rdd = sc.parallelize(pairs, 3)
    assert dict(rdd.reduceByKey(add).collect()) == {None: 4, (1, "a"): 6, 0: 5, "": 6}
    assert sorted(rdd.groupByKey().mapValues(sorted).collect(), key=repr) == \
        sorted([(None, [1, 3]), ((1, "a"), [2, 4]), (0, [5]), ("", [6])], key=repr)


def joins_oracle(left, right):
    keys = {k for k, _ in left} | {k for k, _ in right}
    lv = {k: [v for kk, v in left if kk == k] for k in keys}
    rv = {k: [v for kk, v in right if kk == k] for k in keys}
    inner = sorted((k, (v, w)) for k in keys for v in lv[k] for w in rv[k])
    left_outer = sorted((k, (v, w)) for k in keys for v in lv[k] for w in (rv[k] or [None]))
    right_outer = sorted((k, (v, w)) for k in keys for v in (lv[k] or [None]) for w in rv[k])
    full = sorted((k, (v, w)) for k in keys for v in (lv[k] or [None]) for w in (rv[k] or [None]))
    return inner, left_outer, right_outer, full


def test_joins_match_python(sc):
    left = [(i % 7, f"l{i}") for i in range(30)]
    right = [(i % 5 + 3, f"r{i}") for i in range(20)]
    a, b = sc.parallelize(left, 3), sc.parallelize(right, 4)
    inner, left_outer, right_outer, full = joins_oracle(left, right)
    key = lambda kv: (kv[0], str(kv[1]))  # noqa: E731
    assert sorted(a.join(b).collect()) == inner
    assert sorted(a.leftOuterJoin(b).collect(), key=key) == sorted(left_outer, key=key)
    assert sorted(a.rightOuterJoin(b).collect(), key=key) == sorted(right_outer, key=key)
    assert sorted(a.fullOuterJoin(b).collect(), key=key) == sorted(full, key=key)
    assert a.join(b).getNumPartitions() == 7
    assert a.join(b, 2).getNumPartitions() == 2
    grouped = dict(a.cogroup(b).mapValues(lambda vs: (sorted(vs[0]), sorted(vs[1]))).collect())
    assert grouped == {k: (sorted(v for kk, v in left if kk == k), sorted(v for kk, v in right if kk == k))
                       for k in {k for k, _ in left + right}}


def test_join_of_copartitioned_rdds_needs_no_new_shuffle(sc):
    a = sc.parallelize([(i, i) for i in range(20)], 3).partitionBy(4)
    b = sc.parallelize([(i, -i) for i in range(0, 20, 2)], 2).partitionBy(4)
    joined = a.join(b)
    assert sorted(joined.collect()) == [(i, (i, -i)) for i in range(0, 20, 2)]
    debug = joined.toDebugString().decode()
    assert debug.count("ShuffledRDD") == 2, debug  # only the two partitionBy shuffles


def test_sort_by_key_is_a_total_order(sc):
    import random

    rng = random.Random(7)
    pairs = [(rng.randrange(10_000), i) for i in range(3000)]
    for partitions in (1, 2, 5):
        for ascending in (True, False):
            rdd = sc.parallelize(pairs, 4).sortByKey(ascending, partitions)
            result = rdd.collect()
            assert [k for k, _ in result] == sorted((k for k, _ in pairs), reverse=not ascending)
            assert sorted(result) == sorted(pairs)
            assert rdd.getNumPartitions() <= partitions
    keyed = sc.parallelize(["Bb", "aa", "Cc", "dD"], 2).map(lambda s: (s, 1))
    assert keyed.sortByKey(keyfunc=str.lower).keys().collect() == ["aa", "Bb", "Cc", "dD"]
    assert sc.parallelize([3, 1, 2], 2).sortBy(lambda x: x).collect() == [1, 2, 3]
    assert sc.parallelize([("a", 1), ("b", 2), ("1", 3)]).sortBy(lambda kv: kv[1], False).collect() == \
        [("1", 3), ("b", 2), ("a", 1)]


def test_partition_by_places_each_key_once(sc):
    rdd = sc.parallelize([(i % 10, i) for i in range(100)], 3).partitionBy(4)
    parts = rdd.glom().collect()
    assert len(parts) == 4
    for index, part in enumerate(parts):
        assert all(key % 4 == index for key, _ in part)
    assert rdd.partitionBy(4) is rdd


def test_string_keys_partition_independently_of_hash_seed(sc):
    from ember import portable_hash

    words = sorted(set(WORDS))
    parts = sc.parallelize([(w, 1) for w in words], 2).partitionBy(3).glom().collect()
    for index, part in enumerate(parts):
        assert all(portable_hash(word) % 3 == index for word, _ in part)


def test_repartition_and_coalesce(sc):
    rdd = sc.parallelize(range(100), 4)
    for n in (1, 3, 8):
        repartitioned = rdd.repartition(n)
        assert repartitioned.getNumPartitions() == n
        assert sorted(repartitioned.collect()) == list(range(100))
    sizes = [len(p) for p in rdd.repartition(3).glom().collect()]
    assert max(sizes) - min(sizes) <= 4
    assert rdd.coalesce(2).getNumPartitions() == 2
    assert rdd.coalesce(2).collect() == list(range(100))
    assert rdd.coalesce(10).getNumPartitions() == 4
    assert sc.parallelize([1, 2, 3, 4, 5], 3).coalesce(1).glom().collect() == [[1, 2, 3, 4, 5]]
    assert sorted(rdd.coalesce(6, shuffle=True).collect()) == list(range(100))


def test_union(sc):
    a, b = sc.parallelize([1, 2], 2), sc.parallelize([3], 1)
    assert a.union(b).collect() == [1, 2, 3]
    assert (a + b).getNumPartitions() == 3
    assert sc.union([a, b, a]).collect() == [1, 2, 3, 1, 2]


def test_sample_is_seeded_and_reproducible(sc):
    rdd = sc.parallelize(range(1000), 4)
    first = rdd.sample(False, 0.1, 42).collect()
    assert first == rdd.sample(False, 0.1, 42).collect()
    assert 50 < len(first) < 150 and set(first) <= set(range(1000))
    with_replacement = rdd.sample(True, 0.5, 3).collect()
    assert 350 < len(with_replacement) < 650
    assert rdd.sample(False, 0.0).count() == 0
    with pytest.raises(ValueError, match="fraction"):
        rdd.sample(False, -1.0)


def test_map_partitions_with_index_and_glom(sc):
    rdd = sc.parallelize(range(8), 4)
    assert rdd.mapPartitionsWithIndex(lambda i, it: [(i, sum(it))]).collect() == \
        [(0, 1), (1, 5), (2, 9), (3, 13)]
    assert rdd.mapPartitions(lambda it: [len(list(it))]).collect() == [2, 2, 2, 2]
    assert rdd.glom().collect() == [[0, 1], [2, 3], [4, 5], [6, 7]]


def test_text_file_reads_files_directories_globs_and_compressed(sc, tmp_path):
    import bz2
    import gzip

    lines = [f"line {i} " + "x" * (i % 17) for i in range(5000)]
    text = "\n".join(lines) + "\n"
    (tmp_path / "a.txt").write_text(text)
    (tmp_path / "b.txt.gz").write_bytes(gzip.compress(text.encode()))
    (tmp_path / "c.txt.bz2").write_bytes(bz2.compress(text.encode()))
    (tmp_path / "_SUCCESS").write_text("")
    (tmp_path / ".hidden").write_text("no\n")
    single = sc.textFile(str(tmp_path / "a.txt"), 7)
    assert single.getNumPartitions() >= 7
    assert single.collect() == lines
    assert sc.textFile(str(tmp_path)).count() == 3 * len(lines)
    assert sc.textFile(str(tmp_path / "*.gz")).collect() == lines
    assert sc.textFile(str(tmp_path / "c.txt.bz2")).collect() == lines
    both = f"{tmp_path / 'a.txt'},{tmp_path / 'b.txt.gz'}"
    assert sc.textFile(both).collect() == lines + lines
    assert sc.textFile(str(tmp_path / "a.txt"), use_unicode=False).first() == lines[0].encode()


def test_text_file_handles_crlf_and_missing_final_newline(sc, tmp_path):
    path = tmp_path / "crlf.txt"
    path.write_bytes(b"one\r\ntwo\r\n\r\nthree")
    assert sc.textFile(str(path), 3).collect() == ["one", "two", "", "three"]
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert sc.textFile(str(empty)).collect() == []


def test_save_as_text_file_writes_one_part_per_partition(sc, tmp_path):
    out = str(tmp_path / "out")
    sc.parallelize(["a", 1, b"raw", None], 3).saveAsTextFile(out)
    names = sorted(os.listdir(out))
    assert names == ["_SUCCESS", "part-00000", "part-00001", "part-00002"]
    assert sc.textFile(out).collect() == ["a", "1", "raw", "None"]
    with pytest.raises(FileExistsError, match="already exists"):
        sc.parallelize([1]).saveAsTextFile(out)
    gz = str(tmp_path / "gz")
    sc.parallelize(["x", "y"], 2).saveAsTextFile(gz, "org.apache.hadoop.io.compress.GzipCodec")
    assert sorted(os.listdir(gz)) == ["_SUCCESS", "part-00000.gz", "part-00001.gz"]
    assert sc.textFile(gz).collect() == ["x", "y"]


def test_foreach_and_foreach_partition_run_on_workers(sc, tmp_path):
    marker = tmp_path / "seen"
    marker.mkdir()

    def touch(x):
        (marker / f"{x}").write_text(str(os.getpid()))

    sc.parallelize(range(6), 3).foreach(touch)
    assert sorted(int(p.name) for p in marker.iterdir()) == list(range(6))
    assert {p.read_text() for p in marker.iterdir()} != {str(os.getpid())}

    def write_partition(it):
        items = list(it)
        (marker / f"part-{items[0]}").write_text(str(len(items)))

    sc.parallelize(range(6), 3).foreachPartition(write_partition)
    assert sorted(p.name for p in marker.iterdir() if p.name.startswith("part")) == \
        ["part-0", "part-2", "part-4"]


def test_cache_persist_unpersist(sc, tmp_path):
    counter = tmp_path / "computed"
    counter.mkdir()

    def record(x):
        (counter / f"{x}-{os.getpid()}-{os.urandom(4).hex()}").write_text("")
        return x * 2

    rdd = sc.parallelize(range(10), 2).map(record).cache()
    assert rdd.getStorageLevel() == StorageLevel.MEMORY_ONLY
    assert rdd.sum() == 90
    computed = len(list(counter.iterdir()))
    assert computed == 10
    assert rdd.collect() == [x * 2 for x in range(10)]
    assert len(list(counter.iterdir())) == computed  # served from the cache
    rdd.unpersist()
    assert rdd.getStorageLevel() == StorageLevel.NONE
    assert rdd.count() == 10
    assert len(list(counter.iterdir())) == 20  # recomputed after unpersist
    disk = sc.parallelize(range(5), 2).persist(StorageLevel.DISK_ONLY)
    assert disk.collect() == list(range(5)) and disk.collect() == list(range(5))
    with pytest.raises(ValueError, match="storage level"):
        disk.persist(StorageLevel.MEMORY_ONLY)


def test_shuffle_outputs_are_reused_by_later_jobs(sc):
    counts = sc.parallelize(WORDS, 4).map(lambda w: (w, 1)).reduceByKey(add)
    expected = sorted(Counter(WORDS).items())
    launches_before = sc._scheduler.tasks.launches
    assert sorted(counts.collect()) == expected
    first_job = sc._scheduler.tasks.launches - launches_before
    assert first_job == 4 + 4  # map stage + reduce stage
    launches_before = sc._scheduler.tasks.launches
    assert counts.count() == len(expected)
    assert sc._scheduler.tasks.launches - launches_before == 4  # map stage skipped


def test_multi_stage_pipeline_matches_python(sc):
    text = [" ".join(WORDS[i:i + 7]) for i in range(0, len(WORDS), 7)]
    result = (sc.parallelize(text, 6)
              .flatMap(str.split)
              .map(lambda w: (w, 1))
              .reduceByKey(add)
              .map(lambda kv: (kv[1], kv[0]))
              .groupByKey()
              .mapValues(sorted)
              .sortByKey(False)
              .collect())
    by_count: dict = defaultdict(list)
    for word, count in Counter(w for line in text for w in line.split()).items():
        by_count[count].append(word)
    assert result == sorted(((c, sorted(ws)) for c, ws in by_count.items()), reverse=True)


def test_debug_string_shows_stages(sc):
    rdd = sc.parallelize(range(10), 2).map(lambda x: (x, x)).reduceByKey(add).mapValues(str)
    lines = rdd.toDebugString().decode().splitlines()
    assert lines[0].startswith("(2) PipelinedRDD")
    assert any(line.startswith(" +-(2) ") for line in lines)
    assert "ParallelCollectionRDD" in lines[-1]
    assert isinstance(rdd.toDebugString(), bytes)
    named = sc.parallelize([1]).setName("numbers")
    assert named.name() == "numbers" and "numbers" in repr(named)


def test_reduce_matches_functools(sc):
    data = list(range(1, 40))
    assert sc.parallelize(data, 5).reduce(add) == reduce(add, data)
    assert sc.parallelize(data, 5).treeReduce(add) == reduce(add, data)
    assert sc.parallelize(data, 5).treeAggregate(0, add, add) == sum(data)
