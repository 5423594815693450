"""What an operator sees of a replicated store: each partition's leader,
replicas, in-sync replicas, leader epoch and followers' lag, from
``LogStore.describe_topics``/``describe``/``describe_cluster``, from
``ember logstore topics --describe`` (Kafka's kafka-topics columns) and on
the status page of a Context that read the store."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request

import pytest

from ember.engine.wire.secret_file import write_secret_file

from tests.replication.cluster_helpers import leader_of, wait_for

pytestmark = pytest.mark.slow


def _produce(store, topic, count, partitions):
    with store.producer() as producer:
        for i in range(count):
            producer.send(topic, f"r{i}".encode(), partition=i % partitions)
        producer.flush(60)


def _in_sync_and_caught_up(store, topic, partitions):
    info = store.describe_topics([topic])[topic]
    return info if all(sorted(info["isr"][p]) == [1, 2, 3]
                       and info["follower_lag"][p] is not None
                       and set(info["follower_lag"][p].values()) == {0}
                       for p in range(partitions)) else None


def _describe_cli(store, tmp_path, topic):
    secret_file = tmp_path / "cluster.secret"
    if not secret_file.exists():
        write_secret_file(str(secret_file), store.secret)
    result = subprocess.run(
        [sys.executable, "-m", "ember", "logstore", "topics", "--broker", store.address,
         "--secret-file", str(secret_file), "--describe", topic],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def _partition_line(lines, partition):
    """The fields of one partition's line of ``topics --describe``."""
    for line in lines:
        fields = dict(re.findall(r"(\w+): (\S+)", line))
        if line.startswith("\t") and fields.get("Partition") == str(partition):
            return fields
    raise AssertionError(f"no line for partition {partition} in {lines}")


def test_describe_shows_every_partition_fully_replicated_and_caught_up(cluster):
    cluster.create_topic("events", 2)
    _produce(cluster, "events", 40, 2)
    info = wait_for(lambda: _in_sync_and_caught_up(cluster, "events", 2),
                    what="every follower to be in sync with no lag")
    assert info["replication_factor"] == 3
    assert [sorted(r) for r in info["replicas"]] == [[1, 2, 3]] * 2
    assert info["high_watermarks"] == info["log_end_offsets"] == [20, 20]
    for p in (0, 1):
        leader = info["leaders"][p]
        assert leader in (1, 2, 3) and info["leader_epochs"][p] >= 0
        assert sorted(info["follower_lag"][p]) == sorted({1, 2, 3} - {leader})
    # describe() (what displays use) carries the same per-partition view.
    state, topics = cluster.describe()
    assert state == "running" and topics["events"]["isr"] == info["isr"]
    # Each leader reports its followers' lag in describe_cluster() too.
    leader = info["leaders"][0]
    view = cluster.describe_cluster()[leader]["partitions"]["events-0"]
    assert view["role"] == "leader" and sorted(view["follower_lag"]) == \
        sorted({1, 2, 3} - {leader})


def test_a_killed_follower_leaves_the_isr_in_describe_and_in_topics_describe(cluster, tmp_path):
    cluster.create_topic("events", 1)
    _produce(cluster, "events", 10, 1)
    wait_for(lambda: _in_sync_and_caught_up(cluster, "events", 1),
             what="every follower to be in sync")
    before = _partition_line(_describe_cli(cluster, tmp_path, "events"), 0)
    leader = leader_of(cluster, "events")
    assert before["Leader"] == str(leader)
    assert sorted(before["Replicas"].split(",")) == sorted(before["Isr"].split(",")) == \
        ["1", "2", "3"]
    follower = next(n for n in (1, 2, 3) if n != leader)
    cluster.cluster.kill(follower)

    # The controller fences it when its session expires; the ISR shrinks.
    wait_for(lambda: follower not in cluster.describe_topics(["events"])["events"]["isr"][0],
             what=f"broker {follower} to leave the ISR")
    _produce(cluster, "events", 15, 1)  # records the dead follower never fetched
    info = cluster.describe_topics(["events"])["events"]
    assert info["leaders"][0] == leader
    assert sorted(info["isr"][0]) == sorted({1, 2, 3} - {follower})
    assert sorted(info["replicas"][0]) == [1, 2, 3], "a dead replica stays a replica"
    assert info["follower_lag"][0][follower] >= 15
    line = _partition_line(_describe_cli(cluster, tmp_path, "events"), 0)
    assert line["Leader"] == str(leader) and line["LeaderEpoch"] == str(info["leader_epochs"][0])
    assert sorted(line["Isr"].split(",")) == sorted(str(n) for n in {1, 2, 3} - {follower})
    assert sorted(line["Replicas"].split(",")) == ["1", "2", "3"]
    lag = dict(item.split("=") for item in line["Lag"].split(","))
    assert int(lag[str(follower)]) >= 15
    header = next(x for x in _describe_cli(cluster, tmp_path, "events") if x.startswith("Topic"))
    assert "ReplicationFactor: 3" in header and "min.insync.replicas=2" in header


def test_the_status_page_shows_each_partitions_leader_isr_and_lag(sc, cluster):
    cluster.create_topic("events", 2)
    _produce(cluster, "events", 20, 2)
    wait_for(lambda: _in_sync_and_caught_up(cluster, "events", 2),
             what="every follower to be in sync with no lag")
    assert sc.topicRDD(cluster, "events").count() == 20
    with urllib.request.urlopen(sc.uiWebUrl + "/api/status", timeout=30) as reply:
        (listed,) = [s for s in json.loads(reply.read())["logStores"]
                     if s["address"] == cluster.address]
    (topic,) = [t for t in listed["topics"] if t["name"] == "events"]
    states = topic["partitionStates"]
    assert [s["partition"] for s in states] == [0, 1]
    for state in states:
        assert sorted(state["isr"]) == sorted(state["replicas"]) == [1, 2, 3]
        assert state["leader"] in (1, 2, 3) and state["leaderEpoch"] >= 0
        assert set(state["followerLag"]) == {str(b) for b in (1, 2, 3) if b != state["leader"]}
    with urllib.request.urlopen(sc.uiWebUrl, timeout=30) as reply:
        page = reply.read().decode()
    assert "in-sync replicas" in page and "follower lag (offsets)" in page
