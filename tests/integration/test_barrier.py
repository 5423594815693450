"""Barrier execution mode: all tasks of the stage at once, synchronized through
the driver, and rerun together when one fails."""

from __future__ import annotations

import pytest

from ember import JobAbortedError
from ember.engine.api.barrier import BarrierTaskContext


def test_barrier_tasks_wait_for_each_other_and_gather_messages(sc):
    def gather(iterator):
        context = BarrierTaskContext.get()
        context.barrier()
        first = context.allGather(f"p{context.partitionId()}")
        second = context.allGather(str(sum(iterator)))
        yield first, second, len(context.getTaskInfos())

    assert sc.parallelize(range(10), 2).barrier().mapPartitions(gather).collect() == \
        [(["p0", "p1"], ["10", "35"], 2)] * 2


def test_a_failed_barrier_task_reruns_the_whole_stage(sc):
    def fail_once(iterator):
        context = BarrierTaskContext.get()
        if context.partitionId() == 1 and context._stageAttemptNumber == 0:
            raise ValueError("first attempt of partition 1")
        context.barrier()
        return [sum(iterator)]

    before = len(sc._scheduler.tasks.history)
    assert sc.parallelize(range(10), 2).barrier().mapPartitions(fail_once).collect() == [10, 35]
    attempts = [(l.stage_attempt, l.partition) for l in list(sc._scheduler.tasks.history)[before:]]
    assert sorted(attempts) == [(0, 0), (0, 1), (1, 0), (1, 1)]


def test_barrier_stage_needing_more_slots_than_the_cluster_fails_at_once(sc):
    with pytest.raises(JobAbortedError, match="needs 5 task slots at once but the cluster has 2"):
        sc.parallelize(range(10), 5).barrier().mapPartitions(lambda it: it).collect()
    assert sc.parallelize(range(10), 5).count() == 10


def test_barrier_context_outside_a_barrier_stage_is_refused(sc):
    with pytest.raises(RuntimeError, match="not in a barrier stage"):
        sc.parallelize([1], 1).map(lambda x: BarrierTaskContext.get()).collect()


def test_barrier_after_a_shuffle_and_before_another(sc):
    pairs = sc.parallelize(range(100), 4).map(lambda x: (x % 3, x)).reduceByKey(lambda a, b: a + b, 2)
    synced = pairs.barrier().mapPartitions(lambda it: (BarrierTaskContext.get().barrier(), list(it))[1])
    assert sorted(synced.collect()) == sorted({k: sum(x for x in range(100) if x % 3 == k) for k in range(3)}.items())
