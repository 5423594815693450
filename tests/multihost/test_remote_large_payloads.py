"""Large payloads to a worker started by hand, which shares no disk with its
driver, so broadcast values and shipped files reach it over the wire: with
the default frame limit (1 MiB) a gibibyte broadcast and a file of many
frames arrive whole."""

from __future__ import annotations

import hashlib
import zlib

import pytest

from test_remote_workers import driver_address, remote  # noqa: F401 - the fixture

MiB = 1 << 20


@pytest.mark.slow
def test_a_gibibyte_broadcast_and_a_large_file_reach_a_worker_that_shares_no_disk(
        remote, processes, secret_file, tmp_path):  # noqa: F811 - the fixture
    sc = remote(**{"spark.network.timeout": "60s"})
    worker = processes.worker(driver_address(sc), secret_file, cores=1)
    sc._cluster.wait_for_workers(1, 30)
    shipped = tmp_path / "model.bin"
    shipped.write_bytes(hashlib.sha256(b"seed").digest() * (5 * MiB // 32))
    sc.addFile(str(shipped))
    value = bytes(range(256)) * (4 * MiB)  # 1 GiB
    expected = (len(value), zlib.crc32(value))
    big = sc.broadcast(value)
    del value

    def probe(_):
        import os
        import zlib

        from ember import SparkFiles

        with open(SparkFiles.get("model.bin"), "rb") as handle:
            digest = hashlib.sha256(handle.read()).hexdigest()
        return os.getpid(), len(big.value), zlib.crc32(big.value), digest

    rows = sc.parallelize([0], 1).map(probe).collect()
    assert rows == [(worker.pid, *expected, hashlib.sha256(shipped.read_bytes()).hexdigest())]
    big.destroy()
