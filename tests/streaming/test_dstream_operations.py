"""Every DStream operation against a plain-Python oracle, over queueStream
input on a manual clock: one batch interval per clock step, each batch's
RDD collected by an output operation."""

from __future__ import annotations

import operator
import os
from collections import Counter, defaultdict
from functools import reduce

import pytest

from ember.engine.api.storage import StorageLevel
from streaming_helpers import windows

BATCHES = [[1, 2, 3, 4], [5, 6, 7], [], [8, 9, 10, 11, 12], [3, 3, 4]]
PAIRS = [[("a", 1), ("b", 2), ("a", 3)], [("b", 4), ("c", 5)], [("a", 6), ("a", 7), ("c", 8)],
         [], [("d", 9), ("b", 10)]]
OTHER = [[("a", "x"), ("c", "y")], [("b", "z")], [("a", "w"), ("e", "v")], [("d", "u")], []]


@pytest.fixture(scope="module", autouse=True)
def checkpoint_dir(sc, tmp_path_factory):
    sc.setCheckpointDir(str(tmp_path_factory.mktemp("rdd-checkpoints")))


def run(stream, inputs, build, batches=None, partitions=2):
    manual = stream()
    source = manual.ssc.queueStream([manual.ssc.sparkContext.parallelize(b, partitions)
                                     for b in inputs])
    results = manual.collect(build(source))
    manual.run(batches or len(inputs))
    return results


def sorted_batches(results):
    def ordered(batch):
        try:
            return sorted(batch)
        except TypeError:  # None beside values (outer joins)
            return sorted(batch, key=repr)

    return [ordered(batch) for batch in results]


# --- one RDD per batch ------------------------------------------------------------------

ELEMENTWISE = {
    "map": (lambda d: d.map(lambda x: x * 10), lambda b: [x * 10 for x in b]),
    "flatMap": (lambda d: d.flatMap(lambda x: [x, -x]), lambda b: [y for x in b for y in (x, -x)]),
    "filter": (lambda d: d.filter(lambda x: x % 2 == 0), lambda b: [x for x in b if x % 2 == 0]),
    "mapPartitions": (lambda d: d.mapPartitions(lambda it: [sum(it)]), None),
    "count": (lambda d: d.count(), lambda b: [len(b)]),
    "reduce": (lambda d: d.reduce(operator.add), lambda b: [sum(b)] if b else []),
    "countByValue": (lambda d: d.countByValue(), lambda b: sorted(Counter(b).items())),
    "transform": (lambda d: d.transform(lambda rdd: rdd.map(lambda x: x + 1)),
                  lambda b: [x + 1 for x in b]),
    "repartition": (lambda d: d.repartition(3).glom().map(len), None),
}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_operation_matches_python(stream, name):
    build, oracle = ELEMENTWISE[name]
    results = run(stream, BATCHES, build)
    if name == "mapPartitions":  # two partitions per batch, as parallelize cuts them
        expected = [[sum(b[:len(b) // 2]), sum(b[len(b) // 2:])] for b in BATCHES]
    elif name == "repartition":
        expected = [len(b) for b in BATCHES]
        assert [len(r) for r in results] == [3] * len(BATCHES)
        assert [sum(r) for r in results] == expected
        return
    else:
        expected = [oracle(b) for b in BATCHES]
    assert sorted_batches(results) == sorted_batches(expected)


def test_map_partitions_with_index_sees_each_partition_index(stream):
    results = run(stream, BATCHES, lambda d: d.mapPartitionsWithIndex(
        lambda i, it: [(i, sorted(it))]))
    assert results == [[(0, b[:len(b) // 2]), (1, b[len(b) // 2:])] for b in BATCHES]


def test_glom_gives_the_partitions_of_each_batch(stream):
    results = run(stream, BATCHES, lambda d: d.glom())
    assert results == [[b[:len(b) // 2], b[len(b) // 2:]] for b in BATCHES]


def test_transform_with_time_gets_the_batch_time(stream):
    manual = stream()
    source = manual.ssc.queueStream([[1], [2]])
    results = manual.collect(source.transform(lambda t, rdd: rdd.map(lambda x: (t.timestamp(), x))))
    manual.run(2)
    zero = manual.ssc._graph.zero / 1000
    assert results == [[(zero + 1.0, 1)], [(zero + 2.0, 2)]]


KEYED = {
    "reduceByKey": (lambda d: d.reduceByKey(operator.add),
                    lambda b: sorted(reduce_by_key(b).items())),
    "groupByKey": (lambda d: d.groupByKey().mapValues(sorted),
                   lambda b: sorted((k, sorted(v)) for k, v in group(b).items())),
    "combineByKey": (lambda d: d.combineByKey(str, lambda a, v: a + str(v), operator.add),
                     None),
    "mapValues": (lambda d: d.mapValues(lambda v: v * 2), lambda b: [(k, v * 2) for k, v in b]),
    "flatMapValues": (lambda d: d.flatMapValues(lambda v: [v, v + 100]),
                      lambda b: [(k, y) for k, v in b for y in (v, v + 100)]),
    "partitionBy": (lambda d: d.partitionBy(3).glom().map(lambda p: sorted(k for k, _ in p)),
                    None),
}


def reduce_by_key(batch):
    out = {}
    for k, v in batch:
        out[k] = out[k] + v if k in out else v
    return out


def group(batch):
    out = defaultdict(list)
    for k, v in batch:
        out[k].append(v)
    return out


@pytest.mark.parametrize("name", sorted(KEYED))
def test_key_value_operation_matches_python(stream, name):
    build, oracle = KEYED[name]
    results = run(stream, PAIRS, build)
    if name == "combineByKey":
        assert [sorted((k, sorted(v)) for k, v in r) for r in results] == \
            [sorted((k, sorted("".join(str(x) for x in vs))) for k, vs in group(b).items())
             for b in PAIRS]
    elif name == "partitionBy":
        from ember.engine.data.hashing import portable_hash

        assert results == [[sorted(k for k, _ in b if portable_hash(k) % 3 == i) for i in range(3)]
                           for b in PAIRS]
    else:
        assert sorted_batches(results) == sorted_batches([oracle(b) for b in PAIRS])


TWO_STREAMS = {
    "join": lambda a, b: a.join(b),
    "leftOuterJoin": lambda a, b: a.leftOuterJoin(b),
    "rightOuterJoin": lambda a, b: a.rightOuterJoin(b),
    "fullOuterJoin": lambda a, b: a.fullOuterJoin(b),
    "cogroup": lambda a, b: a.cogroup(b).mapValues(lambda vs: (sorted(vs[0]), sorted(vs[1]))),
    "union": lambda a, b: a.union(b),
    "transformWith": lambda a, b: a.transformWith(lambda x, y: x.union(y).distinct(), b),
    "transformWith with time": lambda a, b: a.transformWith(
        lambda t, x, y: x.keys().union(y.keys()).map(lambda k: (k, t.year > 2000)), b),
}


def join_oracle(name, left, right):
    lg, rg = group(left), group(right)
    keys = set(lg) | set(rg)
    out = []
    for k in keys:
        ls, rs = lg.get(k, []), rg.get(k, [])
        if name == "join":
            out += [(k, (x, y)) for x in ls for y in rs]
        elif name == "leftOuterJoin" and ls:
            out += [(k, (x, y)) for x in ls for y in (rs or [None])]
        elif name == "rightOuterJoin" and rs:
            out += [(k, (x, y)) for x in (ls or [None]) for y in rs]
        elif name == "fullOuterJoin":
            out += [(k, (x, y)) for x in (ls or [None]) for y in (rs or [None])]
        elif name == "cogroup":
            out.append((k, (sorted(ls), sorted(rs))))
    if name == "union":
        out = left + right
    elif name == "transformWith":
        out = list(set(left) | set(right))
    elif name == "transformWith with time":
        out = [(k, True) for k, _ in left + right]
    return out


@pytest.mark.parametrize("name", sorted(TWO_STREAMS))
def test_two_stream_operation_matches_python(stream, name):
    manual = stream()
    sc = manual.ssc.sparkContext
    a = manual.ssc.queueStream([sc.parallelize(b, 2) for b in PAIRS])
    b = manual.ssc.queueStream([sc.parallelize(x, 2) for x in OTHER])
    results = manual.collect(TWO_STREAMS[name](a, b))
    manual.run(len(PAIRS))
    expected = [join_oracle(name, left, right) for left, right in zip(PAIRS, OTHER)]
    assert sorted_batches(results) == sorted_batches(expected)


def test_context_union_and_transform_of_several_streams(stream):
    manual = stream()
    ssc = manual.ssc
    one, two, three = (ssc.queueStream([[i * 10 + j] for j in range(3)]) for i in range(3))
    unioned = manual.collect(ssc.union(one, two, three))
    transformed = manual.collect(ssc.transform(
        [one, two, three], lambda rdds: rdds[1].union(rdds[2]).union(rdds[0])))
    manual.run(3)
    assert [sorted(b) for b in unioned] == [[j, 10 + j, 20 + j] for j in range(3)]
    assert transformed == [[10 + j, 20 + j, j] for j in range(3)]


def test_union_with_a_shorter_stream_goes_on_with_the_longer_one(stream):
    manual = stream()
    a = manual.ssc.queueStream([[0, 1, 2], [3, 4], [5]])
    b = manual.ssc.queueStream([[10], [11]])
    results = manual.collect(a.union(b))
    manual.run(3)
    assert [sorted(b) for b in results] == [[0, 1, 2, 10], [3, 4, 11], [5]]


def test_cache_and_persist_keep_each_batch_rdd_persisted(stream):
    manual = stream()
    source = manual.ssc.queueStream([[1, 2], [3]])
    cached = source.map(lambda x: x + 1).cache()
    persisted = source.map(lambda x: x - 1).persist(StorageLevel.MEMORY_AND_DISK)
    levels = []
    cached.foreachRDD(lambda rdd: levels.append(rdd.getStorageLevel()))
    persisted.foreachRDD(lambda rdd: levels.append(rdd.getStorageLevel()))
    values = manual.collect(cached.union(persisted))
    manual.run(2)
    assert cached.is_cached and persisted.is_cached
    assert levels == [StorageLevel.MEMORY_ONLY, StorageLevel.MEMORY_AND_DISK] * 2
    assert sorted_batches(values) == [[0, 1, 2, 3], [2, 4]]


def test_checkpoint_interval_saves_the_rdds_at_that_interval(stream):
    manual = stream()
    source = manual.ssc.queueStream([[i] for i in range(6)])
    saved = []
    checkpointed = source.map(lambda x: x * 2).checkpoint(2)
    results = manual.collect(checkpointed)
    checkpointed.foreachRDD(lambda t, rdd: saved.append(rdd.isCheckpointed()))
    manual.run(6)
    assert checkpointed.is_checkpointed
    assert results == [[i * 2] for i in range(6)]
    assert saved == [False, True] * 3  # every second batch, once its first job ran


def test_slice_returns_the_rdds_between_two_times(stream):
    manual = stream()
    manual.ssc.remember(10)
    source = manual.ssc.queueStream([[1], [2], [3], [4]])
    source.foreachRDD(lambda rdd: None)
    manual.run(4)
    first = manual.ssc._graph.zero / 1000 + 1

    def sliced(begin, end):
        return sorted(x for rdd in source.slice(first + begin, first + end) for x in rdd.collect())

    assert sliced(0, 0) == [1]
    assert sliced(1, 2) == [2, 3]
    assert sliced(1, 4) == [2, 3, 4]
    assert sliced(0, 4) == [1, 2, 3, 4]


def test_foreach_rdd_takes_the_rdd_or_the_time_and_the_rdd(stream):
    manual = stream()
    source = manual.ssc.queueStream([[1, 2], [3]])
    seen = []
    source.foreachRDD(lambda rdd: seen.append(("one", rdd.count())))
    source.foreachRDD(lambda time, rdd: seen.append(("two", time.second >= 0, rdd.count())))
    manual.run(2)
    assert seen == [("one", 2), ("two", True, 2), ("one", 1), ("two", True, 1)]


def test_pprint_prints_the_first_elements_under_the_batch_time(stream, capfd):
    manual = stream()
    manual.ssc.queueStream([list(range(12)), [7]]).pprint(3)
    manual.run(2)
    out = capfd.readouterr().out
    assert out.count("Time: ") == 2
    assert "\n0\n1\n2\n...\n" in out and "\n7\n" in out and "\n3\n" not in out


def test_save_as_text_files_writes_one_committed_directory_per_batch(stream, tmp_path):
    manual = stream()
    manual.ssc.queueStream([["a", "b"], [], ["c"]]).saveAsTextFiles(str(tmp_path / "out"), "txt")
    manual.run(3)
    zero = manual.ssc._graph.zero
    names = sorted(os.listdir(tmp_path))
    assert names == [f"out-{zero + i * 1000}.txt" for i in (1, 2, 3)]
    for name, expected in zip(names, [["a", "b"], [], ["c"]]):
        assert os.path.exists(tmp_path / name / "_SUCCESS")
        lines = [line for part in sorted(os.listdir(tmp_path / name)) if part.startswith("part-")
                 for line in (tmp_path / name / part).read_text().splitlines()]
        assert lines == expected


def test_queue_stream_all_at_once_and_default(stream):
    manual = stream()
    ssc = manual.ssc
    every = manual.collect(ssc.queueStream([[1], [2], [3]], oneAtATime=False))
    defaulted = manual.collect(ssc.queueStream([[1]], default=[9, 9]))
    manual.run(3)
    assert sorted_batches(every) == [[1, 2, 3], [], []]
    assert defaulted == [[1], [9, 9], [9, 9]]


# --- windows --------------------------------------------------------------------------

@pytest.mark.parametrize("window,slide", [(2, 1), (3, 1), (2, 2), (4, 2), (6, 3)])
def test_window_holds_the_elements_of_its_batches(stream, window, slide):
    count = 4
    results = run(stream, BATCHES, lambda d: d.window(window, slide), batches=count * slide)
    assert sorted_batches(results) == sorted_batches(windows(BATCHES, window, slide, count))


@pytest.mark.parametrize("window,slide,inverse", [
    (2, 1, False), (3, 1, True), (4, 2, True), (5, 1, True), (6, 1, True), (6, 2, False)])
def test_reduce_by_key_and_window_with_and_without_inverse(stream, window, slide, inverse):
    count = 7 // slide + 1
    inv = operator.sub if inverse else None
    results = run(stream, PAIRS, lambda d: d.reduceByKeyAndWindow(
        operator.add, inv, window, slide, filterFunc=lambda kv: kv[1] != 0), batches=count * slide)
    expected = [sorted((k, v) for k, v in reduce_by_key(w).items() if v != 0)
                for w in windows(PAIRS, window, slide, count)]
    assert sorted_batches(results) == expected


@pytest.mark.parametrize("window,slide", [(2, 1), (5, 1), (4, 2)])
def test_count_by_window_and_reduce_by_window(stream, window, slide):
    count = 7 // slide + 1
    manual = stream()
    source = manual.ssc.queueStream([manual.ssc.sparkContext.parallelize(b, 2) for b in BATCHES])
    counted = manual.collect(source.countByWindow(window, slide))
    summed = manual.collect(source.reduceByWindow(operator.add, operator.sub, window, slide))
    plain = manual.collect(source.reduceByWindow(operator.add, None, window, slide))
    manual.run(count * slide)
    expected = windows(BATCHES, window, slide, count)
    assert [sum(c) for c in counted] == [len(w) for w in expected]
    assert [sum(s) for s in summed] == [sum(w) for w in expected]
    assert [sum(s) for s in plain] == [sum(w) for w in expected]


@pytest.mark.parametrize("window,slide", [(3, 1), (5, 1)])
def test_count_by_value_and_window_drops_values_that_left(stream, window, slide):
    count = 8
    results = run(stream, BATCHES, lambda d: d.countByValueAndWindow(window, slide),
                  batches=count * slide)
    assert sorted_batches(results) == [sorted(Counter(w).items())
                                       for w in windows(BATCHES, window, slide, count)]


def test_group_by_key_and_window_groups_each_window(stream):
    manual = stream()
    source = manual.ssc.queueStream([[("a", i)] for i in range(5)])
    results = manual.collect(source.groupByKeyAndWindow(3, 1).mapValues(list))
    manual.run(7)
    assert results == [[("a", [0])], [("a", [0, 1])], [("a", [0, 1, 2])], [("a", [1, 2, 3])],
                       [("a", [2, 3, 4])], [("a", [3, 4])], [("a", [4])]]


# --- state ---------------------------------------------------------------------------------

def test_update_state_by_key_keeps_a_running_state_and_removes_keys(stream):
    def update(values, state):
        total = (state or 0) + sum(values)
        return None if total > 20 else total  # a key past 20 is removed

    results = run(stream, PAIRS, lambda d: d.updateStateByKey(update), batches=6)
    state, expected = {}, []
    for batch in PAIRS + [[]]:
        touched = group(batch)
        for key in set(state) | set(touched):
            total = state.get(key, 0) + sum(touched.get(key, []))
            if total > 20:
                state.pop(key, None)
            else:
                state[key] = total
        expected.append(sorted(state.items()))
    assert sorted_batches(results) == expected
    assert ("a", 17) in results[2] and all(k != "a" for k, _ in results[-1]) is False


def test_update_state_by_key_starts_from_an_initial_rdd(stream):
    def append(values, state):
        return (state or []) + list(values)

    manual = stream()
    initial = manual.ssc.sparkContext.parallelize([("k", [0, 1])], 1)
    source = manual.ssc.queueStream([[("k", i)] for i in range(2, 5)])
    results = manual.collect(source.updateStateByKey(append, initialRDD=initial))
    manual.run(3)
    assert results == [[("k", [0, 1, 2])], [("k", [0, 1, 2, 3])], [("k", [0, 1, 2, 3, 4])]]


def test_state_is_checkpointed_every_interval_and_old_rdds_forgotten(stream):
    manual = stream()
    source = manual.ssc.queueStream([[("k", 1)]] * 8)
    state = source.updateStateByKey(lambda vs, s: (s or 0) + sum(vs)).checkpoint(2)
    results = manual.collect(state)
    manual.run(8)
    assert results == [[("k", i)] for i in range(1, 9)]
    assert sorted(state._checkpointed) == [manual.ssc._graph.zero + i * 1000 for i in (4, 6, 8)]
    assert all(os.path.isdir(path) for path, _ in state._checkpointed.values())
    assert len(state._generated) <= 5  # remembered: 2 checkpoint intervals
