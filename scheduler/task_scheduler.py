"""TaskScheduler: puts the tasks of active task sets on free worker slots.

State: the live workers with their free slots and the stage binaries each
already holds; the active task sets in priority order (earlier job first, then
earlier stage); and, for every running task id, its task set and worker. A
worker is sent a stage binary with its first task of that stage attempt only,
and told to drop it when the task set ends.

Offers, and why they stay cheap with many workers: a full offer goes to every
worker with a free slot. It is needed only when tasks may have become
runnable on slots that were already free (a task set was submitted, an
attempt failed or was lost, a locality wait ended): the caller asks for it
with ``revive(now, full=True)``. Otherwise, after a task's success, only the
slots freed since the last offer are offered (as Spark's backend offers the
one executor that sent the status update): a slot that was offered before
and got nothing can get nothing new from a success. So the cost of an event
depends on what it changed, never on the number of workers.

Launching ahead, for short tasks: a worker runs its launched tasks in
order (one queue for all its slots), so a task launched while every slot of
the worker is busy waits there and starts the moment a slot frees, instead
of a round trip to the driver later (about half a millisecond on loopback,
more than a trivial task runs). A task set may have up to
``ahead_depth()`` tasks per core waiting on a worker this way
(``TaskSetManager``: none until one of its tasks finished, then as many as
fit in AHEAD_BUDGET seconds of its mean task time), so what waits behind a
straggler is a few milliseconds of work at most; task sets of longer tasks
never launch ahead. The worker's order also tells which of its tasks run:
the oldest waiting one starts when a running one ends. Only running tasks
are charged with a worker's death, and a waiting task's run time for
speculation starts when it does. Nothing is launched ahead while a barrier
task set waits for free slots, nor on a worker running a task of a set
that does not launch ahead (a longer task, which a short one would wait
behind: a killed waiting task is reported only once a slot takes it).

Owned by the DAGScheduler's loop thread (not thread-safe). It asks the backend
to launch tasks and never talks to sockets itself.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

from ember.engine.wire.task import TaskDescription
from ember.scheduler.stage import ResultStage
from ember.scheduler.task_set_manager import TaskSetManager


class Launch(NamedTuple):
    """One task attempt launched (kept in a bounded history, for status and tests)."""

    stage_id: int
    stage_attempt: int
    partition: int
    attempt: int
    worker_id: str
    kind: str  # "result" or "shuffle_map"


@dataclass
class WorkerSlots:
    worker_id: str
    host: str
    cores: int
    address: str
    free: int
    binaries: set[int] = field(default_factory=set)
    running: set[int] = field(default_factory=set)  # every attempt launched here, waiting or not
    waiting: deque = field(default_factory=deque)  # launched ahead, not started yet: oldest first

    def __hash__(self) -> int:
        return id(self)


class TaskScheduler:
    def __init__(self, backend: Any, on_launch: Callable[..., None] | None = None):
        self.backend = backend
        # Told of each launch: (tid, stage id, stage attempt, partition, attempt, worker).
        self.on_launch = on_launch
        self.workers: dict[str, WorkerSlots] = {}
        self.task_sets: list[TaskSetManager] = []
        self._by_tid: dict[int, tuple[TaskSetManager, str]] = {}
        self._next_tid = 0
        self.launches = 0  # total task attempts launched
        self.history: deque[Launch] = deque(maxlen=100_000)
        # Workers with a free slot, in the order they got it; and those freed
        # since the last offer (the only ones a success needs to offer).
        self._free: dict[str, WorkerSlots] = {}
        self._freed: dict[str, WorkerSlots] = {}
        self._full_offer = False
        self._total_cores = 0

    # --- workers --------------------------------------------------------------

    def add_worker(self, worker_id: str, host: str, cores: int, address: str) -> None:
        slots = WorkerSlots(worker_id, host, cores, address, cores)
        self.workers[worker_id] = slots
        self._total_cores += cores
        if cores > 0:
            self._free[worker_id] = self._freed[worker_id] = slots

    def remove_worker(self, worker_id: str
                      ) -> tuple[list[tuple[TaskSetManager, int]], list[tuple[TaskSetManager, int]]]:
        """Forget a worker; returns the (task set, tid) attempts it was
        running, and those launched ahead that had not started."""
        slots = self.workers.pop(worker_id, None)
        if slots is None:
            return [], []
        self._total_cores -= slots.cores
        self._free.pop(worker_id, None)
        self._freed.pop(worker_id, None)
        self._full_offer = True  # its attempts run again elsewhere
        waiting = set(slots.waiting)
        lost, unstarted = [], []
        for tid in sorted(slots.running):
            entry = self._by_tid.pop(tid, None)
            if entry is not None:
                (unstarted if tid in waiting else lost).append((entry[0], tid))
        live = set(self.workers)
        for task_set in self.task_sets:
            task_set.forget_preference(worker_id, live)
        return lost, unstarted

    def is_live(self, worker_id: str) -> bool:
        return worker_id in self.workers

    # --- task sets ------------------------------------------------------------

    def submit(self, task_set: TaskSetManager) -> None:
        self.task_sets.append(task_set)
        self.task_sets.sort(key=lambda ts: ts.priority)
        self._full_offer = True

    def remove_task_set(self, task_set: TaskSetManager) -> None:
        if task_set in self.task_sets:
            self.task_sets.remove(task_set)
        for slots in self.workers.values():
            if task_set.binary_id in slots.binaries:
                slots.binaries.discard(task_set.binary_id)
                self.backend.remove_binary(slots.worker_id, task_set.binary_id)

    def task_ended(self, tid: int, worker_id: str, now: float = 0.0) -> TaskSetManager | None:
        """Free the slot of a reported attempt (or hand it to the oldest task
        waiting there). None when the report is not from the live worker
        that runs this attempt (stale or fenced)."""
        entry = self._by_tid.get(tid)
        if entry is None or entry[1] != worker_id or worker_id not in self.workers:
            return None
        del self._by_tid[tid]
        slots = self.workers[worker_id]
        slots.running.discard(tid)
        if slots.waiting and slots.waiting[0] == tid:
            slots.waiting.popleft()  # ended before its turn (killed while waiting)
        elif tid in slots.waiting:
            slots.waiting.remove(tid)
        elif slots.waiting:
            started = slots.waiting.popleft()  # the slot took the oldest waiting task
            waiting = self._by_tid.get(started)
            if waiting is not None:
                waiting[0].started(started, now)
        else:
            slots.free += 1
            self._free[worker_id] = slots
        self._freed[worker_id] = slots
        return entry[0]

    def task_set_of(self, tid: int) -> TaskSetManager | None:
        entry = self._by_tid.get(tid)
        return entry[0] if entry is not None else None

    def is_running(self, tid: int, worker_id: str) -> bool:
        """Is ``tid`` a live attempt of a current task set, on ``worker_id``?"""
        entry = self._by_tid.get(tid)
        return (entry is not None and entry[1] == worker_id and not entry[0].zombie
                and worker_id in self.workers)

    def kill(self, worker_id: str, tid: int) -> None:
        """Kill an attempt; one still waiting on its worker (launched ahead)
        is told apart: it ends only when a slot takes it."""
        slots = self.workers.get(worker_id)
        if slots is not None and tid in slots.waiting:
            self.backend.kill(worker_id, tid, started=False)
        else:
            self.backend.kill(worker_id, tid)

    def kill_running(self, task_set: TaskSetManager) -> None:
        for tid, (_, worker_id) in list(task_set.running.items()):
            self.kill(worker_id, tid)

    # --- placement ------------------------------------------------------------

    def total_slots(self) -> int:
        return self._total_cores

    def has_free_slots(self) -> bool:
        return bool(self._free)

    def busy_slots(self, slots: WorkerSlots) -> int:
        return slots.cores - slots.free

    def revive(self, now: float, full: bool = True) -> int:
        """Offer free slots: every one when ``full`` (or when a task set was
        submitted or a worker lost since the last offer), else only those
        freed since the last offer. Returns the number of tasks launched."""
        # A barrier task set waits for enough free slots at once: it must see them all.
        barrier_waiting = any(ts.barrier and not ts.zombie and ts.launched_none
                              for ts in self.task_sets)
        full = full or self._full_offer or barrier_waiting
        self._full_offer = False
        offered = self._free if full else self._freed
        self._freed = {}
        if not offered or not any(ts.has_offers_to_take for ts in self.task_sets):
            return 0
        launched = 0
        if full:
            for task_set in self.task_sets:
                if task_set.barrier and not task_set.zombie and task_set.launched_none:
                    launched += self._launch_barrier(task_set, now)
        for slots in list(offered.values()):
            # Only short tasks may be waited behind: nothing is launched
            # ahead on a worker running a task of a set that does not
            # launch ahead (it could run for minutes).
            short = not barrier_waiting and all(
                self._by_tid[tid][0].ahead_depth() for tid in slots.running)
            while True:
                for task_set in self.task_sets:
                    if task_set.barrier:
                        continue  # launched all at once, above
                    if slots.free <= 0 and (not short or len(slots.waiting)
                                            >= task_set.ahead_depth() * slots.cores):
                        continue  # no free slot, and no launching ahead for this set
                    index = task_set.offer(slots.worker_id, now)
                    if index is not None:
                        self._launch(slots, task_set, index, now)
                        short = short and task_set.ahead_depth() > 0
                        launched += 1
                        break
                else:
                    break
        return launched

    def _launch_barrier(self, task_set: TaskSetManager, now: float) -> int:
        """All of a barrier task set's tasks at once, or none yet."""
        free = [slots for slots in self._free.values() for _ in range(slots.free)]
        if len(free) < len(task_set.tasks):
            return 0
        placement = list(zip(range(len(task_set.tasks)), free))
        peers = tuple(slots.address for _, slots in placement)
        for index, slots in placement:
            self._launch(slots, task_set, index, now, peers)
        return len(placement)

    def _launch(self, slots: WorkerSlots, task_set: TaskSetManager, index: int, now: float,
                peers: tuple = ()) -> None:
        tid = self._next_tid
        self._next_tid += 1
        attempt = task_set.launched(tid, index, slots.worker_id, now)
        self._by_tid[tid] = (task_set, slots.worker_id)
        slots.running.add(tid)
        if slots.free > 0:
            slots.free -= 1
            if slots.free == 0:
                self._free.pop(slots.worker_id, None)
        else:
            slots.waiting.append(tid)
        spec = task_set.tasks[index]
        stage = task_set.stage
        description = TaskDescription(
            tid=tid, job_id=task_set.job_id, stage_id=stage.id,
            stage_attempt=task_set.stage_attempt, partition=spec.partition, attempt=attempt,
            binary_id=task_set.binary_id, epoch=task_set.epoch, peers=peers)
        with_binary = task_set.binary_id not in slots.binaries
        slots.binaries.add(task_set.binary_id)
        self.launches += 1
        self.history.append(Launch(stage.id, task_set.stage_attempt, spec.partition, attempt,
                                   slots.worker_id, "result" if isinstance(stage, ResultStage) else "shuffle_map"))
        if self.on_launch is not None:
            self.on_launch(tid, stage.id, task_set.stage_attempt, spec.partition, attempt,
                           slots.worker_id)
        self.backend.launch(slots.worker_id, description, spec.split,
                            task_set.binary if with_binary else None)

    def next_deadline(self) -> float | None:
        """The earliest locality deadline among task sets with waiting tasks."""
        deadlines = [ts.locality_deadline() for ts in self.task_sets if ts.has_pending]
        deadlines = [d for d in deadlines if d is not None]
        return min(deadlines) if deadlines else None
