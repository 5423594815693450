"""Tasks that kill their worker (E11), workers stopped for a while (E12) or
past the heartbeat timeout (E14)."""

from __future__ import annotations

import ctypes
import os
import signal
import time

import pytest

from ember import WorkerLostError
from faults import Background, announce, alive, kill, markers, pid_of_marker, worker_pids, w2, w2_data, w2_oracle
from tests.waiting import wait_for

pytestmark = pytest.mark.fault


def exit_one(x):
    if x == 7:
        os._exit(1)
    return x


def sigkill_self(x):
    if x == 7:
        os.kill(os.getpid(), signal.SIGKILL)
    return x


def segfault(x):
    if x == 7:
        ctypes.string_at(0)
    return x


@pytest.mark.parametrize("poison, reason", [
    (exit_one, "exit code 1"), (sigkill_self, "killed by SIGKILL"), (segfault, "killed by SIGSEGV"),
])
def test_task_that_kills_its_worker_fails_the_job_after_four_attempts(cluster, poison, reason):
    sc = cluster(2)
    before = len(sc._scheduler.tasks.history)
    with pytest.raises(WorkerLostError) as raised:
        sc.parallelize(range(20), 4).map(poison).collect()
    message = str(raised.value)
    assert "partition 1" in message and "stage" in message and "failed 4 times" in message
    assert f"worker exited unexpectedly ({reason}" in message
    tries = [l for l in list(sc._scheduler.tasks.history)[before:] if l.partition == 1]
    assert len(tries) == 4
    data = w2_data(2000)
    assert w2(sc, data) == w2_oracle(data), "the next job on the same Context succeeds"
    assert len(worker_pids(sc)) == 2


def test_worker_stopped_shorter_than_the_heartbeat_timeout_is_not_lost(cluster, tmp_path):
    sc = cluster(2, **{"spark.network.timeout": "3s", "spark.executor.heartbeatInterval": "200ms"})
    pids = worker_pids(sc)
    data = w2_data()

    def slow(index, iterator):
        announce(str(tmp_path), f"task{index}")
        time.sleep(0.3)
        return iterator

    job = Background(lambda: w2(sc, data, prepare=lambda rdd: rdd.mapPartitionsWithIndex(slow)))
    victim = pid_of_marker(wait_for(lambda: markers(tmp_path, "task*"), timeout=20, interval=0.01)[0])
    os.kill(victim, signal.SIGSTOP)
    time.sleep(1.5)
    os.kill(victim, signal.SIGCONT)
    assert job.result() == w2_oracle(data)
    assert worker_pids(sc) == pids, "no worker was declared lost or replaced"


def test_zombie_worker_is_fenced_and_its_late_results_are_refused(cluster, tmp_path):
    sc = cluster(2, **{"spark.network.timeout": "1500ms", "spark.executor.heartbeatInterval": "200ms",
                       "spark.task.maxFailures": 1})
    data = w2_data()

    def slow(index, iterator):
        announce(str(tmp_path), f"task{index}")
        time.sleep(0.5)
        return iterator

    job = Background(lambda: w2(sc, data, prepare=lambda rdd: rdd.mapPartitionsWithIndex(slow)))
    zombie = pid_of_marker(wait_for(lambda: markers(tmp_path, "task*"), timeout=20, interval=0.01)[0])
    zombie_id = next(w for w, pid in worker_pids(sc).items() if pid == zombie)
    os.kill(zombie, signal.SIGSTOP)
    try:
        wait_for(lambda: zombie_id not in sc._scheduler.tasks.workers, timeout=10,
                 interval=0.01, what="the stopped worker to be declared lost")
        wait_for(lambda: len(worker_pids(sc)) == 3, timeout=10,
                 interval=0.01, what="a replacement to start while the zombie sleeps")
    finally:
        os.kill(zombie, signal.SIGCONT)
    assert job.result() == w2_oracle(data)
    wait_for(lambda: not alive(zombie), timeout=10, interval=0.01, what="the zombie to fence itself and exit")
    assert zombie_id not in sc._backend.registered()
