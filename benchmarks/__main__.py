"""``python -m benchmarks run|recovery|scheduler-scale|controller|report|list``: the suite's command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.engines import ENGINES
from benchmarks.scales import SCALES

DEFAULT_ENGINES = list(ENGINES)
DEFAULT_SEED = 20240611


def _names(kind: str, known):
    def parse(text: str) -> list[str]:
        names = [name.strip() for name in text.split(",") if name.strip()]
        unknown = [name for name in names if name not in known]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"unknown {kind} {', '.join(unknown) or '(none given)'}; "
                f"choose from: {', '.join(known)}")
        return list(dict.fromkeys(names))
    return parse


def _parser() -> argparse.ArgumentParser:
    from benchmarks.workloads import all_workloads

    parser = argparse.ArgumentParser(prog="python -m benchmarks",
                                     description="ember's benchmark suite (see benchmarks/README.md)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list the workloads, engines and scales")
    run = commands.add_parser("run", help="generate data if needed, run and report")
    run.add_argument("--scale", choices=list(SCALES), default="small")
    run.add_argument("--engines", type=_names("engine", DEFAULT_ENGINES), default=DEFAULT_ENGINES,
                     help=f"comma-separated, default {','.join(DEFAULT_ENGINES)}")
    workloads = list(all_workloads())
    run.add_argument("--workloads", type=_names("workload", workloads), default=workloads,
                     help="comma-separated, default: all")
    run.add_argument("--repeat", type=int, default=3, help="runs per engine and workload")
    run.add_argument("--seed", type=int, default=DEFAULT_SEED, help="data generation seed")
    run.add_argument("--timeout", type=float, default=None,
                     help="seconds per run (default: the scale's)")
    run.add_argument("--out", type=Path, default=None,
                     help="results folder (default benchmarks/results; "
                          "benchmarks/data/results for --scale tiny)")
    recovery = commands.add_parser(
        "recovery", help="ember's cost of losing a worker mid-job: fault-free runs "
                         "alternating with runs where one worker is SIGKILLed")
    ember_jobs = [name for name, w in all_workloads().items()
                  if ENGINES["ember"].runs(w) and w.rdd is not None and not w.times_session]
    recovery.add_argument("--scale", choices=list(SCALES), default="small")
    recovery.add_argument("--workload", choices=ember_jobs, default="join")
    recovery.add_argument("--repeat", type=int, default=5, help="runs of each kind")
    recovery.add_argument("--kill-at", type=float, default=0.4,
                          help="kill a worker at this fraction of the fault-free median "
                               "(default 0.4)")
    recovery.add_argument("--seed", type=int, default=DEFAULT_SEED, help="data generation seed")
    recovery.add_argument("--timeout", type=float, default=None,
                          help="seconds per run (default: the scale's)")
    recovery.add_argument("--out", type=Path, default=None,
                          help="results folder (as for run)")
    from benchmarks.scheduler_scale import add_arguments as scale_arguments

    scale_arguments(commands.add_parser(
        "scheduler-scale", help="the real scheduler on simulated clusters of 10 to 1,000 "
                                "workers: CPU and scheduling delay per task"))
    from benchmarks.controller_quorum import add_arguments as controller_arguments

    controller_arguments(commands.add_parser(
        "controller", help="the controller quorum: election time after SIGKILL of its "
                           "leader (p50/p99) and commit latency, ember beside pysyncobj"))
    report = commands.add_parser(
        "report", help="summarise a results file again from its runs and rewrite its tables")
    report.add_argument("results", type=Path, nargs="+", help="a results .json file")
    return parser


def _list() -> None:
    from benchmarks.workloads import all_workloads

    print("workloads:")
    for workload in all_workloads().values():
        tags = [tag for tag, on in (("cpu-bound", workload.cpu_bound),
                                    ("memory budget", workload.memory_budget)) if on]
        engines = [name for name, engine in ENGINES.items() if engine.runs(workload)]
        print(f"  {workload.name:<26} {workload.measures}"
              + (f"  [{', '.join(tags)}]" if tags else ""))
        print(f"  {'':<26} engines: {', '.join(engines)}")
    print("engines:", ", ".join(DEFAULT_ENGINES))
    print("scales:")
    for scale in SCALES.values():
        print(f"  {scale.name:<7} text {scale.text_mb} MB, reduceByKey {scale.kv_rows:,} rows, "
              f"sort {scale.sort_rows:,} rows, k-means {scale.points:,} points, "
              f"spill budget {scale.spill_budget_mb} MB over {scale.spill_rows:,} rows, "
              f"log store {scale.log_records:,} records")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["streaming"]:  # its own options: see benchmarks/streaming.py
        from benchmarks.streaming import main as streaming

        return streaming(argv[1:])
    args = _parser().parse_args(argv)
    if args.command == "list":
        _list()
        return 0
    if args.command == "report":
        from benchmarks.report import rebuild

        for path in args.results:
            if not path.is_file():
                print(f"{path}: no such results file", file=sys.stderr)
                return 2
            print(*rebuild(path), sep="\n")
        return 0
    if args.command == "controller":
        from benchmarks.controller_quorum import run as run_controller

        return run_controller(args)
    if args.command == "scheduler-scale":
        from benchmarks.scheduler_scale import run as run_scheduler_scale

        return run_scheduler_scale(args)
    if args.repeat < 1:
        print("--repeat must be at least 1", file=sys.stderr)
        return 2
    if args.command == "recovery":
        if not 0 < args.kill_at < 1:
            print(f"--kill-at must be between 0 and 1 (a fraction of the fault-free time), "
                  f"got {args.kill_at}", file=sys.stderr)
            return 2
        from benchmarks.recovery import run_recovery
        from benchmarks.workloads import all_workloads

        scale = SCALES[args.scale]
        try:
            run_recovery(scale=scale, workload=all_workloads()[args.workload],
                         repeat=args.repeat, seed=args.seed, kill_at=args.kill_at,
                         timeout_s=args.timeout or scale.timeout_s, out_dir=args.out)
        except KeyboardInterrupt:
            print("\ninterrupted: nothing was recorded", file=sys.stderr)
            return 130
        return 0
    from benchmarks.runner import run_suite
    from benchmarks.workloads import all_workloads

    scale = SCALES[args.scale]
    chosen = {name: all_workloads()[name] for name in args.workloads}
    try:
        run_suite(scale=scale, engines=args.engines, workloads=chosen, repeat=args.repeat,
                  seed=args.seed, timeout_s=args.timeout or scale.timeout_s, out_dir=args.out)
    except KeyboardInterrupt:
        print("\ninterrupted: the run in progress was stopped; every workload that had "
              "finished is in the results files", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
