"""Schemas of records: column names and types, given or inferred.

A schema is given as Spark's DDL string (``"id INT, name STRING"``), as a
sequence of ``(name, type)`` pairs or a ``{name: type}`` dict (a type is a
DDL name or one of ``int``, ``float``, ``str``, ``bool``), or as a sequence
of names (every column a string). It becomes a ``Schema``: names in order
and one converter per column from text (CSV fields, XML text) or a JSON
value to the column's Python type.

Types: ``string``; ``int``/``integer``/``bigint``/``long``/``smallint``/
``tinyint`` -> int; ``double``/``float``/``real`` -> float; ``decimal`` ->
``decimal.Decimal``; ``boolean`` -> bool (``true``/``false``, any case);
``date`` and ``timestamp`` -> ``datetime.date``/``datetime.datetime`` from
ISO 8601. A value the type refuses raises ValueError (a bad record to the
parse mode).

Inference (``inferSchema``) follows Spark's ladder on the sampled values of
a column, skipping nulls: int, then double, then boolean, then string (the
widest type any value needs; int and double widen to double). Dates and
timestamps are not inferred (they stay strings), as with Spark's default.

Must not know: files, formats, parse modes.
"""

from __future__ import annotations

import datetime
import decimal
import re
from typing import Any, Callable, Iterable

_BOOLEANS = {"true": True, "false": False}


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in _BOOLEANS:
        raise ValueError(f"{value!r} is not a boolean (true or false)")
    return _BOOLEANS[text]


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not an integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{value!r} is not an integer")
        return int(value)
    return int(value)


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    return float(value)


def _to_str(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _to_date(value: Any) -> datetime.date:
    return value if isinstance(value, datetime.date) else datetime.date.fromisoformat(str(value))


def _to_timestamp(value: Any) -> datetime.datetime:
    if isinstance(value, datetime.datetime):
        return value
    return datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _to_decimal(value: Any) -> decimal.Decimal:
    try:
        return decimal.Decimal(str(value))
    except decimal.InvalidOperation as error:
        raise ValueError(f"{value!r} is not a decimal") from error


# The exact texts the boolean type reads, looked up in C for a whole column;
# anything else (" True", "tRuE") goes through _to_bool one value at a time.
_BOOLEAN_TEXTS = {"true": True, "false": False, "True": True, "False": False,
                  "TRUE": True, "FALSE": False}


def convert_texts(kind: str, texts: list) -> list:
    """A column of non-null texts converted at once to ``kind``: the same
    values ``CONVERTERS[kind]`` gives one by one (ValueError on the first
    refused value), with the loop in C for the common types."""
    if kind == "string":
        return texts
    if kind == "int":
        return list(map(int, texts))  # _to_int of a str is int()
    if kind == "double":
        return list(map(float, texts))  # _to_float of a str is float()
    if kind == "boolean":
        values = list(map(_BOOLEAN_TEXTS.get, texts))
        return values if None not in values else list(map(_to_bool, texts))
    return list(map(CONVERTERS[kind], texts))


CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "string": _to_str, "int": _to_int, "double": _to_float, "boolean": _to_bool,
    "decimal": _to_decimal, "date": _to_date, "timestamp": _to_timestamp,
}
ALIASES = {
    "string": "string", "str": "string", "varchar": "string", "text": "string",
    "int": "int", "integer": "int", "bigint": "int", "long": "int", "smallint": "int",
    "tinyint": "int", "short": "int", "byte": "int",
    "double": "double", "float": "double", "real": "double",
    "boolean": "boolean", "bool": "boolean", "decimal": "decimal", "numeric": "decimal",
    "date": "date", "timestamp": "timestamp", "timestamp_ntz": "timestamp",
}
_PY_TYPES = {int: "int", float: "double", str: "string", bool: "boolean",
             decimal.Decimal: "decimal", datetime.date: "date", datetime.datetime: "timestamp"}
_NAME = re.compile(r"`([^`]+)`|([A-Za-z_][\w$.-]*)")


def _type_name(value: Any, column: str) -> str:
    if isinstance(value, type) and value in _PY_TYPES:
        return _PY_TYPES[value]
    text = re.sub(r"\(.*\)$", "", str(value).strip()).lower()  # decimal(10,2), varchar(20)
    if text not in ALIASES:
        raise ValueError(f"schema: column {column!r} has unknown type {value!r}; accepted: "
                         f"{', '.join(sorted(ALIASES))} or int, float, str, bool")
    return ALIASES[text]


class Schema:
    """Column names in order, with a type name and converter each."""

    __slots__ = ("names", "types", "converters", "all_strings")

    def __init__(self, fields: Iterable[tuple[str, str]]):
        fields = list(fields)
        self.names = [name for name, _ in fields]
        self.types = [kind for _, kind in fields]
        self.converters = [CONVERTERS[kind] for kind in self.types]
        self.all_strings = all(kind == "string" for kind in self.types)
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"schema: duplicate column names in {self.names}")

    def simple_string(self) -> str:
        return ", ".join(f"{name} {kind.upper()}" for name, kind in zip(self.names, self.types))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schema) and (self.names, self.types) == (other.names, other.types)

    def __repr__(self) -> str:
        return f"Schema({self.simple_string()!r})"


def _split_ddl(text: str) -> list[str]:
    parts, depth, current = [], 0, []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [part.strip() for part in parts if part.strip()]


def parse_schema(schema: Any) -> Schema | None:
    """A Schema from any accepted form (None stays None)."""
    if schema is None or isinstance(schema, Schema):
        return schema
    if isinstance(schema, str):
        fields = []
        for part in _split_ddl(schema):
            match = _NAME.match(part)
            rest = part[match.end():].strip() if match else ""
            if not match or not rest:
                raise ValueError(f"schema: {part!r} is not 'name TYPE' (in {schema!r})")
            name = match.group(1) or match.group(2)
            fields.append((name, _type_name(rest.split()[0] if "(" not in rest else rest, name)))
        return Schema(fields)
    if isinstance(schema, dict):
        return Schema((str(name), _type_name(kind, name)) for name, kind in schema.items())
    items = list(schema)
    if all(isinstance(item, str) for item in items):
        return Schema((name, "string") for name in items)
    fields = []
    for item in items:
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise ValueError(f"schema: {item!r} is not a (name, type) pair")
        fields.append((str(item[0]), _type_name(item[1], item[0])))
    return Schema(fields)


# --- inference --------------------------------------------------------------------

_LADDER = ("null", "int", "double", "boolean", "string")


def infer_value(text: str) -> str:
    """The narrowest type of one non-null text value."""
    try:
        int(text)
        return "int"
    except ValueError:
        pass
    try:
        float(text)
        return "double"
    except ValueError:
        pass
    return "boolean" if text.strip().lower() in _BOOLEANS else "string"


def merge_types(a: str, b: str) -> str:
    if a == b or b == "null":
        return a
    if a == "null":
        return b
    if {a, b} == {"int", "double"}:
        return "double"
    return "string"


def infer_text(value: str) -> Any:
    """A text value as the narrowest Python value it reads as (XML leaves)."""
    kind = infer_value(value)
    return value if kind == "string" else CONVERTERS[kind](value)
