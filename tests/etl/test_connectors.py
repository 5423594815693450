"""The source and sink connectors, run by ``ember connect`` as real processes
against a real PostgreSQL server and a log store broker, each SIGKILLed
twice mid-run (once at a random moment, once by a failpoint at the most
dangerous one), leave the table equal to the topic's records exactly once."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from ember.etl.connect import STATE_TOPIC, read_range
from ember.ingest import LogStore
from tests.waiting import wait_for

pytestmark = [pytest.mark.fault, pytest.mark.slow]


@pytest.fixture
def store(tmp_path):
    with LogStore.start(str(tmp_path / "log")) as running:
        secret = tmp_path / "broker.secret"
        secret.write_text(running.secret.hex() + "\n")
        os.chmod(secret, 0o600)
        running.secret_path = str(secret)
        yield running


def _run(kind, store, postgres, args, env=None):
    command = [sys.executable, "-m", "ember", "connect", kind, "--broker", store.address,
               "--secret-file", store.secret_path,
               "--db", f"postgresql://postgres@127.0.0.1:{postgres.port}/postgres",
               "--poll-interval", "0.1", *args]
    return subprocess.Popen(command, env={**os.environ, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(process, expect_killed):
    try:
        out, err = process.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    if expect_killed:
        assert process.returncode == -signal.SIGKILL, (process.returncode, err.decode()[-2000:])
    else:
        assert process.returncode == 0, err.decode()[-2000:]


def _sigkill_when(process, predicate, what):
    wait_for(lambda: predicate() or process.poll() is not None, timeout=120, what=what)
    if process.poll() is not None:
        pytest.fail(f"the connector ended before {what}: {process.communicate()[1].decode()[-2000:]}")
    process.send_signal(signal.SIGKILL)
    _finish(process, expect_killed=True)


def _table_rows(postgres, query):
    with postgres.connect() as connection:
        return connection.execute(query).fetchall()


def _topic_values(store, topic):
    ends = dict(enumerate(store.list_offsets([(topic, p, -1)
                                               for p in range(store.partitions_for(topic))])))
    return [json.loads(record.value) for record in read_range(store, topic, {}, ends)]


def test_source_connector_sigkilled_twice_sends_every_row_exactly_once(postgres, store):
    rng = random.Random(int(time.time()))
    with postgres.connect(autocommit=True) as connection:
        connection.execute("DROP TABLE IF EXISTS orders")
        connection.execute("CREATE TABLE orders (id SERIAL PRIMARY KEY, item TEXT, qty INT)")
        connection.execute("INSERT INTO orders (item, qty) SELECT 'item ' || g, g % 13 "
                           "FROM generate_series(1, 3000) g")
    args = ["--name", "orders-src", "--table", "orders", "--topic", "orders",
            "--incrementing-column", "id", "--batch-max-rows", "100", "--partitions", "3"]

    def sent():
        topics = store.topics()
        if "orders" not in topics:
            return 0
        return sum(store.list_offsets([("orders", p, -1) for p in range(3)]))

    first = _run("source", store, postgres, args)
    threshold = rng.randrange(300, 1500)
    _sigkill_when(first, lambda: sent() >= threshold, f"{threshold} records sent")
    with postgres.connect(autocommit=True) as connection:  # the table grows while it is down
        connection.execute("INSERT INTO orders (item, qty) SELECT 'late ' || g, 1 "
                           "FROM generate_series(1, 700) g")
    second = _run("source", store, postgres, args,
                  env={"EMBER_FAILPOINTS": f"connect.source.after_send=kill@{rng.randrange(2, 6)}"})
    _finish(second, expect_killed=True)  # records sent, position not stored
    third = _run("source", store, postgres, args + ["--idle-exit", "2"])
    _finish(third, expect_killed=False)

    table = sorted(_table_rows(postgres, "SELECT id, item, qty FROM orders"))
    topic = sorted((r["id"], r["item"], r["qty"]) for r in _topic_values(store, "orders"))
    assert topic == table, "the topic holds every row of the table exactly once"
    assert len(table) == 3700
    assert STATE_TOPIC in store.topics()


def test_sink_connector_sigkilled_twice_writes_every_record_exactly_once(postgres, store):
    rng = random.Random(int(time.time()))
    store.create_topic("payments", partitions=3)
    producer = store.producer()
    records = [{"id": i, "amount": i % 97, "note": f"p{i}"} for i in range(6000)]
    for record in records:
        producer.send("payments", value=json.dumps(record).encode(), key=str(record["id"]).encode())
    producer.flush()
    producer.close()
    with postgres.connect(autocommit=True) as connection:
        connection.execute("DROP TABLE IF EXISTS payments")
        connection.execute("DROP TABLE IF EXISTS ember_connect_offsets")
        connection.execute("CREATE TABLE payments (id INT, amount INT, note TEXT)")  # no key:
        # a repeated row would show as a duplicate
    args = ["--name", "payments-sink", "--topic", "payments", "--table", "payments",
            "--max-records", "250"]

    def stored():
        return _table_rows(postgres, "SELECT count(*) FROM payments")[0][0]

    first = _run("sink", store, postgres, args)
    threshold = rng.randrange(500, 2500)
    _sigkill_when(first, lambda: stored() >= threshold, f"{threshold} rows stored")
    # Every batch polled (at most 250 records) is inserted in at least one
    # piece, each piece one hit of the failpoint: with this many records left
    # the second run is sure to reach it, however far the first one got.
    remaining = len(records) - stored()
    if remaining:
        hits = min(rng.randrange(2, 6), max(1, remaining // 250))
        second = _run("sink", store, postgres, args,
                      env={"EMBER_FAILPOINTS": f"connect.sink.mid_batch=kill@{hits}"})
        _finish(second, expect_killed=True)  # half a batch inserted, not committed
    third = _run("sink", store, postgres, args + ["--idle-exit", "2"])
    _finish(third, expect_killed=False)

    table = sorted(_table_rows(postgres, "SELECT id, amount, note FROM payments"))
    assert table == sorted((r["id"], r["amount"], r["note"]) for r in records)
    offsets = dict(_table_rows(postgres, "SELECT partition_id, next_offset FROM "
                                         "ember_connect_offsets"))
    assert offsets == dict(enumerate(store.list_offsets([("payments", p, -1) for p in range(3)])))


@pytest.mark.parametrize("mode", ["timestamp", "timestamp+incrementing"])
def test_timestamp_source_sigkilled_twice_sends_rows_sharing_timestamps_exactly_once(
        postgres, store, mode):
    """Seven rows share each timestamp, so the second kill (half a batch
    acknowledged) lands inside a group of equal timestamps."""
    rng = random.Random(int(time.time()))
    table, topic = "events_" + mode.replace("+", "_"), "events-" + mode.replace("+", "-")
    with postgres.connect(autocommit=True) as connection:
        connection.execute(f"DROP TABLE IF EXISTS {table}")
        connection.execute(f"CREATE TABLE {table} (id SERIAL PRIMARY KEY, ts TIMESTAMP NOT NULL, "
                           f"note TEXT)")
        connection.execute(f"INSERT INTO {table} (ts, note) SELECT timestamp '2026-01-01' + "
                           f"(g / 7) * interval '1 second', 'event ' || g "
                           f"FROM generate_series(1, 2000) g")
    args = ["--name", f"{table}-src", "--table", table, "--topic", topic, "--mode", mode,
            "--timestamp-column", "ts", "--batch-max-rows", "100", "--partitions", "2"]
    if mode == "timestamp+incrementing":
        args += ["--incrementing-column", "id"]

    def sent():
        if topic not in store.topics():
            return 0
        return sum(store.list_offsets([(topic, p, -1) for p in range(2)]))

    first = _run("source", store, postgres, args)
    threshold = rng.randrange(200, 1000)
    _sigkill_when(first, lambda: sent() >= threshold, f"{threshold} records sent")
    with postgres.connect(autocommit=True) as connection:  # more rows while it is down
        connection.execute(f"INSERT INTO {table} (ts, note) SELECT timestamp '2026-01-02' + "
                           f"(g / 7) * interval '1 second', 'late ' || g "
                           f"FROM generate_series(1, 500) g")
    second = _run("source", store, postgres, args,
                  env={"EMBER_FAILPOINTS": f"connect.source.mid_send=kill@{rng.randrange(2, 5)}"})
    _finish(second, expect_killed=True)  # half a batch acknowledged, the rest not sent
    third = _run("source", store, postgres, args + ["--idle-exit", "2"])
    _finish(third, expect_killed=False)

    table_rows = sorted(_table_rows(postgres, f"SELECT id, note FROM {table}"))
    assert sorted((r["id"], r["note"]) for r in _topic_values(store, topic)) == table_rows
    assert len(table_rows) == 2500


def _states(store, name):
    ends = {0: store.list_offsets([(STATE_TOPIC, 0, -1)])[0]}
    return [json.loads(r.value) for r in read_range(store, STATE_TOPIC, {}, ends)
            if r.key == name.encode()]


@pytest.mark.parametrize("mode", ["timestamp", "timestamp+incrementing"])
def test_what_the_timestamp_modes_send_and_what_they_cannot(postgres, store, mode):
    """Rows sharing a timestamp are sent together even past batch_max_rows; a
    row committed late with an older timestamp is never sent; a row committed
    later with the position's own timestamp is sent only when an id tells it
    apart (timestamp+incrementing), as the module docstring says."""
    from ember.etl.connect import SourceConnector, database

    table, topic = "ticks_" + mode.replace("+", "_"), "ticks-" + mode.replace("+", "-")
    with postgres.connect(autocommit=True) as connection:
        connection.execute(f"DROP TABLE IF EXISTS {table}")
        connection.execute(f"CREATE TABLE {table} (id SERIAL PRIMARY KEY, ts TIMESTAMP NOT NULL, "
                           f"v TEXT)")
        connection.execute(f"INSERT INTO {table} (ts, v) SELECT timestamp '2026-01-01 10:00', "
                           f"'shared ' || g FROM generate_series(1, 25) g")
        connection.execute(f"INSERT INTO {table} (ts, v) SELECT timestamp '2026-01-01 11:00', "
                           f"'next ' || g FROM generate_series(1, 5) g")

    def run_once():
        connector = SourceConnector(
            f"{table}-src", store, database(f"postgresql://postgres@127.0.0.1:{postgres.port}/"
                                            f"postgres"),
            table, topic, mode=mode, timestamp_column="ts",
            incrementing_column="id" if "incrementing" in mode else None, batch_max_rows=10)
        try:
            return connector.run(idle_timeout=0.3, poll_interval=0.05)
        finally:
            connector.close()

    assert run_once() == 30
    states = _states(store, f"{table}-src")
    if mode == "timestamp":  # one batch per timestamp: 25 rows, then 5
        assert [state["position"] for state in states] == [["2026-01-01T10:00:00"],
                                                           ["2026-01-01T11:00:00"]]
    else:  # ten at a time, equal timestamps told apart by the id
        assert len(states) == 3 and states[-1]["position"] == ["2026-01-01T11:00:00", 30]

    late = postgres.connect()  # a transaction that commits after a later row was sent
    late.execute(f"INSERT INTO {table} (ts, v) VALUES (timestamp '2026-01-01 11:30', "
                 f"'committed late')")
    with postgres.connect(autocommit=True) as connection:
        connection.execute(f"INSERT INTO {table} (ts, v) VALUES (timestamp '2026-01-01 12:00', "
                           f"'on time')")
    assert run_once() == 1
    late.commit()
    late.close()
    with postgres.connect(autocommit=True) as connection:
        connection.execute(f"INSERT INTO {table} (ts, v) VALUES (timestamp '2026-01-01 12:00', "
                           f"'same timestamp, later')")
        connection.execute(f"INSERT INTO {table} (ts, v) VALUES (timestamp '2026-01-01 13:00', "
                           f"'after')")
    run_once()

    sent = [record["v"] for record in _topic_values(store, topic)]
    assert sorted(sent) == sorted(
        [f"shared {g}" for g in range(1, 26)] + [f"next {g}" for g in range(1, 6)]
        + ["on time", "after"] + (["same timestamp, later"] if "incrementing" in mode else []))
    assert "committed late" not in sent
