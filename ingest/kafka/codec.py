"""Kafka's request and response messages, encoded and decoded from Kafka's
own message schemas.

``schemas/`` holds Kafka's JSON message definitions (Apache-2.0, see
``schemas/NOTICE``), unchanged. For each message and version asked for, this
module generates the Python source of a reader and a writer from the schema
(field types, ``versions``, ``nullableVersions``, flexible versions with
compact encodings and tagged fields, defaults), compiles it once and caches
it. So adding an API or a version is a schema file and a handler, never a
hand-written codec.

A decoded message is a dict keyed by the schema's field names
(``{"Acks": -1, "TopicData": [{"Name": ..., "PartitionData": [...]}]}``);
fields the version does not have hold their defaults, so handlers read one
shape across versions. Writers take the same shape; missing fields are
written with their defaults and fields the version lacks are left out.
``records`` fields are bytes, untouched.

Malformed input (bytes cut short, a length or count larger than what is
left, a negative non-nullable length, invalid UTF-8) raises
:class:`MalformedRequest` before anything is allocated for it: a count of
2**31 is compared with the bytes present first.

What it must not know: what the messages mean (``handlers``), sockets.

Thread-safety: generated functions are pure; the cache is filled under a lock.
"""

from __future__ import annotations

import json
import os
import struct
import threading
import uuid
from typing import Any, Callable

SCHEMA_DIR = os.path.join(os.path.dirname(__file__), "schemas")


class MalformedRequest(ValueError):
    """Bytes that do not decode as the message they claim to be."""


# --- reading the schema files ------------------------------------------------------


def _strip_comments(text: str) -> str:
    """JSON with ``//`` comments (Kafka's schema files) -> JSON."""
    out, i, n, in_string = [], 0, len(text), False
    while i < n:
        c = text[i]
        if in_string:
            out.append(c)
            if c == "\\":
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
            out.append(c)
        elif c == "/" and text.startswith("//", i):
            while i < n and text[i] != "\n":
                i += 1
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)


_schemas: dict[str, dict] = {}


def schema(name: str) -> dict:
    """The parsed schema ``name`` (e.g. ``"ProduceRequest"``)."""
    doc = _schemas.get(name)
    if doc is None:
        with open(os.path.join(SCHEMA_DIR, name + ".json"), encoding="utf-8") as handle:
            doc = _schemas[name] = json.loads(_strip_comments(handle.read()))
    return doc


class Versions:
    """A schema version range: ``"3+"``, ``"1-4"``, ``"5"`` or ``"none"``."""

    __slots__ = ("low", "high")

    def __init__(self, spec: str | None):
        if spec is None or spec == "none":
            self.low, self.high = 1, 0
        elif spec.endswith("+"):
            self.low, self.high = int(spec[:-1]), 1 << 15
        elif "-" in spec:
            low, high = spec.split("-")
            self.low, self.high = int(low), int(high)
        else:
            self.low = self.high = int(spec)

    def __contains__(self, version: int) -> bool:
        return self.low <= version <= self.high


# --- primitive helpers the generated code calls -------------------------------------

_I8 = struct.Struct(">b").unpack_from
_I16 = struct.Struct(">h").unpack_from
_U16 = struct.Struct(">H").unpack_from
_I32 = struct.Struct(">i").unpack_from
_U32 = struct.Struct(">I").unpack_from
_I64 = struct.Struct(">q").unpack_from
_F64 = struct.Struct(">d").unpack_from
_P8 = struct.Struct(">b").pack
_P16 = struct.Struct(">h").pack
_PU16 = struct.Struct(">H").pack
_P32 = struct.Struct(">i").pack
_PU32 = struct.Struct(">I").pack
_P64 = struct.Struct(">q").pack
_PF64 = struct.Struct(">d").pack
ZERO_UUID = bytes(16)


def read_uvarint(buf, p: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = buf[p]
        p += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, p
        shift += 7
        if shift > 35:
            raise MalformedRequest("an unsigned varint longer than 5 bytes")


def uvarint(value: int) -> bytes:
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _need(buf, p: int, n: int, what: str) -> None:
    if n < 0 or p + n > len(buf):
        raise MalformedRequest(f"{what}: length {n} at byte {p}, but {len(buf) - p} bytes remain")


def _str(buf, p: int, n: int, what: str) -> str:
    _need(buf, p, n, what)
    try:
        return str(buf[p:p + n], "utf-8")
    except UnicodeDecodeError:
        raise MalformedRequest(f"{what}: invalid UTF-8") from None


def _skip_tags(buf, p: int) -> int:
    count, p = read_uvarint(buf, p)
    _need(buf, p, count, "tagged fields")
    for _ in range(count):
        _, p = read_uvarint(buf, p)
        size, p = read_uvarint(buf, p)
        _need(buf, p, size, "a tagged field")
        p += size
    return p


_HELPERS = {name: value for name, value in globals().items()
            if name.startswith("_") and callable(value) and name[1:2].isupper()}
_HELPERS.update(_need=_need, _str=_str, _skip_tags=_skip_tags, read_uvarint=read_uvarint,
                uvarint=uvarint, MalformedRequest=MalformedRequest, ZERO_UUID=ZERO_UUID)


# --- generating readers and writers ---------------------------------------------------

_INTS = {"int8": ("_I8", "_P8", 1), "int16": ("_I16", "_P16", 2), "uint16": ("_U16", "_PU16", 2),
         "int32": ("_I32", "_P32", 4), "uint32": ("_U32", "_PU32", 4),
         "int64": ("_I64", "_P64", 8), "float64": ("_F64", "_PF64", 8)}


def _default(field: dict) -> Any:
    kind = field["type"]
    value = field.get("default")
    if kind.startswith("[]"):
        return None if value == "null" else []
    if value == "null":
        return None
    if kind == "bool":
        return value in (True, "true")
    if kind in _INTS:
        if value is None or value == "":
            return 0.0 if kind == "float64" else 0
        return float(value) if kind == "float64" else int(str(value), 0)
    if kind == "string":
        return "" if value is None else str(value)
    if kind in ("bytes", "records"):
        return b"" if kind == "bytes" else None
    if kind == "uuid":
        return ZERO_UUID
    return None  # a struct


class _Gen:
    """Generates the reader and writer source of one message version."""

    def __init__(self, doc: dict, version: int):
        self.doc = doc
        self.version = version
        self.flexible = version in Versions(doc.get("flexibleVersions"))
        self.common = {s["name"]: s for s in doc.get("commonStructs", ())}
        self.lines: list[str] = []
        self.counter = 0
        self.constants: dict[str, Any] = {}

    def name(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def const(self, value: Any) -> str:
        key = self.name("_c")
        self.constants[key] = value
        return key

    def struct_fields(self, field: dict) -> list[dict]:
        fields = field.get("fields")
        if fields is None:
            fields = self.common[field["type"].removeprefix("[]")]["fields"]
        return fields

    def present(self, fields: list[dict]) -> tuple[list[dict], list[dict], list[dict]]:
        """(regular fields, tagged fields, absent fields) of this version."""
        regular, tagged, absent = [], [], []
        for field in fields:
            if self.version not in Versions(field.get("versions")):
                absent.append(field)
            elif "tag" in field and self.version in Versions(field.get("taggedVersions")):
                tagged.append(field)
            else:
                regular.append(field)
        return regular, tagged, absent

    def field_flexible(self, field: dict) -> bool:
        if "flexibleVersions" in field:
            return self.version in Versions(field["flexibleVersions"])
        return self.flexible

    # --- readers ---------------------------------------------------------------------

    def reader(self, fields: list[dict], fn: str) -> None:
        regular, tagged, absent = self.present(fields)
        body = ["o = {}"]
        for field in absent:
            body.append(f"o[{field['name']!r}] = {self.const(_default(field))}")
        for field in tagged:
            body.append(f"o[{field['name']!r}] = {self.const(_default(field))}")
        for field in regular:
            body.extend(self.read_value(field, f"o[{field['name']!r}]"))
        if self.flexible:
            if tagged:
                tag_fn = self.name("_t")
                self.tag_reader(tagged, tag_fn)
                body.append(f"p = {tag_fn}(buf, p, o)")
            else:
                body.append("p = _skip_tags(buf, p)")
        body.append("return o, p")
        self.lines.append(f"def {fn}(buf, p):")
        self.lines.extend("    " + line for line in body)

    def tag_reader(self, tagged: list[dict], fn: str) -> None:
        body = ["count, p = read_uvarint(buf, p)", "_need(buf, p, count, 'tagged fields')",
                "for _ in range(count):", "    tag, p = read_uvarint(buf, p)",
                "    size, p = read_uvarint(buf, p)", "    _need(buf, p, size, 'a tagged field')",
                "    end = p + size"]
        first = True
        for field in tagged:
            body.append(f"    {'if' if first else 'elif'} tag == {int(field['tag'])}:")
            body.extend("        " + line for line in self.read_value(field, f"o[{field['name']!r}]"))
            first = False
        body.append("    p = end")
        body.append("return p")
        self.lines.append(f"def {fn}(buf, p, o):")
        self.lines.extend("    " + line for line in body)

    def read_value(self, field: dict, target: str) -> list[str]:
        kind, name = field["type"], field["name"]
        nullable = self.version in Versions(field.get("nullableVersions"))
        flexible = self.field_flexible(field)
        if kind.startswith("[]"):
            inner = kind[2:]
            lines = (["n, p = read_uvarint(buf, p)", "n -= 1"] if flexible else
                     ["n = _I32(buf, p)[0]", "p += 4"])
            lines += ["if n < 0:",
                      f"    {target} = None" if nullable else
                      f"    raise MalformedRequest('{name}: null array where none is allowed')",
                      "else:",
                      f"    _need(buf, p, n, '{name}')",
                      "    items = []"]
            if inner in _INTS or inner in ("bool", "string", "bytes", "uuid"):
                element = dict(field, type=inner, nullableVersions="none")
                lines += ["    for _ in range(n):"]
                lines += ["        " + line for line in self.read_value(element, "v")]
                lines += ["        items.append(v)"]
            else:
                fn = self.name("_r")
                self.reader(self.struct_fields(field), fn)
                lines += ["    for _ in range(n):", f"        v, p = {fn}(buf, p)",
                          "        items.append(v)"]
            lines.append(f"    {target} = items")
            return lines
        if kind in _INTS:
            unpack, _, size = _INTS[kind]
            return [f"{target} = {unpack}(buf, p)[0]", f"p += {size}"]
        if kind == "bool":
            return [f"{target} = buf[p] != 0", "p += 1"]
        if kind == "uuid":
            return ["_need(buf, p, 16, 'uuid')", f"{target} = bytes(buf[p:p + 16])", "p += 16"]
        if kind in ("string", "bytes", "records"):
            if flexible:
                lines = ["n, p = read_uvarint(buf, p)", "n -= 1"]
            elif kind == "string":
                lines = ["n = _I16(buf, p)[0]", "p += 2"]
            else:
                lines = ["n = _I32(buf, p)[0]", "p += 4"]
            null = (f"    {target} = None" if nullable or kind == "records" else
                    f"    raise MalformedRequest('{name}: null where none is allowed')")
            value = (f"_str(buf, p, n, '{name}')" if kind == "string" else
                     "buf[p:p + n]" if kind == "records" else "bytes(buf[p:p + n])")
            lines += ["if n < 0:", null, "else:"]
            if kind != "string":
                lines.append(f"    _need(buf, p, n, '{name}')")
            lines += [f"    {target} = {value}", "    p += n"]
            return lines
        # a struct field (not an array)
        fn = self.name("_r")
        self.reader(self.struct_fields(field), fn)
        if nullable:
            return ["b = _I8(buf, p)[0]", "p += 1", "if b < 0:", f"    {target} = None",
                    "else:", f"    {target}, p = {fn}(buf, p)"]
        return [f"{target}, p = {fn}(buf, p)"]

    # --- writers ---------------------------------------------------------------------

    def writer(self, fields: list[dict], fn: str) -> None:
        regular, tagged, _ = self.present(fields)
        body = []
        for field in regular:
            value = f"o.get({field['name']!r}, {self.const(_default(field))})"
            body.append(f"v = {value}")
            body.extend(self.write_value(field, "v"))
        if self.flexible:
            if tagged:
                body.append("tags = []")
                for field in sorted(tagged, key=lambda f: int(f["tag"])):
                    default = self.const(_default(field))
                    body.append(f"v = o.get({field['name']!r}, {default})")
                    body.append(f"if v != {default}:")
                    body.append("    sub = []")
                    body.extend("    " + line.replace("out.", "sub.").replace(", out)", ", sub)")
                                for line in self.write_value(field, "v"))
                    body.append("    data = b''.join(sub)")
                    body.append(f"    tags.append(uvarint({int(field['tag'])}) + "
                                f"uvarint(len(data)) + data)")
                body.append("out.append(uvarint(len(tags)))")
                body.append("out.extend(tags)")
            else:
                body.append("out.append(b'\\x00')")
        if not body:
            body.append("pass")
        self.lines.append(f"def {fn}(o, out):")
        self.lines.extend("    " + line for line in body)

    def write_value(self, field: dict, value: str) -> list[str]:
        kind = field["type"]
        flexible = self.field_flexible(field)
        if kind.startswith("[]"):
            inner = kind[2:]
            lines = ["if v is None:",
                     "    out.append(b'\\x00')" if flexible else "    out.append(_P32(-1))",
                     "else:",
                     "    out.append(uvarint(len(v) + 1))" if flexible else
                     "    out.append(_P32(len(v)))"]
            if inner in _INTS or inner in ("bool", "string", "bytes", "uuid"):
                element = dict(field, type=inner, nullableVersions="none")
                lines += ["    for item in v:"]
                lines += ["        " + line for line in self.write_value(element, "item")]
            else:
                fn = self.name("_w")
                self.writer(self.struct_fields(field), fn)
                lines += ["    for item in v:", f"        {fn}(item, out)"]
            return [line.replace("v is None", f"{value} is None").replace("len(v)", f"len({value})")
                    .replace("in v:", f"in {value}:") for line in lines]
        if kind in _INTS:
            _, pack, _ = _INTS[kind]
            return [f"out.append({pack}({value}))"]
        if kind == "bool":
            return [f"out.append(b'\\x01' if {value} else b'\\x00')"]
        if kind == "uuid":
            return [f"out.append(bytes({value}) if {value} else ZERO_UUID)"]
        if kind in ("string", "bytes", "records"):
            data = f"{value}.encode()" if kind == "string" else value
            if flexible:
                null, length = "b'\\x00'", "uvarint(len(d) + 1)"
            elif kind == "string":
                null, length = "_P16(-1)", "_P16(len(d))"
            else:
                null, length = "_P32(-1)", "_P32(len(d))"
            return [f"if {value} is None:", f"    out.append({null})", "else:",
                    f"    d = {data}", f"    out.append({length})", "    out.append(d)"]
        fn = self.name("_w")
        self.writer(self.struct_fields(field), fn)
        nullable = self.version in Versions(field.get("nullableVersions"))
        if nullable:
            return [f"if {value} is None:", "    out.append(b'\\xff')", "else:",
                    "    out.append(b'\\x01')", f"    {fn}({value}, out)"]
        return [f"{fn}({value}, out)"]


_cache: dict[tuple[str, int, str], Callable] = {}
_cache_lock = threading.Lock()


def _compile(name: str, version: int, kind: str) -> Callable:
    doc = schema(name)
    if version not in Versions(doc["validVersions"]):
        raise MalformedRequest(f"{name} has no version {version} (valid: {doc['validVersions']})")
    gen = _Gen(doc, version)
    if kind == "read":
        gen.reader(doc["fields"], "_entry")
    else:
        gen.writer(doc["fields"], "_entry")
    namespace = dict(_HELPERS, **gen.constants)
    source = "\n".join(gen.lines)
    exec(compile(source, f"<kafka codec {name} v{version} {kind}>", "exec"), namespace)
    return namespace["_entry"]


def _get(name: str, version: int, kind: str) -> Callable:
    key = (name, version, kind)
    fn = _cache.get(key)
    if fn is None:
        with _cache_lock:
            fn = _cache.get(key)
            if fn is None:
                fn = _cache[key] = _compile(name, version, kind)
    return fn


def decode(name: str, version: int, buf, p: int = 0, *, whole: bool = True) -> dict:
    """Decode message ``name`` at ``version`` from ``buf[p:]``; with
    ``whole``, trailing bytes are an error too."""
    try:
        message, end = _get(name, version, "read")(buf, p)
    except MalformedRequest:
        raise
    except (IndexError, struct.error) as error:
        raise MalformedRequest(f"{name} v{version} is cut short ({error})") from None
    if whole and end != len(buf):
        raise MalformedRequest(f"{name} v{version}: {len(buf) - end} bytes after the message")
    return message


def decode_prefix(name: str, version: int, buf, p: int = 0) -> tuple[dict, int]:
    """Decode message ``name`` at ``p``; returns it and where it ended."""
    try:
        return _get(name, version, "read")(buf, p)
    except (IndexError, struct.error) as error:
        raise MalformedRequest(f"{name} v{version} is cut short ({error})") from None


def encode(name: str, version: int, message: dict) -> list:
    """The parts (bytes) of message ``name`` at ``version``."""
    out: list = []
    _get(name, version, "write")(message, out)
    return out


def encode_bytes(name: str, version: int, message: dict) -> bytes:
    return b"".join(encode(name, version, message))


def valid_versions(name: str) -> tuple[int, int]:
    spec = Versions(schema(name)["validVersions"])
    return spec.low, spec.high


def is_flexible(name: str, version: int) -> bool:
    return version in Versions(schema(name).get("flexibleVersions"))


def new_uuid() -> bytes:
    return uuid.uuid4().bytes

