"""The four compression codecs of Kafka's record batches.

A batch's attributes name its codec in bits 0-2 (0 none, 1 gzip, 2 snappy,
3 lz4, 4 zstd); the bytes after the 61-byte batch header are then one
compressed block holding every record. Formats, as Kafka's clients write
them:

* gzip: one gzip member (the standard library).
* snappy: Xerial's framing (what the Java client and kafka-python write: a
  16-byte header ``\\x82SNAPPY\\x00`` + version 1 + compatible version 1,
  then blocks of a big-endian int32 length and raw snappy data); raw snappy
  without the header (what librdkafka writes) is read too. ``cramjam``
  provides raw snappy.
* lz4: the LZ4 frame format (the ``lz4`` package), as Kafka since 0.10.
* zstd: a zstd frame (the ``zstandard`` package).

Decompression is bounded: a block that expands past ``limit`` bytes is a
CorruptRecordError before the excess is held in memory (a small batch must
not become gigabytes in the broker or a consumer).

The codec libraries are imported on first use, so a process that never
meets a compressed batch does not load them.

Thread-safety: pure functions; safe from any thread.
"""

from __future__ import annotations

import struct
import zlib

from ember.engine.errors import CorruptRecordError

NONE, GZIP, SNAPPY, LZ4, ZSTD = 0, 1, 2, 3, 4
CODEC_MASK = 0x07
NAMES = {NONE: "none", GZIP: "gzip", SNAPPY: "snappy", LZ4: "lz4", ZSTD: "zstd"}
BY_NAME = {name: codec for codec, name in NAMES.items()}
DEFAULT_LIMIT = 256 * 1024 * 1024

_XERIAL_MAGIC = b"\x82SNAPPY\x00"
_XERIAL_HEADER = struct.Struct(">8sii")
_XERIAL_BLOCK = 32 * 1024
_INT32 = struct.Struct(">i")


def codec_for(name) -> int:
    """The codec id of ``name`` ('gzip', 'snappy', 'lz4', 'zstd', None/'none')."""
    if name is None:
        return NONE
    codec = BY_NAME.get(str(name).lower())
    if codec is None:
        raise ValueError(f"compression type {name!r}: expected one of "
                         f"{', '.join(repr(n) for n in BY_NAME)} or None")
    return codec


def compress(codec: int, data: bytes) -> bytes:
    if codec == GZIP:
        packer = zlib.compressobj(6, zlib.DEFLATED, 31)
        return packer.compress(data) + packer.flush()
    if codec == SNAPPY:
        import cramjam
        out = [_XERIAL_HEADER.pack(_XERIAL_MAGIC, 1, 1)]
        for start in range(0, len(data), _XERIAL_BLOCK):
            block = bytes(cramjam.snappy.compress_raw(data[start:start + _XERIAL_BLOCK]))
            out.append(_INT32.pack(len(block)))
            out.append(block)
        return b"".join(out)
    if codec == LZ4:
        import lz4.frame
        return lz4.frame.compress(data)
    if codec == ZSTD:
        import zstandard
        return zstandard.ZstdCompressor().compress(data)
    raise ValueError(f"unknown compression codec {codec}")


def decompress(codec: int, data, limit: int = DEFAULT_LIMIT) -> bytes:
    """The records block of a batch compressed with ``codec``; raises
    CorruptRecordError if it is malformed or expands past ``limit`` bytes."""
    try:
        if codec == GZIP:
            return _gzip(data, limit)
        if codec == SNAPPY:
            return _snappy(bytes(data), limit)
        if codec == LZ4:
            return _lz4(data, limit)
        if codec == ZSTD:
            return _zstd(data, limit)
    except CorruptRecordError:
        raise
    except Exception as error:  # noqa: BLE001 - each library raises its own kinds
        raise CorruptRecordError(f"cannot decompress a {NAMES[codec]} batch: "
                                 f"{type(error).__name__}: {error}") from None
    raise CorruptRecordError(f"unknown compression codec {codec} in the batch attributes "
                             f"(expected 0 to 4)")


def _too_large(codec: int, limit: int) -> CorruptRecordError:
    return CorruptRecordError(f"a {NAMES[codec]} batch expands past {limit} bytes; refused")


def _gzip(data, limit: int) -> bytes:
    unpacker = zlib.decompressobj(47)  # gzip or zlib header, detected
    out = unpacker.decompress(data, limit + 1)
    if len(out) > limit or unpacker.unconsumed_tail:
        raise _too_large(GZIP, limit)
    if not unpacker.eof:
        raise CorruptRecordError("a gzip batch ends before its compressed stream does")
    return out


def _snappy(data: bytes, limit: int) -> bytes:
    import cramjam
    raw = cramjam.snappy
    if not data.startswith(_XERIAL_MAGIC):
        if raw.decompress_raw_len(data) > limit:
            raise _too_large(SNAPPY, limit)
        return bytes(raw.decompress_raw(data))
    pos, end, out, total = _XERIAL_HEADER.size, len(data), [], 0
    while pos < end:
        if pos + 4 > end:
            raise CorruptRecordError("a snappy batch's block length is cut short")
        (length,) = _INT32.unpack_from(data, pos)
        pos += 4
        if length < 0 or pos + length > end:
            raise CorruptRecordError(f"a snappy block of {length} bytes runs past the batch")
        block = data[pos:pos + length]
        total += raw.decompress_raw_len(block)
        if total > limit:
            raise _too_large(SNAPPY, limit)
        out.append(bytes(raw.decompress_raw(block)))
        pos += length
    return b"".join(out)


def _lz4(data, limit: int) -> bytes:
    import lz4.frame
    unpacker = lz4.frame.LZ4FrameDecompressor()
    out = unpacker.decompress(data, max_length=limit + 1)
    if len(out) > limit or unpacker.needs_input is False and not unpacker.eof:
        raise _too_large(LZ4, limit)
    if not unpacker.eof:
        raise CorruptRecordError("an lz4 batch ends before its frame does")
    return out


def _zstd(data, limit: int) -> bytes:
    import zstandard
    reader = zstandard.ZstdDecompressor().stream_reader(bytes(data), read_across_frames=True)
    out = reader.read(limit + 1)
    if len(out) > limit:
        raise _too_large(ZSTD, limit)
    return out
