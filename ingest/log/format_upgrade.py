"""Converting a partition's segments from ember's earlier batch format
(magic 1, ``legacy_batch``) to Kafka's RecordBatch v2 (``record_batch``).

Called by the log manager for every partition directory before it is
opened. A segment is old when its first batch has magic 1 (both formats keep
the magic at byte 16). Each old batch becomes one v2 batch with the same
offsets, timestamps, producer id, epoch and sequence numbers, keys, values
and headers, so offsets, the checkpoint, the producer-state snapshot and
committed consumer offsets all stay valid. Batches after the first invalid
one (a torn tail of a crash) are dropped, as recovery would drop them, and
the count of dropped bytes is logged.

Crash safety: a segment is converted into a temporary file that is fsynced
and renamed over the old one (then the directory is fsynced); its indexes
are deleted and rebuilt at load. A crash mid-way leaves some segments
converted and some not; the next open converts the rest.

One INFO line per converted partition names it and counts its segments and
batches.

Thread-safety: call before the partition is opened; not concurrently for one directory.
"""

from __future__ import annotations

import logging
import os

from ember.engine.errors import CorruptRecordError
from ember.engine.io.fileio import atomic_write, fsync_dir
from ember.ingest.log import legacy_batch
from ember.ingest.log.record_batch import MAGIC_OFFSET, SimpleRecord, encode_batch
from ember.ingest.log.segment import INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX, parse_file_name

log = logging.getLogger(__name__)


def _is_legacy(path: str) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(MAGIC_OFFSET + 1)
    return len(head) > MAGIC_OFFSET and head[MAGIC_OFFSET] == legacy_batch.MAGIC


def _convert(data: bytes) -> tuple[bytes, int, int]:
    """``(v2 bytes, batches converted, bytes dropped)`` for a v1 segment."""
    out, pos, count = [], 0, 0
    while pos < len(data):
        try:
            header, records = legacy_batch.decode_batch(data, pos)
        except CorruptRecordError:
            break
        out.append(encode_batch(
            [SimpleRecord(r.key, r.value, r.headers, r.timestamp) for r in records],
            base_offset=header.base_offset, producer_id=header.producer_id,
            producer_epoch=header.producer_epoch, base_sequence=header.base_sequence,
            partition_leader_epoch=0))
        pos += header.size
        count += 1
    return b"".join(out), count, len(data) - pos


def upgrade_partition(directory: str, name: str) -> int:
    """Convert every magic-1 segment of the partition in ``directory``;
    returns how many were converted."""
    segments = batches = dropped = 0
    for file in sorted(os.listdir(directory)):
        parsed = parse_file_name(file)
        if parsed is None or parsed[1] != LOG_SUFFIX:
            continue
        path = os.path.join(directory, file)
        if not _is_legacy(path):
            continue
        with open(path, "rb") as handle:
            data = handle.read()
        converted, count, cut = _convert(data)
        atomic_write(path, converted)
        for suffix in (INDEX_SUFFIX, TIME_INDEX_SUFFIX):
            try:
                os.unlink(os.path.join(directory, file[:-len(LOG_SUFFIX)] + suffix))
            except FileNotFoundError:
                pass
        segments, batches, dropped = segments + 1, batches + count, dropped + cut
    if segments:
        fsync_dir(directory)
        log.info("%s: converted %d segments (%d batches) from ember's magic-1 batch format "
                 "to Kafka's RecordBatch v2%s", name, segments, batches,
                 f"; {dropped} bytes after the last valid batch were dropped" if dropped else "")
    return segments
