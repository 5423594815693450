"""Helpers of the fault-injection suite: clusters whose workers the tests
kill, stop and corrupt, and the plain-Python oracles their results are
compared with.

Workloads (RELIABILITY.md): W2 reduceByKey over str keys -> collectAsMap;
W3 groupByKey -> mapValues(sorted) -> sortByKey -> collect (two shuffles);
W4 join; W5 a persisted RDD used by two actions; W7 saveAsTextFile.
"""

from __future__ import annotations

import glob
import os
import signal
import threading
from collections import defaultdict
from operator import add

import psutil

import ember


def start_cluster(workers=2, **settings):
    conf = ember.Conf().setMaster(f"local[{workers}]").setAppName("fault")
    for key, value in settings.items():
        conf.set(key, value)
    return ember.Context(conf=conf)


# --- workloads and their oracles ------------------------------------------------

def w2_data(n=20_000, keys=500):
    return [(f"key-{i % keys}", i) for i in range(n)]


def w2(sc, data, partitions=8, prepare=lambda rdd: rdd):
    return prepare(sc.parallelize(data, partitions)).reduceByKey(add).collectAsMap()


def w2_oracle(data):
    totals = defaultdict(int)
    for key, value in data:
        totals[key] += value
    return dict(totals)


def w3_data_for_chaos():
    return w2_data(60_000, keys=1500)


def w3(sc, data, partitions=8, prepare=lambda rdd: rdd):
    return (prepare(sc.parallelize(data, partitions))
            .groupByKey().mapValues(sorted).sortByKey().collect())


def w3_oracle(data):
    groups = defaultdict(list)
    for key, value in data:
        groups[key].append(value)
    return sorted((key, sorted(values)) for key, values in groups.items())


def w4(sc, left, right, partitions=6):
    return sorted(sc.parallelize(left, partitions).join(sc.parallelize(right, partitions)).collect())


def w4_oracle(left, right):
    by_key = defaultdict(list)
    for key, value in right:
        by_key[key].append(value)
    return sorted((key, (v, w)) for key, v in left for w in by_key[key])


# --- process control -------------------------------------------------------------

def worker_pids(sc):
    return dict(sc._cluster.pids())


def kill(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def markers(directory, pattern="*"):
    return sorted(glob.glob(os.path.join(str(directory), pattern)))


def announce(directory, tag):
    """Inside a task: leave a marker naming this worker process."""
    open(os.path.join(directory, f"{tag}-{os.getpid()}"), "w").close()


def pid_of_marker(path):
    return int(path.rsplit("-", 1)[1])


class Background:
    """Run an action in a thread; ``result()`` joins and returns or re-raises."""

    def __init__(self, action):
        self._value = None
        self._error = None
        self._thread = threading.Thread(target=self._run, args=(action,), daemon=True)
        self._thread.start()

    def _run(self, action):
        try:
            self._value = action()
        except BaseException as error:  # noqa: BLE001 - re-raised in result()
            self._error = error

    def result(self, timeout=60):
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError(f"the job did not finish within {timeout} s")
        if self._error is not None:
            raise self._error
        return self._value


def launches(sc, since=0):
    return list(sc._scheduler.tasks.history)[since:]


def alive(pid):
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
