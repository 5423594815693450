"""The workload registry.

Each workload is written once against PySpark's RDD API (``rdd(sc, inputs)``)
and run unchanged on PySpark and on ember; ``bag(inputs)`` computes the same
answer with Dask bags and ``serial(inputs)`` with plain Python in one process.
``normalise`` turns any of the three raw results into the compared answer.
"""

from __future__ import annotations

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
    rdd: Callable                # (sc, inputs) -> raw result
    bag: Callable                # (inputs) -> raw result, under Dask's config
    serial: Callable             # (inputs) -> raw result
    datasets: tuple[str, ...] = ()
    normalise: Callable = _unchanged
    cpu_bound: bool = False      # held to the serial-floor goal
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


def all_workloads() -> dict[str, Workload]:
    from benchmarks.workloads import (join, kmeans, reduce_by_key, sort_by_key,
                                      spill, startup, tiny_tasks, wordcount)
    ordered = [startup.WORKLOAD, tiny_tasks.WORKLOAD, wordcount.WORKLOAD,
               reduce_by_key.WORKLOAD, join.WORKLOAD, sort_by_key.WORKLOAD,
               kmeans.WORKLOAD, *spill.WORKLOADS]
    return {w.name: w for w in ordered}


def pending() -> dict[str, str]:
    from benchmarks.workloads import logstore
    return dict(logstore.PENDING)
