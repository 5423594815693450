"""Faults of a three-broker cluster (RF 3, min.insync.replicas 2, acks=all,
idempotent producer, unique values), checked against a plain-Python oracle
of the workload's history (``workload``): RELIABILITY.md §4.2 L01, L02, L04,
L05, L07 (and an unclean election allowed by the topic), L08, L16, L24 and
L17 across a failover, on one host with real
processes (SIGKILL, SIGSTOP/SIGCONT, a wiped directory, a simulated power
loss).

Each scenario runs with seed 1 by default; ``EMBER_REPLICATION_SEEDS=5``
runs seeds 1 to 5 (the seed picks partitions and the moments of the
faults, and is printed in every failure)."""

from __future__ import annotations

import os
import random
import signal
import time

import pytest

from ember.engine.errors import (
    BrokerUnavailableError, KafkaTimeoutError, LeaderNotAvailableError, NotEnoughReplicasError,
)
from ember.ingest.client.client import BrokerConnection
from ember.ingest.log import durability
from ember.ingest.log.record_batch import SimpleRecord, encode_batch

from tests.ingest.broker_helpers import read_topic
from tests.replication.cluster_helpers import (
    leader_of, partition_state, replica_view, wait_for, wait_for_new_leader,
)
from tests.replication.workload import Workload

pytestmark = [pytest.mark.fault, pytest.mark.slow]

SEEDS = list(range(1, int(os.environ.get("EMBER_REPLICATION_SEEDS", "1")) + 1))
seeds = pytest.mark.parametrize("seed", SEEDS, ids=[f"seed{s}" for s in SEEDS])


def wait_for_full_isr(store, topic, partitions=1, timeout=60.0):
    wait_for(lambda: all(sorted(store.topic_metadata([topic])[topic]["isr"][p]) == [1, 2, 3]
                         for p in range(partitions)), timeout,
             what=f"every replica of {topic} to be in sync")


def wait_for_replicas_to_agree(store, topic, partition=0):
    ends = {n: replica_view(store, n, topic, partition)["log_end_offset"] for n in (1, 2, 3)}
    wait_for(lambda: len({replica_view(store, n, topic, partition)["log_end_offset"]
                          for n in (1, 2, 3)}) == 1, what=f"the replicas to agree ({ends})")


def only_a_stale_replica_left(store, workload):
    """After 50 acknowledged records of ``events``-0, a follower (the stale
    one) is killed and leaves the ISR, 100 records it lacks are
    acknowledged, the two in-sync brokers are killed and the stale one is
    started again, alone. Returns (old leader, stale, other)."""
    workload.wait_acked(50)
    leader = leader_of(store, "events")
    stale, other = [n for n in (1, 2, 3) if n != leader]
    store.cluster.kill(stale)
    wait_for(lambda: stale not in partition_state(store, "events")[2],
             what=f"broker {stale} to leave the ISR")
    workload.wait_acked(100)  # records broker {stale} does not have
    store.cluster.kill(leader)
    store.cluster.kill(other)
    store.cluster.restart(stale)
    return leader, stale, other


@seeds
def test_acknowledged_records_survive_sigkill_of_the_leader(cluster, seed):
    """L01: the leader of a partition dies mid-produce; producing resumes on
    a new leader; nothing acknowledged is lost or stored twice."""
    rng = random.Random(seed)
    cluster.create_topic("events", 2)
    workload = Workload(cluster, "events", 2, seed).start()
    try:
        workload.wait_acked(rng.randrange(50, 300))
        victim = leader_of(cluster, "events", rng.randrange(2))
        cluster.cluster.kill(victim)
        killed_at = time.monotonic()
        workload.wait_acked(100)
        print(f"\nseed {seed}: broker {victim} killed; 100 more acknowledged "
              f"{time.monotonic() - killed_at:.1f} s later")
    finally:
        workload.stop()
    workload.check()


@seeds
def test_repeated_leader_crashes_lose_nothing_and_each_returns_to_the_isr(cluster, seed):
    """L02: kill and restart the current leader three times; each restarted
    broker truncates to its new leader, catches up and rejoins the ISR."""
    rng = random.Random(seed)
    cluster.create_topic("events", 1)
    workload = Workload(cluster, "events", 1, seed).start()
    try:
        for _ in range(3):
            workload.wait_acked(rng.randrange(30, 150))
            victim = leader_of(cluster, "events")
            cluster.cluster.kill(victim)
            wait_for_new_leader(cluster, "events", victim)
            cluster.cluster.restart(victim)
            wait_for_full_isr(cluster, "events")
        workload.wait_acked(50)
    finally:
        workload.stop()
    workload.check()
    wait_for_replicas_to_agree(cluster, "events")


@seeds
@pytest.mark.parametrize("wipe", [False, True], ids=["restarted", "directory-wiped"])
def test_a_lost_follower_leaves_the_isr_and_catches_up_when_it_returns(cluster, seed, wipe):
    """L04, and a follower whose disk is lost: writes continue with two in
    sync; the returning follower (truncated, or empty) catches up and
    rejoins the ISR."""
    rng = random.Random(seed)
    cluster.create_topic("events", 1)
    workload = Workload(cluster, "events", 1, seed).start()
    try:
        workload.wait_acked(rng.randrange(30, 200))
        leader = leader_of(cluster, "events")
        follower = rng.choice([n for n in (1, 2, 3) if n != leader])
        cluster.cluster.kill(follower)
        wait_for(lambda: follower not in partition_state(cluster, "events")[2],
                 what=f"broker {follower} to leave the ISR")
        workload.wait_acked(100)
        cluster.cluster.restart(follower, wipe=wipe)
        wait_for_full_isr(cluster, "events")
        workload.wait_acked(50)
    finally:
        workload.stop()
    workload.check()
    wait_for(lambda: replica_view(cluster, follower, "events")["log_end_offset"]
             == replica_view(cluster, leader_of(cluster, "events"), "events")["log_end_offset"],
             what=f"broker {follower} to hold the whole log")


@seeds
def test_a_paused_leader_is_fenced_and_cannot_acknowledge(cluster, seed):
    """L08 (and L06 on one host): the leader stops past its session; a new
    leader takes over; once resumed, the old one cannot acknowledge a write
    sent to it (its epoch is fenced), truncates what it appended alone and
    follows."""
    rng = random.Random(seed)
    cluster.create_topic("events", 1)
    workload = Workload(cluster, "events", 1, seed).start()
    zombie = leader_of(cluster, "events")
    try:
        workload.wait_acked(rng.randrange(30, 200))
        cluster.cluster.kill(zombie, signal.SIGSTOP)
        try:
            wait_for_new_leader(cluster, "events", zombie)
            workload.wait_acked(50)
        finally:
            cluster.cluster.kill(zombie, signal.SIGCONT)
        # Straight to the old leader, before or while it learns of its fate.
        conn = BrokerConnection(cluster.cluster.addresses[zombie], cluster.secret,
                                request_timeout=30)
        try:
            batch = encode_batch([SimpleRecord(None, b"sent-to-the-zombie")])
            try:
                reply, _ = conn.request("produce", {"acks": -1, "partitions": [["events", 0]]},
                                        [batch])
                outcome = reply["results"][0]
            except (BrokerUnavailableError, KafkaTimeoutError) as error:
                outcome = {"error": str(error)}
        finally:
            conn.close()
        assert "error" in outcome, f"the fenced leader acknowledged a write: {outcome} (seed {seed})"
        wait_for_full_isr(cluster, "events")
        workload.wait_acked(50)
    finally:
        workload.stop()
    figures = workload.check()
    final = read_topic(cluster, "events")
    assert b"sent-to-the-zombie" not in {v for records in final.values() for _, _, v in records}
    assert figures["acked"] > 0


@seeds
def test_losing_two_brokers_refuses_writes_and_loses_none(cluster, seed):
    """L05 with two brokers killed at once: acks=all writes are refused
    (NotEnoughReplicasError, or no leader), none is acknowledged, and every
    earlier acknowledged record is still there once they return."""
    rng = random.Random(seed)
    cluster.create_topic("events", 1)
    workload = Workload(cluster, "events", 1, seed, delivery_timeout_ms=4000).start()
    try:
        workload.wait_acked(rng.randrange(30, 200))
        leader = leader_of(cluster, "events")
        victims = [leader, rng.choice([n for n in (1, 2, 3) if n != leader])] \
            if rng.random() < 0.5 else [n for n in (1, 2, 3) if n != leader]
        for node in victims:
            cluster.cluster.kill(node)
        survivor = next(n for n in (1, 2, 3) if n not in victims)
        wait_for(lambda: partition_state(cluster, "events")[2] == [survivor],
                 what=f"the ISR to shrink to broker {survivor}")
        before = workload.acked_count()
        time.sleep(1.0)  # let the producer try: it must be refused
        assert workload.acked_count() == before, f"acknowledged with one replica (seed {seed})"
        wait_for(lambda: any("NotEnoughReplicasError" in e or "LeaderNotAvailable" in e
                             or "Timeout" in e for e in workload.failed.values()),
                 what="a refused write")
        for node in victims:
            cluster.cluster.restart(node)
        wait_for_full_isr(cluster, "events")
        workload.wait_acked(50)
    finally:
        workload.stop()
    workload.check()


def test_a_partition_whose_isr_is_down_waits_for_it_rather_than_lose_records(cluster):
    """L07: with unclean election off, a replica that fell out of sync does
    not lead; the partition is unavailable with a named error until an ISR
    member returns, and then nothing is lost."""
    cluster.create_topic("events", 1)
    workload = Workload(cluster, "events", 1, seed=7).start()
    try:
        leader, stale, other = only_a_stale_replica_left(cluster, workload)
        wait_for(lambda: partition_state(cluster, "events")[0] == -1,
                 what="the partition to have no leader")
        with pytest.raises(LeaderNotAvailableError, match="has no leader"):
            cluster.list_offsets([("events", 0, -1)], timeout=2.0)
        # The ISR keeps the last member that held every acknowledged record
        # (the one whose session expired last): only it may lead again.
        isr = partition_state(cluster, "events")[2]
        assert stale not in isr and set(isr) <= {leader, other}
        returning = isr[0]
        cluster.cluster.restart(returning)
        assert wait_for_new_leader(cluster, "events", -1) == returning
        workload.wait_acked(20)
        cluster.cluster.restart(leader if returning == other else other)
    finally:
        workload.stop()
    workload.check()


def test_an_unclean_election_when_the_topic_allows_it_loses_only_what_the_new_leader_lacked(
        cluster):
    """L07's other side: with ``unclean.leader.election.enable`` set on the
    topic, a replica that fell out of sync leads once it is the only one
    alive, as in Kafka: the records acknowledged after it left the ISR are
    lost, nothing else is; the returning brokers truncate their divergent
    tails to its log and follow it, and nothing is ever stored twice."""
    cluster.create_topic("events", 1, config={"unclean.leader.election.enable": True})
    workload = Workload(cluster, "events", 1, seed=11).start()
    try:
        leader, stale, other = only_a_stale_replica_left(cluster, workload)
        # Until the others' sessions expire, the metadata may still name one.
        wait_for(lambda: partition_state(cluster, "events")[::2] == (stale, [stale]),
                 timeout=60, what=f"broker {stale} to lead alone")
        stale_end = replica_view(cluster, stale, "events")["log_end_offset"]
        with workload._lock:
            before = dict(workload.acked)
            reads_before = len(workload.reads)
        cluster.cluster.restart(leader)
        cluster.cluster.restart(other)
        wait_for_full_isr(cluster, "events")
        workload.wait_acked(50)
    finally:
        workload.stop()
    lost = {v for v, (_, offset) in before.items() if offset >= stale_end}
    assert len(lost) >= 100, f"only {len(lost)} records past broker {stale}'s log end {stale_end}"
    final = read_topic(cluster, "events")
    stored = {value for records in final.values() for _, _, value in records}
    assert not lost & stored, "a record past the unclean leader's log end came back"
    # Everything else is held to the usual promise: the lost records are
    # taken out of the history (acknowledged, and read before the election).
    with workload._lock:
        for value in lost:
            del workload.acked[value]
        workload.reads[:reads_before] = [r for r in workload.reads[:reads_before]
                                         if r[2] not in lost]
    workload.check(final)
    wait_for_replicas_to_agree(cluster, "events")


@seeds
def test_a_power_loss_on_one_broker_loses_no_acknowledged_record(start_cluster, tmp_path, seed):
    """L16 at RF 3: the leader dies and its files lose everything not
    fsynced (with garbage after the cut); it recovers, truncates to the new
    leader and rejoins; nothing acknowledged is lost."""
    rng = random.Random(seed)
    journal = str(tmp_path / "fsync.journal")
    cluster = start_cluster(env={"EMBER_TRACK_FSYNC": journal})
    cluster.create_topic("events", 1)
    workload = Workload(cluster, "events", 1, seed).start()
    try:
        workload.wait_acked(rng.randrange(50, 300))
        victim = leader_of(cluster, "events")
        cluster.cluster.kill(victim)
        durability.simulate_power_loss(journal, garbage=b"\xff" * rng.randrange(1, 300),
                                       under=cluster.cluster.broker_directory(victim))
        workload.wait_acked(50)
        cluster.cluster.restart(victim)
        wait_for_full_isr(cluster, "events")
        workload.wait_acked(50)
    finally:
        workload.stop()
    workload.check()


def test_a_record_the_leader_alone_held_is_never_read_and_goes_with_it(start_cluster):
    """L24: the leader appends records its followers never get (their
    fetches stall), dies; no reader ever saw them, the new leader does not
    have them, and the old leader truncates them when it returns."""
    store = start_cluster(env={"EMBER_BROKER_FAULTS": "replica_fetch.stall@*"},
                          broker_args=["--replica-lag-time-max-ms", "600000"])
    store.create_topic("events", 1)
    old = leader_of(store, "events")
    workload = Workload(store, "events", 1, seed=24, acks=1, enable_idempotence=False)
    workload.start()
    try:
        workload.wait_acked(20)
        assert replica_view(store, old, "events")["high_watermark"] == 0
        store.cluster.kill(old)
        wait_for_new_leader(store, "events", old)
        store.cluster.restart(old)
        wait_for(lambda: replica_view(store, old, "events")["log_end_offset"] == 0,
                 what=f"broker {old} to truncate what it alone held")
    finally:
        workload.stop()
    assert workload.reads == []
    figures = workload.check(durable_acks=False)
    assert figures["acked"] >= 20 and figures["stored"] == 0


def test_an_idempotent_batch_acknowledged_by_a_new_leader_is_stored_once(start_cluster):
    """L17 across a failover: the leader replicates a batch and dies before
    answering; the producer sends it again to the new leader, which knows it
    from the replicated producer state and answers with its first offsets."""
    store = start_cluster(env={"EMBER_BROKER_FAULTS": "produce.die_before_reply@30"})
    store.create_topic("events", 1)
    first = leader_of(store, "events")
    with store.producer(request_timeout_ms=10_000) as producer:
        acked = [producer.send("events", f"one-{i}".encode()).get(60) for i in range(45)]
    assert store.cluster.pid(first) is None, "the leader was to die before its 30th reply"
    assert [m.offset for m in acked] == list(range(45))
    values = [v for _, _, v in read_topic(store, "events")[0]]
    assert values == [f"one-{i}".encode() for i in range(45)]


def test_writes_refused_below_min_insync_are_named_and_nothing_is_acknowledged(cluster):
    """L05 as the producer sees it: NotEnoughReplicasError after its retries."""
    cluster.create_topic("events", 1)
    leader = leader_of(cluster, "events")
    for node in (1, 2, 3):
        if node != leader:
            cluster.cluster.kill(node)
    wait_for(lambda: partition_state(cluster, "events")[2] == [leader], what="the ISR to shrink")
    with cluster.producer(delivery_timeout_ms=2000) as producer:
        with pytest.raises(NotEnoughReplicasError, match="fewer than min.insync.replicas=2"):
            producer.send("events", b"refused").get(30)
    assert read_topic(cluster, "events") == {0: []}
