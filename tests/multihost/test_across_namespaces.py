"""Workers on other hosts, for real: the driver (and a log store broker) in one
network namespace, the workers in two others, joined by a bridge on
10.213.7.0/24 (RELIABILITY.md E15 with a link cut). Every answer is checked
against a plain-Python oracle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections import defaultdict

import pytest

from multihost_helpers import finish

pytestmark = pytest.mark.needs_root

TIMEOUT = 4.0  # spark.network.timeout of these clusters, in seconds

DRIVER_PRELUDE = textwrap.dedent("""
    import json, logging, os, sys, time
    import ember, ember.ingest
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    cfg = json.loads(sys.argv[1])
    conf = (ember.Conf().set("ember.secretFile", cfg["secret"])
            .set("ember.driver.minWorkers", "2").set("ember.worker.startTimeout", "30s")
            .set("spark.network.timeout", cfg["timeout"])
            .set("spark.executor.heartbeatInterval", "500ms")
            .set("ember.shuffle.fetchTimeout", cfg["timeout"]))
    sc = ember.Context("ember://0.0.0.0:7077", conf=conf)
    where = lambda _: os.environ["EMBER_TEST_HOST"]
""")

SHUFFLE_AND_JOIN = DRIVER_PRELUDE + textwrap.dedent("""
    sc.addPyFile(cfg["module"])
    import mh_weights  # shipped over the network to the workers
    squares = sc.broadcast({k: k * k for k in range(50)})
    hosts = sorted(set(sc.parallelize(range(8), 8).map(lambda x: (time.sleep(0.3), where(x))[1]).collect()))
    sums = sc.parallelize([(i % 50, i) for i in range(20000)], 8).reduceByKey(lambda a, b: a + b)
    other = sc.parallelize(range(50), 4).map(lambda k: (k, mh_weights.weight(k) + squares.value[k]))
    joined = sums.join(other, 6).collect()
    print(json.dumps({"hosts": hosts, "joined": sorted(joined),
                      "parallelism": sc.defaultParallelism}), flush=True)
    sc.stop()
""")

TOPIC_JOB = DRIVER_PRELUDE + textwrap.dedent("""
    store = ember.ingest.connect(cfg["broker"], secret_file=cfg["secret"])
    store.create_topic("clicks", partitions=4)
    producer = store.producer()
    for i in range(3000):
        producer.send("clicks", key=f"user-{i % 13}".encode(), value=str(i).encode())
    producer.flush()
    rdd = sc.topicRDD(store, "clicks")
    hosts = sorted(set(rdd.mapPartitions(lambda part: [(time.sleep(0.3), where(part))[1]]).collect()))
    totals = rdd.map(lambda kv: (kv[0], int(kv[1]))).reduceByKey(lambda a, b: a + b, 3).collect()
    print(json.dumps({"hosts": hosts, "totals": sorted(totals)}), flush=True)
    producer.close()
    store.close()
    sc.stop()
""")

CUT_JOB = DRIVER_PRELUDE + textwrap.dedent("""
    print("ready", flush=True)
    sys.stdin.readline()
    def slow(part):
        time.sleep(0.4)
        return [(i % 10, i) for i in part]
    sums = sc.parallelize(range(4000), 16).mapPartitions(slow).reduceByKey(lambda a, b: a + b, 4)
    names = sc.parallelize([(k, "key-%d" % k) for k in range(10)], 2)
    joined = sums.join(names, 4).map(lambda kv: (time.sleep(0.1), "%s %s %d" % (kv[0], kv[1][1], kv[1][0]))[1])
    joined.saveAsTextFile(cfg["out"])
    print(json.dumps({"done": True}), flush=True)
    sc._cluster.wait_for_workers(2, 30)  # a new worker on the healed host
    again = sums.join(names, 4).mapPartitions(lambda p: [(time.sleep(0.3), where(p))[1]])
    print(json.dumps({"hosts": sorted(set(again.collect()))}), flush=True)
    sc.stop()
""")


def driver_config(secret_file: str, **extra) -> str:
    return json.dumps({"secret": secret_file, "timeout": f"{TIMEOUT:g}s", **extra})


def start_driver(processes, hosts, tmp_path, script: str, config: str, stdin=None):
    path = tmp_path / "driver.py"
    path.write_text(script)
    return processes.start(hosts.command("a", [sys.executable, str(path), config]),
                           stdin=stdin, cwd=str(tmp_path))


def start_workers(processes, hosts, secret_file, cores=2):
    """Workers on hosts b and c; c names its shuffle address itself (--host),
    b finds it from its route to the driver."""
    driver = f"{hosts.address['a']}:7077"
    flags = {"b": (), "c": ("--host", hosts.address["c"])}
    return {name: processes.worker(driver, secret_file, cores, hosts, name, flags=flags[name],
                                   env={"EMBER_TEST_HOST": name}) for name in ("b", "c")}


def test_reduce_by_key_and_join_run_across_two_workers_on_other_hosts(hosts, processes, tmp_path,
                                                                      secret_file):
    module = tmp_path / "mh_weights.py"
    module.write_text("def weight(k):\n    return 3 * k + 1\n")
    driver = start_driver(processes, hosts, tmp_path, SHUFFLE_AND_JOIN,
                          driver_config(secret_file, module=str(module)))
    workers = start_workers(processes, hosts, secret_file)
    code, out, err = finish(driver, timeout=60)
    assert code == 0, err
    result = json.loads(out.splitlines()[-1])
    sums = defaultdict(int)
    for i in range(20000):
        sums[i % 50] += i
    assert result["joined"] == [[k, [sums[k], 3 * k + 1 + k * k]] for k in range(50)]
    assert result["hosts"] == ["b", "c"], "both workers ran tasks"
    assert result["parallelism"] == 4, "defaultParallelism = total cores of the workers"
    for name, worker in workers.items():  # the driver's stop() told them to go
        code, _, err = finish(worker, timeout=15)
        assert code == 0, f"worker {name}: {err}"


def test_topic_rdd_reads_a_broker_on_the_driver_host_from_workers_elsewhere(hosts, processes,
                                                                         tmp_path, secret_file):
    broker_address = f"{hosts.address['a']}:9092"
    broker = processes.start(hosts.command("a", [
        sys.executable, "-m", "ember", "logstore", "serve", "--dir", str(tmp_path / "log"),
        "--host", hosts.address["a"], "--port", "9092", "--secret-file", secret_file]),
        stdin=subprocess.DEVNULL)
    assert "serving" in broker.stdout.readline()
    driver = start_driver(processes, hosts, tmp_path, TOPIC_JOB,
                          driver_config(secret_file, broker=broker_address))
    start_workers(processes, hosts, secret_file)
    code, out, err = finish(driver, timeout=60)
    assert code == 0, err
    result = json.loads(out.splitlines()[-1])
    totals = defaultdict(int)
    for i in range(3000):
        totals[f"user-{i % 13}"] += i
    assert result["totals"] == sorted([key, total] for key, total in totals.items())
    assert result["hosts"] == ["b", "c"]


@pytest.mark.fault
@pytest.mark.slow
def test_a_worker_cut_off_mid_job_fences_itself_and_the_answer_stays_exact(hosts, processes,
                                                                          tmp_path, secret_file):
    out_dir = tmp_path / "out"
    driver = start_driver(processes, hosts, tmp_path, CUT_JOB,
                          driver_config(secret_file, out=str(out_dir)), stdin=subprocess.PIPE)
    workers = start_workers(processes, hosts, secret_file)
    assert driver.stdout.readline().strip() == "ready", driver.stderr.read()
    driver.stdin.write("go\n")
    driver.stdin.flush()
    time.sleep(0.8)  # map tasks are running on both workers
    hosts.cut("b")
    cut_at = time.monotonic()
    try:
        code, _, err = finish(workers["b"], timeout=TIMEOUT + 15)
        silent_for = time.monotonic() - cut_at
    finally:
        hosts.heal("b")
    assert code == 5, err
    assert "no word from the driver" in err and "fencing myself" in err
    assert silent_for > TIMEOUT - 1, "fenced only after the heartbeat timeout"
    assert json.loads(driver.stdout.readline()) == {"done": True}
    rejoined = processes.worker(f"{hosts.address['a']}:7077", secret_file, 2, hosts, "b",
                                env={"EMBER_TEST_HOST": "b"})
    code, out, err = finish(driver, timeout=60)
    assert code == 0, err
    assert json.loads(out.splitlines()[-1]) == {"hosts": ["b", "c"]}, "the healed host works again"
    assert "lost: no heartbeat" in err  # the driver declared the worker lost and moved its tasks
    sums = defaultdict(int)
    for i in range(4000):
        sums[i % 10] += i
    expected = sorted(f"{k} key-{k} {sums[k]}" for k in range(10))
    parts = sorted(name for name in os.listdir(out_dir) if name.startswith("part-"))
    assert parts == [f"part-{i:05d}" for i in range(4)], os.listdir(out_dir)
    lines = [line for part in parts for line in (out_dir / part).read_text().splitlines()]
    assert sorted(lines) == expected, "no record lost, none duplicated"
    assert (out_dir / "_SUCCESS").exists()
    assert not [n for n in os.listdir(out_dir) if n not in parts and n != "_SUCCESS"], \
        "no temporary output left"
    for worker in (workers["c"], rejoined):
        code, _, err = finish(worker, timeout=15)
        assert code == 0, err
