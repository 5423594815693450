"""Spilling to disk when a task's aggregation or sort outgrows its memory
budget (``spark.python.worker.memory``, 512m by default, per task).

Two structures, used by ``engine.data.aggregation`` (every key aggregation, both
sides of the shuffle) and by the per-partition sort of ``sortByKey``:

* ``ExternalMerger``: a dict of key -> combined value that, past the budget,
  writes its contents to disk split into ``BUCKETS`` hash buckets and starts
  again empty. At the end each bucket is merged on its own, so only about
  1/BUCKETS of the data is in memory at once, and yielded.
* ``external_sorted``: ``sorted()`` that, past the budget, sorts what it holds
  into a run on disk; at the end the runs are merged (``heapq.merge``).

Invariant: the same input gives the same output, record for record, on
every attempt and every worker. The shuffle checksums map outputs to tell a
deterministic recomputation from a non-deterministic one, so this matters:
spill points depend only on the input (see below), buckets on
``portable_hash`` (not the per-process ``hash``), and the values of a key are
merged in input order. A sort's output is ``sorted()``'s, spilled or not. A
merger that spilled yields bucket by bucket (as PySpark's does), each bucket
in first-appearance order; one that did not, in first-appearance order.

The budget is checked against an *estimate* of the data held, not the
process's RSS (PySpark's way): the estimate is made from the input alone
(pickled sizes of sampled entries), so the same input spills at the same
points on every attempt, and memory held by other slots of the worker does
not make a task spill. Samples are cheap: one entry every ``CHECK_EVERY``
records.

Spill files go to a directory under ``SPARK_LOCAL_DIRS`` (the worker sets it
to its own work directory, removed when the worker exits however it ends)
and are removed as soon as the output has been read or the task fails.

Each spill adds what it moved out of memory (estimated) and the bytes it
wrote to the running task's metrics (``task_metrics.current()``).

Must not know: RDDs, the scheduler, the shuffle.
"""

from __future__ import annotations

import heapq
import os
import pickle
import shutil
import tempfile
import weakref
from itertools import count, islice
from typing import Any, BinaryIO, Callable, Iterable, Iterator

from ember.engine.api import task_metrics
from ember.engine.data.hashing import portable_hash

DEFAULT_BUDGET = 512 * 2**20
BUCKETS = 64
CHECK_EVERY = 2048
# Live Python objects take about this many times their pickled size (object
# headers, dict slots, pointers): a measured ratio, rounded up.
OBJECT_OVERHEAD = 3
_PROTOCOL = pickle.HIGHEST_PROTOCOL
_spills = 0  # in this process, for tests and diagnostics


def spill_count() -> int:
    """How many times tasks of this process spilled (merger spills and sort runs)."""
    return _spills


def _count_spill(memory: int, disk: int) -> None:
    """One spill of ``memory`` estimated bytes, ``disk`` bytes written."""
    global _spills
    _spills += 1
    metrics = task_metrics.current()
    if metrics is not None:
        metrics.memory_spilled += memory
        metrics.disk_spilled += disk


def spill_directory() -> str:
    """A fresh directory for one task's spill files."""
    roots = [d for d in os.environ.get("SPARK_LOCAL_DIRS", "").split(",") if d]
    root = roots[0] if roots else tempfile.gettempdir()
    os.makedirs(root, exist_ok=True)
    return tempfile.mkdtemp(prefix="spill-", dir=root)


class SizeEstimate:
    """Bytes held, estimated as units held × the mean pickled size of sampled
    units × OBJECT_OVERHEAD."""

    __slots__ = ("sampled_bytes", "samples")

    def __init__(self) -> None:
        self.sampled_bytes = 0
        self.samples = 0

    def sample(self, item: Any) -> None:
        self.sampled_bytes += len(pickle.dumps(item, _PROTOCOL))
        self.samples += 1

    def bytes_for(self, units: int) -> int:
        if not self.samples:
            return 0
        return units * self.sampled_bytes * OBJECT_OVERHEAD // self.samples


def dump_chunks(out: BinaryIO, items: Iterable, chunk: int = 1024) -> None:
    """Write ``items`` to ``out`` as a sequence of pickled lists of ``chunk``
    items, so a reader holds one chunk at a time (``load_chunks``)."""
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) >= chunk:
            pickle.dump(batch, out, _PROTOCOL)
            batch = []
    if batch:
        pickle.dump(batch, out, _PROTOCOL)


def load_chunks(path: str, metrics: Any = None) -> Iterator:
    """The items of a file written by ``dump_chunks``, in order; ``metrics``
    (a TaskMetrics), when given, counts them as input, a chunk at a time."""
    with open(path, "rb") as source:
        position = 0
        while True:
            try:
                batch = pickle.load(source)
            except EOFError:
                return
            if metrics is not None:
                end = source.tell()
                metrics.input_records += len(batch)
                metrics.input_bytes += end - position
                position = end
            yield from batch


def _append_chunks(path: str, items: Iterable) -> None:
    with open(path, "ab") as out:
        dump_chunks(out, items)


class ExternalMerger:
    """Key -> combined value, spilling past ``budget`` bytes.

    The caller's loop does the per-record work on ``self.data`` (a plain dict,
    for speed) and calls ``maybe_spill(units, sample)`` every CHECK_EVERY
    records; ``merge(old, new)`` combines two partial values of one key, the
    older first. ``items()`` yields every (key, value): in first-appearance
    order when nothing was spilled, otherwise bucket by bucket, each in
    first-appearance order.
    """

    def __init__(self, merge: Callable[[Any, Any], Any], budget: int):
        self.merge = merge
        self.budget = budget
        self.data: dict = {}
        self.estimate = SizeEstimate()
        self.directory: str | None = None
        self.spills = 0

    def maybe_spill(self, units: int, sample: Any) -> bool:
        """``units`` held now (keys, or values for groups); ``sample`` one
        unit just absorbed. Spills when the estimate passes the budget."""
        self.estimate.sample(sample)
        held = self.estimate.bytes_for(units)
        if held < self.budget or not self.data:
            return False
        self.spill(held)
        return True

    def spill(self, held: int | None = None) -> None:
        """Write the dict to the bucket files; ``held`` is its estimated size."""
        if self.directory is None:
            self.directory = spill_directory()
        if held is None:
            held = self.estimate.bytes_for(len(self.data))
        buckets: list[list] = [[] for _ in range(BUCKETS)]
        appenders = [bucket.append for bucket in buckets]
        for item in self.data.items():
            appenders[portable_hash(item[0]) % BUCKETS](item)
        written = 0
        for index, bucket in enumerate(buckets):
            if bucket:
                with open(os.path.join(self.directory, f"bucket-{index}"), "ab") as out:
                    start = out.tell()
                    pickle.dump(bucket, out, _PROTOCOL)
                    written += out.tell() - start
        self.data = {}
        self.spills += 1
        _count_spill(held, written)

    def items(self) -> Iterator[tuple]:
        # Not spilled: the dict's own iterator, with no Python step per entry.
        if self.directory is None:
            return iter(self.data.items())
        return self._merged_items()

    def _merged_items(self) -> Iterator[tuple]:
        try:
            if self.data:
                self.spill()
            for index in range(BUCKETS):
                yield from self._merge_bucket(index).items()
        finally:
            self.close()

    def _merge_bucket(self, index: int) -> dict:
        """One bucket's entries of every spill, merged. The spills are read
        in the order they were written, so the dict's order is each key's
        first appearance in the input."""
        merged: dict = {}
        path = os.path.join(self.directory, f"bucket-{index}")
        if not os.path.exists(path):
            return merged
        merge = self.merge
        for key, value in load_chunks(path):
            if key in merged:
                merged[key] = merge(merged[key], value)
            else:
                merged[key] = value
        os.unlink(path)
        return merged

    def close(self) -> None:
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None


def external_sorted(records: Iterable, key: Callable[[Any], Any], reverse: bool,
                    budget: int) -> Iterator:
    """``sorted(records, key=key, reverse=reverse)``, spilling sorted runs to
    disk past ``budget`` bytes. Stable, like ``sorted``. Reads and sorts when
    called; returns an iterator over the result (the list's own when nothing
    spilled, so the caller's loop pays no Python step per record)."""
    held: list = []
    estimate = SizeEstimate()
    runs: list[str] = []
    directory = None
    serial = count()
    records = iter(records)
    try:
        while True:
            # Chunks are taken in C (islice), so holding costs no Python step per record.
            before = len(held)
            held.extend(islice(records, CHECK_EVERY))
            if len(held) - before < CHECK_EVERY:
                break
            estimate.sample(held[-1])
            if estimate.bytes_for(len(held)) >= budget:
                if directory is None:
                    directory = spill_directory()
                held.sort(key=key, reverse=reverse)
                run = os.path.join(directory, f"run-{next(serial)}")
                _append_chunks(run, held)
                runs.append(run)
                _count_spill(estimate.bytes_for(len(held)), os.path.getsize(run))
                held = []
        held.sort(key=key, reverse=reverse)
    except BaseException:
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
        raise
    if not runs:
        return iter(held)
    merged = _merged_runs(runs, held, key, reverse, directory)
    # The runs go when the merge ends, or when it is dropped unfinished (even
    # unstarted, when a generator's own finally would not run).
    weakref.finalize(merged, shutil.rmtree, directory, True)
    return merged


def _merged_runs(runs: list[str], held: list, key: Callable[[Any], Any], reverse: bool,
                 directory: str) -> Iterator:
    try:
        # Earlier runs first: heapq.merge takes ties from earlier iterables
        # first, which keeps the sort stable.
        yield from heapq.merge(*[load_chunks(run) for run in runs], iter(held),
                               key=key, reverse=reverse)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
