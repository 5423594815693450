"""Workers SIGKILLed at chosen moments (RELIABILITY.md E01-E09, E21, E23):
the job gets exactly the fault-free answer, worker deaths are not charged to
tasks, and only what was lost is recomputed."""

from __future__ import annotations

import random
import time

import pytest

from ember.driver.local_cluster import LocalCluster
from faults import (
    Background, announce, kill, launches, markers, pid_of_marker, worker_pids,
    w2, w2_data, w2_oracle, w3, w3_oracle,
)
from tests.waiting import wait_for

pytestmark = pytest.mark.fault

NO_RETRIES = {"spark.task.maxFailures": 1}  # a charged failure would fail the job


def dawdle_on(partition, seconds, directory):
    def function(index, iterator):
        announce(directory, f"task{index}")
        if index == partition:
            time.sleep(seconds)
        return iterator
    return function


def test_reduce_by_key_survives_worker_sigkill_mid_map_task(cluster, tmp_path):
    sc = cluster(2, **NO_RETRIES)
    data = w2_data()
    slow = dawdle_on(3, 1.0, str(tmp_path))
    job = Background(lambda: w2(sc, data, prepare=lambda rdd: rdd.mapPartitionsWithIndex(slow)))
    marker = wait_for(lambda: markers(tmp_path, "task3-*"),
                      timeout=20, interval=0.01, what="map task 3 to start")[0]
    kill(pid_of_marker(marker))
    assert job.result() == w2_oracle(data)
    attempts = [l for l in launches(sc) if l.kind == "shuffle_map" and l.partition == 3]
    assert [l.attempt for l in attempts] == [0, 1]


def test_worker_lost_after_the_map_stage_reruns_only_its_map_partitions(cluster, monkeypatch):
    monkeypatch.setenv("EMBER_FAILPOINTS", "task.start=sleep:0.5@*")  # reducers dawdle before fetching
    sc = cluster(2, **NO_RETRIES)
    data = w2_data()
    job = Background(lambda: w2(sc, data, partitions=4))
    wait_for(lambda: any(l.kind == "result" for l in launches(sc)),
             timeout=20, interval=0.01, what="the reduce stage")
    first_maps = [l for l in launches(sc) if l.kind == "shuffle_map"]
    victim = first_maps[0].worker_id
    kill(worker_pids(sc)[victim])
    assert job.result() == w2_oracle(data)
    lost = sorted(l.partition for l in first_maps if l.worker_id == victim)
    rerun = sorted(l.partition for l in launches(sc) if l.kind == "shuffle_map" and l.stage_attempt > 0)
    assert lost and rerun == lost


def test_worker_killed_while_serving_shuffle_blocks(cluster, monkeypatch):
    monkeypatch.setenv("EMBER_FAILPOINTS", "w-1:shuffle.serve=kill")
    sc = cluster(2, **NO_RETRIES)
    data = w2_data()
    assert w2(sc, data, partitions=6) == w2_oracle(data)
    assert "w-1" not in worker_pids(sc), "the failpoint should have killed w-1"
    maps_on_w1 = {l.partition for l in launches(sc) if l.kind == "shuffle_map" and l.worker_id == "w-1"
                  and l.stage_attempt == 0}
    reruns = {l.partition for l in launches(sc) if l.kind == "shuffle_map" and l.stage_attempt > 0}
    assert reruns <= maps_on_w1


def test_worker_killed_before_sending_its_result_counts_it_once(cluster, monkeypatch):
    monkeypatch.setenv("EMBER_FAILPOINTS", "w-1:worker.before_result_send=kill")
    sc = cluster(2, **NO_RETRIES)
    total = sc.accumulator(0)
    data = list(range(1000))
    sc.parallelize(data, 8).foreach(lambda x: total.add(x))
    assert total.value == sum(data)
    assert "w-1" not in worker_pids(sc)
    assert sc.parallelize(data, 8).map(lambda x: x * 2).collect() == [x * 2 for x in data]


def test_result_sent_just_before_the_worker_dies_is_counted_once(cluster, monkeypatch):
    monkeypatch.setenv("EMBER_FAILPOINTS", "w-0:worker.after_result_send=kill")
    sc = cluster(2, **NO_RETRIES)
    total = sc.accumulator(0)
    data = list(range(500))
    rdd = sc.parallelize(data, 6)
    rdd.foreach(lambda x: total.add(1))
    assert total.value == len(data)
    data2 = w2_data(5000)
    assert w2(sc, data2, partitions=6) == w2_oracle(data2)


def test_cached_partitions_of_a_dead_worker_are_recomputed_and_only_those(cluster, tmp_path):
    sc = cluster(2)

    def computed(index, iterator):
        announce(str(tmp_path), f"compute{index}-{time.monotonic_ns()}")
        return iterator

    data = list(range(4000))
    cached = sc.parallelize(data, 8).mapPartitionsWithIndex(computed).map(lambda x: x * 3).cache()
    assert cached.sum() == 3 * sum(data)
    assert len(markers(tmp_path, "compute*")) == 8
    holders = sc._scheduler.cache.cached_partitions(cached._id)
    victim = sorted(worker_pids(sc))[0]
    lost = sorted(p for p, workers in holders.items() if workers == {victim})
    kill(worker_pids(sc)[victim])
    wait_for(lambda: victim not in sc._scheduler.tasks.workers,
             timeout=20, interval=0.01, what="the loss to be noticed")
    assert cached.collect() == [x * 3 for x in data]
    recomputed = sorted(int(m.split("compute")[1].split("-")[0]) for m in markers(tmp_path, "compute*"))
    assert recomputed == sorted(list(range(8)) + lost), "only the lost partitions were recomputed"


@pytest.mark.parametrize("workers, victims", [(3, 2), (2, 2)])
def test_two_shuffle_job_survives_losing_most_or_all_workers_at_once(cluster, tmp_path, workers, victims):
    sc = cluster(workers, **NO_RETRIES)
    data = w2_data(30_000, keys=300)
    slow = dawdle_on(1, 1.0, str(tmp_path))
    job = Background(lambda: w3(sc, data, prepare=lambda rdd: rdd.mapPartitionsWithIndex(slow)))
    wait_for(lambda: markers(tmp_path, "task1-*"), timeout=20, interval=0.01, what="the job to start")
    for pid in list(worker_pids(sc).values())[:victims]:
        kill(pid)
    assert job.result() == w3_oracle(data)
    assert len(worker_pids(sc)) == workers, "the local cluster replaced the dead workers"


def test_accumulator_in_an_action_is_exact_despite_a_killed_task(cluster, tmp_path):
    sc = cluster(2, **NO_RETRIES)
    total = sc.accumulator(0)
    slow = dawdle_on(2, 1.0, str(tmp_path))

    def add_all(iterator):
        for value in iterator:
            total.add(value)

    job = Background(lambda: sc.parallelize(range(10_000), 4).mapPartitionsWithIndex(slow)
                     .foreachPartition(add_all))
    marker = wait_for(lambda: markers(tmp_path, "task2-*"),
                      timeout=20, interval=0.01, what="task 2 to start")[0]
    kill(pid_of_marker(marker))
    job.result()
    assert total.value == sum(range(10_000))


def test_string_keys_place_the_same_whatever_each_workers_hash_seed(cluster, tmp_path, monkeypatch):
    original = LocalCluster._environment
    seeds = random.Random(5)

    def drifting_seed(self):
        env = original(self)
        env["PYTHONHASHSEED"] = str(seeds.randrange(1, 10_000))
        return env

    monkeypatch.setattr(LocalCluster, "_environment", drifting_seed)
    sc = cluster(2, **NO_RETRIES)
    data = w2_data()
    slow = dawdle_on(5, 1.0, str(tmp_path))
    job = Background(lambda: w2(sc, data, prepare=lambda rdd: rdd.mapPartitionsWithIndex(slow)))
    kill(pid_of_marker(wait_for(lambda: markers(tmp_path, "task5-*"), timeout=20, interval=0.01)[0]))
    assert job.result() == w2_oracle(data)
