"""PySpark's ``pyspark.shuffle`` classes, with PySpark's arguments, results
and spill limits, over ember's own spilling structures (``engine.data.spill``)
and record loops (``engine.data.aggregation``).

* ``Aggregator(createCombiner, mergeValue, mergeCombiners)`` and
  ``SimpleAggregator(combiner)``: the three functions of a key aggregation,
  each wrapped against a stray ``StopIteration``.
* ``ExternalMerger(aggregator, memory_limit=512, ...)``: ``mergeValues`` /
  ``mergeCombiners`` feed it, ``items()`` reads the merged (key, combiner)
  pairs; ``spills`` counts its spills. ``ExternalGroupBy`` is the same for
  groups.
* ``ExternalSorter(memory_limit).sorted(iterator, key, reverse)``.
* ``ExternalList`` / ``ExternalListOfList``: a list of values that moves
  its contents to an unlinked file every ``LIMIT`` values; ``GroupByKey``
  groups a key-sorted stream of (key, [values]) into them.

Spill limits are PySpark's, not ember's tasks': a limit in MiB compared with
the process's resident memory (``get_used_memory``), checked every ``batch``
records (mergers) or every 100 (sorts). After a spill the limit becomes
``_next_limit()``: the larger of the limit and 105 % of the memory now in
use, since a Python process seldom gives memory back. ``DiskBytesSpilled``
and ``MemoryBytesSpilled`` count, for this process, the bytes written and
the resident memory freed by spills. (ember's own tasks spill on an
estimate of what they hold instead, so that a recomputed task spills at the
same points: see ``engine.data.spill``.)

Spill files live in a directory under the first of ``localdirs`` (by
default ``SPARK_LOCAL_DIRS``, shuffled, else the temporary directory), and
are removed once read or by ``_cleanup()``.

Must not know: RDDs, the scheduler, the wire.
"""

from __future__ import annotations

import gc
import itertools
import os
import random
import tempfile
from typing import Any, Callable, Iterable, Iterator

import psutil

from ember.engine.data import spill
from ember.engine.data.aggregation import absorb_into, combining, folding
from ember.engine.util import fail_on_stopiteration

MemoryBytesSpilled = 0
DiskBytesSpilled = 0
# This process, as psutil sees it (made on first use, again after a fork).
process: psutil.Process | None = None

_SORT_CHECK_EVERY = 100


def get_used_memory() -> int:
    """The resident memory of this process, in MiB."""
    global process
    if process is None or process.pid != os.getpid():
        process = psutil.Process(os.getpid())
    return process.memory_info().rss >> 20


def _count_spilled(disk_bytes: int, memory_before: int) -> None:
    global DiskBytesSpilled, MemoryBytesSpilled
    DiskBytesSpilled += disk_bytes
    MemoryBytesSpilled += max(memory_before - get_used_memory(), 0) << 20


def _local_dirs(kind: str) -> list[str]:
    """Where spills of this process go: one directory per ``SPARK_LOCAL_DIRS``
    entry, in random order so that concurrent spills spread over disks."""
    roots = [d for d in os.environ.get("SPARK_LOCAL_DIRS", "").split(",") if d] \
        or [tempfile.gettempdir()]
    random.shuffle(roots)
    return [os.path.join(root, "python", str(os.getpid()), kind) for root in roots]


class Aggregator:
    """How to combine the values of a key: ``createCombiner(value)``,
    ``mergeValue(combiner, value)``, ``mergeCombiners(combiner, combiner)``."""

    def __init__(self, createCombiner: Callable, mergeValue: Callable, mergeCombiners: Callable):
        self.createCombiner = fail_on_stopiteration(createCombiner)
        self.mergeValue = fail_on_stopiteration(mergeValue)
        self.mergeCombiners = fail_on_stopiteration(mergeCombiners)


class SimpleAggregator(Aggregator):
    """An aggregation whose combiners are values: ``combiner(a, b)`` merges both.

    >>> from operator import add
    >>> merger = ExternalMerger(SimpleAggregator(add))
    >>> merger.mergeValues([("a", 1), ("b", 2), ("a", 3)])
    >>> sorted(merger.items())
    [('a', 4), ('b', 2)]
    """

    def __init__(self, combiner: Callable[[Any, Any], Any]):
        super().__init__(lambda value: value, combiner, combiner)


class Merger:
    """What a merger does; ``ExternalMerger`` is the one that does it."""

    def __init__(self, aggregator: Aggregator):
        self.agg = aggregator

    def mergeValues(self, iterator: Iterable[tuple]) -> None:
        """Combine (key, value) records into the merger."""
        raise NotImplementedError(f"{type(self).__name__}.mergeValues")

    def mergeCombiners(self, iterator: Iterable[tuple]) -> None:
        """Merge (key, combiner) records into the merger."""
        raise NotImplementedError(f"{type(self).__name__}.mergeCombiners")

    def items(self) -> Iterator[tuple]:
        """The merged (key, combiner) pairs."""
        raise NotImplementedError(f"{type(self).__name__}.items")


class ExternalMerger(Merger, spill.SpillPolicy):
    """A key aggregation that spills to disk once the process's memory
    reaches ``memory_limit`` MiB, into ``partitions`` hash buckets merged one
    at a time when read. ``serializer`` and ``scale`` are accepted for
    PySpark's signature; spill files use ember's own format.

    >>> merger = ExternalMerger(Aggregator(lambda v: [v], lambda c, v: c + [v],
    ...                                    lambda c1, c2: c1 + c2), memory_limit=1024)
    >>> merger.mergeValues([(1, "x"), (2, "y"), (1, "z")])
    >>> sorted(merger.items()), merger.spills
    ([(1, ['x', 'z']), (2, ['y'])], 0)
    """

    def __init__(self, aggregator: Aggregator, memory_limit: int = 512, serializer: Any = None,
                 localdirs: list[str] | None = None, scale: int = 1, partitions: int = 59,
                 batch: int = 1000):
        super().__init__(aggregator)
        self.memory_limit = memory_limit
        self.serializer = serializer
        self.localdirs = list(localdirs) if localdirs else _local_dirs("merge")
        self.scale = scale
        self.partitions = partitions
        self.batch = batch
        self._limit = memory_limit
        self._merger = spill.ExternalMerger(self.agg.mergeCombiners, policy=self,
                                            buckets=partitions, root=self.localdirs[0])

    # --- the spill policy (PySpark's: resident memory against a limit) -------------

    def should_spill(self, units: int, sample: Any) -> bool:
        self._memory_before = get_used_memory()
        return self._memory_before >= self._limit

    def spilled(self, nbytes: int) -> None:
        gc.collect()
        _count_spilled(nbytes, self._memory_before)
        self._limit = self._next_limit()

    def _next_limit(self) -> float:
        """The limit after a spill: what is in use now, and 5 % to grow."""
        return max(self.memory_limit, get_used_memory() * 1.05)

    # --- Merger -----------------------------------------------------------------

    @property
    def data(self) -> dict:
        """The (key, combiner) entries held in memory now."""
        return self._merger.data

    @property
    def spills(self) -> int:
        return self._merger.spills

    def mergeValues(self, iterator: Iterable[tuple]) -> None:
        self._limit = self.memory_limit
        absorb_into(self._merger, iterator, combining(self.agg.createCombiner, self.agg.mergeValue),
                    check_every=self.batch)

    def mergeCombiners(self, iterator: Iterable[tuple], limit: float | None = None) -> None:
        self._limit = self.memory_limit if limit is None else limit
        absorb_into(self._merger, iterator, folding(self.agg.mergeCombiners, "mergeCombiners"),
                    check_every=self.batch)

    def items(self) -> Iterator[tuple]:
        return self._merger.items()

    def _spill(self) -> None:
        self._memory_before = get_used_memory()
        self._merger.spill()

    def _cleanup(self) -> None:
        """Remove the spill files (reading every item also removes them)."""
        self._merger.close()


class ExternalGroupBy(ExternalMerger):
    """``ExternalMerger`` for ``groupByKey``: the aggregator builds lists.
    ``SORT_KEY_LIMIT`` is accepted for PySpark's sake; ember merges spilled
    groups by hash bucket, whatever the number of keys."""

    SORT_KEY_LIMIT = 1000


class ExternalSorter(spill.SpillPolicy):
    """``sorted()`` that writes sorted runs to disk once the process's memory
    passes the limit, and merges them.

    >>> list(ExternalSorter(1024).sorted([3, 1, 2], key=lambda x: -x))
    [3, 2, 1]
    """

    def __init__(self, memory_limit: float, serializer: Any = None):
        self.memory_limit = memory_limit
        self.serializer = serializer
        self.local_dirs = _local_dirs("sort")
        self._limit = memory_limit

    def _next_limit(self) -> float:
        """The limit to spill at: what is in use now, and 5 % to grow."""
        return max(self.memory_limit, get_used_memory() * 1.05)

    def should_spill(self, units: int, sample: Any) -> bool:
        self._memory_before = get_used_memory()
        return self._memory_before > self._limit

    def spilled(self, nbytes: int) -> None:
        gc.collect()
        _count_spilled(nbytes, self._memory_before)
        self._limit = self._next_limit()

    def sorted(self, iterator: Iterable, key: Callable | None = None,
               reverse: bool = False) -> Iterator:
        self._limit = self._next_limit()
        return spill.external_sorted(iterator, key, reverse, policy=self,
                                     check_every=_SORT_CHECK_EVERY, root=self.local_dirs[0])


class ExternalList:
    """A list of values kept in memory up to ``LIMIT`` values at a time; the
    rest waits, in order, in an unlinked file. It pickles whole.

    >>> values = ExternalList(list(range(5)))
    >>> for i in range(20000):
    ...     values.append(i)
    >>> len(values), list(values)[5], sum(1 for _ in values)
    (20005, 0, 20005)
    """

    LIMIT = 10240

    def __init__(self, values: list):
        self.values = values
        self.count = len(values)
        self._file: Any = None

    def __len__(self) -> int:
        return self.count

    def append(self, value: Any) -> None:
        self.values.append(value)
        self.count += 1
        if len(self.values) >= self.LIMIT:
            self._spill()

    def _open_file(self) -> None:
        directory = _local_dirs("objects")[0]
        os.makedirs(directory, exist_ok=True)
        # Unlinked at once: the space is freed when the list goes, however it goes.
        self._file = tempfile.TemporaryFile(dir=directory)

    def _spill(self) -> None:
        if self._file is None:
            self._open_file()
        before = get_used_memory()
        start = self._file.tell()
        spill.dump_chunks(self._file, self.values)
        self.values = []
        gc.collect()
        _count_spilled(self._file.tell() - start, before)

    def _spilled(self) -> Iterator:
        if self._file is None:
            return iter(())
        self._file.flush()
        # A second descriptor: reading must not move the one appends write at.
        reader = os.fdopen(os.dup(self._file.fileno()), "rb")
        reader.seek(0)
        return _read_chunks(reader)

    def __iter__(self) -> Iterator:
        return itertools.chain(self._spilled(), self.values)

    def __getstate__(self) -> dict:
        return {"values": list(self), "count": self.count}

    def __setstate__(self, state: dict) -> None:
        self.values, self.count, self._file = state["values"], state["count"], None
        if len(self.values) >= self.LIMIT:
            self._spill()

    def __del__(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _read_chunks(reader: Any) -> Iterator:
    with reader:
        yield from spill.read_chunks(reader)


class ExternalListOfList(ExternalList):
    """An ``ExternalList`` of lists that counts and iterates their values.

    >>> values = ExternalListOfList([[1, 2], [3]])
    >>> values.append([4, 5])
    >>> len(values), list(values)
    (5, [1, 2, 3, 4, 5])
    """

    def __init__(self, values: list[list]):
        super().__init__(values)
        self.count = sum(len(value) for value in values)

    def append(self, value: list) -> None:
        super().append(value)
        self.count += len(value) - 1

    def __iter__(self) -> Iterator:
        return itertools.chain.from_iterable(super().__iter__())

    def __getstate__(self) -> dict:
        return {"values": list(ExternalList.__iter__(self)), "count": self.count}


class GroupByKey:
    """A key-sorted stream of (key, [values]) grouped: (key, all its values)
    for each run of equal keys, values in an ``ExternalListOfList``.

    >>> [(k, list(v)) for k, v in GroupByKey([(0, [1]), (0, [2, 3]), (1, [4])])]
    [(0, [1, 2, 3]), (1, [4])]
    """

    def __init__(self, iterator: Iterable[tuple]):
        self.iterator = iterator

    def __iter__(self) -> Iterator[tuple]:
        for key, group in itertools.groupby(self.iterator, key=lambda record: record[0]):
            values = ExternalListOfList([])
            for _, part in group:
                values.append(part)
            yield key, values
