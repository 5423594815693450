"""``spark.read``: the reading path RDD programs take (``DataFrameReader``).

``text(paths, wholetext=False, lineSep=None)`` gives a DataFrame of one
string column, ``value``, whose ``.rdd`` holds ``Row(value=...)``:

* by default one row per line, read by ``sc.textFile`` (Hadoop's splits;
  lines end at ``\\n`` or ``\\r\\n``; ``.gz``/``.bz2`` files read whole);
* ``wholetext=True``: one row per file, its whole content
  (``sc.wholeTextFiles``);
* ``lineSep``: rows are what lies between occurrences of that separator
  (a trailing one makes no empty row), one partition per file, each file
  read as a stream.

``format("text").load(path)`` is the same. Every other source (csv, json,
parquet, orc, jdbc, tables) raises NotImplementedError naming the RDD way.

Must not know: how RDDs are computed.
"""

from __future__ import annotations

import bz2
import gzip
import os
from typing import Any, Iterator

from ember.engine.io.textfile import list_input_files
from ember.sql.dataframe import DataFrame
from ember.sql.types import StringType, StructField, StructType, _create_row

_VALUE = ["value"]  # one list shared by every row of a text DataFrame
TEXT_SCHEMA = StructType([StructField("value", StringType(), True)])
_CHUNK = 1 << 20
_OPENERS = {".gz": gzip.open, ".bz2": bz2.open}

_RDD_WAYS = {
    "csv": "sc.textFile(path).mapPartitions(lambda lines: csv.reader(lines))",
    "json": "sc.textFile(path).map(json.loads)",
    "parquet": "read the files in tasks with a parquet library (sc.binaryFiles(path))",
    "orc": "read the files in tasks with an ORC library (sc.binaryFiles(path))",
    "jdbc": "query the database in tasks (sc.parallelize(ranges).flatMap(fetch_rows))",
    "table": "keep the RDD in a variable",
}


def value_row(text: str) -> Any:
    return _create_row(_VALUE, (text,))


def _whole_value(record: tuple) -> Any:
    return _create_row(_VALUE, (record[1],))


class SeparatedLines:
    """The pieces of one file between occurrences of ``separator``, read
    ``_CHUNK`` bytes at a time (so a file need not fit in memory)."""

    def __init__(self, separator: str):
        if not isinstance(separator, str) or not separator:
            raise ValueError(f"text: lineSep must be a non-empty string, got {separator!r}")
        self.separator = separator.encode("utf-8")

    def __call__(self, path: str) -> Iterator[Any]:
        opener = _OPENERS.get(os.path.splitext(path)[1], open)
        carry = b""
        with opener(path, "rb") as stream:
            while True:
                chunk = stream.read(_CHUNK)
                if not chunk:
                    break
                pieces = (carry + chunk).split(self.separator)
                carry = pieces.pop()
                for piece in pieces:
                    yield value_row(piece.decode("utf-8"))
        if carry:
            yield value_row(carry.decode("utf-8"))


class DataFrameReader:
    def __init__(self, session: Any):
        self._session = session
        self._format = "text"
        self._options: dict[str, Any] = {}

    def format(self, source: str) -> "DataFrameReader":
        self._format = str(source).lower()
        return self

    def option(self, key: str, value: Any) -> "DataFrameReader":
        self._options[str(key)] = value
        return self

    def options(self, **options: Any) -> "DataFrameReader":
        self._options.update(options)
        return self

    def schema(self, schema: Any) -> "DataFrameReader":
        raise NotImplementedError(
            "DataFrameReader.schema is not available on ember: text sources have the one "
            "column 'value'; parse the lines on the RDD (spark.read.text(path).rdd.map(...))")

    def load(self, path: str | list[str] | None = None, format: str | None = None,
             schema: Any = None, **options: Any) -> DataFrame:
        source = (format or self._format).lower()
        if source != "text":
            self._unsupported(source)
        if schema is not None:
            self.schema(schema)
        settings = {**self._options, **options}
        if path is None:
            path = settings.pop("path", None)
        if path is None:
            raise ValueError("load: no path given (load(path) or option('path', ...))")
        return self.text(path, wholetext=_flag(settings.get("wholetext", False)),
                         lineSep=settings.get("lineSep"))

    def text(self, paths: str | list[str], wholetext: bool = False, lineSep: str | None = None,
             pathGlobFilter: Any = None, recursiveFileLookup: Any = None,
             modifiedBefore: Any = None, modifiedAfter: Any = None) -> DataFrame:
        """A DataFrame with one string column, ``value``: one row per line
        of the files (``paths``: a path or a list of them; directories and
        globs as for ``sc.textFile``), per file with ``wholetext``, or per
        piece between ``lineSep`` separators.

        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "words.txt")
        >>> with open(path, "w") as f:
        ...     _ = f.write("a b\\nc\\n")
        >>> df = spark.read.text(path)
        >>> df.collect(), df.rdd.map(lambda r: r[0]).collect()
        ([Row(value='a b'), Row(value='c')], ['a b', 'c'])
        >>> spark.read.text(path, lineSep=" ").collect()
        [Row(value='a'), Row(value='b\\nc\\n')]
        """
        for name, given in (("pathGlobFilter", pathGlobFilter),
                            ("recursiveFileLookup", recursiveFileLookup),
                            ("modifiedBefore", modifiedBefore), ("modifiedAfter", modifiedAfter)):
            if given is not None:
                raise NotImplementedError(
                    f"text({name}=...) is not available on ember; name the files in paths "
                    f"(globs and comma-separated lists work as in sc.textFile)")
        if isinstance(paths, str):
            paths = [paths]
        paths = list(paths)
        if not paths or not all(isinstance(p, str) and p.strip() for p in paths):
            raise ValueError(f"text: paths must be a non-empty path or list of paths, got {paths!r}")
        sc = self._session.sparkContext
        joined = ",".join(paths)
        if wholetext:
            rdd = sc.wholeTextFiles(joined).map(_whole_value)
        elif lineSep is not None:
            splitter = SeparatedLines(lineSep)
            files = list_input_files(joined)
            rdd = sc.parallelize(files, max(1, len(files))).flatMap(splitter)
        else:
            rdd = sc.textFile(joined).map(value_row)
        return DataFrame(rdd, TEXT_SCHEMA, self._session)

    def _unsupported(self, source: str) -> None:
        way = _RDD_WAYS.get(source, "read the files with sc.textFile or sc.binaryFiles")
        raise NotImplementedError(
            f"DataFrameReader: the {source!r} source is not available on ember (only 'text'); "
            f"the RDD way: {way}")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in _RDD_WAYS:
            def unsupported(*args: Any, **kwargs: Any) -> Any:
                self._unsupported(name)
            return unsupported
        raise NotImplementedError(
            f"DataFrameReader.{name} is not available on ember; read with "
            f"spark.read.text(path) or sc.textFile(path)")


def _flag(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).strip().lower() == "true"
