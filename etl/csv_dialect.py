"""How CSV text is cut into fields, and how a field is written: Spark's
quote and escape rules (its CSV source's, with its default settings), with
the csv module doing the work in C wherever its rules give the same fields.

Reading, with a quote character and an escape character other than it (the
default: quote ``"``, escape ``\\``): a field is quoted when it starts with
the quote (after spaces, with ``ignoreLeadingWhiteSpace``). Inside quotes,
the escape before a quote stands for the quote, the escape before itself
for itself, a doubled quote for one quote (so RFC 4180 files read too), and
the escape before anything else is kept as it is; outside quotes every
character is itself (``C:\\temp`` stays ``C:\\temp``). A line without the
escape character is cut by the csv module; a line with it by ``_Scanner``
(regular expressions; the only case with a loop in Python per field). With
the escape equal to the quote (``escape='"'``, RFC 4180) or empty, the csv
module cuts every line and a backslash is an ordinary character. With no
quote (``quote=""``) no field is quoted and the escape makes the next
character literal (the csv module's QUOTE_NONE). Strictness is the csv
module's: after a closing quote only the separator or the end of the record
may follow, a carriage return inside an unquoted field is an error, a quote
inside an unquoted field is an ordinary character.

Writing, Spark's DataFrameWriter.csv defaults (``FieldWriter``): leading and
trailing whitespace (every character up to the space, control characters
included) is trimmed (``ignoreLeadingWhiteSpace``/``ignoreTrailingWhiteSpace``,
true when writing); a field is quoted when it holds the separator, a line
break or carriage return, or a quote (``escapeQuotes``, true), or starts
with a quote, or always (``quoteAll``); inside quotes a quote is written
escape-quote and the escape escape-escape (``\\"``, ``\\\\``), or doubled
when the escape is the quote (``escape='"'``: RFC 4180 output). An unquoted
field is written as it is, backslashes included. None is written as
``nullValue`` (empty by default), an empty string as ``emptyValue``
(``""`` by default, whatever the quote). Booleans are ``true``/``false``,
dates and times ISO 8601, other values ``str()``.

Not covered: Spark's ``charToEscapeQuoteEscaping`` (the escape always
escapes itself), ``lineSep``, ``unescapedQuoteHandling`` (a quote left open
or followed by text is a bad record).

Must not know: files, schemas, parse modes.
"""

from __future__ import annotations

import csv
import datetime
import re
from typing import Any, Iterator

TRIMMED = "".join(map(chr, range(33)))  # what Spark's writer trims: controls and space


class UnclosedQuote(csv.Error):
    """A quoted field not closed before the end of its line (or file)."""


def _one_char(name: str, value: Any, allow_empty: bool = False) -> str | None:
    if value is None or (allow_empty and value == ""):
        return None
    if not isinstance(value, str) or len(value) != 1:
        raise ValueError(f"csv: option {name} must be a single character, got {value!r}")
    return value


class Dialect:
    """The reading rules for a set of Spark options (picklable)."""

    def __init__(self, sep: str = ",", quote: str = '"', escape: str = "\\",
                 ignore_leading: bool = False, ignore_trailing: bool = False):
        if sep == "\\t":
            sep = "\t"
        self.sep = _one_char("sep", sep)
        self.quote = _one_char("quote", quote, allow_empty=True)
        self.escape = _one_char("escape", escape, allow_empty=True)
        self.ignore_leading = ignore_leading
        self.ignore_trailing = ignore_trailing
        if self.sep in (self.quote, self.escape) or self.sep in "\r\n":
            raise ValueError(f"csv: sep {self.sep!r} must differ from quote, escape and line "
                             f"breaks")
        # Only this case has rules the csv module cannot follow: its escape
        # works everywhere, Spark's only inside quotes and only before a quote
        # or itself.
        self.scanned = self.quote is not None and self.escape not in (None, self.quote)
        self._scanner: _Scanner | None = None

    def reader(self, lines) -> Any:
        """The csv module's reader: exact for lines without the escape
        character (all lines unless ``scanned``)."""
        if self.quote is None:
            return csv.reader(lines, delimiter=self.sep, quoting=csv.QUOTE_NONE,
                              escapechar=self.escape, skipinitialspace=self.ignore_leading,
                              strict=True)
        return csv.reader(lines, delimiter=self.sep, quotechar=self.quote, doublequote=True,
                          escapechar=None, skipinitialspace=self.ignore_leading, strict=True)

    def split_line(self, line: str) -> list[str]:
        """The fields of one line ([] for a blank one); csv.Error when it is not
        valid CSV, UnclosedQuote when a quote is left open at its end."""
        if self.scanned and self.escape in line:
            return self.scanner().record(line, 0, True)[0]
        try:
            return next(self.reader((line,)), [])
        except csv.Error as error:
            if self.quote is not None and str(error).startswith("unexpected end of data"):
                raise UnclosedQuote("a quoted field is not closed on its line") from None
            raise

    def scanner(self) -> "_Scanner":
        if self._scanner is None:
            self._scanner = _Scanner(self)
        return self._scanner

    def records(self, stream) -> Iterator[tuple[int, list[str]]]:
        """(first line number, fields) of each record of a text stream whose
        quoted fields may hold line breaks (multiLine); csv.Error as
        ``reader``'s."""
        if self.scanned:
            yield from self.scanner().stream(stream)
            return
        reader = self.reader(stream)
        while True:
            line = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                raise csv.Error(f"at line {line}: {error}") from None
            yield line, row


class _Scanner:
    """Cuts records with Spark's escapes (see the module docstring)."""

    def __init__(self, dialect: Dialect):
        sep, quote, escape = (re.escape(c) for c in (dialect.sep, dialect.quote, dialect.escape))
        lead = " *" if dialect.ignore_leading else ""
        self.sep = dialect.sep
        self.quote = dialect.quote
        self.ignore_leading = dialect.ignore_leading
        self.quoted = re.compile(
            f"{lead}{quote}((?:[^{quote}{escape}]|{escape}.|{quote}{quote})*)({quote}?)", re.DOTALL)
        self.unquoted = re.compile(f"[^{sep}\r\n]*")
        self.unescape = re.compile(f"{escape}([{quote}{escape}])|{quote}({quote})")

    def record(self, text: str, pos: int, at_end: bool) -> tuple[list[str], int] | None:
        """The fields of the record starting at ``pos`` and where the next one
        starts ([] for a blank line); None when the text ends inside the
        record and more may follow (``at_end`` false)."""
        end = len(text)
        if pos == end:
            return ([], pos) if at_end else None
        if text[pos] == "\n":
            return [], pos + 1
        if text.startswith("\r\n", pos):
            return [], pos + 2
        fields = []
        sep = self.sep
        while True:
            match = self.quoted.match(text, pos)
            if match is not None:
                if not match.group(2):  # no closing quote
                    if not at_end:
                        return None
                    raise UnclosedQuote("a quoted field is not closed")
                body = match.group(1)
                if len(body) > 1:
                    body = self.unescape.sub(r"\1\2", body)
                unexpected = f"'{sep}' expected after '{self.quote}'"
            else:
                match = self.unquoted.match(text, pos)
                body = match.group()
                if self.ignore_leading:
                    body = body.lstrip(" ")
                unexpected = "new-line character seen in unquoted field"
            fields.append(body)
            pos = match.end()
            if pos == end:
                return (fields, pos) if at_end else None
            char = text[pos]
            if char == sep:
                pos += 1
            elif char == "\n":
                return fields, pos + 1
            elif char == "\r" and pos + 1 == end and not at_end:
                return None  # a CR LF may be cut between two reads
            elif text.startswith("\r\n", pos):
                return fields, pos + 2
            else:
                raise csv.Error(unexpected)

    def stream(self, stream) -> Iterator[tuple[int, list[str]]]:
        """(first line number, fields) of each record of a text stream, read
        64 KiB at a time; a record cut by a read is parsed again whole."""
        buffer, pos, line, done = "", 0, 1, False
        while True:
            if done and pos == len(buffer):
                return
            try:
                found = self.record(buffer, pos, done) if pos < len(buffer) or done else None
            except csv.Error as error:
                raise type(error)(f"at line {line}: {error}") from None
            if found is None:
                more = stream.read(1 << 16)
                done = not more
                buffer, pos = buffer[pos:] + more, 0
                continue
            fields, after = found
            number = line
            line += buffer.count("\n", pos, after)
            pos = after
            yield number, fields


def _text(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return str(value)


class FieldWriter:
    """Writes fields by Spark's rules (see the module docstring; picklable)."""

    def __init__(self, sep: str = ",", quote: str | None = '"', escape: str | None = "\\",
                 escape_quotes: bool = True, quote_all: bool = False, null_value: str = "",
                 empty_value: str = '""', ignore_leading: bool = True,
                 ignore_trailing: bool = True):
        dialect = Dialect(sep, quote if quote is not None else "",
                          escape if escape is not None else "")
        self.sep, self.quote, self.escape = dialect.sep, dialect.quote, dialect.escape
        self.escape_quotes = escape_quotes
        self.quote_all = quote_all
        self.ignore_leading = ignore_leading
        self.ignore_trailing = ignore_trailing
        triggers = self.sep + "\r\n"
        if self.quote is None:
            triggers += self.escape or ""
        elif escape_quotes:
            triggers += self.quote
        self.triggers = triggers
        self.special = re.compile(f"[{re.escape(triggers)}]")
        self.null_text = self._wrap(null_value) if quote_all and self.quote else null_value
        looks_quoted = (self.quote is not None and len(empty_value) >= 2
                        and empty_value[0] == empty_value[-1] == self.quote)
        self.empty_text = (self._wrap(empty_value) if quote_all and self.quote
                           and not looks_quoted else empty_value)

    def _wrap(self, text: str) -> str:
        quote, escape = self.quote, self.escape
        if escape is None or escape == quote:
            return quote + text.replace(quote, quote + quote) + quote
        return quote + text.replace(escape, escape + escape).replace(quote, escape + quote) + quote

    def field(self, value: Any) -> str:
        if value is None:
            return self.null_text
        text = value if type(value) is str else _text(value)
        if self.ignore_leading:
            text = text.lstrip(TRIMMED)
        body = text.rstrip(TRIMMED) if self.ignore_trailing else text
        if not body:
            return self.empty_text
        special = self.special.search
        quote = self.quote
        if quote is None:
            if special(body) is None:
                return body
            if self.escape is None:
                raise ValueError(f"rdd.write.csv: the value {value!r} holds a separator or line "
                                 f"break, and with quote='' it needs an escape character")
            return self.special.sub(lambda match: self.escape + match.group(), body)
        if self.quote_all or text[0] == quote or special(text) is not None:
            return self._wrap(body)
        return body

    def line(self, values: list) -> str:
        return self.sep.join(map(self.field, values))
