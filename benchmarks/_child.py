"""One measured run: one engine, one workload, one repetition, one process.

Started by the runner as ``python -m benchmarks._child``; it writes a JSON
result to ``--out`` and exits 0, or writes the error and exits 1. A fresh
process per run keeps caches, JIT state and leaked memory of one run out of
the next, and lets the parent watch this run's whole process tree.

Order of a run: open the engine's session (context, pool, server; skipped
when the engine needs none for this workload), the workload's ``prepare``
(a store made and filled), then the timed call, then the answer (computed
while the prepared store is still up), then tear-down. With
``--kill-worker-after S`` (the recovery benchmark, ember only) a thread
SIGKILLs one of the Context's worker processes S seconds into the timed call.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time
import traceback

from benchmarks.datagen import DataCache
from benchmarks.engines import ENGINES
from benchmarks.scales import SCALES
from benchmarks.workloads import all_workloads


def measure(engine, workload, scale, seed: int, kill_worker_after: float | None = None) -> dict:
    if not engine.runs(workload):
        raise ValueError(f"engine {engine.name!r} has no version of workload {workload.name!r}")
    cache = DataCache(scale, seed)
    files = {name: cache.files(name, generate=False) for name in workload.datasets}
    inputs = workload.inputs(scale, files)
    settings = engine.settings(scale.spill_budget_mb if workload.memory_budget else None)
    session = (engine.session(settings, warm=not workload.times_session)
               if engine.needs_session(workload) else contextlib.nullcontext(None))

    started = time.perf_counter()
    killer = None
    with session as handle:
        opened = time.perf_counter()
        with workload.prepared(engine.name, handle, inputs) as ready:
            prepared = time.perf_counter()
            if kill_worker_after is not None:
                killer = WorkerKiller(handle, kill_worker_after)
            raw = engine.execute(workload, handle, ready)
            done = time.perf_counter()
            if killer is not None:
                killer.cancel()
            # Inside the prepared context: a log-store answer counts what the
            # store holds, so the store must still be up (and this is untimed).
            answer = workload.normalise(raw)
    stopped = time.perf_counter()

    wall = stopped - started if workload.times_session else done - prepared
    result = {
        "ok": True,
        "wall_s": wall,
        "phases": {"open_s": opened - started, "prepare_s": prepared - opened,
                   "run_s": done - prepared, "stop_s": stopped - done},
        "settings": settings,
        "answer": answer,
    }
    if killer is not None:
        result["killed"] = killer.killed
    return result


class WorkerKiller:
    """SIGKILLs one of the Context's worker processes ``after`` seconds into
    the timed job, unless the job ends first (then ``killed`` stays None)."""

    def __init__(self, sc, after: float):
        self._sc = sc
        self._started = time.perf_counter()
        self._cancelled = threading.Event()
        self.killed: dict | None = None
        self._thread = threading.Thread(target=self._run, args=(after,), daemon=True,
                                        name="bench-worker-killer")
        self._thread.start()

    def _run(self, after: float) -> None:
        if self._cancelled.wait(after):
            return
        # The local cluster's worker processes, by PID; private, but the
        # benchmark needs a real process to kill, as the fault tests do.
        pids = sorted(self._sc._cluster.pids().items())
        if not pids:
            return
        worker, pid = pids[0]
        os.kill(pid, signal.SIGKILL)
        self.killed = {"worker": worker, "pid": pid,
                       "at_s": round(time.perf_counter() - self._started, 3)}

    def cancel(self) -> None:
        self._cancelled.set()
        self._thread.join()


def _write(path: str, result: dict) -> None:
    scratch = f"{path}.tmp"
    with open(scratch, "w", encoding="utf-8") as out:
        json.dump(result, out)
    os.replace(scratch, path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks._child")
    parser.add_argument("--engine", required=True, choices=sorted(ENGINES))
    parser.add_argument("--workload", required=True)
    parser.add_argument("--scale", required=True, choices=sorted(SCALES))
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--kill-worker-after", type=float, default=None, metavar="SECONDS",
                        help="SIGKILL one ember worker this long into the timed job")
    args = parser.parse_args(argv)

    result = {"engine": args.engine, "workload": args.workload}
    engine = ENGINES[args.engine]
    try:
        workload = all_workloads()[args.workload]
        result.update(measure(engine, workload, SCALES[args.scale], args.seed,
                              kill_worker_after=args.kill_worker_after))
        code = 0
    except Exception as exc:
        traceback.print_exc()
        message = str(exc).strip().splitlines()
        result.update(ok=False, error=f"{type(exc).__name__}: {message[0] if message else ''}",
                      traceback=traceback.format_exc())
        code = 1
    try:
        engine.finish()
    except Exception:
        # The measurement stands; the parent still reaps what is left.
        traceback.print_exc()
    _write(args.out, result)
    return code


if __name__ == "__main__":
    sys.exit(main())
