"""The status page: a small live HTML page and a JSON API served by the driver.

``Context.uiWebUrl`` is the page's address while the Context runs (None with
``spark.ui.enabled=false``). ``StatusPage`` serves, from a
``ThreadingHTTPServer`` bound to 127.0.0.1 on an ephemeral port, in daemon
threads, stopped by ``Context.stop()``:

* ``/``: the application, its jobs (id, description or call site, status,
  stages, duration), stages (id, name, attempt, status, tasks done, running,
  failed and total), workers (id, host, pid, cores, busy slots, state),
  cached RDDs (partitions cached, where) and the log stores the Context read
  topics from (address, state, topics; asked with a 2 s timeout). Plain HTML
  that reloads itself every ``REFRESH`` seconds.
* ``/api/status``: the same report as JSON (``report()``).

Everything a user named (job descriptions, RDD names, call sites) is
escaped with ``html.escape``. The page is read-only: no request changes
anything, and a request only ever reads snapshots taken on the scheduler's
loop thread (``DAGScheduler.status_snapshot``/``cluster_snapshot``).

Also here: the HTML of ``Context._repr_html_`` (a notebook's rich display),
drawn from the same report.

Must not know: how the scheduler keeps its records (it reads snapshots), or
the wire protocol.
"""

from __future__ import annotations

import html
import json
import logging
import selectors
import socket
import threading
import time
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from http.server import BaseHTTPRequestHandler

log = logging.getLogger("ember.ui")

REFRESH = 2  # seconds between two reloads of the page
SHOWN_JOBS = 100  # newest jobs and stages listed on the page (the API lists all retained)


# --- sections other packages contribute ----------------------------------------------

# name -> (collect(context) -> JSON-able data, or None to show nothing; render(data) -> HTML).
# A package with its own page section (ember.streaming) registers it; the page
# and /api/status carry it under "sections".
SECTIONS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], str]]] = {}


def register_section(name: str, collect: Callable[[Any], Any], render: Callable[[Any], str]) -> None:
    SECTIONS[name] = (collect, render)


# --- the report ----------------------------------------------------------------------


def report(context: Any) -> dict:
    """Everything the page shows, as plain data (the JSON API's answer)."""
    scheduler = context._scheduler
    records = scheduler.status_snapshot(timeout=5.0)
    workers, cached = scheduler.cluster_snapshot(timeout=5.0)
    registered = context._backend.registered()
    now = time.time()
    jobs = [{
        "id": job.job_id, "description": job.description, "group": job.group,
        "tags": sorted(job.tags), "status": job.status, "stageIds": list(job.stage_ids),
        "submitted": job.submitted, "completed": job.completed,
        "duration": (job.completed or now) - job.submitted,
    } for job in reversed(records.jobs.values())]
    stages = [{
        "id": stage.stage_id, "attempt": stage.attempt, "name": stage.name,
        "status": stage.status, "numTasks": stage.num_tasks, "numActiveTasks": stage.active,
        "numCompletedTasks": stage.completed, "numFailedTasks": stage.failed,
        "submitted": stage.submitted, "duration": (stage.finished or now) - stage.submitted,
    } for stage in reversed(records.stages.values())]
    worker_rows = []
    for worker in sorted(workers, key=lambda w: _worker_order(w["id"])):
        registration = registered.get(worker["id"])
        worker_rows.append({**worker, "pid": getattr(registration, "pid", None),
                            "state": "ALIVE"})
    exited = getattr(context._cluster, "exited", None)
    for worker_id, reason in sorted((exited() if exited else {}).items(),
                                    key=lambda item: _worker_order(item[0])):
        worker_rows.append({"id": worker_id, "host": None, "cores": None, "busy": 0,
                            "pid": None, "state": f"EXITED ({reason})"})
    storage = []
    for rdd_id, rdd in _persisted(context):
        partitions = cached.get(rdd_id, {})
        storage.append({
            "id": rdd_id, "name": repr(rdd), "storageLevel": str(rdd.getStorageLevel()),
            "numPartitions": rdd.getNumPartitions(), "numCachedPartitions": len(partitions),
            "workers": sorted({w for holders in partitions.values() for w in holders}),
        })
    return {
        "application": {
            "name": context.appName, "id": context.applicationId, "master": context.master,
            "version": context.version, "startTime": context.startTime / 1000.0,
            "defaultParallelism": _or_none(lambda: context.defaultParallelism),
        },
        "jobs": jobs, "stages": stages, "workers": worker_rows, "storage": storage,
        "logStores": _log_stores(context),
        "sections": {name: data for name, (collect, _) in list(SECTIONS.items())
                     if (data := _or_none(lambda c=collect: c(context))) is not None},
    }


def _log_stores(context: Any) -> list:
    """The log stores the Context read topics from (sc.topicRDD), while their
    handles live: address, state, and each topic's partition count."""
    stores = []
    for address, store in sorted(dict(context._log_stores).items()):
        state, topics = store.describe()
        stores.append({"address": address, "state": state,
                       "topics": [{"name": name, "partitions": meta["partitions"]}
                                  for name, meta in sorted(topics.items())]})
    return stores


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


# --- HTML ------------------------------------------------------------------------------

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin-bottom: 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f3f3f3; }
.bar { width: 10em; height: 0.8em; background: #eee; display: inline-block; }
.done { height: 100%; background: #5a9; display: inline-block; }
.RUNNING, .ACTIVE { color: #06c; } .FAILED { color: #c00; } .SUCCEEDED, .COMPLETE { color: #080; }
"""


def _cell(value: Any) -> str:
    if isinstance(value, _Raw):
        return value.text
    return html.escape("" if value is None else str(value))


class _Raw:
    """HTML made here, from escaped parts."""

    def __init__(self, text: str):
        self.text = text


def _table(headers: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _status(status: str) -> _Raw:
    return _Raw(f'<span class="{html.escape(status)}">{html.escape(status)}</span>')


def _progress(done: int, total: int) -> _Raw:
    width = 100 * done // total if total else 100
    return _Raw(f'<span class="bar"><span class="done" style="width:{width}%"></span></span> '
                f"{done}/{total}")


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.1f} s"


def render_page(data: dict) -> str:
    app = data["application"]
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<meta http-equiv='refresh' content='{REFRESH}'>",
        f"<title>{html.escape(app['name'])} - ember</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(app['name'])}</h1>",
        _table(["application id", "master", "ember", "default parallelism"],
               [[app["id"], app["master"], app["version"], app["defaultParallelism"]]]),
        "<h2>Jobs</h2>",
        _table(["id", "description", "group", "status", "stages", "duration"],
               [[j["id"], j["description"], j["group"], _status(j["status"]),
                 ", ".join(map(str, j["stageIds"])), _seconds(j["duration"])]
                for j in data["jobs"][:SHOWN_JOBS]]),
        "<h2>Stages</h2>",
        _table(["id", "name", "attempt", "status", "tasks done", "running", "failed", "total",
                "duration"],
               [[s["id"], s["name"], s["attempt"], _status(s["status"]),
                 _progress(s["numCompletedTasks"], s["numTasks"]), s["numActiveTasks"],
                 s["numFailedTasks"], s["numTasks"], _seconds(s["duration"])]
                for s in data["stages"][:SHOWN_JOBS]]),
        "<h2>Workers</h2>",
        _table(["id", "host", "pid", "cores", "busy", "state"],
               [[w["id"], w["host"], w["pid"], w["cores"], w["busy"], w["state"]]
                for w in data["workers"]]),
        "<h2>Storage</h2>",
        _table(["id", "RDD", "storage level", "cached partitions", "workers"],
               [[r["id"], r["name"], r["storageLevel"],
                 f"{r['numCachedPartitions']}/{r['numPartitions']}", ", ".join(r["workers"])]
                for r in data["storage"]]),
        "<h2>Log stores</h2>",
        _table(["address", "state", "topics (partitions)"],
               [[store["address"], store["state"],
                 ", ".join(f"{t['name']} ({t['partitions']})" for t in store["topics"])]
                for store in data["logStores"]]),
    ]
    for name, section in data.get("sections", {}).items():
        if name in SECTIONS:
            parts.append(_or_none(lambda r=SECTIONS[name][1]: r(section)) or "")
    parts.append("</body></html>")
    return "".join(parts)


def context_html(context: Any) -> str:
    """The rich display of a Context: where it runs, its workers and active jobs."""
    if context._stopped:
        return (f"<div><b>Context</b> (stopped): master {html.escape(str(context.master))}, "
                f"app {html.escape(str(context.appName))}</div>")
    data = report(context)
    app = data["application"]
    url = context.uiWebUrl
    link = (f"<a href='{html.escape(url)}' target='_blank'>{html.escape(url)}</a>"
            if url else "off (spark.ui.enabled=false)")
    active = [j for j in data["jobs"] if j["status"] == "RUNNING"]
    cores = sum(w["cores"] or 0 for w in data["workers"] if w["state"] == "ALIVE")
    return "".join([
        "<div><p><b>Context</b></p>",
        _table(["master", "app", "application id", "version", "cores", "status page"],
               [[app["master"], app["name"], app["id"], app["version"], cores, _Raw(link)]]),
        "<p><b>Workers</b></p>",
        _table(["id", "host", "pid", "cores", "busy", "state"],
               [[w["id"], w["host"], w["pid"], w["cores"], w["busy"], w["state"]]
                for w in data["workers"]]),
        f"<p><b>Active jobs</b>: {len(active)}</p>",
        _table(["id", "description", "stages", "duration"],
               [[j["id"], j["description"], ", ".join(map(str, j["stageIds"])),
                 _seconds(j["duration"])] for j in active]) if active else "",
        "</div>",
    ])


# --- the server ------------------------------------------------------------------------


class StatusPage:
    """The HTTP server of one Context's status page.

    >>> sc.uiWebUrl.startswith("http://127.0.0.1:")
    True
    """

    def __init__(self, source: Callable[[], dict]):
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

    def _answer(self, request: BaseHTTPRequestHandler) -> None:
        path = request.path.split("?", 1)[0]
        if path not in ("/", "/api/status"):
            self._send(request, 404, "text/plain; charset=utf-8",
                       f"no page {path!r}: try / or /api/status")
            return
        try:
            data = self._source()
        except Exception as error:  # noqa: BLE001 - a stopping Context: say so
            self._send(request, 503, "text/plain; charset=utf-8",
                       f"status unavailable: {type(error).__name__}: {error}")
            return
        if path == "/":
            self._send(request, 200, "text/html; charset=utf-8", render_page(data))
        else:
            self._send(request, 200, "application/json", json.dumps(data))

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
