"""What the scheduler records for the status page: each task attempt from its
launch to its end with the metrics its worker measured, stage totals, and the
shape of every stage of a job. Events in, records out: no processes."""

from __future__ import annotations

from operator import add

from ember.engine.api.task_metrics import TaskMetrics
from ember.engine.api.storage import StorageLevel
from ember.engine.wire.serializer import dumps
from ember.engine.wire.task import TaskKilled, TaskSuccess
from ember.scheduler import status
from ember.scheduler.events import CompletionEvent
from test_dag_scheduler import Harness


def snapshot(h, stage_id):
    return h.scheduler.status.snapshot({}, tasks_of=(stage_id,))


def test_each_attempt_is_recorded_from_launch_to_end_with_its_worker_s_metrics():
    h = Harness()
    h.submit(h.rdd(2))
    (w0, first), (w1, second) = sorted(h.new_launches(), key=lambda launch: launch[1].partition)
    stage = first.stage_id
    records = snapshot(h, stage).stages[stage].tasks
    assert {t.status for t in records.values()} == {"RUNNING"}
    assert {(t.partition, t.attempt, t.worker_id) for t in records.values()} == {(0, 0, w0), (1, 0, w1)}

    h.fail(w0, first, ValueError("bad <record>"))
    measured = TaskMetrics(input_records=5, input_bytes=40, result_size=9, run_time=0.25, slot=0)
    h.scheduler.process(CompletionEvent(w1, second.tid, TaskSuccess(b""), payload=dumps("x"),
                                        metrics=measured))
    (retry_worker, retry), = h.new_launches()
    h.scheduler.process(CompletionEvent(retry_worker, retry.tid, TaskSuccess(b""),
                                        payload=dumps("y"), metrics=TaskMetrics(input_records=3)))
    record = snapshot(h, stage).stages[stage]
    tasks = record.tasks
    assert tasks[first.tid].status == "FAILED"
    assert tasks[first.tid].error == "ValueError: bad <record>"
    assert tasks[second.tid].status == "SUCCESS" and tasks[second.tid].metrics == measured
    assert (tasks[retry.tid].partition, tasks[retry.tid].attempt) == (0, 1)
    assert all(t.finished >= t.launched for t in tasks.values())
    assert record.totals["input_records"] == 8, "the sum over successful attempts"
    assert record.totals["result_size"] == 9


def test_attempts_on_a_lost_worker_are_lost_and_their_late_reports_change_nothing():
    h = Harness()
    h.submit(h.rdd(2))
    launches = dict((task.partition, (worker, task)) for worker, task in h.new_launches())
    worker, task = launches[0]
    h.lose(worker)
    h.scheduler.process(CompletionEvent(worker, task.tid, TaskSuccess(b""), payload=dumps(1)))
    record = snapshot(h, task.stage_id).stages[task.stage_id].tasks[task.tid]
    assert record.status == "LOST" and worker in record.error and "SIGKILL" in record.error


def test_a_killed_attempt_is_recorded_with_its_reason():
    h = Harness()
    h.submit(h.rdd(1))
    (worker, task), = h.new_launches()
    h.scheduler.process(CompletionEvent(worker, task.tid, TaskKilled("speculative copy lost")))
    record = snapshot(h, task.stage_id).stages[task.stage_id].tasks[task.tid]
    assert (record.status, record.error) == ("KILLED", "speculative copy lost")


def test_a_resubmitted_stage_keeps_the_tasks_of_its_earlier_attempt():
    h = Harness()
    pairs = h.rdd(2).map(lambda x: (x, 1))
    h.submit(pairs.reduceByKey(add, 2))
    for worker, task in h.new_launches():
        h.finish_map(worker, task)
    reduce_worker, reduce_task = h.new_launches()[0]
    h.fetch_fail(reduce_worker, reduce_task, 0, 0)
    h.clock.advance(1.0)
    h.scheduler.fire_timers()
    for worker, task in h.new_launches():
        if task.stage_id == reduce_task.stage_id:
            continue
        h.finish_map(worker, task)
    record = snapshot(h, reduce_task.stage_id).stages[reduce_task.stage_id]
    assert record.attempt == 1
    assert record.tasks[reduce_task.tid].status == "FETCH_FAILED"
    assert record.tasks[reduce_task.tid].stage_attempt == 0
    assert {t.stage_attempt for t in record.tasks.values()} == {0, 1}


def test_a_job_record_holds_each_stage_s_shape_with_shuffles_and_cached_rdds():
    h = Harness()
    pairs = h.rdd(2).map(lambda x: (x, 1)).setName("pairs")
    pairs._storage_level = StorageLevel.MEMORY_ONLY  # persisted, as cache() marks it
    h.submit(pairs.reduceByKey(add, 2).map(lambda kv: kv[1]))
    job = next(iter(h.scheduler.status.jobs.values()))
    shapes = job.shapes
    map_stage, result_stage = sorted(shapes)
    assert shapes[result_stage].parents == (map_stage,), "one shuffle arrow, map to result"
    assert shapes[map_stage].kind == "shuffle map" and shapes[result_stage].kind == "result"
    map_rdds = shapes[map_stage].rdds
    assert [n.label for n in map_rdds][:2] == ["parallelize", "map"]
    cached = [n for n in map_rdds if n.cached]
    assert [(n.id, n.name) for n in cached] == [(pairs.id(), "pairs")]
    assert all(n.parents == (map_rdds[i - 1].id,) for i, n in enumerate(map_rdds) if i)
    first = shapes[result_stage].rdds[0]
    assert first.shuffle == shapes[map_stage].shuffle_id and first.parents == ()
    assert shapes[result_stage].rdds[-1].label == "reduceByKey, map", "a fused pipeline's operations"


def test_task_records_are_trimmed_to_the_retained_count(monkeypatch):
    monkeypatch.setattr(status, "RETAINED_TASKS", 3)
    h = Harness()
    for _ in range(3):
        h.submit(h.rdd(2))
        for worker, task in h.new_launches():
            h.finish(worker, task, 0)
    copy = h.scheduler.status.snapshot({}, tasks_of=tuple(h.scheduler.status.stages))
    kept = sorted(tid for s in copy.stages.values() for tid in s.tasks)
    assert kept == [3, 4, 5], "the newest attempts"
