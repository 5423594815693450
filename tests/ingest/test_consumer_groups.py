"""Consumer groups over real processes (RELIABILITY.md L23): at-least-once
redelivery after a consumer is SIGKILLed before it commits; members of one
group never own the same partition at once through joins, leaves and a
member that stops heartbeating; a stale member's commit is refused;
committed offsets never move backwards."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from ember.engine.errors import CommitFailedError
from ember.ingest.structs import TopicPartition

CHILD = os.path.join(os.path.dirname(__file__), "consumer_child.py")
FAST = {"session_timeout_ms": 1500, "heartbeat_interval_ms": 150, "max_poll_interval_ms": 3000}


def fill(store, topic, partitions, count):
    store.create_topic(topic, partitions=partitions)
    producer = store.producer()
    for i in range(count):
        producer.send(topic, value=b"%06d" % i, partition=i % partitions)
    producer.flush()


@pytest.mark.fault
def test_records_processed_but_not_committed_are_redelivered_after_sigkill(store):
    fill(store, "jobs", 2, 400)
    child = subprocess.Popen([sys.executable, CHILD], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        child.stdin.write(json.dumps({"address": store.address, "secret": store.secret.hex(),
                                      "topic": "jobs", "group": "workers", "batch": 50,
                                      "commits": 3}) + "\n")
        child.stdin.flush()
        batches = []
        for line in child.stdout:
            if line.strip() == "processing":
                break
            batches.append(json.loads(line))
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        child.kill()
        child.wait()
        child.stdin.close()
        child.stdout.close()
    committed_batches, uncommitted = batches[:3], batches[3]
    committed = {}
    for batch in committed_batches:
        for partition, offset in batch:
            committed[partition] = max(committed.get(partition, 0), offset + 1)
    consumer = store.consumer("jobs", group_id="workers", auto_offset_reset="earliest",
                              enable_auto_commit=False, **FAST)
    for partition, offset in committed.items():
        assert consumer.committed(TopicPartition("jobs", partition)) == offset
    redelivered = set()
    deadline = time.monotonic() + 20  # the dead member's session must expire first
    while not set(map(tuple, uncommitted)) <= redelivered and time.monotonic() < deadline:
        for tp, records in consumer.poll(timeout_ms=200).items():
            redelivered.update((r.partition, r.offset) for r in records)
    assert set(map(tuple, uncommitted)) <= redelivered, "processed, uncommitted records lost"
    # Nothing committed is delivered again: the group resumes at its offsets.
    assert all(offset >= committed.get(partition, 0) for partition, offset in redelivered)
    consumer.commit()
    for partition, offset in committed.items():
        assert consumer.committed(TopicPartition("jobs", partition)) >= offset
    consumer.close()


class Ownership:
    """Who owned which partition when, from the consumers' rebalance callbacks."""

    def __init__(self):
        self.events = []
        self.lock = threading.Lock()

    def listener(self, name):
        ownership = self

        class Listener:
            def on_partitions_revoked(self, revoked):
                ownership.note(name, "revoked", revoked)

            def on_partitions_assigned(self, assigned):
                ownership.note(name, "assigned", assigned)

        return Listener()

    def note(self, name, what, partitions):
        with self.lock:
            self.events.append((time.monotonic(), name, what, frozenset(partitions)))

    def intervals(self):
        """{partition: [(start, end, owner)]}."""
        open_, spans = {}, {}
        for when, name, what, partitions in sorted(self.events, key=lambda e: e[0]):
            for tp in partitions:
                if what == "assigned":
                    open_[name, tp] = when
                elif (name, tp) in open_:
                    spans.setdefault(tp, []).append((open_.pop((name, tp)), when, name))
        for (name, tp), start in open_.items():
            spans.setdefault(tp, []).append((start, float("inf"), name))
        return spans


def test_members_of_a_group_never_own_a_partition_at_once(store):
    store.create_topic("work", partitions=6)
    ownership = Ownership()
    consumed, produced = {}, set()
    stop = {name: threading.Event() for name in ("a", "b", "c", "producer")}

    def produce():
        producer = store.producer(linger_ms=1)
        n = 0
        while not stop["producer"].is_set():
            futures = [producer.send("work", value=b"%06d" % (n + i)) for i in range(30)]
            n += 30
            for future in futures:
                meta = future.get(timeout=10)
                produced.add((meta.partition, meta.offset))
            time.sleep(0.01)

    def member(name, silent=False):
        consumer = store.consumer(group_id="crew", auto_offset_reset="earliest",
                                  auto_commit_interval_ms=100, **FAST)
        consumer.subscribe(["work"], listener=ownership.listener(name))
        while not stop[name].is_set():
            for tp, records in consumer.poll(timeout_ms=50).items():
                for r in records:
                    consumed.setdefault((r.partition, r.offset), set()).add(name)
        ownership.note(name, "revoked", consumer.assignment())  # it reads no more
        if silent:  # stops heartbeating too: the group must move on without it
            consumer._membership._stop.set()
            time.sleep(2.5)
        consumer.close(autocommit=not silent, timeout=1)

    threads = {"producer": threading.Thread(target=produce),
               "a": threading.Thread(target=member, args=("a",)),
               "b": threading.Thread(target=member, args=("b",)),
               "c": threading.Thread(target=member, args=("c", True))}
    for name in ("producer", "a", "b"):
        threads[name].start()
    time.sleep(1.0)
    threads["c"].start()  # a member joins
    time.sleep(1.5)
    stop["b"].set()  # a member leaves
    time.sleep(1.5)
    stop["c"].set()  # a member goes silent
    time.sleep(2.5)
    stop["producer"].set()
    threads["producer"].join(20)
    time.sleep(1.0)
    stop["a"].set()
    for thread in threads.values():
        thread.join(20)
    spans = ownership.intervals()
    assert len(spans) == 6
    for tp, owned in spans.items():
        owned.sort()
        for (start, end, owner), (next_start, _, next_owner) in zip(owned, owned[1:]):
            assert end <= next_start, f"{tp}: {owner} and {next_owner} owned it at once"
    assert produced <= set(consumed), "acknowledged records never consumed"
    assert {name for owners in consumed.values() for name in owners} == {"a", "b", "c"}
    assert len({owner for owned in spans.values() for _, _, owner in owned}) == 3


def test_a_stale_members_commit_is_refused(store):
    fill(store, "t", 2, 10)
    first = store.consumer("t", group_id="g", auto_offset_reset="earliest",
                           enable_auto_commit=False, **{**FAST, "max_poll_interval_ms": 500})
    first.poll(timeout_ms=2000)
    assert first.assignment()
    second = store.consumer("t", group_id="g", auto_offset_reset="earliest",
                            enable_auto_commit=False, **{**FAST, "max_poll_interval_ms": 500})
    deadline = time.monotonic() + 10
    while len(second.assignment()) < 2 and time.monotonic() < deadline:
        second.poll(timeout_ms=100)  # the first member never rejoins: it is removed
    assert len(second.assignment()) == 2
    with pytest.raises(CommitFailedError, match="refused"):
        first.commit()
    first.close(autocommit=False)
    second.close()
