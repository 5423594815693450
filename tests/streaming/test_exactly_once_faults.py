"""Exactly-once under faults (RELIABILITY.md 4.7, T1-T5): a stateful windowed
word count over a topic (``fault_app.py``: over ember's protocol, and for
T1-T3 and T5 also over a Kafka cluster, the store's Kafka listener), run as
a real driver process that the tests SIGKILL (at failpoints or from outside
while its tasks run), whose worker is SIGKILLed mid-batch, or whose broker
is killed and restarted between batches. After a restart through
``StreamingContext.getOrCreate``, every batch time's output must equal the
plain-Python oracle of a fault-free run, and every input record must be
counted exactly once.

The input is produced before the stream starts and read at a fixed rate
(``maxRatePerPartition``: 10 records per partition per 0.5 s batch), so a
batch's input depends only on its place in the sequence of batch times,
whatever the timing of the run: the fault-free output is known exactly.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter

import pytest

from ember.ingest.client.store import LogStore
from ember.ingest.structs import TopicPartition
from streaming_helpers import produce

pytestmark = [pytest.mark.fault, pytest.mark.slow]

APP = os.path.join(os.path.dirname(__file__), "fault_app.py")
PARTITIONS, PER_BATCH, DATA_BATCHES, BATCHES = 4, 10, 8, 11
WORDS = ["apple", "pear", "fig", "kiwi", "plum", "lime"]


def word(partition: int, offset: int) -> str:
    return WORDS[(partition * 5 + offset * 7 + offset // 3) % len(WORDS)]


def batch_words(k: int) -> list[str]:
    if k >= DATA_BATCHES:
        return []
    return [word(p, o) for p in range(PARTITIONS) for o in range(k * PER_BATCH, (k + 1) * PER_BATCH)]


def oracle(k: int) -> list[str]:
    window = Counter(w for j in range(max(0, k - 4), k + 1) for w in batch_words(j))
    totals = Counter(w for j in range(k + 1) for w in batch_words(j))
    return sorted([f"w {w} {n}" for w, n in window.items()] +
                  [f"t {w} {n}" for w, n in totals.items()])


class App:
    """The paths of one application, and its driver runs."""

    def __init__(self, tmp_path, store, broker: str | None = None):
        self.store = store
        self.broker = broker or store.address
        self.checkpoints = str(tmp_path / "checkpoints")
        self.out = str(tmp_path / "out")
        self.db = str(tmp_path / "results.db")
        self.secret_file = str(tmp_path / "broker.secret")
        os.makedirs(self.out)
        fd = os.open(self.secret_file, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, store.secret.hex().encode())
        os.close(fd)
        self.lines: list[str] = []
        self.errors: list[str] = []  # the apps' stderr (ember's warnings)
        self.runs: list[subprocess.Popen] = []

    def start(self, failpoints: str = "") -> subprocess.Popen:
        env = {**os.environ, "EMBER_FAILPOINTS": failpoints}
        process = subprocess.Popen(
            [sys.executable, APP, self.broker, self.secret_file, self.checkpoints,
             self.out, self.db, str(BATCHES)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
            start_new_session=True)
        self.runs.append(process)
        threading.Thread(target=self._read, args=(process.stdout, self.lines), daemon=True).start()
        threading.Thread(target=self._read, args=(process.stderr, self.errors), daemon=True).start()
        return process

    @staticmethod
    def _read(stream, into: list[str]) -> None:
        for line in stream:
            into.append(line.strip())

    def done(self) -> int:
        return sum(1 for line in self.lines if line.startswith("DONE"))

    def wait_until(self, predicate, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, f"no progress within {timeout} s: {self.lines[-5:]}"
            time.sleep(0.02)

    def finish(self, process: subprocess.Popen, timeout: float = 180.0) -> int:
        return process.wait(timeout)

    def kill_all(self) -> None:
        for process in self.runs:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)

    def assert_exactly_once(self) -> None:
        committed = sorted(int(name.rsplit("-", 1)[1]) for name in os.listdir(self.out))
        for name in os.listdir(self.out):
            files = os.listdir(os.path.join(self.out, name))
            assert "_SUCCESS" in files, f"{name} was left uncommitted"
            assert not [f for f in files if f.startswith(".")], f"{name} has temporary files"
        first = committed[0]
        assert committed == [first + 500 * k for k in range(len(committed))], \
            "every batch time has one output directory, none skipped"
        assert len(committed) >= BATCHES
        for k, batch_time in enumerate(committed[:BATCHES]):
            path = os.path.join(self.out, f"counts-{batch_time}")
            lines = sorted(line for part in os.listdir(path) if part.startswith("part-")
                           for line in open(os.path.join(path, part)).read().splitlines())
            assert lines == oracle(k), f"batch {k} ({batch_time}) differs from the oracle"
        with sqlite3.connect(self.db) as db:
            counts = db.execute("SELECT batch, word, n FROM counts").fetchall()
            ranges = db.execute("SELECT batch, part, start, until FROM ranges").fetchall()
        by_batch: dict[int, Counter] = {}
        for batch, w, n in counts:
            by_batch.setdefault(int(batch), Counter())[w] += n
        for k, batch_time in enumerate(committed[:BATCHES]):
            assert by_batch.get(batch_time, Counter()) == Counter(batch_words(k)), f"batch {k}"
        for partition in range(PARTITIONS):  # each offset read by exactly one batch
            read = sorted((start, until) for _, p, start, until in ranges if p == partition)
            offsets = [o for start, until in read for o in range(start, until)]
            assert offsets == list(range(DATA_BATCHES * PER_BATCH))
        consumer = self.store.consumer(group_id="word-count", enable_auto_commit=False)
        try:
            assert [consumer.committed(TopicPartition("words", p)) for p in range(PARTITIONS)] \
                == [DATA_BATCHES * PER_BATCH] * PARTITIONS
        finally:
            consumer.close()


@pytest.fixture
def app(tmp_path):
    store = LogStore.start(str(tmp_path / "log"))
    store.create_topic("words", partitions=PARTITIONS)
    produce(store, "words", {p: [word(p, o) for o in range(DATA_BATCHES * PER_BATCH)]
                             for p in range(PARTITIONS)})
    made = App(tmp_path, store)
    yield made
    made.kill_all()
    made.store.stop()


@pytest.fixture
def kafka_app(tmp_path):
    """The same application reading a Kafka cluster (the store's Kafka
    listener) through createDirectStream, its input produced by confluent-kafka."""
    from kafka_clients import produce as kafka_produce

    store = LogStore.start(str(tmp_path / "log"), kafka_listener="127.0.0.1:0")
    store.create_topic("words", partitions=PARTITIONS)
    kafka_produce("confluent-kafka", store.kafka_address, "words",
                  [(p, None, word(p, o).encode()) for p in range(PARTITIONS)
                   for o in range(DATA_BATCHES * PER_BATCH)])
    made = App(tmp_path, store, broker=f"kafka://{store.kafka_address}")
    yield made
    made.kill_all()
    made.store.stop()


def run_to_the_end(app: App) -> None:
    process = app.start()
    assert app.finish(process) == 0, app.lines[-5:]
    app.assert_exactly_once()


def test_a_fault_free_run_matches_the_oracle(app):
    run_to_the_end(app)


@pytest.mark.parametrize("point", ["streaming.before_log", "streaming.after_log",
                                   "streaming.before_offset_commit", "streaming.after_output"])
def test_driver_sigkilled_at_a_failpoint_resumes_exactly_once(app, point):
    """T1 (before the ranges are logged), T3 (after the output, before the
    offset commit), and a batch logged but not run / half its outputs done."""
    first = app.start(f"{point}=kill@5")
    assert first.wait(120) == -signal.SIGKILL
    assert 0 < len([n for n in os.listdir(app.out)]) < BATCHES
    run_to_the_end(app)


@pytest.mark.parametrize("point", ["streaming.after_log", "streaming.before_offset_commit"])
def test_a_kafka_stream_driver_sigkilled_at_a_failpoint_resumes_exactly_once(kafka_app, point):
    """T1/T3 over a Kafka cluster: the logged ranges are read again from the
    Kafka broker, the group's offsets committed there."""
    test_driver_sigkilled_at_a_failpoint_resumes_exactly_once(kafka_app, point)


def test_a_kafka_stream_driver_sigkilled_while_its_tasks_read_resumes_exactly_once(kafka_app):
    """T2 over a Kafka cluster."""
    test_driver_sigkilled_while_a_batch_runs_its_tasks_resumes_exactly_once(kafka_app)


def test_a_kafka_stream_worker_sigkilled_mid_batch_recomputes_without_duplicates(kafka_app):
    """T4 over a Kafka cluster: the lost task's offset range is read again
    from the cluster, the same records."""
    test_worker_sigkilled_mid_batch_recomputes_without_duplicates(kafka_app)


def test_a_kafka_broker_restarted_between_batches_the_stream_waits_and_resumes(kafka_app):
    """T5 over a Kafka cluster: librdkafka reconnects; no batch skips input."""
    test_broker_restarted_between_batches_the_stream_waits_and_resumes(kafka_app)


def test_driver_sigkilled_while_a_batch_runs_its_tasks_resumes_exactly_once(app):
    """T2: the driver dies while tasks of a batch are running (a task is held
    for a while by a worker failpoint, and seen running on the status page)."""
    first = app.start("task.start=sleep:3@45")
    app.wait_until(lambda: any(line.startswith("UI ") for line in app.lines))
    url = next(line for line in app.lines if line.startswith("UI ")).split()[1]
    app.wait_until(lambda: app.done() >= 2)

    def a_task_running_long() -> bool:
        assert first.poll() is None, "the run ended before a task was held"
        try:
            with urllib.request.urlopen(url + "/api/status", timeout=5) as reply:
                status = json.load(reply)
        except OSError:
            return False
        return any(stage["numActiveTasks"] and stage["duration"] > 0.3
                   for stage in status["stages"])

    app.wait_until(a_task_running_long)
    os.killpg(first.pid, signal.SIGKILL)  # the driver, and its workers with it
    first.wait(30)
    assert len(os.listdir(app.out)) < BATCHES
    run_to_the_end(app)


def test_worker_sigkilled_mid_batch_recomputes_without_duplicates(app):
    """T4: a worker dies while it runs a batch's task; the batch is
    recomputed from lineage (the topic range read again)."""
    process = app.start("w-1:task.start=kill@30")
    assert app.finish(process) == 0, app.lines[-5:]
    assert any("worker w-1 lost" in line for line in app.errors), app.errors[-5:]
    app.assert_exactly_once()


def test_broker_restarted_between_batches_the_stream_waits_and_resumes(app):
    """T5: the broker is SIGKILLed and restarted on its address; the stream
    waits for it (asking again, with warnings), then goes on, skipping nothing."""
    process = app.start()
    app.wait_until(lambda: app.done() >= 4)
    directory, port, secret = app.store.directory, app.store.port, app.store.secret
    kafka_listener = app.store.kafka_address  # the same Kafka port too, if it has one
    app.store.kill()
    time.sleep(2.0)  # several batch intervals pass without a broker
    app.store = LogStore.start(directory, port=port, secret=secret, kafka_listener=kafka_listener)
    assert app.finish(process) == 0, app.lines[-5:]
    app.assert_exactly_once()
