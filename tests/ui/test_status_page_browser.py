"""The status page as a person sees it: loaded in headless Chromium while a
job with a shuffle and a cached RDD runs and after it, read through the DOM
(the stage graph's boxes and arrows, the task rows, the timeline's bars),
with no console error on any page."""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
from operator import add

import pytest

from tests.waiting import wait_for
from ui_browser import CHROMIUM, PAGE_STATE, Browser

pytestmark = pytest.mark.slow

ROWS = 40_000
KEYS = 7


@pytest.fixture(scope="module")
def tab(sc):
    """One browser tab for the module, opened on the module's Context before
    its tests run: Chromium gives each site its own renderer process, so
    the tab's renderer exists before any test's check for leaked processes."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (it is listed in .ci/apt-packages)")
    browser = Browser().start()
    try:
        opened = browser.open()
        opened.load(sc.uiWebUrl + "/api/status")
        yield opened
    finally:
        browser.stop()


@pytest.fixture(autouse=True)
def no_console_errors(tab):
    tab.errors.clear()
    yield
    assert tab.errors == [], "the pages logged errors in the browser's console"


def api(sc, path: str) -> dict:
    with urllib.request.urlopen(sc.uiWebUrl + path, timeout=30) as reply:
        return json.loads(reply.read())


def test_an_idle_context_s_pages_say_their_tables_are_empty(sc, tab):
    tab.load(sc.uiWebUrl + "/")
    state = tab.read(PAGE_STATE)
    assert state["stages"] == [] and state["shuffles"] == []
    for expected in ("No job has run yet: nothing to draw.", "No jobs have run yet.",
                     "No stages have run yet.", "No RDD is persisted.",
                     "This Context has read no topic."):
        assert expected in state["empties"]
    assert [row["_empty"] for row in state["jobs"]] == ["No jobs have run yet."]
    assert {row["id"] for row in state["workers"]} == {"w-0", "w-1"}
    assert state["refresh"] == 10, "an idle overview still looks for new jobs, slowly"
    tab.load(sc.uiWebUrl + "/worker/w-0")
    assert "This worker holds no cached block." in tab.read(PAGE_STATE)["empties"]


class GatedJob:
    """``pairs.map(wait).reduceByKey(add).collect()`` in a thread: its map
    tasks wait for a file, so the job runs until ``release()``."""

    def __init__(self, pairs, directory):
        gate = os.path.join(str(directory), "go")
        self.gate = gate

        def wait(pair):
            while not os.path.exists(gate):
                time.sleep(0.01)
            return pair

        self.result = None
        self.thread = threading.Thread(
            target=lambda: setattr(self, "result", sorted(
                pairs.map(wait).reduceByKey(add).collect())))
        self.thread.start()

    def release(self):
        open(self.gate, "w").close()
        self.thread.join(timeout=120)
        assert not self.thread.is_alive()


def test_the_stage_graph_task_table_and_timeline_during_and_after_a_job(sc, tab, tmp_path):
    pairs = sc.parallelize(range(ROWS), 4).map(lambda x: (x % KEYS, 1)).setName("pairs").cache()
    try:
        assert pairs.count() == ROWS  # cached now
        job = GatedJob(pairs, tmp_path)
        try:
            tracker = sc.statusTracker()
            map_stage = wait_for(lambda: tracker.getActiveStageIds(), timeout=60, what="a stage running")[0]
            # While it runs: the overview draws the job as it stands.
            tab.load(sc.uiWebUrl + "/")
            state = tab.read(PAGE_STATE)
            assert state["refresh"] == 2, "pages refresh every 2 s while a job runs"
            boxes = {box["id"]: box for box in state["stages"]}
            assert len(boxes) == 2 and all(box["visible"] for box in boxes.values())
            result_stage = max(boxes)
            assert boxes[map_stage]["status"] == "ACTIVE"
            assert boxes[result_stage]["status"] == "PENDING"
            assert [(a["from"], a["to"]) for a in state["shuffles"]] == [(map_stage, result_stage)]
            assert all(arrow["visible"] for arrow in state["shuffles"])
            cached = [r for r in boxes[map_stage]["rdds"] if r["cached"]]
            assert [r["id"] for r in cached] == [pairs.id()] and cached[0]["marked"]
            assert "pairs" in cached[0]["text"]
            assert not any(r["cached"] for r in boxes[result_stage]["rdds"])
            assert boxes[map_stage]["narrowEdges"] >= 1
            assert boxes[map_stage]["link"] == f"/stage/{map_stage}"

            # The map stage's page: running attempts in the table and on the timeline.
            tab.load(sc.uiWebUrl + f"/stage/{map_stage}")
            state = tab.read(PAGE_STATE)
            running = [row for row in state["tasks"] if row["status"] == "RUNNING"]
            assert 1 <= len(running) <= 2, "two slots: at most two attempts run at once"
            assert {row["worker"] for row in running} <= {"w-0", "w-1"}
            bars = {bar["tid"]: bar for bar in state["bars"]}
            assert {int(row["_attrs"]["tid"]) for row in running} <= set(bars)
            assert all(bars[int(row["_attrs"]["tid"])]["status"] == "RUNNING" for row in running)
            assert all(bar["visible"] for bar in bars.values())

            # The job's page and a worker's page, while it runs.
            job_id = max(tracker.getActiveJobsIds())
            tab.load(sc.uiWebUrl + f"/job/{job_id}")
            state = tab.read(PAGE_STATE)
            assert {box["id"]: box["status"] for box in state["stages"]} == {
                map_stage: "ACTIVE", result_stage: "PENDING"}
            assert [(a["from"], a["to"]) for a in state["shuffles"]] == [(map_stage, result_stage)]
            tab.load(sc.uiWebUrl + "/worker/w-1")
            state = tab.read(PAGE_STATE)
            assert state["refresh"] == 2 and state["memory"][0][""] == "process (resident)"
            tab.load(sc.uiWebUrl + f"/stage/{map_stage}")  # left open while the job ends
        finally:
            job.release()
        # The open page notices the end by itself: it refreshes in place.
        tab.wait_for("() => document.querySelectorAll('table.tasks tr.task').length === 4 && "
                     "[...document.querySelectorAll('table.tasks tr.task')]"
                     ".every(tr => tr.dataset.status === 'SUCCESS')",
                     "the stage page showing four successful tasks without a reload")
        assert job.result == sorted((key, len(range(key, ROWS, KEYS))) for key in range(KEYS))

        # After the job: a fresh load of each page.
        tab.load(sc.uiWebUrl + f"/job/{job_id}")
        state = tab.read(PAGE_STATE)
        assert {box["id"]: box["status"] for box in state["stages"]} == {
            map_stage: "COMPLETE", result_stage: "COMPLETE"}
        assert [(a["from"], a["to"]) for a in state["shuffles"]] == [(map_stage, result_stage)]
        assert {int(row["_attrs"]["stageId"]) for row in state["stageRows"]} == {map_stage,
                                                                                 result_stage}

        tab.load(sc.uiWebUrl + f"/stage/{map_stage}")
        state = tab.read(PAGE_STATE)
        rows = state["tasks"]
        assert sorted(int(row["partition"]) for row in rows) == [0, 1, 2, 3]
        assert {row["status"] for row in rows} == {"SUCCESS"} and state["refresh"] == 0
        # Input came from the cache (a quarter of the rows each); every map
        # task wrote one combined record per key.
        assert all(row["input (size / records)"].endswith(f" / {ROWS // 4:,}") for row in rows)
        assert all(row["shuffle write (size / records)"].endswith(f" / {KEYS}") for row in rows)
        bars = state["bars"]
        assert sorted(bar["tid"] for bar in bars) == sorted(int(r["_attrs"]["tid"]) for r in rows)
        assert all(bar["visible"] and bar["status"] == "SUCCESS" for bar in bars)
        assert set(state["lanes"]) <= {"w-0/0", "w-1/0"} and state["lanes"]
        assert [row["metric (successful tasks)"] for row in state["summary"]][:2] == [
            "duration", "run time on the worker"]

        tab.load(sc.uiWebUrl + f"/stage/{result_stage}")
        state = tab.read(PAGE_STATE)
        read = [row["shuffle read (size / records)"] for row in state["tasks"]]
        assert sum(int(cell.split(" / ")[1]) for cell in read if cell) == 4 * KEYS, \
            "the reduce side read every record the map side wrote"
        assert len(state["bars"]) == len(state["tasks"]) == 4
    finally:
        pairs.unpersist()


def test_the_workers_pages_show_memory_against_budget_and_cached_blocks(sc, tab):
    pairs = sc.parallelize(range(1000), 4).map(lambda x: (x, x)).cache()
    try:
        assert pairs.count() == 1000
        # Blocks are named by ember's own RDD number (what workers key them
        # by), as the stage graph's boxes are; id() is PySpark's numbering.
        expected = [f"rdd_{pairs._id}_{p}" for p in range(4)]

        def reported():
            return sorted(f"rdd_{b['rdd']}_{b['partition']}"
                          for w in api(sc, "/api/status")["workers"] for b in w["blocks"])

        # Workers report their memory and blocks with their heartbeats.
        wait_for(lambda: reported() == expected, timeout=60, what="the workers reporting the cached blocks")
        tab.load(sc.uiWebUrl + "/")
        workers = {row["id"]: row for row in tab.read(PAGE_STATE)["workers"]}
        assert all(" of " in workers[w]["memory in use"] for w in ("w-0", "w-1"))
        blocks = []
        for worker in ("w-0", "w-1"):
            tab.load(sc.uiWebUrl + f"/worker/{worker}")
            state = tab.read(PAGE_STATE)
            memory = {row[""]: row for row in state["memory"]}
            assert " of " in memory["process (resident)"]["in use"]
            assert " of " in memory["cached blocks in memory"]["in use"]
            blocks += [row["block"] for row in state["blocks"] if "_class" in row
                       and row["_class"] == "block"]
        assert sorted(blocks) == expected
    finally:
        pairs.unpersist()


def test_a_failed_attempt_shows_its_error_and_the_retry_its_success(sc, tab, tmp_path):
    marker = str(tmp_path / "failed-once")

    def fail_once(x):
        if x == 0 and not os.path.exists(marker):
            open(marker, "w").close()
            raise ValueError("bad <record> & more")
        return x

    assert sc.parallelize(range(4), 2).map(fail_once).sum() == 6
    stage = max(s["id"] for s in api(sc, "/api/status")["stages"])
    tab.load(sc.uiWebUrl + f"/stage/{stage}")
    state = tab.read(PAGE_STATE)
    first = [row for row in state["tasks"] if row["partition"] == "0"]
    assert [(row["attempt"], row["status"]) for row in first] == [("0", "FAILED"), ("1", "SUCCESS")]
    assert first[0]["error"] == "ValueError: bad <record> & more", "shown as text, escaped"
    assert {bar["status"] for bar in state["bars"]} == {"FAILED", "SUCCESS"}


def test_an_unknown_stage_is_a_page_saying_so(sc, tab):
    response = tab.page.goto(sc.uiWebUrl + "/stage/99999")
    assert response.status == 404
    assert "Nothing at /stage/99999" in tab.page.text_content("body")
    assert len(tab.errors) == 1 and "404" in tab.errors[0], "the browser saw the 404"
    tab.errors.clear()
