"""The status page's HTML: one function per page, each rendering a report
(``driver.ui.report``) and nothing else.

Pages share one frame (``_page``): a title, a navigation bar, a stylesheet,
and a few lines of plain script that, while a job runs, fetch the same page
every ``REFRESH`` seconds and swap its body in place (the overview also
every ``IDLE_REFRESH`` seconds when idle, to show new jobs). A page whose
data is final (a finished job's stage, with nothing running) does not
refresh. Without script the pages are complete, just static.

Every table that can be empty says so. Every user string is escaped
(``ui_sections.table``/``escape``; ``driver.ui_svg`` for the pictures).

Must not know: the scheduler, the server, how the report is gathered.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from ember.driver import ui_svg
from ember.driver.ui_sections import Raw, escape, sections, table

REFRESH = 2  # seconds between two refreshes of a page while a job runs
IDLE_REFRESH = 10  # the overview, while nothing runs
SHOWN_JOBS = 100  # newest jobs and stages listed on the overview (the API lists all retained)

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.2em 1.5em; color: #222; font-size: 14px; }
nav { margin-bottom: 1em; } nav a { margin-right: 1.2em; }
h1 { font-size: 1.5em; margin: 0.2em 0 0.6em; } h2 { font-size: 1.15em; margin-top: 1.4em; }
table { border-collapse: collapse; margin-bottom: 1em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.55em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } table.tasks td, table.stages td { white-space: nowrap; }
tr.empty td { color: #777; font-style: italic; }
p.empty { color: #777; font-style: italic; }
.bar { width: 9em; height: 0.8em; background: #eee; display: inline-block; vertical-align: middle; }
.done { height: 100%; background: #5a9; display: inline-block; }
.mem { height: 100%; background: #69c; display: inline-block; }
.RUNNING, .ACTIVE { color: #06c; } .FAILED, .FETCH_FAILED, .LOST { color: #c00; }
.SUCCEEDED, .COMPLETE, .SUCCESS { color: #080; } .KILLED, .SKIPPED, .PENDING { color: #777; }
.picture { overflow-x: auto; margin-bottom: 1em; }
svg text { fill: #222; font-family: system-ui, sans-serif; }
rect.stage { fill: #f7f9fc; stroke: #8aa; stroke-width: 1.5; }
rect.stage.ACTIVE { stroke: #06c; stroke-width: 2.5; } rect.stage.COMPLETE { stroke: #2a9d55; }
rect.stage.FAILED { stroke: #c00; stroke-width: 2.5; }
rect.stage.SKIPPED, rect.stage.PENDING { stroke: #aaa; stroke-dasharray: 5 4; fill: #fafafa; }
.stage-title { font-weight: 600; }
g.rdd rect { fill: #fff; stroke: #9ab; } g.rdd.cached rect { fill: #eefaf2; stroke: #2a9d55; }
line.rdd-edge { stroke: #777; stroke-width: 1.2; }
rect.lane-bg { fill: #f6f6f6; } line.tick { stroke: #ddd; }
rect.task-bar { fill: #5a9; } rect.task-bar.RUNNING { fill: #39f; }
rect.task-bar.FAILED, rect.task-bar.FETCH_FAILED, rect.task-bar.LOST { fill: #d44; }
rect.task-bar.KILLED { fill: #aaa; }
.error { color: #c00; max-width: 30em; overflow-wrap: anywhere; }
.stopped { background: #fee; border: 1px solid #c99; padding: 0.4em 0.8em; margin-bottom: 1em; }
"""

ICON = ("<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'>"
        "<circle cx='8' cy='8' r='7' fill='#e8590c'/><circle cx='8' cy='9' r='3.5' fill='#ffd43b'/>"
        "</svg>")

# Refresh while something runs: fetch the page again and swap its body in
# place (no navigation: the scroll position stays, and nothing flickers).
# The server sets data-refresh on the body while there is something to see.
_SCRIPT = """
(function () {
  function schedule() {
    var every = Number(document.body.getAttribute("data-refresh") || 0);
    if (every > 0) { setTimeout(refresh, every * 1000); }
  }
  function refresh() {
    fetch(location.href, {cache: "no-store"}).then(function (reply) {
      return reply.ok ? reply.text() : Promise.reject(reply.status);
    }).then(function (text) {
      var fresh = new DOMParser().parseFromString(text, "text/html");
      document.title = fresh.title;
      document.body.replaceWith(fresh.body);
      schedule();
    }, function () {
      var note = document.createElement("p");
      note.className = "stopped";
      note.textContent = "The status page stopped answering (the Context stopped?): " +
                         "this page is no longer refreshed.";
      document.body.prepend(note);
    });
  }
  document.addEventListener("DOMContentLoaded", schedule);
})();
"""


# --- formatting ------------------------------------------------------------------


def _bytes(value: Any) -> str:
    if value is None:
        return ""
    value = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def _amount(size: Any, records: Any) -> str:
    """"size / records", or "" when nothing moved."""
    if not size and not records:
        return ""
    return f"{_bytes(size or 0)} / {int(records or 0):,}"


def _seconds(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


def _clock(value: float | None) -> str:
    if value is None:
        return ""
    return time.strftime("%H:%M:%S", time.localtime(value)) + f".{int(value * 1000) % 1000:03d}"


def _status(status: str) -> Raw:
    return Raw(f'<span class="{escape(status)}">{escape(status)}</span>')


def _progress(done: int, total: int) -> Raw:
    width = 100 * done // total if total else 100
    return Raw(f'<span class="bar"><span class="done" style="width:{width}%"></span></span> '
               f"{done}/{total}")


def _usage(used: Any, limit: Any) -> Raw | str:
    """A bar of ``used`` against ``limit`` bytes, with both written out."""
    if used is None:
        return "not reported yet"
    if not limit:
        return _bytes(used)
    width = min(100, 100 * used // limit)
    return Raw(f'<span class="bar"><span class="mem" style="width:{width}%"></span></span> '
               f"{escape(_bytes(used))} of {escape(_bytes(limit))}")


def _link(href: str, text: Any) -> Raw:
    return Raw(f"<a href='{escape(href)}'>{escape(text)}</a>")


# --- the frame -------------------------------------------------------------------


def _page(data: dict, title: str, body: list[str], refresh: float = 0) -> str:
    app = data["application"]
    attribute = f" data-refresh='{refresh:g}'" if refresh else ""
    return "".join([
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<link rel='icon' href='/favicon.ico' type='image/svg+xml'>",
        f"<title>{escape(title)} - {escape(app['name'])} - ember</title>",
        f"<style>{_STYLE}</style><script>{_SCRIPT}</script></head>",
        f"<body{attribute}>",
        f"<nav><a href='/'>{escape(app['name'])}</a><a href='/#jobs'>Jobs</a>"
        f"<a href='/#stages'>Stages</a><a href='/#workers'>Workers</a>"
        f"<a href='/#storage'>Storage</a>"
        f"<span class='generated'>as of {escape(_clock(data['generated']))}</span></nav>",
        *body,
        "</body></html>",
    ])


def _live(data: dict) -> float:
    return REFRESH if data["running"] else 0


def not_found(data: dict, path: str) -> str:
    return _page(data, "Not found", [
        "<h1>Not found</h1>",
        f"<p>Nothing at {escape(path)}: the job, stage or worker is unknown, or no longer "
        f"retained. <a href='/'>Back to the overview</a>.</p>"])


# --- tables shared by pages ------------------------------------------------------


def _stages_table(stages: list[dict], empty: str) -> str:
    rows = []
    for s in stages:
        m = s["metrics"]
        rows.append([
            _link(f"/stage/{s['id']}", s["id"]), s["name"], s["attempt"], _status(s["status"]),
            _progress(s["numCompletedTasks"], s["numTasks"]), s["numActiveTasks"],
            s["numFailedTasks"],
            _amount(m.get("inputBytes"), m.get("inputRecords")),
            _amount(m.get("outputBytes"), m.get("outputRecords")),
            _amount(m.get("shuffleReadBytes"), m.get("shuffleReadRecords")),
            _amount(m.get("shuffleWriteBytes"), m.get("shuffleWriteRecords")),
            _seconds(s["duration"])])
    return table(["id", "name", "attempt", "status", "tasks done", "running", "failed",
                  "input", "output", "shuffle read", "shuffle write", "duration"], rows,
                 empty=empty, row_attributes=[f"data-stage-id='{s['id']}'" for s in stages],
                 css="stages")


def _graph_figure(graph: dict | None, caption: bool = True) -> str:
    if graph is None:
        return "<p class='empty'>No job has run yet: nothing to draw.</p>"
    job = graph["jobId"]
    head = (f"<p>Job {_link(f'/job/{job}', job).text}: {escape(graph['description'])} "
            f"({_status(graph['status']).text})</p>" if caption else "")
    return f"{head}<div class='picture'>{ui_svg.stage_graph(graph['stages'])}</div>"


# --- the pages -------------------------------------------------------------------


def overview(data: dict) -> str:
    app = data["application"]
    jobs = data["jobs"][:SHOWN_JOBS]
    workers = data["workers"]
    body = [
        f"<h1>{escape(app['name'])}</h1>",
        table(["application id", "master", "ember", "default parallelism"],
              [[app["id"], app["master"], app["version"], app["defaultParallelism"]]]),
        "<h2 id='graph'>Latest job</h2>",
        _graph_figure(data["graph"]),
        "<h2 id='jobs'>Jobs</h2>",
        table(["id", "description", "group", "status", "stages", "duration"],
              [[_link(f"/job/{j['id']}", j["id"]), j["description"], j["group"],
                _status(j["status"]),
                Raw(", ".join(_link(f"/stage/{sid}", sid).text for sid in j["stageIds"])),
                _seconds(j["duration"])] for j in jobs],
              empty="No jobs have run yet.", css="jobs"),
        "<h2 id='stages'>Stages</h2>",
        _stages_table(data["stages"][:SHOWN_JOBS], "No stages have run yet."),
        "<h2 id='workers'>Workers</h2>",
        table(["id", "host", "pid", "cores", "busy", "memory in use", "cached in memory",
               "on disk", "blocks", "state"],
              [[_link(f"/worker/{w['id']}", w["id"]), w["host"], w["pid"], w["cores"], w["busy"],
                _usage(w["memoryUsed"], w["memoryBudget"]),
                _usage(w["storageUsed"], w["storageCapacity"]), _bytes(w["diskUsed"]),
                w["numBlocks"], w["state"]] for w in workers],
              empty="No workers.", css="workers"),
        "<h2 id='storage'>Storage</h2>",
        table(["id", "RDD", "storage level", "cached partitions", "workers"],
              [[r["id"], r["name"], r["storageLevel"],
                f"{r['numCachedPartitions']}/{r['numPartitions']}", ", ".join(r["workers"])]
               for r in data["storage"]],
              empty="No RDD is persisted.", css="storage"),
    ]
    body.extend(_sections(data))
    return _page(data, "Overview", body, REFRESH if data["running"] else IDLE_REFRESH)


def _sections(data: dict) -> list[str]:
    """The sections other packages contributed (ui_sections), in order."""
    registered = {section.key: section for section in sections()}
    parts = []
    for entry in data.get("sections", []):
        key = entry["key"]
        parts.append(f"<h2 id='section-{escape(key)}'>{escape(entry['title'])}</h2>")
        error = data["sectionErrors"].get(key)
        section = registered.get(key)
        if error is None and section is not None:
            try:
                parts.append(f"<div class='section' data-section='{escape(key)}'>"
                             f"{section.render(data[key])}</div>")
                continue
            except Exception as failure:  # noqa: BLE001 - one section must not break the page
                error = f"{type(failure).__name__}: {failure}"
        parts.append(f"<p class='error'>This section is unavailable: "
                     f"{escape(error or 'its package unregistered it')}</p>")
    return parts


def job_page(data: dict, job_id: int) -> str | None:
    job = next((j for j in data["jobs"] if j["id"] == job_id), None)
    if job is None:
        return None
    own = set(job["stageIds"])
    stages = [s for s in data["stages"] if s["id"] in own]
    body = [
        f"<h1>Job {job_id}</h1>",
        table(["description", "group", "status", "submitted", "duration"],
              [[job["description"], job["group"], _status(job["status"]),
                _clock(job["submitted"]), _seconds(job["duration"])]]),
        "<h2>Stage graph</h2>",
        _graph_figure(data["graph"], caption=False),
        "<h2>Stages</h2>",
        _stages_table(stages, "None of this job's stages has been submitted yet."),
    ]
    return _page(data, f"Job {job_id}", body, _live(data))


_SUMMARY = (("duration", lambda t: t["duration"], _seconds),
            ("run time on the worker", lambda t: t["metrics"]["runTime"], _seconds),
            ("input bytes", lambda t: t["metrics"]["inputBytes"], _bytes),
            ("shuffle read bytes", lambda t: t["metrics"]["shuffleReadBytes"], _bytes),
            ("shuffle write bytes", lambda t: t["metrics"]["shuffleWriteBytes"], _bytes),
            ("spilled to disk", lambda t: t["metrics"]["diskSpilled"], _bytes))


def _summary(tasks: list[dict]) -> str:
    """Quantiles of the metrics of the stage's successful attempts."""
    done = [t for t in tasks if t["status"] == "SUCCESS" and t["metrics"] is not None]
    rows = []
    if done:
        for name, read, show in _SUMMARY:
            values = sorted(read(t) for t in done)
            if len(values) > 1:
                q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
            else:
                q1 = median = q3 = values[0]
            rows.append([name] + [show(v) for v in (values[0], q1, median, q3, values[-1])])
    return table(["metric (successful tasks)", "min", "25th percentile", "median",
                  "75th percentile", "max"], rows,
                 empty="No task of this stage has succeeded yet.", css="summary")


_TASK_COLUMNS = ["task", "partition", "attempt", "stage attempt", "status", "worker", "slot",
                 "launched", "duration", "run time", "CPU time", "input (size / records)",
                 "output (size / records)", "shuffle read (size / records)",
                 "shuffle read remote", "shuffle write (size / records)", "spill (memory)",
                 "spill (disk)", "result size", "error"]


def _task_table(tasks: list[dict]) -> str:
    rows, attributes = [], []
    for t in sorted(tasks, key=lambda t: t["tid"]):
        m = t["metrics"] or {}
        rows.append([
            t["tid"], t["partition"], t["attempt"], t["stageAttempt"], _status(t["status"]),
            _link(f"/worker/{t['worker']}", t["worker"]), "" if t["slot"] is None else t["slot"],
            _clock(t["launched"]), _seconds(t["duration"]), _seconds(m.get("runTime")),
            _seconds(m.get("cpuTime")),
            _amount(m.get("inputBytes"), m.get("inputRecords")),
            _amount(m.get("outputBytes"), m.get("outputRecords")),
            _amount(m.get("shuffleReadBytes"), m.get("shuffleReadRecords")),
            _bytes(m.get("shuffleRemoteBytes")) if m.get("shuffleRemoteBytes") else "",
            _amount(m.get("shuffleWriteBytes"), m.get("shuffleWriteRecords")),
            _bytes(m.get("memorySpilled")) if m.get("memorySpilled") else "",
            _bytes(m.get("diskSpilled")) if m.get("diskSpilled") else "",
            _bytes(m.get("resultSize")) if m.get("resultSize") else "",
            Raw(f"<span class='error'>{escape(t['error'])}</span>") if t["error"] else ""])
        attributes.append(f"class='task' data-tid='{t['tid']}' data-status='{escape(t['status'])}'"
                          f" data-partition='{t['partition']}'")
    return table(_TASK_COLUMNS, rows, empty="No tasks have been launched in this stage yet.",
                 row_attributes=attributes, css="tasks")


def stage_page(data: dict, stage_id: int) -> str | None:
    stage = data["stage"]
    if stage is None or stage["id"] != stage_id:
        return None
    tasks = data["tasks"]
    shape = stage["shape"]
    cores = {w["id"]: w["cores"] for w in data["workers"] if w["cores"]}
    m = stage["metrics"]
    picture = (ui_svg.stage_graph([{**shape, "status": stage["status"]}], link=False)
               if shape is not None else "<p class='empty'>No shape recorded.</p>")
    body = [
        f"<h1>Stage {stage_id}: {escape(stage['name'])}</h1>",
        table(["kind", "attempt", "status", "tasks done", "running", "failed", "reads stages",
               "submitted", "duration"],
              [[stage["kind"], stage["attempt"], _status(stage["status"]),
                _progress(stage["numCompletedTasks"], stage["numTasks"]),
                stage["numActiveTasks"], stage["numFailedTasks"],
                Raw(", ".join(_link(f"/stage/{p}", p).text for p in stage["parents"]) or "none"),
                _clock(stage["submitted"]), _seconds(stage["duration"])]]),
        table(["input", "output", "shuffle read", "shuffle write", "spill (memory)",
               "spill (disk)"],
              [[_amount(m.get("inputBytes"), m.get("inputRecords")),
                _amount(m.get("outputBytes"), m.get("outputRecords")),
                _amount(m.get("shuffleReadBytes"), m.get("shuffleReadRecords")),
                _amount(m.get("shuffleWriteBytes"), m.get("shuffleWriteRecords")),
                _bytes(m.get("memorySpilled", 0)), _bytes(m.get("diskSpilled", 0))]],
              css="stage-totals"),
        "<h2>RDDs</h2>",
        f"<div class='picture'>{picture}</div>",
        "<h2>Summary metrics</h2>",
        _summary(tasks),
        "<h2>Timeline</h2>",
        f"<div class='picture'>{ui_svg.timeline(tasks, cores, data['generated'])}</div>",
        f"<h2>Tasks ({len(tasks)})</h2>",
        _task_table(tasks),
    ]
    live = REFRESH if stage["status"] == "ACTIVE" or data["running"] else 0
    return _page(data, f"Stage {stage_id}", body, live)


def worker_page(data: dict, worker_id: str) -> str | None:
    worker = next((w for w in data["workers"] if w["id"] == worker_id), None)
    if worker is None:
        return None
    blocks = worker["blocks"]
    more = (worker["numBlocks"] or 0) - len(blocks)
    body = [
        f"<h1>Worker {escape(worker_id)}</h1>",
        table(["host", "pid", "cores", "busy slots", "state"],
              [[worker["host"], worker["pid"], worker["cores"], worker["busy"], worker["state"]]]),
        "<h2>Memory</h2>",
        table(["", "in use", "of"],
              [["process (resident)", _usage(worker["memoryUsed"], worker["memoryBudget"]),
                _bytes(worker["memoryBudget"])],
               ["cached blocks in memory", _usage(worker["storageUsed"], worker["storageCapacity"]),
                _bytes(worker["storageCapacity"])],
               ["cached blocks on disk", _bytes(worker["diskUsed"]), ""]], css="memory"),
        f"<h2>Cached blocks ({worker['numBlocks'] or 0})</h2>",
        table(["block", "RDD", "partition", "size", "where"],
              [[f"rdd_{b['rdd']}_{b['partition']}", b["rdd"], b["partition"], _bytes(b["size"]),
                b["where"]] for b in blocks],
              empty="This worker holds no cached block.", css="blocks",
              row_attributes=[f"class='block' data-rdd='{b['rdd']}'" for b in blocks]),
        f"<p>and {more} more blocks not listed.</p>" if more > 0 else "",
    ]
    return _page(data, f"Worker {worker_id}", body, _live(data))
