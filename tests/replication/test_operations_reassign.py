"""Growing a running cluster and moving partitions onto the new broker:
a fourth broker joins (``LocalCluster.add_broker``, what ``ember logstore
serve --node-id 4 --cluster ...`` does on another host), and ``ember
logstore reassign --execute`` with a kafka-reassign-partitions JSON plan
moves partitions while an idempotent acks=all producer and a reader run.
The controller adds the new replica, it catches up and joins the ISR, then
the replica set becomes the target and the removed broker drops its copy;
a removed leader hands its leadership to a target first. Checked with the
workload's oracle (``workload``). Seeds as in ``test_replication_faults``."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import pytest

from ember.engine.errors import BrokerNotAvailableError
from ember.engine.wire.secret_file import write_secret_file

from tests.ingest.broker_helpers import read_topic
from tests.replication.cluster_helpers import replica_view, wait_for
from tests.replication.workload import Workload

pytestmark = [pytest.mark.fault, pytest.mark.slow]

SEEDS = list(range(1, int(os.environ.get("EMBER_REPLICATION_SEEDS", "1")) + 1))


def _reassign(store, tmp_path, plan, mode):
    secret_file = tmp_path / "cluster.secret"
    if not secret_file.exists():
        write_secret_file(str(secret_file), store.secret)
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps({"version": 1, "partitions": [
        {"topic": t, "partition": p, "replicas": r} for (t, p), r in plan.items()]}))
    result = subprocess.run(
        [sys.executable, "-m", "ember", "logstore", "reassign", "--broker", store.address,
         "--secret-file", str(secret_file), "--reassignment-json-file", str(plan_file),
         f"--{mode}"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _done(store, plan):
    info = store.topic_metadata(["events"])["events"]
    return not store.list_partition_reassignments() and all(
        info["replicas"][p] == target and sorted(info["isr"][p]) == sorted(target)
        and info["leaders"][p] in target for (_, p), target in plan.items())


@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed{s}" for s in SEEDS])
def test_partitions_move_to_an_added_broker_under_load_losing_nothing(cluster, tmp_path, seed):
    rng = random.Random(seed)
    cluster.create_topic("events", 2)
    workload = Workload(cluster, "events", 2, seed).start()
    try:
        workload.wait_acked(rng.randrange(100, 400))
        new = cluster.cluster.add_broker(tmp_path / "node-4")
        assert new == 4
        assert "4" in cluster._admin.metadata([])["brokers"]
        info = cluster.topic_metadata(["events"])["events"]
        # Partition 0 loses its leader to the new broker; partition 1 a follower.
        leader0 = info["leaders"][0]
        follower1 = rng.choice([b for b in info["replicas"][1] if b != info["leaders"][1]])
        plan = {("events", 0): [4] + [b for b in info["replicas"][0] if b != leader0],
                ("events", 1): [b if b != follower1 else 4 for b in info["replicas"][1]]}
        removed = {0: leader0, 1: follower1}
        out = _reassign(cluster, tmp_path, plan, "execute")
        assert "Successfully started partition reassignments for events-0,events-1" in out
        rollback = json.loads(out.splitlines()[2])
        assert {(e["partition"], tuple(e["replicas"])) for e in rollback["partitions"]} == \
            {(p, tuple(info["replicas"][p])) for p in (0, 1)}
        wait_for(lambda: _done(cluster, plan), 120,
                 what=f"the reassignment of {plan} to complete (seed {seed})")
        workload.wait_acked(200)  # and producing goes on at the new replicas
    finally:
        workload.stop()
    workload.check()
    verified = _reassign(cluster, tmp_path, plan, "verify")
    assert "Reassignment of partition events-0 is completed." in verified
    assert "Reassignment of partition events-1 is completed." in verified
    info = cluster.topic_metadata(["events"])["events"]
    assert info["leaders"][0] != leader0 and info["leaders"][0] in plan["events", 0]
    for p, gone in removed.items():
        # The removed broker holds no replica any more, and dropped its records.
        assert replica_view(cluster, gone, "events", p) is None
        wait_for(lambda: _log_is_empty(cluster.cluster.broker_directory(gone), p),
                 what=f"broker {gone} to drop its copy of events-{p}")
        # The new broker holds the whole partition, as every target does.
        ends = {b: replica_view(cluster, b, "events", p)["log_end_offset"]
                for b in plan["events", p]}
        assert len(set(ends.values())) == 1 and ends[4] > 0, ends


def _log_is_empty(directory, partition):
    path = os.path.join(directory, f"events-{partition}")
    return sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path)
               if f.endswith(".log")) == 0


def test_a_reassignment_to_an_unknown_broker_is_refused_with_its_name(cluster, tmp_path):
    cluster.create_topic("events", 1)
    with pytest.raises(BrokerNotAvailableError, match=r"events-0.*brokers \[9\] are not registered"):
        cluster.reassign_partitions({("events", 0): [1, 2, 9]})
    assert cluster.list_partition_reassignments() == {}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"version": 1, "partitions": [{"topic": "events", "partition": 0,
                                                              "replicas": "1,2"}]}))
    write_secret_file(str(tmp_path / "s"), cluster.secret)
    result = subprocess.run(
        [sys.executable, "-m", "ember", "logstore", "reassign", "--broker", cluster.address,
         "--secret-file", str(tmp_path / "s"), "--reassignment-json-file", str(bad),
         "--execute"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "partition entry 1" in result.stderr and '"replicas"' in result.stderr


def test_a_leader_removed_by_a_reassignment_acknowledges_nothing_its_successor_lacks(
        start_cluster, tmp_path):
    """The reassignment completes when the leader's ISR change adds the last
    target; the same change makes a target the leader. The old leader hears
    the answer at once but applies the image late (every broker but the new
    one is slow to apply metadata here, so the old followers keep fetching
    from it): it must count the new leader until then, so what it still
    acknowledges is held by the new leader too. (Had it not, the records
    acknowledged in that window would be missing at the new leader, and the
    idempotent producer's next batch would leave a sequence gap there.)"""
    slow = {"EMBER_BROKER_FAULTS": "metadata.slow_apply@*"}
    store = start_cluster(node_env={1: slow, 2: slow, 3: slow})
    store.create_topic("events", 1)
    workload = Workload(store, "events", 1, seed=11).start()
    try:
        workload.wait_acked(300)
        store.cluster.add_broker(tmp_path / "node-4")
        info = store.topic_metadata(["events"])["events"]
        old = info["leaders"][0]
        target = [4] + [b for b in info["replicas"][0] if b != old]
        store.reassign_partitions({("events", 0): target})
        wait_for(lambda: _done(store, {("events", 0): target}), 120,
                 what=f"the reassignment to {target} to complete")
        workload.wait_acked(300)
    finally:
        workload.stop()
    workload.check()
    assert store.topic_metadata(["events"])["events"]["leaders"][0] == 4


def test_a_reassignment_that_cannot_finish_is_reported_in_progress_and_can_be_cancelled(
        cluster, tmp_path):
    """A target broker that is down never catches up: --verify says the
    move is still in progress, and --cancel restores the replicas it started
    from (the records stay where they were)."""
    cluster.create_topic("events", 1)
    with cluster.producer() as producer:
        for i in range(50):
            producer.send("events", f"v{i}".encode())
        producer.flush(60)
    cluster.cluster.add_broker(tmp_path / "node-4")
    cluster.cluster.stop_broker(4)  # registered, then gone: it cannot join the ISR
    original = cluster.topic_metadata(["events"])["events"]["replicas"][0]
    leader = cluster.topic_metadata(["events"])["events"]["leaders"][0]
    plan = {("events", 0): [leader, 4, next(b for b in original if b != leader)]}
    _reassign(cluster, tmp_path, plan, "execute")
    moving = cluster.list_partition_reassignments()
    assert moving[("events", 0)]["adding"] == [4]
    assert "Reassignment of partition events-0 is still in progress." in \
        _reassign(cluster, tmp_path, plan, "verify")
    assert "Successfully cancelled partition reassignments for events-0" in \
        _reassign(cluster, tmp_path, plan, "cancel")
    assert cluster.list_partition_reassignments() == {}
    info = cluster.topic_metadata(["events"])["events"]
    assert sorted(info["replicas"][0]) == sorted(original) and info["leaders"][0] == leader
    assert f"rather than {plan['events', 0]}" in _reassign(cluster, tmp_path, plan, "verify")
    values = [v for _, _, v in read_topic(cluster, "events")[0]]
    assert values == [f"v{i}".encode() for i in range(50)]
