"""The values of ember's small DataFrames: ``Row``, and the data types of
their schemas, with PySpark's names, reprs and rules (``pyspark.sql.types``).

* ``Row``: a tuple whose fields also have names (``Row(name="Alice",
  age=11)``: attribute, index and key access, ``asDict``, equality with
  tuples); ``Row("name", "age")`` is a row class, called to make rows.
* Data types: the atomic ones (``StringType()``, ``LongType()``, ...),
  ``ArrayType``, ``MapType``, ``StructField`` and ``StructType``, with
  ``simpleString`` (``bigint``, ``array<string>``), ``typeName`` and
  PySpark's reprs.
* Schemas: inferred from rows as PySpark infers them (``int`` is a long,
  ``float`` a double, a dict's keys sorted, a tuple's fields ``_1, _2, ...``;
  types of several rows merged, a column that is None everywhere refused),
  parsed from a DDL string (``"a int, b string"``), and checked against the
  rows when given (``verify``: a double column takes no ``int``, a column
  that is not nullable no None).

Must not know: RDDs, Contexts (``ember.sql.session`` does the work).
"""

from __future__ import annotations

import datetime
import decimal
import re
from typing import Any, Iterable


class DataType:
    """The base of every data type: equal when of one class with equal fields."""

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, type(self)) and vars(self) == vars(other)

    def __ne__(self, other: Any) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(repr(self))

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    @classmethod
    def typeName(cls) -> str:
        return cls.__name__[:-len("Type")].lower()

    def simpleString(self) -> str:
        return self.typeName()

    def needConversion(self) -> bool:
        return False


class NullType(DataType):
    def simpleString(self) -> str:
        return "void"


class StringType(DataType):
    pass


class BinaryType(DataType):
    pass


class BooleanType(DataType):
    pass


class DateType(DataType):
    pass


class TimestampType(DataType):
    pass


class DoubleType(DataType):
    pass


class FloatType(DataType):
    pass


class ByteType(DataType):
    def simpleString(self) -> str:
        return "tinyint"


class ShortType(DataType):
    def simpleString(self) -> str:
        return "smallint"


class IntegerType(DataType):
    def simpleString(self) -> str:
        return "int"


class LongType(DataType):
    def simpleString(self) -> str:
        return "bigint"


class DecimalType(DataType):
    def __init__(self, precision: int = 10, scale: int = 0):
        self.precision = precision
        self.scale = scale

    def simpleString(self) -> str:
        return f"decimal({self.precision},{self.scale})"

    def __repr__(self) -> str:
        return f"DecimalType({self.precision}, {self.scale})"


class ArrayType(DataType):
    def __init__(self, elementType: DataType, containsNull: bool = True):
        self.elementType = elementType
        self.containsNull = containsNull

    def simpleString(self) -> str:
        return f"array<{self.elementType.simpleString()}>"

    def __repr__(self) -> str:
        return f"ArrayType({self.elementType!r}, {self.containsNull})"


class MapType(DataType):
    def __init__(self, keyType: DataType, valueType: DataType, valueContainsNull: bool = True):
        self.keyType = keyType
        self.valueType = valueType
        self.valueContainsNull = valueContainsNull

    def simpleString(self) -> str:
        return f"map<{self.keyType.simpleString()},{self.valueType.simpleString()}>"

    def __repr__(self) -> str:
        return f"MapType({self.keyType!r}, {self.valueType!r}, {self.valueContainsNull})"


class StructField(DataType):
    def __init__(self, name: str, dataType: DataType, nullable: bool = True,
                 metadata: dict | None = None):
        if not isinstance(name, str):
            raise TypeError(f"StructField: name must be a str, got {type(name).__name__}")
        if not isinstance(dataType, DataType):
            raise TypeError(f"StructField {name!r}: dataType must be a DataType, got "
                            f"{type(dataType).__name__}")
        self.name = name
        self.dataType = dataType
        self.nullable = nullable
        self.metadata = metadata or {}

    def simpleString(self) -> str:
        return f"{self.name}:{self.dataType.simpleString()}"

    def __repr__(self) -> str:
        return f"StructField({self.name!r}, {self.dataType!r}, {self.nullable})"


class StructType(DataType):
    """The schema of a DataFrame (and the type of a nested row).

    >>> StructType([StructField("a", LongType()), StructField("b", StringType())]).simpleString()
    'struct<a:bigint,b:string>'
    """

    def __init__(self, fields: list[StructField] | None = None):
        self.fields = list(fields or [])
        for field in self.fields:
            if not isinstance(field, StructField):
                raise TypeError(f"StructType: fields must be StructFields, got "
                                f"{type(field).__name__}")

    @property
    def names(self) -> list[str]:
        return [field.name for field in self.fields]

    def fieldNames(self) -> list[str]:
        return self.names

    def add(self, field: str | StructField, data_type: DataType | str | None = None,
            nullable: bool = True, metadata: dict | None = None) -> "StructType":
        if isinstance(field, StructField):
            self.fields.append(field)
        else:
            if isinstance(data_type, str):
                data_type = parse_type(data_type)
            self.fields.append(StructField(field, data_type, nullable, metadata))
        return self

    def __iter__(self):
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)

    def __getitem__(self, key: int | str) -> StructField:
        if isinstance(key, str):
            for field in self.fields:
                if field.name == key:
                    return field
            raise KeyError(f"No StructField named {key}")
        return self.fields[key]

    def simpleString(self) -> str:
        return f"struct<{','.join(field.simpleString() for field in self.fields)}>"

    def __repr__(self) -> str:
        return f"StructType([{', '.join(repr(field) for field in self.fields)}])"

    def treeString(self) -> str:
        """``printSchema``'s text."""
        lines = ["root"]
        for field in self.fields:
            _tree(lines, field.name, field.dataType, f"(nullable = {str(field.nullable).lower()})",
                  " |")
        return "\n".join(lines) + "\n"


def _tree(lines: list[str], name: str, data_type: DataType, note: str, prefix: str) -> None:
    lines.append(f"{prefix}-- {name}: {data_type.typeName()}{' ' + note if note else ''}")
    deeper = prefix + "    |"
    if isinstance(data_type, StructType):
        for field in data_type.fields:
            _tree(lines, field.name, field.dataType,
                  f"(nullable = {str(field.nullable).lower()})", deeper)
    elif isinstance(data_type, ArrayType):
        _tree(lines, "element", data_type.elementType,
              f"(containsNull = {str(data_type.containsNull).lower()})", deeper)
    elif isinstance(data_type, MapType):
        _tree(lines, "key", data_type.keyType, "", deeper)
        _tree(lines, "value", data_type.valueType,
              f"(valueContainsNull = {str(data_type.valueContainsNull).lower()})", deeper)


# --- Row ------------------------------------------------------------------------------


def _create_row(fields: list[str], values: Iterable) -> "Row":
    row = Row(*values)
    row.__fields__ = fields
    return row


class Row(tuple):
    """A row of a DataFrame: a tuple whose fields have names.

    >>> row = Row(name="Alice", age=11)
    >>> row, row.name, row["age"], row[0], "name" in row, row == ("Alice", 11)
    (Row(name='Alice', age=11), 'Alice', 11, 'Alice', True, True)
    >>> Person = Row("name", "age")
    >>> Person, Person("Bob", 3), Person("Bob", 3).asDict()
    (<Row('name', 'age')>, Row(name='Bob', age=3), {'name': 'Bob', 'age': 3})
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> "Row":
        if args and kwargs:
            raise ValueError("Row: args and kwargs should not be set together (give field "
                             "values by name, or make a row class from names and call it)")
        if kwargs:
            row = tuple.__new__(cls, list(kwargs.values()))
            row.__fields__ = list(kwargs)
            return row
        return tuple.__new__(cls, args)

    def asDict(self, recursive: bool = False) -> dict:
        """The row as {field: value}; with ``recursive``, nested rows too."""
        if not hasattr(self, "__fields__"):
            raise TypeError("Row.asDict: a row without field names cannot be converted to a dict")
        if not recursive:
            return dict(zip(self.__fields__, self))

        def convert(value: Any) -> Any:
            if isinstance(value, Row):
                return value.asDict(True)
            if isinstance(value, list):
                return [convert(v) for v in value]
            if isinstance(value, dict):
                return {k: convert(v) for k, v in value.items()}
            return value

        return dict(zip(self.__fields__, (convert(v) for v in self)))

    def __contains__(self, item: Any) -> bool:
        if hasattr(self, "__fields__"):
            return item in self.__fields__
        return super().__contains__(item)

    def __call__(self, *args: Any) -> "Row":
        """A row with this row class's fields."""
        if len(args) > len(self):
            raise ValueError(f"Row: too many values: expected at most {len(self)} fields, "
                             f"got {len(args)}")
        return _create_row(list(self), args)

    def __getitem__(self, item: Any) -> Any:
        if isinstance(item, (int, slice)):
            return super().__getitem__(item)
        try:
            return super().__getitem__(self.__fields__.index(item))
        except (AttributeError, ValueError):
            raise ValueError(item) from None

    def __getattr__(self, item: str) -> Any:
        if item.startswith("__"):
            raise AttributeError(item)
        try:
            return self[self.__fields__.index(item)]
        except (AttributeError, ValueError):
            raise AttributeError(f"Row has no field {item!r}") from None

    def __setattr__(self, key: str, value: Any) -> None:
        if key != "__fields__":
            raise RuntimeError("Row is read-only")
        self.__dict__[key] = value

    def __reduce__(self):
        if hasattr(self, "__fields__"):
            return _create_row, (self.__fields__, tuple(self))
        return tuple.__reduce__(self)

    def __repr__(self) -> str:
        if hasattr(self, "__fields__"):
            return "Row(%s)" % ", ".join(f"{k}={v!r}" for k, v in zip(self.__fields__, self))
        return "<Row(%s)>" % ", ".join(repr(field) for field in self)


# --- schemas: inferred, merged, parsed, verified ----------------------------------------


def infer_type(value: Any) -> DataType:
    """The data type PySpark infers for one value."""
    if value is None:
        return NullType()
    if isinstance(value, bool):
        return BooleanType()
    if isinstance(value, int):
        return LongType()
    if isinstance(value, float):
        return DoubleType()
    if isinstance(value, str):
        return StringType()
    if isinstance(value, (bytes, bytearray)):
        return BinaryType()
    if isinstance(value, decimal.Decimal):
        return DecimalType(38, 18)
    if isinstance(value, datetime.datetime):
        return TimestampType()
    if isinstance(value, datetime.date):
        return DateType()
    if isinstance(value, dict):
        key, item = NullType(), NullType()
        for k, v in value.items():
            key, item = merge_types(key, infer_type(k)), merge_types(item, infer_type(v))
        return MapType(key, item, True)
    if isinstance(value, (list, tuple)) and not _has_fields(value):
        element: DataType = NullType()
        for item in value:
            element = merge_types(element, infer_type(item))
        return ArrayType(element, True)
    if _has_fields(value) or hasattr(value, "__dict__"):
        return infer_schema(value)
    raise TypeError(f"not supported type: {type(value)}")


def _has_fields(value: Any) -> bool:
    return isinstance(value, Row) and hasattr(value, "__fields__") or (
        isinstance(value, tuple) and hasattr(value, "_fields"))


def _named_values(row: Any, names: list[str] | None) -> tuple[list[str], list]:
    """The (field names, values) of one row-like object, named as PySpark
    names them."""
    if isinstance(row, dict):
        items = sorted(row.items())
        return [k for k, _ in items], [v for _, v in items]
    if isinstance(row, Row) and hasattr(row, "__fields__"):
        return list(row.__fields__), list(row)
    if isinstance(row, tuple) and hasattr(row, "_fields"):  # a namedtuple
        return list(row._fields), list(row)
    if isinstance(row, (tuple, list)):
        given = list(names or [])
        return (given + [f"_{i + 1}" for i in range(len(given), len(row))])[:len(row)], list(row)
    if hasattr(row, "__dict__"):
        items = sorted(vars(row).items())
        return [k for k, _ in items], [v for _, v in items]
    raise TypeError(f"Can not infer schema for type: {type(row)}")


def infer_schema(row: Any, names: list[str] | None = None) -> StructType:
    """The struct type of one row."""
    fields, values = _named_values(row, names)
    return StructType([StructField(name, infer_type(value), True)
                       for name, value in zip(fields, values)])


def merge_types(left: DataType, right: DataType) -> DataType:
    """Two inferred types of one column, as one (None's type gives way)."""
    if isinstance(left, NullType):
        return right
    if isinstance(right, NullType):
        return left
    if type(left) is not type(right):
        raise TypeError(f"Can not merge type `{type(left).__name__}` and `{type(right).__name__}`")
    if isinstance(left, StructType):
        by_name = {field.name: field for field in right.fields}
        merged = [StructField(f.name, merge_types(f.dataType, by_name[f.name].dataType)
                              if f.name in by_name else f.dataType, True) for f in left.fields]
        mine = set(left.names)
        merged += [f for f in right.fields if f.name not in mine]
        return StructType(merged)
    if isinstance(left, ArrayType):
        return ArrayType(merge_types(left.elementType, right.elementType), True)
    if isinstance(left, MapType):
        return MapType(merge_types(left.keyType, right.keyType),
                       merge_types(left.valueType, right.valueType), True)
    return left


def has_null_type(data_type: DataType) -> bool:
    if isinstance(data_type, NullType):
        return True
    if isinstance(data_type, StructType):
        return any(has_null_type(field.dataType) for field in data_type.fields)
    if isinstance(data_type, ArrayType):
        return has_null_type(data_type.elementType)
    if isinstance(data_type, MapType):
        return has_null_type(data_type.keyType) or has_null_type(data_type.valueType)
    return False


_ATOMIC = {
    "string": StringType, "binary": BinaryType, "boolean": BooleanType, "date": DateType,
    "timestamp": TimestampType, "double": DoubleType, "float": FloatType, "real": FloatType,
    "byte": ByteType, "tinyint": ByteType, "short": ShortType, "smallint": ShortType,
    "int": IntegerType, "integer": IntegerType, "long": LongType, "bigint": LongType,
    "void": NullType, "null": NullType,
}


def parse_type(text: str) -> DataType:
    """A data type from its DDL form: ``"int"``, ``"array<string>"``,
    ``"map<string,bigint>"``, ``"decimal(10,2)"``, ``"a int, b string"``,
    ``"struct<a:int,b:string>"``.

    >>> parse_type("a int, b array<string>")
    StructType([StructField('a', IntegerType(), True), StructField('b', ArrayType(StringType(), True), True)])
    """
    return _TypeParser(text).schema()


class _TypeParser:
    _TOKEN = re.compile(r"\s*(<|>|,|:|\(|\)|`[^`]*`|[A-Za-z_][A-Za-z0-9_]*|\d+)")

    def __init__(self, text: str):
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"a data type string must be non-empty, got {text!r}")
        self.text = text
        self.tokens: list[str] = []
        position = 0
        while position < len(text.rstrip()):
            match = self._TOKEN.match(text, position)
            if match is None:
                self._fail(f"unexpected character {text[position:].strip()[:1]!r}")
            self.tokens.append(match.group(1))
            position = match.end()
        self.at = 0

    def _fail(self, why: str) -> None:
        raise ValueError(f"cannot parse data type {self.text!r}: {why}; expected a type such "
                         f"as 'int', 'array<string>' or a schema such as 'a int, b string'")

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token.lower() != expected):
            self._fail(f"expected {expected or 'more'} at token {self.at + 1}, got {token!r}")
        self.at += 1
        return token

    def schema(self) -> DataType:
        """A lone type ("int", "array<string>"), or fields ("a int, b string")."""
        try:
            data_type = self.data_type()
            if self.peek() is None:
                return data_type
        except ValueError:
            pass
        self.at = 0
        return StructType(self.fields(end=None))

    def fields(self, end: str | None) -> list[StructField]:
        fields = []
        while True:
            name = self.take().strip("`")
            if self.peek() == ":":
                self.take(":")
            fields.append(StructField(name, self.data_type(), True))
            if self.peek() == ",":
                self.take(",")
                continue
            if self.peek() == end:
                return fields
            self._fail(f"expected ',' after field {name!r}")

    def data_type(self) -> DataType:
        name = self.take().lower()
        if name in _ATOMIC:
            return _ATOMIC[name]()
        if name == "decimal":
            if self.peek() == "(":
                self.take("(")
                precision = int(self.take())
                scale = 0
                if self.peek() == ",":
                    self.take(",")
                    scale = int(self.take())
                self.take(")")
                return DecimalType(precision, scale)
            return DecimalType()
        if name == "array":
            self.take("<")
            element = self.data_type()
            self.take(">")
            return ArrayType(element, True)
        if name == "map":
            self.take("<")
            key = self.data_type()
            self.take(",")
            value = self.data_type()
            self.take(">")
            return MapType(key, value, True)
        if name == "struct":
            self.take("<")
            if self.peek() == ">":
                self.take(">")
                return StructType([])
            fields = self.fields(end=">")
            self.take(">")
            return StructType(fields)
        self._fail(f"unknown type {name!r}")
        raise AssertionError  # not reached


_ACCEPTED: dict[type, tuple[type, ...]] = {
    StringType: (str,), BinaryType: (bytes, bytearray), BooleanType: (bool,),
    DateType: (datetime.date,), TimestampType: (datetime.datetime,),
    DoubleType: (float,), FloatType: (float,), DecimalType: (decimal.Decimal,),
    ByteType: (int,), ShortType: (int,), IntegerType: (int,), LongType: (int,),
    NullType: (type(None),),
}
_INT_BITS = {ByteType: 8, ShortType: 16, IntegerType: 32, LongType: 64}


def verify(value: Any, data_type: DataType, name: str, nullable: bool = True) -> None:
    """Refuse a value the column's type cannot hold, naming the field."""
    if value is None:
        if not nullable:
            raise ValueError(f"field {name}: This field is not nullable, but got None")
        return
    if isinstance(data_type, StructType):
        if isinstance(value, dict):
            values = [value.get(field.name) for field in data_type.fields]
        elif isinstance(value, Row) and hasattr(value, "__fields__"):
            values = [value[field.name] if field.name in value else None
                      for field in data_type.fields]
        elif isinstance(value, (tuple, list)):
            if len(value) != len(data_type.fields):
                raise ValueError(f"field {name}: Length of object ({len(value)}) does not match "
                                 f"with length of fields ({len(data_type.fields)})")
            values = list(value)
        else:
            raise TypeError(f"field {name}: {data_type!r} can not accept object {value!r} in "
                            f"type {type(value)}")
        for field, item in zip(data_type.fields, values):
            verify(item, field.dataType, f"{name}.{field.name}" if name else field.name,
                   field.nullable)
        return
    if isinstance(data_type, ArrayType):
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"field {name}: {data_type!r} can not accept object {value!r} in "
                            f"type {type(value)}")
        for item in value:
            verify(item, data_type.elementType, name, data_type.containsNull)
        return
    if isinstance(data_type, MapType):
        if not isinstance(value, dict):
            raise TypeError(f"field {name}: {data_type!r} can not accept object {value!r} in "
                            f"type {type(value)}")
        for key, item in value.items():
            verify(key, data_type.keyType, name, False)
            verify(item, data_type.valueType, name, data_type.valueContainsNull)
        return
    accepted = _ACCEPTED.get(type(data_type), (object,))
    if not isinstance(value, accepted) or (isinstance(value, bool) and bool not in accepted):
        raise TypeError(f"field {name}: {data_type!r} can not accept object {value!r} in type "
                        f"{type(value)}")
    bits = _INT_BITS.get(type(data_type))
    if bits and not -(1 << (bits - 1)) <= value < (1 << (bits - 1)):
        raise ValueError(f"field {name}: object of {data_type!r} out of range, got: {value}")


def to_row(value: Any, schema: StructType) -> Row:
    """One row of ``schema`` made from a row-like object: a dict, a named
    row or object by field name, a tuple or list by position."""
    names = schema.names
    if isinstance(value, dict):
        values = [value.get(name) for name in names]
    elif isinstance(value, Row) and hasattr(value, "__fields__"):
        values = [value[name] if name in value else None for name in names]
    elif isinstance(value, (tuple, list)):
        values = list(value)
    elif hasattr(value, "__dict__"):
        values = [getattr(value, name, None) for name in names]
    else:
        raise TypeError(f"Can not convert {type(value)} to a row of {schema.simpleString()}")
    return _create_row(names, [_nested(v, f.dataType) for v, f in zip(values, schema.fields)])


def _nested(value: Any, data_type: DataType) -> Any:
    """Nested rows as Rows, nested in lists and dicts too."""
    if value is None:
        return None
    if isinstance(data_type, StructType):
        return to_row(value, data_type)
    if isinstance(data_type, ArrayType) and isinstance(data_type.elementType, StructType):
        return [_nested(v, data_type.elementType) for v in value]
    if isinstance(data_type, MapType) and isinstance(data_type.valueType, StructType):
        return {k: _nested(v, data_type.valueType) for k, v in value.items()}
    return value
