"""reduce_by_key: reduceByKey(add) over int key-value rows, totals collected."""

from __future__ import annotations

from operator import add

from benchmarks.answers import keyed_totals
from benchmarks.workloads import Workload
from benchmarks.workloads.records import bag_of, load_pairs, rdd_of, serial_of


def inputs(scale, files):
    return {"files": files["kv"]}


def _key(pair):
    return pair[0]


def _add_value(total, pair):
    return total + pair[1]


def rdd(sc, inputs):
    return rdd_of(sc, inputs["files"], load_pairs).reduceByKey(add).collect()


def bag(inputs):
    # foldby is Dask's documented reduce-per-key: it combines within each
    # partition before anything moves, as reduceByKey does.
    pairs = bag_of(inputs["files"], load_pairs)
    return pairs.foldby(_key, _add_value, 0, add, 0).compute()


def serial(inputs):
    totals: dict[int, int] = {}
    for key, value in serial_of(inputs["files"], load_pairs):
        totals[key] = totals.get(key, 0) + value
    return totals.items()


WORKLOAD = Workload.from_module(globals(), datasets=("kv",), normalise=keyed_totals,
                                cpu_bound=True)
