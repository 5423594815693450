"""Non-deterministic map stages recomputed after part of their output was
used (E20): every record exactly once in the output, or a named
IndeterminateStageError; never an answer that mixes two attempts."""

from __future__ import annotations

import random

import pytest

from ember import IndeterminateStageError
from faults import Background, kill, launches, worker_pids
from tests.waiting import wait_for

pytestmark = pytest.mark.fault


def first_results_delivered(sc):
    return any(job.num_finished for job in list(sc._scheduler.jobs.values()))


def kill_a_map_worker_after_some_results(sc, job):
    wait_for(lambda: first_results_delivered(sc),
             timeout=20, interval=0.01, what="some reduce tasks to finish")
    victim = next(l.worker_id for l in launches(sc) if l.kind == "shuffle_map")
    kill(worker_pids(sc)[victim])
    try:
        return job.result(), None
    except IndeterminateStageError as error:
        return None, error


def test_random_keys_recomputed_after_results_were_used_abort_the_job_by_name(cluster, monkeypatch):
    monkeypatch.setenv("EMBER_FAILPOINTS", "task.start=sleep:0.3@*")
    sc = cluster(2, **{"spark.task.maxFailures": 1})
    data = list(range(3000))
    shuffled = sc.parallelize(data, 4).map(lambda x: (random.random(), x)).partitionBy(6).values()
    values, error = kill_a_map_worker_after_some_results(sc, Background(shuffled.collect))
    assert values is None, "part of the result was computed from the lost, different output"
    assert "produced different output" in str(error) and "persist" in str(error)
    assert sc.parallelize(data, 3).sum() == sum(data), "the Context stays usable"


def test_deterministic_stage_recomputed_after_results_were_used_is_not_flagged(cluster, monkeypatch):
    monkeypatch.setenv("EMBER_FAILPOINTS", "task.start=sleep:0.3@*")
    sc = cluster(2, **{"spark.task.maxFailures": 1})
    data = list(range(3000))
    shuffled = sc.parallelize(data, 4).map(lambda x: (x % 97, x)).repartition(6).values()
    values, error = kill_a_map_worker_after_some_results(sc, Background(shuffled.collect))
    assert error is None, "equal checksums: the recomputed output is the same"
    assert sorted(values) == data
