"""The rest of PySpark's RDD API on a real local[2] cluster: each method
against the same computation in plain Python (and PySpark's documented
results where they are deterministic), on empty RDDs, empty partitions and
more partitions than records; bad arguments raise PySpark's error types
naming the argument, and the Context stays usable after them."""

from __future__ import annotations

import math
import statistics
import sys
from collections import Counter
from operator import add

import pytest

from ember.engine.api.approx import BoundedFloat

DATA = [(i * 37) % 101 for i in range(300)]


@pytest.fixture(scope="module")
def sc():
    import ember

    with ember.Context("local[2]", appName="rdd-more") as context:
        yield context


def test_zip_pairs_elements_of_equal_partitions(sc):
    left = sc.parallelize(range(0, 5))
    assert left.zip(sc.parallelize(range(1000, 1005))).collect() == [
        (0, 1000), (1, 1001), (2, 1002), (3, 1003), (4, 1004)]
    mapped = sc.parallelize(DATA, 7)
    assert mapped.zip(mapped.map(str)).collect() == [(x, str(x)) for x in DATA]
    assert sc.parallelize([], 3).zip(sc.parallelize([], 3)).collect() == []
    with pytest.raises(ValueError, match="same number of partitions"):
        sc.parallelize([1, 2], 2).zip(sc.parallelize([1, 2], 1))
    with pytest.raises(ValueError, match="same number of elements"):
        sc.parallelize([1, 2, 3], 2).zip(sc.parallelize([1, 2, 3, 4], 2)).collect()
    with pytest.raises(TypeError, match="other must be an RDD"):
        sc.parallelize([1]).zip([1])
    assert sc.parallelize([1, 2]).count() == 2  # the Context is still usable


@pytest.mark.parametrize("slices", [1, 3, 10])
def test_zip_with_index_and_unique_id(sc, slices):
    rdd = sc.parallelize(list("abcdefg"), slices)
    assert rdd.zipWithIndex().collect() == [(c, i) for i, c in enumerate("abcdefg")]
    ids = rdd.zipWithUniqueId().collect()
    assert [c for c, _ in ids] == list("abcdefg") and len({i for _, i in ids}) == 7
    parts = rdd.glom().collect()
    expected = [(c, i * slices + k) for k, part in enumerate(parts) for i, c in enumerate(part)]
    assert ids == expected
    assert sc.parallelize(["a", "b", "c", "d", "e"], 3).zipWithUniqueId().collect() == [
        ("a", 0), ("b", 1), ("c", 4), ("d", 2), ("e", 5)]
    assert sc.parallelize(["a", "b", "c", "d"], 3).zipWithIndex().collect() == [
        ("a", 0), ("b", 1), ("c", 2), ("d", 3)]
    assert sc.emptyRDD().zipWithIndex().collect() == []


def test_cartesian_is_every_pair(sc):
    a, b = sc.parallelize([1, 2, 3], 2), sc.parallelize("xy", 3)
    product = a.cartesian(b)
    assert product.getNumPartitions() == 6
    assert sorted(product.collect()) == sorted((x, y) for x in [1, 2, 3] for y in "xy")
    assert sorted(a.cartesian(a).collect()) == sorted((x, y) for x in [1, 2, 3] for y in [1, 2, 3])
    assert a.cartesian(sc.parallelize([], 2)).collect() == []


def test_set_operations_match_python(sc):
    left, right = sc.parallelize(DATA, 4), sc.parallelize(range(0, 101, 3), 3)
    assert sorted(left.intersection(right).collect()) == sorted(set(DATA) & set(range(0, 101, 3)))
    assert sorted(left.subtract(right).collect()) == sorted(x for x in DATA if x % 3)
    pairs = sc.parallelize([("a", 1), ("b", 4), ("b", 5), ("a", 3)])
    other = sc.parallelize([("a", 3), ("c", None)])
    assert sorted(pairs.subtract(other).collect()) == [("a", 1), ("b", 4), ("b", 5)]
    assert sorted(pairs.subtractByKey(other).collect()) == [("b", 4), ("b", 5)]
    assert sorted(pairs.subtractByKey(other, 5).collect()) == [("b", 4), ("b", 5)]
    empty = sc.parallelize([], 2)
    assert left.intersection(empty).collect() == [] and empty.subtract(left).collect() == []
    assert sorted(left.subtract(empty).collect()) == sorted(DATA)


def test_group_with_many(sc):
    rdds = [sc.parallelize([("a", 5), ("b", 6)]), sc.parallelize([("a", 1), ("b", 4)]),
            sc.parallelize([("a", 2)]), sc.parallelize([("b", 42)])]
    result = rdds[0].groupWith(*rdds[1:]).collect()
    assert sorted((k, tuple(map(list, v))) for k, v in result) == [
        ("a", ([5], [1], [2], [])), ("b", ([6], [4], [], [42]))]


def test_lookup_scans_one_partition_when_the_partitioner_is_known(sc):
    pairs = sc.parallelize([(k, k * k) for k in range(200)], 10)
    assert pairs.lookup(42) == [42 * 42] and pairs.lookup(1024) == []
    ordered = pairs.sortByKey(numPartitions=4)
    assert ordered.lookup(42) == [1764] and ordered.lookup(1024) == []
    grouped = sc.parallelize([(("a", "b"), "c"), (("a", "b"), "d")]).groupByKey()
    assert sorted(grouped.lookup(("a", "b"))[0]) == ["c", "d"]
    # Every partition but the key's fails when computed: only that one is scanned.
    hashed = pairs.partitionBy(5).map(lambda kv: kv if kv[0] % 5 == 2 else 1 / 0,
                                      preservesPartitioning=True)
    assert hashed.lookup(7) == [49]
    with pytest.raises(ZeroDivisionError):
        hashed.map(lambda kv: kv).lookup(7)  # partitioner lost: every partition is scanned
    assert sc.emptyRDD().lookup(1) == []


def test_sampling_methods(sc):
    rdd = sc.parallelize(range(1000), 4)
    first, second, third = rdd.randomSplit([2, 3, 5], seed=11)
    parts = [first.collect(), second.collect(), third.collect()]
    assert sorted(sum(parts, [])) == list(range(1000))  # each element in exactly one split
    assert 120 < len(parts[0]) < 280 and 400 < len(parts[2]) < 600
    assert first.collect() == parts[0]  # recomputation draws the same sample
    with pytest.raises(ValueError, match="nonnegative"):
        rdd.randomSplit([1, -1])
    with pytest.raises(ValueError, match="positive"):
        rdd.randomSplit([0, 0])

    fractions = {"a": 0.2, "b": 0.1}
    keyed = sc.parallelize(list(fractions)).cartesian(sc.parallelize(range(1000)))
    sample = dict(keyed.sampleByKey(False, fractions, 2).groupByKey().collect())
    assert 100 < len(sample["a"]) < 300 and 50 < len(sample["b"]) < 150
    with_replacement = keyed.sampleByKey(True, {"a": 2.0, "b": 0.0}, 5).countByKey()
    assert 1700 < with_replacement["a"] < 2300 and "b" not in with_replacement
    with pytest.raises(AssertionError, match="Negative fraction"):
        keyed.sampleByKey(False, {"a": -0.1})
    with pytest.raises(KeyError, match="no fraction given for key 'b'"):
        keyed.sampleByKey(False, {"a": 0.5}).collect()

    small = sc.parallelize(range(10))
    assert len(small.takeSample(True, 20, 1)) == 20
    drawn = small.takeSample(False, 5, 2)
    assert len(drawn) == 5 and len(set(drawn)) == 5 and set(drawn) <= set(range(10))
    assert sorted(small.takeSample(False, 15, 3)) == list(range(10))
    assert small.takeSample(False, 5, 7) == small.takeSample(False, 5, 7)  # seeded
    assert small.takeSample(False, 0) == [] and sc.emptyRDD().takeSample(True, 3) == []
    with pytest.raises(ValueError, match="cannot be greater than"):
        small.takeSample(False, sys.maxsize)
    with pytest.raises(ValueError, match="cannot be negative"):
        small.takeSample(False, -1)
    with pytest.raises(TypeError, match="num must be an int"):
        small.takeSample(False, 2.5)


def test_statistics_match_python(sc):
    rdd = sc.parallelize(DATA, 5)
    assert rdd.stdev() == pytest.approx(statistics.pstdev(DATA))
    assert rdd.variance() == pytest.approx(statistics.pvariance(DATA))
    assert rdd.sampleStdev() == pytest.approx(statistics.stdev(DATA))
    assert rdd.sampleVariance() == pytest.approx(statistics.variance(DATA))
    assert sc.parallelize([1, 2, 3]).sampleStdev() == 1.0
    assert sc.parallelize([1, 2, 3]).variance() == pytest.approx(0.6666666, rel=1e-6)
    assert math.isnan(sc.parallelize([], 2).variance())
    assert math.isnan(sc.parallelize([4], 2).sampleVariance())


def test_histogram_follows_pyspark(sc):
    rdd = sc.parallelize(range(51))
    assert rdd.histogram(2) == ([0, 25, 50], [25, 26])
    assert rdd.histogram([0, 5, 25, 50]) == ([0, 5, 25, 50], [5, 20, 26])
    assert rdd.histogram([0, 15, 30, 45, 60]) == ([0, 15, 30, 45, 60], [15, 15, 15, 6])
    words = sc.parallelize(["ab", "ac", "b", "bd", "ef"])
    assert words.histogram(("a", "b", "c")) == (("a", "b", "c"), [2, 2])
    floats = sc.parallelize([1.0, 2.5, float("nan"), None, 4.0, 10.0], 4)
    buckets, counts = floats.histogram(3)
    assert buckets == [1.0, 4.0, 7.0, 10.0] and counts == [2, 1, 1]
    assert sc.parallelize([3, 3, 3]).histogram(4) == ([3, 3], [3])
    assert sc.parallelize(range(10), 3).histogram(1) == ([0, 9], [10])
    assert sc.parallelize([], 2).histogram([0, 1]) == ([0, 1], [0])
    odd = sc.parallelize(range(7), 3)
    expected = Counter(min(int(x // 2), 2) for x in range(7))
    assert odd.histogram([0, 2, 4, 6]) == ([0, 2, 4, 6], [expected[0], expected[1], expected[2]])
    for bad, error, text in [(0, ValueError, "number of buckets must be >= 1"),
                             ([1], ValueError, "more than one value"),
                             ([1, None], ValueError, "None or NaN"),
                             ([3, 1], ValueError, "should be sorted"),
                             ([1, 1, 2], ValueError, "duplicated"),
                             ("abc", TypeError, "list or tuple or number")]:
        with pytest.raises(error, match=text):
            rdd.histogram(bad)
    with pytest.raises(ValueError, match="empty RDD"):
        sc.parallelize([], 2).histogram(3)
    with pytest.raises(ValueError, match="infinite"):
        sc.parallelize([0.0, float("inf")]).histogram(2)
    with pytest.raises(TypeError, match="non-number"):
        words.histogram(2)


def test_tree_reductions_match_reduce_at_every_depth(sc):
    rdd = sc.parallelize([-5, -4, -3, -2, -1, 1, 2, 3, 4], 10)
    for depth in (1, 2, 3, 5, 10):
        assert rdd.treeReduce(add, depth) == -5
        assert rdd.treeAggregate(0, add, add, depth) == -5
    wide = sc.parallelize(range(1000), 64)
    assert wide.treeAggregate((0, 0), lambda a, x: (a[0] + x, a[1] + 1),
                              lambda a, b: (a[0] + b[0], a[1] + b[1]), 3) == (499500, 1000)
    assert wide.treeReduce(max, 4) == 999
    assert sc.parallelize([], 4).treeAggregate(0, add, add) == 0
    assert sc.emptyRDD().treeAggregate(7, add, add) == 7
    with pytest.raises(ValueError, match="Cannot reduce empty RDD"):
        sc.parallelize([], 4).treeReduce(add)
    with pytest.raises(ValueError, match="Depth cannot be smaller than 1"):
        rdd.treeReduce(add, 0)
    with pytest.raises(TypeError, match="depth must be an int"):
        rdd.treeAggregate(0, add, add, 1.5)


def test_approximate_actions(sc):
    rdd = sc.parallelize(range(1000), 10)
    assert rdd.countApprox(5000, 1.0) == 1000
    total = rdd.sumApprox(5000)
    assert isinstance(total, BoundedFloat) and total == 499500.0
    assert (total.low, total.high, total.confidence) == (499500.0, 499500.0, 1.0)
    assert rdd.meanApprox(5000) == pytest.approx(499.5)
    assert sc.parallelize([], 3).countApprox(1000) == 0
    # A zero budget runs one wave only (2 of 10 partitions) and extrapolates.
    ones = sc.parallelize([1.0] * 1000, 10)
    partial = ones.sumApprox(0, 0.9)
    assert partial.confidence == 0.9 and partial.low < partial < partial.high
    assert 500 < partial < 2000
    assert ones.meanApprox(0) == 1.0 and ones.meanApprox(0).confidence == 0.95
    with pytest.raises(ValueError, match="confidence must be in"):
        rdd.sumApprox(100, 1.5)
    with pytest.raises(ValueError, match="timeout must be"):
        rdd.meanApprox(-1)


@pytest.mark.parametrize("distinct", [0, 1, 20, 1000, 20000])
def test_count_approx_distinct_is_within_a_few_standard_errors(sc, distinct):
    values = [i % distinct for i in range(max(distinct * 2, 10))] if distinct else []
    rdd = sc.parallelize(values, 4).map(str)
    estimate = rdd.countApproxDistinct()
    assert abs(estimate - distinct) <= max(2, 0.15 * distinct)
    precise = rdd.countApproxDistinct(0.01)
    assert abs(precise - distinct) <= max(1, 0.04 * distinct)


def test_count_approx_distinct_checks_relative_sd(sc):
    rdd = sc.parallelize([1, 2, 2])
    with pytest.raises(ValueError, match="relativeSD should be greater than 0.000017"):
        rdd.countApproxDistinct(0.00001)
    with pytest.raises(ValueError, match="relativeSD"):
        rdd.countApproxDistinct(0.5)
    with pytest.raises(TypeError, match="relativeSD must be a float"):
        rdd.countApproxDistinct("0.1")
    assert rdd.countApproxDistinct(0.0001) == 2  # sparse registers: exact at this size


def test_pipe_runs_a_command_per_partition(sc):
    rdd = sc.parallelize(["1", "2", "", "3"], 2)
    assert rdd.pipe("cat").collect() == ["1", "2", "", "3"]
    assert sc.parallelize(["b\n", "a"], 1).pipe("sort").collect() == ["a", "b"]
    assert sc.parallelize([1, 2, 3], 3).pipe("wc -l").map(int).collect() == [1, 1, 1]
    assert sc.parallelize(["x"], 1).pipe("sh -c 'echo $GREETING'", env={"GREETING": "hi"}).collect() == ["hi"]
    assert sc.parallelize(range(100000), 1).pipe("head -n 2").collect() == ["0", "1"]
    assert sc.parallelize([], 2).pipe("cat").collect() == []
    assert sc.parallelize(range(1000), 1).pipe("cat").take(3) == ["0", "1", "2"]
    assert sc.parallelize(["x"]).pipe("false").collect() == []  # exit status ignored by default
    with pytest.raises(RuntimeError, match="exited with error code 1"):
        sc.parallelize(["x"]).pipe("false", checkCode=True).collect()
    with pytest.raises(TypeError, match="command must be a non-empty string"):
        rdd.pipe(["cat"])
    with pytest.raises(ZeroDivisionError):
        sc.parallelize([1, 0]).map(lambda x: 1 / x).pipe("cat").collect()
    assert rdd.count() == 4


def test_repartition_and_sort_within_partitions(sc):
    rdd = sc.parallelize([(0, 5), (3, 8), (2, 6), (0, 8), (3, 8), (1, 3)])
    assert rdd.repartitionAndSortWithinPartitions(2, lambda x: x % 2, True).glom().collect() == [
        [(0, 5), (0, 8), (2, 6)], [(1, 3), (3, 8), (3, 8)]]
    pairs = sc.parallelize([(x, i) for i, x in enumerate(DATA)], 5)
    parts = pairs.repartitionAndSortWithinPartitions(3, ascending=False).glom().collect()
    assert len(parts) == 3 and sorted(sum(parts, [])) == sorted(pairs.collect())
    for part in parts:
        keys = [k for k, _ in part]
        assert keys == sorted(keys, reverse=True) and {k % 3 for k in keys} <= {parts.index(part)}
    by_name = sc.parallelize([("b", 1), ("A", 2), ("c", 3)], 2)
    assert by_name.repartitionAndSortWithinPartitions(1, keyfunc=str.lower).collect() == [
        ("A", 2), ("b", 1), ("c", 3)]
    with pytest.raises(ValueError, match="numPartitions must be positive"):
        rdd.repartitionAndSortWithinPartitions(0)


def test_to_local_iterator_one_partition_at_a_time(sc):
    rdd = sc.parallelize(range(10), 4)
    assert list(rdd.toLocalIterator()) == list(range(10))
    assert list(rdd.toLocalIterator(prefetchPartitions=True)) == list(range(10))
    assert list(sc.parallelize([], 3).toLocalIterator(True)) == []
    assert list(sc.emptyRDD().toLocalIterator()) == []
    iterator = sc.parallelize(range(100), 10).toLocalIterator(True)
    assert [next(iterator) for _ in range(3)] == [0, 1, 2]
    iterator.close()  # abandoned mid-way: the prefetch is waited for, nothing leaks


def test_resource_profiles_are_recorded(sc):
    rdd = sc.parallelize([1, 2, 3])
    assert rdd.getResourceProfile() is None and rdd.has_resource_profile is False
    profile = object()
    assert rdd.withResources(profile) is rdd
    assert rdd.getResourceProfile() is profile and rdd.has_resource_profile
    mapped = rdd.map(lambda x: x + 1)
    assert mapped.collect() == [2, 3, 4] and mapped.getResourceProfile() is None


def test_identity_members(sc):
    rdd = sc.parallelize([1, 2])
    assert rdd.name() is None and rdd.setName("numbers") is rdd and rdd.name() == "numbers"
    assert rdd.context is sc and isinstance(rdd.id(), int) and rdd.id() != sc.range(3).id()
    assert str(rdd.getStorageLevel()) == "Serialized 1x Replicated"
    assert sc.parallelize([], 2).isEmpty() and not rdd.isEmpty() and sc.emptyRDD().isEmpty()
    with pytest.warns(FutureWarning, match="mapPartitionsWithSplit is deprecated"):
        assert rdd.mapPartitionsWithSplit(lambda i, it: [sum(it)]).sum() == 3
    assert rdd.keyBy(lambda x: -x).collect() == [(-1, 1), (-2, 2)]
    assert rdd.map(lambda x: (x, [x] * x)).flatMapValues(lambda v: v).collect() == [
        (1, 1), (2, 2), (2, 2)]
