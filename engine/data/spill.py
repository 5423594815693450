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

When to spill is a policy: ember's tasks use ``EstimatedBudget``, which
checks the budget against an *estimate* of the data held, not the process's
RSS (PySpark's way): the estimate is made from the input alone (pickled
sizes of sampled entries), so the same input spills at the same points on
every attempt, and memory held by other slots of the worker does not make a
task spill. Samples are cheap: one entry every ``CHECK_EVERY`` records.
PySpark's own classes (``ember.engine.data.external``: ``ExternalMerger``,
``ExternalSorter``, with PySpark's arguments) bring PySpark's policy, the
process's RSS against a limit in MiB, through the same two hooks
(``should_spill``, ``spilled``).

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


def spill_directory(root: str | None = None) -> str:
    """A fresh directory for one task's spill files, under ``root`` (by
    default the first of ``SPARK_LOCAL_DIRS``, else the temporary directory)."""
    if root is None:
        roots = [d for d in os.environ.get("SPARK_LOCAL_DIRS", "").split(",") if d]
        root = roots[0] if roots else tempfile.gettempdir()
    os.makedirs(root, exist_ok=True)
    return tempfile.mkdtemp(prefix="spill-", dir=root)


class SpillPolicy:
    """When a merger or a sort spills: ``should_spill(units, sample)`` is
    asked every few records (``units`` held, ``sample`` one of them just
    absorbed); ``spilled(nbytes)`` is told after each spill."""

    def should_spill(self, units: int, sample: Any) -> bool:
        raise NotImplementedError

    def spilled(self, nbytes: int) -> None:
        pass

    def held_bytes(self, units: int) -> int:
        """The estimated size of ``units`` held, for the task's spill
        metrics (0 when the policy does not estimate)."""
        return 0


class EstimatedBudget(SpillPolicy):
    """ember's policy: spill once the estimated size of what is held reaches
    ``budget`` bytes (deterministic: it depends on the input alone)."""

    __slots__ = ("budget", "estimate")

    def __init__(self, budget: int):
        self.budget = budget
        self.estimate = SizeEstimate()

    def should_spill(self, units: int, sample: Any) -> bool:
        self.estimate.sample(sample)
        return self.estimate.bytes_for(units) >= self.budget

    def held_bytes(self, units: int) -> int:
        return self.estimate.bytes_for(units)


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
        if metrics is None:
            yield from read_chunks(source)
            return
        position = 0
        while True:
            try:
                batch = pickle.load(source)
            except EOFError:
                return
            end = source.tell()
            metrics.input_records += len(batch)
            metrics.input_bytes += end - position
            position = end
            yield from batch


def read_chunks(source: BinaryIO) -> Iterator:
    """The items of chunks written by ``dump_chunks``, read from ``source``
    from where it stands to its end."""
    while True:
        try:
            batch = pickle.load(source)
        except EOFError:
            return
        yield from batch


def _append_chunks(path: str, items: Iterable) -> int:
    """Append ``items`` as chunks; the bytes written."""
    with open(path, "ab") as out:
        start = out.tell()
        dump_chunks(out, items)
        return out.tell() - start


class ExternalMerger:
    """Key -> combined value, spilling past ``budget`` bytes (or when
    ``policy`` says so) into ``buckets`` hash buckets.

    The caller's loop does the per-record work on ``self.data`` (a plain dict,
    for speed) and calls ``maybe_spill(units, sample)`` every CHECK_EVERY
    records; ``merge(old, new)`` combines two partial values of one key, the
    older first. ``items()`` yields every (key, value): in first-appearance
    order when nothing was spilled, otherwise bucket by bucket, each in
    first-appearance order.
    """

    def __init__(self, merge: Callable[[Any, Any], Any], budget: int = DEFAULT_BUDGET,
                 policy: SpillPolicy | None = None, buckets: int = BUCKETS,
                 root: str | None = None):
        self.merge = merge
        self.policy = policy if policy is not None else EstimatedBudget(budget)
        self.buckets = buckets
        self.root = root
        self.data: dict = {}
        self.directory: str | None = None
        self.spills = 0

    def maybe_spill(self, units: int, sample: Any) -> bool:
        """``units`` held now (keys, or values for groups); ``sample`` one
        unit just absorbed. Spills when the policy says so."""
        if not self.policy.should_spill(units, sample) or not self.data:
            return False
        self.spill(self.policy.held_bytes(units))
        return True

    def spill(self, held: int | None = None) -> None:
        """Write the dict to the bucket files; ``held`` is its estimated size."""
        if self.directory is None:
            self.directory = spill_directory(self.root)
        if held is None:
            held = self.policy.held_bytes(len(self.data))
        count = self.buckets
        buckets: list[list] = [[] for _ in range(count)]
        appenders = [bucket.append for bucket in buckets]
        for item in self.data.items():
            appenders[portable_hash(item[0]) % count](item)
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
        self.policy.spilled(written)

    def items(self) -> Iterator[tuple]:
        # Not spilled: the dict's own iterator, with no Python step per entry.
        if self.directory is None:
            return iter(self.data.items())
        return self._merged_items()

    def _merged_items(self) -> Iterator[tuple]:
        try:
            if self.data:
                self.spill()
            for index in range(self.buckets):
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
                    budget: int = DEFAULT_BUDGET, policy: SpillPolicy | None = None,
                    check_every: int = CHECK_EVERY, root: str | None = None) -> Iterator:
    """``sorted(records, key=key, reverse=reverse)``, spilling sorted runs to
    disk past ``budget`` bytes (or when ``policy`` says so, asked every
    ``check_every`` records). Stable, like ``sorted``. Reads and sorts when
    called; returns an iterator over the result (the list's own when nothing
    spilled, so the caller's loop pays no Python step per record)."""
    held: list = []
    policy = policy if policy is not None else EstimatedBudget(budget)
    runs: list[str] = []
    directory = None
    serial = count()
    records = iter(records)
    try:
        while True:
            # Chunks are taken in C (islice), so holding costs no Python step per record.
            before = len(held)
            held.extend(islice(records, check_every))
            if len(held) - before < check_every:
                break
            if policy.should_spill(len(held), held[-1]):
                if directory is None:
                    directory = spill_directory(root)
                held.sort(key=key, reverse=reverse)
                run = os.path.join(directory, f"run-{next(serial)}")
                written = _append_chunks(run, held)
                runs.append(run)
                _count_spill(policy.held_bytes(len(held)), written)
                held = []
                policy.spilled(written)
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
