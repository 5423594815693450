"""Text files in and out: input splits, line reading, committed part files.

Input (``textFile``): a path is a file, a directory (its non-hidden files), a
glob, or a comma-separated list of those, local or a remote URL
(``ember.engine.io.filesystem``). Plain files are cut into byte-range
splits the way Hadoop's ``FileInputFormat`` does (goal size = total size /
minPartitions, at most 32 MiB, last split up to 10 % larger); compressed
files (``.gz``, ``.bz2``, ``.xz``, ``.zst``, ``.lz4``: ``codecs``) are read
whole, one split each. A line belongs to the split in which it starts,
counting a line that starts exactly at a split's end as belonging to that
split (Hadoop's rule), so every line is read exactly once. Lines end at
``\\n``; a trailing ``\\r`` is removed.

Output (``saveAsTextFile`` and the record writers of ``ember.etl``): one
``part-NNNNN`` file per partition, each written under a temporary name and
published by its task only once the driver granted that attempt the right
to commit its partition (a speculative or retried twin is refused);
``_SUCCESS`` is written by the driver only after every partition committed,
and temporary files that killed attempts left are removed then. Locally a
part is fsynced and renamed (``fileio.atomic_writer``); on a remote
filesystem it is uploaded under a hidden temporary name and moved into
place. A failed job leaves no ``_SUCCESS`` and no temporary files.

Save modes (Spark's ``DataFrameWriter.mode``): ``error``/``errorifexists``
(the default: an existing output path is a FileExistsError), ``overwrite``
(the old directory is removed first), ``append`` (new part files named
``part-NNNNN-<job id>`` beside the old ones), ``ignore`` (an existing path
means nothing is written and no job runs).
"""

from __future__ import annotations

import contextlib
import uuid
from typing import IO, Any, Iterator

from ember.engine import failpoints
from ember.engine.io import codecs, filesystem
from ember.engine.io.fileio import atomic_write, atomic_writer, is_temp_name, temp_name
from ember.engine.api import task_metrics
from ember.engine.api.task_context import TaskContext

BLOCK_SIZE = 32 * 1024 * 1024
SPLIT_SLOP = 1.1
READ_CHUNK = 4 * 1024 * 1024

CODECS = {name: codecs.extension(codec) for name, codec in codecs.HADOOP_CLASSES.items()}

SAVE_MODES = {"error": "error", "errorifexists": "error", "default": "error",
              "overwrite": "overwrite", "append": "append", "ignore": "ignore"}


def _count_output_bytes(context: Any, handle: Any) -> None:
    """Add the size of a finished part file to the task's output metrics."""
    try:
        context._metrics.output_bytes += handle.tell()
    except (AttributeError, OSError, ValueError):  # a stream that cannot tell: not counted
        pass


def list_input_files(path: str) -> list[str]:
    """Every file named by a textFile path, in a stable order."""
    if not isinstance(path, str) or not path.strip():
        raise ValueError(f"textFile: path must be a non-empty string, got {path!r}")
    return filesystem.list_files(path)


def compute_splits(files: list[str], min_partitions: int) -> list[tuple[str, int, int, bool]]:
    """(path, start, length, whole_file) for each split, in order."""
    sizes = filesystem.file_sizes(files)
    goal = sum(sizes) // max(min_partitions, 1)
    split_size = max(1, min(goal, BLOCK_SIZE))
    splits: list[tuple[str, int, int, bool]] = []
    for path, size in zip(files, sizes):
        if codecs.codec_of(path) is not None or size == 0:
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
    if whole_file:
        with filesystem.open_input(path) as stream:
            yield from _lines(stream, None, use_unicode)
        return
    with filesystem.open_raw(path) as stream:
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
    """The commit protocol of ``saveAsTextFile``, and of every writer built on
    it: subclasses override ``write_records`` (what a part file holds)."""

    def __init__(self, path: str, codec_class: str | None = None, *, codec: str | None = None,
                 mode: str = "error", suffix: str = "", method: str = "saveAsTextFile"):
        if codec is None:
            codec = codecs.codec_by_class(method, codec_class)
        key = str(mode).lower()
        if key not in SAVE_MODES:
            raise ValueError(f"{method}: unknown save mode {mode!r}; accepted: "
                             f"{', '.join(SAVE_MODES)}")
        self.path = filesystem.output_location(path)
        self.codec = codec
        self.mode = SAVE_MODES[key]
        self.extension = suffix + codecs.extension(codec)
        self.job_tag = uuid.uuid4().hex[:12] if self.mode == "append" else ""
        self.method = method

    def prepare(self) -> bool:
        """Make the output directory as the save mode says; False: write nothing."""
        if filesystem.exists(self.path):
            if self.mode == "ignore":
                return False
            if self.mode == "error":
                raise FileExistsError(f"Output directory {self.path} already exists "
                                      f"(mode 'error'; 'overwrite', 'append' or 'ignore' "
                                      f"accept an existing path)")
            if self.mode == "overwrite":
                filesystem.remove_tree(self.path)
        filesystem.makedirs(self.path)
        return True

    def part_name(self, partition: int) -> str:
        tag = f"-{self.job_tag}" if self.job_tag else ""
        return f"part-{partition:05d}{tag}{self.extension}"

    @contextlib.contextmanager
    def open_part(self, compress: bool = True) -> Iterator[IO[bytes]]:
        """A stream for this task's part file, published on a clean exit once
        the driver granted the commit (compressed by the output's codec)."""
        context = TaskContext.get()
        final = filesystem.join(self.path, self.part_name(context.partitionId()))
        if filesystem.is_remote(self.path):
            staged = filesystem.join(self.path, temp_name(self.part_name(
                context.partitionId())).rsplit("/", 1)[-1])
            try:
                with filesystem.open_remote_output(staged) as handle:
                    sink = codecs.compressing(handle, self.codec if compress else None)
                    yield sink
                    sink.close()
                    _count_output_bytes(context, handle)
                context._commit_or_abort()
                filesystem.rename_remote(staged, final)
            except BaseException:
                filesystem.remove(staged)
                raise
            return
        with atomic_writer(final, before_publish=context._commit_or_abort) as handle:
            sink = codecs.compressing(handle, self.codec if compress else None)
            yield sink
            sink.close()
            _count_output_bytes(context, handle)

    def write_partition(self, iterator: Iterator) -> None:
        with self.open_part() as sink:
            self.write_records(sink, iterator)

    def write_records(self, sink: IO[bytes], iterator: Iterator) -> None:
        """Each element's ``str`` (bytes as they are) as one line."""
        metrics = task_metrics.current()
        batch: list[bytes] = []
        for item in iterator:
            if isinstance(item, bytes):
                batch.append(item)
            else:
                batch.append((item if isinstance(item, str) else str(item)).encode("utf-8"))
            if len(batch) >= 4096:
                sink.write(b"\n".join(batch) + b"\n")
                if metrics is not None:
                    metrics.output_records += len(batch)
                batch.clear()
                failpoints.point("output.mid_write")
        if batch:
            half = len(batch) // 2
            sink.write(b"".join(line + b"\n" for line in batch[:half]))
            failpoints.point("output.mid_write")
            sink.write(b"".join(line + b"\n" for line in batch[half:]))
            if metrics is not None:
                metrics.output_records += len(batch)

    def commit(self) -> None:
        """Every partition committed: remove what killed attempts left
        half-written, then mark success."""
        self._remove_temporary_files()
        success = filesystem.join(self.path, "_SUCCESS")
        if filesystem.is_remote(self.path):
            with filesystem.open_remote_output(success):
                pass
        else:
            atomic_write(success, b"")

    def abort(self) -> None:
        if filesystem.exists(self.path):
            self._remove_temporary_files()

    def _remove_temporary_files(self) -> None:
        for name in filesystem.names_in(self.path):
            if is_temp_name(name):
                filesystem.remove(filesystem.join(self.path, name))
