"""The status page: live HTML pages and a JSON API served by the driver.

``Context.uiWebUrl`` is the page's address while the Context runs (None with
``spark.ui.enabled=false``). ``StatusPage`` serves, from a
``ThreadingHTTPServer`` bound to 127.0.0.1 on an ephemeral port, in daemon
threads, stopped by ``Context.stop()``, the pages of ``driver.ui_html``:

* ``/``: the application, the latest job's stage graph, jobs, stages,
  workers (memory in use against budget), cached RDDs, and the sections
  other packages contributed (``driver.ui_sections``; the log stores the
  Context read topics from are one, registered here);
* ``/job/N``: a job's stage graph and its stages;
* ``/stage/N``: a stage's RDDs, summary metrics, task timeline per worker
  slot, and task table (every attempt, with the metrics its worker measured);
* ``/worker/ID``: a worker's memory and cached blocks;
* ``/api/status``, ``/api/job/N``, ``/api/stage/N``: the report behind each
  page, as JSON.

Everything a page shows comes from one snapshot function, ``report``: it
asks the scheduler's loop for copies of its records
(``DAGScheduler.status_snapshot``/``cluster_snapshot``), the backend for
what workers last reported, and each registered section for its data, and
returns plain data. Pages only render that data; no request changes
anything. Everything a user named (job descriptions, RDD names, call sites,
errors) is escaped.

Also here: the HTML of ``Context._repr_html_`` (a notebook's rich display),
drawn from the same report.

Must not know: how the scheduler keeps its records (it reads snapshots), or
the wire protocol.
"""

from __future__ import annotations

import json
import logging
import math
import selectors
import socket
import threading
import time
import urllib.parse
from typing import TYPE_CHECKING, Any, Callable

from ember.driver.ui_sections import Raw, escape, register_section, sections, table

if TYPE_CHECKING:
    from http.server import BaseHTTPRequestHandler

log = logging.getLogger("ember.ui")


# --- the report ----------------------------------------------------------------------


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def report(context: Any, *, job: int | None = None, stage: int | None = None) -> dict:
    """Everything the pages show, as plain data (the JSON API's answer).
    ``job`` selects the job whose stage graph is included (by default the
    latest); ``stage`` a stage whose task attempts are included."""
    scheduler = context._scheduler
    records = scheduler.status_snapshot(timeout=5.0, tasks_of=() if stage is None else (stage,))
    workers, cached = scheduler.cluster_snapshot(timeout=5.0)
    registered = context._backend.registered()
    states = context._backend.worker_states()
    now = time.time()
    jobs = [{
        "id": record.job_id, "description": record.description, "group": record.group,
        "tags": sorted(record.tags), "status": record.status, "stageIds": list(record.stage_ids),
        "submitted": record.submitted, "completed": record.completed,
        "duration": (record.completed or now) - record.submitted,
    } for record in reversed(records.jobs.values())]
    stages = [_stage_row(record, now) for record in reversed(records.stages.values())]
    worker_rows = []
    for worker in sorted(workers, key=lambda w: _worker_order(w["id"])):
        registration = registered.get(worker["id"])
        worker_rows.append({**worker, "pid": getattr(registration, "pid", None), "state": "ALIVE",
                            **_worker_state(states.get(worker["id"]))})
    exited = getattr(context._cluster, "exited", None)
    for worker_id, reason in sorted((exited() if exited else {}).items(),
                                    key=lambda item: _worker_order(item[0])):
        worker_rows.append({"id": worker_id, "host": None, "cores": None, "busy": 0,
                            "pid": None, "state": f"EXITED ({reason})", **_worker_state(None)})
    storage = []
    for rdd_id, rdd in _persisted(context):
        partitions = cached.get(rdd_id, {})
        storage.append({
            "id": rdd.id(), "name": repr(rdd), "storageLevel": str(rdd.getStorageLevel()),
            "numPartitions": rdd.getNumPartitions(), "numCachedPartitions": len(partitions),
            "workers": sorted({w for holders in partitions.values() for w in holders}),
        })
    data = {
        "application": {
            "name": context.appName, "id": context.applicationId, "master": context.master,
            "version": context.version, "startTime": context.startTime / 1000.0,
            "defaultParallelism": _or_none(lambda: context.defaultParallelism),
        },
        "generated": now,
        "running": any(j["status"] == "RUNNING" for j in jobs),
        "jobs": jobs, "stages": stages, "workers": worker_rows, "storage": storage,
        "graph": _graph(records, job if job is not None else next(reversed(records.jobs), None)),
        "stage": None, "tasks": [],
    }
    if stage is not None and stage in records.stages:
        record = records.stages[stage]
        data["stage"] = {**_stage_row(record, now),
                         "shape": record.shape.to_dict() if record.shape is not None else None}
        data["tasks"] = [_task_row(task, now) for task in record.tasks.values()]
    data["sections"] = []
    data["sectionErrors"] = {}
    for section in sections():
        try:
            value = section.collect(context)
        except Exception as error:  # noqa: BLE001 - one section's failure is shown, not fatal
            data["sectionErrors"][section.key] = f"{type(error).__name__}: {error}"
            value = None
        if value is not None or section.key in data["sectionErrors"]:
            data[section.key] = value
            data["sections"].append({"key": section.key, "title": section.title})
    return data


def _stage_row(record: Any, now: float) -> dict:
    shape = record.shape
    return {
        "id": record.stage_id, "attempt": record.attempt, "name": record.name,
        "status": record.status, "numTasks": record.num_tasks, "numActiveTasks": record.active,
        "numCompletedTasks": record.completed, "numFailedTasks": record.failed,
        "submitted": record.submitted, "completed": record.finished,
        "duration": (record.finished or now) - record.submitted,
        "kind": shape.kind if shape is not None else None,
        "parents": list(shape.parents) if shape is not None else [],
        "metrics": {_camel(name): value for name, value in record.totals.items()},
    }


def _task_row(task: Any, now: float) -> dict:
    metrics = task.metrics
    return {
        "tid": task.tid, "stageId": task.stage_id, "stageAttempt": task.stage_attempt,
        "partition": task.partition, "attempt": task.attempt, "worker": task.worker_id,
        "status": task.status, "launched": task.launched, "finished": task.finished,
        "duration": (task.finished or now) - task.launched, "error": task.error,
        "slot": metrics.slot if metrics is not None else None,
        "metrics": ({_camel(name): value for name, value in metrics.to_dict().items()}
                    if metrics is not None else None),
    }


def _graph(records: Any, job_id: int | None) -> dict | None:
    """A job's stages with their shapes and statuses, for its picture. A
    stage that an earlier job computed, and this one did not run, is
    SKIPPED; one not submitted yet is PENDING."""
    job = records.jobs.get(job_id) if job_id is not None else None
    if job is None:
        return None
    stages = []
    for sid in sorted(job.shapes):
        record = records.stages.get(sid)
        if record is None:
            status = "PENDING" if job.status == "RUNNING" else "SKIPPED"
        elif record.status == "ACTIVE":
            status = "ACTIVE"
        elif record.submitted < job.submitted:
            status = "SKIPPED"
        else:
            status = record.status
        stages.append({**job.shapes[sid].to_dict(), "status": status,
                       "hasPage": record is not None})
    return {"jobId": job.job_id, "description": job.description, "status": job.status,
            "stages": stages}


def _worker_state(state: dict | None) -> dict:
    """What a worker last reported of its memory and blocks (None: nothing yet)."""
    if not state:
        return {"memoryUsed": None, "memoryBudget": None, "storageUsed": None,
                "storageCapacity": None, "diskUsed": None, "numBlocks": None, "blocks": []}
    capacity = state.get("storageCapacity")
    return {
        "memoryUsed": state.get("memoryUsed"), "memoryBudget": state.get("memoryBudget"),
        "storageUsed": state.get("storageUsed"),
        "storageCapacity": None if capacity is None or math.isinf(capacity) else int(capacity),
        "diskUsed": state.get("diskUsed"), "numBlocks": state.get("numBlocks"),
        "blocks": [{"rdd": rdd, "partition": partition, "size": size, "where": where}
                   for rdd, partition, size, where in state.get("blocks", ())],
    }


def _log_stores(context: Any) -> list | None:
    """The log stores the Context read topics from (sc.topicRDD), while their
    handles live: address, state, and each topic's partition count; of a
    replicated store also each partition's leader, replicas, in-sync
    replicas, leader epoch and followers' lag (``LogStore.describe``)."""
    stores = []
    for address, store in sorted(dict(context._log_stores).items()):
        state, topics = store.describe()
        listed = []
        for name, meta in sorted(topics.items()):
            topic = {"name": name, "partitions": meta["partitions"]}
            if "leaders" in meta:
                lags = meta.get("follower_lag") or [None] * meta["partitions"]
                topic["partitionStates"] = [
                    {"partition": p, "leader": meta["leaders"][p],
                     "replicas": meta["replicas"][p], "isr": meta["isr"][p],
                     "leaderEpoch": meta["leader_epochs"][p],
                     "followerLag": None if lags[p] is None
                     else {str(b): lag for b, lag in lags[p].items()}}
                    for p in range(meta["partitions"])]
            listed.append(topic)
        stores.append({"address": address, "state": state, "topics": listed})
    return stores


def _render_log_stores(stores: list) -> str:
    html = table(["address", "state", "topics (partitions)"],
                 [[store["address"], store["state"],
                   ", ".join(f"{t['name']} ({t['partitions']})" for t in store["topics"])]
                  for store in stores],
                 empty="This Context has read no topic.")
    rows, under = [], []
    for store in stores:
        for topic in store["topics"]:
            for p in topic.get("partitionStates", ()):
                lag = p["followerLag"]
                rows.append([topic["name"], p["partition"],
                             p["leader"] if p["leader"] >= 0 else "none",
                             ",".join(map(str, p["replicas"])), ",".join(map(str, p["isr"])),
                             p["leaderEpoch"], "?" if lag is None else ", ".join(
                                 f"{b}: {'?' if v is None else v}" for b, v in sorted(lag.items()))])
                under.append("class='under-replicated'" if len(p["isr"]) < len(p["replicas"])
                             else "")
    if rows:
        html += table(["topic", "partition", "leader", "replicas", "in-sync replicas",
                       "leader epoch", "follower lag (offsets)"], rows, row_attributes=under)
    return html


# The log stores' section is contributed through the same hook as any other.
register_section("logStores", "Log stores", _log_stores, _render_log_stores)


def _or_none(read: Callable[[], Any]) -> Any:
    try:
        return read()
    except Exception:  # noqa: BLE001 - a detail the page can do without
        return None


def _persisted(context: Any) -> list:
    """The Context's persisted RDDs (the user's thread may add one meanwhile:
    then the copy is simply taken again)."""
    for _ in range(5):
        try:
            return sorted(context._persistent_rdds.items())
        except RuntimeError:  # changed size during iteration
            continue
    return []


def _worker_order(worker_id: str) -> tuple:
    prefix, _, number = worker_id.rpartition("-")
    return (prefix, int(number)) if number.isdigit() else (worker_id, -1)


def render_page(data: dict) -> str:
    """The overview page of a report."""
    from ember.driver import ui_html  # the pages' code loads with the first page served

    return ui_html.overview(data)


def context_html(context: Any) -> str:
    """The rich display of a Context: where it runs, its workers and active jobs."""
    if context._stopped:
        return (f"<div><b>Context</b> (stopped): master {escape(context.master)}, "
                f"app {escape(context.appName)}</div>")
    data = report(context)
    app = data["application"]
    url = context.uiWebUrl
    link = (f"<a href='{escape(url)}' target='_blank'>{escape(url)}</a>"
            if url else "off (spark.ui.enabled=false)")
    active = [j for j in data["jobs"] if j["status"] == "RUNNING"]
    cores = sum(w["cores"] or 0 for w in data["workers"] if w["state"] == "ALIVE")
    return "".join([
        "<div><p><b>Context</b></p>",
        table(["master", "app", "application id", "version", "cores", "status page"],
              [[app["master"], app["name"], app["id"], app["version"], cores, Raw(link)]]),
        "<p><b>Workers</b></p>",
        table(["id", "host", "pid", "cores", "busy", "state"],
              [[w["id"], w["host"], w["pid"], w["cores"], w["busy"], w["state"]]
               for w in data["workers"]], empty="No workers."),
        f"<p><b>Active jobs</b>: {len(active)}</p>",
        table(["id", "description", "stages", "duration"],
              [[j["id"], j["description"], ", ".join(map(str, j["stageIds"])),
                f"{j['duration']:.1f} s"] for j in active]) if active else "",
        "</div>",
    ])


# --- the server ------------------------------------------------------------------------


class StatusPage:
    """The HTTP server of one Context's status page.

    >>> sc.uiWebUrl.startswith("http://127.0.0.1:")
    True
    """

    def __init__(self, source: Callable[..., dict]):
        """``source(job=None, stage=None)`` answers with a report (``report``)."""
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # ~25 ms: when used

        self._source = source
        page = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server name
                page._answer(self)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                log.debug("status page: " + format, *args)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.timeout = 0.5  # handle_request never blocks longer (a client that vanished)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        # serve_forever notices shutdown() only at its next poll (0.5 s): this
        # loop wakes at once, so stopping a Context costs no wait.
        self._wake_read, self._wake_write = socket.socketpair()
        self._thread = threading.Thread(target=self._serve, name="ember-status-page", daemon=True)

    def start(self) -> "StatusPage":
        self._thread.start()
        return self

    def _serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._server, selectors.EVENT_READ)
            selector.register(self._wake_read, selectors.EVENT_READ)
            while True:
                ready = {key.fileobj for key, _ in selector.select()}
                if self._wake_read in ready:
                    return
                self._server.handle_request()  # a connection is waiting: accepted at once

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        if self._thread.is_alive():
            self._wake_write.send(b"x")
            self._thread.join(timeout=5)
        self._server.server_close()
        self._wake_read.close()
        self._wake_write.close()

    @staticmethod
    def _route(path: str) -> tuple[str, dict] | None:
        """(page, selection) of a path, or None: "overview", "job" or
        "stage" (selection: the id), "worker" (page only), or "api"."""
        parts = path.strip("/").split("/")
        api = parts[0] == "api"
        if api:
            parts = parts[1:]
            if parts == ["status"]:
                return "api", {}
        elif parts == [""]:
            return "overview", {}
        if len(parts) == 2 and parts[0] in ("job", "stage") and parts[1].isdigit() \
                and len(parts[1]) < 10:
            return ("api" if api else parts[0]), {parts[0]: int(parts[1])}
        if not api and len(parts) == 2 and parts[0] == "worker" and parts[1]:
            return "worker", {}
        return None

    def _answer(self, request: BaseHTTPRequestHandler) -> None:
        from ember.driver import ui_html  # the pages' code loads with the first page served

        path = urllib.parse.unquote(request.path.split("?", 1)[0])
        if path == "/favicon.ico":  # browsers ask for it, even for the JSON pages
            self._send(request, 200, "image/svg+xml", ui_html.ICON)
            return
        route = self._route(path)
        if route is None:
            self._send(request, 404, "text/plain; charset=utf-8",
                       f"no page {path!r}: try /, /job/N, /stage/N, /worker/ID, /api/status, "
                       f"/api/job/N or /api/stage/N")
            return
        kind, selection = route
        try:
            data = self._source(**selection)
        except Exception as error:  # noqa: BLE001 - a stopping Context: say so
            self._send(request, 503, "text/plain; charset=utf-8",
                       f"status unavailable: {type(error).__name__}: {error}")
            return
        if kind == "api":
            self._send(request, 200, "application/json", json.dumps(data, default=str))
            return
        if kind == "job":
            page = ui_html.job_page(data, selection["job"])
        elif kind == "stage":
            page = ui_html.stage_page(data, selection["stage"])
        elif kind == "worker":
            page = ui_html.worker_page(data, path.strip("/").split("/", 1)[1])
        else:
            page = ui_html.overview(data)
        if page is None:
            self._send(request, 404, "text/html; charset=utf-8", ui_html.not_found(data, path))
            return
        self._send(request, 200, "text/html; charset=utf-8", page)

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, code: int, content_type: str, body: str) -> None:
        payload = body.encode("utf-8")
        try:
            request.send_response(code)
            request.send_header("Content-Type", content_type)
            request.send_header("Content-Length", str(len(payload)))
            request.send_header("Cache-Control", "no-store")
            request.end_headers()
            request.wfile.write(payload)
        except OSError:
            pass  # the browser went away
