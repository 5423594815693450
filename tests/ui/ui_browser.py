"""A real browser for the status page's tests: headless Chromium (Debian's
``chromium``) driven by Playwright.

``Browser.start()`` launches ``/usr/bin/chromium`` (never a browser build
Playwright downloads) with a fresh profile directory, through Playwright's
driver process; ``stop()`` closes it, then kills by PID whatever it started
that is still running, and removes the profile directory. ``open()`` gives
a ``Tab`` that records every console error and uncaught page error, loads
pages and reads them through the DOM (``read``: one script evaluated at
once, so a refresh swapping the page's body cannot interleave with it).

Why Playwright rather than the DevTools protocol spoken by hand: the
protocol alone needs a WebSocket client, message ids, event routing, waits
for loads and a way to tell console errors from other events, which is a
small browser driver of our own to keep up with Chromium's changes.
Playwright is that driver, maintained against each Chromium release, with
console and page-error events, DOM evaluation, waiting on a condition and
screenshots; it runs Debian's Chromium as it is (``executable_path``), so
nothing is downloaded.

The flags keep Chromium from reaching for the network (component updates,
sync, field trials, QUIC probes): on a machine without outside access it
would otherwise stall on lookups.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

import psutil

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class Tab:
    def __init__(self, page: Any):
        self.page = page
        self.errors: list[str] = []
        page.on("console", lambda message: message.type == "error"
                and self.errors.append(f"console: {message.text} ({message.location})"))
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))

    def load(self, url: str) -> None:
        response = self.page.goto(url, wait_until="load", timeout=60_000)
        assert response is not None and response.status == 200, \
            f"{url} answered {response and response.status}"

    def read(self, script: str) -> Any:
        return self.page.evaluate(script)

    def wait_for(self, script: str, what: str, timeout: float = 60.0) -> None:
        try:
            self.page.wait_for_function(script, timeout=timeout * 1000, polling=100)
        except Exception as error:  # Playwright's TimeoutError: say what was awaited
            raise AssertionError(f"{what} did not happen within {timeout} s: {error}") from None

    def screenshot(self, path: str) -> None:
        self.page.screenshot(path=path, full_page=True)

    def close(self) -> None:
        self.page.close()


class Browser:
    def __init__(self) -> None:
        self.profile = ""
        self._playwright: Any = None
        self._context: Any = None
        self._started: dict[int, psutil.Process] = {}

    def start(self, width: int = 1280, height: int = 900) -> "Browser":
        from playwright.sync_api import sync_playwright

        before = {p.pid for p in psutil.Process().children(recursive=True)}
        self.profile = tempfile.mkdtemp(prefix="chromium-profile-")
        try:
            self._playwright = sync_playwright().start()
            self._context = self._playwright.chromium.launch_persistent_context(
                self.profile, executable_path=CHROMIUM, headless=True, args=FLAGS,
                viewport={"width": width, "height": height}, timeout=60_000)
        finally:
            # Everything started from here on (Playwright's driver, the
            # browser and its helpers) is ours to stop, by PID.
            self._started = {p.pid: p for p in psutil.Process().children(recursive=True)
                             if p.pid not in before}
        return self

    @property
    def pids(self) -> list[int]:
        return sorted(self._started)

    def open(self) -> Tab:
        return Tab(self._context.new_page())

    def stop(self) -> None:
        try:
            if self._context is not None:
                self._context.close()
        finally:
            try:
                if self._playwright is not None:
                    self._playwright.stop()
            finally:
                alive = [p for p in self._started.values() if _running(p)]
                for process in alive:
                    process.kill()
                psutil.wait_procs(alive, timeout=10)
                shutil.rmtree(self.profile, ignore_errors=True)
        assert not os.path.exists(self.profile), f"profile {self.profile} left behind"


def _running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


# What the tests read of a page, in one evaluation (see Tab.read).
PAGE_STATE = """() => {
  const rows = (selector) => {
    const table = document.querySelector(selector);
    if (!table) return null;
    const heads = [...table.querySelectorAll("thead th")].map(th => th.textContent.trim());
    return [...table.querySelectorAll("tbody tr")].map(tr => {
      const cells = [...tr.children].map(td => td.textContent.trim());
      const row = {_class: tr.className, _attrs: Object.assign({}, tr.dataset)};
      if (tr.className === "empty") { row._empty = cells[0]; return row; }
      heads.forEach((h, i) => { row[h] = cells[i]; });
      return row;
    });
  };
  const visible = (el) => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  return {
    title: document.title,
    refresh: Number(document.body.getAttribute("data-refresh") || 0),
    headings: [...document.querySelectorAll("h1, h2")].map(h => h.textContent.trim()),
    stages: [...document.querySelectorAll("svg.stage-graph g.stage-box")].map(g => ({
      id: Number(g.dataset.stageId), status: g.dataset.status, visible: visible(g),
      link: g.closest("a") ? g.closest("a").getAttribute("href") : null,
      rdds: [...g.querySelectorAll("g.rdd")].map(r => ({
        id: Number(r.dataset.rddId), cached: r.classList.contains("cached"),
        marked: r.querySelector("circle.cached-mark") !== null,
        text: r.querySelector("text").textContent, visible: visible(r)})),
      narrowEdges: g.querySelectorAll("line.rdd-edge").length})),
    shuffles: [...document.querySelectorAll("svg.stage-graph path.shuffle")].map(p => ({
      from: Number(p.dataset.from), to: Number(p.dataset.to), visible: visible(p)})),
    bars: [...document.querySelectorAll("svg.timeline rect.task-bar")].map(r => ({
      tid: Number(r.dataset.tid), status: r.classList[1], visible: visible(r),
      width: r.getBoundingClientRect().width})),
    lanes: [...document.querySelectorAll("svg.timeline g.lane")].map(g =>
      g.dataset.worker + "/" + g.dataset.slot),
    tasks: rows("table.tasks"),
    jobs: rows("table.jobs"),
    stageRows: rows("table.stages"),
    workers: rows("table.workers"),
    storage: rows("table.storage"),
    blocks: rows("table.blocks"),
    memory: rows("table.memory"),
    summary: rows("table.summary"),
    empties: [...document.querySelectorAll("tr.empty td, p.empty")].map(e => e.textContent.trim()),
  };
}"""
