"""CSV records, with Spark's CSV options.

Reading (options by Spark's names and defaults): ``sep`` (``,``; alias
``delimiter``), ``quote`` (``"``), ``escape`` (``\\``; a doubled quote inside
a quoted field is read as one quote too), ``header`` (false: columns are
``_c0``, ``_c1``, ...; true: the first line of every file is the header,
names taken from the first file's), ``nullValue`` (``""``: a field equal
to it is None), ``inferSchema`` (false: every value a string; true: types
inferred from a sample, ``ember.etl.schema``), ``schema`` (names and types
given; it wins over the header, as with Spark's ``enforceSchema``),
``comment`` (a line starting with it is skipped; off by default),
``ignoreLeadingWhiteSpace``/``ignoreTrailingWhiteSpace`` (false),
``multiLine`` (false: one record per line, files split at line
boundaries; true: quoted fields may hold line breaks, files read whole),
``mode`` and ``columnNameOfCorruptRecord`` (``ember.etl.parse_modes``),
``encoding`` (UTF-8 only). Blank lines are skipped.

Bad records: another number of fields than the columns, a quote left open
at the end of the line, bytes that are not UTF-8, a value the schema's type
refuses. PERMISSIVE keeps the fields that were read (the rest None) with
the raw line under the corrupt-record column.

Writing: ``header`` (false), ``sep``, ``quote``, ``escape``, ``nullValue``
(None is written as it, ``""`` by default), ``quoteAll`` (false). Columns are
the keys of the RDD's first record (or ``columns=``), in that order; a
record with other keys is refused naming them, a missing key is null. A
quote inside a quoted field is doubled (RFC 4180, which every reader,
Spark's included, reads back).

Must not know: splits beyond ``ember.etl.lines``, the commit protocol.
"""

from __future__ import annotations

import csv
import io
from typing import Any, Iterator

from ember.etl.lines import line_chunks
from ember.etl.parse_modes import FailureSafe
from ember.etl.schema import Schema
from ember.engine.io import filesystem


def _one_char(name: str, value: Any, allow_empty: bool = False) -> str | None:
    if value is None or (allow_empty and value == ""):
        return None
    if not isinstance(value, str) or len(value) != 1:
        raise ValueError(f"csv: option {name} must be a single character, got {value!r}")
    return value


class Dialect:
    """The csv module's parameters for a set of Spark options (picklable)."""

    def __init__(self, sep: str = ",", quote: str = '"', escape: str = "\\",
                 ignore_leading: bool = False, ignore_trailing: bool = False):
        if sep == "\\t":
            sep = "\t"
        self.sep = _one_char("sep", sep)
        self.quote = _one_char("quote", quote, allow_empty=True)
        self.escape = _one_char("escape", escape, allow_empty=True)
        self.ignore_leading = ignore_leading
        self.ignore_trailing = ignore_trailing

    def reader(self, lines, strict: bool = True):
        if self.quote is None:
            return csv.reader(lines, delimiter=self.sep, quoting=csv.QUOTE_NONE,
                              escapechar=self.escape, skipinitialspace=self.ignore_leading,
                              strict=strict)
        return csv.reader(lines, delimiter=self.sep, quotechar=self.quote, doublequote=True,
                          escapechar=self.escape, skipinitialspace=self.ignore_leading,
                          strict=strict)


def header_fields(path: str, dialect: Dialect) -> list[str] | None:
    """The fields of the first non-blank line of a file (None: no line)."""
    for _, _, lines in line_chunks(path, 0, 0, True):
        for line in lines:
            if line.strip():
                return next(dialect.reader([line.decode("utf-8", "replace")]))
    return None


class CsvParser:
    """Reads the records of one split (picklable: it travels in the RDD)."""

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
            yield from self._multi_line(path, safe)
            return
        skip_header = self.header and (start == 0 or whole_file)
        for base, data, lines in line_chunks(path, start, length, whole_file):
            try:
                text_lines = data.decode("utf-8").split("\n")
                if text_lines[-1] == "":
                    text_lines.pop()
                if b"\r" in data:
                    text_lines = [line[:-1] if line.endswith("\r") else line
                                  for line in text_lines]
            except UnicodeDecodeError:
                text_lines = None
            if skip_header:
                index = self._first_nonblank(lines)
                if index is None:
                    continue
                skip_header = False
                first = index + 1
            else:
                first = 0
            yield from self._rows(lines, text_lines, first, base, data, safe)

    @staticmethod
    def _first_nonblank(lines: list[bytes]) -> int | None:
        for index, line in enumerate(lines):
            if line.strip():
                return index
        return None

    def _rows(self, lines: list[bytes], text_lines: list[str] | None, first: int, base: int,
              data: bytes, safe: FailureSafe) -> Iterator[dict]:
        if text_lines is None:  # some line is not UTF-8: go line by line
            for index in range(first, len(lines)):
                try:
                    text = lines[index].decode("utf-8")
                except UnicodeDecodeError as error:
                    bad = safe.bad(lines[index], (base, data, index),
                                   f"not valid UTF-8 ({error.reason} at byte {error.start})")
                    if bad is not None:
                        yield bad
                    continue
                yield from self._rows([lines[index]], [text], 0, base, data, _Shifted(safe, index))
            return
        position = first
        while position < len(text_lines):
            reader = self.dialect.reader(text_lines[position:] if position else text_lines)
            done = position
            restart = False
            try:
                for row in reader:
                    index = done
                    done = position + reader.line_num
                    if done - index > 1:
                        # A quote opened on this line and not closed on it: without
                        # multiLine a record is one line, so this line is bad.
                        bad = safe.bad(lines[index], (base, data, index),
                                       "a quoted field is not closed on its line (multiLine "
                                       "is off)")
                        if bad is not None:
                            yield bad
                        position = index + 1
                        restart = True
                        break
                    record = self._record(row, lines, index, base, data, safe)
                    if record is not None:
                        yield record
            except csv.Error as error:
                index = done
                bad = safe.bad(lines[index], (base, data, index), f"not valid CSV ({error})")
                if bad is not None:
                    yield bad
                position = index + 1
                continue
            if not restart:
                return

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
            reader = self.dialect.reader(text)
            skip = self.header
            while True:
                line = reader.line_num + 1
                try:
                    row = next(reader)
                except StopIteration:
                    return
                except (csv.Error, UnicodeDecodeError) as error:
                    bad = safe.bad(b"", None, f"not valid CSV at line {line} ({error})",
                                   count_lines=False)
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


class _Shifted:
    """A FailureSafe whose (base, chunk, index) positions are off by ``shift`` lines."""

    def __init__(self, safe: FailureSafe, shift: int):
        self.safe = safe
        self.shift = shift

    def bad(self, raw: bytes, where: Any, reason: str, partial: dict | None = None) -> Any:
        if isinstance(where, tuple):
            where = (where[0], where[1], where[2] + self.shift)
        return self.safe.bad(raw, where, reason, partial)


class _AtLine:
    """A FailureSafe for multi-line records: the line is known, the offset not."""

    def __init__(self, safe: FailureSafe, line: int):
        self.safe = safe
        self.line = line

    def bad(self, raw: bytes, where: Any, reason: str, partial: dict | None = None) -> Any:
        return self.safe.bad(raw, None, f"{reason} (the record starts at line {self.line})",
                             partial, count_lines=False)


class CsvFormatter:
    """Turns records into CSV lines (the header is written by the output)."""

    def __init__(self, columns: list[str], dialect: Dialect, null_value: str,
                 quote_all: bool):
        self.columns = columns
        self.dialect = dialect
        self.null_value = null_value
        self.quote_all = quote_all

    def _writer(self, buffer: io.StringIO):
        dialect = self.dialect
        quoting = csv.QUOTE_ALL if self.quote_all else csv.QUOTE_MINIMAL
        if dialect.quote is None:
            quoting = csv.QUOTE_NONE
        return csv.writer(buffer, delimiter=dialect.sep, quotechar=dialect.quote or '"',
                          escapechar=dialect.escape if dialect.quote is None else None,
                          doublequote=True, quoting=quoting, lineterminator="\n")

    def header_line(self) -> bytes:
        buffer = io.StringIO()
        self._writer(buffer).writerow(self.columns)
        return buffer.getvalue().encode("utf-8")

    def chunks(self, records: Iterator[Any]) -> Iterator[bytes]:
        from ember.etl.json_format import _as_record

        columns = self.columns
        known = set(columns)
        null = self.null_value
        buffer = io.StringIO()
        writer = self._writer(buffer)
        count = 0
        for record in records:
            record = _as_record(record, "csv")
            if record.keys() - known:
                raise ValueError(f"rdd.write.csv: a record has fields {sorted(record.keys() - known)} "
                                 f"that are not among the columns {columns} (the first record's "
                                 f"keys, or columns=)")
            writer.writerow([null if (value := record.get(name)) is None else value
                             for name in columns])
            count += 1
            if count >= 4096:
                yield buffer.getvalue().encode("utf-8")
                buffer.seek(0)
                buffer.truncate()
                count = 0
        if count:
            yield buffer.getvalue().encode("utf-8")
