"""The main jobs (python -m ember, ember wordcount) compute exactly what plain
Python computes, and the command line behaves."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict

import pytest

from ember import demo


def test_wordcount_counts_the_generated_text_exactly(tmp_path, capsys):
    path = tmp_path / "corpus.txt"
    demo.generate_text(str(path), 0.5)
    with open(path) as handle:
        oracle = Counter(word for line in handle for word in line.split())
    expected = sorted(oracle.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    assert demo.run_wordcount("local[2]", megabytes=0.5, top=5) == expected
    assert expected[0][0] in capsys.readouterr().out


def log_oracle(records):
    views, errors = defaultdict(lambda: [0, 0, set()]), defaultdict(lambda: [0, 0])
    pages = Counter()
    for line in demo.access_log_lines(records):
        user, method, path, status, size = demo.parse(line.decode())
        section = demo.section_of(path)
        errors[section][0] += status >= 500
        errors[section][1] += 1
        if method == "GET" and status == 200:
            views[section][0] += 1
            views[section][1] += size
            views[section][2].add(user)
            pages[path] += 1
    table = sorted(((demo.TEAMS[s], s, v[0], len(v[2]), round(v[1] / 1e6, 1),
                     round(100.0 * errors[s][0] / errors[s][1], 2)) for s, v in views.items()),
                   key=lambda row: -row[2])
    return table, sorted(pages.items(), key=lambda kv: (-kv[1], kv[0]))[:5]


@pytest.mark.slow
def test_log_demo_etl_equals_plain_python_also_when_a_worker_is_killed(capsys):
    expected = log_oracle(20_000)
    assert demo.run_logs("local[2]", records=20_000) == expected
    assert demo.run_logs("local[2]", records=20_000, chaos=True) == expected
    assert "identical to the fault-free run" in capsys.readouterr().out


def test_command_line_help_and_bad_arguments():
    done = subprocess.run([sys.executable, "-m", "ember", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "example: ember demo" in done.stdout
    for command in ("demo", "wordcount", "logstore"):
        done = subprocess.run([sys.executable, "-m", "ember", command, "--help"], capture_output=True,
                              text=True)
        assert done.returncode == 0 and "example:" in done.stdout
    done = subprocess.run([sys.executable, "-m", "ember", "wordcount", "--master", "local[0]",
                           "--size", "0.1"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "ember: error: ValueError: Invalid master URL 'local[0]': the number of workers must be at least 1; "
        "accepted forms: local, local[N], local[*], local[N,F], local[*,F], local-cluster[N,C,M], ember://HOST:PORT"]


def test_logstore_serve_from_the_command_line(tmp_path):
    from ember.ingest import connect

    log_dir = tmp_path / "log"
    broker = subprocess.Popen([sys.executable, "-m", "ember", "logstore", "serve", "--dir", str(log_dir)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        secret_file = log_dir / "broker.secret"
        deadline = time.monotonic() + 30
        address = None
        while address is None and time.monotonic() < deadline:
            line = broker.stdout.readline()
            address = next((word for word in line.split() if word.startswith("tcp://")), None)
        assert address, "the broker did not print its address"
        assert oct(secret_file.stat().st_mode & 0o777) == "0o600"
        store = connect(address, secret_file=str(secret_file))
        store.create_topic("cli", partitions=1)
        assert "cli" in store.topics()
        store.close()
    finally:
        broker.send_signal(signal.SIGTERM)
        try:
            broker.wait(10)
        finally:
            broker.kill()
            broker.wait()
            broker.stdout.close()
            broker.stderr.close()
    assert broker.returncode in (0, -signal.SIGTERM)
    assert os.path.exists(log_dir / "clean-shutdown")
