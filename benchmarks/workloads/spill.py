"""Spill workloads: groupByKey and sortByKey over data 4x a worker's budget.

The budget comes from the scale and reaches each engine as configuration
(see ``benchmarks.engines``). The serial floor has no budget: it is there for
the answer and as a floor, not as a spilling engine.
"""

from __future__ import annotations

from collections import defaultdict

from benchmarks.answers import digest
from benchmarks.workloads import Workload, sort_by_key
from benchmarks.workloads.records import (bag_of, first, group_summary, load_pairs,
                                          rdd_of, serial_of)


def _inputs(scale, files):
    return {"files": files["spill"]}


def _values_only(group):
    key, records = group
    return key, [value for _, value in records]


def group_rdd(sc, inputs):
    records = rdd_of(sc, inputs["files"], load_pairs)
    return records.groupByKey().map(group_summary).collect()


def group_bag(inputs):
    # The disk shuffle (partd) is Dask's single-machine shuffle: it writes
    # the groups to disk and so is the bag's way through data beyond memory.
    records = bag_of(inputs["files"], load_pairs)
    groups = records.groupby(first, shuffle="disk").map(_values_only)
    return groups.map(group_summary).compute()


def group_serial(inputs):
    groups = defaultdict(list)
    for key, value in serial_of(inputs["files"], load_pairs):
        groups[key].append(value)
    return [group_summary(group) for group in groups.items()]


def _group_answer(summaries):
    flat = [(key, count, total) for key, (count, total) in summaries]
    return {"keys": len(flat), "rows": sum(count for _, count, _ in flat), "digest": digest(flat)}


WORKLOADS = [
    Workload(
        name="spill_group_by_key",
        measures="groupByKey over 100-byte values, 4x a worker's memory budget",
        datasets=("spill",), inputs=_inputs, rdd=group_rdd, bag=group_bag,
        serial=group_serial, normalise=_group_answer, memory_budget=True,
    ),
    sort_by_key.make(
        "spill_sort_by_key", "spill", "spill_rows",
        "sortByKey over 100-byte values, 4x a worker's memory budget; total order checked",
        memory_budget=True,
    ),
]
