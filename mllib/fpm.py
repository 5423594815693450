"""Frequent pattern mining: FP-growth for itemsets, PrefixSpan for
sequential patterns.

Owns ``FPGrowth`` and ``PrefixSpan`` and their models.

* FP-growth is MLlib's parallel version (Li et al., PFP): one job counts the
  items; the frequent ones are ranked by decreasing count; every
  transaction, reduced to its frequent items in rank order, sends each
  group (``rank % numPartitions``) the prefix ending at its last item of that
  group; each group mines, from those conditional transactions alone, the
  itemsets whose least frequent item is one of its own (projecting the
  transactions on each suffix item in turn, as an FP-tree's conditional
  bases are). Itemsets list their least frequent item first, as MLlib's do.
* PrefixSpan counts frequent items, then grows patterns a level at a time:
  the patterns of a level are broadcast and every sequence reports, once per
  pattern, the items that extend it (as a new itemset after its earliest
  occurrence, or into its last itemset); one ``reduceByKey`` per level keeps
  the extensions seen in at least ``minSupport`` of the sequences, until
  ``maxPatternLength`` items. Items within an itemset are ordered by
  decreasing frequency, as MLlib's are.

Both check their input: an item repeated in a transaction (FP-growth) is an
``InvalidDataError`` naming the partition.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Iterator, NamedTuple

from ember.engine.api.storage import StorageLevel
from ember.engine.errors import InvalidDataError
from ember.mllib import _persist
from ember.mllib.util import Loader, Saveable

__all__ = ["FPGrowth", "FPGrowthModel", "PrefixSpan", "PrefixSpanModel"]


class FPGrowthModel(Saveable, Loader["FPGrowthModel"]):
    """The frequent itemsets found by ``FPGrowth``.

    >>> data = [["a", "b", "c"], ["a", "b", "d", "e"], ["a", "c", "e"], ["a", "c", "f"]]
    >>> model = FPGrowth.train(sc.parallelize(data, 2), 0.6, 2)
    >>> sorted(model.freqItemsets().collect())
    [FreqItemset(items=['a'], freq=4), FreqItemset(items=['c'], freq=3), FreqItemset(items=['c', 'a'], freq=3)]
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "fpm")
    >>> model.save(sc, path)
    >>> sorted(FPGrowthModel.load(sc, path).freqItemsets().collect()) == sorted(
    ...     model.freqItemsets().collect())
    True
    """

    def __init__(self, itemsets: Any):
        self._itemsets = itemsets

    def freqItemsets(self) -> Any:
        """The frequent itemsets, an RDD of ``FPGrowth.FreqItemset``."""
        return self._itemsets

    def save(self, sc: Any, path: str) -> None:
        """Save this model to ``path`` (items must be JSON values)."""
        _persist.save(sc, path, "org.apache.spark.mllib.fpm.FPGrowthModel", {},
                      self._itemsets.map(lambda s: {"items": list(s.items), "freq": s.freq}))

    @classmethod
    def load(cls, sc: Any, path: str) -> "FPGrowthModel":
        """Load a model saved with ``save``."""
        _persist.load_metadata(sc, path, "org.apache.spark.mllib.fpm.FPGrowthModel")
        return cls(_persist.load_record_rdd(sc, path).map(
            lambda r: FPGrowth.FreqItemset(r["items"], r["freq"])))


def _check_unique(partition: int, transactions: Iterator) -> Iterator:
    for row, transaction in enumerate(transactions):
        items = list(transaction)
        if len(set(items)) != len(items):
            raise InvalidDataError(f"Items in a transaction must be unique but got {items!r} "
                                   f"(row {row} of partition {partition})")
        yield items


def _mine(database: Counter, min_count: int, suffix: tuple) -> Iterator[tuple[tuple, int]]:
    """Itemsets extending ``suffix`` in a projected database of rank tuples
    (ascending ranks, counted)."""
    supports: Counter = Counter()
    for transaction, count in database.items():
        for rank in transaction:
            supports[rank] += count
    for rank in sorted(supports, reverse=True):
        support = supports[rank]
        if support < min_count:
            continue
        itemset = suffix + (rank,)
        yield itemset, support
        projected: Counter = Counter()
        for transaction, count in database.items():
            if rank in transaction:
                prefix = transaction[:transaction.index(rank)]
                if prefix:
                    projected[prefix] += count
        yield from _mine(projected, min_count, itemset)


class FPGrowth:
    """Parallel FP-growth for frequent itemsets."""

    @classmethod
    def train(cls, data: Any, minSupport: float = 0.3, numPartitions: int = -1) -> FPGrowthModel:
        """Mine the itemsets occurring in at least ``minSupport`` of the
        transactions (an RDD of lists of distinct items); ``numPartitions``
        groups mine in parallel (-1: as many as the input's partitions)."""
        if not 0.0 <= minSupport <= 1.0:
            raise ValueError(f"Minimal support level must be in range [0, 1] but got "
                             f"{minSupport}")
        groups = data.getNumPartitions() if numPartitions <= 0 else int(numPartitions)
        transactions = data.mapPartitionsWithIndex(_check_unique)
        counts = transactions.flatMap(lambda items: ((item, 1) for item in items)) \
            .reduceByKey(lambda a, b: a + b).collect()
        total = data.count()
        min_count = math.ceil(minSupport * total)
        frequent = sorted(((item, count) for item, count in counts if count >= min_count),
                          key=lambda pair: (-pair[1], repr(pair[0])))
        items = [item for item, _ in frequent]
        context = data.context
        rank_of = context.broadcast({item: rank for rank, item in enumerate(items)})

        def conditional(items_list: list) -> Iterator:
            ranks = sorted(rank_of.value[item] for item in items_list if item in rank_of.value)
            sent = set()
            for position in range(len(ranks) - 1, -1, -1):
                group = ranks[position] % groups
                if group not in sent:
                    sent.add(group)
                    yield group, tuple(ranks[:position + 1])

        def mine_group(pair: tuple) -> Iterator:
            group, prefixes = pair
            database = Counter(prefixes)
            suffixes = sorted({r for t in database for r in t if r % groups == group})
            for rank in suffixes:
                support = 0
                projected: Counter = Counter()
                for transaction, count in database.items():
                    if rank in transaction:
                        support += count
                        prefix = transaction[:transaction.index(rank)]
                        if prefix:
                            projected[prefix] += count
                if support >= min_count:
                    yield (rank,), support
                    yield from _mine(projected, min_count, (rank,))

        names = context.broadcast(items)
        itemsets = transactions.flatMap(conditional).groupByKey(groups).flatMap(mine_group) \
            .map(lambda pair: FPGrowth.FreqItemset([names.value[r] for r in pair[0]], pair[1]))
        return FPGrowthModel(itemsets)

    class FreqItemset(NamedTuple):
        """A frequent itemset and its frequency."""

        items: list
        freq: int


class PrefixSpanModel:
    """The frequent sequential patterns found by ``PrefixSpan``.

    >>> data = [[["a", "b"], ["c"]], [["a"], ["c", "b"], ["a", "b"]], [["a", "b"], ["e"]],
    ...         [["f"]]]
    >>> model = PrefixSpan.train(sc.parallelize(data, 2))
    >>> sorted(model.freqSequences().collect())[:3]
    [FreqSequence(sequence=[['a']], freq=3), FreqSequence(sequence=[['a'], ['a']], freq=1), FreqSequence(sequence=[['a'], ['a', 'b']], freq=1)]
    >>> len(model.freqSequences().collect())
    35
    """

    def __init__(self, sequences: Any):
        self._sequences = sequences

    def freqSequences(self) -> Any:
        """The frequent sequences, an RDD of ``PrefixSpan.FreqSequence``."""
        return self._sequences


def _extensions(sequence: list[frozenset], pattern: tuple) -> tuple[set, set]:
    """Items extending ``pattern`` within ``sequence``: as a new last itemset,
    and into the pattern's last itemset (ranks above its largest)."""
    position = -1
    for itemset in pattern[:-1]:
        position = next((t for t in range(position + 1, len(sequence))
                         if itemset <= sequence[t]), None)
        if position is None:
            return set(), set()
    last = pattern[-1]
    top = max(last)
    into_last: set = set()
    end = None
    for t in range(position + 1, len(sequence)):
        if last <= sequence[t]:
            if end is None:
                end = t
            into_last.update(item for item in sequence[t] if item > top)
    if end is None:
        return set(), set()
    new_itemset: set = set()
    for t in range(end + 1, len(sequence)):
        new_itemset.update(sequence[t])
    return new_itemset, into_last


class PrefixSpan:
    """Frequent sequential patterns (Pei et al., PrefixSpan)."""

    @classmethod
    def train(cls, data: Any, minSupport: float = 0.1, maxPatternLength: int = 10,
              maxLocalProjDBSize: int = 32000000) -> PrefixSpanModel:
        """Mine the sequences of itemsets occurring in at least ``minSupport``
        of the input sequences, up to ``maxPatternLength`` items."""
        if not 0.0 <= minSupport <= 1.0:
            raise ValueError(f"The minimum support value must be in [0, 1], but got "
                             f"{minSupport}.")
        if maxPatternLength <= 0:
            raise ValueError(f"The maximum pattern length value must be greater than 0, but "
                             f"got {maxPatternLength}.")
        if maxLocalProjDBSize <= 0:
            raise ValueError(f"The maximum local projected database size must be greater than "
                             f"0, but got {maxLocalProjDBSize}.")
        context = data.context
        total = data.count()
        min_count = math.ceil(minSupport * total)
        counts = data.flatMap(lambda sequence: {item for itemset in sequence for item in itemset}) \
            .map(lambda item: (item, 1)).reduceByKey(lambda a, b: a + b).collect()
        frequent = sorted(((item, count) for item, count in counts if count >= min_count),
                          key=lambda pair: (-pair[1], repr(pair[0])))
        names = [item for item, _ in frequent]
        rank = {item: r for r, item in enumerate(names)}
        encoded = data.map(lambda sequence: [frozenset(rank[i] for i in itemset if i in rank)
                                             for itemset in sequence]) \
            .map(lambda sequence: [itemset for itemset in sequence if itemset])
        encoded.persist(StorageLevel.MEMORY_AND_DISK)
        found: list[tuple[tuple, int]] = [((frozenset([r]),), count)
                                          for r, (_, count) in enumerate(frequent)]
        level = [pattern for pattern, _ in found]
        length = 1
        try:
            while level and length < maxPatternLength:
                broadcast = context.broadcast(level)

                def extend(sequence: list) -> Iterator:
                    for index, pattern in enumerate(broadcast.value):
                        new_itemset, into_last = _extensions(sequence, pattern)
                        for item in new_itemset:
                            yield (index, 0, item), 1
                        for item in into_last:
                            yield (index, 1, item), 1

                try:
                    supports = encoded.flatMap(extend).reduceByKey(lambda a, b: a + b) \
                        .filter(lambda pair: pair[1] >= min_count).collect()
                finally:
                    broadcast.destroy()
                next_level = []
                for (index, kind, item), support in sorted(supports):
                    pattern = level[index]
                    grown = pattern + (frozenset([item]),) if kind == 0 else \
                        pattern[:-1] + (pattern[-1] | {item},)
                    next_level.append(grown)
                    found.append((grown, support))
                level = next_level
                length += 1
        finally:
            encoded.unpersist()
        sequences = [PrefixSpan.FreqSequence([[names[r] for r in sorted(itemset)]
                                              for itemset in pattern], support)
                     for pattern, support in found]
        return PrefixSpanModel(context.parallelize(sequences))

    class FreqSequence(NamedTuple):
        """A frequent sequence (a list of itemsets) and its frequency."""

        sequence: list
        freq: int
