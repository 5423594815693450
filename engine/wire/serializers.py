"""PySpark's serializer classes: how a PySpark program frames objects in a
byte stream, with the same classes, formats and reprs.

A program passes one to ``SparkContext(serializer=...)`` (read back as
``sc.serializer``, batched as PySpark batches it), to ``rdd._reserialize``,
or uses one directly (``dumps``/``loads`` on bytes, ``dump_stream``/
``load_stream`` on a file object). Streams written here are PySpark's byte
for byte, so either side can read the other's:

* framed serializers write each object as a big-endian signed 32-bit length
  and that many bytes; a length of ``SpecialLengths.END_OF_DATA_SECTION``
  ends the stream, ``SpecialLengths.NULL`` stands for None;
* batched serializers hand their wrapped serializer lists of objects (a
  fixed size, everything at once, or, for ``AutoBatchedSerializer``, a size
  that doubles while a batch's bytes stay under ``bestSize`` and halves when
  they pass ten times that).

What ember itself sends between processes does not go through these
classes: records, results and closures travel in ember's own format
(``ember.engine.wire.serializer``: cloudpickle, protocol 5, out-of-band
buffers), which holds every object any of these serializers can hold. The
serializer a Context was given is therefore recorded, not used to move
data; choosing ``MarshalSerializer`` changes no result.

Must not know: RDDs, Contexts, sockets.
"""

from __future__ import annotations

import codecs
import io
import itertools
import marshal
import pickle
import struct
import sys
import traceback
import zlib
from typing import Any, BinaryIO, Iterable, Iterator

import cloudpickle

pickle_protocol = pickle.HIGHEST_PROTOCOL

_INT = struct.Struct("!i")
_LONG = struct.Struct("!q")
_BOOL = struct.Struct("!?")


class SpecialLengths:
    """Negative lengths with a meaning of their own in a framed stream."""

    END_OF_DATA_SECTION = -1
    PYTHON_EXCEPTION_THROWN = -2
    TIMING_DATA = -3
    END_OF_STREAM = -4
    NULL = -5
    START_ARROW_STREAM = -6
    START_OF_INIT_MESSAGE = -8


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    data = stream.read(size)
    if not data:
        raise EOFError
    return data


def read_int(stream: BinaryIO) -> int:
    """A big-endian signed 32-bit integer; EOFError at the end of the stream."""
    return _INT.unpack(_read_exactly(stream, 4))[0]


def write_int(value: int, stream: BinaryIO) -> None:
    stream.write(_INT.pack(value))


def read_long(stream: BinaryIO) -> int:
    """A big-endian signed 64-bit integer; EOFError at the end of the stream."""
    return _LONG.unpack(_read_exactly(stream, 8))[0]


def write_long(value: int, stream: BinaryIO) -> None:
    stream.write(_LONG.pack(value))


def pack_long(value: int) -> bytes:
    return _LONG.pack(value)


def read_bool(stream: BinaryIO) -> bool:
    return _BOOL.unpack(_read_exactly(stream, 1))[0]


def write_with_length(obj: bytes, stream: BinaryIO) -> None:
    """``obj``'s length as a 32-bit integer, then ``obj``."""
    write_int(len(obj), stream)
    stream.write(obj)


def _read_frame(stream: BinaryIO) -> bytes | None:
    """The next frame's bytes, None for a NULL frame; EOFError at the end of
    the data (or of a stream cut inside a frame)."""
    length = read_int(stream)
    if length == SpecialLengths.END_OF_DATA_SECTION:
        raise EOFError
    if length == SpecialLengths.NULL:
        return None
    data = stream.read(length)
    if len(data) < length:
        raise EOFError
    return data


class Serializer:
    """The base of every serializer: a stream of objects to and from a file
    object. Two serializers are equal when they are of one class with equal
    settings."""

    def dump_stream(self, iterator: Iterable, stream: BinaryIO) -> None:
        raise NotImplementedError(f"{type(self).__name__}.dump_stream")

    def load_stream(self, stream: BinaryIO) -> Iterator:
        raise NotImplementedError(f"{type(self).__name__}.load_stream")

    def dumps(self, obj: Any) -> bytes:
        raise NotImplementedError(f"{type(self).__name__}.dumps")

    def _load_stream_without_unbatching(self, stream: BinaryIO) -> Iterator:
        """The stream as batches: each object alone in a list, unless the
        serializer batches."""
        return ([obj] for obj in self.load_stream(stream))

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, type(self)) and vars(self) == vars(other)

    def __ne__(self, other: Any) -> bool:
        return not self == other

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __hash__(self) -> int:
        return hash(repr(self))


class FramedSerializer(Serializer):
    """Each object as (32-bit length, ``dumps(object)``)."""

    def dump_stream(self, iterator: Iterable, stream: BinaryIO) -> None:
        for obj in iterator:
            self._write_with_length(obj, stream)

    def load_stream(self, stream: BinaryIO) -> Iterator:
        while True:
            try:
                yield self._read_with_length(stream)
            except EOFError:
                return

    def _write_with_length(self, obj: Any, stream: BinaryIO) -> None:
        data = self.dumps(obj)
        if data is None:
            raise ValueError(f"{self!r}.dumps returned None; a serialized value must be bytes")
        if len(data) > 1 << 31:
            raise ValueError(f"cannot serialize an object of {len(data)} bytes: a frame holds "
                             f"at most 2 GiB")
        write_with_length(data, stream)

    def _read_with_length(self, stream: BinaryIO) -> Any:
        data = _read_frame(stream)
        return None if data is None else self.loads(data)

    def loads(self, obj: bytes) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.loads")


class BatchedSerializer(Serializer):
    """Objects handed to ``serializer`` in lists of ``batchSize``
    (``UNLIMITED_BATCH_SIZE``: the whole stream as one list)."""

    UNLIMITED_BATCH_SIZE = -1
    UNKNOWN_BATCH_SIZE = 0

    def __init__(self, serializer: Serializer, batchSize: int = UNLIMITED_BATCH_SIZE):
        self.serializer = serializer
        self.batchSize = batchSize

    def _batched(self, iterator: Iterable) -> Iterator[list]:
        if self.batchSize == self.UNLIMITED_BATCH_SIZE:
            yield list(iterator)
            return
        iterator = iter(iterator)
        while True:
            batch = list(itertools.islice(iterator, self.batchSize))
            if not batch:
                return
            yield batch

    def dump_stream(self, iterator: Iterable, stream: BinaryIO) -> None:
        self.serializer.dump_stream(self._batched(iterator), stream)

    def load_stream(self, stream: BinaryIO) -> Iterator:
        return itertools.chain.from_iterable(self._load_stream_without_unbatching(stream))

    def _load_stream_without_unbatching(self, stream: BinaryIO) -> Iterator:
        return self.serializer.load_stream(stream)

    def __repr__(self) -> str:
        return f"BatchedSerializer({self.serializer}, {self.batchSize})"


class FlattenedValuesSerializer(BatchedSerializer):
    """(key, values) pairs, a key's values cut into pieces of at most
    ``batchSize``, so one huge group does not make one huge frame."""

    def __init__(self, serializer: Serializer, batchSize: int = 10):
        super().__init__(serializer, batchSize)

    def _batched(self, iterator: Iterable) -> Iterator[tuple]:
        size = self.batchSize
        for key, values in iterator:
            for start in range(0, len(values), size):
                yield key, values[start:start + size]

    def load_stream(self, stream: BinaryIO) -> Iterator:
        return self.serializer.load_stream(stream)

    def __repr__(self) -> str:
        return f"FlattenedValuesSerializer({self.serializer}, {self.batchSize})"


class AutoBatchedSerializer(BatchedSerializer):
    """Batches sized by their bytes: the batch doubles while its frame stays
    under ``bestSize`` and halves when it passes ten times that."""

    def __init__(self, serializer: Serializer, bestSize: int = 1 << 16):
        super().__init__(serializer, self.UNKNOWN_BATCH_SIZE)
        self.bestSize = bestSize

    def dump_stream(self, iterator: Iterable, stream: BinaryIO) -> None:
        size, best = 1, self.bestSize
        iterator = iter(iterator)
        while True:
            batch = list(itertools.islice(iterator, size))
            if not batch:
                return
            data = self.serializer.dumps(batch)
            write_with_length(data, stream)
            if len(data) < best:
                size *= 2
            elif len(data) > best * 10 and size > 1:
                size //= 2

    def __repr__(self) -> str:
        return f"AutoBatchedSerializer({self.serializer})"


class _PairedBatches(Serializer):
    """Two batched streams read side by side: batch i of the keys with batch
    i of the values."""

    def __init__(self, key_ser: Serializer, val_ser: Serializer):
        self.key_ser = key_ser
        self.val_ser = val_ser

    def _batch_pairs(self, stream: BinaryIO) -> Iterator[tuple]:
        keys = self.key_ser._load_stream_without_unbatching(stream)
        values = self.val_ser._load_stream_without_unbatching(stream)
        return zip(keys, values)

    def load_stream(self, stream: BinaryIO) -> Iterator:
        return itertools.chain.from_iterable(self._load_stream_without_unbatching(stream))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.key_ser}, {self.val_ser})"


class CartesianDeserializer(_PairedBatches):
    """Every (key, value) of each pair of batches: what a cartesian product
    of two batched streams reads as."""

    def _load_stream_without_unbatching(self, stream: BinaryIO) -> Iterator:
        for keys, values in self._batch_pairs(stream):
            yield itertools.product(keys, values)


class PairDeserializer(_PairedBatches):
    """Batch i of the keys zipped with batch i of the values (a zip of two
    batched streams); batches of different lengths are an error."""

    def _load_stream_without_unbatching(self, stream: BinaryIO) -> Iterator:
        for keys, values in self._batch_pairs(stream):
            keys = keys if hasattr(keys, "__len__") else list(keys)
            values = values if hasattr(values, "__len__") else list(values)
            if len(keys) != len(values):
                raise ValueError(f"Can not deserialize PairRDD with different number of items "
                                 f"in batches: ({len(keys)}, {len(values)})")
            yield zip(keys, values)


class NoOpSerializer(FramedSerializer):
    """Bytes framed as they are."""

    def dumps(self, obj: bytes) -> bytes:
        return obj

    def loads(self, obj: bytes) -> bytes:
        return obj


class PickleSerializer(FramedSerializer):
    """Objects pickled with the standard library (highest protocol)."""

    def dumps(self, obj: Any) -> bytes:
        return pickle.dumps(obj, pickle_protocol)

    def loads(self, obj: bytes, encoding: str = "bytes") -> Any:
        return pickle.loads(obj, encoding=encoding)


class _AllowedNamesUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, allowed: Any, encoding: str):
        super().__init__(io.BytesIO(data), encoding=encoding)
        self._allowed = allowed

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._allowed:
            raise pickle.UnpicklingError(f"Unpickling {module}.{name} is not allowed")
        return super().find_class(module, name)


class CloudPickleSerializer(FramedSerializer):
    """Objects pickled with cloudpickle: functions, lambdas and classes
    defined in ``__main__`` too. With ``allowed_names`` (a set of
    (module, name)), ``loads`` refuses every other global."""

    def __init__(self, allowed_names: Any = None):
        self.allowed_names = allowed_names

    def dumps(self, obj: Any) -> bytes:
        try:
            return cloudpickle.dumps(obj, pickle_protocol)
        except pickle.PickleError:
            raise
        except Exception as error:  # noqa: BLE001 - reported as PySpark reports it
            text = str(error)
            if "'i' format requires" in text:
                message = f"Object too large to serialize: {text}"
            else:
                message = f"Could not serialize object: {type(error).__name__}: {text}"
            traceback.print_exc(file=sys.stderr)
            raise pickle.PicklingError(message) from error

    def loads(self, obj: bytes, encoding: str = "bytes") -> Any:
        if self.allowed_names is not None:
            return _AllowedNamesUnpickler(obj, self.allowed_names, encoding).load()
        return cloudpickle.loads(obj, encoding=encoding)


# PySpark's name for its default pickling serializer, which is cloudpickle's.
CPickleSerializer = CloudPickleSerializer


class MarshalSerializer(FramedSerializer):
    """Objects with ``marshal``: faster than pickling, for builtin types only."""

    def dumps(self, obj: Any) -> bytes:
        return marshal.dumps(obj)

    def loads(self, obj: bytes) -> Any:
        return marshal.loads(obj)


class AutoSerializer(FramedSerializer):
    """``marshal`` while it copes, then pickle from the first object it cannot
    hold; each frame starts with ``M`` or ``P`` to say which."""

    def __init__(self):
        self._type: bytes | None = None

    def dumps(self, obj: Any) -> bytes:
        if self._type is None:
            try:
                return b"M" + marshal.dumps(obj)
            except ValueError:
                self._type = b"P"
        return b"P" + pickle.dumps(obj, pickle_protocol)

    def loads(self, obj: bytes) -> Any:
        kind = obj[:1]
        if kind == b"M":
            return marshal.loads(obj[1:])
        if kind == b"P":
            return pickle.loads(obj[1:])
        raise ValueError(f"invalid serialization type: {kind!r} (expected b'M' or b'P')")


class CompressedSerializer(FramedSerializer):
    """A framed serializer's bytes compressed with zlib (level 1)."""

    def __init__(self, serializer: FramedSerializer):
        if not isinstance(serializer, FramedSerializer):
            raise TypeError(f"CompressedSerializer wraps a FramedSerializer, got "
                            f"{type(serializer).__name__}")
        self.serializer = serializer

    def dumps(self, obj: Any) -> bytes:
        return zlib.compress(self.serializer.dumps(obj), 1)

    def loads(self, obj: bytes) -> Any:
        return self.serializer.loads(zlib.decompress(obj))

    def __repr__(self) -> str:
        return f"CompressedSerializer({self.serializer})"


class UTF8Deserializer(Serializer):
    """Framed UTF-8 strings (``str``, or ``bytes`` when not ``use_unicode``)."""

    def __init__(self, use_unicode: bool = True):
        self.use_unicode = use_unicode

    def loads(self, stream: BinaryIO) -> str | bytes | None:
        data = _read_frame(stream)
        if data is None:
            return None
        return codecs.decode(data, "utf-8") if self.use_unicode else data

    def load_stream(self, stream: BinaryIO) -> Iterator:
        while True:
            try:
                yield self.loads(stream)
            except (EOFError, struct.error):
                return

    def __repr__(self) -> str:
        return f"UTF8Deserializer({self.use_unicode})"


class ChunkedStream:
    """A write-only file object that frames what is written to ``wrapped`` in
    chunks of ``buffer_size`` bytes (each preceded by its length), so data
    of unknown length can be sent as it is made; ``close`` sends the last,
    shorter chunk and a length of -1."""

    def __init__(self, wrapped: BinaryIO, buffer_size: int):
        self.wrapped = wrapped
        self.buffer_size = buffer_size
        self.buffer = bytearray(buffer_size)
        self.current_pos = 0

    def write(self, data: bytes) -> None:
        view = memoryview(data).cast("B")
        while len(view):
            room = self.buffer_size - self.current_pos
            take = min(room, len(view))
            self.buffer[self.current_pos:self.current_pos + take] = view[:take]
            self.current_pos += take
            view = view[take:]
            if self.current_pos == self.buffer_size:
                write_with_length(bytes(self.buffer), self.wrapped)
                self.current_pos = 0

    def close(self) -> None:
        if self.current_pos:
            write_with_length(bytes(self.buffer[:self.current_pos]), self.wrapped)
        write_int(SpecialLengths.END_OF_DATA_SECTION, self.wrapped)
        self.wrapped.close()

    @property
    def closed(self) -> bool:
        return self.wrapped.closed


def context_serializer(batchSize: int = 0, serializer: Serializer | None = None) -> Serializer:
    """What ``sc.serializer`` is for ``SparkContext(batchSize=..., serializer=...)``,
    as PySpark makes it: batchSize 0 batches automatically, -1 without limit,
    N by N."""
    serializer = serializer if serializer is not None else CloudPickleSerializer()
    if not isinstance(serializer, Serializer):
        raise TypeError(f"serializer must be a Serializer (ember.serializers: CPickleSerializer, "
                        f"MarshalSerializer, ...), got {type(serializer).__name__}")
    if batchSize == 0:
        return AutoBatchedSerializer(serializer)
    return BatchedSerializer(serializer, batchSize)
