"""Per-partition combining of (key, value) records: the two halves of every
key aggregation (``reduceByKey``, ``combineByKey``, ``groupByKey``) and the
dispatch of tagged values in ``cogroup``/``join``.

The map side combines the values of each key within a partition before the
shuffle; the reduce side merges the combiners that arrive from every map
output. Both are dict passes in insertion order, so the output order follows
the input order (which the shuffle reader fixes by merging map outputs in
map-index order): the same input gives the same output, record for record.
Past the task's memory budget they spill to disk (``engine.data.spill``) without
changing that output.

cogroup and join read their inputs side by side when they can (``Sides``: one
iterator per input RDD, untagged, with the bytes each side's blocks hold), or
as one stream of records tagged ``(key, (index, value))`` otherwise. Joins
over shuffled sides are hash joins: the side with fewer bytes is built into
a dict (when its estimated size fits the budget), the other streams past it,
so the larger side is never grouped; their output follows the streamed
side's order. Cogroup groups the sides in order, as a tagged stream would.
"""

from __future__ import annotations

import copy
from itertools import chain, islice, repeat
from operator import add
from typing import Any, Callable, Iterable, Iterator

from ember.engine.api.resultiterable import ResultIterable
from ember.engine.data.spill import CHECK_EVERY, DEFAULT_BUDGET, OBJECT_OVERHEAD, ExternalMerger


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


def _absorb_all(records: Iterable, merger: ExternalMerger, absorb: Callable[[list, dict], None],
                sample_of: Callable[[list, dict], Any],
                values_of: Callable[[list], int] | None = None) -> Iterator[tuple]:
    absorb_into(merger, records, absorb, sample_of, values_of)
    return merger.items()


def absorb_into(merger: ExternalMerger, records: Iterable, absorb: Callable[[list, dict], None],
                sample_of: Callable[[list, dict], Any] = None,
                values_of: Callable[[list], int] | None = None,
                check_every: int = CHECK_EVERY) -> None:
    """Feed the records to ``absorb(chunk, merger.data)`` in chunks of
    ``check_every``, so the per-record loop carries no budget bookkeeping,
    and let the merger spill between chunks. It holds keys, or values when
    ``values_of(chunk)`` counts them (groups); ``sample_of`` picks one
    (by default the chunk's last key and its entry)."""
    sample_of = sample_of or _last_entry
    records = iter(records)
    held = 0
    while True:
        chunk = list(islice(records, check_every))
        absorb(chunk, merger.data)
        if len(chunk) < check_every:
            return
        if values_of is None:
            units = len(merger.data)
        else:
            held += values_of(chunk)
            units = held
        if merger.maybe_spill(units, sample_of(chunk, merger.data)):
            held = 0


def _last_entry(chunk: list, data: dict) -> tuple:
    key = chunk[-1][0]
    return key, data[key]


def _last_record(chunk: list, data: dict) -> tuple:
    return chunk[-1]


def _folding(func: Callable[[Any, Any], Any], method: str) -> Callable[[list, dict], None]:
    """Fold each record's value into its key's entry with ``func``.

    Two loops with the same result: one tests membership first (cheap when
    most keys are new), one looks the key up and catches the miss (a third
    faster when most keys repeat, as in word counts, but an exception per
    new key). Each chunk takes the loop that suits the share of new keys in
    the chunk before it. ``operator.add`` is applied as ``+``, which is what
    it does, without the call."""
    inline = func is add

    def absorb(chunk: list, merged: dict) -> None:
        key = None
        before = len(merged)
        try:
            if state[0] and inline:  # most keys repeat
                for key, value in chunk:
                    try:
                        old = merged[key]
                    except KeyError:
                        merged[key] = value
                        continue
                    merged[key] = old + value
            elif state[0]:
                for key, value in chunk:
                    try:
                        old = merged[key]
                    except KeyError:
                        merged[key] = value
                        continue
                    merged[key] = func(old, value)
            elif inline:
                for key, value in chunk:
                    if key in merged:
                        merged[key] = merged[key] + value
                    else:
                        merged[key] = value
            else:
                for key, value in chunk:
                    if key in merged:
                        merged[key] = func(merged[key], value)
                    else:
                        merged[key] = value
        except (TypeError, ValueError) as error:
            _fail(error, method, key)
        state[0] = (len(merged) - before) * 4 < len(chunk)

    state = [False]
    return absorb


def reduce_values(records: Iterable[tuple], func: Callable[[Any, Any], Any],
                  budget: int = DEFAULT_BUDGET) -> Iterator[tuple]:
    return _absorb_all(records, ExternalMerger(func, budget), _folding(func, "reduceByKey"),
                       _last_entry)


def combine_combiners(records: Iterable[tuple], merge: Callable,
                      budget: int = DEFAULT_BUDGET) -> Iterator[tuple]:
    return _absorb_all(records, ExternalMerger(merge, budget), _folding(merge, "combineByKey"),
                       _last_entry)


def combining(create: Callable, merge_value: Callable,
              method: str = "combineByKey") -> Callable[[list, dict], None]:
    """Turn each record's value into its key's combiner (``create``) or fold
    it into the combiner already there (``merge_value``)."""
    def absorb(chunk: list, combiners: dict) -> None:
        key = None
        try:
            for key, value in chunk:
                if key in combiners:
                    combiners[key] = merge_value(combiners[key], value)
                else:
                    combiners[key] = create(value)
        except (TypeError, ValueError) as error:
            _fail(error, method, key)
    return absorb


def folding(func: Callable[[Any, Any], Any], method: str) -> Callable[[list, dict], None]:
    """Fold each record's value into its key's entry with ``func`` (the
    first value of a key is its entry)."""
    return _folding(func, method)


def combine_values(records: Iterable[tuple], create: Callable, merge_value: Callable,
                   merge_combiners: Callable | None = None,
                   budget: int = DEFAULT_BUDGET) -> Iterator[tuple]:
    return _absorb_all(records, ExternalMerger(merge_combiners or _no_merge, budget),
                       combining(create, merge_value), _last_entry)


def _no_merge(left: Any, right: Any) -> Any:
    raise AssertionError("a merger without a merge function spilled")


def _extend(left: list, right: list) -> list:
    left.extend(right)
    return left


def _group_into(records: Iterable[tuple], groups: dict, method: str) -> dict:
    """Append each record's value to its key's list in ``groups``, in input
    order; ``method`` names the operation in the error of a record that is
    not a (key, value) pair or whose key cannot be hashed."""
    key = None
    try:
        for key, value in records:
            group = groups.get(key)
            if group is None:
                groups[key] = [value]
            else:
                group.append(value)
    except (TypeError, ValueError) as error:
        _fail(error, method, key)
    return groups


def group_values(records: Iterable[tuple], budget: int = DEFAULT_BUDGET) -> Iterator[tuple]:
    def absorb(chunk: list, groups: dict) -> None:
        _group_into(chunk, groups, "groupByKey")
    return _absorb_all(records, ExternalMerger(_extend, budget), absorb, _last_record, len)


def group_combiners(records: Iterable[tuple], budget: int = DEFAULT_BUDGET) -> Iterator[tuple]:
    def absorb(chunk: list, groups: dict) -> None:
        for key, values in chunk:
            group = groups.get(key)
            if group is None:
                groups[key] = values
            else:
                group.extend(values)

    def first_value(chunk: list, groups: dict) -> tuple:
        key, values = chunk[-1]
        return key, values[0] if values else None

    merged = _absorb_all(records, ExternalMerger(_extend, budget), absorb, first_value,
                         lambda chunk: sum(len(values) for _, values in chunk))
    return ((key, ResultIterable(values)) for key, values in merged)


def fresh_copy(value: Any) -> Any:
    """A private copy of a zero value, so per-key accumulators never share it."""
    return copy.deepcopy(value)


def _merge_sides(left: list, right: list) -> list:
    for mine, theirs in zip(left, right):
        mine.extend(theirs)
    return left


class Sides:
    """The records of one partition of a cogroup or join, one iterator per
    input RDD (untagged), with the bytes of each side's shuffle blocks when
    they came through a shuffle (else None). Iterating it gives every
    side's records in turn."""

    __slots__ = ("sides", "sizes")

    def __init__(self, sides: list[Iterator], sizes: list[int] | None = None):
        self.sides = sides
        self.sizes = sizes

    def __iter__(self) -> Iterator:
        return chain.from_iterable(self.sides)


def cogroup_values(records: Iterable[tuple] | Sides, count: int,
                   budget: int = DEFAULT_BUDGET) -> Iterator[tuple]:
    """``(key, [values of RDD 0, ..., values of RDD count-1])`` from the
    ``Sides`` of a partition, or from records ``(key, (index, value))``: the
    reduce side of cogroup and join. The map side does not group: grouping
    there would cost a pass and save nothing when keys repeat little within
    a map partition (Spark's cogroup does not combine on the map side either)."""
    def absorb(chunk: list, groups: dict) -> None:
        key = None
        try:
            for key, (index, value) in chunk:
                sides = groups.get(key)
                if sides is None:
                    groups[key] = sides = [[] for _ in range(count)]
                sides[index].append(value)
        except (TypeError, ValueError) as error:
            _fail(error, "cogroup", key)

    def absorb_sides(chunk: list, groups: dict) -> None:
        key = None
        try:
            for index, (key, value) in chunk:
                sides = groups.get(key)
                if sides is None:
                    groups[key] = sides = [[] for _ in range(count)]
                sides[index].append(value)
        except (TypeError, ValueError) as error:
            _fail(error, "cogroup", key)

    if isinstance(records, Sides):
        # Tagged here, in C: (index, record), side after side.
        records = chain.from_iterable(zip(repeat(index), side)
                                      for index, side in enumerate(records.sides))
        absorb = absorb_sides
    return _absorb_all(records, ExternalMerger(_merge_sides, budget), absorb, _last_record, len)


def join_values(records: Iterable[tuple] | Sides, pad_left: bool, pad_right: bool,
                budget: int = DEFAULT_BUDGET) -> Iterator[tuple]:
    """``(key, (v, w))`` for every pair of a key's values from the ``Sides``
    of a partition or from records ``(key, (0 | 1, value))``; a missing side
    is ``[None]`` when padded (outer joins), otherwise the key yields nothing
    (inner join). Over shuffled sides whose smaller one fits the budget, a
    hash join (``hash_join``); otherwise grouped as cogroup does, spilling if
    need be."""
    if isinstance(records, Sides):
        left, right = records.sides
        sizes = records.sizes
        # Without the shuffle's block sizes (co-partitioned inputs) nothing
        # tells whether a side fits: grouping spills, a dict would not.
        if sizes is not None and min(sizes) * OBJECT_OVERHEAD <= budget:
            return hash_join(left, right, sizes[0] < sizes[1], pad_left, pad_right)
    return _grouped_join(records, pad_left, pad_right, budget)


def _grouped_join(records: Iterable[tuple] | Sides, pad_left: bool, pad_right: bool,
                  budget: int) -> Iterator[tuple]:
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


def hash_join(left: Iterable[tuple], right: Iterable[tuple], build_left: bool,
              pad_left: bool, pad_right: bool) -> Iterator[tuple]:
    """``(key, (v, w))`` for the pairs of values of a key in ``left`` and
    ``right``: one side is built into a dict (``left`` when ``build_left``),
    the other streams past it, one probe per record. A streamed record
    without a match is padded with None when its side is kept (outer
    joins); the built side's keys never matched follow at the end, padded
    likewise. Pairs come in the streamed side's order (for one streamed
    record, in the built side's order)."""
    if build_left:
        table = _group_into(left, {}, "join")
        return _probe(table, right, pad_left, pad_right, left_built=True)
    table = _group_into(right, {}, "join")
    return _probe(table, left, pad_right, pad_left, left_built=False)


def _probe(table: dict, stream: Iterable[tuple], pad_stream: bool, pad_built: bool,
           left_built: bool) -> Iterator[tuple]:
    """Stream past the built ``table``; ``pad_stream``: keep the streamed
    records without a match, ``pad_built``: the table's unmatched keys."""
    matched: set | None = set() if pad_built else None
    key = None
    try:
        for key, value in stream:
            found = table.get(key)
            if found is None:
                if pad_stream:
                    yield key, ((None, value) if left_built else (value, None))
                continue
            if matched is not None:
                matched.add(key)
            if left_built:
                for built in found:
                    yield key, (built, value)
            else:
                for built in found:
                    yield key, (value, built)
    except (TypeError, ValueError) as error:
        _fail(error, "join", key)
    if matched is not None:
        for key, found in table.items():
            if key not in matched:
                for built in found:
                    yield key, ((built, None) if left_built else (None, built))
