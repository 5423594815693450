"""Chaos (E10): a random worker is SIGKILLed every 200-800 ms for the whole of
a two-shuffle job, for five fixed seeds; the answer is exact every time."""

from __future__ import annotations

import random
import threading
import time

import pytest

from faults import kill, w3, w3_data_for_chaos, w3_oracle, worker_pids

pytestmark = [pytest.mark.fault, pytest.mark.slow]


def steady(index, iterator):
    time.sleep(0.15)  # long enough that kills land mid-task and mid-stage
    return iterator


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_two_shuffle_job_is_exact_under_random_worker_kills(cluster, seed):
    # The monkey kills up to 300 workers a minute, past the default bound on
    # replacements (a bound for machines that keep killing workers): raised.
    # And on a loaded machine it can hit the worker running one task four
    # times in a row, which the default rule takes for a task that kills its
    # worker (poison pills: test_poison_and_zombies.py): raised too, as a
    # Spark user facing such a monkey raises spark.task.maxFailures. The
    # attempts stay bounded (asserted below).
    sc = cluster(2, **{"ember.worker.maxRespawnsPerMinute": "1000",
                       "ember.task.maxWorkerDeaths": "50"})
    data = w3_data_for_chaos()
    rng = random.Random(seed)
    stop = threading.Event()
    kills: list[str] = []

    def chaos():
        while not stop.wait(rng.uniform(0.2, 0.8)):
            # Like a chaos monkey, pick among every worker process, whether
            # it has registered yet or not: it knows nothing of the scheduler.
            live = sorted(worker_pids(sc))
            if live:
                victim = rng.choice(live)
                kill(worker_pids(sc).get(victim, -1))
                kills.append(victim)

    monkey = threading.Thread(target=chaos, daemon=True)
    monkey.start()
    try:
        result = w3(sc, data, partitions=12, prepare=lambda rdd: rdd.mapPartitionsWithIndex(steady))
    finally:
        stop.set()
        monkey.join()
    assert kills, f"seed {seed}: the job ended before any worker was killed"
    assert result == w3_oracle(data), f"seed {seed}: wrong answer after killing {kills}"
    attempts = {}
    for launch in sc._scheduler.tasks.history:
        key = (launch.stage_id, launch.partition)
        attempts[key] = attempts.get(key, 0) + 1
    assert max(attempts.values()) <= 4 * (len(kills) + 1), f"seed {seed}: unbounded retries"
