"""The PySpark modules programs import besides the RDD itself behave as
PySpark's: ``ember.serializers`` writes PySpark's byte streams,
``ember.shuffle`` spills at PySpark's limits, ``ember.util`` and
``ember.rddsampler`` draw and wrap as PySpark does (samples with a seed are
PySpark's own elements), and ``SparkContext(serializer=...)`` takes them."""

from __future__ import annotations

import io
import marshal
import pickle
import random
import struct
import threading
import zlib

import pytest

import ember
from ember import shuffle
from ember.rddsampler import RDDRangeSampler, RDDSampler, RDDStratifiedSampler
from ember.serializers import (
    AutoBatchedSerializer,
    AutoSerializer,
    BatchedSerializer,
    CartesianDeserializer,
    ChunkedStream,
    CloudPickleSerializer,
    CompressedSerializer,
    CPickleSerializer,
    FlattenedValuesSerializer,
    MarshalSerializer,
    NoOpSerializer,
    PairDeserializer,
    PickleSerializer,
    SpecialLengths,
    UTF8Deserializer,
    read_int,
    write_int,
)
from ember.shuffle import (
    Aggregator,
    ExternalGroupBy,
    ExternalList,
    ExternalMerger,
    ExternalSorter,
    GroupByKey,
    Merger,
    SimpleAggregator,
    get_used_memory,
)
from ember.util import InheritableThread, fail_on_stopiteration, inheritable_thread_target, keyword_only


def frames(data: bytes) -> list[bytes]:
    """The frames of a framed stream: 32-bit big-endian length, then bytes."""
    stream, found = io.BytesIO(data), []
    while True:
        head = stream.read(4)
        if not head:
            return found
        (length,) = struct.unpack("!i", head)
        if length < 0:
            found.append(length)
            continue
        found.append(stream.read(length))


# --- serializers ------------------------------------------------------------------------


def test_batched_pickle_streams_are_length_framed_pickled_lists():
    out = io.BytesIO()
    BatchedSerializer(PickleSerializer(), 2).dump_stream(iter(range(5)), out)
    assert [pickle.loads(f) for f in frames(out.getvalue())] == [[0, 1], [2, 3], [4]]
    out.seek(0)
    assert list(BatchedSerializer(PickleSerializer(), 2).load_stream(out)) == [0, 1, 2, 3, 4]
    unlimited = io.BytesIO()
    BatchedSerializer(PickleSerializer()).dump_stream(range(5), unlimited)
    assert [pickle.loads(f) for f in frames(unlimited.getvalue())] == [[0, 1, 2, 3, 4]]


def test_auto_batches_double_while_frames_stay_small():
    out = io.BytesIO()
    AutoBatchedSerializer(PickleSerializer()).dump_stream(range(100), out)
    sizes = [len(pickle.loads(f)) for f in frames(out.getvalue())]
    assert sizes == [1, 2, 4, 8, 16, 32, 37]
    out.seek(0)
    assert list(AutoBatchedSerializer(PickleSerializer()).load_stream(out)) == list(range(100))


def test_framed_serializers_round_trip_and_mark_null_and_end():
    for serializer in (PickleSerializer(), CloudPickleSerializer(), MarshalSerializer(),
                       AutoSerializer(), CompressedSerializer(PickleSerializer())):
        value = {"k": [1, 2.5, "x"]}
        assert serializer.loads(serializer.dumps(value)) == value
    compressed = CompressedSerializer(MarshalSerializer()).dumps([1, 2])
    assert marshal.loads(zlib.decompress(compressed)) == [1, 2]
    assert AutoSerializer().dumps([1])[:1] == b"M" and AutoSerializer().dumps(object)[:1] == b"P"
    with pytest.raises(ValueError):
        MarshalSerializer().dumps(object())
    stream = io.BytesIO()
    write_int(SpecialLengths.NULL, stream)
    PickleSerializer().dump_stream([7], stream)
    write_int(SpecialLengths.END_OF_DATA_SECTION, stream)
    PickleSerializer().dump_stream([8], stream)  # after the end: not read
    stream.seek(0)
    assert list(PickleSerializer().load_stream(stream)) == [None, 7]
    assert NoOpSerializer().loads(NoOpSerializer().dumps(b"raw")) == b"raw"
    with pytest.raises(TypeError, match="FramedSerializer"):
        CompressedSerializer(BatchedSerializer(PickleSerializer()))


def test_pair_and_cartesian_deserializers_read_alternating_batches():
    stream = io.BytesIO()
    keys, values = BatchedSerializer(PickleSerializer(), 2), BatchedSerializer(PickleSerializer(), 2)
    for key_batch, value_batch in (([1, 2], ["a", "b"]), ([3], ["c"])):
        keys.dump_stream(key_batch, stream)
        values.dump_stream(value_batch, stream)
    stream.seek(0)
    assert list(PairDeserializer(keys, values).load_stream(stream)) == [(1, "a"), (2, "b"), (3, "c")]
    stream.seek(0)
    assert list(CartesianDeserializer(keys, values).load_stream(stream)) == [
        (1, "a"), (1, "b"), (2, "a"), (2, "b"), (3, "c")]
    bad = io.BytesIO()
    keys.dump_stream([1, 2], bad)
    values.dump_stream(["a"], bad)
    bad.seek(0)
    with pytest.raises(ValueError, match="different number of items"):
        list(PairDeserializer(keys, values).load_stream(bad))
    assert repr(PairDeserializer(keys, values)) == (
        "PairDeserializer(BatchedSerializer(PickleSerializer(), 2), "
        "BatchedSerializer(PickleSerializer(), 2))")


def test_flattened_values_cut_big_groups():
    out = io.BytesIO()
    FlattenedValuesSerializer(PickleSerializer(), 2).dump_stream([("k", [1, 2, 3]), ("j", [4])], out)
    assert [pickle.loads(f) for f in frames(out.getvalue())] == [("k", [1, 2]), ("k", [3]), ("j", [4])]


def test_utf8_deserializer_and_chunked_stream():
    stream = io.BytesIO()
    for text in ("héllo", None, "x"):
        if text is None:
            write_int(SpecialLengths.NULL, stream)
        else:
            data = text.encode("utf-8")
            write_int(len(data), stream)
            stream.write(data)
    stream.seek(0)
    assert list(UTF8Deserializer().load_stream(stream)) == ["héllo", None, "x"]
    stream.seek(0)
    assert list(UTF8Deserializer(False).load_stream(stream))[0] == "héllo".encode("utf-8")

    class Sink(io.BytesIO):
        def close(self):
            self.kept = self.getvalue()
            super().close()

    sink = Sink()
    chunked = ChunkedStream(sink, 4)
    chunked.write(b"abcdefghij")
    chunked.close()
    assert frames(sink.kept) == [b"abcd", b"efgh", b"ij", -1]
    assert chunked.closed


def test_cloudpickle_serializer_can_refuse_unlisted_globals():
    restricted = CloudPickleSerializer(allowed_names={("builtins", "set")})
    assert restricted.loads(restricted.dumps({1, 2})) == {1, 2}
    with pytest.raises(pickle.UnpicklingError, match="collections.OrderedDict"):
        import collections

        restricted.loads(restricted.dumps(collections.OrderedDict(a=1)))
    assert CPickleSerializer is CloudPickleSerializer


def test_a_context_takes_a_serializer_and_batch_size_and_reserializes_as_pyspark(tmp_path):
    with ember.SparkContext("local[1]", "serializers", serializer=MarshalSerializer(),
                            batchSize=10) as sc:
        assert repr(sc.serializer) == "BatchedSerializer(MarshalSerializer(), 10)"
        rdd = sc.parallelize(range(100), 4)
        assert rdd._jrdd_deserializer == BatchedSerializer(MarshalSerializer(), 10)
        assert rdd.map(lambda x: x * 2).sum() == 9900  # records move as before
        copy = rdd._reserialize(PickleSerializer())
        assert copy is not rdd and copy._jrdd_deserializer == PickleSerializer()
        assert copy.collect() == list(range(100))
        assert copy._reserialize(PickleSerializer()) is copy
    with ember.SparkContext("local[1]", "default-serializer") as sc:
        assert repr(sc.serializer) == "AutoBatchedSerializer(CloudPickleSerializer())"
        assert repr(sc.parallelize([1, 2, 3, 4], 2)._jrdd_deserializer) == \
            "BatchedSerializer(CloudPickleSerializer(), 2)"
        assert repr(sc.textFile(__file__)._jrdd_deserializer) == "UTF8Deserializer(True)"
        assert sc.profiler_collector is None


# --- shuffle ------------------------------------------------------------------------------


def lists() -> Aggregator:
    return Aggregator(lambda v: [v], lambda c, v: c.append(v) or c, lambda a, b: a.extend(b) or a)


DATA = [(i, i) for i in range(1 << 12)]


def test_external_merger_spills_once_memory_in_use_reaches_its_limit():
    roomy = ExternalMerger(lists(), memory_limit=get_used_memory() + 1000)
    roomy.mergeValues(DATA)
    assert roomy.spills == 0 and sum(sum(v) for _, v in roomy.items()) == sum(range(1 << 12))

    before = shuffle.DiskBytesSpilled
    tight = ExternalMerger(lists(), memory_limit=1, partitions=3, batch=500)
    tight.mergeCombiners((k, [v]) for k, v in DATA * 3)
    assert tight.spills >= 1, "the process already uses more than 1 MiB"
    assert shuffle.DiskBytesSpilled > before, "ember.shuffle.DiskBytesSpilled is the live count"
    merged = dict(tight.items())
    assert merged == {k: [v, v, v] for k, v in DATA}, "every value once per copy, in input order"
    tight._cleanup()

    summing = ExternalMerger(SimpleAggregator(lambda a, b: a + b), memory_limit=1)
    summing.mergeValues(DATA)
    assert summing.spills >= 1 and sum(v for _, v in summing.items()) == sum(range(1 << 12))


def test_external_group_by_and_merger_contract():
    grouped = ExternalGroupBy(lists(), memory_limit=1, partitions=3)
    grouped.mergeValues([(k % 2, k) for k in range(5000)])
    assert grouped.spills >= 1
    assert {k: sorted(v) for k, v in grouped.items()} == {0: list(range(0, 5000, 2)),
                                                          1: list(range(1, 5000, 2))}

    class Unfinished(Merger):
        pass

    merger = Unfinished(SimpleAggregator(lambda a, b: a + b))
    for method in (merger.mergeValues, merger.mergeCombiners):
        with pytest.raises(NotImplementedError):
            method([])
    with pytest.raises(NotImplementedError):
        merger.items()


def test_a_stray_stop_iteration_in_an_aggregator_fails_instead_of_dropping_data():
    def stop(*args):
        raise StopIteration

    for aggregator, feed in (
            (Aggregator(stop, lambda c, v: c, lambda a, b: a), "mergeValues"),
            (Aggregator(lambda v: [v], stop, lambda a, b: a), "mergeValues"),
            (Aggregator(lambda v: [v], lambda c, v: c, stop), "mergeCombiners")):
        merger = ExternalMerger(aggregator, 20)
        with pytest.raises(RuntimeError, match="StopIteration"):
            getattr(merger, feed)([(x % 2, [x]) for x in range(100)])
    with pytest.raises(RuntimeError, match="Caught StopIteration"):
        fail_on_stopiteration(lambda: next(iter([])))()


def test_external_sorter_sorts_in_memory_or_through_spilled_runs():
    values = list(range(1024))
    random.Random(5).shuffle(values)
    assert list(ExternalSorter(1024).sorted(values)) == sorted(values)

    class SpillsAtItsLimit(ExternalSorter):
        def _next_limit(self):
            return self.memory_limit

    sorter = SpillsAtItsLimit(1)
    for key, reverse in ((None, False), (None, True), (lambda x: -x, False), (lambda x: -x, True)):
        before = shuffle.DiskBytesSpilled
        assert list(sorter.sorted(values, key=key, reverse=reverse)) == \
            sorted(values, key=key, reverse=reverse)
        assert shuffle.DiskBytesSpilled > before


def test_external_lists_spill_keep_order_and_pickle_whole():
    values = ExternalList(list(range(100)))
    for i in range(20240):
        values.append(i)
    assert len(values) == 20340 and values._file is not None
    copy = pickle.loads(pickle.dumps(values))
    assert len(copy) == 20340 and list(copy) == list(values) == list(range(100)) + list(range(20240))

    def pairs(n):
        for i in range(1, n + 1):
            for j in range(i):
                yield i, [j]

    groups = list(GroupByKey(pairs(100)))
    assert [k for k, _ in groups] == list(range(1, 101))
    assert all(list(v) == list(range(k)) and len(v) == k for k, v in groups)


# --- util, samplers, threads ------------------------------------------------------------


def test_keyword_only_methods_and_their_inputs():
    class Estimator:
        @keyword_only
        def setParams(self, maxIter=10, reg=0.0):
            return self._input_kwargs

    assert Estimator().setParams(maxIter=5) == {"maxIter": 5}
    with pytest.raises(TypeError, match="forces keyword arguments"):
        Estimator().setParams(5)


def oracle_sample(items, slices, seed, keep):
    """PySpark's sampling in plain Python: each partition draws from
    Random(seed ^ index), stirred by ten throw-away draws."""
    out = []
    for index, part in enumerate(slices(items)):
        generator = random.Random(seed ^ index)
        for _ in range(10):
            generator.randint(0, 1)
        out += [x for x in part if keep(generator)]
    return out


def quarters(items):
    return [items[i * len(items) // 4:(i + 1) * len(items) // 4] for i in range(4)]


def test_samples_with_a_seed_are_pysparks_own_elements(sc):
    rdd = sc.parallelize(range(100), 4)
    sample = rdd.sample(False, 0.1, 81).collect()
    assert sample == oracle_sample(list(range(100)), quarters, 81, lambda g: g.random() < 0.1)
    # what PySpark 4.3 returns for the same call
    assert sample == [4, 26, 39, 41, 42, 52, 63, 76, 80, 86, 97]
    assert rdd.takeSample(False, 5, 1) == [61, 29, 93, 92, 55]
    low, high = rdd.randomSplit([1, 3], seed=7)
    assert low.collect() == oracle_sample(list(range(100)), quarters, 7,
                                          lambda g: 0.0 <= g.random() < 0.25)
    assert sorted(low.collect() + high.collect()) == list(range(100))
    assert list(RDDSampler(False, 0.1, 81).func(0, iter(range(25)))) == [x for x in sample if x < 25]
    assert list(RDDRangeSampler(0.0, 0.25, 7).func(1, iter(range(25, 50)))) == \
        [x for x in low.collect() if 25 <= x < 50]
    pairs = [(i % 3, i) for i in range(60)]
    stratified = sc.parallelize(pairs, 3).sampleByKey(False, {0: 0.5, 1: 0.2, 2: 0.9}, 3).collect()
    expected = []
    for index in range(3):
        sampler = RDDStratifiedSampler(False, {0: 0.5, 1: 0.2, 2: 0.9}, 3)
        expected += list(sampler.func(index, iter(pairs[index * 20:(index + 1) * 20])))
    assert stratified == expected


def test_inheritable_threads_carry_the_job_group(sc):
    sc.setJobGroup("nightly", "reports")
    seen = []
    target = inheritable_thread_target(lambda: seen.append(sc.getLocalProperty("spark.jobGroup.id")))
    thread = InheritableThread(lambda: seen.append(sc.getLocalProperty("spark.jobGroup.id")))
    sc.setLocalProperty("spark.jobGroup.id", "changed before start")
    thread.start()  # properties are taken when the thread starts
    thread.join()
    sc.setLocalProperty("spark.jobGroup.id", None)
    plain = threading.Thread(target=target)  # ... and when the target was wrapped
    plain.start()
    plain.join()
    assert seen == ["changed before start", "nightly"]
