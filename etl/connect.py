"""Connectors between databases and topics, as Kafka Connect's JDBC source
and sink: ``SourceConnector`` tails a table into a topic, ``SinkConnector``
writes a topic into a table. Both run in the calling process (``run()``,
until ``stop()`` or idle), and from the command line as ``ember connect
source|sink``. Each restart resumes where the last run stopped, and a run
killed at any point (SIGKILL included) neither loses nor repeats a row.

Source (modes of Kafka Connect's JDBC source; the columns must not be
NULL, a row with a NULL position is never sent):

* ``incrementing``: rows whose ``incrementing_column`` is above the
  position, in its order, ``batch_max_rows`` at a time. New rows only: an
  update of a row already sent is not seen.
* ``timestamp``: rows whose ``timestamp_column`` is above the position, in
  its order, ``batch_max_rows`` at a time except that a batch always takes
  every row of its last timestamp. New and updated rows, if every write
  sets the column to a time later than any row already read; timestamps need
  not be unique.
* ``timestamp+incrementing``: ordered by both, a row being new when its
  (timestamp, id) pair is above the position's; the pair is unique, so rows
  sharing a timestamp are told apart by their id.

What the modes guarantee: every row that is committed and visible when a
poll reads past its position is sent exactly once (a restart, even after a
SIGKILL, neither repeats nor drops it). What they cannot: the position only
moves forward, so a row that becomes visible after a row with a later
position was read is never sent. That is a transaction committed late with
a timestamp (or id) older than rows committed before it, and, in
``timestamp`` mode, a row committed later with exactly the timestamp of the
position (``timestamp+incrementing`` sends it if its id is higher). Kafka
Connect narrows the first window with ``timestamp.delay.interval.ms`` (rows
younger than the delay are left for a later poll); ember has no delay yet:
write timestamps at commit time, or tail an id from a sequence assigned in
commit order.

Each row becomes one record: the row as a JSON object (dates and decimals
as text), keyed by ``key_column`` if given, with its position in the header
``ember.position``. The position is stored in the log store itself: after
a batch is acknowledged, one record on the state topic
(``_ember_connect_offsets``, keyed by the connector's name) holds the
position and the topic's end offsets. A restart reads the last state, then
the records past those end offsets (what a killed run sent after storing
it) and skips the rows it finds there (by position, and in ``timestamp``
mode by position and content, as rows may share a timestamp): exactly once,
with nothing kept outside the log store. The connector must be the topic's
only writer.

Sink: records are JSON objects (one row each) written with
``ember.etl.sql.insert_rows`` (``append``, or ``upsert`` by ``key``), and in
the same transaction the next offset of every partition the batch read goes
to ``ember_connect_offsets`` (connector, topic, partition, next_offset) in
the target database. A restart seeks to the stored offsets: a batch is
either wholly in the table with its offsets, or not at all.

A record that is not a JSON object stops the sink with a ValueError naming
topic, partition and offset (nothing of its batch is committed).
"""

from __future__ import annotations

import datetime
import decimal
import json
import logging
import threading
import time
from collections import Counter
from typing import Any, Callable

from ember.engine import failpoints
from ember.etl import sql
from ember.ingest.structs import TopicPartition

log = logging.getLogger(__name__)

STATE_TOPIC = "_ember_connect_offsets"
OFFSETS_TABLE = "ember_connect_offsets"
POSITION_HEADER = "ember.position"
SOURCE_MODES = ("incrementing", "timestamp", "timestamp+incrementing")


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime.date, datetime.datetime, datetime.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    raise TypeError(f"a value of type {type(value).__name__} has no JSON form")


def _encode(value: Any) -> bytes:
    return json.dumps(value, default=_json_default, separators=(",", ":")).encode("utf-8")


def read_range(store: Any, topic: str, starts: dict[int, int], ends: dict[int, int],
               timeout: float = 60.0) -> list:
    """Every record of ``topic`` in [starts[p], ends[p]) for each partition."""
    wanted = [TopicPartition(topic, p) for p in ends if ends[p] > starts.get(p, 0)]
    if not wanted:
        return []
    consumer = store.consumer(enable_auto_commit=False)
    try:
        consumer.assign(wanted)
        for tp in wanted:
            consumer.seek(tp, starts.get(tp.partition, 0))
        records = []
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < ends[tp.partition] for tp in wanted):
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic} up to {ends} took over {timeout} s")
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(r for r in batch if r.offset < ends[r.partition])
        return records
    finally:
        consumer.close(autocommit=False)


def _acknowledged(producer: Any, futures: list) -> None:
    """Wait until every record sent so far is acknowledged (fsynced)."""
    producer.flush()
    for future in futures:
        future.get(timeout=60)


def _end_offsets(store: Any, topic: str) -> dict[int, int]:
    count = store.partitions_for(topic)
    ends = store.list_offsets([(topic, p, -1) for p in range(count)])
    return dict(enumerate(ends))


class _Runner:
    """Start/stop plumbing shared by both connectors."""

    def __init__(self) -> None:
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run(self, idle_timeout: float | None = None, poll_interval: float = 0.5) -> int:
        """Move batches until ``stop()`` (or ``idle_timeout`` seconds without a
        row, if given); returns the rows moved by this run."""
        failpoints.configure()
        moved = 0
        idle_since = time.monotonic()
        self._recover()
        while not self._stop.is_set():
            handled, count = self._step()  # rows read, and of those moved (not found moved)
            moved += count
            if handled:
                idle_since = time.monotonic()
                continue
            if idle_timeout is not None and time.monotonic() - idle_since > idle_timeout:
                break
            self._stop.wait(poll_interval)
        return moved


class SourceConnector(_Runner):
    def __init__(self, name: str, store: Any, connect: Callable[[], Any], table: str,
                 topic: str, mode: str = "incrementing", incrementing_column: str | None = None,
                 timestamp_column: str | None = None, key_column: str | None = None,
                 batch_max_rows: int = 1000, partitions: int = 1):
        super().__init__()
        if mode not in SOURCE_MODES:
            raise ValueError(f"source connector: mode must be one of {', '.join(SOURCE_MODES)}, "
                             f"got {mode!r}")
        if "incrementing" in mode and not incrementing_column:
            raise ValueError(f"source connector: mode {mode!r} needs incrementing_column")
        if "timestamp" in mode and not timestamp_column:
            raise ValueError(f"source connector: mode {mode!r} needs timestamp_column")
        self.name, self.store, self.connect = name, store, connect
        self.table, self.topic, self.mode = sql.quote(table), topic, mode
        self.columns = [c for c in (timestamp_column, incrementing_column) if c]
        for column in self.columns + ([key_column] if key_column else []):
            sql.quote(column)
        self.key_column = key_column
        self.batch_max_rows = batch_max_rows
        self.position: list | None = None
        # Records a killed run sent past its last stored state, by identity:
        # the position where it is unique (an incrementing column), else the
        # position and the row (timestamp alone: rows may share a timestamp).
        self.seen: Counter = Counter()
        self.unique_positions = "incrementing" in mode
        existing = set(store.topics())
        if topic not in existing:
            store.create_topic(topic, partitions=partitions)
        if STATE_TOPIC not in existing:
            store.create_topic(STATE_TOPIC, partitions=1)
        self.producer = store.producer()

    def _identity(self, tag: bytes, value: bytes) -> Any:
        return tag if self.unique_positions else (tag, value)

    def _recover(self) -> None:
        states = [r for r in read_range(self.store, STATE_TOPIC, {},
                                        _end_offsets(self.store, STATE_TOPIC))
                  if r.key in (self.name, self.name.encode())]
        starts: dict[int, int] = {}
        if states:
            state = json.loads(states[-1].value)
            self.position = state["position"]
            starts = {int(p): offset for p, offset in state["offsets"].items()}
        # What a killed run sent after its last stored state.
        for record in read_range(self.store, self.topic, starts, _end_offsets(self.store, self.topic)):
            for name, value in record.headers or []:
                if name == POSITION_HEADER:
                    self.seen[self._identity(bytes(value), bytes(record.value))] += 1
        log.info("source %s resumes after position %r (%d rows already sent past it)",
                 self.name, self.position, sum(self.seen.values()))

    def _query(self, cursor: Any, mark: str) -> list[dict]:
        """The next batch: the rows past the position, in position order, at
        most ``batch_max_rows`` of them, except that in timestamp mode a batch
        ends after all the rows of its last timestamp (a row left behind with
        that timestamp would never be found: the next query asks for later
        ones)."""
        columns = [sql.quote(c) for c in self.columns]
        where = [f"{column} IS NOT NULL" for column in columns]
        params: list = []
        if self.position is not None:
            if len(columns) == 1:
                where.append(f"{columns[0]} > {mark}")
                params = [self.position[0]]
            else:
                ts, inc = columns
                where.append(f"({ts} > {mark} OR ({ts} = {mark} AND {inc} > {mark}))")
                params = [self.position[0], self.position[0], self.position[1]]
        limit = int(self.batch_max_rows)
        order = ", ".join(columns)
        if self.mode == "timestamp":
            cursor.execute(f"SELECT {columns[0]} FROM {self.table} WHERE {' AND '.join(where)} "
                           f"ORDER BY {order} LIMIT 1 OFFSET {limit - 1}", params)
            last = cursor.fetchone()
            if last is not None:
                where.append(f"{columns[0]} <= {mark}")
                params.append(last[0])
            tail = ""
        else:
            tail = f" LIMIT {limit}"
        cursor.execute(f"SELECT * FROM {self.table} WHERE {' AND '.join(where)} ORDER BY "
                       f"{order}{tail}", params)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def _step(self) -> tuple[int, int]:
        connection = self.connect()
        try:
            rows = self._query(connection.cursor(), sql.placeholder(connection))
            connection.rollback()
        finally:
            connection.close()
        if not rows:
            return 0, 0
        futures = []
        half = (len(rows) + 1) // 2
        for index, row in enumerate(rows):
            if index == half:
                _acknowledged(self.producer, futures)
                failpoints.point("connect.source.mid_send")
            position = json.loads(_encode([row[c] for c in self.columns]))
            tag, value = _encode(position), _encode(row)
            identity = self._identity(tag, value)
            if self.seen[identity] > 0:  # sent by a run that died before storing its state
                self.seen[identity] -= 1
                continue
            key = None if self.key_column is None else str(row[self.key_column]).encode()
            futures.append(self.producer.send(self.topic, value=value, key=key,
                                              headers=[(POSITION_HEADER, tag)]))
        _acknowledged(self.producer, futures)
        failpoints.point("connect.source.after_send")
        state = {"position": position, "offsets": _end_offsets(self.store, self.topic)}
        self.producer.send(STATE_TOPIC, key=self.name.encode(), value=_encode(state)).get(timeout=60)
        self.position = position
        self.seen = +self.seen  # drop the identities used up
        return len(rows), len(futures)

    def close(self) -> None:
        self.producer.close()


class SinkConnector(_Runner):
    def __init__(self, name: str, store: Any, connect: Callable[[], Any], topic: str,
                 table: str, mode: str = "append", key: list[str] | None = None,
                 max_records: int = 1000):
        super().__init__()
        if mode not in ("append", "upsert"):
            raise ValueError(f"sink connector: mode must be 'append' or 'upsert', got {mode!r}")
        if mode == "upsert" and not key:
            raise ValueError("sink connector: mode 'upsert' needs key=[columns]")
        self.name, self.store, self.connect = name, store, connect
        sql.quote(table)
        self.topic, self.table, self.mode, self.key = topic, table, mode, list(key or [])
        self.max_records = max_records
        self.consumer = None
        self.connection = None

    def _recover(self) -> None:
        self.connection = connection = self.connect()
        cursor = connection.cursor()
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {OFFSETS_TABLE} (connector VARCHAR(200) NOT "
                       f"NULL, topic VARCHAR(255) NOT NULL, partition_id INTEGER NOT NULL, "
                       f"next_offset BIGINT NOT NULL, PRIMARY KEY (connector, topic, "
                       f"partition_id))")
        connection.commit()
        mark = sql.placeholder(connection)
        cursor.execute(f"SELECT partition_id, next_offset FROM {OFFSETS_TABLE} WHERE "
                       f"connector = {mark} AND topic = {mark}", (self.name, self.topic))
        stored = dict(cursor.fetchall())
        connection.rollback()
        partitions = [TopicPartition(self.topic, p)
                      for p in range(self.store.partitions_for(self.topic))]
        self.consumer = self.store.consumer(enable_auto_commit=False,
                                            auto_offset_reset="earliest")
        self.consumer.assign(partitions)
        for tp in partitions:
            if tp.partition in stored:
                self.consumer.seek(tp, stored[tp.partition])
            else:
                self.consumer.seek_to_beginning(tp)
        log.info("sink %s resumes at offsets %r", self.name, stored)

    def _step(self) -> tuple[int, int]:
        polled = self.consumer.poll(timeout_ms=200, max_records=self.max_records)
        records = [record for batch in polled.values() for record in batch]
        if not records:
            return 0, 0
        rows = []
        for record in records:
            try:
                row = json.loads(record.value)
            except ValueError:
                row = None
            if not isinstance(row, dict):
                raise ValueError(f"sink connector {self.name}: the record at {record.topic}-"
                                 f"{record.partition} offset {record.offset} is not a JSON "
                                 f"object: {bytes(record.value or b'')[:64]!r}")
            rows.append(row)
        connection = self.connection
        try:
            sql.insert_rows(connection, self.table, iter(rows), self.mode, self.key,
                            max(1, len(rows) // 2 + 1), "connect.sink.mid_batch")
            mark = sql.placeholder(connection)
            ends: dict[int, int] = {}
            for record in records:
                ends[record.partition] = max(ends.get(record.partition, 0), record.offset + 1)
            cursor = connection.cursor()
            cursor.executemany(
                f"INSERT INTO {OFFSETS_TABLE} (connector, topic, partition_id, next_offset) "
                f"VALUES ({mark}, {mark}, {mark}, {mark}) ON CONFLICT (connector, topic, "
                f"partition_id) DO UPDATE SET next_offset = excluded.next_offset",
                [(self.name, self.topic, p, offset) for p, offset in ends.items()])
            connection.commit()
        except BaseException:
            connection.rollback()
            raise
        return len(rows), len(rows)

    def close(self) -> None:
        if self.consumer is not None:
            self.consumer.close(autocommit=False)
        if self.connection is not None:
            self.connection.close()


def database(url: str) -> Callable[[], Any]:
    """A connect function from a URL: ``sqlite:///PATH`` (sqlite3) or
    ``postgresql://...`` (psycopg)."""
    import functools

    if url.startswith("sqlite:///") or url.startswith("sqlite:"):
        path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else url[len("sqlite:"):]
        return functools.partial(_sqlite, path)
    if url.startswith(("postgresql://", "postgres://")) or "=" in url:
        return functools.partial(_psycopg, url)
    raise ValueError(f"--db must be sqlite:///PATH or postgresql://USER@HOST:PORT/DB, got {url!r}")


def _sqlite(path: str):
    import sqlite3

    return sqlite3.connect(path, timeout=60)


def _psycopg(dsn: str):
    import psycopg

    return psycopg.connect(dsn)
