"""startup: start a context, run one trivial 2-task job, stop; all of it timed."""

from __future__ import annotations

from benchmarks.workloads import Metric, Workload

_NUMBERS = [1, 2, 3, 4]


def rdd(sc, inputs):
    return sc.parallelize(_NUMBERS, 2).sum()


def bag(inputs):
    import dask.bag as db
    return db.from_sequence(_NUMBERS, npartitions=2).sum().compute()


def serial(inputs):
    return sum(_NUMBERS)


WORKLOAD = Workload.from_module(
    globals(), times_session=True,
    metric=Metric("context start + first job", "s",
                  lambda run: run["phases"]["open_s"] + run["phases"]["run_s"], goal=0.3),
)
