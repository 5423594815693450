"""DAGScheduler: from an action to stages, and from stages to task sets.

One thread, the event loop, owns every piece of scheduling state; other
threads only ``post`` typed events (``ember.scheduler.events``) and wait on
a ``JobWaiter``. There are no locks in the scheduling logic. Each event has one
short handler. Tests drive ``process(event)`` directly with a fake backend,
no thread and no processes.

State (all owned by the loop):

* ``jobs``: active jobs by id; each has a ``ResultStage`` over the partitions
  the action asked for, and records which of them have finished.
* ``stages``, ``shuffle_stages``: every live stage, and the map stage of each
  shuffle id. A map stage is shared by every job that needs its shuffle; a
  stage is dropped when no active job needs it any more (its map outputs stay
  in the MapOutputTracker and let later jobs skip it).
* ``waiting`` (parents not ready), ``running`` (a task set is live),
  ``failed`` (to be resubmitted after a fetch failure).
* ``task_sets``: the live TaskSetManager of each running stage.
* ``map_outputs`` (MapOutputTracker), ``cache`` (CacheTracker), ``tasks``
  (TaskScheduler: workers and slots).

Policy:

* A stage is submitted when all its parent map stages are available; the
  tasks are only the partitions still missing.
* Task exceptions are retried by the TaskSetManager up to ``max_failures``,
  then the stage aborts and every job depending on it fails with the user's
  exception type and the worker's traceback as its cause.
* A fetch failure marks the reading stage failed, forgets the missing map
  output, and resubmits both stages after a short delay; a stage that fails
  this way ``max_stage_attempts`` attempts in a row aborts its jobs.
* A lost worker: its running tasks are rerun elsewhere without being charged
  a failure (unless one task was running on ``max_worker_deaths`` dead
  workers: it is then taken to be what kills them), its map outputs and cached blocks are forgotten (epoch bump), and
  the other workers are told, so their fetches from it fail fast.
* Results and map outputs are accepted only from the live worker that runs
  the current attempt (``TaskScheduler.task_ended``); anything else is stale.
* Speculation (optional): stragglers get a copy; when one attempt of a task
  succeeds, the others are killed.
* Barrier stages: all tasks launch together (a stage needing more slots than
  the cluster has fails at once); their barrier()/allGather() calls are
  answered when every task arrived; any failure kills the others and reruns
  the whole stage, up to ``max_stage_attempts`` attempts in a row.
* Output commit: a task that publishes output (``saveAsTextFile``) asks first;
  per (stage, partition) the first live attempt to ask is authorized and every
  other is denied, until the authorized attempt fails. So exactly one attempt's
  output is published per partition, whatever retries and copies ran.

Review checklist for a change here:

1. Does every path that ends a job call the waiter exactly once?
2. Is a stage removed from ``waiting``/``running``/``failed`` and its task set
   from the TaskScheduler when no job needs it?
3. Can a late event (from a lost worker, an old stage attempt, a finished
   job) change state? It must be dropped or be harmless.
4. Is a worker's death ever charged as a task failure? Only through the
   "task killed max_failures workers" rule.
5. Does the handler stay short, with no blocking call and no user code run on
   the loop thread beyond unpickling a map status?
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import threading
from typing import Any, Callable

from ember.engine.api.accumulators import AccumulatorRegistry
from ember.engine.clock import SYSTEM_CLOCK, Clock
from ember.engine.wire.closure import Closure
from ember.engine.api.dependency import NarrowDependency, ShuffleDependency
from ember.engine.errors import (
    JobAbortedError,
    IndeterminateStageError,
    JobCancelledError,
    NoWorkersError,
    RemoteTraceback,
    ResultTooLargeError,
    TaskFailedError,
    WorkerLostError,
)
from ember.engine.wire.protocol import PeerLost, RemoveRdd, RemoveShuffle
from ember.engine.wire.serializer import dumps, loads
from ember.engine.api.storage import StorageLevel
from ember.engine.wire.task import (
    RESULT,
    SHUFFLE_MAP,
    ExceptionFailure,
    FetchFailure,
    TaskKilled,
    TaskSuccess,
    make_binary,
)
from ember.scheduler.cache_tracker import CacheTracker
from ember.scheduler.events import (
    AskCommit,
    BarrierSync,
    CheckSpeculation,
    ClusterFailed,
    CompletionEvent,
    ExecutorAdded,
    ExecutorLost,
    JobCancelled,
    JobsCancelled,
    JobSubmitted,
    RddUnpersisted,
    ResubmitFailedStages,
    Revive,
    RunOnLoop,
    ShuffleReleased,
    StopLoop,
)
from ember.scheduler.job import ActiveJob, JobWaiter
from ember.scheduler.map_output_tracker import MapOutputTracker
from ember.scheduler.stage import ResultStage, ShuffleMapStage, Stage
from ember.scheduler.stage_graph import shape_of
from ember.scheduler.status import JobRecord, StageProgress, StatusRecords, job_progress
from ember.scheduler.task_scheduler import TaskScheduler
from ember.scheduler.task_set_manager import Speculation, TaskSetManager, TaskSpec

log = logging.getLogger("ember.scheduler")


class DAGScheduler:
    def __init__(self, backend: Any, *, max_failures: int = 4, max_worker_deaths: int = 4,
                 max_stage_attempts: int = 4,
                 locality_wait: float = 3.0, max_result_size: int = 1 << 30,
                 resubmit_delay: float = 0.2, clock: Clock = SYSTEM_CLOCK,
                 accumulators: AccumulatorRegistry | None = None,
                 speculation: Speculation | None = None, speculation_interval: float = 0.1,
                 profiles: Any = None):
        self.backend = backend
        self.clock = clock
        self.max_failures = max_failures
        self.max_worker_deaths = max_worker_deaths
        self.max_stage_attempts = max_stage_attempts
        self.locality_wait = locality_wait
        self.max_result_size = max_result_size
        self.resubmit_delay = resubmit_delay
        self.accumulators = accumulators if accumulators is not None else AccumulatorRegistry()
        self.profiles = profiles  # a ProfileCollector when spark.python.profile is on
        self.speculation = speculation
        self.speculation_interval = speculation_interval
        self._speculation_scheduled = False
        self.commit_rights: dict[tuple[int, int], int] = {}  # (stage, partition) -> tid
        self.status = StatusRecords()
        self.map_outputs = MapOutputTracker()
        self.cache = CacheTracker()
        self.tasks = TaskScheduler(backend, on_launch=self.status.task_launched)
        self.jobs: dict[int, ActiveJob] = {}
        self.stages: dict[int, Stage] = {}
        self.shuffle_stages: dict[int, ShuffleMapStage] = {}
        self.waiting: set[Stage] = set()
        self.running: set[Stage] = set()
        self.failed: set[Stage] = set()
        self.task_sets: dict[Stage, TaskSetManager] = {}
        self._job_ids = itertools.count()
        self._stage_ids = itertools.count()
        self._binary_ids = itertools.count()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._timers: list[tuple[float, int, Any]] = []
        self._timer_seq = itertools.count()
        self._revive_at: float | None = None
        self.cluster_failure: str | None = None
        self._resubmit_scheduled = False
        self._thread: threading.Thread | None = None
        self._handlers = {
            JobSubmitted: self._on_job_submitted,
            JobCancelled: self._on_job_cancelled,
            JobsCancelled: self._on_jobs_cancelled,
            CompletionEvent: self._on_completion,
            ExecutorAdded: self._on_executor_added,
            ExecutorLost: self._on_executor_lost,
            ResubmitFailedStages: self._on_resubmit_failed_stages,
            ShuffleReleased: self._on_shuffle_released,
            ClusterFailed: self._on_cluster_failed,
            AskCommit: self._on_ask_commit,
            BarrierSync: self._on_barrier_sync,
            CheckSpeculation: self._on_check_speculation,
            RddUnpersisted: self._on_rdd_unpersisted,
            Revive: lambda event: None,
            RunOnLoop: lambda event: event.call(),
        }

    # --- the loop -------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ember-dag-scheduler", daemon=True)
        self._thread.start()

    def post(self, event: Any) -> None:
        self._queue.put(event)

    def stop(self) -> None:
        if self._thread is not None:
            self.post(StopLoop())
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while True:
            timeout = None
            if self._timers:
                timeout = max(0.0, self._timers[0][0] - self.clock.monotonic())
            try:
                event = self._queue.get(timeout=timeout)
            except queue.Empty:
                event = None
            if isinstance(event, StopLoop):
                self._fail_all(JobAbortedError("the Context was stopped while the job ran"))
                return
            try:
                if event is not None:
                    self.process(event)
                self.fire_timers()
            except Exception:  # noqa: BLE001 - the loop must survive a handler bug
                log.exception("scheduler error while handling %r", event)

    def process(self, event: Any) -> None:
        """Handle one event, then offer free slots (the loop's unit of work).
        A task's success or a new worker can only have freed slots: only
        those are offered (see ``TaskScheduler.revive``)."""
        self._handlers[type(event)](event)
        targeted = isinstance(event, ExecutorAdded) or (
            isinstance(event, CompletionEvent) and isinstance(event.outcome, TaskSuccess))
        self._offer_slots(full=not targeted)

    def fire_timers(self) -> None:
        now = self.clock.monotonic()
        while self._timers and self._timers[0][0] <= now:
            _, _, event = heapq.heappop(self._timers)
            if isinstance(event, Revive):
                self._revive_at = None
            self.process(event)

    def _schedule(self, delay: float, event: Any) -> None:
        heapq.heappush(self._timers, (self.clock.monotonic() + delay, next(self._timer_seq), event))

    def _offer_slots(self, full: bool = True) -> None:
        now = self.clock.monotonic()
        self.tasks.revive(now, full)
        if self.tasks.has_free_slots():
            deadline = self.tasks.next_deadline()
            if deadline is not None and deadline > now and (
                    self._revive_at is None or deadline < self._revive_at):
                self._revive_at = deadline
                self._schedule(deadline - now, Revive())

    # --- API for other threads ------------------------------------------------

    def new_job(self, tasks: int) -> JobWaiter:
        """The waiter of a job about to be submitted, with its id."""
        return JobWaiter(next(self._job_ids), tasks)

    def submit_job(self, waiter: JobWaiter, rdd: Any, func: Closure, partitions: list[int],
                   properties: dict, callsite: str) -> JobWaiter:
        self.post(JobSubmitted(ActiveJob(waiter.job_id, rdd, func, partitions, waiter,
                                         properties, callsite)))
        return waiter

    def cancel_job(self, job_id: int, reason: str) -> None:
        self.post(JobCancelled(job_id, reason))

    def query(self, call: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Run ``call`` on the loop thread and return its result (for readers
        of scheduling state on other threads)."""
        done = threading.Event()
        box: list = []
        self.post(RunOnLoop(lambda: (box.append(call()), done.set())))
        if not done.wait(timeout):
            raise TimeoutError(f"the scheduler did not answer within {timeout} s")
        return box[0]

    def _live_counts(self) -> dict[int, tuple[int, int, int]]:
        """(running, succeeded, failed) tasks of each running stage attempt."""
        return {stage.id: (len(ts.running), ts.num_succeeded, sum(ts.failures))
                for stage, ts in self.task_sets.items()}

    def status_snapshot(self, timeout: float = 10.0, tasks_of: tuple = ()) -> StatusRecords:
        """A copy of the job and stage records, with live task counts (and the
        task records of the stages in ``tasks_of``)."""
        return self.query(lambda: self.status.snapshot(self._live_counts(), tasks_of), timeout)

    def job_progress(self, job_ids: list[int],
                     timeout: float = 10.0) -> tuple[dict[int, str], list[StageProgress]]:
        """The status of these jobs and the task counts of their stages (for
        progress bars: reads only those records)."""
        return self.query(lambda: job_progress(self.status, job_ids, self._live_counts()), timeout)

    def cluster_snapshot(self, timeout: float = 10.0) -> tuple[list[dict], dict]:
        """The live workers as the scheduler sees them (id, host, cores, busy
        slots) and the cached partitions, ``{rdd id: {partition: [workers]}}``."""
        def take() -> tuple[list[dict], dict]:
            workers = [{"id": w.worker_id, "host": w.host, "cores": w.cores,
                        "busy": self.tasks.busy_slots(w)} for w in self.tasks.workers.values()]
            return workers, self.cache.summary()
        return self.query(take, timeout)

    # --- stage graph ----------------------------------------------------------

    def _parent_stages(self, rdd: Any, job_id: int) -> list[Stage]:
        """The map stages of the shuffles reached from ``rdd`` through narrow
        dependencies (the boundaries of ``rdd``'s stage)."""
        parents: dict[int, Stage] = {}
        seen: set[int] = set()
        stack = [rdd]
        while stack:
            current = stack.pop()
            if current._id in seen:
                continue
            seen.add(current._id)
            for dep in current.dependencies:
                if isinstance(dep, ShuffleDependency):
                    stage = self._shuffle_map_stage(dep, job_id)
                    parents[stage.id] = stage
                else:
                    stack.append(dep.rdd)
        return [parents[key] for key in sorted(parents)]

    def _shuffle_map_stage(self, dep: ShuffleDependency, job_id: int) -> ShuffleMapStage:
        stage = self.shuffle_stages.get(dep.shuffle_id)
        if stage is not None:
            self._add_job(stage, job_id)
            return stage
        parents = self._parent_stages(dep.rdd, job_id)
        stage = ShuffleMapStage(next(self._stage_ids), dep.rdd, parents, job_id, dep)
        self.stages[stage.id] = stage
        self.shuffle_stages[dep.shuffle_id] = stage
        self.map_outputs.register_shuffle(dep.shuffle_id, dep.rdd.getNumPartitions())
        return stage

    def _add_job(self, stage: Stage, job_id: int) -> None:
        if job_id not in stage.job_ids:
            stage.job_ids.add(job_id)
            for parent in stage.parents:
                self._add_job(parent, job_id)

    def _is_available(self, stage: Stage) -> bool:
        return isinstance(stage, ShuffleMapStage) and self.map_outputs.is_complete(stage.shuffle_id)

    def _preferred(self, rdd: Any, partition: int, seen: set) -> tuple[str, ...]:
        if (rdd._id, partition) in seen:
            return ()
        seen.add((rdd._id, partition))
        live = self.tasks.workers
        if rdd._storage_level != StorageLevel.NONE:
            holders = [w for w in self.cache.locations(rdd._id, partition) if w in live]
            if holders:
                return tuple(sorted(holders))
        own = [w for w in rdd.preferred_locations(rdd.partitions[partition]) if w in live]
        if own:
            return tuple(own)
        for dep in rdd.dependencies:
            if isinstance(dep, NarrowDependency):
                for parent in dep.get_parents(partition):
                    found = self._preferred(dep.rdd, parent, seen)
                    if found:
                        return found
        return ()

    # --- submitting stages ----------------------------------------------------

    def _submit_stage(self, stage: Stage) -> None:
        if stage in self.waiting or stage in self.running or stage in self.failed:
            return
        missing = [parent for parent in stage.parents if not self._is_available(parent)]
        if not missing:
            self._submit_missing_tasks(stage)
            return
        for parent in missing:
            self._submit_stage(parent)
        self.waiting.add(stage)

    def _submit_missing_tasks(self, stage: Stage) -> None:
        job = self._job_for(stage)
        if job is None:
            return
        if isinstance(stage, ShuffleMapStage):
            partitions = self.map_outputs.missing(stage.shuffle_id)
        else:
            partitions = [p for p, done in zip(job.partitions, job.finished) if not done]
        stage.attempt += 1
        stage.pending = set(partitions)
        self.status.stage_submitted(stage.id, stage.attempt, stage.name, len(partitions),
                                    shape_of(stage))
        if not partitions:
            self._stage_completed(stage)
            return
        slots = self.tasks.total_slots()
        if stage.is_barrier and 0 < slots < len(partitions):
            self._abort_stage(stage, JobAbortedError(
                f"Barrier stage {stage.id} ({stage.name}) needs {len(partitions)} task slots at "
                f"once but the cluster has {slots}; use fewer partitions (coalesce) or more "
                f"workers"))
            return
        try:
            binary, splits = self._serialize(stage, job, partitions)
        except Exception as error:  # noqa: BLE001 - a serialization failure aborts the stage
            self._abort_stage(stage, error)
            return
        tasks = [TaskSpec(p, split, self._preferred(stage.rdd, p, set()))
                 for p, split in zip(partitions, splits)]
        task_set = TaskSetManager(stage, stage.attempt, job.id, tasks, binary, next(self._binary_ids),
                                  self.map_outputs.epoch, self.max_failures, self.locality_wait,
                                  self.clock.monotonic(), self.max_worker_deaths, self.speculation,
                                  barrier=stage.is_barrier)
        self.running.add(stage)
        self.task_sets[stage] = task_set
        self.tasks.submit(task_set)
        if self.speculation is not None and not self._speculation_scheduled:
            self._speculation_scheduled = True
            self._schedule(self.speculation_interval, CheckSpeculation())

    def _serialize(self, stage: Stage, job: ActiveJob, partitions: list[int]) -> tuple[bytes, list[bytes]]:
        reads = {parent.shuffle_id: self.map_outputs.statuses(parent.shuffle_id)
                 for parent in stage.parents}
        if isinstance(stage, ShuffleMapStage):
            binary = make_binary(SHUFFLE_MAP, stage.rdd, None, stage.dependency, reads, job.properties)
        else:
            binary = make_binary(RESULT, stage.rdd, job.func, None, reads, job.properties)
        all_splits = stage.rdd.partitions
        return binary, [dumps(all_splits[p]) for p in partitions]

    def _job_for(self, stage: Stage) -> ActiveJob | None:
        for job_id in sorted(stage.job_ids):
            job = self.jobs.get(job_id)
            if job is not None:
                return job
        return None

    def _stage_completed(self, stage: Stage) -> None:
        self.running.discard(stage)
        for key in [key for key in self.commit_rights if key[0] == stage.id]:
            del self.commit_rights[key]
        stage.consecutive_failures = 0
        task_set = self.task_sets.pop(stage, None)
        if task_set is not None:
            self.tasks.remove_task_set(task_set)
            self.status.stage_ended(stage.id, "COMPLETE", len(task_set.running),
                                    task_set.num_succeeded, sum(task_set.failures))
        else:
            self.status.stage_ended(stage.id, "COMPLETE", 0, 0, 0)
        if isinstance(stage, ShuffleMapStage):
            if not self._is_available(stage):  # outputs were lost meanwhile
                self._submit_stage(stage)
                return
            children = sorted((s for s in self.waiting if stage in s.parents),
                              key=lambda s: (s.first_job_id, s.id))
            for child in children:
                self.waiting.discard(child)
                self._submit_stage(child)

    # --- events ---------------------------------------------------------------

    def _on_job_submitted(self, event: JobSubmitted) -> None:
        job = event.job
        if self.cluster_failure is not None and not self.tasks.workers:
            job.waiter.job_failed(NoWorkersError(f"no live workers: {self.cluster_failure}"))
            return
        try:
            parents = self._parent_stages(job.rdd, job.id)
        except Exception as error:  # noqa: BLE001 - e.g. partitions cannot be computed
            job.waiter.job_failed(error)
            return
        stage = ResultStage(next(self._stage_ids), job.rdd, parents, job.id, job)
        self.stages[stage.id] = stage
        job.final_stage = stage
        self.jobs[job.id] = job
        ancestry = sorted(s.id for s in self.stages.values() if job.id in s.job_ids)
        self.status.job_started(JobRecord(
            job.id, job.properties.get("spark.job.description") or job.callsite,
            job.properties.get("spark.jobGroup.id"),
            frozenset(filter(None, job.properties.get("spark.job.tags", "").split(","))), ancestry,
            shapes={sid: shape_of(self.stages[sid]) for sid in ancestry}))
        self._submit_stage(stage)

    def _on_job_cancelled(self, event: JobCancelled) -> None:
        job = self.jobs.get(event.job_id)
        if job is not None:
            self._fail_job(job, JobCancelledError(f"Job {job.id} cancelled: {event.reason}"))

    def _on_jobs_cancelled(self, event: JobsCancelled) -> None:
        for job in list(self.jobs.values()):
            tags = set(filter(None, job.properties.get("spark.job.tags", "").split(",")))
            if event.group is not None and job.properties.get("spark.jobGroup.id") != event.group:
                continue
            if event.tag is not None and event.tag not in tags:
                continue
            self._fail_job(job, JobCancelledError(f"Job {job.id} cancelled: {event.reason}"))

    def _on_completion(self, event: CompletionEvent) -> None:
        task_set = self.tasks.task_ended(event.tid, event.worker_id, self.clock.monotonic())
        self._record_task_end(event)
        if task_set is None:
            return  # stale: from a lost worker or an attempt no longer tracked
        outcome = event.outcome
        stage = task_set.stage
        if event.refused is not None:
            task_set.abandon(event.tid)
            self._abort_stage(stage, event.refused)
            return
        if isinstance(outcome, TaskSuccess):
            for rdd_id, partition in outcome.cache_updates:
                self.cache.add(event.worker_id, rdd_id, partition)
            for rdd_id, partition in outcome.cache_drops:
                self.cache.remove(event.worker_id, rdd_id, partition)
            if outcome.profile is not None and self.profiles is not None:
                self.profiles.add(stage.rdd._id, outcome.profile)
            task_set.ran(event.duration)
            index = task_set.succeeded_attempt(event.tid, self.clock.monotonic())
            if index is None:
                return
            for tid, worker_id in task_set.other_attempts(index):  # speculative losers
                self.tasks.kill(worker_id, tid)
            partition = task_set.tasks[index].partition
            if isinstance(stage, ResultStage):
                self._result_ready(stage, partition, event.payload, outcome.accumulator_updates)
            else:
                # Transformations' updates count for every successful attempt (as in Spark).
                self.accumulators.apply(outcome.accumulator_updates)
                self._map_output_ready(stage, task_set, partition, event.payload)
            return
        self._release_commit(stage, event.tid)
        if task_set.barrier and not task_set.zombie and not isinstance(outcome, FetchFailure):
            task_set.abandon(event.tid)
            error = (self._task_error(stage, task_set, outcome, event)
                     if isinstance(outcome, ExceptionFailure) else None)
            self._barrier_failed(stage, task_set, error or JobAbortedError(
                f"barrier stage {stage.id} ({stage.name}): a task ended without a result"))
            return
        if isinstance(outcome, FetchFailure):
            task_set.abandon(event.tid)
            self._fetch_failed(stage, task_set, outcome)
        elif isinstance(outcome, ExceptionFailure) and not task_set.zombie:
            if task_set.failed_attempt(event.tid, outcome):
                self._abort_stage(stage, self._task_error(stage, task_set, outcome, event))
        else:
            task_set.abandon(event.tid)

    def _record_task_end(self, event: CompletionEvent) -> None:
        outcome = event.outcome
        if isinstance(outcome, TaskSuccess):
            status, error = "SUCCESS", None
        elif isinstance(outcome, ExceptionFailure):
            status, error = "FAILED", f"{outcome.exc_type}: {outcome.message}"
        elif isinstance(outcome, FetchFailure):
            status, error = "FETCH_FAILED", outcome.message
        elif isinstance(outcome, TaskKilled):
            status, error = "KILLED", outcome.reason
        else:
            status, error = "FAILED", repr(outcome)
        self.status.task_ended(event.tid, status, error, event.metrics)

    def _result_ready(self, stage: ResultStage, partition: int, payload: bytes,
                      accumulator_updates: dict) -> None:
        job = stage.job
        if job.id not in self.jobs:
            return
        output_index = job.output_index[partition]
        if job.finished[output_index]:
            return
        job.result_bytes += len(payload)
        if job.result_bytes > self.max_result_size:
            self._fail_job(job, ResultTooLargeError(
                f"Total size of the results of job {job.id} ({job.result_bytes} bytes after "
                f"{job.num_finished + 1} of {len(job.partitions)} partitions) is bigger than "
                f"spark.driver.maxResultSize ({self.max_result_size} bytes)"))
            return
        job.finished[output_index] = True
        job.num_finished += 1
        self.accumulators.apply(accumulator_updates)  # an action's updates: once per partition
        job.waiter.task_succeeded(output_index, payload)
        stage.pending.discard(partition)
        if job.num_finished == len(job.partitions):
            self._stage_completed(stage)
            self._cleanup_job(job)
            self.status.job_ended(job.id, "SUCCEEDED")
            job.waiter.job_finished()

    def _map_output_ready(self, stage: ShuffleMapStage, task_set: TaskSetManager, partition: int,
                          payload: bytes) -> None:
        status = loads(payload)
        if not self.tasks.is_live(status.worker_id):
            return
        if self.map_outputs.register(stage.shuffle_id, partition, status):
            self._output_changed(stage, partition)
        stage.pending.discard(partition)
        if self.task_sets.get(stage) is task_set and (not stage.pending or task_set.is_finished):
            # Done, or this attempt has nothing left to run while outputs of an
            # earlier attempt went missing: complete it, which resubmits them.
            self._stage_completed(stage)

    def _output_changed(self, stage: ShuffleMapStage, partition: int) -> None:
        """A recomputed map output differs from the first one: whatever read
        the old output is invalid. A map stage downstream is recomputed in
        full; a result stage that already delivered partitions cannot take
        them back, so its job aborts (never an answer mixing both outputs)."""
        for child in [s for s in self.stages.values() if stage in s.parents]:
            if isinstance(child, ResultStage):
                if child.job.num_finished:
                    self._abort_stage(child, IndeterminateStageError(
                        f"Stage {stage.id} ({stage.name}) produced different output when its "
                        f"partition {partition} was recomputed, and stage {child.id} ({child.name}) "
                        f"had already used the old output for {child.job.num_finished} of "
                        f"{len(child.job.partitions)} partitions, so the job cannot finish "
                        f"consistently. Make the stage's functions deterministic, or persist its "
                        f"input before the shuffle."))
                    continue
            else:
                self.map_outputs.unregister_all(child.shuffle_id)
            self._restart(child)

    def _restart(self, stage: Stage) -> None:
        """Drop a running attempt that read stale map outputs; the stage is
        resubmitted once its parents are available again."""
        task_set = self.task_sets.pop(stage, None)
        if task_set is not None:
            task_set.zombie = True
            self.tasks.kill_running(task_set)
            self.tasks.remove_task_set(task_set)
        if stage in self.running:
            self.running.discard(stage)
            self.waiting.add(stage)

    def _fetch_failed(self, stage: Stage, task_set: TaskSetManager, failure: FetchFailure) -> None:
        map_stage = self.shuffle_stages.get(failure.shuffle_id)
        self.map_outputs.unregister(failure.shuffle_id, failure.map_index)
        if task_set.stage_attempt != stage.attempt or task_set.zombie:
            return  # a later report from an attempt already marked failed
        task_set.zombie = True
        self.running.discard(stage)
        self.task_sets.pop(stage, None)
        self.tasks.remove_task_set(task_set)
        stage.consecutive_failures += 1
        if stage.consecutive_failures >= self.max_stage_attempts:
            self._abort_stage(stage, JobAbortedError(
                f"Stage {stage.id} ({stage.name}) failed {stage.consecutive_failures} times in a row "
                f"on missing shuffle output, the limit (spark.stage.maxConsecutiveAttempts = "
                f"{self.max_stage_attempts}); most recent failure: {failure.message}"))
            return
        self.failed.add(stage)
        if map_stage is not None:
            self.failed.add(map_stage)
        if not self._resubmit_scheduled:
            self._resubmit_scheduled = True
            self._schedule(self.resubmit_delay, ResubmitFailedStages())

    def _release_commit(self, stage: Stage, tid: int) -> None:
        """A failed or lost attempt gives up its right to commit, so a retry may."""
        for key, holder in list(self.commit_rights.items()):
            if holder == tid and key[0] == stage.id:
                del self.commit_rights[key]

    def _on_ask_commit(self, event: AskCommit) -> None:
        key = (event.stage_id, event.partition)
        holder = self.commit_rights.get(key)
        allowed = (holder is None or holder == event.tid) and self.tasks.is_running(event.tid, event.worker_id)
        if allowed:
            self.commit_rights[key] = event.tid
        self.backend.answer_commit(event.worker_id, event.tid, allowed)

    def _on_barrier_sync(self, event: BarrierSync) -> None:
        request = event.request
        task_set = self.tasks.task_set_of(request.tid)
        if (task_set is None or not task_set.barrier or task_set.zombie
                or not self.tasks.is_running(request.tid, event.worker_id)):
            self.backend.answer_barrier(event.worker_id, request.tid, None,
                                        "the barrier stage attempt is over")
            return
        arrived = task_set.barrier_arrivals.setdefault(request.round, {})
        arrived[request.partition] = (event.worker_id, request.tid, request.message)
        if len(arrived) == len(task_set.tasks):
            messages = tuple(arrived[task.partition][2] for task in task_set.tasks)
            for worker_id, tid, _ in arrived.values():
                self.backend.answer_barrier(worker_id, tid, messages)
            del task_set.barrier_arrivals[request.round]

    def _barrier_failed(self, stage: Stage, task_set: TaskSetManager, error: BaseException) -> None:
        """One task of a barrier stage failed: the others are killed and the
        whole stage runs again (its partial output is dropped)."""
        if task_set.zombie:
            return
        task_set.zombie = True
        for arrived in task_set.barrier_arrivals.values():
            for worker_id, tid, _ in arrived.values():
                self.backend.answer_barrier(worker_id, tid, None, "another task of the stage failed")
        self.tasks.kill_running(task_set)
        self.tasks.remove_task_set(task_set)
        self.task_sets.pop(stage, None)
        self.running.discard(stage)
        stage.consecutive_failures += 1
        if stage.consecutive_failures >= self.max_stage_attempts:
            if hasattr(error, "add_note"):
                error.add_note(f"barrier stage {stage.id} failed {stage.consecutive_failures} "
                               f"attempts in a row (spark.stage.maxConsecutiveAttempts)")
            self._abort_stage(stage, error)
            return
        if isinstance(stage, ResultStage):
            job = stage.job
            job.finished = [False] * len(job.partitions)
            job.num_finished = 0
            job.result_bytes = 0
        else:
            self.map_outputs.unregister_all(stage.shuffle_id)
        self.failed.add(stage)
        if not self._resubmit_scheduled:
            self._resubmit_scheduled = True
            self._schedule(self.resubmit_delay, ResubmitFailedStages())

    def _on_check_speculation(self, event: CheckSpeculation) -> None:
        self._speculation_scheduled = False
        now = self.clock.monotonic()
        for task_set in self.tasks.task_sets:
            task_set.check_speculation(now)
        if self.tasks.task_sets:
            self._speculation_scheduled = True
            self._schedule(self.speculation_interval, CheckSpeculation())

    def _on_resubmit_failed_stages(self, event: ResubmitFailedStages) -> None:
        self._resubmit_scheduled = False
        stages = sorted(self.failed, key=lambda s: (s.first_job_id, s.id))
        self.failed.clear()
        for stage in stages:
            if stage.id in self.stages:
                self._submit_stage(stage)

    def _on_executor_added(self, event: ExecutorAdded) -> None:
        self.cluster_failure = None
        self.tasks.add_worker(event.worker_id, event.host, event.cores, event.address)

    def _on_cluster_failed(self, event: ClusterFailed) -> None:
        self.cluster_failure = event.reason
        if not self.tasks.workers:
            self._fail_all(NoWorkersError(f"no live workers: {event.reason}"))

    def _on_executor_lost(self, event: ExecutorLost) -> None:
        if not self.tasks.is_live(event.worker_id):
            # A worker that ran nothing of ours (it died starting, or after
            # being declared lost): a death that involves no task ends every
            # task's streak of deaths.
            for task_set in self.tasks.task_sets:
                task_set.worker_died_elsewhere(set())
            return
        lost_attempts, unstarted = self.tasks.remove_worker(event.worker_id)
        for _, tid in lost_attempts + unstarted:
            self.status.task_ended(tid, "LOST", f"worker {event.worker_id} lost: {event.reason}")
        for task_set in self.tasks.task_sets:
            task_set.worker_died_elsewhere({task_set.running_index(tid) for ts, tid in lost_attempts
                                            if ts is task_set})
        for task_set, tid in unstarted:  # launched ahead: never ran, charged nothing
            task_set.requeue(tid)
        for task_set, tid in lost_attempts:
            self._release_commit(task_set.stage, tid)
            if task_set.barrier:
                task_set.abandon(tid)
                self._barrier_failed(task_set.stage, task_set, WorkerLostError(
                    f"barrier stage {task_set.stage.id} ({task_set.stage.name}) lost worker "
                    f"{event.worker_id} ({event.reason})"))
                continue
            if task_set.worker_died_running(tid):
                stage = task_set.stage
                index = next(i for i, k in enumerate(task_set.kills) if k >= task_set.max_worker_deaths)
                self._abort_stage(stage, WorkerLostError(
                    f"Job aborted: task for partition {task_set.tasks[index].partition} in stage "
                    f"{stage.id} ({stage.name}) failed {task_set.kills[index]} times: worker "
                    f"exited unexpectedly ({event.reason}) each time it ran it"))
        for shuffle_id in self.map_outputs.remove_outputs_on_worker(event.worker_id):
            stage = self.shuffle_stages.get(shuffle_id)
            task_set = self.task_sets.get(stage) if stage is not None else None
            if task_set is None:
                continue  # not running: its missing partitions are found when submitted
            for partition in self.map_outputs.missing(shuffle_id):
                index = task_set.index_of(partition)
                if index is not None:
                    task_set.resubmit(index)
                stage.pending.add(partition)
            if task_set.is_finished:  # nothing left to run in this attempt: resubmit
                self._stage_completed(stage)
        self.cache.remove_worker(event.worker_id)
        self.backend.broadcast(PeerLost(event.worker_id))

    def _on_shuffle_released(self, event: ShuffleReleased) -> None:
        self.map_outputs.unregister_shuffle(event.shuffle_id)
        self.backend.broadcast(RemoveShuffle(event.shuffle_id))

    def _on_rdd_unpersisted(self, event: RddUnpersisted) -> None:
        self.cache.remove_rdd(event.rdd_id)
        self.backend.broadcast(RemoveRdd(event.rdd_id))

    # --- ending jobs ----------------------------------------------------------

    def _task_error(self, stage: Stage, task_set: TaskSetManager, failure: ExceptionFailure,
                    event: CompletionEvent) -> BaseException:
        index = max(range(len(task_set.tasks)), key=lambda i: task_set.failures[i])
        summary = (f"Job aborted: task for partition {task_set.tasks[index].partition} in stage "
                   f"{stage.id} ({stage.name}) failed {task_set.failures[index]} times; most recent "
                   f"failure on worker {event.worker_id}: {failure.exc_type}: {failure.message}")
        error = failure.rebuild()
        # SystemExit and friends would end the driver program: they arrive as text.
        if not isinstance(error, Exception):
            return TaskFailedError(f"{summary}\n\nWorker traceback:\n{failure.traceback}",
                                   exc_type=failure.exc_type, remote_traceback=failure.traceback)
        error.__cause__ = RemoteTraceback(failure.traceback)
        if hasattr(error, "add_note"):
            error.add_note(summary)
        return error

    def _abort_stage(self, stage: Stage, error: BaseException) -> None:
        for job_id in sorted(stage.job_ids):
            job = self.jobs.get(job_id)
            if job is not None:
                self._fail_job(job, error)

    def _fail_job(self, job: ActiveJob, error: BaseException) -> None:
        self._cleanup_job(job)
        self.status.job_ended(job.id, "FAILED")
        job.waiter.job_failed(error)

    def _cleanup_job(self, job: ActiveJob) -> None:
        self.jobs.pop(job.id, None)
        for stage in list(self.stages.values()):
            stage.job_ids.discard(job.id)
            if stage.job_ids:
                continue
            del self.stages[stage.id]
            if isinstance(stage, ShuffleMapStage):
                self.shuffle_stages.pop(stage.shuffle_id, None)
            self.waiting.discard(stage)
            self.running.discard(stage)
            self.failed.discard(stage)
            task_set = self.task_sets.pop(stage, None)
            if task_set is not None:
                task_set.zombie = True
                self.tasks.kill_running(task_set)
                self.tasks.remove_task_set(task_set)
                self.status.stage_ended(stage.id, "FAILED", 0, task_set.num_succeeded,
                                        sum(task_set.failures))

    def _fail_all(self, error: BaseException) -> None:
        for job in list(self.jobs.values()):
            self._fail_job(job, error)
