"""CSV records, with Spark's CSV options.

Reading (options by Spark's names and defaults): ``sep`` (``,``; alias
``delimiter``), ``quote`` (``"``), ``escape`` (``\\``: Spark's rules,
``ember.etl.csv_dialect``; ``escape='"'`` reads RFC 4180; a doubled quote
inside a quoted field is read as one quote either way), ``header`` (false:
columns are ``_c0``, ``_c1``, ...; true: the first line of every file is the
header, names taken from the first file's), ``nullValue`` (``""``: a field
equal to it is None), ``inferSchema`` (false: every value a string; true:
types inferred from a sample, ``ember.etl.schema``), ``schema`` (names and
types given; it wins over the header, as with Spark's ``enforceSchema``),
``comment`` (a line starting with it is skipped; off by default),
``ignoreLeadingWhiteSpace``/``ignoreTrailingWhiteSpace`` (false),
``multiLine`` (false: one record per line, files split at line
boundaries; true: quoted fields may hold line breaks, files read whole),
``mode`` and ``columnNameOfCorruptRecord`` (``ember.etl.parse_modes``),
``encoding`` (UTF-8 only). Blank lines are skipped.

Bad records: another number of fields than the columns, a quote left open
at the end of the line, text after a closing quote, bytes that are not
UTF-8, a value the schema's type refuses. PERMISSIVE keeps the fields that
were read (the rest None) with the raw line under the corrupt-record column.

Writing: ``header`` (false), ``sep``, ``quote``, ``escape``, ``escapeQuotes``,
``quoteAll``, ``nullValue``, ``emptyValue``, ``ignoreLeadingWhiteSpace`` and
``ignoreTrailingWhiteSpace``, with Spark's writer defaults and rules
(``ember.etl.csv_dialect.FieldWriter``: a quote inside a quoted field is
written ``\\"``; ``escape='"'`` doubles it, RFC 4180). Columns are the keys
of the RDD's first record (or ``columns=``), in that order; a record with
other keys is refused naming them, a missing key is null.

Must not know: splits beyond ``ember.etl.lines``, the commit protocol.
"""

from __future__ import annotations

import csv
import io
from itertools import chain, repeat
from typing import Any, Callable, Iterator

from ember.etl.csv_dialect import Dialect, FieldWriter, UnclosedQuote
from ember.etl.lines import line_chunks, split_lines, split_text
from ember.etl.parse_modes import FailureSafe
from ember.etl.schema import Schema, convert_texts
from ember.engine.io import filesystem


def header_fields(path: str, dialect: Dialect) -> list[str] | None:
    """The fields of the first non-blank line of a file (None: no line)."""
    for _, data in line_chunks(path, 0, 0, True):
        for line in split_lines(data):
            if line.strip():
                return dialect.split_line(line.decode("utf-8", "replace"))
    return None


BATCH = 1024  # lines parsed as one batch: small enough to stay in the CPU's caches
_ASCII_SPACE = " \t\n\r\x0b\x0c"  # what bytes.strip() strips


def record_maker(names: list[str]) -> Callable[..., dict]:
    """A function of one value per column that returns the record: a dict
    display over the names, built once per split. ``map(make, *columns)``
    makes a batch's dicts without the per-row zip of ``dict(zip(names,
    values))`` (about a third of the reading time). The generated source
    holds only parameter names; the column names are bound as a closure."""
    keys = ", ".join(f"_k{index}" for index in range(len(names)))
    values = ", ".join(f"_{index}" for index in range(len(names)))
    items = ", ".join(f"_k{index}: _{index}" for index in range(len(names)))
    namespace: dict[str, Any] = {}
    exec(f"def maker({keys}):\n    return lambda {values}: {{{items}}}\n", namespace)
    return namespace["maker"](*names)


class CsvParser:
    """Reads the records of one split (picklable: it travels in the RDD).

    Lines are parsed a batch at a time, with the loops in C: the batch is
    cut into columns (when its chunk holds no quote, escape or stray carriage
    return, the lines are joined and split on the separator once and each
    column is a slice; otherwise the csv module's reader, or with Spark's
    escapes present ``Dialect.split_line``, cuts the rows and ``zip`` turns
    them into columns), each column is converted at once
    (``schema.convert_texts``) and ``map`` builds the dicts
    (``record_maker``). A batch with anything irregular (blank and comment
    lines aside: another number of fields, a quote left open, a value its
    type refuses) is parsed again line by line (``_rows``), which gives the
    same records for its good lines and applies the parse mode to the bad
    ones. The records are handed out by ``chain``, no generator step per
    record. On the benchmark's file (CPU time of one worker's half, typed
    columns): 0.87 µs per record, down from 2.65 line by line; making the
    dicts alone is about 0.32 of it."""

    format_name = "CSV"

    def __init__(self, dialect: Dialect, schema: Schema, header: bool, null_value: str | None,
                 mode: str, corrupt_column: str, multi_line: bool, comment: str | None):
        self.dialect = dialect
        self.schema = schema
        self.header = header
        self.null_value = null_value
        self.mode = mode
        self.corrupt_column = corrupt_column
        self.multi_line = multi_line
        self.comment = comment

    @property
    def splittable(self) -> bool:
        return not self.multi_line

    def __call__(self, path: str, start: int, length: int, whole_file: bool) -> Iterator[dict]:
        safe = FailureSafe(self.mode, self.corrupt_column, path, self.format_name)
        if self.multi_line:
            return self._multi_line(path, safe)
        return chain.from_iterable(self._batches(path, start, length, whole_file, safe))

    def _batches(self, path: str, start: int, length: int, whole_file: bool,
                 safe: FailureSafe) -> Iterator[list]:
        skip_header = self.header and (start == 0 or whole_file)
        make = record_maker(self.schema.names) if self.schema.names else None
        for base, data in line_chunks(path, start, length, whole_file):
            decoded = split_text(data)
            lines = split_lines(data) if decoded is None else None  # the raw lines, if needed
            first = 0
            if skip_header:
                first = self._first_nonblank(lines if decoded is None else decoded[1])
                if first is None:
                    continue
                skip_header = False
                first += 1
            if decoded is None:  # some line is not UTF-8: go line by line
                yield list(self._rows(lines, None, first, len(lines), base, data, safe))
                continue
            text, text_lines = decoded
            cut = self._cut(text, text_lines)
            for low in range(first, len(text_lines), BATCH):
                high = min(low + BATCH, len(text_lines))
                batch = self._batch(text_lines[low:high], cut, make) if make else None
                if batch is None:
                    if lines is None:
                        lines = split_lines(data)
                    batch = list(self._rows(lines, text_lines, low, high, base, data, safe))
                yield batch

    @staticmethod
    def _first_nonblank(lines: list) -> int | None:
        for index, line in enumerate(lines):
            if line.strip(_ASCII_SPACE if isinstance(line, str) else None):
                return index
        return None

    def _cut(self, text: str, text_lines: list[str]) -> str:
        """How the chunk's lines are cut into fields: ``split`` when the csv
        module's reader would cut every line exactly where ``str.split(sep)``
        does (no quote, escape or carriage return, no leading spaces to skip,
        no field over the csv module's size limit, a comment prefix that is
        a prefix of the first field); else ``reader`` (the csv module's) or,
        with Spark's escapes present, ``lines`` (``Dialect.split_line``)."""
        dialect = self.dialect
        if dialect.scanned and dialect.escape in text:
            return "lines"
        if ((dialect.quote is not None and dialect.quote in text)
                or (dialect.escape is not None and dialect.escape in text)
                or (self.comment is not None and dialect.sep in self.comment)
                or "\r" in text or "\0" in text or dialect.ignore_leading
                or max(map(len, text_lines), default=0) > csv.field_size_limit()):
            return "reader"
        return "split"

    def _batch(self, text_lines: list[str], cut: str, make: Callable[..., dict]
               ) -> list[dict] | None:
        """The records of a batch of lines, or None if any line needs ``_rows``."""
        schema = self.schema
        width = len(schema.names)
        comment = self.comment
        if cut == "split":
            if "" in text_lines:
                text_lines = list(filter(None, text_lines))  # blank lines
            if comment is not None:
                text_lines = [line for line in text_lines if not line.startswith(comment)]
            if not text_lines:
                return []
            sep = self.dialect.sep
            if set(map(str.count, text_lines, repeat(sep))) != {width - 1}:
                return None
            # Every line has its width: the fields of all of them, in one list,
            # and each column a slice of it.
            fields = sep.join(text_lines).split(sep)
            columns = [fields[index::width] for index in range(width)]
        else:
            try:
                if cut == "reader":
                    rows = list(self.dialect.reader(text_lines))
                else:
                    rows = list(map(self.dialect.split_line, text_lines))
            except csv.Error:
                return None
            if len(rows) != len(text_lines):
                return None  # a quoted field ran over the end of its line
            if [] in rows:
                rows = list(filter(None, rows))  # blank lines
            if comment is not None:
                rows = [row for row in rows if not row[0].startswith(comment)]
            if not rows:
                return []
            if set(map(len, rows)) != {width}:
                return None
            columns = list(zip(*rows))
        null = self.null_value
        trailing = self.dialect.ignore_trailing
        nulls = {null: None}
        for index, kind in enumerate(schema.types):
            column = columns[index]
            if trailing:
                column = list(map(str.rstrip, column))
            if null is not None and null in column:
                column = list(map(nulls.get, column, column))
                if kind != "string":
                    try:
                        converted = iter(convert_texts(
                            kind, [value for value in column if value is not None]))
                    except (ValueError, TypeError):
                        return None
                    column = [None if value is None else next(converted) for value in column]
            elif kind != "string":
                try:
                    column = convert_texts(kind, column)
                except (ValueError, TypeError):
                    return None
            columns[index] = column
        return list(map(make, *columns))

    def _rows(self, lines: list[bytes], text_lines: list[str] | None, first: int, end: int,
              base: int, data: bytes, safe: FailureSafe) -> Iterator[dict]:
        """The records of the lines ``first:end``, one line at a time, bad ones
        given to the parse mode (``text_lines`` None: the chunk is not all
        UTF-8, each line is decoded alone)."""
        split_line = self.dialect.split_line
        for index in range(first, end):
            if text_lines is not None:
                text = text_lines[index]
            else:
                try:
                    text = lines[index].decode("utf-8")
                except UnicodeDecodeError as error:
                    record = safe.bad(lines[index], (base, data, index),
                                      f"not valid UTF-8 ({error.reason} at byte {error.start})")
                    if record is not None:
                        yield record
                    continue
            try:
                row = split_line(text)
            except UnclosedQuote:
                # Without multiLine a record is one line, so this line is bad.
                record = safe.bad(lines[index], (base, data, index),
                                  "a quoted field is not closed on its line (multiLine is off)")
            except csv.Error as error:
                record = safe.bad(lines[index], (base, data, index), f"not valid CSV ({error})")
            else:
                record = self._record(row, lines, index, base, data, safe)
            if record is not None:
                yield record

    def _record(self, row: list[str], lines: list[bytes], index: int, base: int, data: bytes,
                safe: FailureSafe) -> dict | None:
        if not row:
            return None  # a blank line
        if self.comment is not None and row[0].startswith(self.comment):
            return None
        schema = self.schema
        names = schema.names
        if self.dialect.ignore_trailing:
            row = [field.rstrip() for field in row]
        null = self.null_value
        if null is not None and null in row:
            row = [None if field == null else field for field in row]
        if len(row) != len(names):
            partial = {}
            for name, convert, field in zip(names, schema.converters, row):
                try:
                    partial[name] = None if field is None else convert(field)
                except (ValueError, TypeError):
                    partial[name] = None
            for name in names[len(row):]:
                partial[name] = None
            return safe.bad(lines[index], (base, data, index),
                            f"{len(row)} fields where the {'schema' if schema else 'header'} "
                            f"has {len(names)} columns", partial)
        if schema.all_strings:
            return dict(zip(names, row))
        values = []
        for name, convert, field in zip(names, schema.converters, row):
            if field is not None:
                try:
                    field = convert(field)
                except (ValueError, TypeError) as error:
                    partial = dict(zip(names, values))
                    for rest in names[len(values):]:
                        partial[rest] = None
                    return safe.bad(lines[index], (base, data, index),
                                    f"column {name!r}: {error}", partial)
            values.append(field)
        return dict(zip(names, values))

    def _multi_line(self, path: str, safe: FailureSafe) -> Iterator[dict]:
        with filesystem.open_input(path) as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            records = self.dialect.records(text)
            skip = self.header
            while True:
                try:
                    line, row = next(records)
                except StopIteration:
                    return
                except (csv.Error, UnicodeDecodeError) as error:
                    bad = safe.bad(b"", None, f"not valid CSV ({error})", count_lines=False)
                    if bad is not None:
                        yield bad
                    return
                if skip and row:
                    skip = False
                    continue
                raw_row = self.dialect.sep.join(row).encode("utf-8")
                record = self._record(row, [raw_row], 0, 0, raw_row, _AtLine(safe, line))
                if record is not None:
                    yield record


class _AtLine:
    """A FailureSafe for multi-line records: the line is known, the offset not."""

    def __init__(self, safe: FailureSafe, line: int):
        self.safe = safe
        self.line = line

    def bad(self, raw: bytes, where: Any, reason: str, partial: dict | None = None) -> Any:
        return self.safe.bad(raw, None, f"{reason} (the record starts at line {self.line})",
                             partial, count_lines=False)


class CsvFormatter:
    """Turns records into CSV lines (the header is written by the output),
    each field by ``FieldWriter``'s rules."""

    def __init__(self, columns: list[str], fields: FieldWriter):
        self.columns = columns
        self.fields = fields

    def header_line(self) -> bytes:
        return (self.fields.line(self.columns) + "\n").encode("utf-8")

    def chunks(self, records: Iterator[Any]) -> Iterator[bytes]:
        from ember.etl.json_format import _as_record

        columns = self.columns
        known = set(columns)
        line = self.fields.line
        lines: list[str] = []
        for record in records:
            record = _as_record(record, "csv")
            if record.keys() - known:
                raise ValueError(f"rdd.write.csv: a record has fields {sorted(record.keys() - known)} "
                                 f"that are not among the columns {columns} (the first record's "
                                 f"keys, or columns=)")
            lines.append(line([record.get(name) for name in columns]))
            if len(lines) >= 4096:
                yield ("\n".join(lines) + "\n").encode("utf-8")
                lines.clear()
        if lines:
            yield ("\n".join(lines) + "\n").encode("utf-8")
