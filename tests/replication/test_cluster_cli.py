"""A replicated store started from the shell, as on several hosts: one
secret file, `ember logstore controller` (here a quorum of one) and
`ember logstore serve --node-id N --cluster ...` brokers; clients connect
with the brokers' addresses and the secret file."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time

import pytest

import ember.ingest
from ember.engine.wire.secret_file import write_secret_file
from ember.engine.wire.transport import new_secret

from tests.ingest.broker_helpers import read_topic
from tests.replication.cluster_helpers import wait_for

pytestmark = pytest.mark.slow


def _ember(*args):
    return subprocess.Popen([sys.executable, "-m", "ember", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _line(process, pattern, timeout=60.0):
    """The first stdout line of ``process`` matching ``pattern``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        readable, _, _ = select.select([process.stdout], [], [], 0.2)
        if readable:
            line = process.stdout.readline()
            if not line:
                break
            match = re.search(pattern, line)
            if match:
                return match
    raise AssertionError(f"no line matching {pattern!r} from {process.args} "
                         f"(exit {process.poll()}): {process.stderr.read() if process.poll() is not None else ''}")


@pytest.fixture
def processes():
    started = []
    yield started
    for process in reversed(started):
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in reversed(started):
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            stream.close()


def test_brokers_started_from_the_shell_form_a_replicated_store(tmp_path, processes):
    secret_file = str(tmp_path / "cluster.secret")
    write_secret_file(secret_file, new_secret())
    controller = _ember("logstore", "controller", "--node-id", "1", "--dir",
                        str(tmp_path / "controller"), "--initial-voters", "1:c1",
                        "--incarnation", "c1", "--secret-file", secret_file)
    processes.append(controller)
    quorum = _line(controller, r"serving at (tcp://\S+)").group(1)
    brokers = []
    for node in (1, 2):
        broker = _ember("logstore", "serve", "--dir", str(tmp_path / f"broker{node}"),
                        "--node-id", str(node), "--cluster", f"1@{quorum}",
                        "--secret-file", secret_file)
        processes.append(broker)
        brokers.append(_line(broker, r"broker \d+ serving .* at (tcp://\S+)").group(1))
    store = ember.ingest.connect(",".join(brokers), secret_file=secret_file)
    try:
        wait_for(lambda: len(store._admin.metadata([]).get("brokers", {})) == 2,
                 what="both brokers to register")
        store.create_topic("events", 2, replication_factor=2)
        info = store.topic_metadata(["events"])["events"]
        assert [sorted(r) for r in info["replicas"]] == [[1, 2], [1, 2]]
        with store.producer() as producer:
            for i in range(50):
                producer.send("events", f"v{i}".encode(), partition=i % 2)
            producer.flush(60)
        contents = read_topic(store, "events")
        assert sorted(v for records in contents.values() for _, _, v in records) == \
            sorted(f"v{i}".encode() for i in range(50))
    finally:
        store.stop()


def test_a_cluster_broker_refuses_to_make_its_own_secret(tmp_path):
    missing = str(tmp_path / "nowhere.secret")
    result = subprocess.run([sys.executable, "-m", "ember", "logstore", "serve", "--dir",
                             str(tmp_path / "b"), "--node-id", "1", "--cluster",
                             "1@tcp://127.0.0.1:1", "--secret-file", missing],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "needs the cluster's secret file" in result.stderr and missing in result.stderr
    assert not os.path.exists(missing)


@pytest.mark.parametrize("item, named", [
    ("leader.imbalance.per.broker.percentage=150", "leader.imbalance.per.broker.percentage"),
    ("auto.leader.rebalance.enable=maybe", "expected true or false"),
    ("leader.imbalance.check.interval=5", "expected KEY=VALUE with KEY one of"),
])
def test_a_controller_refuses_a_bad_setting_by_its_name(tmp_path, item, named):
    secret_file = str(tmp_path / "cluster.secret")
    write_secret_file(secret_file, new_secret())
    result = subprocess.run([sys.executable, "-m", "ember", "logstore", "controller",
                             "--node-id", "1", "--dir", str(tmp_path / "c1"),
                             "--secret-file", secret_file, "--initial-voters", "1:c1",
                             "--incarnation", "c1", "--config", item],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert named in result.stderr, result.stderr
