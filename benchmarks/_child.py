"""One measured run: one engine, one workload, one repetition, one process.

Started by the runner as ``python -m benchmarks._child``; it writes a JSON
result to ``--out`` and exits 0, or writes the error and exits 1. A fresh
process per run keeps caches, JIT state and leaked memory of one run out of
the next, and lets the parent watch this run's whole process tree.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback

from benchmarks.datagen import DataCache
from benchmarks.engines import ENGINES
from benchmarks.scales import SCALES
from benchmarks.workloads import all_workloads


def measure(engine, workload, scale, seed: int) -> dict:
    cache = DataCache(scale, seed)
    files = {name: cache.files(name, generate=False) for name in workload.datasets}
    inputs = workload.inputs(scale, files)
    settings = engine.settings(scale.spill_budget_mb if workload.memory_budget else None)

    started = time.perf_counter()
    with engine.session(settings, warm=not workload.times_session) as handle:
        opened = time.perf_counter()
        raw = engine.execute(workload, handle, inputs)
        done = time.perf_counter()
    stopped = time.perf_counter()

    wall = stopped - started if workload.times_session else done - opened
    return {
        "ok": True,
        "wall_s": wall,
        "phases": {"open_s": opened - started, "run_s": done - opened, "stop_s": stopped - done},
        "settings": settings,
        "answer": workload.normalise(raw),
    }


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
    args = parser.parse_args(argv)

    result = {"engine": args.engine, "workload": args.workload}
    engine = ENGINES[args.engine]
    try:
        workload = all_workloads()[args.workload]
        result.update(measure(engine, workload, SCALES[args.scale], args.seed))
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
