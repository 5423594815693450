"""Records of jobs, stages and task attempts, for status reports
(statusTracker, progress bars, the status page).

Kept by the DAGScheduler's loop: a job's record is made when it is submitted
(with the shape of each of its stages, ``stage_graph``) and closed when it
ends; a stage's when an attempt is submitted, with its task counts copied
from the task set when the attempt ends. Live counts of running stages are
read from their task sets when a snapshot is taken. Each task attempt has a
record from its launch (worker, attempt, launch time) to its end (status,
error, and the metrics the worker measured), kept with its stage across
the stage's attempts; a stage also keeps the sums of its successful tasks'
metrics. Only the latest ``RETAINED`` jobs and stages (Spark's
spark.ui.retainedJobs default) and ``RETAINED_TASKS`` task attempts (Spark's
spark.ui.retainedTasks) are kept.

Owned by the DAGScheduler's loop thread; other threads read snapshots taken on
that thread (``DAGScheduler.query``): a full copy for statusTracker and the
status page (task records only of the stages asked for), or ``job_progress``
(the few records of the jobs one action waits for) for progress bars, which
poll several times a second and must not cost the loop a copy of every
record each time.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field, replace
from operator import add, attrgetter
from typing import Any, Iterable, NamedTuple

from ember.engine.api.task_metrics import TaskMetrics

RETAINED = 1000
RETAINED_TASKS = 100_000

# Task metrics summed per stage (the rest, such as the slot, are per task only).
SUMMED = ("input_records", "input_bytes", "output_records", "output_bytes",
          "shuffle_read_records", "shuffle_read_bytes", "shuffle_remote_bytes",
          "shuffle_fetch_wait", "shuffle_write_records", "shuffle_write_bytes",
          "memory_spilled", "disk_spilled", "result_size", "run_time", "cpu_time")
_summed = attrgetter(*SUMMED)


class SparkJobInfo(NamedTuple):
    jobId: int
    stageIds: list
    status: str  # RUNNING, SUCCEEDED, FAILED, UNKNOWN


class SparkStageInfo(NamedTuple):
    stageId: int
    currentAttemptId: int
    name: str
    numTasks: int
    numActiveTasks: int
    numCompletedTasks: int
    numFailedTasks: int


@dataclass
class JobRecord:
    job_id: int
    description: str
    group: str | None
    tags: frozenset
    stage_ids: list
    status: str = "RUNNING"
    submitted: float = field(default_factory=time.time)
    completed: float | None = None
    shapes: dict = field(default_factory=dict)  # stage id -> StageShape (immutable)


@dataclass(slots=True)
class TaskRecord:
    """One task attempt. ``launched``/``finished`` are the driver's wall clock;
    ``metrics`` the worker's measurements, once the attempt reported."""

    tid: int
    stage_id: int
    stage_attempt: int
    partition: int
    attempt: int
    worker_id: str
    launched: float
    status: str = "RUNNING"  # RUNNING, SUCCESS, FAILED, FETCH_FAILED, KILLED, LOST
    finished: float | None = None
    error: str | None = None
    metrics: TaskMetrics | None = None


@dataclass
class StageRecord:
    stage_id: int
    attempt: int
    name: str
    num_tasks: int
    active: int = 0
    completed: int = 0
    failed: int = 0
    status: str = "ACTIVE"  # ACTIVE, COMPLETE, FAILED, SKIPPED
    submitted: float = field(default_factory=time.time)
    finished: float | None = None
    shape: Any = None  # its StageShape
    tasks: dict = field(default_factory=dict)  # tid -> TaskRecord, every attempt of the stage
    # The sums of SUMMED over successful tasks: a list in SUMMED's order while
    # recorded (added in C, once per task), a dict by name in a snapshot.
    totals: Any = None


class StatusRecords:
    def __init__(self):
        self.jobs: OrderedDict[int, JobRecord] = OrderedDict()
        self.stages: OrderedDict[int, StageRecord] = OrderedDict()
        self._task_order: deque = deque()  # (stage id, tid) by launch, for trimming
        self._running: dict[int, TaskRecord] = {}  # tid -> record of attempts not ended

    def _trim(self) -> None:
        while len(self.jobs) > RETAINED:
            self.jobs.popitem(last=False)
        while len(self.stages) > RETAINED:
            self.stages.popitem(last=False)
        while len(self._task_order) > RETAINED_TASKS:
            stage_id, tid = self._task_order.popleft()
            stage = self.stages.get(stage_id)
            if stage is not None:
                stage.tasks.pop(tid, None)
            self._running.pop(tid, None)

    def job_started(self, record: JobRecord) -> None:
        self.jobs[record.job_id] = record
        self._trim()

    def job_ended(self, job_id: int, status: str) -> None:
        record = self.jobs.get(job_id)
        if record is not None and record.status == "RUNNING":
            record.status = status
            record.completed = time.time()

    def stage_submitted(self, stage_id: int, attempt: int, name: str, num_tasks: int,
                        shape: Any = None) -> None:
        record = StageRecord(stage_id, attempt, name, num_tasks, shape=shape)
        earlier = self.stages.get(stage_id)
        if earlier is not None:  # a new attempt: the earlier attempts' tasks stay listed
            record.tasks, record.totals = earlier.tasks, earlier.totals
        self.stages[stage_id] = record
        self.stages.move_to_end(stage_id)
        self._trim()

    def task_launched(self, tid: int, stage_id: int, stage_attempt: int, partition: int,
                      attempt: int, worker_id: str) -> None:
        stage = self.stages.get(stage_id)
        if stage is None:
            return
        record = TaskRecord(tid, stage_id, stage_attempt, partition, attempt, worker_id,
                            time.time())
        stage.tasks[tid] = record
        self._running[tid] = record
        self._task_order.append((stage_id, tid))
        if len(self._task_order) > RETAINED_TASKS:
            self._trim()

    def task_ended(self, tid: int, status: str, error: str | None = None,
                   metrics: TaskMetrics | None = None) -> None:
        """The first end reported for an attempt counts (a report that
        arrives after the attempt was declared lost is dropped)."""
        record = self._running.pop(tid, None)
        if record is None:
            return
        record.status, record.error, record.finished = status, error, time.time()
        if isinstance(metrics, TaskMetrics):
            record.metrics = metrics
            if status == "SUCCESS":
                stage = self.stages.get(record.stage_id)
                if stage is not None:
                    values = _summed(metrics)
                    stage.totals = values if stage.totals is None else list(map(add, stage.totals,
                                                                               values))

    def stage_ended(self, stage_id: int, status: str, active: int, completed: int, failed: int) -> None:
        record = self.stages.get(stage_id)
        if record is not None:
            record.status, record.active = status, active
            record.completed, record.failed = completed, failed
            record.finished = time.time()

    def snapshot(self, live: dict[int, tuple[int, int, int]],
                 tasks_of: Iterable[int] = ()) -> "StatusRecords":
        """A copy for another thread; ``live`` gives (active, completed,
        failed) of running stages. Task records are copied only for the
        stages in ``tasks_of`` (the others' are left empty)."""
        copy = StatusRecords()
        copy.jobs = OrderedDict((k, replace(v, stage_ids=list(v.stage_ids), shapes=dict(v.shapes)))
                                for k, v in self.jobs.items())
        wanted = set(tasks_of)
        copy.stages = OrderedDict(
            (k, replace(v, totals=dict(zip(SUMMED, v.totals)) if v.totals is not None else {},
                        tasks={tid: replace(t) for tid, t in v.tasks.items()} if k in wanted else {}))
            for k, v in self.stages.items())
        for stage_id, (active, completed, failed) in live.items():
            if stage_id in copy.stages:
                record = copy.stages[stage_id]
                record.active, record.completed, record.failed = active, completed, failed
        return copy


class StageProgress(NamedTuple):
    """One stage attempt of a job, for progress bars."""

    stage_id: int
    attempt: int
    name: str
    num_tasks: int
    active: int
    completed: int
    failed: int
    status: str


def job_progress(records: StatusRecords, job_ids: list[int], live: dict[int, tuple[int, int, int]]
                 ) -> tuple[dict[int, str], list[StageProgress]]:
    """The status of each listed job and the stages they ran (cheap: only
    those records are read, so it may be asked for many times a second).
    A stage is listed only if its current attempt was submitted after the job
    was, so a stage an earlier job computed, skipped now, shows no bar."""
    statuses: dict[int, str] = {}
    stages: dict[int, StageProgress] = {}
    for job_id in job_ids:
        job = records.jobs.get(job_id)
        if job is None:
            continue
        statuses[job_id] = job.status
        for stage_id in job.stage_ids:
            stage = records.stages.get(stage_id)
            if stage is None or stage.submitted < job.submitted or stage_id in stages:
                continue
            counts = live.get(stage_id, (stage.active, stage.completed, stage.failed))
            active, completed, failed = counts
            stages[stage_id] = StageProgress(stage_id, stage.attempt, stage.name, stage.num_tasks,
                                             active, completed, failed, stage.status)
    return statuses, [stages[key] for key in sorted(stages)]


class StatusTracker:
    """PySpark's status API over snapshots of the scheduler's records.

    >>> tracker = sc.statusTracker()
    >>> sc.parallelize(range(10), 2).count()
    10
    >>> job = tracker.getJobInfo(max(tracker.getJobIdsForGroup()))
    >>> job.status, len(job.stageIds)
    ('SUCCEEDED', 1)
    >>> tracker.getStageInfo(job.stageIds[0]).numCompletedTasks
    2
    """

    def __init__(self, snapshot):
        self._snapshot = snapshot  # () -> StatusRecords

    def getJobIdsForGroup(self, jobGroup: str | None = None) -> list[int]:
        return [j.job_id for j in self._snapshot().jobs.values() if j.group == jobGroup]

    def getJobIdsForTag(self, jobTag: str) -> list[int]:
        return [j.job_id for j in self._snapshot().jobs.values() if jobTag in j.tags]

    def getActiveStageIds(self) -> list[int]:
        return [s.stage_id for s in self._snapshot().stages.values() if s.status == "ACTIVE"]

    def getActiveJobsIds(self) -> list[int]:
        return [j.job_id for j in self._snapshot().jobs.values() if j.status == "RUNNING"]

    def getJobInfo(self, jobId: int) -> SparkJobInfo | None:
        record = self._snapshot().jobs.get(jobId)
        if record is None:
            return None
        return SparkJobInfo(record.job_id, list(record.stage_ids), record.status)

    def getStageInfo(self, stageId: int) -> SparkStageInfo | None:
        record = self._snapshot().stages.get(stageId)
        if record is None:
            return None
        return SparkStageInfo(record.stage_id, record.attempt, record.name, record.num_tasks,
                              record.active, record.completed, record.failed)
