"""The kinds of RDD. Each overrides only the five properties of ``RDD``.

* ``ParallelCollectionRDD``: a driver-side collection cut into slices; each
  partition carries its own pickled slice, so a task ships only its slice.
* ``TextFileRDD``: byte-range splits of text files (``ember.engine.io.textfile``).
* ``PipelinedRDD``: a chain of narrow per-partition functions fused into one
  (PySpark's PipelinedRDD): ``map().filter().flatMap()`` is one pass over the
  iterator. A persisted parent stops the fusion, so its cache is used.
* ``UnionRDD`` (concatenation) and ``PartitionerAwareUnionRDD`` (partition i
  of every parent, when all share one partitioner: no shuffle needed).
* ``CoalescedRDD``: groups of adjacent parent partitions, no shuffle.
* ``ShuffledRDD``: the reduce side of a shuffle; reads its blocks through
  the worker's shuffle reader (``context._env.shuffle``).
* ``EmptyRDD``: no partitions.
* ``ZippedRDD`` (partition i of two RDDs, element by element) and
  ``CartesianRDD`` (every pair of partitions).
* ``ReliableCheckpointRDD`` (the part files of a reliable checkpoint) and
  ``LocalCheckpointRDD`` (the cached blocks of a local checkpoint): where a
  checkpointed RDD's lineage ends (``ember.engine.io.checkpoint``).
* File inputs besides text: ``WholeFilesRDD`` (one record per file),
  ``BinaryRecordsRDD`` (fixed-length records), ``PickleFileRDD`` (pickle
  files, ``ember.engine.io.picklefile``), ``OffsetLinesRDD`` (Hadoop's
  TextInputFormat: (byte offset, line)).

Every kind overrides ``_get_dependencies`` rather than ``dependencies``: the
base class answers ``dependencies`` with the checkpoint once an RDD is
checkpointed, whatever its kind.

PySpark's numbering (``RDD.id()``): a kind whose PySpark counterpart is made
at once numbers itself in its constructor (``_pyspark_numbered``, with the
count of JVM RDDs PySpark makes for it and the parents it reads); a
``PipelinedRDD`` numbers itself when first needed. Each kind also records
the deserializer PySpark's would have (``_jrdd_deserializer``).
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, Iterator

from ember.engine.io import binaryfiles, picklefile
from ember.engine.io.checkpoint import read_checkpoint_partition, read_local_block
from ember.engine.data.aggregation import Sides
from ember.engine.wire.closure import Closure
from ember.engine.api.dependency import (
    ManyToOneDependency,
    OneToOneDependency,
    RangeDependency,
    ShuffleDependency,
)
from ember.engine.io.hadoop import read_offset_lines
from ember.engine.api.partitioner import Partitioner
from ember.engine.api.rdd import RDD, Partition
from ember.engine.wire.serializer import loads
from ember.engine.wire.serializers import (
    BatchedSerializer,
    CartesianDeserializer,
    CPickleSerializer,
    NoOpSerializer,
    PairDeserializer,
    UTF8Deserializer,
)
from ember.engine.api.storage import StorageLevel
from ember.engine.io.textfile import compute_splits, list_input_files, read_split


class ParallelCollectionPartition(Partition):
    __slots__ = ("data",)

    def __init__(self, index: int, data: bytes):
        super().__init__(index)
        self.data = data


class ParallelCollectionRDD(RDD):
    _DRIVER_ONLY = RDD._DRIVER_ONLY + ("_slices",)

    def __init__(self, ctx: Any, slices: list[bytes], callsite: str, batch: int | None = None):
        super().__init__(ctx, "parallelize", callsite)
        self._slices = slices
        # A list: PySpark ships it in batches of ``batch``, one JVM RDD. A
        # range (``batch`` None): PySpark parallelizes nothing and maps each
        # partition index to its slice, a PipelinedRDD numbered when needed.
        self._from_range = batch is None
        if self._from_range:
            self._absorbed_id = ctx._new_public_ids(1)
        else:
            self._jrdd_deserializer = BatchedSerializer(ctx._unbatched_serializer, batch)
            self._pyspark_numbered()

    def _pyspark_pipelinable(self) -> bool:
        return self._from_range and _pipelinable(self)

    def _get_partitions(self) -> list[Partition]:
        return [ParallelCollectionPartition(i, data) for i, data in enumerate(self._slices)]

    def compute(self, split: ParallelCollectionPartition, context) -> Iterator:
        records = loads(split.data)
        if context is not None:
            context._metrics.input_records += len(records)
            context._metrics.input_bytes += len(split.data)
        return iter(records)


class TextFilePartition(Partition):
    __slots__ = ("path", "start", "length", "whole_file")

    def __init__(self, index: int, path: str, start: int, length: int, whole_file: bool):
        super().__init__(index)
        self.path = path
        self.start = start
        self.length = length
        self.whole_file = whole_file


class TextFileRDD(RDD):
    def __init__(self, ctx: Any, path: str, min_partitions: int, use_unicode: bool, callsite: str):
        super().__init__(ctx, "textFile", callsite)
        self.path = path
        self.min_partitions = min_partitions
        self.use_unicode = use_unicode
        self._jrdd_deserializer = UTF8Deserializer(use_unicode)
        self._pyspark_numbered(count=2)  # Hadoop's RDD, then its lines

    def _get_partitions(self) -> list[Partition]:
        splits = compute_splits(list_input_files(self.path), self.min_partitions)
        return [TextFilePartition(i, *split) for i, split in enumerate(splits)]

    def compute(self, split: TextFilePartition, context) -> Iterator:
        return read_split(split.path, split.start, split.length, split.whole_file, self.use_unicode)


class PipelinedRDD(RDD):
    def __init__(self, prev: RDD, func: Callable[[int, Iterator], Any], preserves: bool,
                 op: str, user_fn: Any, callsite: str, barrier: bool = False):
        # A persisted, checkpointed or resource-profiled parent keeps its own
        # identity: its cache, checkpoint or profile must be used, not bypassed.
        fuse = (isinstance(prev, PipelinedRDD) and prev._storage_level == StorageLevel.NONE
                and not prev.is_checkpointed and not prev.has_resource_profile)
        if fuse:
            inner, outer = prev._func.value, func

            def pipeline(index: int, iterator: Iterator) -> Any:
                return outer(index, inner(index, iterator))

            self.parent = prev.parent
            self._func = Closure(pipeline, prev._func.ops + [(op, callsite, user_fn)])
        else:
            self.parent = prev
            self._func = Closure(func, [(op, callsite, user_fn)])
        super().__init__(prev.ctx, op, callsite)
        self.partitioner = prev.partitioner if preserves else None
        self._barrier = barrier or prev._barrier

    def _number(self) -> None:
        # The pipeline reads its source's JVM RDD, unless PySpark fused the
        # source into it too (a range).
        source = self.parent
        self._pyspark_numbered(*([] if source._pyspark_pipelinable() else [source]))

    def _pyspark_pipelinable(self) -> bool:
        return _pipelinable(self)

    def _get_partitions(self) -> list[Partition]:
        return self.parent.partitions

    def compute(self, split: Partition, context) -> Iterator:
        return iter(self._func.value(split.index, self.parent.iterator(split, context)))

    def _get_dependencies(self):
        return [OneToOneDependency(self.parent)]

    def _closures(self) -> list[Closure]:
        return [self._func]


class UnionPartition(Partition):
    __slots__ = ("rdd_index", "parent")

    def __init__(self, index: int, rdd_index: int, parent: Partition):
        super().__init__(index)
        self.rdd_index = rdd_index
        self.parent = parent


def _pipelinable(rdd: RDD) -> bool:
    return (rdd._storage_level == StorageLevel.NONE and not rdd.is_checkpointed
            and not rdd.has_resource_profile)


def _number_union(union: RDD, rdds: list[RDD]) -> None:
    """Number a union as PySpark does: when its parents are read with
    different deserializers, each one not read with the Context's is
    re-read through an identity map first (which takes that parent's place,
    and its number)."""
    ctx = union.ctx
    first = rdds[0]._jrdd_deserializer
    mixed = any(rdd._jrdd_deserializer != first for rdd in rdds)
    for rdd in rdds:
        if mixed and rdd._jrdd_deserializer != ctx.serializer:
            ctx._new_public_ids(1)
        else:
            rdd.id()
    union._jrdd_deserializer = ctx.serializer if mixed else first
    union._pyspark_numbered()


class UnionRDD(RDD):
    def __init__(self, ctx: Any, rdds: list[RDD], callsite: str):
        super().__init__(ctx, "union", callsite)
        self.rdds = rdds
        _number_union(self, rdds)

    def _get_partitions(self) -> list[Partition]:
        parts: list[Partition] = []
        for rdd_index, rdd in enumerate(self.rdds):
            for parent in rdd.partitions:
                parts.append(UnionPartition(len(parts), rdd_index, parent))
        return parts

    def compute(self, split: UnionPartition, context) -> Iterator:
        return self.rdds[split.rdd_index].iterator(split.parent, context)

    def _get_dependencies(self):
        deps, start = [], 0
        for rdd in self.rdds:
            count = rdd.getNumPartitions()
            deps.append(RangeDependency(rdd, 0, start, count))
            start += count
        return deps


class CoPartition(Partition):
    __slots__ = ("parents",)

    def __init__(self, index: int, parents: list[Partition]):
        super().__init__(index)
        self.parents = parents


class PartitionerAwareUnionRDD(RDD):
    def __init__(self, ctx: Any, rdds: list[RDD], callsite: str):
        super().__init__(ctx, "union", callsite)
        self.rdds = rdds
        self.partitioner = rdds[0].partitioner
        # Set by cogroup and join on a union of their own: a partition is
        # then handed out as its parents' iterators, side by side (Sides).
        self._sided = False
        _number_union(self, rdds)

    def _get_partitions(self) -> list[Partition]:
        columns = [rdd.partitions for rdd in self.rdds]
        return [CoPartition(i, list(parents)) for i, parents in enumerate(zip(*columns))]

    def compute(self, split: CoPartition, context) -> Iterator:
        if self._sided:
            return Sides([rdd.iterator(parent, context)
                          for rdd, parent in zip(self.rdds, split.parents)])
        return itertools.chain.from_iterable(
            rdd.iterator(parent, context) for rdd, parent in zip(self.rdds, split.parents))

    def _get_dependencies(self):
        return [OneToOneDependency(rdd) for rdd in self.rdds]


class CoalescedRDD(RDD):
    def __init__(self, prev: RDD, partitions: int, callsite: str):
        super().__init__(prev.ctx, "coalesce", callsite)
        self.parent = prev
        self.target = partitions
        self._jrdd_deserializer = prev._jrdd_deserializer
        self._pyspark_numbered(prev)

    def _groups(self) -> list[list[int]]:
        count = self.parent.getNumPartitions()
        target = min(self.target, count)
        return [list(range(i * count // target, (i + 1) * count // target)) for i in range(target)]

    def _get_partitions(self) -> list[Partition]:
        parents = self.parent.partitions
        return [CoPartition(i, [parents[p] for p in group])
                for i, group in enumerate(self._groups())]

    def compute(self, split: CoPartition, context) -> Iterator:
        return itertools.chain.from_iterable(
            self.parent.iterator(parent, context) for parent in split.parents)

    def _get_dependencies(self):
        return [ManyToOneDependency(self.parent, self._groups())]


class ShuffledRDD(RDD):
    _DRIVER_ONLY = RDD._DRIVER_ONLY + ("_dependency",)

    def __init__(self, prev: RDD, partitioner: Partitioner, callsite: str):
        super().__init__(prev.ctx, "partitionBy", callsite)
        self.partitioner = partitioner
        self.shuffle_id = self.ctx._next_shuffle_id()
        self.num_partitions = partitioner.numPartitions
        self._dependency = ShuffleDependency(prev, partitioner, self.shuffle_id,
                                             "partitionBy", callsite)
        self.ctx._track_shuffle(self._dependency)
        # Set by cogroup and join on a shuffle of their own union: the map
        # tasks of each input RDD (ranges of map indexes), read side by side.
        self._sides: list[tuple[int, int]] | None = None
        # PySpark: a pipeline keying the records (prev's own functions fused
        # into it when it has them), the pairs, the shuffle, its values.
        self._jrdd_deserializer = BatchedSerializer(self.ctx._unbatched_serializer)
        absorbed = prev._pyspark_pipelinable()
        self._pyspark_numbered(*([] if absorbed else [prev]), count=4)
        if absorbed:  # its functions run in PySpark's keying pipeline, the first of the four
            prev._absorbed_id = self._public_id - 3

    def _get_partitions(self) -> list[Partition]:
        return [Partition(i) for i in range(self.num_partitions)]

    def compute(self, split: Partition, context) -> Iterator:
        reader = context._env.shuffle
        if self._sides is None:
            return reader.read(self.shuffle_id, split.index, context)
        statuses = context._map_outputs.get(self.shuffle_id) or []
        sides, sizes = [], []
        for start, end in self._sides:
            sides.append(reader.read(self.shuffle_id, split.index, context, range(start, end)))
            sizes.append(sum(status.block_size(split.index) for status in statuses[start:end]
                             if status is not None))
        return Sides(sides, sizes)

    def _get_dependencies(self):
        return [self._dependency]


class EmptyRDD(RDD):
    def __init__(self, ctx: Any, callsite: str):
        super().__init__(ctx, "emptyRDD", callsite)
        self._jrdd_deserializer = NoOpSerializer()
        self._pyspark_numbered()

    def _get_partitions(self) -> list[Partition]:
        return []

    def compute(self, split: Partition, context) -> Iterator:
        return iter(())


class ZippedRDD(RDD):
    """Partition i of ``first`` paired, element by element, with partition i of
    ``second`` (``zip``); partitions of unequal length are an error."""

    def __init__(self, first: RDD, second: RDD, callsite: str):
        super().__init__(first.ctx, "zip", callsite)
        self.rdds = (first, second)
        self._number_zip()

    def _number_zip(self) -> None:
        """As PySpark: when the two sides' batch sizes differ (or are chosen
        automatically), each is re-batched alike through an identity map,
        which takes its place (and its number); then the zip."""
        def batch_size(serializer: Any) -> int:
            return serializer.batchSize if isinstance(serializer, BatchedSerializer) else 1

        first, second = self.rdds
        sides = [first._jrdd_deserializer, second._jrdd_deserializer]
        mine, theirs = batch_size(sides[0]), batch_size(sides[1])
        if mine != theirs or not mine:
            size = min(mine, theirs)
            wanted = BatchedSerializer(CPickleSerializer(), size if size > 0 else 100)
            sides = [wanted, wanted]
        for rdd, serializer in zip(self.rdds, sides):
            if serializer == rdd._jrdd_deserializer:
                rdd.id()
            else:
                self.ctx._new_public_ids(1)
        self._jrdd_deserializer = PairDeserializer(*sides)
        self._pyspark_numbered()

    def _get_partitions(self) -> list[Partition]:
        first, second = self.rdds
        return [CoPartition(i, list(pair))
                for i, pair in enumerate(zip(first.partitions, second.partitions))]

    def compute(self, split: CoPartition, context) -> Iterator:
        first, second = (rdd.iterator(part, context) for rdd, part in zip(self.rdds, split.parents))
        done = object()
        for left, right in itertools.zip_longest(first, second, fillvalue=done):
            if left is done or right is done:
                raise ValueError("Can only zip RDDs with same number of elements in each "
                                 f"partition (partition {split.index} differs)")
            yield left, right

    def _get_dependencies(self):
        return [OneToOneDependency(rdd) for rdd in self.rdds]


class CartesianRDD(RDD):
    """Every pair (x, y) of ``first`` x ``second``: partition i * n + j pairs
    partition i of ``first`` with partition j of ``second`` (n partitions)."""

    def __init__(self, first: RDD, second: RDD, callsite: str):
        super().__init__(first.ctx, "cartesian", callsite)
        self.rdds = (first, second)
        self._jrdd_deserializer = CartesianDeserializer(first._jrdd_deserializer,
                                                        second._jrdd_deserializer)
        self._pyspark_numbered(first, second)

    def _get_partitions(self) -> list[Partition]:
        first, second = (rdd.partitions for rdd in self.rdds)
        return [CoPartition(i * len(second) + j, [a, b])
                for i, a in enumerate(first) for j, b in enumerate(second)]

    def compute(self, split: CoPartition, context) -> Iterator:
        first, second = self.rdds
        right = list(second.iterator(split.parents[1], context))  # read once, paired many times
        return ((x, y) for x in first.iterator(split.parents[0], context) for y in right)

    def _get_dependencies(self):
        first, second = self.rdds
        n = second.getNumPartitions()
        count = first.getNumPartitions() * n
        return [ManyToOneDependency(first, [[i // n] for i in range(count)]),
                ManyToOneDependency(second, [[i % n] for i in range(count)])]


class ReliableCheckpointRDD(RDD):
    """The part files of a reliable checkpoint: partition i is ``part-i``."""

    def __init__(self, ctx: Any, path: str, count: int, callsite: str):
        super().__init__(ctx, "checkpoint", callsite)
        self.path = path
        self.count = count
        self._prepared = True  # no user code, nothing to check

    def _get_partitions(self) -> list[Partition]:
        return [Partition(i) for i in range(self.count)]

    def compute(self, split: Partition, context) -> Iterator:
        return read_checkpoint_partition(self.path, split.index)


class LocalCheckpointRDD(RDD):
    """The cached blocks of a locally checkpointed RDD: there is no lineage
    behind them, so a lost block is an error, not a recomputation."""

    def __init__(self, ctx: Any, rdd_id: int, count: int, callsite: str):
        super().__init__(ctx, "localCheckpoint", callsite)
        self.rdd_id = rdd_id
        self.count = count
        self._prepared = True

    def _get_partitions(self) -> list[Partition]:
        return [Partition(i) for i in range(self.count)]

    def compute(self, split: Partition, context) -> Iterator:
        return read_local_block(self.rdd_id, split.index, context)


class FileGroupPartition(Partition):
    __slots__ = ("files",)

    def __init__(self, index: int, files: list[str]):
        super().__init__(index)
        self.files = files


class WholeFilesRDD(RDD):
    """One (path, content) record per file, files packed into partitions
    (``wholeTextFiles``: content decoded as UTF-8 text or kept as bytes;
    ``binaryFiles``: bytes)."""

    def __init__(self, ctx: Any, path: str, min_partitions: int, decode: bool, op: str,
                 callsite: str):
        super().__init__(ctx, op, callsite)
        self.path = path
        self.min_partitions = min_partitions
        self.decode = decode
        self._jrdd_deserializer = (
            PairDeserializer(UTF8Deserializer(decode), UTF8Deserializer(decode))
            if op == "wholeTextFiles" else PairDeserializer(UTF8Deserializer(), NoOpSerializer()))
        self._pyspark_numbered(count=2 if op == "wholeTextFiles" else 1)

    def _get_partitions(self) -> list[Partition]:
        return [FileGroupPartition(i, files)
                for i, files in enumerate(binaryfiles.group_files(self.path, self.min_partitions))]

    def compute(self, split: FileGroupPartition, context) -> Iterator:
        return binaryfiles.read_whole_files(split.files, self.decode)


class FileRangePartition(Partition):
    __slots__ = ("path", "start", "length", "extra")

    def __init__(self, index: int, path: str, start: int, length: int, extra: Any):
        super().__init__(index)
        self.path = path
        self.start = start
        self.length = length
        self.extra = extra  # what the kind's reader needs besides the range


class BinaryRecordsRDD(RDD):
    """Fixed-length records (``binaryRecords``): a record belongs to the
    split its first byte falls in."""

    def __init__(self, ctx: Any, path: str, record_length: int, callsite: str):
        super().__init__(ctx, "binaryRecords", callsite)
        self.path = path
        self.record_length = record_length
        self._jrdd_deserializer = NoOpSerializer()
        self._pyspark_numbered(count=2)

    def _get_partitions(self) -> list[Partition]:
        return [FileRangePartition(i, *split, None)
                for i, split in enumerate(binaryfiles.record_splits(self.path, self.record_length))]

    def compute(self, split: FileRangePartition, context) -> Iterator:
        return binaryfiles.read_records(split.path, split.start, split.length, self.record_length)


class PickleFileRDD(RDD):
    """The records of pickle files (``pickleFile``, ``sequenceFile``, Hadoop
    sequence-file readers)."""

    def __init__(self, ctx: Any, path: str, min_partitions: int, op: str, callsite: str):
        super().__init__(ctx, op, callsite)
        self.path = path
        self.min_partitions = min_partitions
        self._pyspark_numbered(count=2 if op == "pickleFile" else 3)

    def _get_partitions(self) -> list[Partition]:
        return [FileRangePartition(i, *split)
                for i, split in enumerate(picklefile.pickle_splits(self.path, self.min_partitions, self._op))]

    def compute(self, split: FileRangePartition, context) -> Iterator:
        return picklefile.read_split(split.path, split.start, split.length, split.extra)


class OffsetLinesRDD(RDD):
    """(byte offset, line) records of text files: Hadoop's TextInputFormat.
    Split like ``textFile``, so the same lines land in the same partitions."""

    def __init__(self, ctx: Any, path: str, min_partitions: int, op: str, callsite: str):
        super().__init__(ctx, op, callsite)
        self.path = path
        self.min_partitions = min_partitions

    def _get_partitions(self) -> list[Partition]:
        splits = compute_splits(list_input_files(self.path), self.min_partitions)
        return [FileRangePartition(i, path, start, length, whole)
                for i, (path, start, length, whole) in enumerate(splits)]

    def compute(self, split: FileRangePartition, context) -> Iterator:
        return read_offset_lines(split.path, split.start, split.length, split.extra)
