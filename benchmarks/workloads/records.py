"""Record-level helpers shared by every engine's version of a workload.

Worker processes (PySpark's, ember's, Dask's) import this module by name when
they unpickle a task, so it depends on numpy and the standard library only.

The answers compared across engines are order-independent fingerprints: a
sum, modulo a Mersenne prime, of a non-linear hash of each record. Sums merge
in any order and across any partitioning, which is what lets a plain-Python
loop, a Dask bag and an RDD be checked against one another.
"""

from __future__ import annotations

import itertools
import zlib

import numpy as np

MOD = (1 << 61) - 1
_A, _B, _C = 0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9

# k-means elements are blocks of points, not single points: the engine then
# moves numpy buffers and schedules tasks, instead of spending its time in
# per-point pickling that no one would write for numeric work.
BLOCK_ROWS = 10_000


def fingerprint(key: int, value) -> int:
    if isinstance(value, bytes):
        value = zlib.crc32(value)
    x = (key * _A + value * _B + _C) % MOD
    # Squaring makes the sum sensitive to which value sits with which key.
    return x * x % MOD


def load_pairs(path: str) -> list[tuple]:
    with np.load(path) as data:
        return list(zip(data["keys"].tolist(), data["values"].tolist()))


def load_blocks(path: str) -> list[np.ndarray]:
    points = np.load(path)
    return [np.ascontiguousarray(points[i:i + BLOCK_ROWS])
            for i in range(0, len(points), BLOCK_ROWS)]


def rdd_of(sc, files: list[str], loader):
    """One partition per data file, read inside the tasks."""
    return sc.parallelize(files, len(files)).flatMap(loader)


def bag_of(files: list[str], loader, partitions: int | None = None):
    """One partition per data file unless told otherwise."""
    import dask.bag as db
    return db.from_sequence(files, npartitions=partitions or len(files)).map(loader).flatten()


def first(record):
    return record[0]


def serial_of(files: list[str], loader):
    return itertools.chain.from_iterable(map(loader, files))


def sorted_summary(records) -> list[tuple]:
    """One partition's (rows, fingerprint, first key, last key, in order).

    Returned as a one-element list so it serves directly as a mapPartitions
    function.
    """
    rows = total = 0
    first = last = None
    ordered = True
    for key, value in records:
        if rows == 0:
            first = key
        elif key < last:
            ordered = False
        last = key
        rows += 1
        total += fingerprint(key, value)
    return [(rows, total % MOD, first, last, ordered)]


def merge_sorted_summaries(summaries) -> dict:
    """Checks the total order across partitions, taken in output order."""
    rows = total = 0
    ordered = True
    previous = None
    for count, part_total, first, last, part_ordered in summaries:
        if not count:
            continue
        ordered = ordered and part_ordered and (previous is None or previous <= first)
        previous = last
        rows += count
        total += part_total
    return {"rows": rows, "fingerprint": total % MOD, "total_order": ordered}


def group_summary(group) -> tuple:
    """(key, (values, fingerprint)) for one (key, values) group."""
    key, values = group
    count = total = 0
    for value in values:
        count += 1
        total += fingerprint(key, value)
    return key, (count, total % MOD)
