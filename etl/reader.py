"""``sc.read``: Spark's DataFrameReader vocabulary on a Context, returning
RDDs of dicts.

``sc.read.json(path, ...)``, ``.csv(...)``, ``.xml(path, rowTag=...)``,
``.text(path)``, ``.sql(connect, table_or_query, ...)``, and the builder
form ``sc.read.format("csv").option("header", True).schema(...).load(path)``.
A path is what ``textFile`` takes (a file, directory, glob, comma-separated
list, local or a fsspec URL), or a list of those. Each call returns a new
RDD; nothing is read until an action, except what a format must know up
front (the CSV header's names, and with ``inferSchema`` one small job over
a sample of each split).

Options, by format (Spark's names and defaults; see each format's module):

* json: ``mode``, ``columnNameOfCorruptRecord``, ``multiLine``,
  ``primitivesAsString``, ``encoding``, ``schema``
* csv: ``sep``/``delimiter``, ``quote``, ``escape``, ``header``,
  ``nullValue``, ``inferSchema``, ``samplingRatio``, ``comment``,
  ``ignoreLeadingWhiteSpace``, ``ignoreTrailingWhiteSpace``, ``multiLine``,
  ``mode``, ``columnNameOfCorruptRecord``, ``encoding``, ``schema``
* xml: ``rowTag``, ``attributePrefix``, ``valueTag``, ``inferSchema``,
  ``excludeAttribute``, ``ignoreSurroundingSpaces``, ``nullValue``,
  ``mode``, ``columnNameOfCorruptRecord``, ``charset``, ``schema``
* text: ``wholetext``, ``lineSep`` (records are ``{"value": line}``)

and ``minPartitions`` (ember's: as ``textFile``'s) for every file format.
"""

from __future__ import annotations

from typing import Any, Callable

from ember.engine.api.callsite import user_callsite
from ember.etl import csv_dialect, csv_format, json_format, parse_modes, xml_format
from ember.etl.options import Options
from ember.etl.rdds import RecordFileRDD
from ember.etl.schema import Schema, infer_value, merge_types, parse_schema

_COMMON = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": parse_modes.CORRUPT_RECORD,
           "minPartitions": None}
JSON_OPTIONS = {**_COMMON, "multiLine": False, "primitivesAsString": False,
                "encoding": "utf-8", "lineSep": None}
CSV_OPTIONS = {**_COMMON, "sep": ",", "delimiter": None, "quote": '"', "escape": "\\",
               "header": False, "nullValue": "", "inferSchema": False, "samplingRatio": 1.0,
               "comment": None, "ignoreLeadingWhiteSpace": False,
               "ignoreTrailingWhiteSpace": False, "multiLine": False, "encoding": "utf-8",
               "enforceSchema": True}
XML_OPTIONS = {**_COMMON, "rowTag": "ROW", "attributePrefix": "_", "valueTag": "_VALUE",
               "inferSchema": True, "excludeAttribute": False, "ignoreSurroundingSpaces": False,
               "nullValue": None, "charset": "utf-8"}
TEXT_OPTIONS = {"wholetext": False, "lineSep": None, "minPartitions": None}
FORMATS = ("json", "csv", "xml", "text")
SAMPLE_ROWS = 1000  # per split, for inferSchema


def _paths(path: Any) -> str:
    if isinstance(path, (list, tuple)):
        if not path:
            raise ValueError("sc.read: no path given (an empty list)")
        return ",".join(str(item) for item in path)
    if not isinstance(path, str) or not path.strip():
        raise ValueError(f"sc.read: path must be a non-empty string or a list of them, "
                         f"got {path!r}")
    return path


def _utf8(method: str, options: Options, name: str) -> None:
    encoding = str(options.get(name)).lower().replace("_", "-")
    if encoding not in ("utf-8", "utf8"):
        raise ValueError(f"{method}: {name} {options.get(name)!r} is not supported; "
                         f"ember reads UTF-8 files only")


class DataReader:
    """Builds record RDDs; each ``sc.read`` is a new reader, as in Spark."""

    def __init__(self, ctx: Any):
        self._ctx = ctx
        self._format: str | None = None
        self._options: dict[str, Any] = {}
        self._schema: Any = None

    # --- the builder --------------------------------------------------------------

    def format(self, source: str) -> "DataReader":
        if str(source).lower() not in FORMATS:
            raise ValueError(f"sc.read.format: unknown format {source!r}; accepted: "
                             f"{', '.join(FORMATS)} (and sc.read.sql for databases)")
        self._format = str(source).lower()
        return self

    def option(self, key: str, value: Any) -> "DataReader":
        self._options[key] = value
        return self

    def options(self, **options: Any) -> "DataReader":
        self._options.update(options)
        return self

    def schema(self, schema: Any) -> "DataReader":
        self._schema = parse_schema(schema)
        return self

    def load(self, path: Any = None, format: str | None = None, schema: Any = None,
             **options: Any) -> Any:
        if format is not None:
            self.format(format)
        if self._format is None:
            raise ValueError("sc.read.load: no format given (format('json'|'csv'|'xml'|'text'))")
        if path is None:
            raise ValueError("sc.read.load: no path given")
        return getattr(self, self._format)(path, schema=schema, **options) \
            if self._format != "text" else self.text(path, **options)

    def _merged(self, options: dict[str, Any]) -> dict[str, Any]:
        merged = dict(self._options)
        merged.update({key: value for key, value in options.items() if value is not None})
        return merged

    def _rdd(self, path: str, parser: Any, options: Options, op: str) -> Any:
        ctx = self._ctx
        ctx._check_running()
        minimum = options.get("minPartitions")
        partitions = ctx.defaultMinPartitions if minimum is None else options.int("minPartitions")
        return RecordFileRDD(ctx, path, parser, partitions, op, user_callsite(3)).setName(path)

    # --- formats ------------------------------------------------------------------

    def json(self, path: Any, schema: Any = None, **options: Any) -> Any:
        """JSON lines (or ``multiLine`` documents) as an RDD of dicts."""
        path = _paths(path)
        opts = Options("sc.read.json", JSON_OPTIONS, self._merged(options))
        _utf8("sc.read.json", opts, "encoding")
        if opts.get("lineSep") not in (None, "\n", "\r\n"):
            raise ValueError(f"sc.read.json: lineSep {opts.get('lineSep')!r} is not supported; "
                             f"lines end at \\n (a \\r before it is dropped)")
        parser = json_format.JsonParser(
            parse_modes.parse_mode(opts.get("mode")), opts.str("columnNameOfCorruptRecord"),
            opts.bool("multiLine"), opts.bool("primitivesAsString"),
            parse_schema(schema) or self._schema)
        return self._rdd(path, parser, opts, "read.json")

    def csv(self, path: Any, schema: Any = None, **options: Any) -> Any:
        """CSV lines (or ``multiLine`` files) as an RDD of dicts."""
        from ember.engine.io import filesystem

        path = _paths(path)
        opts = Options("sc.read.csv", CSV_OPTIONS, self._merged(options))
        _utf8("sc.read.csv", opts, "encoding")
        sep = opts.get("delimiter") if opts.get("delimiter") is not None else opts.get("sep")
        dialect = csv_dialect.Dialect(sep, opts.get("quote"), opts.get("escape"),
                                     opts.bool("ignoreLeadingWhiteSpace"),
                                     opts.bool("ignoreTrailingWhiteSpace"))
        header = opts.bool("header")
        mode = parse_modes.parse_mode(opts.get("mode"))
        given = parse_schema(schema) or self._schema
        if given is None:
            files = filesystem.list_files(path)
            fields = csv_format.header_fields(files[0], dialect) if files else None
            fields = fields or []
            names = fields if header else [f"_c{i}" for i in range(len(fields))]
            names = [name if name else f"_c{i}" for i, name in enumerate(names)]
            given = Schema((name, "string") for name in names)
            infer = opts.bool("inferSchema")
        else:
            infer = False
        comment = opts.get("comment") or None
        parser = csv_format.CsvParser(dialect, given, header, opts.get("nullValue"), mode,
                                      opts.str("columnNameOfCorruptRecord"),
                                      opts.bool("multiLine"), comment)
        if infer and given.names:
            parser.schema = self._infer_csv(path, parser, opts)
        return self._rdd(path, parser, opts, "read.csv")

    def _infer_csv(self, path: str, parser: Any, opts: Options) -> Schema:
        """Types from the first rows of each split (one small job), Spark's ladder."""
        sampler = csv_format.CsvParser(parser.dialect, parser.schema, parser.header,
                                       parser.null_value, parse_modes.DROPMALFORMED,
                                       parser.corrupt_column, parser.multi_line, parser.comment)
        names = parser.schema.names
        rdd = self._rdd(path, sampler, opts, "read.csv (inferSchema)")

        def sample(records):
            kinds = ["null"] * len(names)
            for count, record in enumerate(records):
                if count >= SAMPLE_ROWS:
                    break
                for i, name in enumerate(names):
                    value = record[name]
                    if value is not None:
                        kinds[i] = merge_types(kinds[i], infer_value(value))
            yield kinds

        kinds = ["null"] * len(names)
        for partial in rdd.mapPartitions(sample).collect():
            kinds = [merge_types(a, b) for a, b in zip(kinds, partial)]
        return Schema((name, "string" if kind == "null" else kind)
                      for name, kind in zip(names, kinds))

    def xml(self, path: Any, rowTag: str | None = None, schema: Any = None, **options: Any) -> Any:
        """The ``rowTag`` elements of XML files as an RDD of dicts."""
        path = _paths(path)
        if rowTag is not None:
            options["rowTag"] = rowTag
        opts = Options("sc.read.xml", XML_OPTIONS, self._merged(options))
        _utf8("sc.read.xml", opts, "charset")
        row_tag = opts.str("rowTag")
        if not row_tag or any(char in row_tag for char in "<>/ \t\r\n\"'"):
            raise ValueError(f"sc.read.xml: rowTag must be an element name, got {row_tag!r}")
        parser = xml_format.XmlParser(
            row_tag, opts.str("attributePrefix") or "", opts.str("valueTag"),
            parse_modes.parse_mode(opts.get("mode")), opts.str("columnNameOfCorruptRecord"),
            opts.bool("inferSchema"), opts.bool("excludeAttribute"),
            opts.bool("ignoreSurroundingSpaces"), opts.str("nullValue"),
            parse_schema(schema) or self._schema)
        return self._rdd(path, parser, opts, "read.xml")

    def text(self, paths: Any, wholetext: bool = False, lineSep: str | None = None,
             **options: Any) -> Any:
        """Lines as ``{"value": line}`` records (``wholetext``: one per file)."""
        path = _paths(paths)
        opts = Options("sc.read.text", TEXT_OPTIONS,
                       self._merged({"wholetext": wholetext, "lineSep": lineSep, **options}))
        if opts.get("lineSep") not in (None, "\n", "\r\n"):
            raise ValueError(f"sc.read.text: lineSep {opts.get('lineSep')!r} is not supported")
        ctx = self._ctx
        minimum = opts.get("minPartitions")
        partitions = None if minimum is None else opts.int("minPartitions")
        if opts.bool("wholetext"):
            return ctx.wholeTextFiles(path, partitions).map(_whole_value)
        return ctx.textFile(path, partitions).map(_line_value)

    # --- databases ----------------------------------------------------------------

    def sql(self, connect: Callable[[], Any], table: str, column: str | None = None,
            lowerBound: Any = None, upperBound: Any = None, numPartitions: int | None = None,
            predicates: list[str] | None = None, fetchsize: int = 1000) -> Any:
        """Spark's JDBC source over a DB-API connection (``ember.etl.sql``)."""
        from ember.etl import sql

        self._ctx._check_running()
        return sql.read(self._ctx, connect, table, column, lowerBound, upperBound,
                        numPartitions, predicates, fetchsize, user_callsite(2))


def _line_value(line: str) -> dict:
    return {"value": line}


def _whole_value(pair: tuple) -> dict:
    return {"value": pair[1]}
