"""``rdd.write``: Spark's DataFrameWriter vocabulary taking an RDD of dicts.

``rdd.write.json(path)``, ``.csv(path, header=...)``, ``.xml(path,
rowTag=..., rootTag=...)``, ``.text(path)``, ``.sql(connect, table,
mode=..., key=...)``, and the builder form
``rdd.write.mode("overwrite").format("csv").option("header", True).save(path)``.

Files: one part file per partition through ``saveAsTextFile``'s output
commit (``ember.engine.io.textfile.TextOutput``: a part is published only
by the attempt the driver lets commit, ``_SUCCESS`` last), local or to a
fsspec URL; ``compression=`` (``none``, ``gzip``, ``bzip2``, ``xz``,
``zstd``, ``lz4``) names the codec and the parts' extension; ``mode=`` is
Spark's save mode (``error``/``errorifexists`` by default, ``overwrite``,
``append``, ``ignore``). Records are dicts (or objects with ``asDict``).

Options by format (Spark's and spark-xml's names and defaults):

* json: ``ignoreNullFields`` (true), ``compression``, ``encoding`` (UTF-8)
* csv: ``header`` (false), ``sep``/``delimiter``, ``quote`` ("), ``escape``
  (\\; ``escape='"'`` writes RFC 4180), ``escapeQuotes`` (true), ``quoteAll``
  (false), ``nullValue`` (""), ``emptyValue`` (``""``),
  ``ignoreLeadingWhiteSpace``/``ignoreTrailingWhiteSpace`` (true when
  writing), ``compression``, ``columns`` (ember's: the column order; default
  the first record's keys); the rules are ``ember.etl.csv_dialect``'s
* xml: ``rowTag`` (ROW), ``rootTag`` (ROWS), ``attributePrefix`` (_),
  ``valueTag`` (_VALUE), ``arrayElementName`` (item), ``nullValue`` (None:
  null fields left out), ``declaration``, ``compression``
* text: ``compression``, ``lineSep``; records are strings or one-field dicts

``partitionBy``, ``bucketBy`` and ``sortBy`` are not supported (an RDD has
no columns to lay out directories by) and say so.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

from ember.engine.io import codecs
from ember.engine.io.textfile import TextOutput
from ember.etl import csv_dialect, csv_format, json_format, xml_format
from ember.etl.options import Options

_FILE = {"compression": None, "mode": None}
JSON_OPTIONS = {**_FILE, "ignoreNullFields": True, "encoding": "utf-8", "lineSep": None}
CSV_OPTIONS = {**_FILE, "header": False, "sep": ",", "delimiter": None, "quote": '"',
               "escape": "\\", "escapeQuotes": True, "nullValue": "", "emptyValue": '""',
               "quoteAll": False, "ignoreLeadingWhiteSpace": True,
               "ignoreTrailingWhiteSpace": True, "columns": None, "encoding": "utf-8"}
XML_OPTIONS = {**_FILE, "rowTag": "ROW", "rootTag": "ROWS", "attributePrefix": "_",
               "valueTag": "_VALUE", "arrayElementName": "item", "nullValue": None,
               "declaration": 'version="1.0" encoding="UTF-8" standalone="yes"', "encoding": "utf-8"}
TEXT_OPTIONS = {**_FILE, "lineSep": None}
SUFFIXES = {"json": ".json", "csv": ".csv", "xml": ".xml", "text": ".txt"}


class RecordOutput(TextOutput):
    """``TextOutput``'s commit protocol writing a format's lines, between an
    optional prologue and epilogue per part file."""

    def __init__(self, path: str, codec: str | None, mode: str, suffix: str, method: str,
                 lines: Callable[[Iterator], Iterator[bytes]], prologue: bytes = b"",
                 epilogue: bytes = b"", joined: bool = False):
        super().__init__(path, codec=codec, mode=mode, suffix=suffix, method=method)
        self.lines = lines
        self.prologue = prologue
        self.epilogue = epilogue
        self.joined = joined  # lines() yields whole chunks ending in newlines

    def write_records(self, sink, iterator: Iterator) -> None:
        from ember.engine import failpoints

        if self.prologue:
            sink.write(self.prologue)
        if self.joined:
            for chunk in self.lines(iterator):
                sink.write(chunk)
                failpoints.point("output.mid_write")
        else:
            batch: list[bytes] = []
            for line in self.lines(iterator):
                batch.append(line)
                if len(batch) >= 4096:
                    sink.write(b"\n".join(batch) + b"\n")
                    batch.clear()
                    failpoints.point("output.mid_write")
            if batch:
                sink.write(b"\n".join(batch) + b"\n")
        if self.epilogue:
            sink.write(self.epilogue)


def _text_lines(records: Iterator[Any]) -> Iterator[bytes]:
    for record in records:
        if isinstance(record, dict):
            if len(record) != 1:
                raise ValueError(f"rdd.write.text: a dict record must have one field (Spark's "
                                 f"text source writes a single string column), got "
                                 f"{sorted(record)}")
            record = next(iter(record.values()))
        if not isinstance(record, str):
            raise TypeError(f"rdd.write.text: records must be strings or one-field dicts, got "
                            f"{type(record).__name__} {record!r}")
        yield record.encode("utf-8")


class DataWriter:
    """Writes one RDD; each ``rdd.write`` is a new writer, as in Spark."""

    def __init__(self, rdd: Any):
        self._rdd = rdd
        self._mode: str | None = None
        self._format: str | None = None
        self._options: dict[str, Any] = {}

    def mode(self, saveMode: str | None) -> "DataWriter":
        self._mode = saveMode
        return self

    def format(self, source: str) -> "DataWriter":
        if str(source).lower() not in SUFFIXES:
            raise ValueError(f"rdd.write.format: unknown format {source!r}; accepted: "
                             f"{', '.join(SUFFIXES)} (and rdd.write.sql for databases)")
        self._format = str(source).lower()
        return self

    def option(self, key: str, value: Any) -> "DataWriter":
        self._options[key] = value
        return self

    def options(self, **options: Any) -> "DataWriter":
        self._options.update(options)
        return self

    def partitionBy(self, *cols: Any) -> "DataWriter":
        raise NotImplementedError("rdd.write.partitionBy: not supported for RDDs of dicts "
                                  "(write each group with its own path instead)")

    def bucketBy(self, *args: Any, **kwargs: Any) -> "DataWriter":
        raise NotImplementedError("rdd.write.bucketBy: not supported for RDDs of dicts")

    def sortBy(self, *args: Any, **kwargs: Any) -> "DataWriter":
        raise NotImplementedError("rdd.write.sortBy: not supported for RDDs of dicts")

    def save(self, path: str | None = None, format: str | None = None, mode: str | None = None,
             **options: Any) -> None:
        if format is not None:
            self.format(format)
        if self._format is None:
            raise ValueError("rdd.write.save: no format given (format('json'|'csv'|'xml'|'text'))")
        if path is None:
            raise ValueError("rdd.write.save: no path given")
        getattr(self, self._format)(path, mode=mode, **options)

    def _opts(self, method: str, accepted: dict, options: dict) -> Options:
        merged = dict(self._options)
        merged.update({key: value for key, value in options.items() if value is not None})
        if merged.get("mode") is None and self._mode is not None:
            merged["mode"] = self._mode
        return Options(method, accepted, merged)

    def _write(self, path: str, opts: Options, kind: str, lines: Callable, prologue: bytes = b"",
               epilogue: bytes = b"", joined: bool = False) -> None:
        method = f"rdd.write.{kind}"
        encoding = opts.get("encoding") if "encoding" in opts.names else "utf-8"
        if str(encoding).lower().replace("_", "-") not in ("utf-8", "utf8"):
            raise ValueError(f"{method}: encoding {encoding!r} is not supported; ember writes UTF-8")
        codec = codecs.codec_by_name(method, opts.get("compression"))
        output = RecordOutput(path, codec, opts.get("mode") or "error", SUFFIXES[kind], method,
                              lines, prologue, epilogue, joined)
        self._rdd._write_output(output)

    def json(self, path: str, mode: str | None = None, compression: str | None = None,
             **options: Any) -> None:
        opts = self._opts("rdd.write.json", JSON_OPTIONS,
                          {"mode": mode, "compression": compression, **options})
        formatter = json_format.JsonFormatter(opts.bool("ignoreNullFields"))
        self._write(path, opts, "json", formatter.lines)

    def csv(self, path: str, mode: str | None = None, compression: str | None = None,
            **options: Any) -> None:
        opts = self._opts("rdd.write.csv", CSV_OPTIONS,
                          {"mode": mode, "compression": compression, **options})
        sep = opts.get("delimiter") if opts.get("delimiter") is not None else opts.get("sep")
        fields = csv_dialect.FieldWriter(
            sep, opts.get("quote"), opts.get("escape"), opts.bool("escapeQuotes"),
            opts.bool("quoteAll"), opts.str("nullValue") or "", opts.str("emptyValue") or "",
            opts.bool("ignoreLeadingWhiteSpace"), opts.bool("ignoreTrailingWhiteSpace"))
        columns = opts.get("columns")
        if columns is None:
            first = self._rdd.take(1)
            columns = list(json_format._as_record(first[0], "csv")) if first else []
        formatter = csv_format.CsvFormatter(list(columns), fields)
        header = formatter.header_line() if opts.bool("header") and columns else b""
        self._write(path, opts, "csv", formatter.chunks, prologue=header, joined=True)

    def xml(self, path: str, rowTag: str | None = None, rootTag: str | None = None,
            mode: str | None = None, compression: str | None = None, **options: Any) -> None:
        opts = self._opts("rdd.write.xml", XML_OPTIONS,
                          {"rowTag": rowTag, "rootTag": rootTag, "mode": mode,
                           "compression": compression, **options})
        formatter = xml_format.XmlFormatter(
            opts.str("rowTag"), opts.str("rootTag"), opts.str("attributePrefix") or "",
            opts.str("valueTag"), opts.str("arrayElementName"), opts.str("nullValue"),
            opts.str("declaration") or "")
        self._write(path, opts, "xml", formatter.lines, formatter.prologue(),
                    formatter.epilogue())

    def text(self, path: str, compression: str | None = None, lineSep: str | None = None,
             mode: str | None = None, **options: Any) -> None:
        opts = self._opts("rdd.write.text", TEXT_OPTIONS,
                          {"compression": compression, "lineSep": lineSep, "mode": mode, **options})
        if opts.get("lineSep") not in (None, "\n"):
            raise ValueError(f"rdd.write.text: lineSep {opts.get('lineSep')!r} is not supported")
        self._write(path, opts, "text", _text_lines)

    def sql(self, connect: Callable[[], Any], table: str, mode: str = "append",
            key: list[str] | str | None = None, batchsize: int = 1000) -> None:
        """Store every row exactly once in ``table`` (``ember.etl.sql``)."""
        from ember.etl import sql

        sql.write(self._rdd, connect, table, mode, key, batchsize)
