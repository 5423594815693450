"""Training data as numpy blocks: how every algorithm reads its input.

Owns the conversion of an RDD of vectors (or of ``LabeledPoint``) into
blocks of rows, one or a few per partition, and the vectorised operations
algorithms run on them. A block is ``Rows`` (a dense float64 matrix, or
compressed sparse rows when the vectors are sparse) plus, for labelled data,
a float64 array of labels. ``BlockedData`` persists the blocks
(``MEMORY_AND_DISK``), so an iterative algorithm reads the user's RDD once
and then only its cached blocks, and materialises them with one job that
also returns what the driver needs to know about the data (rows, feature
count, label range), checked there.

Invariants:

* Rows of a block all have the dataset's feature count: a row of another
  size raises ``InvalidDataError`` naming the partition, the row within it,
  its size and the expected one (the size of the partition's first row;
  partitions that disagree are named after the materialising job).
* A block holds at most ``_block_rows(d)`` rows (about 8 MB of dense
  values), so a large partition becomes several blocks and no block
  needs more memory than that beyond its own.
* Blocks depend only on their partition's data: recomputing a lost block
  (a worker died) gives the same block, so an algorithm's result does not
  depend on which worker computed what.

What it must not know: any algorithm. Algorithms aggregate over the blocks
with ``treeAggregate`` themselves.
"""

from __future__ import annotations

import array
from typing import Any, Callable, Iterator

import numpy as np

from ember.engine.api.storage import StorageLevel
from ember.engine.errors import InvalidDataError
from ember.mllib.linalg import DenseVector, SparseVector, Vector, _convert_to_vector

# A sparse block is kept sparse while at most this share of its entries is active.
_SPARSE_DENSITY = 0.3


def _block_rows(num_features: int) -> int:
    """Rows per block: about a million values, never fewer than 1,024 rows."""
    return max(1024, min(65536, 1_000_000 // max(num_features, 1)))


class Rows:
    """Rows of a block; ``DenseRows`` or ``SparseRows``."""

    n: int
    d: int

    def matvec(self, w: np.ndarray) -> np.ndarray:
        """``X @ w`` for ``w`` of shape (d,) or (d, k)."""
        raise NotImplementedError

    def rmatvec(self, g: np.ndarray) -> np.ndarray:
        """``X.T @ g`` for ``g`` of shape (n,) or (n, k)."""
        raise NotImplementedError

    def sq_norms(self) -> np.ndarray:
        """The squared Euclidean norm of every row."""
        raise NotImplementedError

    def dense(self) -> np.ndarray:
        """The rows as a dense (n, d) array."""
        raise NotImplementedError

    def take(self, rows: np.ndarray) -> "Rows":
        """The rows at the given positions (or where a boolean mask is true)."""
        raise NotImplementedError

    def vector(self, i: int) -> Vector:
        """Row ``i`` as an MLlib vector of the kind it was given as."""
        raise NotImplementedError

    def column_sums(self, power: int = 1) -> np.ndarray:
        """Per column, the sum of the values raised to ``power``."""
        raise NotImplementedError

    def column_nonzeros(self) -> np.ndarray:
        raise NotImplementedError

    def column_max(self) -> np.ndarray:
        raise NotImplementedError

    def column_min(self) -> np.ndarray:
        raise NotImplementedError


class DenseRows(Rows):
    __slots__ = ("X", "n", "d", "_sq")

    def __init__(self, X: np.ndarray):
        self.X = np.ascontiguousarray(X, dtype=np.float64)
        self.n, self.d = self.X.shape
        self._sq = None

    def matvec(self, w):
        return self.X @ w

    def rmatvec(self, g):
        return g @ self.X if g.ndim == 1 else self.X.T @ g

    def sq_norms(self):
        # kept with the (cached) block: k-means and mixtures need them every pass
        if self._sq is None:
            self._sq = np.einsum("ij,ij->i", self.X, self.X)
        return self._sq

    def dense(self):
        return self.X

    def take(self, rows):
        return DenseRows(self.X[rows])

    def vector(self, i):
        return DenseVector(self.X[i].copy())

    def column_sums(self, power=1):
        return (self.X if power == 1 else self.X ** power).sum(axis=0)

    def column_nonzeros(self):
        return np.count_nonzero(self.X, axis=0).astype(np.float64)

    def column_max(self):
        return self.X.max(axis=0) if self.n else np.full(self.d, -np.inf)

    def column_min(self):
        return self.X.min(axis=0) if self.n else np.full(self.d, np.inf)

    def __reduce__(self):
        return DenseRows, (self.X,)


class SparseRows(Rows):
    """Compressed sparse rows: ``indptr`` (n + 1), ``indices`` (int32 column
    of each active value, increasing within a row), ``data`` (the values)."""

    __slots__ = ("indptr", "indices", "data", "n", "d", "_row_ids")

    def __init__(self, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, d: int):
        self.indptr = np.asarray(indptr, dtype=np.int64)
        self.indices = np.asarray(indices, dtype=np.int32)
        self.data = np.asarray(data, dtype=np.float64)
        self.n = len(self.indptr) - 1
        self.d = d
        self._row_ids = None

    @property
    def row_ids(self) -> np.ndarray:
        if self._row_ids is None:
            self._row_ids = np.repeat(np.arange(self.n, dtype=np.int32), np.diff(self.indptr))
        return self._row_ids

    def matvec(self, w):
        if w.ndim == 1:
            return np.bincount(self.row_ids, weights=self.data * w[self.indices],
                               minlength=self.n)
        products = self.data[:, None] * w[self.indices]
        out = np.zeros((self.n, w.shape[1]))
        np.add.at(out, self.row_ids, products)
        return out

    def rmatvec(self, g):
        if g.ndim == 1:
            return np.bincount(self.indices, weights=self.data * g[self.row_ids],
                               minlength=self.d)
        out = np.zeros((self.d, g.shape[1]))
        np.add.at(out, self.indices, self.data[:, None] * g[self.row_ids])
        return out

    def sq_norms(self):
        return np.bincount(self.row_ids, weights=self.data * self.data, minlength=self.n)

    def dense(self):
        out = np.zeros((self.n, self.d))
        out[self.row_ids, self.indices] = self.data
        return out

    def take(self, rows):
        rows = np.arange(self.n)[rows] if np.asarray(rows).dtype == bool else np.asarray(rows)
        starts, ends = self.indptr[rows], self.indptr[rows + 1]
        lengths = ends - starts
        picks = (np.repeat(starts - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
                 + np.arange(lengths.sum()))
        return SparseRows(np.concatenate(([0], np.cumsum(lengths))), self.indices[picks],
                          self.data[picks], self.d)

    def vector(self, i):
        start, end = self.indptr[i], self.indptr[i + 1]
        return SparseVector(self.d, self.indices[start:end].copy(), self.data[start:end].copy())

    def column_sums(self, power=1):
        values = self.data if power == 1 else self.data ** power
        return np.bincount(self.indices, weights=values, minlength=self.d)

    def column_nonzeros(self):
        return np.bincount(self.indices, weights=(self.data != 0).astype(np.float64),
                           minlength=self.d)

    def _column_extreme(self, pick, identity):
        out = np.full(self.d, identity)
        pick.at(out, self.indices, self.data)
        # a column with fewer active values than rows also holds zeros
        active = np.bincount(self.indices, minlength=self.d)
        return np.where(active < self.n, pick(out, 0.0), out) if self.n else out

    def column_max(self):
        return self._column_extreme(np.maximum, -np.inf)

    def column_min(self):
        return self._column_extreme(np.minimum, np.inf)

    def __reduce__(self):
        return SparseRows, (self.indptr, self.indices, self.data, self.d)


class AffineRows(Rows):
    """A view of rows with each column scaled and, optionally, a last column
    of ones: what feature scaling and an intercept train on, without a copy
    of the data (``X' w = X (s * w[:d]) + w[d]``)."""

    __slots__ = ("rows", "scale", "bias", "n", "d")

    def __init__(self, rows: Rows, scale: np.ndarray | None, bias: bool):
        self.rows, self.scale, self.bias = rows, scale, bias
        self.n = rows.n
        self.d = rows.d + (1 if bias else 0)

    def matvec(self, w):
        inner = w[:self.rows.d] if self.bias else w
        if self.scale is not None:
            inner = inner * (self.scale if w.ndim == 1 else self.scale[:, None])
        out = self.rows.matvec(inner)
        return out + w[self.rows.d] if self.bias else out

    def rmatvec(self, g):
        out = self.rows.rmatvec(g)
        if self.scale is not None:
            out = out * (self.scale if out.ndim == 1 else self.scale[:, None])
        if self.bias:
            total = g.sum(axis=0)
            return np.concatenate([out, np.atleast_1d(total)[None, :] if out.ndim > 1
                                   else np.atleast_1d(total)], axis=0)
        return out

    def take(self, rows):
        return AffineRows(self.rows.take(rows), self.scale, self.bias)


class Block:
    """A block of rows, with their labels for labelled data."""

    __slots__ = ("rows", "labels")

    def __init__(self, rows: Rows, labels: np.ndarray | None = None):
        self.rows = rows
        self.labels = labels

    @property
    def n(self) -> int:
        return self.rows.n

    def __reduce__(self):
        return Block, (self.rows, self.labels)


def _where(partition: int, row: int) -> str:
    return f"row {row} of partition {partition}"


def _vector_of(value: Any, partition: int, row: int) -> Vector:
    try:
        return _convert_to_vector(value)
    except (TypeError, ValueError) as error:
        raise InvalidDataError(f"{_where(partition, row)} is not a vector: {error}") from None


def rows_from_vectors(vectors: list, partition: int, first_row: int, d: int | None) -> Rows:
    """One block's ``Rows`` from MLlib vectors (or anything convertible),
    all of size ``d`` (the first row's when None)."""
    if d is None and vectors:
        d = len(vectors[0])
    sparse = [isinstance(v, SparseVector) for v in vectors]
    for offset, vector in enumerate(vectors):
        if len(vector) != d:
            raise InvalidDataError(
                f"{_where(partition, first_row + offset)} has {len(vector)} features, expected "
                f"{d}: every vector must have the same size")
    nnz = sum(len(v.indices) for v, s in zip(vectors, sparse) if s)
    if vectors and all(sparse) and nnz <= _SPARSE_DENSITY * len(vectors) * max(d, 1):
        lengths = [len(v.indices) for v in vectors]
        indptr = np.concatenate(([0], np.cumsum(lengths)))
        indices = np.concatenate([v.indices for v in vectors]) if nnz else np.zeros(0, np.int32)
        data = np.concatenate([v.values for v in vectors]) if nnz else np.zeros(0)
        return SparseRows(indptr, indices, data, d)
    if not vectors:
        return DenseRows(np.zeros((0, d or 0)))
    X = np.empty((len(vectors), d))
    for i, (vector, is_sparse) in enumerate(zip(vectors, sparse)):
        if is_sparse:
            X[i] = 0.0
            X[i, vector.indices] = vector.values
        else:
            X[i] = vector.toArray()
    return DenseRows(X)


def _dense_fast_path(values: list) -> np.ndarray | None:
    """(n, d) at numpy speed when every value is a DenseVector or a 1-d ndarray
    of one size; None when the slow, checking path is needed."""
    arrays = []
    for value in values:
        if isinstance(value, DenseVector):
            arrays.append(value.array)
        elif isinstance(value, np.ndarray) and value.ndim == 1:
            arrays.append(value)
        else:
            return None
    try:
        return np.stack(arrays).astype(np.float64, copy=False)
    except ValueError:  # sizes differ: the slow path names the row
        return None


def _rows_of(values: list, partition: int, first_row: int, d: int | None) -> Rows:
    """Rows from a chunk of vectors (numpy speed when they are all dense)."""
    X = _dense_fast_path(values)
    if X is not None and (d is None or X.shape[1] == d):
        return DenseRows(X)
    vectors = [_vector_of(value, partition, first_row + offset)
               for offset, value in enumerate(values)]
    return rows_from_vectors(vectors, partition, first_row, d)


def _chunks(records: Iterator, size: Callable[[], int]) -> Iterator[tuple[int, list]]:
    """(first row, records) chunks of at most ``size()`` records."""
    row = 0
    chunk: list = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= size():
            yield row, chunk
            row += len(chunk)
            chunk = []
    if chunk:
        yield row, chunk


def make_blocks(labelled: bool) -> Callable:
    """The per-partition function turning records into ``Block`` objects."""

    def to_blocks(partition: int, records: Iterator) -> Iterator[Block]:
        state = {"d": None, "limit": 1024}
        for first_row, chunk in _chunks(records, lambda: state["limit"]):
            block = _block(chunk, partition, first_row, state["d"])
            state["d"] = block.rows.d
            state["limit"] = _block_rows(block.rows.d)
            yield block

    def _block(chunk: list, partition: int, first_row: int, d: int | None) -> Block:
        labels = None
        if labelled:
            labels = np.empty(len(chunk))
            features = []
            for offset, point in enumerate(chunk):
                try:
                    labels[offset] = point.label
                    features.append(point.features)
                except AttributeError:
                    raise InvalidDataError(
                        f"{_where(partition, first_row + offset)} is a "
                        f"{type(point).__name__}, expected a LabeledPoint") from None
        else:
            features = chunk
        return Block(_rows_of(features, partition, first_row, d), labels)

    return to_blocks


def _summarize(partition: int, blocks: Iterator[Block]) -> Iterator[tuple]:
    """What the driver learns when the blocks are made: per partition, its
    rows, its feature count, its label range, integrality and positives, and
    its column sums and sums of squares (for feature scaling, at no extra pass)."""
    n = 0
    d = None
    low, high, fractional, positives = np.inf, -np.inf, None, 0.0
    sums = squares = None
    for block in blocks:
        if block.n == 0:
            continue
        n += block.n
        if d is None:
            d = block.rows.d
            sums, squares = np.zeros(d), np.zeros(d)
        if block.rows.d == d:
            sums += block.rows.column_sums()
            squares += block.rows.column_sums(2)
        if block.labels is not None and len(block.labels):
            labels = block.labels
            low, high = min(low, labels.min()), max(high, labels.max())
            positives += float((labels > 0).sum())
            bad = ~np.isfinite(labels) | (labels != np.floor(labels))
            if fractional is None and bad.any():
                fractional = float(labels[np.argmax(bad)])
    yield partition, n, d, low, high, fractional, positives, sums, squares


class BlockedData:
    """An RDD's data as persisted numpy blocks, materialised by one job.

    ``n`` rows, ``d`` features, ``blocks`` (an RDD of ``Block``), and for
    labelled data ``label_range`` and the partition of the first fractional
    label (``fractional``)."""

    def __init__(self, source: Any, labelled: bool, what: str):
        self.context = source.context
        self.blocks = source.mapPartitionsWithIndex(make_blocks(labelled))
        self.blocks.persist(StorageLevel.MEMORY_AND_DISK)
        self.labelled = labelled
        summaries = self.blocks.mapPartitionsWithIndex(_summarize).collect()
        self.n = sum(summary[1] for summary in summaries)
        sizes = {summary[2] for summary in summaries if summary[2] is not None}
        if len(sizes) > 1:
            by_size = {}
            for partition, _, d, *_ in summaries:
                if d is not None:
                    by_size.setdefault(d, []).append(partition)
            described = "; ".join(f"{d} features in partitions {parts}"
                                  for d, parts in sorted(by_size.items()))
            self.unpersist()
            raise InvalidDataError(f"the {what} do not all have the same size: {described}")
        self.d = sizes.pop() if sizes else 0
        self.partition_sizes = [summary[1] for summary in summaries]
        self.column_sums = sum((s[7] for s in summaries if s[7] is not None), np.zeros(self.d))
        self.column_squares = sum((s[8] for s in summaries if s[8] is not None),
                                  np.zeros(self.d))
        if labelled:
            self.positives = sum(summary[6] for summary in summaries)
            self.label_low = min(summary[3] for summary in summaries)
            self.label_high = max(summary[4] for summary in summaries)
            self.fractional = next(((summary[0], summary[5]) for summary in summaries
                                    if summary[5] is not None), None)

    def require_rows(self, what: str) -> None:
        if self.n == 0:
            self.unpersist()
            raise InvalidDataError(f"{what} needs at least one row of data; the RDD is empty")

    def check_classes(self, num_classes: int, what: str) -> None:
        """Labels must be the integers 0 .. num_classes - 1."""
        if self.fractional is not None:
            partition, label = self.fractional
            self.unpersist()
            raise InvalidDataError(
                f"{what}: label {label} in partition {partition} is not a class index; labels "
                f"must be the integers 0 .. {num_classes - 1}")
        if self.n and (self.label_low < 0 or self.label_high > num_classes - 1):
            bad = self.label_low if self.label_low < 0 else self.label_high
            self.unpersist()
            raise InvalidDataError(
                f"{what}: label {bad} is outside the classes 0 .. {num_classes - 1} "
                f"(numClasses={num_classes})")

    def derive(self, transform: Callable[[Block], Block], d: int) -> "BlockedData":
        """The same rows seen through a cheap per-block view (scaled, with a
        bias column): not persisted, the view is made again each pass over the
        cached blocks."""
        derived = object.__new__(BlockedData)
        derived.__dict__.update(self.__dict__)
        derived.blocks = self.blocks.map(transform)
        derived.d = d
        derived.parent = self
        return derived

    def aggregate(self, zero: Any, seq: Callable, comb: Callable, depth: int = 2) -> Any:
        """``treeAggregate`` over the blocks (``seq(total, block)``)."""
        return self.blocks.treeAggregate(zero, seq, comb, depth)

    def aggregate_partitions(self, fn: Callable[[int, Iterator[Block]], Any],
                             comb: Callable, depth: int = 2) -> Any:
        """``fn(partition, blocks)`` per partition (None for nothing), the
        results combined with ``comb`` in a tree; None when no partition
        had anything. For passes that need the partition's index (seeded
        sampling, errors naming the partition)."""

        def per_partition(partition, blocks):
            result = fn(partition, blocks)
            return [] if result is None else [result]

        def merge(left, right):
            if left is None:
                return right
            if right is None:
                return left
            return comb(left, right)

        return self.blocks.mapPartitionsWithIndex(per_partition).treeAggregate(
            None, merge, merge, depth)

    def unpersist(self) -> None:
        """Drop the cached blocks (those this view was derived from)."""
        parent = self.__dict__.get("parent")
        if parent is not None:
            parent.unpersist()
        else:
            self.blocks.unpersist()


def vector_data(rdd: Any, what: str = "vectors") -> BlockedData:
    """The vectors of ``rdd`` (vectors or anything convertible) as blocks."""
    return BlockedData(rdd, labelled=False, what=what)


def labeled_data(rdd: Any, what: str = "feature vectors") -> BlockedData:
    """The ``LabeledPoint`` records of ``rdd`` as labelled blocks."""
    return BlockedData(rdd, labelled=True, what=what)


def map_rows(rdd: Any, fn: Callable[[Rows], Any], d: int | None = None) -> Any:
    """``fn`` applied to the vectors of ``rdd`` a block at a time (for
    predictions over an RDD): ``fn`` returns one value per row, which are
    yielded in order. With ``d``, a vector of another size raises
    ``InvalidDataError`` naming its partition and row."""

    def apply(partition: int, records: Iterator) -> Iterator:
        for first_row, chunk in _chunks(records, lambda: 4096):
            yield from fn(_rows_of(chunk, partition, first_row, d))

    return rdd.mapPartitionsWithIndex(apply)


def is_rdd(value: Any) -> bool:
    """Whether ``value`` is an RDD (duck-typed: ember's or anything like it)."""
    return hasattr(value, "mapPartitions") and hasattr(value, "collect")


def as_array(value: Any) -> np.ndarray:
    """A vector-like value as a float64 numpy array (dense)."""
    if isinstance(value, Vector):
        return value.toArray()
    if isinstance(value, array.array):
        return np.frombuffer(value, dtype=np.float64) if value.typecode == "d" else np.array(value, dtype=np.float64)
    return np.asarray(value, dtype=np.float64)
