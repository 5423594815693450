"""File outputs and inputs beyond text (pickle files, sequence files, the
Hadoop formats with a Python meaning, whole files, binary records) and
checkpoints, on a real local[2] cluster, each compared with plain Python.

The Context's input methods call the functions of ``ember.engine.io.inputs``;
these tests call those functions directly, so they check the engine side on
their own. Likewise ``rdd._do_checkpoint()`` is the hook the Context calls
after every job: the RDD-side checkpoint tests call it themselves, and
``test_the_context_drives_checkpoints`` checks the Context's part."""

from __future__ import annotations

import gzip
import os

import pytest

from ember.engine.io import inputs
from ember.engine.io.checkpoint import new_checkpoint_dir

PAIRS = [(i % 7, {"v": i, "s": str(i)}) for i in range(50)]
TEXT_OUT = "org.apache.hadoop.mapred.TextOutputFormat"
TEXT_IN = "org.apache.hadoop.mapred.TextInputFormat"
NEW_SEQ_OUT = "org.apache.hadoop.mapreduce.lib.output.SequenceFileOutputFormat"
NEW_SEQ_IN = "org.apache.hadoop.mapreduce.lib.input.SequenceFileInputFormat"


@pytest.fixture(scope="module")
def sc():
    import ember

    with ember.Context("local[2]", appName="files-and-checkpoints") as context:
        yield context


@pytest.fixture(scope="module")
def checkpoint_dir(sc, tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("checkpoints"))
    if hasattr(sc, "setCheckpointDir"):
        sc.setCheckpointDir(directory)
    else:  # what setCheckpointDir stores, until the Context offers it
        sc._checkpoint_dir = new_checkpoint_dir(directory)
    return directory


@pytest.mark.parametrize("batch", [0, 1, 3, -1])
def test_pickle_file_round_trip(sc, tmp_path, batch):
    data = [None, 1, "two", (3, 4.5), {"six": [7]}, b"\x00\xff"] * 20
    out = str(tmp_path / "objects")
    sc.parallelize(data, 5).saveAsPickleFile(out, batch)
    assert sorted(os.listdir(out)) == ["_SUCCESS"] + [f"part-{i:05d}" for i in range(5)]
    for partitions in (1, 3, 17):
        rdd = inputs.pickle_file(sc, out, partitions)
        assert rdd.getNumPartitions() >= min(partitions, 5)
        assert Counter_of(rdd.collect()) == Counter_of(data)
    assert inputs.pickle_file(sc, out).collect() == data  # part files in order


def Counter_of(items):
    return sorted(map(repr, items))


def test_pickle_files_of_empty_rdds_and_several_paths(sc, tmp_path):
    empty, small = str(tmp_path / "empty"), str(tmp_path / "small")
    sc.parallelize([], 3).saveAsPickleFile(empty)
    sc.parallelize(range(-10, -5)).saveAsPickleFile(small, 3)
    assert inputs.pickle_file(sc, empty).collect() == []
    assert sorted(inputs.pickle_file(sc, f"{empty},{small}", 5).collect()) == list(range(-10, -5))
    with pytest.raises(FileExistsError, match="already exists"):
        sc.parallelize([1]).saveAsPickleFile(small)
    with pytest.raises(TypeError, match="batchSize must be an int"):
        sc.parallelize([1]).saveAsPickleFile(str(tmp_path / "x"), "10")
    assert sc.parallelize([1, 2]).count() == 2


def test_reading_a_file_of_another_format_names_it(sc, tmp_path):
    path = tmp_path / "plain.txt"
    path.write_text("not pickles\n")
    with pytest.raises(ValueError, match="plain.txt is not a file written by saveAsPickleFile"):
        inputs.pickle_file(sc, str(path)).collect()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        inputs.pickle_file(sc, str(tmp_path / "missing")).collect()
    with pytest.raises(ValueError, match="minPartitions must be positive"):
        inputs.pickle_file(sc, str(path), 0)


def test_a_damaged_pickle_file_fails_loudly(sc, tmp_path):
    out = str(tmp_path / "damaged")
    sc.parallelize(range(100), 1).saveAsPickleFile(out)
    part = os.path.join(out, "part-00000")
    data = bytearray(open(part, "rb").read())
    data[-3] ^= 0xFF
    open(part, "wb").write(bytes(data))
    with pytest.raises(ValueError, match="damaged"):
        inputs.pickle_file(sc, out).collect()


@pytest.mark.parametrize("codec", [None, "org.apache.hadoop.io.compress.GzipCodec",
                                   "org.apache.hadoop.io.compress.BZip2Codec"])
def test_sequence_file_round_trip(sc, tmp_path, codec):
    out = str(tmp_path / "seq")
    sc.parallelize(PAIRS, 3).saveAsSequenceFile(out, codec)
    assert inputs.sequence_file(sc, out).collect() == PAIRS
    assert sorted(inputs.sequence_file(sc, out, minSplits=7).keys().collect()) == sorted(
        k for k, _ in PAIRS)


def test_sequence_files_hold_pairs_only(sc, tmp_path):
    with pytest.raises(TypeError, match=r"\(key, value\) pairs"):
        sc.parallelize([1, 2]).saveAsSequenceFile(str(tmp_path / "bad"))
    with pytest.raises(ValueError, match="unknown compressionCodecClass"):
        sc.parallelize([(1, 2)]).saveAsSequenceFile(str(tmp_path / "bad2"), "Snappy")
    with pytest.raises(NotImplementedError, match="keyConverter"):
        inputs.sequence_file(sc, str(tmp_path), keyConverter="org.example.Converter")


def test_hadoop_text_formats(sc, tmp_path):
    out = str(tmp_path / "text")
    pairs = [(1, ""), (1, "a"), (3, "x"), (None, "only value"), ("only key", None)]
    sc.parallelize(pairs, 2).saveAsHadoopFile(out, TEXT_OUT, "IntWritable", "Text")
    lines = sorted(line for part in sorted(os.listdir(out)) if part.startswith("part")
                   for line in open(os.path.join(out, part)).read().splitlines())
    assert lines == sorted(["1\t", "1\ta", "3\tx", "only value", "only key"])
    loaded = inputs.hadoop_file(sc, out, TEXT_IN, "LongWritable", "Text").collect()
    assert sorted(v for _, v in loaded) == lines
    for part in (p for p in os.listdir(out) if p.startswith("part")):  # keys: byte offsets
        content = open(os.path.join(out, part), "rb").read()
        offsets = [0] + [i + 1 for i, b in enumerate(content[:-1]) if b == ord("\n")]
        assert {o for o, _ in loaded} >= set(offsets)
    keyed = inputs.hadoop_file(sc, out, "org.apache.hadoop.mapred.KeyValueTextInputFormat",
                               "Text", "Text").collect()
    assert sorted(keyed) == sorted([("1", ""), ("1", "a"), ("3", "x"), ("only value", ""),
                                    ("only key", "")])


def test_hadoop_datasets_and_compressed_text(sc, tmp_path):
    out = str(tmp_path / "dataset")
    sc.parallelize([(1, "a"), (2, "b")], 2).saveAsHadoopDataset({
        "mapred.output.format.class": TEXT_OUT,
        "mapreduce.output.fileoutputformat.outputdir": out,
        "mapreduce.output.fileoutputformat.compress": "true",
        "mapreduce.output.fileoutputformat.compress.codec": "org.apache.hadoop.io.compress.GzipCodec",
        "mapreduce.output.textoutputformat.separator": ","})
    assert sorted(p for p in os.listdir(out) if p.startswith("part")) == [
        "part-00000.gz", "part-00001.gz"]
    assert gzip.open(os.path.join(out, "part-00000.gz")).read() == b"1,a\n"
    loaded = inputs.hadoop_rdd(sc, TEXT_IN, "LongWritable", "Text",
                               conf={"mapreduce.input.fileinputformat.inputdir": out})
    assert sorted(loaded.collect()) == [(0, "1,a"), (0, "2,b")]
    seq = str(tmp_path / "newapi")
    sc.parallelize(PAIRS).saveAsNewAPIHadoopDataset({
        "mapreduce.job.outputformat.class": NEW_SEQ_OUT,
        "mapreduce.output.fileoutputformat.outputdir": seq})
    assert inputs.new_api_hadoop_rdd(
        sc, NEW_SEQ_IN, "IntWritable", "MapWritable",
        conf={"mapreduce.input.fileinputformat.inputdir": seq}).collect() == PAIRS
    seq2 = str(tmp_path / "newapi-file")
    sc.parallelize(PAIRS).saveAsNewAPIHadoopFile(seq2, NEW_SEQ_OUT)
    assert inputs.new_api_hadoop_file(sc, seq2, NEW_SEQ_IN, "K", "V").collect() == PAIRS
    assert inputs.sequence_file(sc, seq2).collect() == PAIRS


def test_unsupported_hadoop_formats_name_the_alternative(sc, tmp_path):
    rdd = sc.parallelize([(1, 2)])
    with pytest.raises(NotImplementedError, match="outputFormatClass 'org.example.Parquet'.*saveAsPickleFile"):
        rdd.saveAsHadoopFile(str(tmp_path / "a"), "org.example.Parquet")
    with pytest.raises(NotImplementedError, match="saveAsHadoopFile.*mapreduce"):
        rdd.saveAsHadoopFile(str(tmp_path / "b"), NEW_SEQ_OUT)  # a new-API class in the old API
    with pytest.raises(NotImplementedError, match="inputFormatClass.*sc.textFile"):
        inputs.new_api_hadoop_file(sc, str(tmp_path), "org.example.AvroInputFormat", "K", "V")
    with pytest.raises(NotImplementedError, match="valueConverter"):
        rdd.saveAsNewAPIHadoopFile(str(tmp_path / "c"), NEW_SEQ_OUT, valueConverter="x.Y")
    with pytest.raises(ValueError, match="mapreduce.output.fileoutputformat.outputdir"):
        rdd.saveAsHadoopDataset({"mapred.output.format.class": TEXT_OUT})
    with pytest.raises(ValueError, match="mapreduce.input.fileinputformat.inputdir"):
        inputs.hadoop_rdd(sc, TEXT_IN, "K", "V", conf={})
    assert rdd.count() == 1


def test_whole_files_and_binary_inputs(sc, tmp_path):
    folder = tmp_path / "files"
    folder.mkdir()
    contents = {f"{i}.txt": ("x" * i) + "\nline" for i in range(6)}
    for name, text in contents.items():
        (folder / name).write_text(text)
    (folder / "_ignored").write_text("hidden")
    whole = inputs.whole_text_files(sc, str(folder), 3)
    assert whole.getNumPartitions() <= 6
    assert sorted(whole.collect()) == sorted(("file:" + str(folder / n), t) for n, t in contents.items())
    raw = dict(inputs.whole_text_files(sc, str(folder), use_unicode=False).collect())
    assert raw["file:" + str(folder / "2.txt")] == b"xx\nline"
    binary = dict(inputs.binary_files(sc, str(folder / "*.txt")).collect())
    assert binary == {"file:" + str(folder / n): t.encode() for n, t in contents.items()}

    records = tmp_path / "records"
    records.mkdir()
    (records / "1.bin").write_bytes(b"".join(b"%04d" % i for i in range(3)))
    (records / "2.bin").write_bytes(b"".join(b"%04d" % i for i in [-1, -2, -10]))
    assert sorted(inputs.binary_records(sc, str(records), 4).collect()) == [
        b"-001", b"-002", b"-010", b"0000", b"0001", b"0002"]
    assert inputs.binary_records(sc, str(records / "1.bin"), 2).collect() == [
        b"00", b"00", b"00", b"01", b"00", b"02"]
    with pytest.raises(ValueError, match="1.bin is 12 bytes, not a multiple of recordLength 5"):
        inputs.binary_records(sc, str(records), 5).collect()
    with pytest.raises(ValueError, match="recordLength must be positive"):
        inputs.binary_records(sc, str(records), 0)
    with pytest.raises(ValueError, match="path must be a non-empty string"):
        inputs.whole_text_files(sc, "")


def test_binary_records_split_on_record_boundaries(sc, tmp_path, monkeypatch):
    import ember.engine.io.textfile as textfile

    monkeypatch.setattr(textfile, "BLOCK_SIZE", 10)  # driver-side split size: 10 bytes
    path = tmp_path / "many.bin"
    path.write_bytes(b"".join(bytes([i]) * 3 for i in range(40)))
    rdd = inputs.binary_records(sc, str(path), 3)
    assert rdd.getNumPartitions() > 5
    assert rdd.collect() == [bytes([i]) * 3 for i in range(40)]


def test_reliable_checkpoint_truncates_the_lineage(sc, checkpoint_dir):
    source = sc.parallelize(range(20), 4).map(lambda x: (x % 3, x)).reduceByKey(lambda a, b: a + b)
    rdd = source.mapValues(lambda v: v * 2)
    assert not rdd.is_checkpointed and rdd.getCheckpointFile() is None
    rdd.checkpoint()
    assert rdd.is_checkpointed and not rdd.isCheckpointed() and not rdd.isLocallyCheckpointed()
    expected = sorted(rdd.collect())
    rdd._do_checkpoint()  # the Context's post-job hook
    assert rdd.isCheckpointed()
    uri = rdd.getCheckpointFile()  # a file: URI, as PySpark's
    assert uri.startswith(f"file:{os.path.abspath(checkpoint_dir)}/")
    path = uri[len("file:"):]
    assert os.path.basename(path) == f"rdd-{rdd.id()}"
    assert sorted(os.listdir(path)) == ["_SUCCESS"] + [f"part-{i:05d}" for i in range(rdd.getNumPartitions())]
    assert [type(dep.rdd).__name__ for dep in rdd.dependencies] == ["ReliableCheckpointRDD"]
    assert b"ReliableCheckpointRDD" in rdd.toDebugString()
    assert sorted(rdd.collect()) == expected
    assert sorted(rdd.map(lambda kv: kv[1]).collect()) == sorted(v for _, v in expected)
    rdd._do_checkpoint()  # materialized once only
    assert rdd.getCheckpointFile() == uri


def test_checkpointed_rdd_never_recomputes(sc, checkpoint_dir, tmp_path):
    flag = tmp_path / "fail-now"
    rdd = sc.parallelize(range(10), 2).map(
        lambda x: x if not os.path.exists(str(flag)) else 1 / 0).cache()
    rdd.checkpoint()
    assert rdd.sum() == 45
    rdd._do_checkpoint()
    flag.write_text("")  # recomputing the lineage would now fail
    rdd.unpersist()
    assert rdd.sum() == 45 and rdd.map(lambda x: x + 1).sum() == 55


def test_local_checkpoint(sc):
    rdd = sc.parallelize(range(6), 3).map(lambda x: x * 10)
    assert not rdd.isLocallyCheckpointed()
    rdd.localCheckpoint()
    assert rdd.isLocallyCheckpointed() and not rdd.isCheckpointed()
    assert str(rdd.getStorageLevel()) == "Disk Memory Serialized 1x Replicated"
    assert rdd.take(1) == [0]
    rdd._do_checkpoint()
    assert rdd.isCheckpointed() and rdd.getCheckpointFile() is None
    assert [type(dep.rdd).__name__ for dep in rdd.dependencies] == ["LocalCheckpointRDD"]
    assert rdd.collect() == [0, 10, 20, 30, 40, 50]
    rdd.unpersist()  # the blocks were the only copy: now they are gone for good
    with pytest.raises(RuntimeError, match="Checkpoint block rdd_.* not found"):
        rdd.collect()


def test_checkpoint_needs_a_directory(sc):
    import ember

    with pytest.raises(RuntimeError, match="Checkpoint directory has not been set"):
        # a fresh Context cannot be made while sc lives: fake an unset directory
        rdd = sc.parallelize([1])
        saved = getattr(sc, "_checkpoint_dir", None)
        sc._checkpoint_dir = None
        try:
            rdd.checkpoint()
        finally:
            sc._checkpoint_dir = saved
    assert isinstance(sc, ember.Context)


def test_clean_shuffle_dependencies(sc):
    if not hasattr(sc, "_clean_shuffle"):
        pytest.fail("Context._clean_shuffle(shuffle_id, blocking) is missing: "
                    "cleanShuffleDependencies needs it to release a shuffle's files")
    rdd = sc.parallelize([("a", 1), ("b", 2), ("a", 3)], 2).reduceByKey(lambda a, b: a + b)
    assert sorted(rdd.collect()) == [("a", 4), ("b", 2)]
    rdd.cleanShuffleDependencies(blocking=True)
    assert sorted(rdd.collect()) == [("a", 4), ("b", 2)]  # recomputed from the lineage


def test_the_context_drives_checkpoints(sc, checkpoint_dir):
    missing = [name for name in ("setCheckpointDir", "getCheckpointDir") if not hasattr(sc, name)]
    assert not missing, f"the Context lacks {missing}"
    rdd = sc.parallelize(range(5)).map(lambda x: x + 1)
    rdd.checkpoint()
    assert rdd.count() == 5
    assert rdd.isCheckpointed(), "Context._run_job must call rdd._do_checkpoint() after each job"
    assert sc.getCheckpointDir() and rdd.getCheckpointFile().startswith(sc.getCheckpointDir())
