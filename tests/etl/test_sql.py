"""SQL sources and sinks over sqlite3 and a real PostgreSQL server: a
partitioned read equals SELECT *, writes store every row exactly once, also
when a worker is SIGKILLed in the middle of a partition."""

from __future__ import annotations

import pytest

from ember.engine.api.task_context import TaskContext
from ember.etl import sql
from sqlhelpers import _key, _select, _table


def test_partitioned_read_equals_select_star(sc, database):
    rows = [(i, f"n{i}", i * 0.5) for i in range(-20, 1000)] + [(None, "null id", 1.0)]
    _table(database, rows)
    everything = sorted(_select(database, "SELECT * FROM items"), key=_key)
    rdd = sc.read.sql(database, "items", column="id", lowerBound=0, upperBound=900,
                      numPartitions=7)
    assert rdd.getNumPartitions() == 7
    assert sorted(rdd.collect(), key=_key) == everything
    sizes = rdd.glom().map(len).collect()
    assert sum(sizes) == len(rows) and min(sizes) > 0
    single = sc.read.sql(database, "SELECT id, name FROM items WHERE id < 10")
    assert sorted(single.collect(), key=_key) == sorted(
        _select(database, "SELECT id, name FROM items WHERE id < 10"), key=_key)
    by_predicates = sc.read.sql(database, "items", predicates=["id < 500", "id >= 500"])
    assert by_predicates.count() == len(rows) - 1


def test_read_arguments_are_checked_by_name(sc, database):
    with pytest.raises(ValueError, match="needs lowerBound, upperBound and numPartitions"):
        sc.read.sql(database, "items", column="id")
    with pytest.raises(ValueError, match="lowerBound .5. must not be larger"):
        sc.read.sql(database, "items", column="id", lowerBound=5, upperBound=1, numPartitions=2)
    with pytest.raises(ValueError, match="not a plain identifier"):
        sc.read.sql(database, "items; DROP TABLE items")
    with pytest.raises(TypeError, match="connect must be a function"):
        sc.read.sql("sqlite:///x", "items")


def test_append_and_upsert_writes(sc, database):
    connection = database()
    connection.cursor().execute("CREATE TABLE target (id INTEGER PRIMARY KEY, name VARCHAR(20), "
                                "qty INTEGER)")
    connection.commit()
    connection.close()
    rows = [{"id": i, "name": f"n{i}", "qty": i % 7} for i in range(2000)]
    sc.parallelize(rows, 4).write.sql(database, "target")
    assert sorted(_select(database, "SELECT * FROM target"), key=_key) == rows
    changed = [{"id": i, "name": "changed", "qty": -1} for i in range(1500, 2500)]
    sc.parallelize(changed, 3).write.sql(database, "target", mode="upsert", key=["id"])
    expected = {row["id"]: row for row in rows}
    expected.update({row["id"]: row for row in changed})
    assert sorted(_select(database, "SELECT * FROM target"), key=_key) == sorted(
        expected.values(), key=_key)
    with pytest.raises(ValueError, match="needs key="):
        sc.parallelize(rows).write.sql(database, "target", mode="upsert")


def test_a_partition_written_by_two_attempts_is_stored_once(database):
    connection = database()
    connection.cursor().execute("CREATE TABLE target (id INTEGER, name VARCHAR(20), qty INTEGER)")
    connection.commit()
    sql.ensure_markers(connection)
    connection.close()
    writer = sql.PartitionWriter(database, "target", "append", [], 100, "job-1")
    rows = [{"id": i, "name": "x", "qty": 1} for i in range(250)]
    for attempt in range(3):  # the original, a retry, a speculative copy
        TaskContext._set(TaskContext(stage_id=0, stage_attempt=0, partition_id=2,
                                     attempt_number=attempt, task_attempt_id=attempt))
        try:
            assert writer(iter(rows)) == (250 if attempt == 0 else 0)
        finally:
            TaskContext._set(None)
    assert len(_select(database, "SELECT * FROM target")) == 250
