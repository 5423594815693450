"""The live status page (``sc.uiWebUrl``), fetched over HTTP while a job runs."""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request

from tests.waiting import wait_for


def fetch(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return reply.status, reply.headers["Content-Type"], reply.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode("utf-8")


class BlockedJob:
    """A job whose tasks wait for a file: it runs until ``release()``."""

    def __init__(self, sc, directory, description: str):
        self.gate = os.path.join(str(directory), "go")
        gate = self.gate

        def wait_for_gate(x):
            while not os.path.exists(gate):
                time.sleep(0.01)
            return (x % 3, 1)

        self.result = None

        def run():
            sc.setJobDescription(description)
            rdd = sc.parallelize(range(6), 3).map(wait_for_gate).reduceByKey(lambda a, b: a + b)
            self.result = sorted(rdd.collect())

        self.thread = threading.Thread(target=run)
        self.thread.start()

    def release(self):
        open(self.gate, "w").close()
        self.thread.join(timeout=60)
        assert not self.thread.is_alive()


def test_the_page_lists_a_running_job_and_its_stages_and_then_its_success(sc, tmp_path):
    url = sc.uiWebUrl
    assert url.startswith("http://127.0.0.1:")
    job = BlockedJob(sc, tmp_path, "nightly <report> & co")
    try:
        tracker = sc.statusTracker()
        stage_id = wait_for(lambda: tracker.getActiveStageIds(), interval=0.02, what="a stage running")[0]
        status, content_type, page = fetch(url + "/")
        assert status == 200 and content_type.startswith("text/html")
        assert "<body data-refresh='2'>" in page, "the page refreshes itself while a job runs"
        assert "nightly &lt;report&gt; &amp; co" in page, "the description is shown, escaped"
        assert "nightly <report>" not in page
        assert "RUNNING" in page and "ACTIVE" in page
        assert "reduceByKey at " in page and "test_status_page.py:" in page, \
            "the map stage is named by its call site"
        assert "w-0" in page and "w-1" in page and "ALIVE" in page

        status, content_type, body = fetch(url + "/api/status")
        assert status == 200 and content_type == "application/json"
        report = json.loads(body)
        running = [j for j in report["jobs"] if j["status"] == "RUNNING"]
        assert [j["description"] for j in running] == ["nightly <report> & co"]
        assert stage_id in running[0]["stageIds"]
        stage = next(s for s in report["stages"] if s["id"] == stage_id)
        assert stage["status"] == "ACTIVE" and stage["numTasks"] == 3
        assert stage["numCompletedTasks"] < 3
        assert {w["id"] for w in report["workers"]} == {"w-0", "w-1"}
    finally:
        job.release()
    assert job.result == [(0, 2), (1, 2), (2, 2)]
    report = json.loads(fetch(url + "/api/status")[2])
    finished = next(j for j in report["jobs"] if j["description"] == "nightly <report> & co")
    assert finished["status"] == "SUCCEEDED"
    for stage_id in finished["stageIds"]:
        stage = next(s for s in report["stages"] if s["id"] == stage_id)
        assert stage["status"] == "COMPLETE"
        assert stage["numCompletedTasks"] == stage["numTasks"] == 3


def test_the_page_lists_cached_rdds_and_where_they_live(sc):
    rdd = sc.parallelize(range(8), 4).map(lambda x: x + 1).setName("squares <cached>").cache()
    try:
        assert rdd.count() == 8
        report = json.loads(fetch(sc.uiWebUrl + "/api/status")[2])
        entry = next(r for r in report["storage"] if r["id"] == rdd.id())
        assert entry["numCachedPartitions"] == entry["numPartitions"] == 4
        assert set(entry["workers"]) <= {"w-0", "w-1"} and entry["workers"]
        assert "squares &lt;cached&gt;" in fetch(sc.uiWebUrl + "/")[2]
    finally:
        rdd.unpersist()


def test_an_unknown_path_is_a_404_naming_the_pages(sc):
    status, _, body = fetch(sc.uiWebUrl + "/jobs/../../etc/passwd")
    assert status == 404 and "/api/status" in body


def test_progress_of_a_job_lists_only_the_stages_it_ran(sc):
    """What the progress bars poll: a map stage that an earlier job computed
    is skipped by the next job, and gets no bar."""
    summed = sc.parallelize(range(10), 2).map(lambda x: (x % 2, x)).reduceByKey(lambda a, b: a + b)
    tracker = sc.statusTracker()
    assert sorted(summed.collect()) == [(0, 20), (1, 25)]
    first = max(tracker.getJobIdsForGroup())
    assert sorted(summed.collect()) == [(0, 20), (1, 25)]
    second = max(tracker.getJobIdsForGroup())
    statuses, stages = sc._scheduler.job_progress([first, second])
    assert statuses == {first: "SUCCEEDED", second: "SUCCEEDED"}
    first_stages = tracker.getJobInfo(first).stageIds
    second_stages = tracker.getJobInfo(second).stageIds
    assert len(first_stages) == 2 and len(second_stages) == 2
    shown = {s.stage_id: s for s in stages}
    assert set(first_stages) <= set(shown)
    map_stage = min(second_stages)
    assert map_stage not in shown, "the skipped map stage of the second job has no bar"
    assert all(s.completed == s.num_tasks == 2 and s.status == "COMPLETE" for s in stages)


def test_the_page_lists_the_log_stores_read_from_and_their_topics(sc, tmp_path):
    import ember

    with ember.LogStore.start(tmp_path / "log") as store:
        store.create_topic("clicks", partitions=3)
        producer = store.producer()
        producer.send("clicks", value=b"one")
        producer.flush()
        producer.close()
        assert sc.topicRDD(store, "clicks").count() == 1
        _, _, body = fetch(sc.uiWebUrl + "/api/status")
        (listed,) = json.loads(body)["logStores"]
        assert listed == {"address": store.address, "state": "running",
                          "topics": [{"name": "clicks", "partitions": 3}]}
        _, _, page = fetch(sc.uiWebUrl)
        assert ">Log stores</h2>" in page and "clicks (3)" in page
    _, _, body = fetch(sc.uiWebUrl + "/api/status")
    assert [s["state"] for s in json.loads(body)["logStores"]] in ([], ["stopped"])


def test_another_package_adds_a_section_through_the_registry(sc):
    import pytest

    from ember.driver.ui_sections import register_section, table, unregister_section

    def collect(context):
        return {"batches": [[1, "first <batch>"], [2, "second"]]} if context is sc else None

    register_section("demoStreaming", "Demo streaming",
                     collect, lambda data: table(["batch", "note"], data["batches"]))
    register_section("brokenSection", "Broken", lambda context: 1 / 0, lambda data: "")
    try:
        report = json.loads(fetch(sc.uiWebUrl + "/api/status")[2])
        assert report["demoStreaming"] == {"batches": [[1, "first <batch>"], [2, "second"]]}
        assert report["sectionErrors"] == {"brokenSection": "ZeroDivisionError: division by zero"}
        _, _, page = fetch(sc.uiWebUrl + "/")
        assert ">Demo streaming</h2>" in page and "<td>first &lt;batch&gt;</td>" in page
        assert "This section is unavailable: ZeroDivisionError" in page
        assert ">Workers</h2>" in page, "the rest of the page is unharmed"
        with pytest.raises(ValueError, match="'jobs' is one of the page's own entries"):
            register_section("jobs", "Jobs", collect, str)
    finally:
        unregister_section("demoStreaming")
        unregister_section("brokenSection")
    assert "Demo streaming" not in fetch(sc.uiWebUrl + "/")[2]


def test_each_page_has_its_json_and_unknown_ids_are_404s(sc):
    assert sc.parallelize(range(4), 2).map(lambda x: (x, x)).groupByKey().count() == 4
    tracker = sc.statusTracker()
    job = tracker.getJobInfo(max(tracker.getJobIdsForGroup()))
    stage = max(job.stageIds)
    report = json.loads(fetch(sc.uiWebUrl + f"/api/stage/{stage}")[2])
    assert report["stage"]["id"] == stage and len(report["tasks"]) == 2
    graph = json.loads(fetch(sc.uiWebUrl + f"/api/job/{job.jobId}")[2])["graph"]
    assert [s["id"] for s in graph["stages"]] == sorted(job.stageIds)
    for path in (f"/job/{job.jobId}", f"/stage/{stage}", "/worker/w-0"):
        status, content_type, _ = fetch(sc.uiWebUrl + path)
        assert (status, content_type) == (200, "text/html; charset=utf-8"), path
    for path in ("/job/424242", "/stage/424242", "/worker/w-99"):
        assert fetch(sc.uiWebUrl + path)[0] == 404, path
