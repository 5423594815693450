"""sort_by_key: a total order over int keys, checked partition by partition.

The action summarises each output partition (rows, fingerprint, first and
last key, whether it is internally sorted); the answer holds only when the
partitions, in output order, form one sorted sequence.
"""

from __future__ import annotations

from bisect import bisect_right
from functools import partial

from benchmarks.workloads import Workload
from benchmarks.workloads.records import (bag_of, first, load_pairs,
                                          merge_sorted_summaries, rdd_of, serial_of,
                                          sorted_summary)

# About as many sampled keys per output partition as Spark's RangePartitioner.
_SAMPLES_PER_PARTITION = 60


def rdd(sc, inputs):
    records = rdd_of(sc, inputs["files"], load_pairs)
    return records.sortByKey().mapPartitions(sorted_summary).collect()


def _bucket(bounds, record):
    return bisect_right(bounds, record[0])


def _sorted_bucket(group):
    bucket, records = group
    records.sort(key=first)
    return bucket, sorted_summary(records)[0]


def bag(inputs):
    # Dask bags have no sort; this is the same range partitioning sortByKey
    # does: sample the keys, cut them into ranges, shuffle by range (on
    # disk), sort each range.
    records = bag_of(inputs["files"], load_pairs)
    partitions = inputs["partitions"]
    fraction = min(1.0, _SAMPLES_PER_PARTITION * partitions / inputs["rows"])
    sample = sorted(records.map(first).random_sample(fraction, random_state=0).compute())
    bounds = [sample[len(sample) * i // partitions] for i in range(1, partitions)] if sample else []
    ranges = records.groupby(partial(_bucket, bounds), npartitions=partitions, shuffle="disk")
    summaries = ranges.map(_sorted_bucket).compute()
    return [summary for _, summary in sorted(summaries, key=first)]


def serial(inputs):
    return sorted_summary(sorted(serial_of(inputs["files"], load_pairs), key=first))


def make(name: str, dataset: str, rows_field: str, measures: str, **flags) -> Workload:
    def inputs(scale, files):
        return {"files": files[dataset], "partitions": scale.partitions,
                "rows": getattr(scale, rows_field)}

    return Workload(name=name, measures=measures, datasets=(dataset,), inputs=inputs,
                    rdd=rdd, bag=bag, serial=serial, normalise=merge_sorted_summaries,
                    **flags)


WORKLOAD = make("sort_by_key", "sort", "sort_rows",
                "sortByKey() over random int64 keys; check the total order across partitions",
                cpu_bound=True)
