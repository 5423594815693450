"""Whole files and fixed-length records as input (``wholeTextFiles``,
``binaryFiles``, ``binaryRecords``).

Paths name files as ``textFile`` paths do (a file, a directory of visible
files, a glob, or a comma-separated list: ``textfile.list_input_files``).

* Whole files are never split. They are packed, in path order, into
  partitions of about ``total size / minPartitions`` bytes each (a file
  larger than that gets a partition of its own), as Hadoop's combined input
  format does. Records are ``(path, content)``, the path as a ``file:`` URI
  like PySpark's (a remote file keeps its URL). ``wholeTextFiles``
  decompresses by extension, as Hadoop's whole-file reader does;
  ``binaryFiles`` gives the bytes as stored.
* Fixed-length records: each file is cut into byte ranges like text
  (``textfile.compute_splits``) and a record belongs to the range its first
  byte falls in. A file whose size is not a multiple of ``recordLength``
  is refused on the driver, naming the file.
"""

from __future__ import annotations

from typing import Iterator

from ember.engine.io import filesystem
from ember.engine.io.textfile import compute_splits, list_input_files


def group_files(path: str, min_partitions: int) -> list[list[str]]:
    files = list_input_files(path)
    sizes = filesystem.file_sizes(files)
    goal = max(1, -(-sum(sizes) // max(min_partitions, 1)))  # ceiling division
    groups: list[list[str]] = []
    current: list[str] = []
    filled = 0
    for name, size in zip(files, sizes):
        current.append(name)
        filled += size
        if filled >= goal:
            groups.append(current)
            current, filled = [], 0
    if current:
        groups.append(current)
    return groups


def read_whole_files(files: list[str], decode: bool) -> Iterator[tuple[str, object]]:
    for name in files:
        with (filesystem.open_input if decode else filesystem.open_raw)(name) as stream:
            data = stream.read()
        yield filesystem.uri(name), data.decode("utf-8") if decode else data


def record_splits(path: str, record_length: int) -> list[tuple[str, int, int]]:
    """(file, start, length) ranges, each holding whole records only."""
    files = list_input_files(path)
    for name, size in zip(files, filesystem.file_sizes(files)):
        if size % record_length:
            raise ValueError(f"binaryRecords: {name} is {size} bytes, not a multiple of "
                             f"recordLength {record_length}")
    ranges = []
    for name, start, length, _ in compute_splits(files, 1):
        first = -(-start // record_length) * record_length  # first record starting in range
        end = start + length
        if first < end:
            ranges.append((name, first, end - first))
    return ranges


def read_records(path: str, start: int, length: int, record_length: int) -> Iterator[bytes]:
    with filesystem.open_raw(path) as stream:
        stream.seek(start)
        remaining = length
        while remaining > 0:
            record = stream.read(record_length)
            if len(record) < record_length:
                raise ValueError(f"binaryRecords: {path} ended inside a record at byte "
                                 f"{stream.tell()} (recordLength {record_length})")
            yield record
            remaining -= record_length
