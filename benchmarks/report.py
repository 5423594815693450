"""From raw runs to the results JSON and the markdown tables.

Per workload and engine: the median, min and max of the timed spans, the
highest peak RSS of the process tree, and whether the answer agrees with the
reference (the serial floor when it ran, else the first engine that did).
Per workload: ember's ratios to PySpark, Dask and the 2-core floor (serial
time / 2), and each speed goal marked met or missed.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

from benchmarks.answers import same

FLOOR_CORES = 2
PYSPARK_GOAL = 0.5      # ember at most half PySpark's wall time, every workload
SKLEARN_GOAL = 2.0      # mllib: ember within 2x scikit-learn in one process, where it runs
FLOOR_GOAL = 1.5        # CPU-bound: ember within 1.5x of serial / 2
MEMORY_GOAL = 1.25      # spill workloads: each worker's peak RSS within budget + 25 %
# The simplest engine that answered is the reference: plain Python first.
REFERENCE_ORDER = ("serial", "raw", "sklearn", "dask", "pyspark", "redis", "ember")


def _agrees(entry: dict) -> bool:
    return entry.get("answer_check") in ("reference", "match")


def _spread(values) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarise_engine(runs: list[dict], workload) -> dict:
    entry: dict = {"runs": runs}
    failed = [run for run in runs if run["status"] != "ok"]
    if not runs or failed:
        entry["status"] = failed[0]["status"] if failed else "not run"
        entry["error"] = failed[0].get("error", "") if failed else ""
        return entry
    entry["status"] = "ok"
    entry["wall_s"] = _spread([run["wall_s"] for run in runs])
    entry["peak_rss_mb"] = round(max(run["peak_rss_bytes"] for run in runs) / 2**20, 1)
    entry["peak_process_rss_mb"] = round(
        max(run.get("peak_process_rss_bytes", 0) for run in runs) / 2**20, 1)
    entry["phases_median_s"] = {
        phase: statistics.median(run["phases"][phase] for run in runs)
        for phase in runs[0]["phases"]}
    if workload.metric:
        entry["metric"] = _spread([workload.metric.of_run(run) for run in runs])
    entry["answer"] = runs[0]["answer"]
    entry["stable"] = all(same(run["answer"], entry["answer"]) for run in runs)
    return entry


def check_answers(engines: dict[str, dict]) -> str | None:
    """Marks each engine's answer against the reference; returns the reference."""
    answered = [name for name in REFERENCE_ORDER if engines.get(name, {}).get("status") == "ok"]
    if not answered:
        return None
    reference = answered[0]
    expected = engines[reference]["answer"]
    for name in answered:
        entry = engines[name]
        if name == reference:
            entry["answer_check"] = "reference"
        else:
            entry["answer_check"] = "match" if same(entry["answer"], expected) else "MISMATCH"
        if not entry["stable"]:
            entry["answer_check"] += " (differs between repetitions)"
    return reference


def _median(engines, name):
    entry = engines.get(name, {})
    return entry["wall_s"]["median"] if entry.get("status") == "ok" else None


def ratios(workload, engines: dict[str, dict]) -> dict:
    ember = _median(engines, "ember")
    if workload.group == "mllib":
        return {f"ember/{name}": (ember / _median(engines, name)
                                  if ember and _median(engines, name) else None)
                for name in ("pyspark", "sklearn") if name in engines}
    if workload.group != "compute":
        # Log-store workloads: ember against each store (or the serial
        # reader) that ran the same workload.
        return {f"ember/{name}": (ember / _median(engines, name)
                                  if ember and _median(engines, name) else None)
                for name in engines if name != "ember"}
    pyspark, dask, serial = (_median(engines, n) for n in ("pyspark", "dask", "serial"))
    return {
        "ember/pyspark": ember / pyspark if ember and pyspark else None,
        "ember/dask": ember / dask if ember and dask else None,
        # Without data to process the serial version does next to nothing,
        # and a ratio to it would only measure that nothing.
        "ember/(serial/2)": (ember / (serial / FLOOR_CORES)
                             if ember and serial and workload.datasets else None),
    }


def goals(workload, engines: dict[str, dict], ratio: dict,
          budget_mb: float | None = None) -> list[dict]:
    stated = [(f"<= {PYSPARK_GOAL}x PySpark", ratio.get("ember/pyspark"), PYSPARK_GOAL, "x")]
    if workload.group == "mllib" and "ember/sklearn" in ratio:
        stated.append((f"<= {SKLEARN_GOAL}x scikit-learn", ratio["ember/sklearn"],
                       SKLEARN_GOAL, "x"))
    if workload.cpu_bound:
        floor = workload.floor_goal or FLOOR_GOAL
        stated.append((f"<= {floor}x serial/{FLOOR_CORES}", ratio["ember/(serial/2)"],
                       floor, "x"))
    ember = engines.get("ember", {})
    if workload.metric:
        metric = workload.metric
        value = ember["metric"]["median"] if ember.get("status") == "ok" else None
        stated.append((f"{metric.label} < {metric.goal} {metric.unit}", value, metric.goal,
                       f" {metric.unit}"))
    if workload.memory_budget and budget_mb:
        limit = MEMORY_GOAL * budget_mb
        value = ember.get("peak_process_rss_mb") or None if ember.get("status") == "ok" else None
        stated.append((f"largest worker's peak RSS <= {MEMORY_GOAL}x budget ({limit:g} MB)",
                       value, limit, " MB"))
    marked = []
    for goal, value, limit, unit in stated:
        if ember.get("status") != "ok":
            status = f"not measured (ember: {ember.get('status', 'not run')})"
        elif not _agrees(ember):
            status = f"invalid (answer: {ember.get('answer_check')})"
        elif value is None:
            status = "not measured (comparison engine missing)"
        else:
            status = "met" if value <= limit else "missed"
        marked.append({"goal": goal, "value": value, "unit": unit.strip(), "status": status})
    return marked


def build(meta: dict, workloads: dict, runs: dict[str, dict[str, list]]) -> dict:
    results = dict(meta, workloads={}, mismatches=[])
    for name, by_engine in runs.items():
        workload = workloads[name]
        engines = {engine: summarise_engine(engine_runs, workload)
                   for engine, engine_runs in by_engine.items()}
        reference = check_answers(engines)
        for engine, entry in engines.items():
            if entry.get("answer_check", "").startswith("MISMATCH"):
                results["mismatches"].append({"workload": name, "engine": engine,
                                              "reference": reference})
        ratio = ratios(workload, engines)
        results["workloads"][name] = {
            "measures": workload.measures, "group": workload.group,
            "cpu_bound": workload.cpu_bound,
            "reference": reference, "engines": engines, "ratios": ratio,
            # The speed goals are stated for the compute and mllib workloads.
            "goals": (goals(workload, engines, ratio,
                            meta.get("scale_settings", {}).get("spill_budget_mb"))
                      if "ember" in engines and workload.group in ("compute", "mllib")
                      else []),
            "memory_budget": bool(workload.memory_budget),
            "metric": ({"label": workload.metric.label, "unit": workload.metric.unit,
                        "goal": workload.metric.goal} if workload.metric else None),
        }
    return results


# --- markdown -----------------------------------------------------------------

def _num(value: float) -> str:
    """Three significant digits without exponents; the tables mix µs and minutes."""
    if value == 0:
        return "0"
    decimals = max(0, 2 - math.floor(math.log10(abs(value))))
    return f"{value:.{decimals}f}"


def _cell_time(entry: dict) -> str:
    status = entry.get("status", "not run")
    if status != "ok":
        return status
    wall = entry["wall_s"]
    flag = "" if _agrees(entry) else " ✗"
    return f"{_num(wall['median'])} ({_num(wall['min'])}–{_num(wall['max'])}){flag}"


def _throughput(entry: dict | None, records: int) -> str:
    """Records/s at the median, and MB/s where the answer says how many
    bytes were sent (produce); ``records`` when it does not say how many."""
    if not entry:
        return "—"
    if entry.get("status") != "ok":
        return entry.get("status", "not run")
    median = entry["wall_s"]["median"]
    answer = entry.get("answer") if isinstance(entry.get("answer"), dict) else {}
    text = f"{answer.get('records_sent', answer.get('records', records)) / median:,.0f}"
    if "bytes_sent" in answer:
        text += f" ({answer['bytes_sent'] / median / 1e6:.1f} MB/s)"
    return text


def _cell_ratio(value) -> str:
    return "—" if value is None else f"{value:.2f}"


def _answers_cell(workload: dict) -> str:
    bad = [f"MISMATCH {engine}" for engine, entry in workload["engines"].items()
           if entry.get("answer_check", "").startswith("MISMATCH")]
    unstable = [f"{engine} unstable" for engine, entry in workload["engines"].items()
                if entry.get("status") == "ok" and not entry["stable"]]
    if bad or unstable:
        return ", ".join(bad + unstable)
    return f"agree (ref: {workload['reference']})" if workload["reference"] else "—"


def _table(header: list[str], rows: list[list[str]], right_from: int = 1) -> list[str]:
    align = ["---" if i < right_from else "---:" for i in range(len(header))]
    return ["| " + " | ".join(row) + " |" for row in [header, align, *rows]]


def markdown(results: dict) -> str:
    engines = results["engines"]
    has_ember = "ember" in engines
    machine = results["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in results["versions"].items() if v)
    lines = [
        f"# Benchmarks: {results['scale']} scale, {results['date']}",
        "",
        f"{machine['cores_logical']} cores ({machine['cpu']}), {machine['memory_gb']} GiB, "
        f"Python {machine['python']}, {machine['java'] or 'no Java'}; {versions}. "
        f"Seed {results['seed']}; {results['repeat']} run(s) per cell, each in a fresh process.",
        "",
        *([] if results.get("complete", True) else
          ["**Partial: the run stopped before every workload had run; these are the "
           "workloads that finished.**", ""]),
        "## Wall time (s): median (min–max)",
        "",
    ]
    groups: dict[str, list[str]] = {}
    for name, workload in results["workloads"].items():
        groups.setdefault(workload.get("group", "compute"), []).append(name)
    for group, names in groups.items():
        if len(groups) > 1:
            lines += [f"### {group} workloads", ""]
        lines += _wall_table(results, names, has_ember) + [""]
    lines.pop()

    metric_rows = []
    for name, workload in results["workloads"].items():
        cells = [workload["engines"].get(e, {}).get("metric") for e in engines]
        if any(cells):
            metric = workload["metric"]
            metric_rows.append([f"{name}: {metric['label']} ({metric['unit']})",
                                *("—" if not c else _num(c["median"]) for c in cells),
                                f"< {metric['goal']}"])
    if metric_rows:
        lines += ["", "## Overheads (median)", "",
                  *_table(["workload", *engines, "ember goal"], metric_rows)]

    records = results.get("scale_settings", {}).get("log_records")
    log_names = [name for name, w in results["workloads"].items() if w.get("group") == "log store"]
    if records and log_names:
        columns = [e for e in engines
                   if any(e in results["workloads"][n]["engines"] for n in log_names)]
        rows = []
        for name in log_names:
            workload = results["workloads"][name]
            rows.append([name, *(_throughput(workload["engines"].get(e), records)
                                 for e in columns)])
        lines += ["", f"## Log-store throughput (records/s at the median; {records:,} records "
                      f"of 100 B, or a tenth as many of 1 KB for the _1k workloads)", "",
                  *_table(["workload", *columns], rows)]

    lines += ["", "## Peak RSS of the whole process tree (MB, highest run)", ""]
    lines += _table(["workload", *engines], [
        [name, *(str(w["engines"].get(e, {}).get("peak_rss_mb", "—")) for e in engines)]
        for name, w in results["workloads"].items()])
    budgeted = [name for name, w in results["workloads"].items() if w.get("memory_budget")]
    if budgeted:
        budget = results.get("scale_settings", {}).get("spill_budget_mb")
        lines += ["", f"## Largest single process below the run's own (MB, highest run; "
                      f"memory budget {budget} MB)", "",
                  "ember and PySpark's Python workers, Dask's pool processes; for PySpark "
                  "the largest is its JVM, which holds driver and executor together.", ""]
        lines += _table(["workload", *engines], [
            [name, *(str(results["workloads"][name]["engines"].get(e, {})
                         .get("peak_process_rss_mb") or "—") for e in engines)]
            for name in budgeted])
    lines += ["", "\"—\": the engine has no version of that workload."]

    if has_ember and any(w["goals"] for w in results["workloads"].values()):
        goal_rows = []
        for name, workload in results["workloads"].items():
            for goal in workload["goals"]:
                value = "—" if goal["value"] is None else f"{_num(goal['value'])}{goal['unit']}"
                goal_rows.append([name, goal["goal"], value, goal["status"]])
        lines += ["", "## Speed goals (ember)", "",
                  *_table(["workload", "goal", "measured", "status"], goal_rows, right_from=2)]

    problems = _problems(results)
    if problems:
        lines += ["", "## Problems", "", *problems]
    return "\n".join(lines) + "\n"


_NAMES = {"pyspark": "PySpark", "dask": "Dask", "redis": "Redis", "(serial/2)": "(serial ÷ 2)",
          "sklearn": "scikit-learn"}


def _ratio_label(key: str) -> str:
    ember, other = key.split("/", 1)
    return f"{ember} ÷ {_NAMES.get(other, other)}"


def _wall_table(results: dict, names: list[str], has_ember: bool) -> list[str]:
    """One table for workloads of one group, with the engines that ran them."""
    workloads = [results["workloads"][name] for name in names]
    engines = [e for e in results["engines"] if any(e in w["engines"] for w in workloads)]
    ratio_keys = list(dict.fromkeys(key for w in workloads for key in w["ratios"]))
    header = ["workload", *engines]
    if has_ember:
        header += [_ratio_label(key) for key in ratio_keys]
    rows = []
    for name, workload in zip(names, workloads):
        row = [name, *(_cell_time(workload["engines"][e]) if e in workload["engines"] else "—"
                       for e in engines)]
        if has_ember:
            row += [_cell_ratio(workload["ratios"].get(key)) for key in ratio_keys]
        rows.append(row + [_answers_cell(workload)])
    return _table(header + ["answers"], rows)


def _problems(results: dict) -> list[str]:
    failures: dict[tuple[str, str], list[str]] = {}
    for name, workload in results["workloads"].items():
        for engine, entry in workload["engines"].items():
            if entry.get("status") not in ("ok", None):
                failures.setdefault((engine, entry.get("error", entry["status"])), []).append(name)
    lines = [f"- **{engine}** failed on {', '.join(names)}: `{error}`"
             for (engine, error), names in failures.items()]
    lines += [f"- **ANSWER MISMATCH**: {m['engine']} on {m['workload']} disagrees with "
              f"{m['reference']}" for m in results["mismatches"]]
    return lines


def write(results: dict, out_dir: Path, paths: tuple[Path, Path] | None = None,
          suffix: str = "", render=None) -> tuple[Path, Path]:
    """Write the JSON and the markdown (``render(results)``, this module's
    ``markdown`` by default); to ``paths`` if given (an update of the same
    run), else to a new ``<date>-<scale><suffix>[-N]`` name in ``out_dir``."""
    if paths is None:
        out_dir.mkdir(parents=True, exist_ok=True)
        stem = f"{results['date']}-{results['scale']}{suffix}"
        candidate, n = stem, 1
        while (out_dir / f"{candidate}.json").exists():
            n += 1
            candidate = f"{stem}-{n}"
        paths = out_dir / f"{candidate}.json", out_dir / f"{candidate}.md"
    json_path, md_path = paths
    json_path.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    md_path.write_text((render or markdown)(results), encoding="utf-8")
    return json_path, md_path


def rebuild(json_path: Path) -> tuple[Path, Path]:
    """Summarise a results file again from the runs it records (after a
    change to how runs are summarised or reported) and rewrite it and its
    markdown in place."""
    from benchmarks.workloads import all_workloads

    old = json.loads(json_path.read_text(encoding="utf-8"))
    meta = {key: value for key, value in old.items() if key not in ("workloads", "mismatches")}
    known = all_workloads()
    workloads = {name: known[name] for name in old["workloads"]}
    runs = {name: {engine: entry["runs"] for engine, entry in workload["engines"].items()}
            for name, workload in old["workloads"].items()}
    return write(build(meta, workloads, runs), json_path.parent,
                 (json_path, json_path.with_suffix(".md")))
