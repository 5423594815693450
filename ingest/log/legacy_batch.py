"""The record batch format of earlier ember versions (magic 1), kept only
to read logs written by them: ``format_upgrade`` converts such segments to
Kafka's RecordBatch v2 (``record_batch``) when a log directory is opened,
and tests write it to check that conversion. Nothing else uses it.

On-disk (and on-wire) format, big-endian, no padding::

    byte  size  field
       0     8  base_offset        int64   offset of the first record
       8     4  length             int32   bytes after this field
      12     4  crc                uint32  zlib.crc32 of bytes [16, 12 + length)
      16     1  magic              int8    format version (1)
      17     2  attributes         int16   reserved, written as 0
      19     4  last_offset_delta  int32   last record's offset - base_offset
      23     4  record_count       int32   >= 1
      27     8  first_timestamp    int64   ms since the epoch
      35     8  max_timestamp      int64   ms since the epoch
      43     8  producer_id        int64   -1 when not idempotent
      51     2  producer_epoch     int16
      53     4  base_sequence      int32   first record's sequence number
      57        records

    record: offset_delta int32, timestamp_delta int64 (from first_timestamp),
            key_length int32, value_length int32 (-1 means None),
            header_count uint16, key, value, then header_count times:
            key_length uint16, key (UTF-8), value_length int32 (-1: None), value

The base offset sits before the CRC, outside what it covers, so the log can
stamp offsets on a producer's batch without recomputing the checksum.

After a crash a stored batch is either whole or detectably broken: every
reader checks the length against the bytes present and the CRC against the
content, and reports a failure as :class:`CorruptRecordError` (never an
``IndexError`` or ``struct.error``).

Invariants: record offset deltas strictly increase and the last one is at most
``last_offset_delta``; ``max_timestamp`` is the largest record timestamp; the
decoder consumes exactly ``length`` bytes.

Thread-safety: pure functions over their arguments; safe from any thread.
"""

from __future__ import annotations

import struct
import zlib
from typing import Iterator, NamedTuple, Sequence

from ember.engine.clock import SYSTEM_CLOCK
from ember.engine.errors import CorruptRecordError

MAGIC = 1
NO_PRODUCER_ID = -1
NO_PRODUCER_EPOCH = -1
NO_SEQUENCE = -1
NO_TIMESTAMP = -1

_PREFIX = struct.Struct(">qiI")           # base_offset, length, crc
_TAIL = struct.Struct(">bhiiqqqhi")      # the CRC-covered rest of the header
_HEADER = struct.Struct(">qiIbhiiqqqhi")  # _PREFIX + _TAIL, parsed in one call
_BASE_OFFSET = struct.Struct(">q")
_RECORD = struct.Struct(">iqiiH")
_HEADER_KEY = struct.Struct(">H")
_HEADER_VALUE = struct.Struct(">i")

HEADER_SIZE = _HEADER.size                # 57
LOG_OVERHEAD = 12                         # base_offset + length: not counted in length
CRC_START = 16
_MIN_LENGTH = HEADER_SIZE - LOG_OVERHEAD
_MAX_HEADERS = 0xFFFF
_EMPTY = ()


class SimpleRecord(NamedTuple):
    """A record to encode; ``timestamp`` None means the batch's timestamp."""
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes | None]] = ()
    timestamp: int | None = None


class Record(NamedTuple):
    """A decoded record with its offset."""
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()


class BatchHeader(NamedTuple):
    base_offset: int
    length: int
    crc: int
    magic: int
    attributes: int
    last_offset_delta: int
    record_count: int
    first_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int

    @property
    def size(self) -> int:
        """Bytes the whole batch occupies."""
        return self.length + LOG_OVERHEAD

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        return self.base_offset + self.last_offset_delta + 1


# --- encoding -------------------------------------------------------------------


def encode_batch(records: Sequence[SimpleRecord], *, base_offset: int = 0,
                 timestamp: int | None = None, producer_id: int = NO_PRODUCER_ID,
                 producer_epoch: int = NO_PRODUCER_EPOCH,
                 base_sequence: int = NO_SEQUENCE) -> bytes:
    """Encode ``records`` (``SimpleRecord`` or 4-tuples of the same fields).

    ``timestamp`` (ms) stands in for records without one; if it is None too,
    the system clock is read once.
    """
    if not records:
        raise ValueError("a record batch needs at least one record, got none")
    if timestamp is None:
        timestamp = SYSTEM_CLOCK.time_ms()
    parts = []
    append = parts.append
    pack = _RECORD.pack
    try:
        first_ts = records[0][3]
        if first_ts is None:
            first_ts = timestamp
        max_ts = first_ts
        for delta, (key, value, headers, ts) in enumerate(records):
            if ts is None:
                ts = timestamp
            if ts > max_ts:
                max_ts = ts
            append(pack(delta, ts - first_ts, -1 if key is None else len(key),
                        -1 if value is None else len(value), len(headers)))
            if key is not None:
                append(key)
            if value is not None:
                append(value)
            if headers:
                append(_encode_headers(headers))
        body = b"".join(parts)
        tail = _TAIL.pack(MAGIC, 0, len(records) - 1, len(records), first_ts, max_ts,
                          producer_id, producer_epoch, base_sequence)
        crc = zlib.crc32(body, zlib.crc32(tail))
        prefix = _PREFIX.pack(base_offset, len(tail) + len(body) + 4, crc)
    except (TypeError, ValueError, IndexError, struct.error, UnicodeEncodeError) as error:
        raise _explain(records, error) from error
    return b"".join((prefix, tail, body))


def record_size(key, value, headers=()) -> int:
    """Bytes one record takes inside a batch (what ``encode_batch`` writes)."""
    size = _RECORD.size + (len(key) if key is not None else 0) + (len(value) if value is not None else 0)
    for name, header_value in headers:
        size += _HEADER_KEY.size + len(name.encode()) + _HEADER_VALUE.size
        size += len(header_value) if header_value is not None else 0
    return size


def _encode_headers(headers) -> bytes:
    if len(headers) > _MAX_HEADERS:
        raise ValueError(f"at most {_MAX_HEADERS} headers per record, got {len(headers)}")
    out = []
    for name, value in headers:
        if not isinstance(name, str):
            raise TypeError(f"a header name must be str, got {type(name).__name__}")
        raw = name.encode()
        out.append(_HEADER_KEY.pack(len(raw)))
        out.append(raw)
        out.append(_HEADER_VALUE.pack(-1 if value is None else len(value)))
        if value is not None:
            out.append(value)
    return b"".join(out)


def _explain(records, error: Exception) -> Exception:
    """Turn an encoding failure into an error that names the bad record."""
    for index, record in enumerate(records):
        if not isinstance(record, tuple) or len(record) != 4:
            return TypeError(f"record {index}: expected SimpleRecord(key, value, headers, "
                             f"timestamp), got {record!r:.80}")
        for field, item in (("key", record[0]), ("value", record[1])):
            if item is not None and not isinstance(item, (bytes, bytearray)):
                return TypeError(f"record {index}: {field} must be bytes or None, "
                                 f"got {type(item).__name__}")
        for header in record[2]:
            if not isinstance(header, tuple) or len(header) != 2:
                return TypeError(f"record {index}: a header must be a (str, bytes) pair, "
                                 f"got {header!r:.80}")
            if header[1] is not None and not isinstance(header[1], (bytes, bytearray)):
                return TypeError(f"record {index}: header {header[0]!r} value must be "
                                 f"bytes or None, got {type(header[1]).__name__}")
    kind = TypeError if isinstance(error, TypeError) else ValueError
    return kind(f"cannot encode record batch: {error}")


def with_base_offset(batch, base_offset: int) -> bytearray:
    """A copy of ``batch`` with its base offset set (the CRC stays valid)."""
    stamped = bytearray(batch)
    _BASE_OFFSET.pack_into(stamped, 0, base_offset)
    return stamped


# --- decoding -------------------------------------------------------------------


def corrupt(pos: int, reason: str) -> CorruptRecordError:
    """A CorruptRecordError for the batch at byte ``pos`` of the buffer at hand;
    ``position`` and ``reason`` let a file reader restate it in file terms."""
    error = CorruptRecordError(f"{reason} (batch at byte {pos})")
    error.position = pos
    error.reason = reason
    return error


def parse_header(buf, pos: int = 0) -> BatchHeader:
    """Parse and sanity-check the header at ``pos`` without touching records.

    Only the header's bytes need be in ``buf``: this is the cheap pass used to
    walk a log file. It does not check the CRC (see :func:`verify_crc`).
    """
    if len(buf) - pos < HEADER_SIZE:
        raise corrupt(pos, f"truncated batch header: {max(len(buf) - pos, 0)} of "
                           f"{HEADER_SIZE} bytes present")
    header = BatchHeader._make(_HEADER.unpack_from(buf, pos))
    if header.magic != MAGIC:
        problem = f"magic {header.magic}, expected {MAGIC}"
    elif header.length < _MIN_LENGTH:
        problem = f"length {header.length}, expected at least {_MIN_LENGTH}"
    elif header.base_offset < 0:
        problem = f"base offset {header.base_offset}, expected >= 0"
    elif header.record_count < 1 or header.last_offset_delta < header.record_count - 1:
        problem = (f"record count {header.record_count} with last offset delta "
                   f"{header.last_offset_delta}, expected 1 <= count <= delta + 1")
    else:
        return header
    raise corrupt(pos, f"invalid batch header: {problem}")


def verify_crc(buf, pos: int, header: BatchHeader) -> None:
    """Check that the whole batch is present and its CRC matches."""
    end = pos + header.size
    if end > len(buf):
        raise corrupt(pos, f"truncated batch (offsets {header.base_offset}.."
                           f"{header.last_offset}): {len(buf) - pos} of {header.size} "
                           f"bytes present")
    actual = zlib.crc32(memoryview(buf)[pos + CRC_START:end])
    if actual != header.crc:
        raise corrupt(pos, f"CRC mismatch (offsets {header.base_offset}..{header.last_offset}): "
                           f"stored {header.crc:#010x}, computed {actual:#010x}")


def check_batch(buf, pos: int = 0) -> BatchHeader:
    """Header checks plus CRC: what the log requires before storing a batch."""
    header = parse_header(buf, pos)
    verify_crc(buf, pos, header)
    return header


def scan_batches(buf, pos: int = 0, *, verify: bool = True) -> Iterator[tuple[int, BatchHeader]]:
    """Yield ``(position, header)`` for consecutive batches in ``buf``.

    Stops quietly at the first batch whose header (or, with ``verify``, whose
    whole body) is not entirely in ``buf``: callers that read a file in chunks
    continue from there. Raises :class:`CorruptRecordError` for a batch that is
    present but invalid.
    """
    size = len(buf)
    while size - pos >= HEADER_SIZE:
        header = parse_header(buf, pos)
        if verify:
            if pos + header.size > size:
                return
            verify_crc(buf, pos, header)
        yield pos, header
        pos += header.size


def decode_batch(buf, pos: int = 0) -> tuple[BatchHeader, list[Record]]:
    """Decode the batch at ``pos``, verifying its CRC first."""
    header = check_batch(buf, pos)
    end = pos + header.size
    base, first_ts = header.base_offset, header.first_timestamp
    unpack = _RECORD.unpack_from
    step = _RECORD.size
    new = tuple.__new__
    records = []
    append = records.append
    p = pos + HEADER_SIZE
    previous = -1
    try:
        for _ in range(header.record_count):
            delta, ts_delta, key_len, value_len, header_count = unpack(buf, p)
            p += step
            key, p = _nullable_bytes(buf, p, key_len, "key")
            value, p = _nullable_bytes(buf, p, value_len, "value")
            if header_count:
                headers, p = _decode_headers(buf, p, header_count)
            else:
                headers = _EMPTY
            if p > end or delta <= previous:
                raise ValueError("record runs past the batch end" if p > end
                                 else f"offset delta {delta} after {previous}")
            previous = delta
            append(new(Record, (base + delta, first_ts + ts_delta, key, value, headers)))
    except (struct.error, ValueError) as error:  # UnicodeDecodeError is a ValueError
        raise corrupt(pos, f"malformed record {len(records)} (base offset {base}): "
                           f"{error}") from error
    if p != end or previous > header.last_offset_delta:
        raise corrupt(pos, f"malformed batch (base offset {base}): records end at byte "
                           f"{p} of {end}, last offset delta {previous} of "
                           f"{header.last_offset_delta}")
    return header, records


def _nullable_bytes(buf, p: int, length: int, what: str):
    """``(bytes or None, next position)`` for a length-prefixed field."""
    if length >= 0:
        return bytes(buf[p:p + length]), p + length
    if length == -1:
        return None, p
    raise ValueError(f"negative {what} length {length}")


def _decode_headers(buf, p: int, count: int):
    headers = []
    for _ in range(count):
        (name_len,) = _HEADER_KEY.unpack_from(buf, p)
        p += 2
        name = bytes(buf[p:p + name_len]).decode()
        p += name_len
        (value_len,) = _HEADER_VALUE.unpack_from(buf, p)
        value, p = _nullable_bytes(buf, p + 4, value_len, "header value")
        headers.append((name, value))
    return tuple(headers), p


def iter_batches(buf) -> Iterator[tuple[BatchHeader, list[Record]]]:
    """Decode every batch in ``buf`` (e.g. what a log read returned)."""
    pos = 0
    while pos < len(buf):
        header, records = decode_batch(buf, pos)
        yield header, records
        pos += header.size


def iter_records(buf) -> Iterator[Record]:
    """Every record of every batch in ``buf``, in offset order."""
    for _, records in iter_batches(buf):
        yield from records
