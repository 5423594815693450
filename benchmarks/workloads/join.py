"""join: inner join of many rows per key with one row per key, joined rows fingerprinted."""

from __future__ import annotations

from benchmarks.workloads import Workload
from benchmarks.workloads.records import (MOD, bag_of, fingerprint, first, load_pairs,
                                          rdd_of, serial_of)

_ZERO = (0, 0)


def inputs(scale, files):
    return {"left": files["join_left"], "right": files["join_right"]}


def _add_joined(acc, joined):
    key, (left, right) = joined
    return acc[0] + 1, (acc[1] + fingerprint(key, fingerprint(left, right))) % MOD


def _merge(a, b):
    return a[0] + b[0], (a[1] + b[1]) % MOD


def _as_joined(match):
    right, left = match
    return left[0], (left[1], right[1])


def rdd(sc, inputs):
    left = rdd_of(sc, inputs["left"], load_pairs)
    right = rdd_of(sc, inputs["right"], load_pairs)
    return left.join(right).aggregate(_ZERO, _add_joined, _merge)


def bag(inputs):
    # Bag.join wants the other side in one partition: Dask's documented way
    # is a hash join against an in-memory side, which the one-row-per-key
    # dataset is meant to be.
    left = bag_of(inputs["left"], load_pairs)
    right = bag_of(inputs["right"], load_pairs, partitions=1)
    matches = left.join(right, on_self=first, on_other=first)
    return matches.map(_as_joined).fold(_add_joined, _merge, initial=_ZERO).compute()


def serial(inputs):
    right = dict(serial_of(inputs["right"], load_pairs))
    acc = _ZERO
    for key, value in serial_of(inputs["left"], load_pairs):
        if key in right:
            acc = _add_joined(acc, (key, (value, right[key])))
    return acc


def _normalise(acc):
    rows, total = acc
    return {"rows": rows, "fingerprint": total}


# A join moves both sides through the shuffle where the floor probes a dict:
# its goal is 2x the 2-core floor, not the 1.5x of the other CPU-bound workloads.
WORKLOAD = Workload.from_module(globals(), datasets=("join_left", "join_right"),
                                normalise=_normalise, cpu_bound=True, floor_goal=2.0)
