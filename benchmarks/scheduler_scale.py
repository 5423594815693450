"""The scheduler at scale, simulated: the real DAGScheduler and TaskScheduler
driven by a cluster that exists only as a backend object.

``SimulatedCluster`` is a backend of W workers with C slots each. Nothing
runs: a launched task finishes when the simulation says so, with a map status
or a result made up for it, and the completion is fed to the scheduler with
``process`` exactly as the driver's I/O thread would post it. Workers can be
lost (and come back) in the middle of a stage. The simulation keeps the
ground truth a real cluster would: which map outputs exist, which result
partitions were delivered, and how often each was computed.

What is measured (``python -m benchmarks scheduler-scale``): the CPU the
scheduler spends per task (every ``process`` call, from the job's submission
to its result), and the scheduling delay of a task: the time from the event
that freed a slot to the launch that filled it, which is the handling time of
that event. The job is three stages over two shuffles
(``parallelize → map → partitionBy → map → partitionBy → collect``), the way
``tiny_tasks`` measures per-task overhead on real processes.

Not imported by ember; the scheduler test of the same name runs it small.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import random
import statistics
import sys
import time
from array import array
from collections import deque
from typing import Any

from ember.driver.conf import Conf
from ember.engine.api.rdds import ParallelCollectionRDD
from ember.engine.clock import ManualClock
from ember.engine.data.shuffle import MapStatus
from ember.engine.wire.closure import Closure
from ember.engine.wire.serializer import dumps
from ember.engine.wire.serializers import CPickleSerializer, context_serializer
from ember.engine.wire.task import TaskSuccess
from ember.scheduler.dag_scheduler import DAGScheduler
from ember.scheduler.events import CompletionEvent, ExecutorAdded, ExecutorLost


class BareContext:
    """What RDDs need from a Context to be built and scheduled, and no more
    (the scheduler's tests build their RDDs on it too)."""

    def __init__(self) -> None:
        self._ids = itertools.count()
        self._public = itertools.count()
        self._shuffles = itertools.count()
        self._conf = Conf()
        self.defaultParallelism = 2
        self._batchSize = 0
        self._unbatched_serializer = CPickleSerializer()
        self.serializer = context_serializer(0, self._unbatched_serializer)

    def _next_rdd_id(self) -> int:
        return next(self._ids)

    def _new_public_ids(self, count: int = 1) -> int:
        return [next(self._public) for _ in range(count)][-1]

    def _next_shuffle_id(self) -> int:
        return next(self._shuffles)

    def _track_shuffle(self, dependency: Any) -> None:
        pass


def _identity(record: Any) -> Any:
    return record


class SimulatedCluster:
    """A backend whose workers are entries in a dict, and the loop that plays
    their part: launched tasks wait in a queue until ``step`` finishes one."""

    def __init__(self, workers: int, cores: int, seed: int = 0):
        self.cores = cores
        self.rng = random.Random(seed)
        self.clock = ManualClock()
        self.scheduler = DAGScheduler(self, clock=self.clock, locality_wait=0.0)
        self.pending: deque = deque()       # (worker, TaskDescription) launched, not finished
        self.dead: set[str] = set()
        self.binaries: dict[int, int] = {}  # binary id -> reduce partitions of its map output
        self.launched = 0
        self.kills: list[tuple[str, int]] = []
        self.lost_work = 0  # map outputs and running tasks held by lost workers
        self.computed: dict[tuple[int, int], int] = {}  # (stage, partition) -> successful runs
        self.handling: list[float] = []    # seconds per event that launched something
        self.cpu = 0.0
        self.events = 0
        self._worker_ids = itertools.count()
        for _ in range(workers):
            self.add_worker()

    # --- the backend interface the scheduler calls ------------------------------

    def launch(self, worker_id: str, task: Any, split: bytes, binary: bytes | None) -> None:
        self.launched += 1
        self.pending.append((worker_id, task))

    def kill(self, worker_id: str, tid: int, started: bool = True) -> None:
        self.kills.append((worker_id, tid))

    def remove_binary(self, worker_id: str, binary_id: int) -> None:
        pass

    def answer_commit(self, worker_id: str, tid: int, allowed: bool) -> None:
        pass

    def broadcast(self, message: Any) -> None:
        pass

    # --- the cluster's side ------------------------------------------------------

    def process(self, event: Any) -> None:
        """Feed one event to the scheduler and account for its cost."""
        before = len(self.pending)
        wall, cpu = time.perf_counter(), time.process_time()
        self.scheduler.process(event)
        self.cpu += time.process_time() - cpu
        self.events += 1
        if len(self.pending) > before:
            self.handling.append(time.perf_counter() - wall)

    def add_worker(self) -> str:
        worker_id = f"w-{next(self._worker_ids)}"
        self.process(ExecutorAdded(worker_id, f"host-{worker_id}", self.cores, f"tcp://{worker_id}"))
        return worker_id

    def lose_worker(self, worker_id: str) -> None:
        # What the loss can cost at most: its map outputs and its running tasks.
        outputs = self.scheduler.map_outputs._outputs.values()
        self.lost_work += sum(1 for statuses in outputs for status in statuses
                              if status is not None and status.worker_id == worker_id)
        self.lost_work += len(self.scheduler.tasks.workers[worker_id].running)
        self.dead.add(worker_id)
        self.process(ExecutorLost(worker_id, "killed by SIGKILL"))

    def step(self) -> bool:
        """Finish the oldest launched task still running on a live worker."""
        while self.pending:
            worker_id, task = self.pending.popleft()
            if worker_id in self.dead:
                continue
            self.clock.advance(0.001)
            self.process(CompletionEvent(worker_id, task.tid, TaskSuccess(b""),
                                         payload=self._payload(worker_id, task)))
            return True
        return False

    def _payload(self, worker_id: str, task: Any) -> bytes:
        key = (task.stage_id, task.partition)
        self.computed[key] = self.computed.get(key, 0) + 1
        reduce_partitions = self.binaries.get(task.binary_id)
        if reduce_partitions is None:
            return dumps(task.partition)
        status = MapStatus(worker_id, f"tcp://{worker_id}", task.tid,
                           self._sizes[reduce_partitions], self._checksums[reduce_partitions])
        return dumps(status)

    def run_job(self, maps: int, middle: int, reduces: int, losses: int = 0,
                timeout: float = 3600.0) -> list:
        """Run the three-stage job to its end; ``losses`` workers are SIGKILLed
        (and replaced) at random points of it. Returns the job's results."""
        ctx = BareContext()
        source = ParallelCollectionRDD(ctx, [dumps([i]) for i in range(maps)], "sim:1")
        first = source.map(_identity).partitionBy(middle)
        second = first.map(_identity).partitionBy(reduces)
        self._sizes = {n: array("Q", [64] * n).tobytes() for n in (middle, reduces)}
        self._checksums = {n: array("I", [7] * n).tobytes() for n in (middle, reduces)}
        total = maps + middle + reduces
        loss_points = sorted(self.rng.sample(range(1, total), losses)) if losses else []
        waiter = self.scheduler.submit_job(self.scheduler.new_job(reduces), second,
                                           Closure(list, []), list(range(reduces)), {}, "sim:1")
        self.process(self.scheduler._queue.get())
        self._learn_binaries()
        finished = 0
        deadline = time.monotonic() + timeout
        while not waiter.done:
            if not self.step():
                raise RuntimeError("the simulated job stalled: no task left running")
            finished += 1
            self._learn_binaries()
            if loss_points and finished >= loss_points[0]:
                loss_points.pop(0)
                live = [w for w in self.scheduler.tasks.workers if w not in self.dead]
                self.lose_worker(self.rng.choice(live))
                self.add_worker()
                self._learn_binaries()
            if time.monotonic() > deadline:
                raise TimeoutError("the simulated job ran past its deadline")
        return waiter.wait(0)

    def _learn_binaries(self) -> None:
        """Which running task sets write map output, and for how many reducers
        (the simulated worker needs it to make up a map status)."""
        for task_set in self.scheduler.tasks.task_sets:
            if task_set.binary_id not in self.binaries:
                dependency = getattr(task_set.stage, "dependency", None)
                self.binaries[task_set.binary_id] = (
                    dependency.partitioner.numPartitions if dependency is not None else None)


def measure(workers: int, tasks: int, cores: int = 8, losses: int = 0, seed: int = 0) -> dict:
    """One simulated job of about ``tasks`` tasks on ``workers`` workers."""
    reduces = max(2, int(round(tasks ** 0.5)))
    middle = reduces
    maps = tasks - middle - reduces
    cluster = SimulatedCluster(workers, cores, seed)
    cluster.cpu, cluster.events, cluster.handling = 0.0, 0, []
    gc.collect()
    started = time.perf_counter()
    results = cluster.run_job(maps, middle, reduces, losses)
    wall = time.perf_counter() - started
    launched = cluster.launched
    handling = sorted(cluster.handling)
    return {
        "workers": workers, "cores": cores, "tasks": maps + middle + reduces,
        "stages": [maps, middle, reduces], "losses": losses,
        "launched": launched, "results": len(results),
        "cpu_us_per_task": 1e6 * cluster.cpu / launched,
        "wall_s": wall,
        "delay_us_p50": 1e6 * handling[len(handling) // 2],
        "delay_us_p99": 1e6 * handling[min(len(handling) - 1, int(len(handling) * 0.99))],
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", default="10,100,1000", help="cluster sizes, comma-separated")
    parser.add_argument("--tasks", default="10000,100000", help="tasks per job, comma-separated")
    parser.add_argument("--cores", type=int, default=8, help="slots per worker")
    parser.add_argument("--losses", type=int, default=5, help="workers lost per job")
    parser.add_argument("--repeat", type=int, default=3, help="jobs per cell (the median is shown)")
    parser.add_argument("--out", default=None, help="write the rows as JSON here")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks scheduler-scale",
                                     description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    rows = []
    print("| workers | tasks | losses | launched | µs CPU per task | delay p50 µs | delay p99 µs | wall s |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for tasks in (int(t) for t in args.tasks.split(",")):
        for workers in (int(w) for w in args.workers.split(",")):
            runs = [measure(workers, tasks, args.cores, args.losses, seed) for seed in range(args.repeat)]
            row = dict(runs[0])
            for key in ("cpu_us_per_task", "delay_us_p50", "delay_us_p99", "wall_s", "launched"):
                row[key] = statistics.median(run[key] for run in runs)
            rows.append(row)
            print(f"| {workers} | {row['tasks']} | {args.losses} | {row['launched']:.0f} | "
                  f"{row['cpu_us_per_task']:.1f} | {row['delay_us_p50']:.1f} | "
                  f"{row['delay_us_p99']:.1f} | {row['wall_s']:.2f} |", flush=True)
    if args.out:
        with open(args.out, "w") as out:
            json.dump(rows, out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
