"""LogRDD under faults (RELIABILITY.md I1, I3): a worker SIGKILLed in the
middle of its range, and the only broker SIGKILLed and restarted in the
middle of a job, give the plain-Python result exactly. Each test has its own
Context: a killed worker is replaced, and the replacement is the test's to stop."""

from __future__ import annotations

import os
import threading
import time

import pytest

import ember
from ember.ingest import topic_rdd

from test_log_rdd import oracle, produce_lines, wordcount

pytestmark = pytest.mark.fault


@pytest.fixture
def sc():
    context = ember.Context("local[2]", appName="ember-logrdd-faults")
    yield context
    context.stop()


def slow_parse(marker_dir):
    def parse(data):
        path = os.path.join(marker_dir, "started")
        if not os.path.exists(path):
            with open(path, "w"):
                pass
        time.sleep(0.002)
        return data.decode()
    return parse


def wordcount_with_fault(sc, store, topic, marker_dir, fault):
    """Count the words of 1200 lines of ``topic``, read slowly (about a
    second per partition), calling ``fault()`` once reading has begun;
    returns (result, plain-Python result)."""
    store.create_topic(topic, partitions=2)
    lines = produce_lines(store, topic, 1200)
    rdd = topic_rdd(sc, store, topic, valueDecoder=slow_parse(str(marker_dir)),
                    fetch_max_bytes=512)
    result = {}
    job = threading.Thread(target=lambda: result.update(counts=wordcount(rdd)))
    job.start()
    deadline = time.monotonic() + 20
    while not os.path.exists(marker_dir / "started") and time.monotonic() < deadline:
        time.sleep(0.01)
    fault()
    job.join(60)
    return result.get("counts"), oracle(lines)


def test_a_worker_killed_mid_range_rereads_exactly_that_range(sc, store, tmp_path):
    def kill_a_worker():
        time.sleep(0.2)  # both workers are in the middle of their ranges
        os.kill(sorted(sc._cluster.pids().values())[0], 9)

    counts, expected = wordcount_with_fault(sc, store, "slow", tmp_path, kill_a_worker)
    assert counts == expected


def test_the_only_broker_restarted_mid_job_gives_the_exact_result(sc, start_broker, tmp_path):
    store = start_broker()

    def restart_the_broker():
        store.kill()
        time.sleep(0.5)
        # Back where it was, with its secret, within the readers' retry window.
        start_broker(port=store.port, secret=store.secret)

    counts, expected = wordcount_with_fault(sc, store, "restart", tmp_path, restart_the_broker)
    assert counts == expected
