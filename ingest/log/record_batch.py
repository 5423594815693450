"""RecordBatch: the unit the log store writes, checks, stores and ships.

The format is Kafka's RecordBatch v2 (magic 2), the same bytes on disk, on
ember's own wire and on Kafka's wire: a producer (ember's or any Kafka
client) encodes records into one batch; the log assigns its offsets by
rewriting the base offset (and stamps the partition leader epoch) and
appends the bytes otherwise unchanged; a reader gets the same bytes back and
decodes them. The broker never re-encodes or recompresses a batch.

Layout, big-endian, no padding::

    byte  size  field
       0     8  base_offset             int64   offset of the first record
       8     4  length                  int32   bytes after this field
      12     4  partition_leader_epoch  int32   stamped by the leader at append
      16     1  magic                   int8    2
      17     4  crc                     uint32  CRC-32C of bytes [21, 12 + length)
      21     2  attributes              int16   bits 0-2 codec (compression.py),
                                                3 log-append time, 4 transactional,
                                                5 control batch
      23     4  last_offset_delta       int32
      27     8  first_timestamp         int64   ms since the epoch (baseTimestamp)
      35     8  max_timestamp           int64
      43     8  producer_id             int64   -1 when not idempotent
      51     2  producer_epoch          int16
      53     4  base_sequence           int32   first record's sequence number
      57     4  record_count            int32   >= 1
      61        records (compressed as one block when the codec is not 0)

    record: length varint, attributes int8, timestamp_delta varlong,
            offset_delta varint, key_length varint (-1: None), key,
            value_length varint (-1: None), value, header_count varint, then
            per header: key_length varint, key (UTF-8), value_length varint, value
    (varints are zigzag-encoded, as protobuf's sint32/sint64)

Base offset and leader epoch sit before the CRC, outside what it covers, so
the log stamps them on a producer's batch without recomputing the checksum
(for a compressed batch, without touching the compressed block at all).

After a crash a stored batch is either whole or detectably broken: every
reader checks the length against the bytes present and the CRC against the
content, and reports a failure as :class:`CorruptRecordError` (never an
``IndexError`` or ``struct.error``). What a producer sends is checked
further before it is stored (:func:`validate_batch`): every record must
parse (after decompression) and their count must be the header's.

Invariants: record offset deltas are 0, 1, ..., ``record_count - 1`` for
batches ember writes (Kafka's rule for magic 2; readers only require them to
increase); ``max_timestamp`` is the largest record timestamp; the decoder
consumes exactly ``length`` bytes.

Thread-safety: pure functions over their arguments; safe from any thread.
"""

from __future__ import annotations

import struct
from typing import Iterator, NamedTuple, Sequence

from crc32c import crc32c

from ember.engine.clock import SYSTEM_CLOCK
from ember.engine.errors import CorruptRecordError
from ember.ingest.log import compression

MAGIC = 2
NO_PRODUCER_ID = -1
NO_PRODUCER_EPOCH = -1
NO_SEQUENCE = -1
NO_TIMESTAMP = -1
NO_PARTITION_LEADER_EPOCH = -1

TIMESTAMP_TYPE_BIT = 0x08     # log-append time
TRANSACTIONAL_BIT = 0x10
CONTROL_BIT = 0x20

_PREFIX = struct.Struct(">qiibI")                    # base_offset .. crc
_TAIL = struct.Struct(">hiqqqhii")                   # the CRC-covered rest of the header
_HEADER = struct.Struct(">qiibIhiqqqhii")             # _PREFIX + _TAIL, parsed in one call
_BASE_OFFSET = struct.Struct(">q")
_LEADER_EPOCH = struct.Struct(">i")

HEADER_SIZE = _HEADER.size                # 61
LOG_OVERHEAD = 12                         # base_offset + length: not counted in length
MAGIC_OFFSET = 16
CRC_START = 21
_MIN_LENGTH = HEADER_SIZE - LOG_OVERHEAD
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
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    first_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    record_count: int

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

    @property
    def compression(self) -> int:
        return self.attributes & compression.CODEC_MASK

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & CONTROL_BIT)


# --- varints --------------------------------------------------------------------

def _zigzag_bytes(value: int) -> bytes:
    zigzag = (value << 1) ^ (value >> 63)
    out = bytearray()
    while zigzag >= 0x80:
        out.append((zigzag & 0x7F) | 0x80)
        zigzag >>= 7
    out.append(zigzag)
    return bytes(out)


_SMALL_FROM = -1
_SMALL = [_zigzag_bytes(n) for n in range(_SMALL_FROM, 1 << 14)]


def varint(value: int) -> bytes:
    """Kafka's zigzag varint (varlong) encoding of ``value``."""
    if -1 <= value < 16384:
        return _SMALL[value + 1]
    return _zigzag_bytes(value)


def read_varint(buf, p: int) -> tuple[int, int]:
    """``(value, next position)`` of the zigzag varint at ``p``; ValueError
    when it is longer than 10 bytes, IndexError when cut short."""
    shift = result = 0
    while True:
        b = buf[p]
        p += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return (result >> 1) ^ -(result & 1), p
        shift += 7
        if shift > 63:
            raise ValueError("a varint longer than 10 bytes")


# --- encoding -------------------------------------------------------------------


def encode_batch(records: Sequence[SimpleRecord], *, base_offset: int = 0,
                 timestamp: int | None = None, producer_id: int = NO_PRODUCER_ID,
                 producer_epoch: int = NO_PRODUCER_EPOCH,
                 base_sequence: int = NO_SEQUENCE, compression_type: int = compression.NONE,
                 partition_leader_epoch: int = NO_PARTITION_LEADER_EPOCH) -> bytes:
    """Encode ``records`` (``SimpleRecord`` or 4-tuples of the same fields).

    ``timestamp`` (ms) stands in for records without one; if it is None too,
    the system clock is read once. ``compression_type``: a codec id of
    ``compression`` (0: none).
    """
    if not records:
        raise ValueError("a record batch needs at least one record, got none")
    if timestamp is None:
        timestamp = SYSTEM_CLOCK.time_ms()
    parts = []
    append = parts.append
    small = _SMALL
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
            ts_delta = ts - first_ts
            # attributes (0), timestamp delta, offset delta
            body = [b"\x00", small[ts_delta + 1] if -1 <= ts_delta < 16384 else varint(ts_delta),
                    small[delta + 1] if delta < 16383 else varint(delta)]
            if key is None:
                body.append(b"\x01")
            else:
                n = len(key)
                body.append(small[n + 1] if n < 16383 else varint(n))
                body.append(key)
            if value is None:
                body.append(b"\x01")
            else:
                n = len(value)
                body.append(small[n + 1] if n < 16383 else varint(n))
                body.append(value)
            if headers:
                body.append(_encode_headers(headers))
            else:
                body.append(b"\x00")
            data = b"".join(body)
            n = len(data)
            append(small[n + 1] if n < 16383 else varint(n))
            append(data)
        block = b"".join(parts)
        if compression_type:
            block = compression.compress(compression_type, block)
        count = len(records)
        tail = _TAIL.pack(compression_type & compression.CODEC_MASK, count - 1, first_ts,
                          max_ts, producer_id, producer_epoch, base_sequence, count)
        crc = crc32c(block, crc32c(tail))
        prefix = _PREFIX.pack(base_offset, len(tail) + len(block) + 9, partition_leader_epoch,
                              MAGIC, crc)
    except (TypeError, ValueError, IndexError, struct.error, UnicodeEncodeError) as error:
        raise _explain(records, error) from error
    return b"".join((prefix, tail, block))


def record_size(key, value, headers=()) -> int:
    """An upper bound of the bytes one record takes inside an uncompressed
    batch (what ``encode_batch`` writes, with every varint counted at its
    longest for the sizes involved)."""
    size = 1 + 5 + 10 + 5 + 5 + 5 + 5  # length, attributes, deltas, lengths, header count
    size += (len(key) if key is not None else 0) + (len(value) if value is not None else 0)
    for name, header_value in headers:
        size += 10 + len(name.encode()) + (len(header_value) if header_value is not None else 0)
    return size


def _encode_headers(headers) -> bytes:
    out = [varint(len(headers))]
    for name, value in headers:
        if not isinstance(name, str):
            raise TypeError(f"a header name must be str, got {type(name).__name__}")
        raw = name.encode()
        out.append(varint(len(raw)))
        out.append(raw)
        if value is None:
            out.append(b"\x01")
        else:
            out.append(varint(len(value)))
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


def with_base_offset(batch, base_offset: int,
                     partition_leader_epoch: int | None = None) -> bytearray:
    """A copy of ``batch`` with its base offset (and leader epoch) set; the
    CRC stays valid."""
    stamped = bytearray(batch)
    _BASE_OFFSET.pack_into(stamped, 0, base_offset)
    if partition_leader_epoch is not None:
        _LEADER_EPOCH.pack_into(stamped, 12, partition_leader_epoch)
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
    actual = crc32c(memoryview(buf)[pos + CRC_START:end])
    if actual != header.crc:
        raise corrupt(pos, f"CRC mismatch (offsets {header.base_offset}..{header.last_offset}): "
                           f"stored {header.crc:#010x}, computed {actual:#010x}")


def check_batch(buf, pos: int = 0) -> BatchHeader:
    """Header checks plus CRC: what every read requires of a stored batch."""
    header = parse_header(buf, pos)
    verify_crc(buf, pos, header)
    return header


def validate_batch(buf, *, limit: int = compression.DEFAULT_LIMIT) -> BatchHeader:
    """What the log requires before storing a produced batch: header, CRC,
    and records that parse (decompressed, at most ``limit`` bytes), exactly
    ``record_count`` of them with offset deltas 0, 1, ... (Kafka's rule)."""
    header = check_batch(buf)
    if header.is_control or header.attributes & TRANSACTIONAL_BIT:
        raise corrupt(0, "transactional and control batches are not supported by this store")
    block = records_block(buf, 0, header, limit)
    p, end, count = 0, len(block), 0
    try:
        while p < end:
            length, p = read_varint(block, p)
            if length < 1 or p + length > end:
                raise ValueError(f"record length {length} runs past the batch end")
            q = p + 1
            _, q = read_varint(block, q)
            delta, q = read_varint(block, q)
            if delta != count:
                raise ValueError(f"record {count} has offset delta {delta}")
            p += length
            count += 1
    except (IndexError, ValueError) as error:
        raise corrupt(0, f"malformed record {count}: {error}") from None
    if count != header.record_count or header.last_offset_delta != count - 1:
        raise corrupt(0, f"the batch holds {count} records, its header says "
                         f"{header.record_count} with last offset delta "
                         f"{header.last_offset_delta}")
    return header


def records_block(buf, pos: int, header: BatchHeader, limit: int = compression.DEFAULT_LIMIT):
    """The records of the (CRC-checked) batch at ``pos``, decompressed."""
    data = memoryview(buf)[pos + HEADER_SIZE:pos + header.size]
    codec = header.attributes & compression.CODEC_MASK
    if codec == compression.NONE:
        return bytes(data)
    try:
        return compression.decompress(codec, data, limit)
    except CorruptRecordError as error:
        raise corrupt(pos, f"{error} (offsets {header.base_offset}..{header.last_offset})") \
            from None


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


# Zigzag-decoded values of the one-byte varints (0..127).
_ONE_BYTE = tuple((b >> 1) ^ -(b & 1) for b in range(0x80))


def decode_batch(buf, pos: int = 0) -> tuple[BatchHeader, list[Record]]:
    """Decode the batch at ``pos`` (CRC first; decompressing if need be)."""
    header = check_batch(buf, pos)
    if header.is_control:
        return header, []
    block = records_block(buf, pos, header)
    base, first_ts = header.base_offset, header.first_timestamp
    fixed_ts = header.max_timestamp if header.attributes & TIMESTAMP_TYPE_BIT else None
    one = _ONE_BYTE
    new = tuple.__new__
    records = []
    append = records.append
    p, end = 0, len(block)
    previous = -1
    try:
        for _ in range(header.record_count):
            # Varints of one and two bytes are inlined (the one-byte values
            # looked up): this loop is what every consumer and topic RDD
            # spends its time in, and a 100-byte record's length, its value's
            # length and most offset deltas take two bytes.
            b = block[p]
            if b < 0x80:
                length = one[b]
                p += 1
            elif block[p + 1] < 0x80:
                z = (b & 0x7F) | (block[p + 1] << 7)
                length = (z >> 1) ^ -(z & 1)
                p += 2
            else:
                length, p = read_varint(block, p)
            record_end = p + length
            b = block[p + 1]  # past the record's attributes: unused by magic 2
            if b < 0x80:
                ts_delta = one[b]
                p += 2
            else:
                ts_delta, p = read_varint(block, p + 1)
            b = block[p]
            if b < 0x80:
                delta = one[b]
                p += 1
            elif block[p + 1] < 0x80:
                z = (b & 0x7F) | (block[p + 1] << 7)
                delta = (z >> 1) ^ -(z & 1)
                p += 2
            else:
                delta, p = read_varint(block, p)
            b = block[p]
            if b < 0x80:
                n = one[b]
                p += 1
            elif block[p + 1] < 0x80:
                z = (b & 0x7F) | (block[p + 1] << 7)
                n = (z >> 1) ^ -(z & 1)
                p += 2
            else:
                n, p = read_varint(block, p)
            if n >= 0:
                key = block[p:p + n]
                p += n
            elif n == -1:
                key = None
            else:
                raise ValueError(f"negative key length {n}")
            b = block[p]
            if b < 0x80:
                n = one[b]
                p += 1
            elif block[p + 1] < 0x80:
                z = (b & 0x7F) | (block[p + 1] << 7)
                n = (z >> 1) ^ -(z & 1)
                p += 2
            else:
                n, p = read_varint(block, p)
            if n >= 0:
                value = block[p:p + n]
                p += n
            elif n == -1:
                value = None
            else:
                raise ValueError(f"negative value length {n}")
            if block[p] == 0:
                headers = _EMPTY
                p += 1
            else:
                headers, p = _decode_headers(block, p)
            if p != record_end or delta <= previous:
                raise ValueError(f"record length {length} disagrees with its fields"
                                 if p != record_end else f"offset delta {delta} after {previous}")
            previous = delta
            append(new(Record, (base + delta, first_ts + ts_delta if fixed_ts is None else fixed_ts,
                                key, value, headers)))
    except (IndexError, ValueError) as error:  # UnicodeDecodeError is a ValueError
        raise corrupt(pos, f"malformed record {len(records)} (base offset {base}): "
                           f"{error}") from error
    if p != end or previous > header.last_offset_delta:
        raise corrupt(pos, f"malformed batch (base offset {base}): records end at byte "
                           f"{p} of {end}, last offset delta {previous} of "
                           f"{header.last_offset_delta}")
    return header, records


def _decode_headers(block, p: int):
    count, p = read_varint(block, p)
    if count < 0 or count > len(block):
        raise ValueError(f"header count {count}")
    headers = []
    for _ in range(count):
        n, p = read_varint(block, p)
        if n < 0:
            raise ValueError(f"negative header key length {n}")
        name = block[p:p + n].decode()
        p += n
        n, p = read_varint(block, p)
        if n >= 0:
            value = block[p:p + n]
            p += n
        elif n == -1:
            value = None
        else:
            raise ValueError(f"negative header value length {n}")
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
    """Every record of every batch in ``buf``, in offset order (control
    batches hold none)."""
    for _, records in iter_batches(buf):
        yield from records
