"""Key folding: whichever loop a chunk takes (keys mostly new, keys mostly
repeated; operator.add or another function), the result is the plain fold,
and an error raised by the user's function reaches the caller unchanged."""

from __future__ import annotations

from operator import add

import pytest

from ember.engine.data.aggregation import reduce_values
from ember.engine.data.spill import CHECK_EVERY


def fold(records, func):
    expected = {}
    for key, value in records:
        expected[key] = func(expected[key], value) if key in expected else value
    return expected


def mixed_records():
    # Chunks of new keys, then chunks of repeated ones, then new ones again.
    fresh = [(f"new{i}", i) for i in range(3 * CHECK_EVERY)]
    repeated = [(f"new{i % 50}", 1) for i in range(4 * CHECK_EVERY)]
    later = [(i, 2) for i in range(3 * CHECK_EVERY)]
    return fresh + repeated + later + repeated


@pytest.mark.parametrize("func", [add, lambda a, b: a * 3 + b], ids=["operator.add", "lambda"])
def test_folding_equals_the_plain_fold_in_every_loop(func):
    records = mixed_records()
    result = list(reduce_values(records, func))
    assert dict(result) == fold(records, func)
    assert [key for key, _ in result] == list(fold(records, func))  # first-appearance order


def test_a_key_error_raised_by_the_function_is_not_taken_for_a_new_key():
    def picky(a, b):
        raise KeyError("from the user's function")

    records = [("k", 1)] * (3 * CHECK_EVERY)
    with pytest.raises(KeyError, match="from the user's function"):
        list(reduce_values(records, picky))
