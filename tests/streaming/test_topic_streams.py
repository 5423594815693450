"""Topic streams over a real log store broker, on a manual clock: records
produced while the stream runs, offset ranges, consumer-group offsets,
PySpark 2's createDirectStream, failures (T6, T8), and checkpoint and
restore, each against a plain-Python oracle."""

from __future__ import annotations

import operator
import os
import shutil
import threading
from collections import Counter

import pytest

from ember.engine.errors import CorruptCheckpointError, ForeignCheckpointError
from ember.ingest.structs import OffsetRange, TopicPartition
from ember.streaming import StreamingContext
from ember.streaming.checkpoint import CheckpointDir, read_checkpoint
from streaming_helpers import ManualStream, produce

WORDS = ["apple", "pear", "fig", "kiwi", "plum"]


def batch_values(batch_index: int, partitions: int, per_partition: int) -> dict[int, list[str]]:
    return {p: [WORDS[(batch_index * 7 + p * 3 + i) % len(WORDS)] for i in range(per_partition)]
            for p in range(partitions)}


@pytest.fixture(scope="module", autouse=True)
def checkpoint_dir(sc, tmp_path_factory):
    sc.setCheckpointDir(str(tmp_path_factory.mktemp("rdd-checkpoints")))


def test_topic_stream_reads_the_records_produced_while_it_runs(stream, store):
    store.create_topic("words", partitions=3)
    produce(store, "words", {0: ["before"]})  # before the stream: not read ("latest")
    manual = stream()
    words = manual.ssc.topicStream(store, ["words"])
    ranges, values = [], manual.collect(words.map(lambda kv: kv[1]))
    words.foreachRDD(lambda rdd: ranges.append(rdd.offsetRanges()))
    manual.ssc.start()
    produced = []
    for i in range(4):
        batch = batch_values(i, 3, i + 1)
        produce(store, "words", batch)
        produced.append(sorted(v for vs in batch.values() for v in vs))
        manual.run(1)
    assert [sorted(v) for v in values] == produced
    for partition in range(3):
        ends = [r for batch in ranges for r in batch if r.partition == partition]
        assert ends[0].fromOffset == (1 if partition == 0 else 0)
        assert all(a.untilOffset == b.fromOffset for a, b in zip(ends, ends[1:]))
        assert [r.count() for r in ends] == [1, 2, 3, 4]


def test_partitions_added_while_the_stream_runs_are_read_from_their_start(stream, store):
    """As Spark's direct stream: a partition added to the topic joins at the
    next batch, from its earliest offset, so records written to it before
    that batch are read too, exactly once."""
    store.create_topic("growing", partitions=1)
    manual = stream()
    words = manual.ssc.topicStream(store, ["growing"])
    ranges, values = [], manual.collect(words.map(lambda kv: kv[1]))
    words.foreachRDD(lambda rdd: ranges.append(rdd.offsetRanges()))
    manual.ssc.start()
    produce(store, "growing", {0: ["a", "b"]})
    manual.run(1)
    store.create_partitions("growing", 3)
    produce(store, "growing", {0: ["c"], 1: ["d", "e"], 2: ["f"]})
    manual.run(1)
    produce(store, "growing", {2: ["g"]})
    manual.run(1)
    assert [sorted(v) for v in values] == [["a", "b"], ["c", "d", "e", "f"], ["g"]]
    assert [sorted((r.partition, r.fromOffset, r.untilOffset) for r in batch)
            for batch in ranges] == [[(0, 0, 2)],
                                     [(0, 2, 3), (1, 0, 2), (2, 0, 1)],
                                     [(0, 3, 3), (1, 2, 2), (2, 1, 2)]]


def test_stateful_windowed_word_count_over_a_topic(stream, store):
    store.create_topic("fruit", partitions=2)
    manual = stream()
    pairs = manual.ssc.topicStream(store, ["fruit"], start="earliest").map(lambda kv: (kv[1], 1))
    windowed = manual.collect(pairs.reduceByKeyAndWindow(operator.add, operator.sub, 3, 1,
                                                         filterFunc=lambda kv: kv[1] > 0))
    totals = manual.collect(pairs.updateStateByKey(lambda vs, s: sum(vs) + (s or 0)))
    manual.ssc.start()
    batches = []
    for i in range(6):
        batch = batch_values(i, 2, 3) if i != 3 else {}
        produce(store, "fruit", batch)
        batches.append([v for vs in batch.values() for v in vs])
        manual.run(1)
    for i in range(6):
        window = Counter(v for b in batches[max(0, i - 2):i + 1] for v in b)
        assert sorted(windowed[i]) == sorted(window.items())
        assert sorted(totals[i]) == sorted(Counter(v for b in batches[:i + 1] for v in b).items())


def test_group_offsets_are_committed_after_each_batch_and_resume_a_new_stream(stream, store):
    store.create_topic("events", partitions=2)
    produce(store, "events", batch_values(0, 2, 4))
    manual = stream()
    manual.collect(manual.ssc.topicStream(store, ["events"], start="earliest", group_id="audit"))
    manual.run(1)
    consumer = store.consumer(group_id="audit", enable_auto_commit=False)
    assert [consumer.committed(TopicPartition("events", p)) for p in range(2)] == [4, 4]
    manual.stop()
    produce(store, "events", batch_values(1, 2, 2))
    again = stream()
    values = again.collect(again.ssc.topicStream(store, ["events"], start="earliest",
                                                 group_id="audit"))
    again.run(1)
    assert sorted(v for _, v in values[0]) == sorted(
        v for vs in batch_values(1, 2, 2).values() for v in vs)
    assert [consumer.committed(TopicPartition("events", p)) for p in range(2)] == [6, 6]
    consumer.close()


def test_create_direct_stream_takes_pyspark_2_arguments(stream, store):
    from ember.streaming.kafka import KafkaUtils, TopicAndPartition

    store.create_topic("clicks", partitions=2)
    produce(store, "clicks", {0: ["a", "b", "c"], 1: ["d"]})
    manual = stream()
    params = {"metadata.broker.list": store.address, "ember.secret": store.secret.hex()}
    direct = KafkaUtils.createDirectStream(
        manual.ssc, ["clicks"], params, fromOffsets={TopicAndPartition("clicks", 0): 1,
                                                    TopicAndPartition("clicks", 1): 0},
        messageHandler=lambda m: (m.partition, m.offset, m.message))
    ranges = []
    values = manual.collect(direct.transform(lambda rdd: (ranges.append(rdd.offsetRanges()), rdd)[1]))
    manual.run(1)
    assert sorted(values[0]) == [(0, 1, "b"), (0, 2, "c"), (1, 0, "d")]
    assert sorted(ranges[0]) == [OffsetRange("clicks", 0, 1, 3), OffsetRange("clicks", 1, 0, 1)]
    with pytest.raises(ValueError, match="auto.offset.reset"):
        KafkaUtils.createDirectStream(manual.ssc, ["clicks"],
                                      {**params, "auto.offset.reset": "middle"})


def test_a_poison_record_stops_the_stream_naming_batch_time_stage_and_partition(stream, store):
    """T8: a user function raising on one record."""
    store.create_topic("poison", partitions=2)
    manual = stream()

    def parse(kv):
        if kv[1] == "poison":
            raise ValueError(f"cannot parse {kv[1]!r}")
        return kv[1]

    done = manual.collect(manual.ssc.topicStream(store, ["poison"], start="earliest").map(parse))
    produce(store, "poison", {0: ["ok"], 1: ["fine"]})
    manual.run(1)
    produce(store, "poison", {1: ["poison"]})
    manual.ssc.start()
    manual.clock.advance(1)
    with pytest.raises(ValueError, match="cannot parse 'poison'") as raised:
        manual.ssc.awaitTermination(60)
    notes = "\n".join(getattr(raised.value, "__notes__", []))
    failed_time = manual.ssc._graph.zero + 2000
    assert f"streaming batch of time {failed_time}" in notes
    assert "partition 1 in stage" in notes
    assert done == [["ok", "fine"]] or sorted(done[0]) == ["fine", "ok"]
    manual.clock.advance(3)  # the stream stopped: no more batches run
    assert manual.completed_count() == 1
    with pytest.raises(ValueError):
        manual.ssc.awaitTerminationOrTimeout(1)


def test_a_slow_batch_delays_the_next_ones_none_skipped_none_overlapped(stream, store):
    """T6: a batch taking three intervals; the later ones queue."""
    store.create_topic("slow", partitions=2)
    manual = stream()
    release, running = threading.Event(), threading.Event()
    pairs = manual.ssc.topicStream(store, ["slow"], start="earliest").map(lambda kv: (kv[1], 1))
    counts = manual.collect(pairs.reduceByKeyAndWindow(operator.add, operator.sub, 2, 1,
                                                       filterFunc=lambda kv: kv[1] > 0))
    intervals = []

    def hold(time, rdd):
        intervals.append(("start", time))
        if len(intervals) == 3:  # the second batch
            running.set()
            assert release.wait(60)
        intervals.append(("end", time))

    pairs.foreachRDD(hold)
    batches = [batch_values(i, 2, 2) for i in range(5)]
    produce(store, "slow", batches[0])
    manual.run(1)
    produce(store, "slow", batches[1])
    manual.clock.advance(1)
    assert running.wait(60)
    for batch in batches[2:]:  # three more intervals pass while batch 2 runs
        produce(store, "slow", batch)
        submitted = len(manual.batches.submitted)
        manual.clock.advance(1)
        manual.wait(lambda: len(manual.batches.submitted) > submitted)
    assert manual.completed_count() == 1
    release.set()
    manual.wait(lambda: manual.completed_count() == 5)
    flat = [(kind, t) for kind, t in intervals]
    assert [kind for kind, _ in flat] == ["start", "end"] * 5  # never overlapped
    assert len({t for _, t in flat}) == 5  # none skipped
    delays = [info.schedulingDelay() for info in manual.batches.infos]
    assert delays[2] >= 2000 and delays[3] >= 1000 and delays[0] == 0
    values = [[v for vs in b.values() for v in vs] for b in batches]
    for i in range(5):
        window = Counter(v for b in values[max(0, i - 1):i + 1] for v in b)
        assert sorted(counts[i]) == sorted(window.items())


def checkpointed_app(sc, clock, store, directory, output):
    """The stateful windowed count of the restore tests."""
    def setup():
        ssc = StreamingContext(sc, 1, clock=clock)
        pairs = ssc.topicStream(store, ["restore"], start="earliest").map(lambda kv: (kv[1], 1))
        windowed = pairs.reduceByKeyAndWindow(operator.add, operator.sub, 5, 1,
                                              filterFunc=lambda kv: kv[1] > 0).checkpoint(2)
        totals = pairs.updateStateByKey(lambda vs, s: sum(vs) + (s or 0)).checkpoint(2)
        windowed.map(lambda kv: f"w {kv[0]} {kv[1]}").union(
            totals.map(lambda kv: f"t {kv[0]} {kv[1]}")).saveAsTextFiles(output)
        return ssc

    return setup


def read_outputs(prefix_dir):
    found = {}
    for name in sorted(os.listdir(prefix_dir)):
        path = os.path.join(prefix_dir, name)
        assert os.path.exists(os.path.join(path, "_SUCCESS")), name
        found[int(name.rsplit("-", 1)[1])] = sorted(
            line for part in os.listdir(path) if part.startswith("part-")
            for line in open(os.path.join(path, part)).read().splitlines())
    return found


def expected_outputs(batches):
    out = []
    for i in range(len(batches)):
        window = Counter(v for b in batches[max(0, i - 4):i + 1] for v in b)
        total = Counter(v for b in batches[:i + 1] for v in b)
        out.append(sorted([f"w {k} {n}" for k, n in window.items()]
                          + [f"t {k} {n}" for k, n in total.items()]))
    return out


def test_checkpoint_and_restore_resumes_state_and_windows(sc, store, tmp_path):
    from ember.engine.clock import ManualClock

    store.create_topic("restore", partitions=2)
    directory, out_dir = str(tmp_path / "ckpt"), tmp_path / "out"
    out_dir.mkdir()
    clock = ManualClock(1_700_000_000.0)
    setup = checkpointed_app(sc, clock, store, directory, str(out_dir / "counts"))
    ssc = StreamingContext.getOrCreate(directory, setup, clock=clock)
    first = ManualStream(sc, 1, ssc=ssc, clock=clock)
    batches = [[v for vs in batch_values(i, 2, 3).values() for v in vs] for i in range(9)]
    for i in range(5):
        produce(store, "restore", batch_values(i, 2, 3))
        first.run(1)
    first.stop()  # the Context stays: the next getOrCreate uses it
    assert len(CheckpointDir(directory).files()) == 2

    never = []
    again = StreamingContext.getOrCreate(directory, lambda: never.append(1), clock=clock)
    assert not never and again.sparkContext is sc
    second = ManualStream(sc, 1, ssc=again, clock=clock)
    for i in range(5, 9):
        produce(store, "restore", batch_values(i, 2, 3))
        second.run(1)
    second.stop()
    outputs = read_outputs(out_dir)
    assert list(outputs.values()) == expected_outputs(batches)


def test_a_torn_newest_checkpoint_falls_back_to_the_one_before(sc, store, tmp_path):
    """T7, torn: the newest file is cut short; the previous one is used."""
    from ember.engine.clock import ManualClock

    store.create_topic("restore", partitions=2)
    directory, out_dir = str(tmp_path / "ckpt"), tmp_path / "out"
    out_dir.mkdir()
    clock = ManualClock(1_700_000_000.0)
    ssc = StreamingContext.getOrCreate(
        directory, checkpointed_app(sc, clock, store, directory, str(out_dir / "counts")),
        clock=clock)
    first = ManualStream(sc, 1, ssc=ssc, clock=clock)
    batches = [[v for vs in batch_values(i, 2, 3).values() for v in vs] for i in range(7)]
    for i in range(4):
        produce(store, "restore", batch_values(i, 2, 3))
        first.run(1)
    first.ssc._scheduler.stop = lambda graceful, timeout: None  # no final checkpoint: a crash
    first.ssc._scheduler._gen_stop.set()
    first.ssc._scheduler._halt.set()
    first.stop()
    (older_time, older), (newest_time, newest) = CheckpointDir(directory).files()
    with open(newest, "r+b") as handle:
        handle.truncate(os.path.getsize(newest) // 2)
    with pytest.raises(CorruptCheckpointError, match="corrupt"):
        read_checkpoint(newest)
    shutil.rmtree(out_dir / f"counts-{newest_time}")  # that batch's output never happened
    again = StreamingContext.getOrCreate(directory, lambda: None, clock=clock)
    assert again._recovered.time == older_time
    second = ManualStream(sc, 1, ssc=again, clock=clock)
    second.ssc.start()  # the logged batch 3 runs again, batch 4 is planned again
    second.wait(lambda: second.completed_count() == 2)
    for i in range(4, 7):
        produce(store, "restore", batch_values(i, 2, 3))
        second.run(1)
    second.stop()
    outputs = read_outputs(out_dir)
    assert list(outputs.values()) == expected_outputs(batches)


def test_a_foreign_checkpoint_is_a_named_error(sc, store, tmp_path):
    """T7, foreign: a checkpoint copied from another application's directory,
    and one written by another ember version."""
    from ember.engine.clock import ManualClock

    store.create_topic("restore", partitions=2)
    produce(store, "restore", batch_values(0, 2, 2))
    runs = {}
    for name in ("ours", "theirs"):
        clock = ManualClock(1_700_000_000.0 if name == "ours" else 1_700_000_100.0)
        directory = str(tmp_path / name)
        ssc = StreamingContext.getOrCreate(
            directory, checkpointed_app(sc, clock, store, directory, str(tmp_path / f"{name}-out")),
            clock=clock)
        manual = ManualStream(sc, 1, ssc=ssc, clock=clock)
        manual.run(1)
        manual.stop()
        runs[name] = directory
    _, theirs = CheckpointDir(runs["theirs"]).files()[-1]
    shutil.copy(theirs, runs["ours"])
    with pytest.raises(ForeignCheckpointError, match="belongs to application"):
        StreamingContext.getOrCreate(runs["ours"], lambda: None)
    os.unlink(os.path.join(runs["ours"], os.path.basename(theirs)))
    _, ours = CheckpointDir(runs["ours"]).files()[-1]
    data = open(ours, "rb").read().replace(b'"ember": "', b'"ember": "0', 1)
    from ember.streaming.checkpoint import decode, encode

    with pytest.raises(CorruptCheckpointError):  # a changed byte: the checksum catches it
        decode(data, ours)
    checkpoint = read_checkpoint(ours)
    checkpoint.ember_version = "0.0.1"
    with open(ours, "wb") as handle:
        handle.write(encode(checkpoint))
    with pytest.raises(ForeignCheckpointError, match="ember '0.0.1'"):
        StreamingContext.getOrCreate(runs["ours"], lambda: None)
    fresh = StreamingContext(sc, 1)
    fresh.checkpoint(runs["theirs"])
    fresh.queueStream([[1]]).count()
    fresh.topicStream(store, ["restore"]).foreachRDD(lambda rdd: None)
    with pytest.raises(ForeignCheckpointError, match="holds the checkpoints of application"):
        CheckpointDir(runs["theirs"]).claim(fresh._app_id, "another")
    fresh.stop(stopSparkContext=False)
