"""Remote storage through fsspec against a real S3-API server (moto's
standalone server, a separate process): textFile, wholeTextFiles,
binaryFiles, the record readers and writers, and the output commit."""

from __future__ import annotations

import json

import pytest

import ember

pytestmark = pytest.mark.slow


def test_read_write_and_commit_against_the_s3_server(s3_server):
    import fsspec

    fs = fsspec.filesystem("s3")
    fs.mkdir("ember-bucket")
    rows = [{"id": i, "name": f"n{i}"} for i in range(3000)]
    with fs.open("ember-bucket/in/events.jsonl", "wb") as handle:
        handle.write("".join(json.dumps(r) + "\n" for r in rows).encode())
    with fs.open("ember-bucket/in/notes.txt.gz", "wb") as handle:
        import gzip

        handle.write(gzip.compress(b"one\ntwo\n"))
    with ember.Context("local[2]") as sc:  # workers inherit FSSPEC_S3
        assert sc.read.json("s3://ember-bucket/in/events.jsonl", minPartitions=4).collect() == rows
        assert sc.textFile("s3://ember-bucket/in/notes.txt.gz").collect() == ["one", "two"]
        whole = dict(sc.wholeTextFiles("s3://ember-bucket/in/notes.txt.gz").collect())
        assert whole == {"s3://ember-bucket/in/notes.txt.gz": "one\ntwo\n"}
        binary = dict(sc.binaryFiles("s3://ember-bucket/in/").collect())
        assert sorted(binary) == ["s3://ember-bucket/in/events.jsonl",
                                  "s3://ember-bucket/in/notes.txt.gz"]

        sc.parallelize(rows, 3).write.csv("s3://ember-bucket/out/csv", header=True,
                                          compression="zstd")
        names = sorted(name.rsplit("/", 1)[-1] for name in fs.ls("ember-bucket/out/csv"))
        assert names == ["_SUCCESS", "part-00000.csv.zst", "part-00001.csv.zst",
                         "part-00002.csv.zst"], "committed parts only, no staged leftovers"
        back = sc.read.csv("s3://ember-bucket/out/csv", header=True, inferSchema=True).collect()
        assert back == rows
        with pytest.raises(FileExistsError):
            sc.parallelize(rows, 2).write.json("s3://ember-bucket/out/csv")
        sc.parallelize(["a", "b"], 2).saveAsTextFile("s3://ember-bucket/out/text")
        assert sc.textFile("s3://ember-bucket/out/text").collect() == ["a", "b"]
        sc.parallelize(rows[:10], 2).write.mode("overwrite").xml("s3://ember-bucket/out/csv")
        assert sc.read.xml("s3://ember-bucket/out/csv").collect() == rows[:10]
