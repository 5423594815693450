"""tiny_tasks: 1,000 tasks of one record each; wall time / 1,000 is the per-task overhead."""

from __future__ import annotations

from benchmarks.scales import TINY_TASKS
from benchmarks.workloads import Metric, Workload


def _increment(x):
    return x + 1


def rdd(sc, inputs):
    return sc.parallelize(range(TINY_TASKS), TINY_TASKS).map(_increment).collect()


def bag(inputs):
    import dask.bag as db
    return db.from_sequence(range(TINY_TASKS), npartitions=TINY_TASKS).map(_increment).compute()


def serial(inputs):
    return [_increment(x) for x in range(TINY_TASKS)]


def _normalise(values):
    return {"tasks": len(values), "sum": sum(values)}


WORKLOAD = Workload.from_module(
    globals(), normalise=_normalise,
    metric=Metric("per-task overhead", "ms", lambda run: run["wall_s"] * 1000 / TINY_TASKS,
                  goal=0.3),
)
