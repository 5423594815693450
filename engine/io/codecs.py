"""Compression codecs for files, chosen by extension on read and by name on write.

Owns one table: extension -> codec, and for each codec how to wrap a binary
stream to decompress it (read) or compress into it (write). Every reader and
writer of files in ember goes through it (``textFile``, ``saveAsTextFile``,
the whole-file readers, the record formats of ``ember.etl``), so a file
named ``*.zst`` is read the same way everywhere.

| extension | codec | library |
| --- | --- | --- |
| ``.gz`` | gzip | stdlib ``gzip`` |
| ``.bz2`` | bzip2 | stdlib ``bz2`` |
| ``.xz`` | xz | stdlib ``lzma`` |
| ``.zst`` | zstd | ``zstandard`` |
| ``.lz4`` | lz4 (frame format) | ``lz4`` |

``zstandard`` and ``lz4`` are imported only when a file needs them (the
``etl`` extra installs them); a missing one is an ImportError naming the
package to install. A compressed file is never split: its records are read
from the start of the stream.

Writers name a codec as Spark's writers do (``compression="gzip"``, short
names, case-insensitive) or by Hadoop codec class (``compressionCodecClass``
of ``saveAsTextFile``). A compressing wrapper never closes the stream it
writes into: the caller still has to fsync and publish it.

Must not know: paths, filesystems, what the bytes mean.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
from typing import BinaryIO

EXTENSIONS = {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz", ".zst": "zstd", ".lz4": "lz4"}
EXTENSION_OF = {codec: extension for extension, codec in EXTENSIONS.items()}

# compression= short names as Spark's writers take them (plus xz), and their aliases
SHORT_NAMES = {"none": None, "uncompressed": None, "gzip": "gzip", "bzip2": "bzip2",
               "xz": "xz", "zstd": "zstd", "lz4": "lz4"}

HADOOP_CLASSES = {
    "org.apache.hadoop.io.compress.GzipCodec": "gzip",
    "org.apache.hadoop.io.compress.DefaultCodec": "gzip",
    "org.apache.hadoop.io.compress.BZip2Codec": "bzip2",
    "org.apache.hadoop.io.compress.ZStandardCodec": "zstd",
    "org.apache.hadoop.io.compress.Lz4Codec": "lz4",
}

_PACKAGES = {"zstd": "zstandard", "lz4": "lz4"}


def codec_of(path: str) -> str | None:
    """The codec a file's name asks for, or None for a plain file."""
    dot = path.rfind(".")
    return EXTENSIONS.get(path[dot:].lower()) if dot >= 0 else None


def extension(codec: str | None) -> str:
    return EXTENSION_OF[codec] if codec else ""


def codec_by_name(method: str, name: str | None) -> str | None:
    """A writer's ``compression=`` option (None or a short name) as a codec."""
    if name is None:
        return None
    key = str(name).lower()
    if key not in SHORT_NAMES:
        raise ValueError(f"{method}: unknown compression {name!r}; accepted: "
                         f"{', '.join(SHORT_NAMES)}")
    codec = SHORT_NAMES[key]
    if codec in _PACKAGES:
        _library(codec)  # a missing library fails on the driver, before any task
    return codec


def codec_by_class(method: str, codec_class: str | None) -> str | None:
    """``compressionCodecClass`` (a Hadoop codec class name) as a codec."""
    if codec_class is None:
        return None
    if codec_class not in HADOOP_CLASSES:
        raise ValueError(f"{method}: unknown compressionCodecClass {codec_class!r}; "
                         f"accepted: {', '.join(sorted(HADOOP_CLASSES))}")
    return HADOOP_CLASSES[codec_class]


def _library(codec: str):
    package = _PACKAGES[codec]
    try:
        if codec == "zstd":
            import zstandard
            return zstandard
        import lz4.frame
        return lz4.frame
    except ImportError as error:
        raise ImportError(f"{codec} files need the {package!r} package "
                          f"(pip install {package}, or ember's 'etl' extra)") from error


def decompressing(stream: BinaryIO, codec: str | None) -> BinaryIO:
    """A readable stream of ``stream``'s decompressed bytes (``stream`` itself
    for None). Closing it leaves ``stream`` open: the caller owns it."""
    if codec is None:
        return stream
    if codec == "gzip":
        return gzip.GzipFile(fileobj=stream, mode="rb")
    if codec == "bzip2":
        return bz2.BZ2File(stream, mode="rb")
    if codec == "xz":
        return lzma.LZMAFile(stream, mode="rb")
    if codec == "zstd":
        return _library(codec).ZstdDecompressor().stream_reader(
            stream, read_across_frames=True, closefd=False)
    if codec == "lz4":
        return _library(codec).LZ4FrameFile(stream, mode="rb")
    raise ValueError(f"unknown codec {codec!r}; accepted: {', '.join(EXTENSION_OF)}")


def compressing(stream: BinaryIO, codec: str | None) -> BinaryIO:
    """A writable stream that compresses into ``stream``; closing it ends the
    compressed stream but leaves ``stream`` open."""
    if codec is None:
        return _Unclosing(stream)
    if codec == "gzip":
        return gzip.GzipFile(fileobj=stream, mode="wb", mtime=0)
    if codec == "bzip2":
        return bz2.BZ2File(stream, mode="wb")
    if codec == "xz":
        return lzma.LZMAFile(stream, mode="wb")
    if codec == "zstd":
        return _library(codec).ZstdCompressor().stream_writer(stream, closefd=False)
    if codec == "lz4":
        return _library(codec).LZ4FrameFile(stream, mode="wb")
    raise ValueError(f"unknown codec {codec!r}; accepted: {', '.join(EXTENSION_OF)}")


class _Unclosing:
    """``stream`` as a writer whose close() only flushes."""

    def __init__(self, stream: BinaryIO):
        self._stream = stream
        self.write = stream.write

    def flush(self) -> None:
        self._stream.flush()

    def close(self) -> None:
        self._stream.flush()
