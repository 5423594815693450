"""A SQL write with a worker SIGKILLed in the middle of a partition stores
every row exactly once (append: one transaction and a commit marker per
partition; upsert: by key), on sqlite3 and on a real PostgreSQL server."""

from __future__ import annotations

import pytest

import ember
from sqlhelpers import _key, _select

pytestmark = pytest.mark.fault


@pytest.mark.parametrize("mode", ["append", "upsert"])
def test_sql_write_with_a_worker_sigkilled_mid_partition_stores_every_row_once(
        database, monkeypatch, mode):
    monkeypatch.setenv("EMBER_FAILPOINTS", "w-1:sql.mid_write=kill@2")
    connection = database()
    connection.cursor().execute("CREATE TABLE target (id INTEGER PRIMARY KEY, name VARCHAR(20), "
                                "qty INTEGER)")
    connection.commit()
    connection.close()
    rows = [{"id": i, "name": f"n{i}", "qty": i % 5} for i in range(12_000)]
    with ember.Context("local[2]") as sc:
        before = dict(sc._cluster.pids())
        sc.parallelize(rows, 6).write.sql(database, "target", mode=mode, key=["id"],
                                          batchsize=500)
        assert "w-1" not in sc._cluster.pids() or sc._cluster.pids()["w-1"] != before["w-1"], \
            "the failpoint did not kill the worker"
    stored = _select(database, "SELECT id, name, qty FROM target")
    assert len(stored) == len(rows)
    assert sorted(stored, key=_key) == rows
