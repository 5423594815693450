"""The DAGScheduler as a state machine: events in, requests to the backend
out. No thread, no processes, no sockets; the RDDs are never computed."""

from __future__ import annotations

import pickle
from array import array
from operator import add

import pytest

from ember.engine.clock import ManualClock
from ember.engine.wire.closure import Closure
from ember.engine.errors import (
    IndeterminateStageError, JobAbortedError, JobCancelledError, RemoteTraceback, ResultTooLargeError,
    TaskFailedError, WorkerLostError,
)
from ember.engine.wire.protocol import PeerLost
from ember.engine.api.rdds import ParallelCollectionRDD
from ember.engine.wire.serializer import dumps, loads
from ember.engine.data.shuffle import MapStatus
from ember.engine.wire.task import ExceptionFailure, FetchFailure, TaskSuccess, describe_exception
from ember.scheduler.dag_scheduler import DAGScheduler
from ember.scheduler.events import CompletionEvent, ExecutorAdded, ExecutorLost
from benchmarks.scheduler_scale import BareContext


class FakeBackend:
    def __init__(self):
        self.launched = []  # (worker, TaskDescription, has binary)
        self.killed = []
        self.broadcasts = []
        self.binaries = {}
        self.commit_answers = []

    def launch(self, worker_id, task, split, binary):
        if binary is not None:
            self.binaries[task.binary_id] = binary
        self.launched.append((worker_id, task))

    def kill(self, worker_id, tid, started=True):
        self.killed.append((worker_id, tid) if started else (worker_id, tid, "waiting"))

    def remove_binary(self, worker_id, binary_id):
        pass

    def answer_commit(self, worker_id, tid, allowed):
        self.commit_answers.append((worker_id, tid, allowed))

    def broadcast(self, message):
        self.broadcasts.append(message)


class Harness:
    def __init__(self, workers=("w-0", "w-1"), cores=1, **options):
        self.ctx = BareContext()
        self.backend = FakeBackend()
        self.clock = ManualClock()
        options.setdefault("locality_wait", 0.0)
        self.scheduler = DAGScheduler(self.backend, clock=self.clock, **options)
        for worker in workers:
            self.add_worker(worker, cores)
        self.seen = 0

    def add_worker(self, worker, cores=1):
        self.scheduler.process(ExecutorAdded(worker, "localhost", cores, f"tcp://{worker}"))

    def rdd(self, partitions=2):
        return ParallelCollectionRDD(self.ctx, [dumps([i]) for i in range(partitions)], "test:1", 1)

    def submit(self, rdd, partitions=None):
        partitions = list(range(rdd.getNumPartitions())) if partitions is None else partitions
        waiter = self.scheduler.submit_job(self.scheduler.new_job(len(partitions)), rdd,
                                           Closure(list, []), partitions, {}, "test:1")
        self.scheduler.process(self.scheduler._queue.get())
        return waiter

    def new_launches(self):
        launches = self.backend.launched[self.seen:]
        self.seen = len(self.backend.launched)
        return launches

    def stage_binary(self, task):
        return loads(self.backend.binaries[task.binary_id])

    def finish(self, worker, task, value=None):
        self.scheduler.process(CompletionEvent(worker, task.tid, TaskSuccess(b""), payload=dumps(value)))

    def finish_map(self, worker, task, reduce_partitions=2, content=0):
        sizes = array("Q", [1] * reduce_partitions).tobytes()
        checksums = array("I", [content] * reduce_partitions).tobytes()
        status = MapStatus(worker, f"tcp://{worker}", task.tid, sizes, checksums)
        self.scheduler.process(CompletionEvent(worker, task.tid, TaskSuccess(b""), payload=dumps(status)))

    def fail(self, worker, task, error=ValueError("bad record")):
        try:
            raise error
        except Exception as raised:  # noqa: BLE001 - to give it a traceback
            failure = describe_exception(raised)
        self.scheduler.process(CompletionEvent(worker, task.tid, failure))

    def fetch_fail(self, worker, task, shuffle_id, map_index, source="w-0"):
        failure = FetchFailure(shuffle_id, map_index, task.partition, source, "block missing")
        self.scheduler.process(CompletionEvent(worker, task.tid, failure))

    def lose(self, worker, reason="killed by SIGKILL"):
        self.scheduler.process(ExecutorLost(worker, reason))


def results(waiter):
    return [loads(payload) for payload in waiter.wait(0)]


def test_single_stage_job_launches_one_task_per_partition_and_returns_in_order():
    h = Harness()
    waiter = h.submit(h.rdd(2))
    launches = h.new_launches()
    assert sorted(t.partition for _, t in launches) == [0, 1]
    assert {w for w, _ in launches} == {"w-0", "w-1"}
    for worker, task in reversed(launches):
        h.finish(worker, task, f"p{task.partition}")
    assert results(waiter) == ["p0", "p1"]
    assert not h.scheduler.stages and not h.scheduler.running and not h.scheduler.jobs


def test_more_tasks_than_slots_run_as_slots_free():
    h = Harness(workers=("w-0",))
    waiter = h.submit(h.rdd(3))
    assert len(h.new_launches()) == 1
    for _ in range(3):
        (worker, task), = h.backend.launched[-1:]
        h.finish(worker, task, task.partition)
    assert results(waiter) == [0, 1, 2]
    assert h.scheduler.tasks.launches == 3


def test_reduce_stage_waits_for_every_map_output_and_receives_their_locations():
    h = Harness()
    reduced = h.rdd(2).map(lambda x: (x, 1)).reduceByKey(add, 2)
    waiter = h.submit(reduced)
    maps = h.new_launches()
    assert len(maps) == 2 and all(h.stage_binary(t).kind == "shuffle_map" for _, t in maps)
    h.finish_map(*maps[0])
    assert h.new_launches() == []  # one map output still missing
    h.finish_map(*maps[1])
    reduces = h.new_launches()
    assert len(reduces) == 2
    binary = h.stage_binary(reduces[0][1])
    assert binary.kind == "result"
    (locations,) = binary.map_outputs.values()
    assert [status.worker_id for status in locations] == [maps[0][0], maps[1][0]]
    for worker, task in reduces:
        h.finish(worker, task, task.partition)
    assert results(waiter) == [0, 1]


def test_second_job_skips_a_map_stage_whose_outputs_exist():
    h = Harness()
    reduced = h.rdd(2).map(lambda x: (x, 1)).reduceByKey(add, 2)
    first = h.submit(reduced)
    for worker, task in h.new_launches():
        h.finish_map(worker, task)
    for worker, task in h.new_launches():
        h.finish(worker, task)
    first.wait(0)
    second = h.submit(reduced, [1])
    launches = h.new_launches()
    assert [(h.stage_binary(t).kind, t.partition) for _, t in launches] == [("result", 1)]
    h.finish(*launches[0], "again")
    assert results(second) == ["again"]


def test_task_exception_retried_then_job_fails_with_original_type_and_remote_traceback():
    h = Harness(max_failures=4)
    waiter = h.submit(h.rdd(1))
    for attempt in range(4):
        (worker, task), = h.new_launches()
        assert task.attempt == attempt
        h.fail(worker, task, KeyError("missing-key"))
    with pytest.raises(KeyError) as raised:
        waiter.wait(0)
    assert isinstance(raised.value.__cause__, RemoteTraceback)
    assert "missing-key" in str(raised.value.__cause__)
    note = "\n".join(getattr(raised.value, "__notes__", []))
    assert "partition 0" in note and "stage" in note and "4 times" in note
    assert h.scheduler.tasks.launches == 4
    assert not h.scheduler.jobs and not h.scheduler.stages


def test_task_failing_once_succeeds_on_retry():
    h = Harness()
    waiter = h.submit(h.rdd(2))
    first = h.new_launches()
    h.fail(*first[0])
    h.finish(*first[1], "ok1")
    (worker, retry), = h.new_launches()
    assert retry.partition == first[0][1].partition and retry.attempt == 1
    h.finish(worker, retry, "ok0")
    assert sorted(results(waiter)) == ["ok0", "ok1"]
    assert h.scheduler.tasks.launches == 3  # partitions + 1


def test_unpicklable_exception_arrives_as_task_failed_error_with_text():
    h = Harness(max_failures=1)
    waiter = h.submit(h.rdd(1))
    (worker, task), = h.new_launches()
    failure = ExceptionFailure("mymodule.Weird", "cannot travel", "Traceback...\nWeird: cannot travel", None)
    h.scheduler.process(CompletionEvent(worker, task.tid, failure))
    with pytest.raises(TaskFailedError, match="mymodule.Weird: cannot travel") as raised:
        waiter.wait(0)
    assert raised.value.exc_type == "mymodule.Weird"
    assert "Traceback" in raised.value.remote_traceback


def test_fetch_failure_resubmits_only_the_missing_map_partition_then_the_reduce_stage():
    h = Harness(workers=("w-0", "w-1", "w-2"))
    reduced = h.rdd(3).map(lambda x: (x, 1)).reduceByKey(add, 2)
    waiter = h.submit(reduced)
    for launch in h.new_launches():
        h.finish_map(*launch)
    reduces = h.new_launches()
    assert len(reduces) == 2
    lost_map = 1
    h.fetch_fail(*reduces[0], 0, lost_map)
    h.finish(*reduces[1], f"r{reduces[1][1].partition}")  # the other reducer was unaffected
    assert h.new_launches() == []  # resubmission waits for its timer
    h.clock.advance(1)
    h.scheduler.fire_timers()
    rerun = h.new_launches()
    assert [(h.stage_binary(t).kind, t.partition) for _, t in rerun] == [("shuffle_map", lost_map)]
    h.finish_map(*rerun[0])
    final = h.new_launches()
    assert [(h.stage_binary(t).kind, t.partition) for _, t in final] == \
        [("result", reduces[0][1].partition)]
    h.finish(*final[0], f"r{final[0][1].partition}")
    assert results(waiter) == ["r0", "r1"]
    assert h.scheduler.tasks.launches == 3 + 2 + 1 + 1


def test_late_fetch_failures_from_the_same_attempt_resubmit_once():
    h = Harness(workers=("w-0", "w-1", "w-2"))
    reduced = h.rdd(1).map(lambda x: (x, 1)).reduceByKey(add, 3)
    waiter = h.submit(reduced)
    h.finish_map(*h.new_launches()[0], reduce_partitions=3)
    reduces = h.new_launches()
    for launch in reduces:
        h.fetch_fail(*launch, 0, 0)
    assert reduces[0][1].stage_id in {s.id for s in h.scheduler.failed}
    h.clock.advance(1)
    h.scheduler.fire_timers()
    rerun = h.new_launches()
    assert len(rerun) == 1, "the map task is rerun once, not once per failed reducer"
    h.finish_map(*rerun[0], reduce_partitions=3)
    for worker, task in h.new_launches():
        h.finish(worker, task, task.partition)
    assert results(waiter) == [0, 1, 2]
    assert h.scheduler.stages == {}


def test_stage_failing_on_fetch_four_times_in_a_row_aborts_naming_the_stage_and_limit():
    h = Harness(max_stage_attempts=4)
    reduced = h.rdd(1).map(lambda x: (x, 1)).reduceByKey(add, 1)
    waiter = h.submit(reduced)
    for _ in range(4):
        h.finish_map(*h.new_launches()[0], reduce_partitions=1)
        (reducer,) = h.new_launches()
        h.fetch_fail(*reducer, 0, 0)
        h.clock.advance(1)
        h.scheduler.fire_timers()
    with pytest.raises(JobAbortedError, match=r"failed 4 times in a row.*maxConsecutiveAttempts = 4"):
        waiter.wait(0)


def test_lost_worker_tasks_rerun_elsewhere_without_counting_a_failure():
    h = Harness(max_failures=1)  # one charged failure would abort the job
    waiter = h.submit(h.rdd(2))
    launches = {worker: task for worker, task in h.new_launches()}
    h.lose("w-0")
    assert PeerLost("w-0") in h.backend.broadcasts
    assert h.new_launches() == []  # the only other slot is busy
    h.finish("w-1", launches["w-1"], f"p{launches['w-1'].partition}")
    (worker, rerun), = h.new_launches()
    assert (worker, rerun.partition, rerun.attempt) == ("w-1", launches["w-0"].partition, 1)
    h.finish(worker, rerun, f"p{rerun.partition}")
    assert results(waiter) == ["p0", "p1"]


def test_results_from_a_lost_worker_are_dropped():
    h = Harness()
    waiter = h.submit(h.rdd(2))
    launches = dict(h.new_launches())
    h.lose("w-0")
    h.finish("w-0", launches["w-0"], "zombie")  # late result from the declared-lost worker
    h.finish("w-1", launches["w-1"], "b")
    (worker, rerun), = h.new_launches()
    h.finish(worker, rerun, "a")
    assert results(waiter) == ["a", "b"] if launches["w-0"].partition == 0 else ["b", "a"]


def test_map_outputs_on_a_lost_worker_are_recomputed_before_the_reduce_stage():
    h = Harness()
    reduced = h.rdd(2).map(lambda x: (x, 1)).reduceByKey(add, 1)
    waiter = h.submit(reduced)
    maps = dict(h.new_launches())
    h.finish_map("w-0", maps["w-0"], 1)
    h.lose("w-0")  # its finished output is gone before the stage completes
    h.finish_map("w-1", maps["w-1"], 1)
    rerun = h.new_launches()
    assert [(w, t.partition) for w, t in rerun] == [("w-1", maps["w-0"].partition)]
    h.finish_map(*rerun[0], 1)
    (reducer,) = h.new_launches()
    assert all(s.worker_id == "w-1" for s in h.stage_binary(reducer[1]).map_outputs[0])
    h.finish(*reducer, "done")
    assert results(waiter) == ["done"]


def test_task_that_kills_four_workers_fails_the_job_as_worker_lost():
    h = Harness(workers=("w-0",), max_failures=1, max_worker_deaths=4)
    waiter = h.submit(h.rdd(1))
    for n in range(4):
        (worker, task), = h.new_launches()
        h.lose(worker, "killed by SIGSEGV")
        h.add_worker(f"w-{n + 1}")
    with pytest.raises(WorkerLostError, match=r"partition 0 .* failed 4 times: worker exited "
                                              r"unexpectedly \(killed by SIGSEGV\)"):
        waiter.wait(0)


def test_duplicate_success_for_a_partition_counts_once():
    h = Harness()
    waiter = h.submit(h.rdd(1))
    (worker, task), = h.new_launches()
    h.finish(worker, task, "first")
    h.finish(worker, task, "again")
    assert results(waiter) == ["first"]


def test_result_size_limit_fails_the_job_with_a_named_error():
    h = Harness(max_result_size=100)
    waiter = h.submit(h.rdd(2))
    for worker, task in h.new_launches():
        h.finish(worker, task, "x" * 80)
    with pytest.raises(ResultTooLargeError, match="maxResultSize"):
        waiter.wait(0)


def test_cancelled_job_fails_its_waiter_and_kills_its_tasks():
    h = Harness()
    waiter = h.submit(h.rdd(2))
    h.new_launches()
    h.scheduler.cancel_job(waiter.job_id, "user asked")
    h.scheduler.process(h.scheduler._queue.get())
    with pytest.raises(JobCancelledError, match="user asked"):
        waiter.wait(0)
    assert len(h.backend.killed) == 2
    assert not h.scheduler.stages and not h.scheduler.tasks.task_sets


def test_cached_partition_prefers_the_worker_that_holds_it():
    h = Harness(locality_wait=3.0)
    cached = h.rdd(2).map(lambda x: x).cache()
    first = h.submit(cached)
    for worker, task in h.new_launches():
        h.scheduler.process(CompletionEvent(worker, task.tid, TaskSuccess(b"", [(cached._id, task.partition)]),
                                            payload=dumps(0)))
    first.wait(0)
    holders = {p: next(iter(h.scheduler.cache.locations(cached._id, p))) for p in (0, 1)}
    h.submit(cached)
    assert {t.partition: w for w, t in h.new_launches()} == holders


def test_delay_scheduling_waits_for_the_local_worker_then_runs_anywhere():
    h = Harness(workers=("w-0", "w-1"), locality_wait=3.0)
    cached = h.rdd(2).cache()
    first = h.submit(cached)
    for worker, task in h.new_launches():
        h.scheduler.process(CompletionEvent("w-0", task.tid, TaskSuccess(b"", [(cached._id, task.partition)]),
                                            payload=dumps(0))) \
            if worker == "w-0" else h.finish(worker, task, 0)
    first.wait(0)
    for partition in (0, 1):  # pretend w-0 holds both partitions
        h.scheduler.cache.add("w-0", cached._id, partition)
    second = h.submit(cached)
    launched = h.new_launches()
    assert [w for w, _ in launched] == ["w-0"], "w-1 waits: both partitions prefer w-0"
    h.clock.advance(3.5)
    h.scheduler.fire_timers()
    (late,) = h.new_launches()
    assert late[0] == "w-1"
    h.finish(*launched[0], 0)
    h.finish(*late, 0)
    assert results(second) == [0, 0]


def test_events_from_unknown_tasks_are_ignored():
    h = Harness()
    h.scheduler.process(CompletionEvent("w-0", 999, TaskSuccess(b""), payload=dumps(1)))
    h.scheduler.process(ExecutorLost("w-9", "never registered"))
    assert not h.scheduler.jobs and h.backend.broadcasts == []


def test_every_scheduler_error_pickles():
    for error in (JobAbortedError("x"), WorkerLostError("y"), ResultTooLargeError("z"),
                  TaskFailedError("t", exc_type="E", remote_traceback="tb"), RemoteTraceback("tb")):
        clone = pickle.loads(pickle.dumps(error))
        assert type(clone) is type(error) and str(clone) == str(error)
        assert clone.__dict__ == error.__dict__


def test_worker_deaths_spread_over_many_tasks_are_not_blamed_on_one():
    h = Harness(workers=("w-0", "w-1"), max_worker_deaths=2)
    waiter = h.submit(h.rdd(2))
    on = {task.partition: worker for worker, task in h.new_launches()}
    h.lose(on[0])                      # partition 0: first death
    h.add_worker("w-2")
    on.update({t.partition: w for w, t in h.new_launches()})
    h.lose(on[1])                      # a death elsewhere: partition 0's streak ends
    h.add_worker("w-3")
    on.update({t.partition: w for w, t in h.new_launches()})
    h.lose(on[0])                      # partition 0 again: a new streak of one, not two
    h.add_worker("w-4")
    running = dict(h.new_launches())
    running.update({w: t for w, t in h.backend.launched if w == on[1]})
    for worker, task in running.items():
        h.finish(worker, task, task.partition)
    assert results(waiter) == [0, 1]


def test_a_task_killing_every_worker_it_runs_on_is_blamed():
    h = Harness(workers=("w-0", "w-1"), max_worker_deaths=2)
    waiter = h.submit(h.rdd(2))
    on = {task.partition: worker for worker, task in h.new_launches()}
    h.finish(on[1], next(t for w, t in h.backend.launched if t.partition == 1), 1)
    h.lose(on[0])
    (worker, retry), = h.new_launches()
    h.lose(worker)
    with pytest.raises(WorkerLostError, match="failed 2 times"):
        waiter.wait(0)


def run_until_first_result_then_lose_a_map_output(h, reduced):
    waiter = h.submit(reduced)
    maps = h.new_launches()
    for launch in maps:
        h.finish_map(*launch, content=1)
    reduces = h.new_launches()
    h.finish(*reduces[0], "used the first output")
    h.fetch_fail(*reduces[1], 0, 0)
    h.clock.advance(1)
    h.scheduler.fire_timers()
    (rerun,) = h.new_launches()
    return waiter, rerun


def test_recomputed_map_output_that_differs_aborts_a_job_that_used_the_old_one():
    h = Harness()
    waiter, rerun = run_until_first_result_then_lose_a_map_output(h, h.rdd(2).map(lambda x: (x, 1)).partitionBy(2))
    h.finish_map(*rerun, content=2)  # not the same bytes as the first time
    with pytest.raises(IndeterminateStageError, match="produced different output.*1 of 2 partitions"):
        waiter.wait(0)


def test_recomputed_map_output_that_is_the_same_completes_the_job():
    h = Harness()
    waiter, rerun = run_until_first_result_then_lose_a_map_output(h, h.rdd(2).map(lambda x: (x, 1)).partitionBy(2))
    h.finish_map(*rerun, content=1)
    (last,) = h.new_launches()
    h.finish(*last, "second")
    assert results(waiter) == ["used the first output", "second"]


def test_changed_map_output_recomputes_every_partition_of_a_downstream_map_stage():
    h = Harness()
    first = h.rdd(2).map(lambda x: (x, 1)).partitionBy(2)
    second = first.map(lambda kv: kv).partitionBy(2)
    waiter = h.submit(second)
    for launch in h.new_launches():
        h.finish_map(*launch, content=1)  # stage 0
    middle = h.new_launches()
    h.finish_map(*middle[0], content=1)  # stage 1, partition A done
    h.fetch_fail(*middle[1], 0, 0)      # stage 1, partition B lost stage 0's map 0
    h.clock.advance(1)
    h.scheduler.fire_timers()
    (rerun,) = h.new_launches()
    h.finish_map(*rerun, content=9)     # stage 0 map 0 changed
    again = h.new_launches()
    assert sorted(t.partition for _, t in again) == [0, 1], "all of stage 1 runs again"
    for launch in again:
        h.finish_map(*launch, content=1)
    for worker, task in h.new_launches():
        h.finish(worker, task, task.partition)
    assert results(waiter) == [0, 1]


def test_outputs_of_an_earlier_attempt_lost_while_a_later_attempt_runs_are_recomputed():
    h = Harness(workers=("w-0", "w-1", "w-2"))
    reduced = h.rdd(3).map(lambda x: (x, 1)).reduceByKey(add, 1)
    waiter = h.submit(reduced)
    maps = {t.partition: (w, t) for w, t in h.new_launches()}
    for partition in (0, 1, 2):
        h.finish_map(*maps[partition], reduce_partitions=1)
    (reducer,) = h.new_launches()
    h.fetch_fail(*reducer, 0, 2)            # map 2's output is gone: attempt 1 reruns map 2 only
    h.clock.advance(1)
    h.scheduler.fire_timers()
    (rerun,) = h.new_launches()
    assert rerun[1].partition == 2
    lost = next(p for p in (0, 1) if maps[p][0] != rerun[0])
    h.lose(maps[lost][0])                   # an output of attempt 0 dies meanwhile
    h.finish_map(*rerun, reduce_partitions=1)
    (again,) = h.new_launches()
    assert again[1].partition == lost, "the lost output of the earlier attempt is recomputed"
    h.finish_map(*again, reduce_partitions=1)
    (final,) = h.new_launches()
    h.finish(*final, "done")
    assert results(waiter) == ["done"]


def test_outputs_lost_after_the_current_attempt_finished_all_its_tasks_are_recomputed():
    h = Harness(workers=("w-0", "w-1", "w-2"))
    reduced = h.rdd(3).map(lambda x: (x, 1)).reduceByKey(add, 1)
    waiter = h.submit(reduced)
    maps = {t.partition: (w, t) for w, t in h.new_launches()}
    h.finish_map(*maps[0], reduce_partitions=1)
    h.finish_map(*maps[1], reduce_partitions=1)
    h.lose(maps[0][0])                      # map 0's output is lost while map 2 still runs
    h.lose(maps[1][0])                      # and map 1's
    h.add_worker("w-3")
    h.add_worker("w-4")
    for launch in h.new_launches():         # this attempt reruns 0 and 1 itself
        h.finish_map(*launch, reduce_partitions=1)
    h.finish_map(*maps[2], reduce_partitions=1)
    (final,) = h.new_launches()
    h.finish(*final, "done")
    assert results(waiter) == ["done"]


def test_failures_of_a_zombie_attempt_after_a_fetch_failure_do_not_abort_the_job():
    h = Harness(workers=("w-0", "w-1", "w-2"), max_failures=1)
    reduced = h.rdd(1).map(lambda x: (x, 1)).reduceByKey(add, 2)
    waiter = h.submit(reduced)
    h.finish_map(*h.new_launches()[0])
    first, second = h.new_launches()
    h.fetch_fail(*first, 0, 0)                  # the attempt becomes a zombie
    h.fail(*second, RuntimeError("late failure of the zombie attempt"))
    h.clock.advance(1)
    h.scheduler.fire_timers()
    h.finish_map(*h.new_launches()[0])
    for worker, task in h.new_launches():
        h.finish(worker, task, task.partition)
    assert results(waiter) == [0, 1]
