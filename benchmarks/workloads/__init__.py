"""The workload registry.

A workload is one job written once per kind of engine. The compute
workloads are written against PySpark's RDD API (``rdd(sc, inputs)``) and
run unchanged on PySpark and on ember; ``bag(inputs)`` computes the same
answer with Dask bags and ``serial(inputs)`` with plain Python in one process.
The machine-learning workloads (group "mllib") have ``rdd(sc, inputs)``,
which trains with ``pyspark.mllib`` or ``ember.mllib`` as the Context
decides, and ``sklearn(inputs)``, scikit-learn in the one process.
The log-store workloads have ``ingest(inputs)`` (ember's log store through
its clients, no Context), ``raw(inputs)`` (append + fsync to plain files, the
floor for durable appends) and ``redis(inputs)`` (Redis Streams). A version
left out (None) means that engine does not run the workload.

``prepare(engine, handle, inputs)``, when given, is a context manager around
the timed call that makes what the call needs (a log store with the records
already in it, a consumer's group) and tears it down; it is never timed.

``normalise`` turns any version's raw result into the compared answer.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable


def _unchanged(raw):
    return raw


def _no_inputs(scale, files):
    return {}


@dataclass(frozen=True)
class Metric:
    """A per-run number a goal is stated in, beyond the wall time."""
    label: str
    unit: str
    of_run: Callable             # (run record) -> float
    goal: float                  # ember must stay below this


@dataclass(frozen=True)
class Workload:
    name: str
    measures: str                # one line for `list` and the README
    inputs: Callable             # (scale, {dataset: files}) -> inputs dict
    rdd: Callable | None = None      # (sc, inputs) -> raw result
    bag: Callable | None = None      # (inputs) -> raw result, under Dask's config
    serial: Callable | None = None   # (inputs) -> raw result
    ingest: Callable | None = None   # (inputs) -> raw result, ember's log-store clients
    raw: Callable | None = None      # (inputs) -> raw result, plain files and fsync
    redis: Callable | None = None    # (inputs) -> raw result, Redis Streams
    sklearn: Callable | None = None  # (inputs) -> raw result, scikit-learn in one process
    prepare: Callable | None = None  # (engine name, session handle, inputs) -> context manager
    group: str = "compute"           # the results table it is reported in
    only: tuple[str, ...] | None = None  # engines allowed to run it, if not every one with a version
    datasets: tuple[str, ...] = ()
    normalise: Callable = _unchanged
    cpu_bound: bool = False      # held to the serial-floor goal
    floor_goal: float | None = None  # that goal, when not the suite's (report.FLOOR_GOAL)
    memory_budget: bool = False  # runs under the scale's per-worker budget
    times_session: bool = False  # the timed span includes context start and stop
    metric: Metric | None = None

    @classmethod
    def from_module(cls, namespace: dict, **fields) -> "Workload":
        """The workload a module defines by convention.

        The module's docstring starts "name: what it measures", and it
        defines ``rdd``, ``bag``, ``serial`` and, if it reads data, ``inputs``.
        """
        name, _, measures = namespace["__doc__"].splitlines()[0].partition(": ")
        return cls(name=name, measures=measures.rstrip("."),
                   inputs=namespace.get("inputs", _no_inputs), rdd=namespace["rdd"],
                   bag=namespace["bag"], serial=namespace["serial"], **fields)

    def prepared(self, engine: str, handle, inputs):
        """The context manager around the timed call (``prepare``, or nothing)."""
        if self.prepare is None:
            return contextlib.nullcontext(inputs)
        return self.prepare(engine, handle, inputs)


def all_workloads() -> dict[str, Workload]:
    from benchmarks.workloads import (join, kmeans, logstore, mllib, reduce_by_key, sort_by_key,
                                      spill, startup, tiny_tasks, wordcount)
    ordered = [startup.WORKLOAD, tiny_tasks.WORKLOAD, wordcount.WORKLOAD,
               reduce_by_key.WORKLOAD, join.WORKLOAD, sort_by_key.WORKLOAD,
               kmeans.WORKLOAD, *spill.WORKLOADS, *logstore.WORKLOADS, *mllib.WORKLOADS]
    return {w.name: w for w in ordered}
