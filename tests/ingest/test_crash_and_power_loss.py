"""Crashes for real: power loss simulated from the fsync journal (L16), and a
child process SIGKILLed while it appends and flushes in a loop."""

import os
import random
import signal
import subprocess
import sys

import pytest

from ember.ingest.log import durability
from ember.ingest.log.log_manager import LogManager
from ember.ingest.log.record_batch import SimpleRecord, encode_batch

from ingest_helpers import crash, read_records, values_batch, values_of

CHILD = os.path.join(os.path.dirname(__file__), "appender_child.py")


@pytest.fixture
def journal(tmp_path):
    path = str(tmp_path / "fsync.journal")
    durability.track_fsyncs(path)
    yield path
    durability.track_fsyncs(None)


def test_the_journal_records_created_files_and_their_size_at_each_fsync(tmp_path, journal):
    path = str(tmp_path / "f")
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        durability.note_created(path)
        assert durability.durable_sizes(journal) == {path: 0}
        durability.pwrite_all(fd, b"x" * 100, 0)
        durability.fsync(fd, path)
        durability.pwrite_all(fd, b"y" * 50, 100)
        assert durability.durable_sizes(journal) == {path: 100}
    finally:
        os.close(fd)
    assert durability.simulate_power_loss(journal, garbage=b"\x00" * 7) == [(path, 150, 100)]
    with open(path, "rb") as handle:
        assert handle.read() == b"x" * 100 + b"\x00" * 7


def half_batch(values):
    batch = values_batch(values)
    return batch[:len(batch) // 2]


@pytest.mark.parametrize("garbage", [b"", b"\x00" * 4096, random.Random(5).randbytes(4096),
                                     half_batch(["ghost"] * 20)],
                         ids=["cut", "zeros", "random", "half-batch"])
def test_power_loss_keeps_every_flushed_record_exactly_once(tmp_path, journal, garbage):
    log_dir = str(tmp_path / "logs")
    manager = LogManager(log_dir)
    manager.create_topic("t", 2, {"segment.bytes": 3000, "index.interval.bytes": 300})
    rng = random.Random(9)
    appended = {0: [], 1: []}
    flushed = {0: 0, 1: 0}
    for round_ in range(30):
        for partition in (0, 1):
            log = manager.get_log("t", partition)
            values = [f"p{partition}-{len(appended[partition]) + i}" + "." * rng.randint(0, 80)
                      for i in range(rng.randint(1, 6))]
            log.append(values_batch(values))
            appended[partition] += values
            if round_ < 20 and rng.random() < 0.5:
                flushed[partition] = log.flush()
        if round_ == 10:
            manager.checkpoint()
    crash(manager)
    assert durability.simulate_power_loss(journal, garbage), "the scenario must lose bytes"
    manager = LogManager(log_dir)
    for partition in (0, 1):
        got = values_of(read_records(manager.get_log("t", partition)))
        assert len(got) >= flushed[partition]
        assert got == appended[partition][:len(got)]  # in order, once each, nothing invented
    manager.close()


def run_child(log_dir, seed, flushes, env):
    """Start the appender, let it report ``flushes`` flushes, SIGKILL it, and
    return the high watermarks it reported."""
    child = subprocess.Popen([sys.executable, CHILD, log_dir, str(seed)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    reported = []
    try:
        while len(reported) < flushes:
            line = child.stdout.readline()
            if not line:
                pytest.fail(f"the appender exited early: {child.stderr.read().decode()}")
            reported.append(int(line))
        os.kill(child.pid, signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(10)
        child.stdout.close()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    return reported


def check_recovered(log_dir, acked):
    with LogManager(log_dir) as manager:
        log = manager.get_log("events", 0)
        records = read_records(log, max_bytes=8192)
        numbers = [int(r.value.split(b".")[0][1:]) for r in records]
        # Record n at offset n: every record present once, in order, none invented.
        assert numbers == [r.offset for r in records] == list(range(len(records)))
        assert len(records) >= acked, f"acknowledged {acked}, recovered {len(records)}"
        return manager.recovery_report


@pytest.mark.fault
@pytest.mark.parametrize("seed", [1, 2])
def test_sigkill_while_appending_loses_no_flushed_batch(tmp_path, seed):
    log_dir = str(tmp_path / "logs")
    env = {k: v for k, v in os.environ.items() if k != "EMBER_TRACK_FSYNC"}
    rng = random.Random(seed)
    acked = 0
    for _ in range(2):  # kill, recover, append more into the recovered log, kill again
        reported = run_child(log_dir, rng.randrange(1 << 30), rng.randint(20, 60), env)
        acked = max([acked] + reported)
        check_recovered(log_dir, acked)


@pytest.mark.fault
@pytest.mark.parametrize("garbage", [b"", b"\xff" * 1000], ids=["cut", "garbage"])
def test_sigkill_then_power_loss_loses_no_flushed_batch(tmp_path, garbage):
    log_dir = str(tmp_path / "logs")
    journal = str(tmp_path / "fsync.journal")
    env = dict(os.environ, EMBER_TRACK_FSYNC=journal)
    reported = run_child(log_dir, 3, 40, env)
    durability.simulate_power_loss(journal, garbage)
    check_recovered(log_dir, max(reported))


def test_power_loss_right_after_a_roll_keeps_flushed_data(tmp_path, journal):
    log_dir = str(tmp_path / "logs")
    manager = LogManager(log_dir)
    manager.create_topic("t", 1, {"segment.bytes": 600})
    log = manager.get_log("t", 0)
    values = []
    for i in range(12):
        value = f"v{i}" + "." * 100
        log.append(encode_batch([SimpleRecord(None, value.encode())], timestamp=1))
        values.append(value)
    acked = log.flush()
    log.roll()
    log.append(values_batch(["unflushed"]))
    crash(manager)
    durability.simulate_power_loss(journal, b"junk")
    manager = LogManager(log_dir)
    got = values_of(read_records(manager.get_log("t", 0)))
    assert got == values[:len(got)] and len(got) >= acked
    manager.close()
