"""Per-partition combining of (key, value) records: the two halves of every
key aggregation (``reduceByKey``, ``combineByKey``, ``groupByKey``) and the
dispatch of tagged values in ``cogroup``/``join``.

The map side combines the values of each key within a partition before the
shuffle; the reduce side merges the combiners that arrive from every map
output. Both are dict passes in insertion order, so the output order follows
the input order (which the shuffle reader fixes by merging map outputs in
map-index order): the same input gives the same output, record for record.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Iterable, Iterator

from ember.engine.resultiterable import ResultIterable


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


def reduce_values(records: Iterable[tuple], func: Callable[[Any, Any], Any]) -> Iterator[tuple]:
    merged: dict = {}
    key = None
    try:
        for key, value in records:
            if key in merged:
                merged[key] = func(merged[key], value)
            else:
                merged[key] = value
    except (TypeError, ValueError) as error:
        explained = explain_record_error(error, "reduceByKey", key)
        if explained is error:
            raise
        raise explained from error
    return iter(merged.items())


def combine_values(records: Iterable[tuple], create: Callable, merge_value: Callable) -> Iterator[tuple]:
    combiners: dict = {}
    key = None
    try:
        for key, value in records:
            if key in combiners:
                combiners[key] = merge_value(combiners[key], value)
            else:
                combiners[key] = create(value)
    except (TypeError, ValueError) as error:
        explained = explain_record_error(error, "combineByKey", key)
        if explained is error:
            raise
        raise explained from error
    return iter(combiners.items())


def combine_combiners(records: Iterable[tuple], merge: Callable) -> Iterator[tuple]:
    return reduce_values(records, merge)


def group_values(records: Iterable[tuple]) -> Iterator[tuple]:
    groups: dict = {}
    key = None
    try:
        for key, value in records:
            group = groups.get(key)
            if group is None:
                groups[key] = [value]
            else:
                group.append(value)
    except (TypeError, ValueError) as error:
        explained = explain_record_error(error, "groupByKey", key)
        if explained is error:
            raise
        raise explained from error
    return iter(groups.items())


def group_combiners(records: Iterable[tuple]) -> Iterator[tuple]:
    groups: dict = {}
    for key, values in records:
        group = groups.get(key)
        if group is None:
            groups[key] = values
        else:
            group.extend(values)
    return ((key, ResultIterable(values)) for key, values in groups.items())


def fresh_copy(value: Any) -> Any:
    """A private copy of a zero value, so per-key accumulators never share it."""
    return copy.deepcopy(value)


def split_tagged(values: Iterable[tuple[int, Any]], count: int) -> list[list]:
    groups: list[list] = [[] for _ in range(count)]
    for index, value in values:
        groups[index].append(value)
    return groups


def join_pairs(values: Iterable[tuple[int, Any]], pad_left: bool, pad_right: bool) -> Iterator[tuple]:
    """(left, right) pairs of one key; a missing side becomes [None] when
    padded (outer joins), otherwise it yields nothing (inner join)."""
    left, right = split_tagged(values, 2)
    if pad_left and not left:
        left = [None]
    if pad_right and not right:
        right = [None]
    return ((v, w) for v in left for w in right)
