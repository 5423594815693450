"""Payloads far larger than a frame on a real local cluster whose sockets
accept frames of at most 1 MiB (the default ``ember.network.maxMessageSize``):
task results, task binaries and splits, and shuffle blocks cross in bounded
pieces and arrive whole, as a plain-Python oracle says; a result too large
for ``spark.driver.maxResultSize`` fails its job at once with its named error.
"""

from __future__ import annotations

import os
from operator import add

import pytest

import ember
from ember.engine.errors import ResultTooLargeError
from ember.engine.wire.framing import CHUNK_BYTES
from ember.engine.wire.transport import DEFAULT_MAX_MESSAGE_SIZE

MiB = 1 << 20


def test_the_default_frame_limit_is_small():
    assert ember.Conf().value("ember.network.maxMessageSize") == DEFAULT_MAX_MESSAGE_SIZE == MiB


@pytest.mark.slow
def test_a_gibibyte_collect_arrives_whole_with_the_default_frame_limit():
    conf = ember.Conf().set("spark.driver.maxResultSize", "2g")
    parts, size = 8, 128 * MiB
    with ember.Context("local[2]", conf=conf) as sc:
        results = sc.parallelize(range(parts), parts).map(lambda i: bytes([i]) * size).collect()
        assert [len(result) for result in results] == [size] * parts
        for i, result in enumerate(results):
            assert not result.strip(bytes([i])), f"partition {i} came back altered"
        del results
        assert sc.parallelize(range(4), 2).sum() == 6, "the cluster serves on"


def test_splits_closures_and_shuffle_blocks_past_the_frame_limit_cross_whole():
    rows = [(i % 7, os.urandom(64) * 8) for i in range(40_000)]  # ~21 MiB in 3 splits
    table = {key: bytes([key]) * (3 * CHUNK_BYTES) for key in range(7)}  # a 10 MiB closure
    oracle: dict[int, int] = {}
    for key, value in rows:
        oracle[key] = oracle.get(key, 0) + len(value) + len(table[key])
    with ember.Context("local[2]") as sc:
        pairs = sc.parallelize(rows, 3).map(lambda kv: (kv[0], len(kv[1]) + len(table[kv[0]])))
        # Each map output block is megabytes: fetched from the other worker in pieces.
        grouped = sc.parallelize(rows, 3).groupByKey(2).mapValues(
            lambda values: sum(len(value) for value in values)).collectAsMap()
        assert pairs.reduceByKey(add, 2).collectAsMap() == oracle
        assert grouped == {key: total - len(table[key]) * sum(1 for k, _ in rows if k == key)
                           for key, total in oracle.items()}


def test_a_result_past_max_result_size_fails_its_job_at_once_naming_the_setting(tmp_path):
    attempts = tmp_path / "attempts"
    conf = ember.Conf().set("spark.driver.maxResultSize", "1m")

    def huge(i):
        if i == 1:
            with open(attempts, "a") as handle:
                handle.write("attempt\n")
            return b"r" * (24 * MiB)  # past the limit and the room for its message
        return b"ok"

    with ember.Context("local[2]", conf=conf) as sc:
        with pytest.raises(ResultTooLargeError, match=r"the result of task \d+ on worker w-\d is "
                                                      r"\d+ bytes, bigger than spark.driver.max"
                                                      r"ResultSize \(1048576 bytes\)"):
            sc.parallelize(range(2), 2).map(huge).collect()
        assert attempts.read_text() == "attempt\n", "not retried: a retry would be as large"
        assert sc.parallelize(range(4), 2).map(lambda i: i * 2).collect() == [0, 2, 4, 6]
