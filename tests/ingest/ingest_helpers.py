"""Shared helpers for the log store tests: batches with known values, and a
plain-Python view of what a log holds (the oracle side of each comparison)."""

from __future__ import annotations

import os

from ember.ingest.log.record_batch import SimpleRecord, encode_batch, iter_records


def values_batch(values, *, timestamp=1_700_000_000_000, **producer) -> bytes:
    """One batch whose record values are ``values`` (str or bytes)."""
    records = [SimpleRecord(None, v.encode() if isinstance(v, str) else v) for v in values]
    return encode_batch(records, timestamp=timestamp, **producer)


def read_records(source, start=None, *, max_bytes=4096, committed_only=True):
    """Every record of a PartitionLog (or LogSegment) from ``start`` on, read
    the way a consumer would: small reads, skipping records before the offset
    asked for. Returns the list of Records."""
    from ember.ingest.log.partition_log import PartitionLog
    offset = (source.log_start_offset if isinstance(source, PartitionLog)
              else source.base_offset) if start is None else start
    end = source.log_end_offset if isinstance(source, PartitionLog) else source.next_offset
    records = []
    while offset < end:
        if isinstance(source, PartitionLog):
            data = source.read(offset, max_bytes, committed_only=committed_only)
        else:
            data = source.read(offset, max_bytes)
        if not data:
            break
        got = [r for r in iter_records(data) if r.offset >= offset]
        records.extend(got)
        offset = got[-1].offset + 1
    return records


def values_of(records) -> list[str]:
    return [r.value.decode() for r in records]


def crash(manager_or_log) -> None:
    """Drop a LogManager or PartitionLog as a SIGKILL would: close its file
    descriptors without flushing, checkpointing or marking a clean shutdown."""
    logs = manager_or_log.logs() if hasattr(manager_or_log, "logs") else [manager_or_log]
    for partition_log in logs:
        partition_log._close_files()


def flip_byte(path, position) -> None:
    with open(path, "r+b") as handle:
        handle.seek(position)
        byte = handle.read(1)
        handle.seek(position)
        handle.write(bytes([byte[0] ^ 0xFF]))


def truncate_by(path, nbytes) -> None:
    """Cut the last ``nbytes`` off a file, as a torn write would."""
    with open(path, "r+b") as handle:
        handle.truncate(os.path.getsize(path) - nbytes)


def log_files(directory, suffix=".log") -> list[str]:
    return sorted(os.path.join(directory, n) for n in os.listdir(directory) if n.endswith(suffix))
