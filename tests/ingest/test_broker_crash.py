"""Acknowledged means durable, across real broker crashes (RELIABILITY.md
L01/L03 single-broker, L09, L10, L15, L16): producers send numbered records
with acks="all" while the broker is SIGKILLed; the log directory is then
damaged as a crash can leave it (nothing more, a torn tail with garbage in
the segment and its index, or every file cut back to its last fsync); a new
broker on the same directory must hold every acknowledged record exactly
once, at the offset its acknowledgement named, in order within its partition."""

from __future__ import annotations

import os
import random
import threading
import time

import pytest

from ember.engine.errors import BrokerUnavailableError, CommitFailedError, KafkaTimeoutError
from ember.ingest.log import durability
from ember.ingest.log.record_batch import SimpleRecord, encode_batch
from ember.ingest.structs import TopicPartition

from broker_helpers import AckHistory, check_history, read_topic

pytestmark = pytest.mark.fault

TOPIC = "events"
RECORDS = 12_000


def produce_until_killed(store, history, producers=2, kill_after=RECORDS, moment=None,
                         round_=0):
    """Producers send unique numbered values until ``kill_after`` are
    acknowledged in all; then (once ``moment()`` is true, if given) the broker
    is SIGKILLed under them."""
    stop = threading.Event()
    clients = [store.producer(linger_ms=2, batch_size=4096, request_timeout_ms=2000)
               for _ in range(producers)]

    def run(index, producer):
        n = 0
        while not stop.is_set():
            value = b"p%d.%d-%07d" % (round_, index, n)
            try:
                history.track(producer.send(TOPIC, value=value, key=b"k%d" % (n % 13)), value)
            except (RuntimeError, KafkaTimeoutError, BrokerUnavailableError):
                return
            n += 1
            if n % 500 == 0:
                time.sleep(0.001)

    threads = [threading.Thread(target=run, args=(i, p)) for i, p in enumerate(clients)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while len(history) < kill_after and time.monotonic() < deadline:
        time.sleep(0.01)
    while moment is not None and not moment() and time.monotonic() < deadline:
        time.sleep(0.001)
    store.kill()  # also closes its producers: what was not acknowledged fails
    stop.set()
    for thread in threads:
        thread.join(10)
    assert len(history) >= kill_after


def check_order(history, contents):
    """Within a partition, each producer's records appear in the order it sent them."""
    for records in contents.values():
        last = {}
        for _, _, value in records:
            producer, number = value.split(b"-")
            assert int(number) > last.get(producer, -1), f"{value!r} out of order"
            last[producer] = int(number)


def unsynced(journal):
    """True while some segment holds bytes written after its last fsync
    (indexes are written inside the flush itself, so they do not count)."""
    def check():
        for path, durable in durability.durable_sizes(journal).items():
            if not path.endswith(".log"):
                continue
            try:
                if os.path.getsize(path) > durable:
                    return True
            except FileNotFoundError:
                pass
        return False
    return check


def tear_tail(log_dir):
    """What a crash mid-write leaves: the active segment of each partition
    ends in half a batch and garbage; its offset index ends in garbage."""
    ghost = encode_batch([SimpleRecord(None, b"ghost-%d" % i) for i in range(50)])
    rng = random.Random(7)
    for name in os.listdir(log_dir):
        directory = os.path.join(log_dir, name)
        if not name.startswith(TOPIC + "-"):
            continue
        last = sorted(n for n in os.listdir(directory) if n.endswith(".log"))[-1]
        with open(os.path.join(directory, last), "ab") as segment:
            segment.write(ghost[:len(ghost) // 2] + rng.randbytes(300))
        with open(os.path.join(directory, last[:-4] + ".index"), "ab") as index:
            index.write(rng.randbytes(37))


@pytest.mark.parametrize("damage", ["sigkill", "torn-tail", "power-loss"])
def test_every_acknowledged_record_survives_a_broker_crash_exactly_once(
        start_broker, log_dir, tmp_path, damage):
    history = AckHistory()
    cut = []
    for round_ in range(4):
        # A power loss must find unsynced bytes to cut; a crash can land just
        # after a flush, so crash again (on the recovered log) until one does.
        journal = str(tmp_path / f"fsync-{round_}.journal")
        env = ({"EMBER_TRACK_FSYNC": journal, "EMBER_BROKER_FAULTS": "flush.slow_disk@*"}
               if damage == "power-loss" else {})
        store = start_broker(env=env)
        if round_ == 0:
            store.create_topic(TOPIC, partitions=4, config={"segment.bytes": 64 * 1024,
                                                            "index.interval.bytes": 1024})
        produce_until_killed(store, history, kill_after=RECORDS * (round_ + 1) // (
            1 if damage != "power-loss" else 2), moment=unsynced(journal) if env else None,
                             round_=round_)
        if damage == "torn-tail":
            tear_tail(log_dir)
        elif damage == "power-loss":
            cut += durability.simulate_power_loss(journal, garbage=b"\xff" * 500)
        if damage != "power-loss" or (cut and len(history) >= RECORDS):
            break
    assert damage != "power-loss" or cut, "no crash found unsynced bytes to cut"
    restarted = start_broker()
    contents = read_topic(restarted, TOPIC)
    check_history(history, contents)
    check_order(history, contents)
    # The restarted broker takes new writes after the recovered data.
    producer = restarted.producer()
    meta = producer.send(TOPIC, value=b"after", partition=0).get(timeout=10)
    assert meta.offset == len(contents[0])


def test_a_clean_stop_writes_the_marker_and_loses_nothing(start_broker, log_dir):
    store = start_broker()
    store.create_topic(TOPIC, partitions=2)
    producer = store.producer(acks=1)  # acknowledged when written: a clean stop still fsyncs it
    futures = [producer.send(TOPIC, value=b"v%d" % i) for i in range(2000)]
    producer.flush()
    assert all(f.succeeded() for f in futures)
    store.stop()
    assert os.path.exists(os.path.join(log_dir, "clean-shutdown"))
    contents = read_topic(start_broker(), TOPIC)
    assert sorted(v for records in contents.values() for _, _, v in records) == \
        sorted(b"v%d" % i for i in range(2000))


def test_committed_offsets_survive_a_crash_between_writing_and_renaming_the_checkpoint(
        start_broker, log_dir):
    store = start_broker(env={"EMBER_BROKER_FAULTS": "offsets.before_rename@3"})
    store.create_topic(TOPIC, partitions=2)
    tps = [TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)]
    consumer = store.consumer(group_id="billing", enable_auto_commit=False,
                              request_timeout_ms=1000)
    consumer.assign(tps)
    consumer.commit({tps[0]: 10, tps[1]: 20})
    consumer.commit({tps[0]: 15, tps[1]: 25})  # acknowledged: durable
    with pytest.raises((KafkaTimeoutError, BrokerUnavailableError, CommitFailedError)):
        consumer.commit({tps[0]: 99, tps[1]: 99})  # the broker dies before the rename
    deadline = time.monotonic() + 10
    while store.alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not store.alive(), "the failpoint should have killed the broker"
    store.kill()
    leftovers = [n for n in os.listdir(log_dir) if n.endswith(".tmp")]
    assert leftovers, "the crash should have left the unrenamed temporary file"
    restarted = start_broker()
    assert not [n for n in os.listdir(log_dir) if n.endswith(".tmp")]
    consumer = restarted.consumer(group_id="billing", enable_auto_commit=False)
    assert [consumer.committed(tp) for tp in tps] == [15, 25]  # the old value, whole


def test_committed_offsets_survive_sigkill_and_never_move_backwards(start_broker):
    store = start_broker()
    store.create_topic(TOPIC, partitions=1)
    tp = TopicPartition(TOPIC, 0)
    consumer = store.consumer(group_id="g", enable_auto_commit=False)
    consumer.assign([tp])
    consumer.commit({tp: 40})
    consumer.commit({tp: 30})  # a lower offset is not stored
    assert consumer.committed(tp) == 40
    store.kill()
    consumer = start_broker().consumer(group_id="g", enable_auto_commit=False)
    assert consumer.committed(tp) == 40
