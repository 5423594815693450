"""DataFrame: the small one RDD programs meet on their way to ``.rdd``.

A DataFrame here is an RDD of ``Row`` and a schema (``StructType``), made
by ``spark.read.text``, ``spark.createDataFrame`` or ``rdd.toDF``. It offers
what such programs call: ``.rdd``, ``collect``, ``count``, ``first``,
``head``, ``take``, ``show`` (PySpark's table, truncation and vertical
layout), ``columns``, ``dtypes``, ``schema``, ``printSchema``.

Everything else of PySpark's DataFrame API (``select``, ``filter``,
``groupBy``, ``join``, column expressions, ``write``, ...) raises
NotImplementedError naming the method and the RDD way to do it: ember.sql
is the entry point PySpark programs use, not a query engine.

Must not know: how RDDs are computed (it only calls their public methods).
"""

from __future__ import annotations

import datetime
import decimal
import math
from typing import Any

from ember.sql.types import Row, StructType

# PySpark's DataFrame methods -> the RDD way to do the same thing here.
_RDD_WAYS = {
    "select": "df.rdd.map(lambda row: (row.a, row.b))",
    "selectExpr": "df.rdd.map(lambda row: ...)",
    "withColumn": "df.rdd.map(lambda row: Row(**row.asDict(), new=...))",
    "withColumns": "df.rdd.map(lambda row: Row(**row.asDict(), ...))",
    "withColumnRenamed": "df.rdd.toDF([...new names...])",
    "toDF": "df.rdd.toDF([...names...])",
    "drop": "df.rdd.map(lambda row: ...) keeping the other fields",
    "filter": "df.rdd.filter(lambda row: ...)",
    "where": "df.rdd.filter(lambda row: ...)",
    "groupBy": "df.rdd.map(lambda row: (key, value)).reduceByKey(...) or .groupByKey()",
    "groupby": "df.rdd.map(lambda row: (key, value)).reduceByKey(...) or .groupByKey()",
    "agg": "df.rdd.aggregate(...) or .map(...).reduceByKey(...)",
    "join": "rdd.join(other) on (key, value) pairs",
    "crossJoin": "rdd.cartesian(other)",
    "union": "df.rdd.union(other.rdd)",
    "unionAll": "df.rdd.union(other.rdd)",
    "unionByName": "df.rdd.union(other.rdd)",
    "distinct": "df.rdd.distinct()",
    "dropDuplicates": "df.rdd.map(lambda row: (key, row)).reduceByKey(lambda a, b: a).values()",
    "orderBy": "df.rdd.sortBy(lambda row: ...)",
    "sort": "df.rdd.sortBy(lambda row: ...)",
    "sortWithinPartitions": "df.rdd.mapPartitions(lambda rows: sorted(rows, key=...))",
    "limit": "df.take(n), or sc.parallelize(df.take(n))",
    "sample": "df.rdd.sample(withReplacement, fraction, seed)",
    "randomSplit": "df.rdd.randomSplit(weights, seed)",
    "repartition": "df.rdd.repartition(n)",
    "coalesce": "df.rdd.coalesce(n)",
    "cache": "df.rdd.cache()",
    "persist": "df.rdd.persist(level)",
    "unpersist": "df.rdd.unpersist()",
    "checkpoint": "df.rdd.checkpoint()",
    "foreach": "df.rdd.foreach(f)",
    "foreachPartition": "df.rdd.foreachPartition(f)",
    "toPandas": "pandas.DataFrame([row.asDict() for row in df.collect()])",
    "toJSON": "df.rdd.map(lambda row: json.dumps(row.asDict()))",
    "toLocalIterator": "df.rdd.toLocalIterator()",
    "write": "df.rdd.saveAsTextFile(path) (or saveAsPickleFile)",
    "writeTo": "df.rdd.saveAsTextFile(path)",
    "describe": "df.rdd.map(lambda row: row.x).stats()",
    "summary": "df.rdd.map(lambda row: row.x).stats()",
    "fillna": "df.rdd.map(lambda row: ...)",
    "dropna": "df.rdd.filter(lambda row: None not in row)",
    "na": "df.rdd.map(...) / .filter(...)",
    "createOrReplaceTempView": "keep the RDD in a variable",
    "createTempView": "keep the RDD in a variable",
    "createGlobalTempView": "keep the RDD in a variable",
    "explain": "df.rdd.toDebugString()",
    "isEmpty": "df.rdd.isEmpty()",
}
_DEFAULT_WAY = "work on df.rdd (an RDD of Row) with the RDD API"


class DataFrame:
    """An RDD of Row with a schema.

    >>> df = spark.createDataFrame([("a", 1), ("b", 2)], ["letter", "n"])
    >>> df, df.columns, df.count(), df.first()
    (DataFrame[letter: string, n: bigint], ['letter', 'n'], 2, Row(letter='a', n=1))
    >>> df.show()
    +------+---+
    |letter|  n|
    +------+---+
    |     a|  1|
    |     b|  2|
    +------+---+
    <BLANKLINE>
    >>> df.select("n")
    Traceback (most recent call last):
        ...
    NotImplementedError: DataFrame.select is not available on ember (ember.sql is the entry point of RDD programs, not a DataFrame engine); the RDD way: df.rdd.map(lambda row: (row.a, row.b))
    """

    def __init__(self, rdd: Any, schema: StructType, session: Any):
        self._rdd = rdd
        self._schema = schema
        self.sparkSession = session

    @property
    def rdd(self) -> Any:
        """The rows, as an RDD of ``Row``."""
        return self._rdd

    @property
    def schema(self) -> StructType:
        return self._schema

    @property
    def columns(self) -> list[str]:
        return self._schema.names

    @property
    def dtypes(self) -> list[tuple[str, str]]:
        return [(field.name, field.dataType.simpleString()) for field in self._schema.fields]

    def printSchema(self, level: int | None = None) -> None:
        print(self._schema.treeString())

    def collect(self) -> list[Row]:
        return self._rdd.collect()

    def count(self) -> int:
        return self._rdd.count()

    def take(self, num: int) -> list[Row]:
        return self._rdd.take(num)

    def first(self) -> Row | None:
        """The first row, or None when there is none."""
        rows = self._rdd.take(1)
        return rows[0] if rows else None

    def head(self, n: int | None = None) -> Row | None | list[Row]:
        """``first()`` without ``n``; else the first ``n`` rows."""
        return self.first() if n is None else self.take(n)

    def show(self, n: int = 20, truncate: bool | int = True, vertical: bool = False) -> None:
        """Print the first ``n`` rows as PySpark prints them: a table (cells
        cut to 20 characters, or to ``truncate`` when it is a number; not at
        all when it is False), or one block per row with ``vertical``."""
        if isinstance(truncate, bool):
            width = 20 if truncate else 0
        elif isinstance(truncate, int):
            width = truncate
        else:
            raise TypeError(f"show: truncate must be a bool or an int, got {type(truncate).__name__}")
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"show: n must be an int, got {type(n).__name__}")
        print(show_string(self.columns, self.take(n + 1), n, width, vertical))

    def __repr__(self) -> str:
        fields = ", ".join(f"{f.name}: {f.dataType.simpleString()}" for f in self._schema.fields)
        return f"DataFrame[{fields}]"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        way = _RDD_WAYS.get(name, _DEFAULT_WAY)
        raise NotImplementedError(
            f"DataFrame.{name} is not available on ember (ember.sql is the entry point of RDD "
            f"programs, not a DataFrame engine); the RDD way: {way}")

    def __getitem__(self, item: Any) -> Any:
        raise NotImplementedError(
            f"DataFrame[{item!r}]: column expressions are not available on ember; the RDD way: "
            f"df.rdd.map(lambda row: row[{item!r}])")


# --- show -----------------------------------------------------------------------------


def _double(value: float) -> str:
    """A double as Java prints it (Spark's cells): ``1.0``, ``1.0E20``, ``1.0E-5``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1, value) < 0 else "0.0"
    if 1e-3 <= abs(value) < 1e7:
        text = repr(value)
        if "e" in text:  # repr went scientific where Java does not (rare): plain digits
            text = format(decimal.Decimal(text), "f")
        return text if "." in text else text + ".0"
    sign, digits, exponent = decimal.Decimal(repr(value)).as_tuple()
    digits_text = "".join(map(str, digits)).rstrip("0") or "0"
    power = exponent + len(digits) - 1
    mantissa = digits_text[0] + "." + (digits_text[1:] or "0")
    return f"{'-' if sign else ''}{mantissa}E{power}"


def cell(value: Any) -> str:
    """A value as Spark shows it in a cell."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _double(value)
    if isinstance(value, (bytes, bytearray)):
        return "[" + " ".join(f"{b:02X}" for b in value) + "]"
    if isinstance(value, Row):
        return "{" + ", ".join(cell(v) for v in value) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(cell(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{cell(k)} -> {cell(v)}" for k, v in value.items()) + "}"
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ")
    return str(value)


def _cut(text: str, width: int) -> str:
    if width <= 0 or len(text) <= width:
        return text
    return text[:width] if width < 4 else text[:width - 3] + "..."


def show_string(columns: list[str], rows: list, n: int, truncate: int, vertical: bool) -> str:
    """PySpark's ``show`` text for the first ``n`` of ``rows`` (one more
    than ``n`` rows means there are more)."""
    more = len(rows) > n
    shown = [[_cut(cell(value), truncate) for value in row] for row in rows[:n]]
    names = [_cut(name, truncate) for name in columns]
    lines: list[str] = []
    if vertical:
        if not shown:
            return "(0 rows)"
        name_width = max([3] + [len(name) for name in names])
        data_width = max([3] + [len(value) for row in shown for value in row])
        for index, row in enumerate(shown):
            lines.append(f"-RECORD {index}".ljust(name_width + data_width + 5, "-"))
            lines += [f" {name.ljust(name_width)} | {value.ljust(data_width)} "
                      for name, value in zip(names, row)]
    else:
        widths = [max([3, len(name)] + [len(row[i]) for row in shown])
                  for i, name in enumerate(names)]
        border = "+" + "+".join("-" * w for w in widths) + "+"

        def line(values: list[str]) -> str:
            padded = (v.rjust(w) if truncate > 0 else v.ljust(w) for v, w in zip(values, widths))
            return "|" + "|".join(padded) + "|"

        lines += [border, line(names), border] + [line(row) for row in shown] + [border]
    if more:
        lines.append(f"only showing top {n} {'row' if n == 1 else 'rows'}")
        return "\n".join(lines)
    return "\n".join(lines) + "\n"
