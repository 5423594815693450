"""CSV and XML files four times a worker's memory budget are read with each
worker's peak memory within its budget: the readers stream their splits."""

from __future__ import annotations

import pytest

import ember
from ember.engine.units import parse_size

pytestmark = pytest.mark.slow

BUDGET = "64m"


def _peak_rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for {pid}")


def _write(path, head: bytes, row, tail: bytes, size: int) -> int:
    count = 0
    with open(path, "wb") as handle:
        handle.write(head)
        written = len(head)
        block = b"".join(row(i) for i in range(10_000))
        while written < size:
            handle.write(block)
            written += len(block)
            count += 10_000
        handle.write(tail)
    return count


@pytest.mark.parametrize("fmt", ["csv", "xml"])
def test_a_file_four_times_the_worker_budget_is_read_within_the_budget(tmp_path, fmt):
    budget = parse_size(BUDGET)
    path = tmp_path / f"big.{fmt}"
    if fmt == "csv":
        count = _write(path, b"id,name,amount\n",
                       lambda i: b"%d,customer %d with a longer name to fill the line %s,%d.%02d\n"
                                 % (i, i % 977, b"x" * (300 + i % 90), i % 1000, i % 100),
                       b"", 4 * budget)
    else:
        count = _write(path, b"<?xml version='1.0'?>\n<orders>\n",
                       lambda i: b'<order id="%d"><name>customer %d %s</name><amount>%d</amount>'
                                 b'</order>\n' % (i, i % 977, b"x" * (300 + i % 90), i % 1000),
                       b"</orders>\n", 4 * budget)
    assert path.stat().st_size >= 4 * budget
    conf = ember.Conf().set("spark.executor.memory", BUDGET)
    with ember.Context("local[2]", conf=conf) as sc:
        if fmt == "csv":
            rdd = sc.read.csv(str(path), header=True, mode="FAILFAST")
        else:
            rdd = sc.read.xml(str(path), rowTag="order", mode="FAILFAST")
        assert rdd.count() == count
        peaks = {worker: _peak_rss(pid) for worker, pid in sc._cluster.pids().items()}
    assert all(peak <= budget for peak in peaks.values()), \
        f"peak RSS per worker {peaks} over the budget {budget}"
