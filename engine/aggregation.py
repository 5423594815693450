"""Per-partition combining of (key, value) records: the two halves of every
key aggregation (``reduceByKey``, ``combineByKey``, ``groupByKey``) and the
dispatch of tagged values in ``cogroup``/``join``.

The map side combines the values of each key within a partition before the
shuffle; the reduce side merges the combiners that arrive from every map
output. Both are dict passes in insertion order, so the output order follows
the input order (which the shuffle reader fixes by merging map outputs in
map-index order): the same input gives the same output, record for record.
Past the task's memory budget they spill to disk (``engine.spill``) without
changing that output.
"""

from __future__ import annotations

import copy
from itertools import islice
from typing import Any, Callable, Iterable, Iterator

from ember.engine.resultiterable import ResultIterable
from ember.engine.spill import CHECK_EVERY, DEFAULT_BUDGET, ExternalMerger


def explain_record_error(error: Exception, method: str, key: Any) -> Exception:
    """Name the bad record behind a TypeError/ValueError raised by the loop
    itself (an unhashable key, a record that is not a pair); errors raised by
    the user's function pass through unchanged."""
    text = str(error)
    if isinstance(error, TypeError) and text.startswith("unhashable type"):
        return TypeError(f"{method}: key {key!r} of type {type(key).__name__} is unhashable; "
                         f"keys of a pair RDD must be hashable (use a tuple instead of a list)")
    if text.startswith("cannot unpack") or "values to unpack" in text:
        return type(error)(f"{method}: every record must be a (key, value) pair ({text})")
    return error


def _fail(error: Exception, method: str, key: Any):
    explained = explain_record_error(error, method, key)
    if explained is error:
        raise error
    raise explained from error


def reduce_values(records: Iterable[tuple], func: Callable[[Any, Any], Any],
                  budget: int = DEFAULT_BUDGET) -> Iterator[tuple]:
    return _merge_into(records, func, func, budget, "reduceByKey")


def combine_values(records: Iterable[tuple], create: Callable, merge_value: Callable,
                   merge_combiners: Callable | None = None,
                   budget: int = DEFAULT_BUDGET) -> Iterator[tuple]:
    merger = ExternalMerger(merge_combiners or _no_merge, budget)
    records = iter(records)
    key = None
    try:
        while True:
            chunk = list(islice(records, CHECK_EVERY))
            combiners = merger.data
            for key, value in chunk:
                if key in combiners:
                    combiners[key] = merge_value(combiners[key], value)
                else:
                    combiners[key] = create(value)
            if len(chunk) < CHECK_EVERY:
                break
            merger.maybe_spill(len(combiners), (key, combiners[key]))
    except (TypeError, ValueError) as error:
        _fail(error, "combineByKey", key)
    return merger.items()


def combine_combiners(records: Iterable[tuple], merge: Callable,
                      budget: int = DEFAULT_BUDGET) -> Iterator[tuple]:
    return _merge_into(records, merge, merge, budget, "combineByKey")


def _merge_into(records: Iterable[tuple], func: Callable, merge: Callable, budget: int,
                method: str) -> Iterator[tuple]:
    merger = ExternalMerger(merge, budget)
    records = iter(records)
    key = None
    try:
        while True:
            # Chunks keep the per-record loop free of budget bookkeeping.
            chunk = list(islice(records, CHECK_EVERY))
            merged = merger.data
            for key, value in chunk:
                if key in merged:
                    merged[key] = func(merged[key], value)
                else:
                    merged[key] = value
            if len(chunk) < CHECK_EVERY:
                break
            merger.maybe_spill(len(merged), (key, merged[key]))
    except (TypeError, ValueError) as error:
        _fail(error, method, key)
    return merger.items()


def _no_merge(left: Any, right: Any) -> Any:
    raise AssertionError("a merger without a merge function spilled")


def _extend(left: list, right: list) -> list:
    left.extend(right)
    return left


def group_values(records: Iterable[tuple], budget: int = DEFAULT_BUDGET) -> Iterator[tuple]:
    merger = ExternalMerger(_extend, budget)
    records = iter(records)
    key = None
    held = 0  # values held since the last spill
    try:
        while True:
            chunk = list(islice(records, CHECK_EVERY))
            groups = merger.data
            for key, value in chunk:
                group = groups.get(key)
                if group is None:
                    groups[key] = [value]
                else:
                    group.append(value)
            if len(chunk) < CHECK_EVERY:
                break
            held += len(chunk)
            if merger.maybe_spill(held, chunk[-1]):
                held = 0
    except (TypeError, ValueError) as error:
        _fail(error, "groupByKey", key)
    return merger.items()


def group_combiners(records: Iterable[tuple], budget: int = DEFAULT_BUDGET) -> Iterator[tuple]:
    merger = ExternalMerger(_extend, budget)
    records = iter(records)
    held = 0
    while True:
        chunk = list(islice(records, CHECK_EVERY))
        groups = merger.data
        for key, values in chunk:
            held += len(values)
            group = groups.get(key)
            if group is None:
                groups[key] = values
            else:
                group.extend(values)
        if len(chunk) < CHECK_EVERY:
            break
        key, values = chunk[-1]
        if merger.maybe_spill(held, (key, values[0] if values else None)):
            held = 0
    return ((key, ResultIterable(values)) for key, values in merger.items())


def fresh_copy(value: Any) -> Any:
    """A private copy of a zero value, so per-key accumulators never share it."""
    return copy.deepcopy(value)


def _merge_sides(left: list, right: list) -> list:
    for mine, theirs in zip(left, right):
        mine.extend(theirs)
    return left


def cogroup_values(records: Iterable[tuple], count: int,
                   budget: int = DEFAULT_BUDGET) -> Iterator[tuple]:
    """``(key, [values of RDD 0, ..., values of RDD count-1])`` from records
    ``(key, (index, value))``: the reduce side of cogroup and join. The map
    side only tags and shuffles: grouping there would cost a pass and save
    nothing when keys repeat little within a map partition (Spark's cogroup
    does not combine on the map side either)."""
    merger = ExternalMerger(_merge_sides, budget)
    records = iter(records)
    held = 0
    key = None
    try:
        while True:
            chunk = list(islice(records, CHECK_EVERY))
            groups = merger.data
            for key, (index, value) in chunk:
                sides = groups.get(key)
                if sides is None:
                    groups[key] = sides = [[] for _ in range(count)]
                sides[index].append(value)
            if len(chunk) < CHECK_EVERY:
                break
            held += len(chunk)
            if merger.maybe_spill(held, chunk[-1]):
                held = 0
    except (TypeError, ValueError) as error:
        _fail(error, "cogroup", key)
    return merger.items()


def join_values(records: Iterable[tuple], pad_left: bool, pad_right: bool,
                budget: int = DEFAULT_BUDGET) -> Iterator[tuple]:
    """``(key, (v, w))`` for every pair of a key's values from records
    ``(key, (0 | 1, value))``; a missing side is ``[None]`` when padded (outer
    joins), otherwise the key yields nothing (inner join)."""
    for key, (left, right) in cogroup_values(records, 2, budget):
        if not left:
            if not pad_left:
                continue
            left = [None]
        if not right:
            if not pad_right:
                continue
            right = [None]
        for v in left:
            for w in right:
                yield key, (v, w)
