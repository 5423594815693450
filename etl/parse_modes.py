"""Parse modes: what a reader does with a record it cannot parse.

Spark's three modes (``ParseMode``), by the ``mode`` option,
case-insensitive:

* ``PERMISSIVE`` (the default): the record is kept. Its fields that could
  be read are kept (the others are None) and its raw text goes under
  ``columnNameOfCorruptRecord`` (default ``_corrupt_record``); good records
  do not carry that key.
* ``DROPMALFORMED``: the record is dropped.
* ``FAILFAST``: the task fails with ``MalformedRecordError`` naming the file,
  the record's line (counted only then) and byte offset, its first bytes,
  and why it was refused. Tasks retry as any failure does, and fail the same
  way each time, so the job fails with that error.

A bad record is one that does not parse, is not valid UTF-8, has another
number of fields than the header or schema, or has a value the schema's
type refuses. An unknown mode is a ValueError listing the accepted ones
(Spark falls back to PERMISSIVE with a warning; ember refuses, so a typo
does not silently keep bad data).

Must not know: any format.
"""

from __future__ import annotations

from ember.engine.errors import MalformedRecordError
from ember.etl.lines import line_number, offset_of

PERMISSIVE = "PERMISSIVE"
DROPMALFORMED = "DROPMALFORMED"
FAILFAST = "FAILFAST"
MODES = (PERMISSIVE, DROPMALFORMED, FAILFAST)
CORRUPT_RECORD = "_corrupt_record"
SNIPPET = 64


def parse_mode(value: object) -> str:
    mode = str(value).upper() if value is not None else PERMISSIVE
    if mode not in MODES:
        raise ValueError(f"unknown parse mode {value!r}; accepted: {', '.join(MODES)} "
                         f"(case-insensitive)")
    return mode


class FailureSafe:
    """Applies a parse mode to the bad records of one file."""

    __slots__ = ("mode", "column", "path", "format")

    def __init__(self, mode: str, column: str, path: str, format_name: str):
        self.mode = mode
        self.column = column
        self.path = path
        self.format = format_name

    def bad(self, raw: bytes, where: object, reason: str, partial: dict | None = None,
            count_lines: bool = True) -> dict | None:
        """The record to keep for a bad one (PERMISSIVE), None (DROPMALFORMED),
        or a MalformedRecordError raised (FAILFAST). ``where`` is the record's
        byte offset, None, or a (base, chunk, line index) triple of
        ``ember.etl.lines`` resolved only here, when FAILFAST needs it."""
        if self.mode == PERMISSIVE:
            record = dict(partial) if partial else {}
            record[self.column] = raw.decode("utf-8", "replace")
            return record
        if self.mode == DROPMALFORMED:
            return None
        offset = offset_of(*where) if isinstance(where, tuple) else where
        line = line_number(self.path, offset) if offset is not None and count_lines else None
        where = ", ".join(part for part in (f"line {line}" if line else "",
                                            f"byte offset {offset}" if offset is not None else "")
                          if part)
        snippet = raw[:SNIPPET]
        raise MalformedRecordError(
            f"Malformed {self.format} record in {self.path} at {where}: {reason}; the record "
            f"starts {snippet!r}{'...' if len(raw) > SNIPPET else ''}. Parse Mode: FAILFAST "
            f"(mode PERMISSIVE keeps it under {self.column!r}, DROPMALFORMED drops it)",
            path=self.path, line=line, offset=offset, snippet=snippet, reason=reason)
