"""JSON records: JSON lines (one object per line, the default) and
multi-line JSON (``multiLine=True``: each file one JSON document, an object
or an array of objects, read whole as Spark does).

Reading: a line holding an object is one record; a line holding an array
of objects is one record per object (Spark's rule); blank lines are
skipped; anything else (not JSON, truncated, invalid UTF-8, a scalar) is a
bad record for the parse mode (``ember.etl.parse_modes``). Options (Spark's
names): ``mode``, ``columnNameOfCorruptRecord``, ``multiLine``,
``primitivesAsString`` (numbers and booleans read as their JSON text),
``encoding`` (UTF-8 only), and a ``schema`` (only its columns are kept,
missing ones are None, values converted to its types; a refused value is a
bad record).

Writing: one compact JSON object per line (``ensure_ascii`` off, UTF-8);
None fields are left out unless ``ignoreNullFields=False`` (Spark's
default drops them). Dates, timestamps and decimals are written as their
ISO/decimal text.

Must not know: splits beyond ``ember.etl.lines``, the commit protocol.
"""

from __future__ import annotations

import datetime
import decimal
import json
from itertools import chain
from typing import Any, Iterator

from ember.etl.lines import line_chunks, split_lines, split_text
from ember.etl.parse_modes import FailureSafe
from ember.etl.schema import Schema
from ember.engine.io import filesystem

_loads = json.loads
BATCH = 1024  # lines loaded as one batch


def _as_strings(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _as_strings(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_strings(item) for item in value]
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


class JsonParser:
    """Reads the records of one split (picklable: it travels in the RDD)."""

    format_name = "JSON"

    def __init__(self, mode: str, corrupt_column: str, multi_line: bool,
                 primitives_as_string: bool, schema: Schema | None):
        self.mode = mode
        self.corrupt_column = corrupt_column
        self.multi_line = multi_line
        self.primitives_as_string = primitives_as_string
        self.schema = schema

    @property
    def splittable(self) -> bool:
        return not self.multi_line

    def _shape(self, record: dict, raw: bytes, where: Any, safe: FailureSafe) -> dict | None:
        if self.primitives_as_string:
            record = _as_strings(record)
        if self.schema is None:
            return record
        shaped = {}
        for name, convert in zip(self.schema.names, self.schema.converters):
            value = record.get(name)
            if value is not None:
                try:
                    value = convert(value)
                except (ValueError, TypeError) as error:
                    partial = {key: shaped.get(key) for key in self.schema.names}
                    return safe.bad(raw, where, f"field {name!r}: {error}", partial)
            shaped[name] = value
        return shaped

    def _records(self, value: Any, raw: bytes, where: Any, safe: FailureSafe) -> Iterator[dict]:
        if type(value) is dict:
            yield value if self.schema is None and not self.primitives_as_string else \
                self._shape(value, raw, where, safe)
        elif type(value) is list and all(type(item) is dict for item in value):
            for item in value:
                shaped = item if self.schema is None and not self.primitives_as_string else \
                    self._shape(item, raw, where, safe)
                if shaped is not None:
                    yield shaped
        else:
            bad = safe.bad(raw, where, f"a JSON record must be an object or an array of "
                                        f"objects, got {type(value).__name__}")
            if bad is not None:
                yield bad

    def __call__(self, path: str, start: int, length: int, whole_file: bool) -> Iterator[dict]:
        safe = FailureSafe(self.mode, self.corrupt_column, path, self.format_name)
        if self.multi_line:
            return self._whole(path, safe)
        return chain.from_iterable(self._batches(path, start, length, whole_file, safe))

    def _batches(self, path: str, start: int, length: int, whole_file: bool,
                 safe: FailureSafe) -> Iterator[list]:
        """Lists of records, a batch of lines at a time: the batch's lines
        decoded together and loaded with ``map`` in C; a batch with a line
        that does not load as a value, or a value other than an object, or a
        schema to apply, goes through ``_lines`` one line at a time."""
        plain = self.schema is None and not self.primitives_as_string
        for base, data in line_chunks(path, start, length, whole_file):
            decoded = split_text(data) if plain else None
            lines = split_lines(data) if decoded is None else None
            count = len(lines) if decoded is None else len(decoded[1])
            for low in range(0, count, BATCH):
                high = low + BATCH
                batch = None
                if decoded is not None:
                    try:
                        batch = list(map(_loads, decoded[1][low:high]))
                    except ValueError:
                        pass
                    if batch and set(map(type, batch)) != {dict}:
                        batch = None
                if batch is None:
                    if lines is None:
                        lines = split_lines(data)
                    batch = list(self._lines(lines, low, high, base, data, safe))
                yield batch

    def _lines(self, lines: list[bytes], low: int, high: int, base: int, data: bytes,
               safe: FailureSafe) -> Iterator[dict]:
        """The records of ``lines[low:high]``, one line at a time (a line loaded
        from its bytes, as ``json.loads`` reads them), bad ones given to the
        parse mode."""
        loads = _loads
        plain = self.schema is None and not self.primitives_as_string
        for index in range(low, min(high, len(lines))):
            line = lines[index]
            try:
                value = loads(line)
            except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
                if not line.strip():
                    continue
                bad = safe.bad(line, (base, data, index), _reason(error))
                if bad is not None:
                    yield bad
                continue
            if plain and type(value) is dict:
                yield value
            else:
                for record in self._records(value, line, (base, data, index), safe):
                    if record is not None:
                        yield record

    def _whole(self, path: str, safe: FailureSafe) -> Iterator[dict]:
        with filesystem.open_input(path) as stream:
            data = stream.read()
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        if not data.strip():
            return
        try:
            value = _loads(data)
        except ValueError as error:
            offset = None
            if isinstance(error, json.JSONDecodeError):
                offset = len(error.doc[:error.pos].encode("utf-8")) if isinstance(error.doc, str) \
                    else error.pos
            bad = safe.bad(data, offset, _reason(error))
            if bad is not None:
                yield bad
            return
        for record in self._records(value, data, 0, safe):
            if record is not None:
                yield record


def _reason(error: Exception) -> str:
    if isinstance(error, UnicodeDecodeError):
        return f"not valid UTF-8 ({error.reason} at byte {error.start} of the record)"
    return f"not valid JSON ({error})"


def _default(value: Any) -> Any:
    if isinstance(value, (datetime.date, datetime.datetime, datetime.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        import base64

        return base64.b64encode(value).decode("ascii")
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"rdd.write.json: a value of type {type(value).__name__} ({value!r}) "
                    f"has no JSON form")


class JsonFormatter:
    """Turns records into JSON lines."""

    def __init__(self, ignore_null_fields: bool = True):
        self.ignore_null_fields = ignore_null_fields

    def lines(self, records: Iterator[Any]) -> Iterator[bytes]:
        encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"),
                                  default=_default).encode
        drop = self.ignore_null_fields
        for record in records:
            record = _as_record(record, "json")
            if drop and None in record.values():
                record = {key: value for key, value in record.items() if value is not None}
            yield encode(record).encode("utf-8")


def _as_record(record: Any, method: str) -> dict:
    if isinstance(record, dict):
        return record
    as_dict = getattr(record, "asDict", None) or getattr(record, "_asdict", None)
    if as_dict is not None:
        return as_dict()
    raise TypeError(f"rdd.write.{method}: records must be dicts (or Rows), got "
                    f"{type(record).__name__} {record!r}")
