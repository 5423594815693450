"""Seeing a stream run: the per-batch record behind the status page's
Streaming section, the notebook display of a StreamingContext, and the one
status line a terminal shows.

``StreamingStatus`` is told of each batch by the scheduler (submitted,
started, completed) and keeps the last ``RETAINED`` completed batches
(records, scheduling delay, processing time, total delay) and the running
and queued ones. ``snapshot()`` is plain data; ``render_section`` and
``chart_svg`` draw it (escaped) for the status page and for a notebook.

The status line: on a terminal (stderr is a tty) one line, rewritten in
place after every batch, ended by a newline when the stream stops; in a
notebook, one output area updated in place. Nothing when stderr is
redirected (scripts piped to a file, tests), nor with
``spark.ui.showConsoleProgress=false``. The jobs of batches draw no
progress bars (``ember.driver.progress.quiet``): a bar per batch would
scroll the terminal away.

Must not know: how batches are scheduled.
"""

from __future__ import annotations

import collections
import html
import sys
import threading
import weakref
from typing import Any

from ember.driver.progress import console_visible, in_notebook
from ember.streaming.util import format_time

RETAINED = 1000
CHARTED = 60  # batches drawn in the chart


class StreamingStatus:
    def __init__(self, ssc: Any, show_line: bool):
        self._ssc_ref = weakref.ref(ssc)
        self._lock = threading.Lock()
        self._completed: collections.deque = collections.deque(maxlen=RETAINED)
        self._running: dict[int, dict] = {}
        self._queued: dict[int, dict] = {}
        self._total_batches = 0
        self._total_records = 0
        self._started_at: float | None = None
        self._show_line = show_line
        self._line_shown = False
        self._display = None

    # --- told by the scheduler ------------------------------------------------------

    def streaming_started(self, now_ms: int) -> None:
        self._started_at = now_ms
        if self._show_line and in_notebook():
            try:
                from IPython.display import HTML, display

                self._display = display(HTML("<code>streaming: waiting for the first batch</code>"),
                                        display_id=True)
            except Exception:  # noqa: BLE001 - a notebook without display: no line
                self._display = None

    def submitted(self, info: dict) -> None:
        with self._lock:
            self._queued[info["batchTime"]] = info

    def started(self, info: dict) -> None:
        with self._lock:
            self._queued.pop(info["batchTime"], None)
            self._running[info["batchTime"]] = info

    def completed(self, info: dict) -> None:
        with self._lock:
            self._queued.pop(info["batchTime"], None)
            self._running.pop(info["batchTime"], None)
            self._completed.append(info)
            self._total_batches += 1
            self._total_records += max(info["numRecords"], 0)
            line = self._line(info)
        self._show(line)

    def finish(self) -> None:
        if self._line_shown:
            try:
                sys.stderr.write("\n")
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
            self._line_shown = False

    # --- what is shown ------------------------------------------------------------------

    def _line(self, info: dict) -> str:
        waiting = len(self._queued)
        return (f"streaming: batch {format_time(info['batchTime'])} done | "
                f"{self._total_batches} batches | {info['numRecords']:,} records | "
                f"scheduling delay {_seconds(info['schedulingDelay'])} | processing "
                f"{_seconds(info['processingDelay'])} | total delay "
                f"{_seconds(info['totalDelay'])} | {waiting} queued")

    def _show(self, line: str) -> None:
        if not self._show_line:
            return
        if self._display is not None:
            try:
                from IPython.display import HTML

                self._display.update(HTML(f"<code>{html.escape(line)}</code>"))
            except Exception:  # noqa: BLE001 - the notebook went away
                self._display = None
            return
        if not console_visible(sys.stderr) or in_notebook():
            return
        try:
            sys.stderr.write("\r\x1b[K" + line)
            sys.stderr.flush()
            self._line_shown = True
        except (OSError, ValueError):
            pass

    def snapshot(self) -> dict:
        ssc = self._ssc_ref()
        with self._lock:
            completed = list(self._completed)
            data = {
                "state": ssc.getState() if ssc is not None else "STOPPED",
                "batchDuration": ssc._batch_ms / 1000.0 if ssc is not None else None,
                "startTime": self._started_at,
                "inputs": ssc._describe_inputs() if ssc is not None else [],
                "outputs": ssc._describe_outputs() if ssc is not None else [],
                "completedBatches": self._total_batches,
                "totalRecords": self._total_records,
                "running": sorted(self._running.values(), key=lambda b: b["batchTime"]),
                "queued": sorted(self._queued.values(), key=lambda b: b["batchTime"]),
                "batches": completed[-CHARTED:],
            }
        return data


def _seconds(ms: int) -> str:
    return "-" if ms is None or ms < 0 else f"{ms / 1000:.2f} s"


def chart_svg(batches: list[dict], width: int = 640, height: int = 160) -> str:
    """A line chart of the batches' delays (processing, scheduling, total)
    with their input records as bars: an inline SVG."""
    if not batches:
        return "<p>no batch completed yet</p>"
    pad = 30
    n = len(batches)
    step = (width - 2 * pad) / max(n - 1, 1)
    top_ms = max(max(b["totalDelay"], b["processingDelay"], b["schedulingDelay"], 1)
                 for b in batches)
    top_records = max(max(b["numRecords"], 0) for b in batches) or 1

    def y(ms: float) -> float:
        return height - pad - (height - 2 * pad) * max(ms, 0) / top_ms

    bars = "".join(
        f"<rect x='{pad + i * step - step * 0.35:.1f}' "
        f"y='{height - pad - (height - 2 * pad) * max(b['numRecords'], 0) / top_records:.1f}' "
        f"width='{max(step * 0.7, 1):.1f}' "
        f"height='{(height - 2 * pad) * max(b['numRecords'], 0) / top_records:.1f}' "
        f"fill='#dde8f3'><title>{b['numRecords']} records</title></rect>"
        for i, b in enumerate(batches))
    lines = []
    for key, colour in (("processingDelay", "#1f77b4"), ("schedulingDelay", "#ff7f0e"),
                        ("totalDelay", "#2ca02c")):
        points = " ".join(f"{pad + i * step:.1f},{y(b[key]):.1f}" for i, b in enumerate(batches))
        lines.append(f"<polyline fill='none' stroke='{colour}' stroke-width='1.5' "
                     f"points='{points}'/>")
    legend = ("<text x='{x}' y='14' font-size='11' fill='{c}'>{t}</text>")
    legends = "".join(legend.format(x=pad + i * 150, c=c, t=t) for i, (c, t) in enumerate(
        [("#1f77b4", "processing time"), ("#ff7f0e", "scheduling delay"),
         ("#2ca02c", "total delay"), ("#7a9cc6", "input records (bars)")]))
    axis = (f"<text x='2' y='{pad + 4}' font-size='10'>{top_ms / 1000:.2f} s</text>"
            f"<text x='2' y='{height - pad + 4}' font-size='10'>0</text>"
            f"<line x1='{pad}' y1='{height - pad}' x2='{width - pad}' y2='{height - pad}' "
            f"stroke='#999'/>")
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
            f"class='ember-streaming-chart'>{bars}{''.join(lines)}{legends}{axis}</svg>")


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def render_section(data: dict) -> str:
    """The status page's Streaming section, from ``snapshot()``'s data."""
    summary = _table(
        ["state", "batch interval", "completed batches", "records", "running", "queued"],
        [[data["state"], f"{data['batchDuration']:g} s", data["completedBatches"],
          f"{data['totalRecords']:,}", len(data["running"]), len(data["queued"])]])
    inputs = _table(["input stream", "kind"], [[i["name"], i["kind"]] for i in data["inputs"]])
    recent = list(reversed(data["batches"]))[:20]
    batches = _table(
        ["batch time", "input records", "scheduling delay", "processing time", "total delay",
         "status"],
        [[format_time(b["batchTime"]), b["numRecords"], _seconds(b["schedulingDelay"]),
          _seconds(b["processingDelay"]), _seconds(b["totalDelay"]),
          "failed" if b["failed"] else "done"] for b in recent]
        + [[format_time(b["batchTime"]), b["numRecords"], _seconds(b["schedulingDelay"]), "-",
            "-", "running"] for b in data["running"]]
        + [[format_time(b["batchTime"]), b["numRecords"], "-", "-", "-", "queued"]
           for b in data["queued"]])
    return "".join([summary, chart_svg(data["batches"]), inputs,
                    "<h3>Batches</h3>", batches])
