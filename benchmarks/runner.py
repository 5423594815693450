"""The parent side of a run: data first, then every run in its own child."""

from __future__ import annotations

import compileall
import copy
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import psutil

from benchmarks import report
from benchmarks.datagen import DATA_ROOT, DataCache
from benchmarks.engines import ENGINES
from benchmarks.proctree import run_watched

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
# tiny runs only check the suite itself; their results stay out of the record.
SCRATCH_RESULTS_DIR = DATA_ROOT / "results"


# The folders of the checkout whose modules the children import.
_SOURCES = ("ember", "engine", "scheduler", "worker", "driver", "ingest", "etl", "streaming", "sql",
            "mllib", "benchmarks")
_compiled = False


def compile_sources() -> None:
    """Byte-compile the checkout's modules once, before any run: PySpark,
    Dask and every installed package run from the bytecode pip compiled at
    install, while an editable ember in an environment that sets
    PYTHONDONTWRITEBYTECODE would compile its sources again in every
    process it starts (about 0.1 s of a Context's start and of each
    worker's first task). Python reads existing bytecode even then."""
    global _compiled
    if not _compiled:
        for folder in _SOURCES:
            compileall.compile_dir(str(REPO_ROOT / folder), quiet=1)
        _compiled = True


def child_env() -> dict[str, str]:
    compile_sources()
    env = dict(os.environ)
    # Worker processes of every engine unpickle functions from the
    # benchmarks package by name, so they must find it however they start.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["PYSPARK_PYTHON"] = env["PYSPARK_DRIVER_PYTHON"] = sys.executable
    # Spark otherwise looks up the host's address and warns when it is
    # loopback; ember binds to 127.0.0.1 too.
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # One thread per process, for every engine: two workers each running a
    # multithreaded BLAS would oversubscribe two cores, and the serial floor
    # must stay one core.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    return env


def _relative(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT))


def run_one(engine: str, workload: str, rep: int, *, scale, seed: int, timeout_s: float,
            log_dir: Path, label: str = "", extra_args: tuple[str, ...] = ()) -> dict:
    stem = log_dir / f"{workload}-{engine}{label}-{rep}"
    out, log = stem.with_suffix(".json"), stem.with_suffix(".log")
    argv = [sys.executable, "-m", "benchmarks._child", "--engine", engine,
            "--workload", workload, "--scale", scale.name, "--seed", str(seed),
            "--out", str(out), *extra_args]
    outcome = run_watched(argv, env=child_env(), cwd=str(REPO_ROOT), timeout_s=timeout_s,
                          log_path=str(log))
    record = {"rep": rep, "peak_rss_bytes": outcome.peak_rss_bytes,
              "peak_process_rss_bytes": outcome.peak_process_rss_bytes,
              "process_s": round(outcome.elapsed_s, 3), "log": _relative(log)}
    if outcome.leftovers:
        record["leftovers_killed"] = outcome.leftovers
    if outcome.timed_out:
        return dict(record, status="timeout", error=f"no result within {timeout_s:.0f} s")
    if not out.exists():
        return dict(record, status="error",
                    error=f"child exited with code {outcome.returncode} and no result")
    result = json.loads(out.read_text(encoding="utf-8"))
    if not result.get("ok"):
        return dict(record, status="error", error=result.get("error", "unknown error"))
    if "killed" in result:
        record["killed"] = result["killed"]
    return dict(record, status="ok", wall_s=result["wall_s"], phases=result["phases"],
                settings=result["settings"], answer=result["answer"])


def _progress(workload, engine, rep, repeat, record) -> None:
    wall = f"{record['wall_s']:9.3f} s" if record["status"] == "ok" else " " * 11
    rss = record["peak_rss_bytes"] / 2**20
    detail = "" if record["status"] == "ok" else f"  {record['error']}  [{record['log']}]"
    print(f"  {workload:<18} {engine:<8} {rep}/{repeat} {wall} {rss:8.0f} MB  "
          f"{record['status']}{detail}", flush=True)
    if record.get("leftovers_killed"):
        print(f"    warning: killed processes left behind: {', '.join(record['leftovers_killed'])}")


def _command_output(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd=REPO_ROOT)
    except (OSError, subprocess.SubprocessError):
        return ""
    return (done.stdout or done.stderr).strip()


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    return _command_output([java, "-version"]).splitlines()[0] if java else ""


def _version(distribution: str) -> str | None:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def describe_machine() -> dict:
    commit = _command_output(["git", "rev-parse", "--short", "HEAD"])
    dirty = bool(_command_output(["git", "status", "--porcelain", "--untracked-files=no"]))
    return {
        "machine": {
            "cores_logical": os.cpu_count(),
            "cores_physical": psutil.cpu_count(logical=False),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "cpu": _cpu_model(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "java": _java(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "versions": {
            **{name: engine.version() for name, engine in ENGINES.items() if engine.distribution},
            **{name: _version(name) for name in ("numpy", "psutil", "cloudpickle")},
        },
        "commit": f"{commit}{' (uncommitted changes)' if dirty else ''}" if commit else None,
    }


def run_suite(*, scale, engines: list[str], workloads: dict, repeat: int, seed: int,
              timeout_s: float, out_dir: Path | None) -> Path:
    started = datetime.datetime.now()
    described = describe_machine()
    print(f"benchmarks: scale {scale.name}, seed {seed}, engines {', '.join(engines)}, "
          f"{repeat} runs each")
    cache = DataCache(scale, seed)
    print(f"data: {_relative(cache.dir)}")
    for dataset in sorted({d for w in workloads.values() for d in w.datasets}):
        cache.files(dataset)

    log_dir = DATA_ROOT / "logs" / f"{started:%Y%m%d-%H%M%S}-{scale.name}"
    log_dir.mkdir(parents=True)
    # An engine runs only the workloads it has a version of (PySpark has no
    # log store; raw files and Redis have no RDDs).
    runs = {name: {engine: [] for engine in engines if ENGINES[engine].runs(workload)}
            for name, workload in workloads.items()}
    if out_dir is None:
        out_dir = SCRATCH_RESULTS_DIR if scale.name == "tiny" else RESULTS_DIR
    paths = None
    for done, name in enumerate(workloads, start=1):
        failed: set[str] = set()
        # Repetitions are the outer loop so that a slow spell on a shared
        # machine is spread over all engines instead of hitting one.
        for rep in range(1, repeat + 1):
            for engine in runs[name]:
                if engine in failed:
                    continue
                record = run_one(engine, name, rep, scale=scale, seed=seed,
                                 timeout_s=timeout_s, log_dir=log_dir)
                runs[name][engine].append(record)
                _progress(name, engine, rep, repeat, record)
                if record["status"] != "ok":
                    # A failing engine fails the same way again; a hanging one
                    # would cost the full timeout each time.
                    failed.add(engine)
        # Written after every workload, so a run cut short keeps what finished.
        finished = list(workloads)[:done]
        results = _results(started, described, scale, seed, repeat, engines,
                           {n: workloads[n] for n in finished}, {n: runs[n] for n in finished},
                           complete=done == len(workloads))
        paths = report.write(results, out_dir, paths)

    json_path, md_path = paths
    print()
    print(report.markdown(results))
    print(f"results: {json_path}\n         {md_path}")
    for mismatch in results["mismatches"]:
        print(f"ANSWER MISMATCH: {mismatch['engine']} on {mismatch['workload']} "
              f"disagrees with {mismatch['reference']}", file=sys.stderr)
    return json_path


def _results(started, described, scale, seed, repeat, engines, workloads, runs,
             complete: bool) -> dict:
    meta = {
        "suite": "ember benchmarks", "format": 1, "date": f"{started:%Y-%m-%d}",
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.datetime.now().isoformat(timespec="seconds"),
        "complete": complete,
        "scale": scale.name, "scale_settings": vars(scale), "seed": seed, "repeat": repeat,
        "engines": engines,
        "engine_settings": {name: {"settings": ENGINES[name].settings(None),
                                   "memory_budget_key": ENGINES[name].memory_key}
                            for name in engines},
        **copy.deepcopy(described),
    }
    # The machine may be shared: the load on both sides of the run says how
    # much to trust it.
    meta["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return report.build(meta, workloads, runs)
