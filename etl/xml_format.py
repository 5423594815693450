"""XML records, with the spark-xml package's options.

Reading: one record per ``rowTag`` element (default ``ROW``), wherever it
sits in the file. The file is scanned as a byte stream for the row's start
tag and its matching end tag (nested elements of the same name counted),
so only one record and one read chunk are in memory at a time: a file many
times a worker's memory is read in bounded memory. A record belongs to the
split in which its start tag begins; it is read past the split's end to its
end tag, so uncompressed files split at record boundaries like lines.

A record becomes a dict: attributes under ``attributePrefix`` + name
(default ``_``), child elements under their names (a repeated child becomes
a list), an element's own text beside attributes or children under
``valueTag`` (``_VALUE``); a child with neither attributes nor children is
its text, and an empty one is None. Namespace URIs are dropped from names.
With ``inferSchema`` (spark-xml's default, true) texts that read as
integers, doubles or booleans become those; ``nullValue`` text is None;
``ignoreSurroundingSpaces`` (false) strips texts; ``excludeAttribute``
(false) drops attributes; a ``schema`` keeps its top-level columns
converted to its types.

A record that is not well-formed (an unclosed tag, a mismatched end tag,
bytes that are not UTF-8) is a bad record for the parse mode; an unclosed
row runs to the end of the file, as with spark-xml. Encoding: UTF-8 only
(``charset``).

Writing: ``rootTag`` (``ROWS``) around the rows of each part file, a
``rowTag`` (``ROW``) element per record, fields starting with
``attributePrefix`` as attributes, ``valueTag`` as the text, dicts as nested
elements, lists as repeated elements, None fields left out (or written as
``nullValue`` when it is set), and the XML declaration first
(``declaration``, spark-xml's default).

Must not know: the commit protocol, other formats.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from typing import Any, Iterator
from xml.sax.saxutils import escape, quoteattr

from ember.etl.parse_modes import FailureSafe
from ember.etl.schema import Schema, infer_text
from ember.engine.io import filesystem

READ_CHUNK = 1 * 2**20
_AFTER_NAME = b" \t\r\n/>"


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1] if name.startswith("{") else name


class _Scanner:
    """Finds the rows of a byte range in a stream, holding one row at a time."""

    def __init__(self, stream, base: int, end: int | None, tag: bytes):
        self.stream = stream
        self.buffer = b""
        self.base = base          # file offset of buffer[0]
        self.end = end            # rows must start before this offset (None: anywhere)
        self.eof = False
        self.open = b"<" + tag
        self.close = b"</" + tag

    def _more(self) -> bool:
        if self.eof:
            return False
        chunk = self.stream.read(READ_CHUNK)
        if not chunk:
            self.eof = True
            return False
        self.buffer += chunk
        return True

    def _find_tag(self, pattern: bytes, position: int, top: bool = False) -> int:
        """The index of ``pattern`` followed by a name delimiter, reading on as
        needed. ``top``: looking for the next row, so what was searched is
        dropped, and the search stops past the end of the range."""
        while True:
            index = self.buffer.find(pattern, position)
            if index >= 0:
                after = index + len(pattern)
                if after >= len(self.buffer) and not self._more():
                    return -1 if top else index
                if after < len(self.buffer) and self.buffer[after] in _AFTER_NAME:
                    return index
                position = index + 1
                continue
            position = max(position, len(self.buffer) - len(pattern))
            if top:
                self.base += position
                self.buffer = self.buffer[position:]
                position = 0
                if self.end is not None and self.base >= self.end:
                    return -1
            if not self._more():
                return -1

    def _tag_end(self, position: int) -> int:
        """The index of the ``>`` ending the tag that starts at ``position``."""
        quote = 0
        while True:
            buffer = self.buffer
            for index in range(position, len(buffer)):
                char = buffer[index]
                if quote:
                    if char == quote:
                        quote = 0
                elif char in (34, 39):  # " '
                    quote = char
                elif char == 62:  # >
                    return index
            position = len(buffer)
            if not self._more():
                return -1

    def rows(self) -> Iterator[tuple[int, bytes, bool]]:
        """(file offset, raw bytes, complete) for each row starting in range."""
        position = 0
        while True:
            if position > READ_CHUNK:  # drop what was read now and then, never per row
                self.buffer = self.buffer[position:]
                self.base += position
                position = 0
            start = self._find_tag(self.open, position, top=True)
            if start < 0:
                return
            if self.end is not None and self.base + start >= self.end:
                return
            head_end = self._tag_end(start + len(self.open))
            if head_end < 0:
                yield self.base + start, self.buffer[start:], False
                return
            if self.buffer[head_end - 1] == 47:  # "/>": an empty row
                stop = head_end + 1
            else:
                stop = self._matching_end(head_end + 1)
                if stop < 0:
                    yield self.base + start, self.buffer[start:], False
                    return
            yield self.base + start, self.buffer[start:stop], True
            position = stop

    def _matching_end(self, position: int) -> int:
        depth = 1
        while True:
            opening = self._find_tag(self.open, position)
            closing = self._find_tag(self.close, position)
            if closing < 0:
                return -1
            if 0 <= opening < closing:
                head_end = self._tag_end(opening + len(self.open))
                if head_end < 0:
                    return -1
                if self.buffer[head_end - 1] != 47:
                    depth += 1
                position = head_end + 1
                continue
            end = self._tag_end(closing + len(self.close))
            if end < 0:
                return -1
            depth -= 1
            position = end + 1
            if depth == 0:
                return position


class XmlParser:
    """Reads the records of one split (picklable: it travels in the RDD)."""

    format_name = "XML"
    splittable = True

    def __init__(self, row_tag: str, attribute_prefix: str, value_tag: str, mode: str,
                 corrupt_column: str, infer: bool, exclude_attribute: bool,
                 ignore_surrounding_spaces: bool, null_value: str | None,
                 schema: Schema | None):
        self.row_tag = row_tag
        self.attribute_prefix = attribute_prefix
        self.value_tag = value_tag
        self.mode = mode
        self.corrupt_column = corrupt_column
        self.infer = infer
        self.exclude_attribute = exclude_attribute
        self.ignore_surrounding_spaces = ignore_surrounding_spaces
        self.null_value = null_value
        self.schema = schema

    def __call__(self, path: str, start: int, length: int, whole_file: bool) -> Iterator[dict]:
        safe = FailureSafe(self.mode, self.corrupt_column, path, self.format_name)
        if whole_file:
            stream, base, end = filesystem.open_input(path), 0, None
        else:
            stream, base, end = filesystem.open_raw(path), start, start + length
            stream.seek(start)
        with stream:
            scanner = _Scanner(stream, base, end, self.row_tag.encode("utf-8"))
            for offset, raw, complete in scanner.rows():
                if not complete:
                    bad = safe.bad(raw, offset, f"the <{self.row_tag}> element is not closed "
                                                f"before the end of the file")
                else:
                    try:
                        record = self._record(ElementTree.fromstring(raw))
                    except ElementTree.ParseError as error:
                        bad = safe.bad(raw, offset, f"not well-formed XML ({_reason(error, raw)})")
                    else:
                        if self.schema is not None:
                            record = self._shape(record, raw, offset, safe)
                            if record is None:
                                continue
                        yield record
                        continue
                if bad is not None:
                    yield bad

    def _text(self, text: str) -> Any:
        if self.ignore_surrounding_spaces:
            text = text.strip()
        if self.null_value is not None and text == self.null_value:
            return None
        return infer_text(text) if self.infer else text

    def _value(self, element: ElementTree.Element) -> Any:
        attributes = {} if self.exclude_attribute else element.attrib
        children = list(element)
        text = element.text
        if not attributes and not children:
            return None if text is None or text == "" else self._text(text)
        return self._fields(element, attributes, children, text)

    def _fields(self, element, attributes, children, text) -> dict:
        fields: dict[str, Any] = {}
        for name, value in attributes.items():
            fields[self.attribute_prefix + _local(name)] = self._text(value)
        for child in children:
            if not isinstance(child.tag, str):
                continue  # a comment or processing instruction
            name = _local(child.tag)
            value = self._value(child)
            if name in fields:
                current = fields[name]
                if isinstance(current, _Repeated):
                    current.append(value)
                else:
                    fields[name] = _Repeated([current, value])
            else:
                fields[name] = value
        for name, value in fields.items():
            if isinstance(value, _Repeated):
                fields[name] = list(value)
        if text is not None and text.strip():
            fields[self.value_tag] = self._text(text)
        return fields

    def _record(self, element: ElementTree.Element) -> dict:
        attributes = {} if self.exclude_attribute else element.attrib
        return self._fields(element, attributes, list(element), element.text)

    def _shape(self, record: dict, raw: bytes, offset: int, safe: FailureSafe) -> dict | None:
        shaped: dict[str, Any] = {}
        for name, convert in zip(self.schema.names, self.schema.converters):
            value = record.get(name)
            if value is not None and not isinstance(value, (dict, list)):
                try:
                    value = convert(value)
                except (ValueError, TypeError) as error:
                    return safe.bad(raw, offset, f"field {name!r}: {error}", shaped)
            shaped[name] = value
        return shaped


class _Repeated(list):
    """A list made of repeated child elements (unlike a value that is a list)."""


def _reason(error: ElementTree.ParseError, raw: bytes) -> str:
    text = str(error)
    if "not well-formed (invalid token)" in text:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as decode_error:
            return f"not valid UTF-8 ({decode_error.reason} at byte {decode_error.start})"
    return text


class XmlFormatter:
    """Turns records into XML rows inside a root element."""

    def __init__(self, row_tag: str, root_tag: str, attribute_prefix: str, value_tag: str,
                 array_element_name: str, null_value: str | None, declaration: str):
        self.row_tag = row_tag
        self.root_tag = root_tag
        self.attribute_prefix = attribute_prefix
        self.value_tag = value_tag
        self.array_element_name = array_element_name
        self.null_value = null_value
        self.declaration = declaration

    def prologue(self) -> bytes:
        head = f"<?xml {self.declaration}?>\n" if self.declaration else ""
        return f"{head}<{self.root_tag}>\n".encode("utf-8")

    def epilogue(self) -> bytes:
        return f"</{self.root_tag}>\n".encode("utf-8")

    def _scalar(self, value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if hasattr(value, "isoformat"):
            return value.isoformat()
        return str(value)

    def _element(self, name: str, value: Any, out: list[str]) -> None:
        if value is None:
            if self.null_value is not None:
                out.append(f"<{name}>{escape(self.null_value)}</{name}>")
            return
        if isinstance(value, (list, tuple)):
            for item in value:
                if isinstance(item, (list, tuple)):
                    inner: list[str] = []
                    self._element(self.array_element_name, item, inner)
                    out.append(f"<{name}>{''.join(inner)}</{name}>")
                else:
                    self._element(name, item, out)
            return
        if isinstance(value, dict):
            out.append(self._open(name, value))
            self._children(value, out)
            out.append(f"</{name}>")
            return
        out.append(f"<{name}>{escape(self._scalar(value))}</{name}>")

    def _open(self, name: str, fields: dict) -> str:
        prefix = self.attribute_prefix
        attributes = "".join(f" {key[len(prefix):]}={quoteattr(self._scalar(value))}"
                             for key, value in fields.items()
                             if prefix and key.startswith(prefix) and key != self.value_tag
                             and value is not None)
        return f"<{name}{attributes}>"

    def _children(self, fields: dict, out: list[str]) -> None:
        prefix = self.attribute_prefix
        for key, value in fields.items():
            if key == self.value_tag:
                if value is not None:
                    out.append(escape(self._scalar(value)))
            elif not (prefix and key.startswith(prefix)):
                self._element(key, value, out)

    def lines(self, records: Iterator[Any]) -> Iterator[bytes]:
        from ember.etl.json_format import _as_record

        for record in records:
            record = _as_record(record, "xml")
            out = [self._open(self.row_tag, record)]
            self._children(record, out)
            out.append(f"</{self.row_tag}>")
            yield "".join(out).encode("utf-8")
