"""Pickle files: ember's file format for Python objects, written by
``saveAsPickleFile`` and ``saveAsSequenceFile`` and by reliable checkpoints,
read back by ``pickleFile``, ``sequenceFile`` and checkpoint reads.

On disk, a directory of ``part-NNNNN`` files (one per partition) and
``_SUCCESS``, committed by ``TextOutput``'s protocol (each part file written
under a temporary name, fsynced and renamed by its task; ``_SUCCESS`` by the
driver once every partition committed). A part file is::

    magic "EMBERPKL" | codec (1 byte: 0 none, 1 zlib, 2 bz2)
    frame*           : length u32 | crc32 u32 (big-endian) | payload

Each payload is one pickled list of up to ``batchSize`` records (compressed
with the file's codec). A frame is checked against its CRC-32 when read, so a
damaged file fails loudly instead of unpickling garbage.

A directory is cut into byte-range splits the way ``textFile`` cuts text
(``ember.engine.io.textfile.compute_splits``); a frame belongs to the split in
which its header starts, so every record is read exactly once whatever
``minPartitions`` asks.

Not Hadoop's SequenceFile: these files are for ember (and Python) to read.
"""

from __future__ import annotations

import bz2
import struct
import zlib
from typing import IO, Iterator

from ember.engine.io import filesystem
from ember.engine.wire.serializer import dumps, loads
from ember.engine.api import task_metrics
from ember.engine.io.textfile import TextOutput, compute_splits, list_input_files

MAGIC = b"EMBERPKL"
_FRAME = struct.Struct(">II")
_CODECS = {
    "org.apache.hadoop.io.compress.GzipCodec": 1,
    "org.apache.hadoop.io.compress.DefaultCodec": 1,
    "org.apache.hadoop.io.compress.BZip2Codec": 2,
}
_COMPRESS = {0: lambda data: data, 1: zlib.compress, 2: bz2.compress}
_DECOMPRESS = {0: lambda data: data, 1: zlib.decompress, 2: bz2.decompress}
HEADER_SIZE = len(MAGIC) + 1


def codec_number(method: str, codec_class: str | None) -> int:
    """The codec byte for a Hadoop compression codec class name (None: none)."""
    if codec_class is None:
        return 0
    if codec_class not in _CODECS:
        raise ValueError(f"{method}: unknown compressionCodecClass {codec_class!r}; "
                         f"accepted: {', '.join(sorted(_CODECS))}")
    return _CODECS[codec_class]


class PickleOutput(TextOutput):
    """``TextOutput``'s commit protocol, writing pickled batches instead of lines."""

    def __init__(self, path: str, batch_size: int, codec: int = 0, check=None):
        super().__init__(path, None)
        self.batch_size = batch_size
        self.codec = codec
        self.check = check  # called on each record before writing (sequence files: pairs only)

    def write_partition(self, iterator: Iterator) -> None:
        with self.open_part(compress=False) as handle:
            handle.write(MAGIC + bytes([self.codec]))
            batch: list = []
            metrics = task_metrics.current()
            for item in iterator:
                if self.check is not None:
                    self.check(item)
                batch.append(item)
                if len(batch) >= self.batch_size:
                    write_frame(handle, batch, self.codec)
                    if metrics is not None:
                        metrics.output_records += len(batch)
                    batch = []
            if batch:
                write_frame(handle, batch, self.codec)
                if metrics is not None:
                    metrics.output_records += len(batch)


def write_frame(handle: IO[bytes], batch: list, codec: int) -> None:
    payload = _COMPRESS[codec](dumps(batch))
    handle.write(_FRAME.pack(len(payload), zlib.crc32(payload)))
    handle.write(payload)


def read_header(path: str, method: str) -> int:
    """The codec byte of a pickle file; a file of another format is a
    ValueError naming it (checked on the driver, before any task runs)."""
    with filesystem.open_raw(path) as stream:
        head = stream.read(HEADER_SIZE)
    if len(head) < HEADER_SIZE or not head.startswith(MAGIC) or head[-1] not in _DECOMPRESS:
        raise ValueError(f"{method}: {path} is not a file written by saveAsPickleFile or "
                         f"saveAsSequenceFile (it starts with {head[:HEADER_SIZE]!r})")
    return head[-1]


def pickle_splits(path: str, min_partitions: int, method: str) -> list[tuple[str, int, int, int]]:
    """(file, start, length, codec) for each split of the files named by
    ``path`` (a file, a directory, a glob, or a comma-separated list)."""
    files = list_input_files(path)
    codecs = {name: read_header(name, method) for name in files}
    return [(name, start, length, codecs[name])
            for name, start, length, _ in compute_splits(files, min_partitions)]


def read_split(path: str, start: int, length: int, codec: int) -> Iterator:
    """The records of the frames whose headers start in [start, start + length)."""
    end = start + length
    metrics = task_metrics.current()
    with filesystem.open_raw(path) as stream:
        position = HEADER_SIZE
        while position < end:
            stream.seek(position)
            header = stream.read(_FRAME.size)
            if not header:
                return
            if len(header) < _FRAME.size:
                raise ValueError(f"{path}: truncated frame header at byte {position}")
            size, crc = _FRAME.unpack(header)
            if position < start:  # a frame of an earlier split: skip it unread
                position += _FRAME.size + size
                continue
            payload = stream.read(size)
            if len(payload) < size or zlib.crc32(payload) != crc:
                raise ValueError(f"{path}: the frame at byte {position} is damaged "
                                 f"(truncated or failing its CRC-32)")
            records = loads(_DECOMPRESS[codec](payload))
            if metrics is not None:
                metrics.input_records += len(records)
                metrics.input_bytes += _FRAME.size + size
            yield from records
            position += _FRAME.size + size
