"""Launching short tasks ahead: a busy worker gets a few tasks to start the
moment a slot frees, never more than fit in the scheduler's budget of task
time, and a worker lost with tasks still waiting there charges them nothing.
The DAGScheduler runs as a state machine (no thread, no processes)."""

from __future__ import annotations

from ember.engine.wire.serializer import dumps
from ember.engine.wire.task import TaskSuccess
from ember.scheduler.events import CompletionEvent
from ember.scheduler.task_set_manager import AHEAD_BUDGET, MAX_AHEAD

from tests.scheduler.test_dag_scheduler import Harness, results


def finish(h, worker, task, run_time):
    h.scheduler.process(CompletionEvent(worker, task.tid, TaskSuccess(b""),
                                        payload=dumps(task.partition), duration=run_time))


def on_worker(h, worker):
    return len(h.scheduler.tasks.workers[worker].running)


def run_in_worker_order(h, run_time):
    """Finish launched tasks as the workers would: each worker in launch order."""
    done = set()
    while True:
        pending = [(w, t) for w, t in h.backend.launched if t.tid not in done]
        if not pending:
            return
        worker, task = pending[0]
        done.add(task.tid)
        finish(h, worker, task, run_time)


def test_short_tasks_wait_on_a_busy_worker_up_to_the_depth_and_each_runs_once():
    h = Harness(workers=("w-0", "w-1"), cores=1)
    waiter = h.submit(h.rdd(40))
    first = h.new_launches()
    assert len(first) == 2  # nothing is known of the tasks' length yet: one per slot
    finish(h, *first[0], run_time=0.0002)
    # Short tasks: the worker that reported gets its free slot filled and
    # MAX_AHEAD more waiting behind it.
    assert on_worker(h, first[0][0]) == 1 + MAX_AHEAD
    assert len(h.scheduler.tasks.workers[first[0][0]].waiting) == MAX_AHEAD
    run_in_worker_order(h, 0.0002)
    assert results(waiter) == list(range(40))
    partitions = sorted(t.partition for _, t in h.backend.launched)
    assert partitions == list(range(40))  # every task launched exactly once
    assert all(not slots.running and not slots.waiting and slots.free == slots.cores
               for slots in h.scheduler.tasks.workers.values())


def test_tasks_longer_than_the_budget_never_wait_on_a_busy_worker():
    h = Harness(workers=("w-0", "w-1"), cores=2)
    waiter = h.submit(h.rdd(20))
    assert len(h.new_launches()) == 4
    done = set()
    while len(done) < 20:
        worker, task = next((w, t) for w, t in h.backend.launched if t.tid not in done)
        done.add(task.tid)
        finish(h, worker, task, run_time=AHEAD_BUDGET * 2)
        assert all(len(slots.running) <= slots.cores and not slots.waiting
                   for slots in h.scheduler.tasks.workers.values())
    assert results(waiter) == list(range(20))


def test_depth_follows_the_mean_run_time_of_the_task_set():
    h = Harness(workers=("w-0",), cores=2)
    h.submit(h.rdd(30))
    (worker, task), _ = h.new_launches()
    finish(h, worker, task, run_time=AHEAD_BUDGET / 2.5)  # two tasks' time per core
    slots = h.scheduler.tasks.workers[worker]
    assert slots.free == 0 and len(slots.waiting) == 2 * slots.cores


def test_a_task_waiting_on_a_lost_worker_runs_again_elsewhere_uncharged():
    h = Harness(workers=("w-0", "w-1"), cores=1, max_worker_deaths=2)
    waiter = h.submit(h.rdd(10))
    first = h.new_launches()
    worker = first[0][0]
    finish(h, *first[0], run_time=0.0002)
    slots = h.scheduler.tasks.workers[worker]
    task_set = next(iter(h.scheduler.task_sets.values()))
    waiting = {task_set.running_index(tid) for tid in slots.waiting}
    (running,) = {task_set.running_index(tid) for tid in slots.running} - waiting
    assert waiting
    h.lose(worker)
    assert task_set.kills[running] == 1  # it ran there: the death counts for it
    assert all(task_set.kills[index] == 0 for index in waiting)
    run_in_worker_order(h, 0.0002)
    assert results(waiter) == list(range(10))


def test_a_waiting_task_starts_its_run_time_when_a_slot_takes_it():
    h = Harness(workers=("w-0",), cores=1)
    h.submit(h.rdd(10))
    (worker, task), = h.new_launches()
    h.clock.advance(1.0)
    finish(h, worker, task, run_time=0.0002)
    slots = h.scheduler.tasks.workers[worker]
    task_set = next(iter(h.scheduler.task_sets.values()))
    launched_at = h.clock.monotonic()
    oldest = slots.waiting[0]
    assert task_set._started[oldest] == launched_at
    h.clock.advance(2.0)
    running = next(t for _, t in h.backend.launched if t.tid in slots.running
                   and t.tid not in slots.waiting)
    finish(h, worker, running, run_time=0.0002)  # the slot takes the oldest waiting task
    assert oldest not in slots.waiting and task_set._started[oldest] == launched_at + 2.0


def test_nothing_waits_ahead_while_a_barrier_stage_waits_for_slots():
    h = Harness(workers=("w-0",), cores=2)
    h.submit(h.rdd(20))
    launches = h.new_launches()
    barrier = h.rdd(2).barrier().mapPartitions(lambda it: it)
    h.submit(barrier)
    finish(h, *launches[0], run_time=0.0002)
    slots = h.scheduler.tasks.workers["w-0"]
    assert not slots.waiting and len(slots.running) <= slots.cores


def test_short_tasks_never_wait_behind_a_task_of_a_longer_set():
    h = Harness(workers=("w-0", "w-1"), cores=1)
    h.submit(h.rdd(6))  # job 0: long tasks, first in priority
    (_, _), (worker, long_task) = h.new_launches()
    h.submit(h.rdd(20))  # job 1: short tasks (as one of them already showed)
    short_set = max(h.scheduler.task_sets.values(), key=lambda ts: ts.job_id)
    short_set.ran(0.0002)
    assert short_set.ahead_depth() == MAX_AHEAD
    finish(h, worker, long_task, run_time=1.0)  # the slot takes job 0's next long task
    (_, next_long), = h.new_launches()
    slots = h.scheduler.tasks.workers[worker]
    assert next_long.job_id == 0 and not slots.waiting  # nothing queued behind it


def test_killing_a_waiting_task_does_not_watch_its_worker_for_a_timely_end():
    h = Harness(workers=("w-0",), cores=1)
    waiter = h.submit(h.rdd(10))
    (worker, task), = h.new_launches()
    finish(h, worker, task, run_time=0.0002)
    slots = h.scheduler.tasks.workers[worker]
    waiting = set(slots.waiting)
    h.scheduler.cancel_job(waiter.job_id, "test")
    h.scheduler.process(h.scheduler._queue.get())
    killed = {entry[1]: entry for entry in h.backend.killed}
    assert waiting and all(killed[tid] == (worker, tid, "waiting") for tid in waiting)
    running = slots.running - waiting
    assert all(killed[tid] == (worker, tid) for tid in running)
