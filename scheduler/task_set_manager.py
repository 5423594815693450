"""TaskSetManager: the attempts of the tasks of one stage attempt.

State per task (index = position in the task set): attempts launched, failures
charged, deaths of the workers it ran on, whether it succeeded; plus the
running attempts by task id and by index, and the set of pending indexes
(neither succeeded nor running), so that every question the scheduler asks
per event costs the same whatever the size of the task set. Pending tasks sit
in lazy queues (an index may be queued several times; ``_is_pending``
filters): per preferred worker, without preference, and all. A slot offered on worker W takes, in order: a task that
prefers W; a task with no preference; once the locality wait has passed since
the last local launch, any task (delay scheduling).

Failure policy:
* an exception raised by the task counts toward ``max_failures``; the task
  set aborts when one task has failed that many times;
* the death of the worker running it is not charged as a failure, but a task
  that was running on ``max_worker_deaths`` dead workers in a row is the likely
  culprit (it kills its worker: Dask's KilledWorker rule) and aborts the task
  set too. "In a row": any worker death that does not involve the task resets
  its count, so deaths spread over many tasks (a machine killing processes at
  random) are never blamed on one of them;
* a fetch failure is not handled here: the DAGScheduler marks the whole task
  set as a zombie (no more launches) and resubmits the parent stage.

Speculation (``speculation`` given): once ``quantile`` of the tasks succeeded,
a task whose only attempt has run longer than ``multiplier`` times the median
successful duration (and at least ``min_runtime``) gets one copy, on another
worker. The first attempt to succeed wins; the DAGScheduler kills the others.

Launching ahead (see ``TaskScheduler``): ``ahead_depth()`` is how many of
this set's tasks may wait per core on a busy worker: none until a task
succeeded, then as many as take AHEAD_BUDGET seconds at the mean run time
its workers measured, at most MAX_AHEAD.

Owned by the DAGScheduler's loop thread (not thread-safe).
"""

from __future__ import annotations

import statistics
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any


# Launching ahead: the work that may wait behind a running task on a worker
# (seconds of mean task time, per core), and the most tasks that may.
AHEAD_BUDGET = 0.005
MAX_AHEAD = 4


@dataclass(frozen=True)
class Speculation:
    quantile: float = 0.75
    multiplier: float = 1.5
    min_runtime: float = 0.1


@dataclass
class TaskSpec:
    partition: int
    split: bytes
    preferred: tuple[str, ...]


class TaskSetManager:
    def __init__(self, stage: Any, stage_attempt: int, job_id: int, tasks: list[TaskSpec],
                 binary: bytes, binary_id: int, epoch: int, max_failures: int,
                 locality_wait: float, now: float, max_worker_deaths: int = 4,
                 speculation: Speculation | None = None, barrier: bool = False):
        self.stage = stage
        self.stage_attempt = stage_attempt
        self.job_id = job_id
        self.priority = (job_id, stage.id)
        self.tasks = tasks
        self.binary = binary
        self.binary_id = binary_id
        self.epoch = epoch
        self.max_failures = max_failures
        self.max_worker_deaths = max_worker_deaths
        self.locality_wait = locality_wait
        count = len(tasks)
        self.attempts = [0] * count
        self.failures = [0] * count
        self.kills = [0] * count
        self.succeeded = [False] * count
        self.num_succeeded = 0
        self.running: dict[int, tuple[int, str]] = {}
        self.speculation = None if barrier else speculation
        self.barrier = barrier  # all tasks launch together; any failure fails the attempt
        self.barrier_arrivals: dict[int, dict[int, tuple]] = {}  # round -> partition -> (worker, tid, message)
        self._started: dict[int, float] = {}
        self._durations: list[float] = []
        self._run_time = 0.0  # summed over the successes, as their workers measured it
        self._runs = 0
        self._ahead = 0
        self._copies: deque = deque()  # indexes waiting for a speculative copy
        self._speculated: set[int] = set()
        self._running_count = [0] * count
        self._tids_of: dict[int, set[int]] = defaultdict(set)  # index -> running attempts
        self._pending: set[int] = set(range(count))
        self._started_any = False
        self._index_of = {task.partition: index for index, task in enumerate(tasks)}
        self.zombie = False
        self.last_failure: Any = None
        self._for_worker: dict[str, deque] = defaultdict(deque)
        self._no_preference: deque = deque()
        self._any: deque = deque()
        self._local_deadline = now + locality_wait
        for index in range(count):
            self._enqueue(index)

    def __repr__(self) -> str:
        return f"TaskSet(stage {self.stage.id}.{self.stage_attempt}, {self.num_succeeded}/{len(self.tasks)})"

    # --- queues ---------------------------------------------------------------

    def _enqueue(self, index: int) -> None:
        preferred = self.tasks[index].preferred
        for worker_id in preferred:
            self._for_worker[worker_id].append(index)
        if not preferred:
            self._no_preference.append(index)
        self._any.append(index)

    def _is_pending(self, index: int) -> bool:
        return not self.succeeded[index] and self._running_count[index] == 0

    def _refresh(self, index: int) -> None:
        """Keep ``_pending`` true to ``_is_pending`` after ``index`` changed."""
        if self._is_pending(index):
            self._pending.add(index)
        else:
            self._pending.discard(index)

    def _pop(self, queue: deque) -> int | None:
        while queue:
            index = queue.popleft()
            if self._is_pending(index):
                return index
        return None

    @property
    def launched_none(self) -> bool:
        """No attempt of any task was launched yet (a barrier set starts whole)."""
        return not self._started_any

    @property
    def has_pending(self) -> bool:
        return not self.zombie and bool(self._pending)

    @property
    def has_offers_to_take(self) -> bool:
        """A pending task or a queued speculative copy could use a slot."""
        return not self.zombie and bool(self._pending or self._copies)

    def offer(self, worker_id: str, now: float) -> int | None:
        """The index of a task to launch on a free slot of ``worker_id``."""
        if self.zombie:
            return None
        index = self._pop(self._for_worker.get(worker_id, deque()))
        if index is not None:
            self._local_deadline = now + self.locality_wait
            return index
        index = self._pop(self._no_preference)
        if index is None and now >= self._local_deadline:
            index = self._pop(self._any)
        if index is None:
            index = self._speculative_copy(worker_id)
        return index

    def _speculative_copy(self, worker_id: str) -> int | None:
        for _ in range(len(self._copies)):
            index = self._copies.popleft()
            if self.succeeded[index]:
                continue
            if any(self.running[tid][1] == worker_id for tid in self._tids_of[index]):
                self._copies.append(index)  # a copy must run elsewhere
                continue
            return index
        return None

    def check_speculation(self, now: float) -> bool:
        """Queue copies of stragglers; True if any was found."""
        policy = self.speculation
        if policy is None or self.zombie or len(self.tasks) < 2:
            return False
        if self.num_succeeded < max(int(policy.quantile * len(self.tasks)), 1):
            return False
        threshold = max(policy.multiplier * statistics.median(self._durations), policy.min_runtime)
        found = False
        for tid, (index, _) in self.running.items():
            if (not self.succeeded[index] and index not in self._speculated
                    and self._running_count[index] == 1 and now - self._started[tid] > threshold):
                self._speculated.add(index)
                self._copies.append(index)
                found = True
        return found

    def ahead_depth(self) -> int:
        """How many tasks of this set may wait per core on a busy worker."""
        return self._ahead

    def ran(self, run_time: float) -> None:
        """A task succeeded after ``run_time`` seconds on its worker (0: not
        measured, which says nothing about its length)."""
        if run_time <= 0:
            return
        self._run_time += run_time
        self._runs += 1
        self._ahead = min(MAX_AHEAD, int(AHEAD_BUDGET * self._runs / self._run_time))

    def started(self, tid: int, now: float) -> None:
        """An attempt launched ahead took a slot on its worker: its run time
        (for speculation) starts now."""
        if tid in self._started:
            self._started[tid] = now

    def running_index(self, tid: int) -> int | None:
        entry = self.running.get(tid)
        return entry[0] if entry is not None else None

    def other_attempts(self, index: int) -> list[tuple[int, str]]:
        """(tid, worker) of the attempts of task ``index`` still running."""
        return [(tid, self.running[tid][1]) for tid in sorted(self._tids_of[index])]

    def locality_deadline(self) -> float | None:
        """When a waiting task with a preference may run anywhere."""
        if self.zombie or not self._any:
            return None
        return self._local_deadline

    def forget_preference(self, worker_id: str, live: set[str]) -> None:
        """A preferred worker is gone: tasks left without a live preferred
        worker may run anywhere at once."""
        for index, task in enumerate(self.tasks):
            if worker_id in task.preferred and not any(w in live for w in task.preferred):
                self._no_preference.append(index)

    # --- lifecycle of attempts ------------------------------------------------

    def launched(self, tid: int, index: int, worker_id: str, now: float = 0.0) -> int:
        """Record a launch; returns the attempt number."""
        self.running[tid] = (index, worker_id)
        self._started[tid] = now
        self._started_any = True
        self._running_count[index] += 1
        self._tids_of[index].add(tid)
        self._pending.discard(index)
        attempt = self.attempts[index]
        self.attempts[index] += 1
        return attempt

    def _finish(self, tid: int) -> int | None:
        entry = self.running.pop(tid, None)
        if entry is None:
            return None
        self._started.pop(tid, None)
        index = entry[0]
        self._running_count[index] -= 1
        tids = self._tids_of[index]
        tids.discard(tid)
        if not tids:
            del self._tids_of[index]
        self._refresh(index)
        return index

    def succeeded_attempt(self, tid: int, now: float = 0.0) -> int | None:
        """The task index if this is the first success of the task, else None."""
        started = self._started.get(tid)
        index = self._finish(tid)
        if index is None or self.succeeded[index]:
            return None
        self.succeeded[index] = True
        self._pending.discard(index)
        self.num_succeeded += 1
        if started is not None:
            self._durations.append(now - started)
        return index

    def failed_attempt(self, tid: int, failure: Any) -> bool:
        """A task raised; True when the task set must abort."""
        index = self._finish(tid)
        if index is None or self.succeeded[index]:
            return False
        self.last_failure = failure
        self.failures[index] += 1
        if self.failures[index] >= self.max_failures:
            return True
        self._enqueue(index)
        return False

    def worker_died_running(self, tid: int) -> bool:
        """The worker running this attempt died; True when the task set must
        abort (the task took down ``max_worker_deaths`` workers)."""
        index = self._finish(tid)
        if index is None or self.succeeded[index]:
            return False
        self.kills[index] += 1
        if self.kills[index] >= self.max_worker_deaths:
            return True
        self._enqueue(index)
        return False

    def requeue(self, tid: int) -> None:
        """An attempt launched ahead was lost with its worker before it
        started: run it again, charging nothing."""
        index = self._finish(tid)
        if index is not None and self._is_pending(index):
            self._enqueue(index)

    def worker_died_elsewhere(self, involved: set[int]) -> None:
        """A worker died running none of the tasks ``involved`` (indexes of
        this set it was running): every other task's streak of deaths ends."""
        for index, kills in enumerate(self.kills):
            if kills and index not in involved:
                self.kills[index] = 0

    def resubmit(self, index: int) -> None:
        """A succeeded map task lost its output: run it again."""
        if self.succeeded[index]:
            self.succeeded[index] = False
            self.num_succeeded -= 1
            self._refresh(index)
        if self._is_pending(index):
            self._enqueue(index)

    def abandon(self, tid: int) -> None:
        """Forget an attempt without judging it (zombie results, kills)."""
        self._finish(tid)

    @property
    def is_finished(self) -> bool:
        return self.num_succeeded == len(self.tasks)

    def index_of(self, partition: int) -> int | None:
        return self._index_of.get(partition)
