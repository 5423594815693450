"""Joins and cogroups read side by side: a hash join gives every pair a
plain-Python join gives, whichever side it builds and whichever sides are
padded; a side too large for the budget is joined by grouping instead; and
cogroup over sides groups exactly as over tagged records."""

from __future__ import annotations

import random
from itertools import chain

import pytest

from ember.engine.data.aggregation import Sides, cogroup_values, hash_join, join_values


def oracle_join(left, right, pad_left, pad_right):
    """Every (key, (v, w)) of a relational join, as plain Python computes it."""
    lefts, rights = {}, {}
    for key, value in left:
        lefts.setdefault(key, []).append(value)
    for key, value in right:
        rights.setdefault(key, []).append(value)
    pairs = []
    for key in set(lefts) | set(rights):
        vs = lefts.get(key) or ([None] if pad_left else [])
        ws = rights.get(key) or ([None] if pad_right else [])
        pairs += [(key, (v, w)) for v in vs for w in ws]
    return sorted(pairs, key=repr)


def sides_of(seed, left_rows=400, right_rows=60):
    rng = random.Random(seed)
    left = [(rng.randrange(80), f"v{i}") for i in range(left_rows)]
    right = [(rng.randrange(120), -i) for i in range(right_rows)]
    return left, right


KINDS = [(False, False), (False, True), (True, False), (True, True)]
IDS = ["inner", "left outer", "right outer", "full outer"]


@pytest.mark.parametrize("pad_left, pad_right", KINDS, ids=IDS)
@pytest.mark.parametrize("build_left", [False, True], ids=["build right", "build left"])
def test_hash_join_equals_the_relational_join(pad_left, pad_right, build_left):
    for seed in range(5):
        left, right = sides_of(seed)
        got = list(hash_join(iter(left), iter(right), build_left, pad_left, pad_right))
        assert sorted(got, key=repr) == oracle_join(left, right, pad_left, pad_right)


def test_hash_join_streams_in_the_streamed_sides_order():
    left = [("b", 1), ("a", 2), ("b", 3)]
    right = [("a", "x"), ("b", "y"), ("b", "z")]
    assert list(hash_join(iter(left), iter(right), False, False, False)) == [
        ("b", (1, "y")), ("b", (1, "z")), ("a", (2, "x")), ("b", (3, "y")), ("b", (3, "z"))]


@pytest.mark.parametrize("pad_left, pad_right", KINDS, ids=IDS)
def test_join_over_sides_builds_the_smaller_and_groups_past_the_budget_or_unshuffled(
        pad_left, pad_right):
    left, right = sides_of(11, left_rows=3000, right_rows=500)
    expected = oracle_join(left, right, pad_left, pad_right)
    for sizes, budget in [([30_000, 5_000], 10**9), ([5_000, 30_000], 10**9),
                          (None, 10**9),  # no shuffle: grouped
                          ([30_000, 5_000], 1_000)]:  # past the budget: grouped, spilling
        sides = Sides([iter(left), iter(right)], sizes)
        got = list(join_values(sides, pad_left, pad_right, budget))
        assert sorted(got, key=repr) == expected, (sizes, budget)


def test_cogroup_over_sides_equals_cogroup_over_tagged_records():
    left, right = sides_of(5)
    tagged = chain(((k, (0, v)) for k, v in left), ((k, (1, w)) for k, w in right))
    expected = [(key, [list(group) for group in groups])
                for key, groups in cogroup_values(tagged, 2)]
    got = [(key, [list(group) for group in groups])
           for key, groups in cogroup_values(Sides([iter(left), iter(right)]), 2)]
    assert got == expected  # same keys, same order, same values in the same order


@pytest.mark.parametrize("bad, text", [
    ([(["a list"], 1)], "unhashable"),
    ([("k", 1, "three")], "every record must be a (key, value) pair"),
])
def test_bad_records_in_a_hash_join_are_named(bad, text):
    with pytest.raises((TypeError, ValueError), match=text.replace("(", r"\(").replace(")", r"\)")):
        list(hash_join(iter(bad), iter([("k", 2)]), False, False, False))
    with pytest.raises((TypeError, ValueError), match=text.replace("(", r"\(").replace(")", r"\)")):
        list(hash_join(iter([("k", 2)]), iter(bad), False, False, False))
