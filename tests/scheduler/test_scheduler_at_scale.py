"""The real DAGScheduler and TaskScheduler on a simulated cluster of hundreds
of workers (benchmarks/scheduler_scale.py): every task is done exactly once,
also when workers are lost in the middle of a stage. The same simulation,
larger, is the scheduler-scale benchmark; these runs check its answers."""

from __future__ import annotations

import pytest

from benchmarks.scheduler_scale import SimulatedCluster
from ember.engine.wire.serializer import loads


def run(cluster: SimulatedCluster, maps: int, middle: int, reduces: int, losses: int) -> list:
    return [loads(payload) for payload in cluster.run_job(maps, middle, reduces, losses)]


def test_three_stages_on_300_workers_launch_each_task_exactly_once():
    cluster = SimulatedCluster(workers=300, cores=8)
    assert run(cluster, maps=2_000, middle=60, reduces=40, losses=0) == list(range(40))
    assert cluster.launched == 2_000 + 60 + 40
    assert set(cluster.computed.values()) == {1}
    scheduler = cluster.scheduler
    assert not scheduler.jobs and not scheduler.stages and not scheduler.running
    assert not scheduler.tasks.task_sets and not scheduler.tasks._by_tid
    assert sum(w.free for w in scheduler.tasks.workers.values()) == 300 * 8


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_workers_lost_mid_stage_rerun_only_their_work_and_every_result_arrives_once(seed):
    cluster = SimulatedCluster(workers=150, cores=8, seed=seed)
    assert run(cluster, maps=1_500, middle=50, reduces=30, losses=6) == list(range(30))
    scheduler = cluster.scheduler
    result_stage = max(stage for stage, _ in cluster.computed)
    results = {p: n for (stage, p), n in cluster.computed.items() if stage == result_stage}
    assert results == {p: 1 for p in range(30)}, "a result partition was delivered twice"
    # Only what the lost workers held runs again: their map outputs and the
    # attempts they were running.
    reruns = cluster.launched - (1_500 + 50 + 30)
    assert 0 < reruns <= cluster.lost_work
    assert not scheduler.tasks._by_tid and not scheduler.task_sets

