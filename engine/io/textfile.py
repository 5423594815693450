"""Text files in and out: input splits, line reading, committed part files.

Input (``textFile``): a path is a file, a directory (its non-hidden files), a
glob, or a comma-separated list of those. Plain files are cut into byte-range
splits the way Hadoop's ``FileInputFormat`` does (goal size = total size /
minPartitions, at most 32 MiB, last split up to 10 % larger); ``.gz`` and
``.bz2`` files are read whole, one split each. A line belongs to the split in
which it starts, counting a line that starts exactly at a split's end as
belonging to that split (Hadoop's rule), so every line is read exactly once.
Lines end at ``\\n``; a trailing ``\\r`` is removed.

Output (``saveAsTextFile``): one ``part-NNNNN`` file per partition, each
written under a temporary name, fsynced and renamed into place by its task;
``_SUCCESS`` is written by the driver only after every partition committed.
A failed job leaves no ``_SUCCESS`` and no temporary files.
"""

from __future__ import annotations

import bz2
import glob
import gzip
import os
from typing import IO, Any, Iterator

from ember.engine import failpoints
from ember.engine.io.fileio import atomic_write, atomic_writer, is_temp_name
from ember.engine.api import task_metrics
from ember.engine.api.task_context import TaskContext

BLOCK_SIZE = 32 * 1024 * 1024
SPLIT_SLOP = 1.1
READ_CHUNK = 4 * 1024 * 1024

_OPENERS = {".gz": gzip.open, ".bz2": bz2.open}

CODECS = {
    "org.apache.hadoop.io.compress.GzipCodec": ".gz",
    "org.apache.hadoop.io.compress.DefaultCodec": ".gz",
    "org.apache.hadoop.io.compress.BZip2Codec": ".bz2",
}


def _strip_scheme(path: str) -> str:
    if path.startswith("file://"):
        return path[len("file://"):]
    if path.startswith("file:"):
        return path[len("file:"):]
    return path


def _visible_files(directory: str) -> list[str]:
    return sorted(
        os.path.join(directory, name) for name in os.listdir(directory)
        if not name.startswith(("_", ".")) and os.path.isfile(os.path.join(directory, name)))


def list_input_files(path: str) -> list[str]:
    """Every file named by a textFile path, in a stable order."""
    if not isinstance(path, str) or not path.strip():
        raise ValueError(f"textFile: path must be a non-empty string, got {path!r}")
    files: list[str] = []
    for part in path.split(","):
        part = os.path.abspath(os.path.expanduser(_strip_scheme(part.strip())))
        if glob.has_magic(part):
            matches = sorted(glob.glob(part))
            if not matches:
                raise FileNotFoundError(f"Input pattern {part} matches 0 files")
            for match in matches:
                files.extend(_visible_files(match) if os.path.isdir(match) else [match])
        elif os.path.isdir(part):
            files.extend(_visible_files(part))
        elif os.path.isfile(part):
            files.append(part)
        else:
            raise FileNotFoundError(f"Input path does not exist: {part}")
    return files


def compute_splits(files: list[str], min_partitions: int) -> list[tuple[str, int, int, bool]]:
    """(path, start, length, whole_file) for each split, in order."""
    sizes = [os.path.getsize(path) for path in files]
    goal = sum(sizes) // max(min_partitions, 1)
    split_size = max(1, min(goal, BLOCK_SIZE))
    splits: list[tuple[str, int, int, bool]] = []
    for path, size in zip(files, sizes):
        if os.path.splitext(path)[1] in _OPENERS or size == 0:
            splits.append((path, 0, size, True))
            continue
        remaining = size
        while remaining / split_size > SPLIT_SLOP:
            splits.append((path, size - remaining, split_size, False))
            remaining -= split_size
        if remaining:
            splits.append((path, size - remaining, remaining, False))
    return splits


def _lines(stream: IO[bytes], limit: int | None, use_unicode: bool) -> Iterator:
    """Lines from ``stream`` until ``limit`` bytes are read (then to the end of
    the line in progress), or to the end of the stream. The running task's
    input metrics count them a chunk at a time."""
    metrics = task_metrics.current()
    carry = b""
    remaining = limit
    while True:
        size = READ_CHUNK if remaining is None else min(READ_CHUNK, remaining)
        chunk = stream.read(size) if size > 0 else b""
        if remaining is not None:
            remaining -= len(chunk)
            if not chunk or remaining <= 0:
                # The range is read; finish the line that straddles its end.
                tail = chunk if chunk.endswith(b"\n") else chunk + stream.readline()
                yield from _decode(carry + tail, use_unicode, metrics)
                return
        elif not chunk:
            yield from _decode(carry, use_unicode, metrics)
            return
        buffer = carry + chunk
        cut = buffer.rfind(b"\n")
        if cut < 0:
            carry = buffer
            continue
        carry = buffer[cut + 1:]
        yield from _decode(buffer[:cut + 1], use_unicode, metrics)


def _decode(data: bytes, use_unicode: bool, metrics: Any = None) -> list:
    if not data:
        return []
    if metrics is not None:
        metrics.input_bytes += len(data)
    text = data.decode("utf-8") if use_unicode else data
    newline = "\n" if use_unicode else b"\n"
    lines = text.split(newline)
    if lines[-1] == ("" if use_unicode else b""):
        lines.pop()
    ret = "\r" if use_unicode else b"\r"
    if ret in text:
        lines = [line[:-1] if line.endswith(ret) else line for line in lines]
    if metrics is not None:
        metrics.input_records += len(lines)
    return lines


def read_split(path: str, start: int, length: int, whole_file: bool,
               use_unicode: bool = True) -> Iterator:
    """The lines of one split (see the module docstring for the ownership rule)."""
    opener = _OPENERS.get(os.path.splitext(path)[1])
    if whole_file:
        with (opener or open)(path, "rb") as stream:
            yield from _lines(stream, None, use_unicode)
        return
    with open(path, "rb") as stream:
        end = start + length
        if start:
            # The line in progress at `start` (or starting exactly there)
            # belongs to the previous split.
            stream.seek(start)
            stream.readline()
        position = stream.tell()
        if position > end:
            return
        yield from _lines(stream, end - position + 1, use_unicode)


class TextOutput:
    """The commit protocol of ``saveAsTextFile``."""

    def __init__(self, path: str, codec_class: str | None):
        if codec_class is not None and codec_class not in CODECS:
            raise ValueError(
                f"saveAsTextFile: unknown compressionCodecClass {codec_class!r}; "
                f"accepted: {', '.join(sorted(CODECS))}")
        self.path = path
        self.extension = CODECS.get(codec_class, "") if codec_class else ""

    def prepare(self) -> None:
        if os.path.exists(self.path):
            raise FileExistsError(f"Output directory {self.path} already exists")
        os.makedirs(self.path)

    def write_partition(self, iterator: Iterator) -> None:
        context = TaskContext.get()
        name = f"part-{context.partitionId():05d}{self.extension}"
        with atomic_writer(os.path.join(self.path, name),
                           before_publish=context._commit_or_abort) as handle:
            sink: IO[bytes] = handle
            if self.extension == ".gz":
                sink = gzip.GzipFile(fileobj=handle, mode="wb", mtime=0)
            elif self.extension == ".bz2":
                sink = bz2.BZ2File(handle, mode="wb")
            batch: list[bytes] = []
            for item in iterator:
                if isinstance(item, bytes):
                    batch.append(item)
                else:
                    batch.append((item if isinstance(item, str) else str(item)).encode("utf-8"))
                if len(batch) >= 4096:
                    sink.write(b"\n".join(batch) + b"\n")
                    context._metrics.output_records += len(batch)
                    batch.clear()
                    failpoints.point("output.mid_write")
            if batch:
                half = len(batch) // 2
                sink.write(b"".join(line + b"\n" for line in batch[:half]))
                failpoints.point("output.mid_write")
                sink.write(b"".join(line + b"\n" for line in batch[half:]))
                context._metrics.output_records += len(batch)
            if sink is not handle:
                sink.close()
            context._metrics.output_bytes += handle.tell()

    def commit(self) -> None:
        """Every partition committed: remove what killed attempts left
        half-written, then mark success."""
        self._remove_temporary_files()
        atomic_write(os.path.join(self.path, "_SUCCESS"), b"")

    def abort(self) -> None:
        if os.path.isdir(self.path):
            self._remove_temporary_files()

    def _remove_temporary_files(self) -> None:
        for name in os.listdir(self.path):
            if is_temp_name(name):
                try:
                    os.unlink(os.path.join(self.path, name))
                except FileNotFoundError:
                    pass
