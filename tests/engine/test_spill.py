"""Spilling: past the memory budget, aggregations and sorts move to disk; the
answer is the in-memory one, the values of a key keep their input order, and
the same input gives the same output every time (the shuffle's checksums of
recomputed map outputs depend on it)."""

from __future__ import annotations

import os
import random
from operator import add

import pytest

from ember.engine.data import spill
from ember.engine.data.aggregation import (combine_combiners, combine_values, group_combiners,
                                      group_values, reduce_values)


@pytest.fixture
def spill_root(tmp_path, monkeypatch):
    root = tmp_path / "spill"
    monkeypatch.setenv("SPARK_LOCAL_DIRS", str(root))
    return root


def pairs(count, keys, seed=3):
    rng = random.Random(seed)
    return [(f"k{rng.randrange(keys)}", rng.randrange(1000)) for _ in range(count)]


def test_merger_spills_past_its_budget_and_loses_nothing(spill_root):
    records = pairs(60_000, 5_000)
    merger = spill.ExternalMerger(add, budget=20_000)
    for start in range(0, len(records), spill.CHECK_EVERY):
        for key, value in records[start:start + spill.CHECK_EVERY]:
            merger.data[key] = merger.data[key] + value if key in merger.data else value
        key = records[start][0]
        merger.maybe_spill(len(merger.data), (key, merger.data.get(key)))
    assert merger.spills >= 3
    expected = {}
    for key, value in records:
        expected[key] = expected.get(key, 0) + value
    assert dict(merger.items()) == expected
    assert not any(spill_root.iterdir()), "spill files left behind"


def test_reduce_values_spilled_is_deterministic_and_equal_to_in_memory(spill_root):
    records = pairs(50_000, 8_000)
    spilled = list(reduce_values(records, add, budget=10_000))
    assert spilled == list(reduce_values(records, add, budget=10_000))
    assert dict(spilled) == dict(reduce_values(records, add))
    assert len(spilled) == len(dict(spilled))


def test_group_values_keeps_every_value_in_input_order_when_spilling(spill_root):
    records = pairs(40_000, 300)
    spilled = list(group_values(records, budget=5_000))
    assert dict(spilled) == dict(group_values(records))
    assert len(spilled) == 300


def test_combiners_and_groups_merge_across_spills(spill_root):
    records = pairs(30_000, 2_000)
    combined = list(combine_values(records, lambda v: [v], lambda c, v: c + [v],
                                   lambda a, b: a + b, budget=4_000))
    assert dict(combined) == dict(combine_values(records, lambda v: [v], lambda c, v: c + [v]))
    doubled = combined + combined
    assert (dict(combine_combiners(doubled, lambda a, b: a + b, budget=4_000))
            == dict(combine_combiners(doubled, lambda a, b: a + b)))
    grouped = {key: list(values) for key, values in group_combiners(
        [(k, [v]) for k, v in records], budget=4_000)}
    assert grouped == {key: list(values) for key, values in group_combiners(
        [(k, [v]) for k, v in records])}


@pytest.mark.parametrize("reverse", [False, True])
def test_external_sort_is_stable_and_equal_to_sorted(spill_root, reverse):
    records = pairs(50_000, 700)
    key = lambda kv: kv[0]  # noqa: E731 - ties on purpose: stability shows
    assert (list(spill.external_sorted(records, key, reverse, budget=20_000))
            == sorted(records, key=key, reverse=reverse))
    assert not any(spill_root.iterdir())


def test_spill_files_are_removed_when_the_consumer_stops_early(spill_root):
    records = pairs(30_000, 5_000)
    output = reduce_values(records, add, budget=2_000)
    next(output)
    assert any(spill_root.iterdir())
    output.close()
    assert not any(spill_root.iterdir())


def test_cluster_group_and_sort_beyond_the_budget_match_the_in_memory_answer(tmp_path):
    import ember

    rng = random.Random(11)
    data = [(rng.randrange(20_000), "x" * rng.randrange(40)) for _ in range(120_000)]
    conf = ember.Conf().set("spark.python.worker.memory", "256k")
    with ember.Context("local[2]", conf=conf) as sc:
        rdd = sc.parallelize(data, 4)
        groups = rdd.groupByKey(3).mapValues(sorted).collect()
        ordered = rdd.sortByKey(numPartitions=3).collect()
        sums = rdd.mapValues(len).reduceByKey(add).collect()
        spills = dict(sc.parallelize(range(40), 40)
                      .map(lambda _: (os.getpid(), spill.spill_count())).collect())
        work_root = sc._work_root
        leftovers = [os.path.join(d, f) for d, _, files in os.walk(work_root) for f in files
                     if os.sep + "spill" in d]
    oracle = {}
    for key, value in data:
        oracle.setdefault(key, []).append(value)
    assert dict(groups) == {key: sorted(values) for key, values in oracle.items()}
    assert ordered == sorted(data, key=lambda kv: kv[0])
    assert dict(sums) == {key: sum(map(len, values)) for key, values in oracle.items()}
    assert leftovers == []
    assert sum(spills.values()) > 0, "the budget was not exceeded: nothing was tested"


def test_join_and_cogroup_beyond_the_budget_match_the_in_memory_answer(spill_root):
    from ember.engine.data.aggregation import cogroup_values, join_values

    rng = random.Random(5)
    tagged = [(rng.randrange(3_000), (rng.randrange(2), rng.randrange(100))) for _ in range(40_000)]
    for pad_left, pad_right in [(False, False), (True, True)]:
        assert (sorted(join_values(tagged, pad_left, pad_right, budget=3_000), key=repr)
                == sorted(join_values(tagged, pad_left, pad_right), key=repr))
    assert dict(cogroup_values(tagged, 2, budget=3_000)) == dict(cogroup_values(tagged, 2))
    assert spill.spill_count() > 0
