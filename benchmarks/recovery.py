"""``python -m benchmarks recovery``: what losing a worker mid-job costs ember.

One workload (``join`` by default: two map stages and a shuffle read) runs
on ember, in a fresh child process per run, alternately fault-free and with
one worker SIGKILLed part-way through the timed job (``--kill-at`` of the
fault-free median so far, 0.4 by default; the first faulty run uses the
first fault-free run). Alternating spreads a slow spell on a shared machine
over both kinds of run.

Reported: median (min-max) of each kind, the extra time (median faulty -
median fault-free) and the ratio (median faulty / median fault-free). Every
faulty answer must equal the fault-free one; a faulty run whose job ended
before the kill (so nothing was lost) is flagged and left out of the
faulty median.
"""

from __future__ import annotations

import datetime
import os
import statistics
import sys
from pathlib import Path

from benchmarks.answers import same
from benchmarks.datagen import DATA_ROOT, DataCache
from benchmarks import report
from benchmarks.report import _num, _spread, _table
from benchmarks.runner import RESULTS_DIR, SCRATCH_RESULTS_DIR, describe_machine, run_one

ENGINE = "ember"


def _line(kind: str, rep: int, repeat: int, record: dict) -> None:
    if record["status"] != "ok":
        detail = f"{record['status']}: {record['error']}  [{record['log']}]"
    else:
        detail = f"{record['wall_s']:8.3f} s"
        if kind == "faulty":
            killed = record.get("killed")
            detail += (f"  (killed worker pid {killed['pid']} at {killed['at_s']:.2f} s)"
                       if killed else "  (job ended before the kill)")
    print(f"  {kind:<10} {rep}/{repeat}  {detail}", flush=True)


def run_recovery(*, scale, workload, repeat: int, seed: int, kill_at: float, timeout_s: float,
                 out_dir: Path | None) -> Path:
    started = datetime.datetime.now()
    described = describe_machine()
    print(f"recovery: {workload.name} on {ENGINE}, scale {scale.name}, {repeat} fault-free and "
          f"{repeat} faulty runs, alternating; a worker SIGKILLed at {kill_at:.0%} of the "
          f"fault-free median")
    cache = DataCache(scale, seed)
    for dataset in workload.datasets:
        cache.files(dataset)
    log_dir = DATA_ROOT / "logs" / f"{started:%Y%m%d-%H%M%S}-recovery-{scale.name}"
    log_dir.mkdir(parents=True)

    runs: dict[str, list[dict]] = {"fault_free": [], "faulty": []}
    common = dict(scale=scale, seed=seed, timeout_s=timeout_s, log_dir=log_dir)
    for rep in range(1, repeat + 1):
        record = run_one(ENGINE, workload.name, rep, label="-fault-free", **common)
        runs["fault_free"].append(record)
        _line("fault-free", rep, repeat, record)
        walls = [r["wall_s"] for r in runs["fault_free"] if r["status"] == "ok"]
        if not walls:
            break
        kill_after = kill_at * statistics.median(walls)
        record = run_one(ENGINE, workload.name, rep, label="-faulty", **common,
                         extra_args=("--kill-worker-after", f"{kill_after:.3f}"))
        record["kill_after_s"] = round(kill_after, 3)
        runs["faulty"].append(record)
        _line("faulty", rep, repeat, record)

    results = dict(
        suite="ember benchmarks: recovery", format=1, date=f"{started:%Y-%m-%d}",
        started=started.isoformat(timespec="seconds"),
        finished=datetime.datetime.now().isoformat(timespec="seconds"),
        scale=scale.name, seed=seed, repeat=repeat, engine=ENGINE, workload=workload.name,
        kill_at=kill_at, **described, **summarise(runs))
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    if out_dir is None:
        out_dir = SCRATCH_RESULTS_DIR if scale.name == "tiny" else RESULTS_DIR
    json_path, md_path = write(results, out_dir)
    print()
    print(markdown(results))
    print(f"results: {json_path}\n         {md_path}")
    if results["problems"]:
        print("PROBLEMS: " + "; ".join(results["problems"]), file=sys.stderr)
    return json_path


def summarise(runs: dict[str, list[dict]]) -> dict:
    problems = [f"{kind} run {r['rep']}: {r['status']}: {r.get('error', '')} [{r['log']}]"
                for kind, records in runs.items() for r in records if r["status"] != "ok"]
    clean = [r for r in runs["fault_free"] if r["status"] == "ok"]
    faulty_ok = [r for r in runs["faulty"] if r["status"] == "ok"]
    # The kill must land inside the timed job to count.
    killed = [r for r in faulty_ok if r.get("killed") and r["killed"]["at_s"] < r["wall_s"]]
    problems += [f"faulty run {r['rep']}: the job ended before the kill"
                 for r in faulty_ok if r not in killed]
    reference = clean[0]["answer"] if clean else None
    for r in clean[1:]:
        if not same(r["answer"], reference):
            problems.append(f"fault-free run {r['rep']}: answer differs from run 1")
    wrong = [r for r in faulty_ok if reference is not None and not same(r["answer"], reference)]
    problems += [f"faulty run {r['rep']}: ANSWER DIFFERS from the fault-free one" for r in wrong]
    summary: dict = {"runs": runs, "problems": problems,
                     "answers_equal": bool(clean and faulty_ok and not wrong)}
    if clean:
        summary["fault_free_s"] = _spread([r["wall_s"] for r in clean])
    if killed:
        summary["faulty_s"] = _spread([r["wall_s"] for r in killed])
        summary["killed_at_s"] = _spread([r["killed"]["at_s"] for r in killed])
    if clean and killed:
        free, faulty = summary["fault_free_s"]["median"], summary["faulty_s"]["median"]
        summary["extra_s"] = faulty - free
        summary["ratio"] = faulty / free
    return summary


def markdown(results: dict) -> str:
    machine = results["machine"]

    def cell(key):
        spread = results.get(key)
        return (f"{_num(spread['median'])} ({_num(spread['min'])}–{_num(spread['max'])})"
                if spread else "—")

    lines = [
        f"# Recovery cost: {results['workload']} on {results['engine']}, "
        f"{results['scale']} scale, {results['date']}",
        "",
        f"{machine['cores_logical']} cores ({machine['cpu']}), Python {machine['python']}; "
        f"commit {results['commit']}. {results['repeat']} fault-free and {results['repeat']} "
        f"faulty runs, alternating, each in a fresh process; in a faulty run one of the 2 "
        f"worker processes is SIGKILLed {results['kill_at']:.0%} of the fault-free median "
        f"into the job. Load average at start "
        f"{machine['load_average_at_start']}, at end {machine.get('load_average_at_end')}.",
        "",
    ]
    ratio = results.get("ratio")
    lines += _table(
        ["runs", "wall time (s): median (min–max)", "worker killed at (s)"],
        [["fault-free", cell("fault_free_s"), "—"],
         ["one worker SIGKILLed", cell("faulty_s"), cell("killed_at_s")]])
    faulty = {r["rep"]: r for r in results["runs"]["faulty"]}
    per_run = []
    for clean in results["runs"]["fault_free"]:
        hit = faulty.get(clean["rep"], {})
        killed = hit.get("killed")
        per_run.append([str(clean["rep"]), _run_cell(clean), _run_cell(hit) if hit else "—",
                        f"{_num(killed['at_s'])} (pid {killed['pid']})" if killed else "—"])
    lines += ["", "Runs in the order they ran:", ""]
    lines += _table(["pair", "fault-free (s)", "faulty (s)", "worker killed at (s)"], per_run)
    lines += [
        "",
        f"- extra time (median faulty − median fault-free): "
        f"{_num(results['extra_s']) + ' s' if 'extra_s' in results else '—'}",
        f"- ratio (median faulty ÷ median fault-free): "
        f"{f'{ratio:.2f}' if ratio is not None else '—'}",
        f"- answers: {'every faulty answer equals the fault-free one' if results['answers_equal'] else 'NOT CHECKED OR DIFFERENT (see problems)'}",
    ]
    if results["problems"]:
        lines += ["", "## Problems", "", *(f"- {p}" for p in results["problems"])]
    return "\n".join(lines) + "\n"


def _run_cell(record: dict) -> str:
    return _num(record["wall_s"]) if record.get("status") == "ok" else record.get("status", "—")


def write(results: dict, out_dir: Path) -> tuple[Path, Path]:
    return report.write(results, out_dir, suffix="-recovery", render=markdown)

