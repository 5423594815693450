"""SQL databases as sources and sinks, over any DB-API 2 connection.

``connect`` is a zero-argument function returning a new DB-API connection
(``lambda: sqlite3.connect(path)``, ``lambda: psycopg.connect(dsn)``); it is
shipped to the tasks, and each task opens its own connection. sqlite3 and
psycopg (3) are tested; the placeholder style comes from the driver
module's ``paramstyle``.

Reading (``sc.read.sql``, Spark's JDBC source): ``table`` is a table name or
a query (anything starting with SELECT or WITH is wrapped as a subquery).
Without ``column`` it is one partition; with ``column``, ``lowerBound``,
``upperBound`` and ``numPartitions`` the rows are cut into numPartitions
ranges of the column exactly as Spark's ``JDBCRelation.columnPartition``
does: the bounds only decide the strides, they filter nothing (the first
range also takes NULLs and everything below, the last everything above), so
the partitions together are ``SELECT *``. ``predicates`` gives one partition
per WHERE clause instead. Rows are dicts by the cursor's column names,
fetched ``fetchsize`` at a time (psycopg through a server-side cursor, so a
partition never sits in memory whole).

Writing (``rdd.write.sql``): each partition in one transaction on its own
connection, storing every row exactly once however often its task runs
(retried after a worker died, or speculated):

* ``mode="append"``: the transaction also inserts ``(job id, partition)``
  into ``ember_write_commits`` (made if missing, primary key on both). An
  attempt that finds its partition's marker does nothing; two attempts
  racing both insert, and the second's marker violates the key, so its
  transaction, rows included, rolls back. A task killed mid-partition never
  committed, so its rows never existed.
* ``mode="upsert"``: ``INSERT ... ON CONFLICT (key) DO UPDATE`` (SQLite
  3.24+ and PostgreSQL 9.5+ share the syntax): replaying a row rewrites it.
  ``key`` names the columns of a unique constraint of the table.

Columns are each record's keys (records are dicts). Identifiers are quoted
with double quotes; a name that needs more than that is refused.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Callable, Iterator

from ember.engine import failpoints
from ember.engine.api.rdd import RDD, Partition
from ember.engine.api.task_context import TaskContext

MARKERS = "ember_write_commits"
_QUERY = re.compile(r"^\s*\(?\s*(select|with)\b", re.IGNORECASE)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$")
_PLACEHOLDER = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def dbapi_module(connection: Any) -> Any:
    """The DB-API module a connection comes from (its paramstyle, its errors)."""
    import importlib

    return importlib.import_module(type(connection).__module__.split(".")[0])


def placeholder(connection: Any) -> str:
    style = getattr(dbapi_module(connection), "paramstyle", "qmark")
    if style not in _PLACEHOLDER:
        raise ValueError(f"sql: the {dbapi_module(connection).__name__} driver's paramstyle "
                         f"{style!r} is not supported; supported: {', '.join(_PLACEHOLDER)}")
    return _PLACEHOLDER[style]


def quote(name: str) -> str:
    """A column or table name, double-quoted (``schema.table`` quoted per part)."""
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise ValueError(f"sql: {name!r} is not a plain identifier (letters, digits, _ and $, "
                         f"optionally schema.name)")
    return ".".join(f'"{part}"' for part in name.split("."))


def source_of(table: str) -> str:
    if not isinstance(table, str) or not table.strip():
        raise ValueError(f"sc.read.sql: table_or_query must be a table name or a query, "
                         f"got {table!r}")
    return f"({table}) ember_source" if _QUERY.match(table) else quote(table)


def _literal(value: Any, name: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"sc.read.sql: {name} must be a number, got {type(value).__name__} "
                        f"{value!r}")
    return repr(value)


def column_predicates(column: str, lower: Any, upper: Any, partitions: int) -> list[str | None]:
    """One WHERE clause per partition, as Spark's JDBC source cuts a column."""
    _literal(lower, "lowerBound")
    _literal(upper, "upperBound")
    if isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1:
        raise ValueError(f"sc.read.sql: numPartitions must be a positive int, got {partitions!r}")
    if lower > upper:
        raise ValueError(f"sc.read.sql: lowerBound ({lower}) must not be larger than "
                         f"upperBound ({upper})")
    name = quote(column)
    if partitions == 1 or lower == upper:
        return [None]
    if isinstance(lower, int) and isinstance(upper, int) and upper - lower < partitions:
        partitions = upper - lower
    stride = upper / partitions - lower / partitions
    if isinstance(lower, int) and isinstance(upper, int):
        stride = int(stride) or 1
    clauses: list[str | None] = []
    current = lower
    for index in range(partitions):
        low = None if index == 0 else current
        current = current + stride
        high = None if index == partitions - 1 else current
        if low is None:
            clauses.append(f"{name} < {high!r} OR {name} IS NULL")
        elif high is None:
            clauses.append(f"{name} >= {low!r}")
        else:
            clauses.append(f"{name} >= {low!r} AND {name} < {high!r}")
    return clauses


class SqlPartition(Partition):
    __slots__ = ("where",)

    def __init__(self, index: int, where: str | None):
        super().__init__(index)
        self.where = where


class SqlRDD(RDD):
    """Rows of a table or query, one range query per partition."""

    def __init__(self, ctx: Any, connect: Callable[[], Any], source: str,
                 clauses: list[str | None], fetchsize: int, callsite: str):
        super().__init__(ctx, "read.sql", callsite)
        self.connect = connect
        self.source = source
        self.clauses = clauses
        self.fetchsize = fetchsize

    def _get_partitions(self) -> list:
        return [SqlPartition(index, where) for index, where in enumerate(self.clauses)]

    def compute(self, split: SqlPartition, context: Any) -> Iterator[dict]:
        query = f"SELECT * FROM {self.source}"
        if split.where:
            query += f" WHERE {split.where}"
        return _rows(self.connect, query, self.fetchsize, split.index)


def _rows(connect: Callable[[], Any], query: str, fetchsize: int, index: int) -> Iterator[dict]:
    connection = connect()
    try:
        module = dbapi_module(connection).__name__
        if module in ("psycopg", "psycopg2"):
            cursor = connection.cursor(name=f"ember_read_{index}_{uuid.uuid4().hex[:8]}")
        else:
            cursor = connection.cursor()
        cursor.arraysize = fetchsize
        cursor.execute(query)
        names = None
        while True:
            rows = cursor.fetchmany(fetchsize)
            if names is None:
                names = [column[0] for column in cursor.description]
            if not rows:
                break
            for row in rows:
                yield dict(zip(names, row))
        cursor.close()
        connection.rollback()  # a read-only transaction: nothing to keep
    finally:
        connection.close()


def read(ctx: Any, connect: Callable[[], Any], table: str, column: str | None, lower: Any,
         upper: Any, partitions: int | None, predicates: list[str] | None, fetchsize: int,
         callsite: str) -> RDD:
    if not callable(connect):
        raise TypeError(f"sc.read.sql: connect must be a function returning a DB-API "
                        f"connection, got {type(connect).__name__} {connect!r}")
    source = source_of(table)
    if isinstance(fetchsize, bool) or not isinstance(fetchsize, int) or fetchsize < 1:
        raise ValueError(f"sc.read.sql: fetchsize must be a positive int, got {fetchsize!r}")
    if column is not None and predicates is not None:
        raise ValueError("sc.read.sql: give column (with bounds) or predicates, not both")
    if column is not None:
        if lower is None or upper is None or partitions is None:
            raise ValueError("sc.read.sql: column needs lowerBound, upperBound and "
                             "numPartitions too (as Spark's JDBC partitionColumn)")
        clauses = column_predicates(column, lower, upper, partitions)
    elif predicates is not None:
        clauses = [str(clause) for clause in predicates] or [None]
    else:
        if any(value is not None for value in (lower, upper, partitions)):
            raise ValueError("sc.read.sql: lowerBound, upperBound and numPartitions need "
                             "column")
        clauses = [None]
    return SqlRDD(ctx, connect, source, clauses, fetchsize, callsite).setName(table)


# --- writing -------------------------------------------------------------------------

def _statement(connection: Any, table: str, columns: tuple, mode: str, key: list[str]) -> str:
    mark = placeholder(connection)
    names = ", ".join(quote(column) for column in columns)
    values = ", ".join([mark] * len(columns))
    statement = f"INSERT INTO {quote(table)} ({names}) VALUES ({values})"
    if mode == "upsert":
        missing = [name for name in key if name not in columns]
        if missing:
            raise ValueError(f"rdd.write.sql: a row lacks the key columns {missing} "
                             f"(row columns: {list(columns)})")
        updates = [f"{quote(column)} = excluded.{quote(column)}"
                   for column in columns if column not in key]
        conflict = ", ".join(quote(name) for name in key)
        statement += (f" ON CONFLICT ({conflict}) DO UPDATE SET {', '.join(updates)}"
                      if updates else f" ON CONFLICT ({conflict}) DO NOTHING")
    return statement


def ensure_markers(connection: Any) -> None:
    cursor = connection.cursor()
    cursor.execute(f"CREATE TABLE IF NOT EXISTS {MARKERS} (job_id VARCHAR(64) NOT NULL, "
                   f"partition_id INTEGER NOT NULL, PRIMARY KEY (job_id, partition_id))")
    connection.commit()


def insert_rows(connection: Any, table: str, rows: Iterator[Any], mode: str, key: list[str],
                batch_size: int, failpoint: str | None = None) -> int:
    """Insert (or upsert) ``rows`` in batches inside the open transaction."""
    cursor = connection.cursor()
    statements: dict[tuple, str] = {}
    pending: dict[tuple, list] = {}
    count = 0

    def flush(columns: tuple) -> None:
        batch = pending.pop(columns)
        if columns not in statements:
            statements[columns] = _statement(connection, table, columns, mode, key)
        cursor.executemany(statements[columns], batch)
        if failpoint:
            failpoints.point(failpoint)

    for row in rows:
        if not isinstance(row, dict):
            as_dict = getattr(row, "asDict", None)
            if as_dict is None:
                raise TypeError(f"rdd.write.sql: rows must be dicts, got {type(row).__name__} "
                                f"{row!r}")
            row = as_dict()
        columns = tuple(row)
        pending.setdefault(columns, []).append(tuple(row.values()))
        count += 1
        if len(pending[columns]) >= batch_size:
            flush(columns)
    for columns in list(pending):
        flush(columns)
    return count


class PartitionWriter:
    """Writes one partition in one transaction (picklable: runs in the tasks)."""

    def __init__(self, connect: Callable[[], Any], table: str, mode: str, key: list[str],
                 batch_size: int, job_id: str):
        self.connect = connect
        self.table = table
        self.mode = mode
        self.key = key
        self.batch_size = batch_size
        self.job_id = job_id

    def __call__(self, iterator: Iterator) -> int:
        partition = TaskContext.get().partitionId()
        connection = self.connect()
        try:
            mark = placeholder(connection)
            cursor = connection.cursor()
            if self.mode == "append":
                cursor.execute(f"SELECT 1 FROM {MARKERS} WHERE job_id = {mark} AND "
                               f"partition_id = {mark}", (self.job_id, partition))
                if cursor.fetchone() is not None:
                    connection.rollback()
                    return 0  # another attempt committed this partition
            count = insert_rows(connection, self.table, iterator, self.mode, self.key,
                                self.batch_size, "sql.mid_write")
            if self.mode == "append":
                integrity = dbapi_module(connection).IntegrityError
                try:
                    cursor.execute(f"INSERT INTO {MARKERS} (job_id, partition_id) VALUES "
                                   f"({mark}, {mark})", (self.job_id, partition))
                    connection.commit()
                except integrity:
                    connection.rollback()  # a twin attempt committed first: keep its rows
                    return 0
            else:
                connection.commit()
            return count
        except BaseException:
            try:
                connection.rollback()
            except Exception:
                pass
            raise
        finally:
            connection.close()


def write(rdd: RDD, connect: Callable[[], Any], table: str, mode: str,
          key: list[str] | str | None, batch_size: int) -> None:
    if not callable(connect):
        raise TypeError(f"rdd.write.sql: connect must be a function returning a DB-API "
                        f"connection, got {type(connect).__name__} {connect!r}")
    quote(table)
    if mode not in ("append", "upsert"):
        raise ValueError(f"rdd.write.sql: mode must be 'append' or 'upsert', got {mode!r}")
    keys = [key] if isinstance(key, str) else list(key or [])
    if mode == "upsert" and not keys:
        raise ValueError("rdd.write.sql: mode 'upsert' needs key=[columns of a unique "
                         "constraint]")
    for name in keys:
        quote(name)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"rdd.write.sql: batchsize must be a positive int, got {batch_size!r}")
    if mode == "append":
        connection = connect()
        try:
            ensure_markers(connection)
        finally:
            connection.close()
    writer = PartitionWriter(connect, table, mode, keys, batch_size, uuid.uuid4().hex)
    rdd._run(writer)
