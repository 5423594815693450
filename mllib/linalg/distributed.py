"""Distributed matrices: row, indexed-row, coordinate and block matrices.

Owns ``RowMatrix``, ``IndexedRowMatrix``, ``CoordinateMatrix``,
``BlockMatrix`` and their rows, entries and factorisations. Each wraps an
RDD; conversions between them are RDD transformations.

How the numerical methods work (MLlib's choices):

* Gramian, covariance and column statistics: one ``treeAggregate`` over
  numpy blocks of the rows (``ember.mllib._blocks``); the covariance
  centres each block on the column means of the first pass.
* ``computeSVD`` eigen-decomposes the Gramian ``A^T A`` on the driver with
  LAPACK's SVD (Spark's "local" mode, which it uses whenever the matrix has
  few columns); singular values below ``rCond`` times the largest are
  dropped; ``U = A V diag(1/s)`` is computed by the workers.
* ``computePrincipalComponents``: the leading singular vectors of the
  covariance matrix.
* ``tallSkinnyQR``: a QR per partition, then a QR of the stacked R factors
  (Constantine and Gleich); ``Q = A R^-1``.
* ``columnSimilarities``: exact cosine similarities from the Gramian of the
  column-normalised rows with threshold 0; with a positive threshold,
  Spark's DIMSUM sampling (each product kept with probability
  ``min(1, gamma / (|c_i| |c_j|))``, ``gamma = 10 log(n) / threshold``).
* Block matrices add, subtract and multiply block by block (``cogroup``,
  ``join`` then ``reduceByKey``), so no block leaves the workers until
  ``toLocalMatrix``.

These methods keep the matrices of the columns (``n x n``) on the driver, so
like Spark's they are meant for at most 65,535 columns.

Matrices returned by these methods print ``isTransposed`` as ``0``, as the
ones PySpark gets back from its JVM do.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterator

import numpy as np

from ember.engine.api.storage import StorageLevel
from ember.engine.errors import InvalidDataError
from ember.mllib._blocks import BlockedData, is_rdd, map_rows, vector_data
from ember.mllib.linalg import (DenseMatrix, DenseVector, Matrices, Matrix,  # noqa: F401 - examples
                                QRDecomposition, SparseMatrix, SparseVector, Vector,
                                _convert_to_vector)

__all__ = [
    "BlockMatrix",
    "CoordinateMatrix",
    "DistributedMatrix",
    "IndexedRow",
    "IndexedRowMatrix",
    "MatrixEntry",
    "RowMatrix",
    "SingularValueDecomposition",
]



def _local(array: np.ndarray) -> DenseMatrix:
    """A computed matrix, printed as PySpark prints those from its JVM."""
    array = np.asarray(array, dtype=np.float64)
    return DenseMatrix(array.shape[0], array.shape[1], np.ravel(array, order="F"), 0)


def _add(left, right):
    if left is None or right is None:
        return right if left is None else left
    return left + right


def _gramian(data: BlockedData, center: np.ndarray | None = None) -> np.ndarray:
    def seq(total, block):
        X = block.rows.dense()
        if center is not None:
            X = X - center
        return _add(total, X.T @ X)

    result = data.aggregate(None, seq, _add)
    return np.zeros((data.d, data.d)) if result is None else result


class DistributedMatrix:
    """A matrix stored in one or more RDDs."""

    def _take(self, data: Any, convert: Callable[[Any], Any], expected: str, numRows: int,
              numCols: int) -> Any:
        """``data``, an RDD, with ``convert`` applied to each element (a
        TypeError saying ``expected`` for anything else); keeps the given
        sizes (<= 0: computed when asked)."""
        if not is_rdd(data):
            raise TypeError(f"{expected}, got {type(data)}")
        self._num_rows = int(numRows)
        self._num_cols = int(numCols)
        return data.map(convert)

    def numRows(self) -> int:
        """The number of rows (computed if not given)."""
        raise NotImplementedError

    def numCols(self) -> int:
        """The number of columns (computed if not given)."""
        raise NotImplementedError


class _SizedByScan(DistributedMatrix):
    """A matrix whose sizes, when not given, come from one pass over its
    data (``_size`` sets both)."""

    def _size(self) -> None:
        raise NotImplementedError

    def numRows(self) -> int:
        """The number of rows (from the data when not given)."""
        if self._num_rows <= 0:
            self._size()
        return self._num_rows

    def numCols(self) -> int:
        """The number of columns (from the data when not given)."""
        if self._num_cols <= 0:
            self._size()
        return self._num_cols


def _first_size(vectors: Any) -> int:
    """The size of the first vector of an RDD."""
    first = vectors.take(1)
    if not first:
        raise ValueError("Cannot determine the number of cols because it is not "
                         "specified in the constructor and the rows RDD is empty.")
    return len(first[0])


class SingularValueDecomposition:
    """The factors of a singular value decomposition ``A = U diag(s) V^T``."""

    def __init__(self, U: Any, s: DenseVector, V: DenseMatrix):
        self._U, self._s, self._V = U, s, V

    @property
    def U(self) -> Any:
        """The left singular vectors (a distributed matrix), or None when
        ``computeU`` was false."""
        return self._U

    @property
    def s(self) -> DenseVector:
        """The singular values, in descending order."""
        return self._s

    @property
    def V(self) -> DenseMatrix:
        """The right singular vectors, one per column."""
        return self._V


def _svd_of_gramian(gramian: np.ndarray, k: int, r_cond: float) -> tuple[np.ndarray, np.ndarray]:
    u, sigma_squares, _ = np.linalg.svd(gramian)
    sigmas = np.sqrt(np.maximum(sigma_squares, 0.0))
    if len(sigmas) == 0 or sigmas[0] == 0:
        raise InvalidDataError("computeSVD: the matrix is zero, it has no singular values")
    keep = min(k, int((sigmas > r_cond * sigmas[0]).sum()))
    return sigmas[:keep], u[:, :keep]


def _check_k(k: Any, n: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 < k <= n:
        raise ValueError(f"Requested k singular values but got k={k} and numCols={n}; k must "
                         f"be in 1 .. numCols")
    return int(k)


class RowMatrix(DistributedMatrix):
    """A distributed matrix whose rows (vectors, or anything convertible) have
    no meaningful index. ``numRows`` and ``numCols`` <= 0 mean "count them".

    >>> mat = RowMatrix(sc.parallelize([[1, 2, 3], [4, 5, 6]]))
    >>> mat.numRows(), mat.numCols(), mat.rows.first()
    (2, 3, DenseVector([1.0, 2.0, 3.0]))
    >>> RowMatrix(sc.parallelize([[1, 2, 3]]), 7, 6).numRows()
    7
    >>> mat.computeGramianMatrix()
    DenseMatrix(3, 3, [17.0, 22.0, 27.0, 22.0, 29.0, 36.0, 27.0, 36.0, 45.0], 0)
    >>> RowMatrix(sc.parallelize([[1, 2], [2, 1]])).computeCovariance()
    DenseMatrix(2, 2, [0.5, -0.5, -0.5, 0.5], 0)
    >>> mat.computeColumnSummaryStatistics().mean().tolist()
    [2.5, 3.5, 4.5]
    """

    def __init__(self, rows: Any, numRows: int = 0, numCols: int = 0):
        self._rows = self._take(rows, _convert_to_vector, "rows should be an RDD of vectors",
                                numRows, numCols)

    @property
    def rows(self) -> Any:
        """The rows, an RDD of vectors."""
        return self._rows

    def numRows(self) -> int:
        """The number of rows (counted when not given)."""
        if self._num_rows <= 0:
            self._num_rows = self._rows.count()
        return self._num_rows

    def numCols(self) -> int:
        """The number of columns (the size of the first row when not given)."""
        if self._num_cols <= 0:
            self._num_cols = _first_size(self._rows)
        return self._num_cols

    def _blocks(self) -> BlockedData:
        return vector_data(self._rows, "rows")

    def computeColumnSummaryStatistics(self) -> Any:
        """Column-wise statistics of the rows (``MultivariateStatisticalSummary``)."""
        from ember.mllib.stat._statistics import summarize

        data = self._blocks()
        try:
            return summarize(data)
        finally:
            data.unpersist()

    def computeCovariance(self) -> DenseMatrix:
        """The covariance matrix of the columns, each row an observation."""
        from ember.mllib.stat._statistics import summarize

        data = self._blocks()
        try:
            summary = summarize(data)
            n = summary.count()
            if n < 2:
                raise InvalidDataError(f"computeCovariance needs at least 2 rows, got {n}")
            return _local(_gramian(data, summary.mean()) / (n - 1))
        finally:
            data.unpersist()

    def computeGramianMatrix(self) -> DenseMatrix:
        """The Gramian matrix ``A^T A``."""
        data = self._blocks()
        try:
            return _local(_gramian(data))
        finally:
            data.unpersist()

    def columnSimilarities(self, threshold: float = 0.0) -> "CoordinateMatrix":
        """The cosine similarities of every pair of columns ``i < j``, as an
        upper triangular ``CoordinateMatrix``: exact with threshold 0,
        estimated by DIMSUM sampling (cheaper, accurate for similarities above
        the threshold) with a positive one.

        >>> sims = RowMatrix(sc.parallelize([[1, 2], [1, 5]])).columnSimilarities()
        >>> round(sims.entries.first().value, 8)
        0.91914503
        """
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"Threshold not in [0,1]: {threshold}")
        from ember.mllib.stat._statistics import summarize

        data = self._blocks()
        try:
            norms = summarize(data).normL2()
            if threshold == 0.0:
                return self._exact_similarities(data, norms)
            return self._sampled_similarities(norms, threshold)
        finally:
            data.unpersist()

    def _exact_similarities(self, data: BlockedData, norms: np.ndarray) -> "CoordinateMatrix":
        scale = np.where(norms > 0, 1.0 / np.where(norms > 0, norms, 1.0), 0.0)
        gram = _gramian(data) * np.outer(scale, scale)
        rows, cols = np.triu_indices(len(norms), k=1)
        values = gram[rows, cols]
        keep = values != 0
        entries = [MatrixEntry(int(i), int(j), float(v))
                   for i, j, v in zip(rows[keep], cols[keep], values[keep])]
        n = len(norms)
        return CoordinateMatrix(self._rows.context.parallelize(
            entries, max(1, self._rows.getNumPartitions())), n, n)

    def _sampled_similarities(self, norms: np.ndarray, threshold: float) -> "CoordinateMatrix":
        n = len(norms)
        gamma = 10 * math.log(max(n, 2)) / threshold
        root = math.sqrt(gamma)
        magnitudes = np.where(norms == 0, 1.0, norms)
        probabilities = np.minimum(1.0, root / magnitudes)
        divisors = np.minimum(root, magnitudes)
        broadcast = self._rows.context.broadcast((probabilities, divisors))

        def sample(partition: int, rows: Iterator) -> Iterator:
            p, q = broadcast.value
            rng = np.random.default_rng([42, partition])
            for row in rows:
                if isinstance(row, SparseVector):
                    indices, values = row.indices, row.values
                else:
                    dense = row.toArray()
                    indices = np.nonzero(dense)[0]
                    values = dense[indices]
                for a in range(len(indices)):
                    i = indices[a]
                    if rng.random() >= p[i]:
                        continue
                    for b in range(a + 1, len(indices)):
                        j = indices[b]
                        if rng.random() < p[j]:
                            yield (int(i), int(j)), values[a] * values[b] / (q[i] * q[j])

        entries = self._rows.mapPartitionsWithIndex(sample).reduceByKey(lambda a, b: a + b) \
            .map(lambda item: MatrixEntry(item[0][0], item[0][1], item[1]))
        return CoordinateMatrix(entries, n, n)

    def tallSkinnyQR(self, computeQ: bool = False) -> QRDecomposition:
        """The QR decomposition of a tall, thin matrix: ``R`` (upper
        triangular) and, with ``computeQ``, ``Q`` as a RowMatrix.

        >>> decomp = RowMatrix(sc.parallelize([[3, -6], [4, -8], [0, 1]])).tallSkinnyQR(True)
        >>> decomp.Q.rows.map(lambda row: np.abs(row.toArray()).round(4).tolist()).collect()
        [[0.6, 0.0], [0.8, 0.0], [0.0, 1.0]]
        >>> np.abs(decomp.R.toArray()).tolist()
        [[5.0, 10.0], [0.0, 1.0]]
        """
        n = self.numCols()

        def local_r(rows: Iterator) -> Iterator:
            vectors = [vector.toArray() for vector in rows]
            if vectors:
                yield np.linalg.qr(np.vstack(vectors), mode="r")

        def combine(left: np.ndarray, right: np.ndarray) -> np.ndarray:
            return np.linalg.qr(np.vstack([left, right]), mode="r")

        R = self._rows.mapPartitions(local_r).treeReduce(combine)
        if R.shape[0] < n:
            R = np.vstack([R, np.zeros((n - R.shape[0], n))])
        R = R[:n]
        Q = None
        if computeQ:
            upper = np.triu(R)
            # R is triangular: invert it exactly unless it is singular (rank-deficient A)
            inverse = np.linalg.inv(upper) if np.all(np.diag(upper) != 0) else np.linalg.pinv(upper)
            Q = self.multiply(_local(inverse))
        return QRDecomposition(Q, _local(np.triu(R)))

    def computeSVD(self, k: int, computeU: bool = False,
                   rCond: float = 1e-9) -> SingularValueDecomposition:
        """The ``k`` leading singular values and vectors: ``s`` (descending),
        ``V`` (n x k) and, with ``computeU``, ``U = A V diag(1/s)``. Fewer than
        ``k`` when some singular values are below ``rCond`` times the largest.

        >>> svd = RowMatrix(sc.parallelize([[3, 1, 1], [-1, 3, 1]])).computeSVD(2, True)
        >>> svd.s
        DenseVector([3.4641, 3.1623])
        >>> svd.U.rows.map(lambda row: [round(abs(float(v)), 4) for v in row]).collect()
        [[0.7071, 0.7071], [0.7071, 0.7071]]
        """
        n = self.numCols()
        k = _check_k(k, n)
        data = self._blocks()
        try:
            sigmas, V = _svd_of_gramian(_gramian(data), k, rCond)
        finally:
            data.unpersist()
        U = self.multiply(_local(V / sigmas)) if computeU else None
        return SingularValueDecomposition(U, DenseVector(sigmas), _local(V))

    def computePrincipalComponents(self, k: int) -> DenseMatrix:
        """The ``k`` principal components (columns, by decreasing variance).

        >>> rm = RowMatrix(sc.parallelize([[1, 2, 3], [2, 4, 5], [3, 6, 1]]))
        >>> np.abs(rm.computePrincipalComponents(2).toArray()).round(4).tolist()
        [[0.349, 0.2796], [0.6981, 0.5592], [0.6252, 0.7805]]
        """
        return self.computePrincipalComponentsAndExplainedVariance(k)[0]

    def computePrincipalComponentsAndExplainedVariance(self, k: int) -> tuple[DenseMatrix,
                                                                               DenseVector]:
        """The ``k`` principal components and the share of the variance each
        explains."""
        n = self.numCols()
        k = _check_k(k, n)
        covariance = self.computeCovariance().toArray()
        u, s, _ = np.linalg.svd(covariance)
        total = s.sum()
        explained = s[:k] / total if total > 0 else np.zeros(k)
        return _local(u[:, :k]), DenseVector(explained)

    def multiply(self, matrix: Matrix) -> "RowMatrix":
        """This matrix times a local dense matrix (on the right).

        >>> rm = RowMatrix(sc.parallelize([[0, 1], [2, 3]]))
        >>> rm.multiply(DenseMatrix(2, 2, [0, 2, 1, 3])).rows.collect()
        [DenseVector([2.0, 3.0]), DenseVector([6.0, 11.0])]
        """
        if not isinstance(matrix, DenseMatrix):
            raise TypeError("Only multiplication with DenseMatrix is supported.")
        B = matrix.toArray()
        n = self._num_cols if self._num_cols > 0 else None
        if n is not None and n != B.shape[0]:
            raise ValueError(f"Dimension mismatch: this matrix has {n} columns, the matrix "
                             f"has {B.shape[0]} rows")
        products = map_rows(self._rows, lambda rows: (DenseVector(row) for row in
                                                      rows.matvec(B)), B.shape[0])
        return RowMatrix(products, self._num_rows, B.shape[1])


class IndexedRow:
    """A row of an ``IndexedRowMatrix``: its index and its vector.

    >>> IndexedRow(3, [1, 2])
    IndexedRow(3, [1.0,2.0])
    """

    def __init__(self, index: int, vector: Any):
        self.index = int(index)
        self.vector = _convert_to_vector(vector)

    def __reduce__(self):
        return IndexedRow, (self.index, self.vector)

    def __repr__(self) -> str:
        return f"IndexedRow({self.index}, {self.vector})"


def _convert_to_indexed_row(row: Any) -> IndexedRow:
    if isinstance(row, IndexedRow):
        return row
    if isinstance(row, tuple) and len(row) == 2:
        return IndexedRow(*row)
    raise TypeError(f"Cannot convert type {type(row)} into IndexedRow")


def _entries_of(index: int, vector: Vector) -> Iterator["MatrixEntry"]:
    if isinstance(vector, SparseVector):
        pairs = zip(vector.indices, vector.values)
    else:
        pairs = enumerate(vector.toArray())
    for column, value in pairs:
        yield MatrixEntry(index, int(column), float(value))


class IndexedRowMatrix(DistributedMatrix):
    """A distributed matrix of indexed rows (``IndexedRow`` or ``(index,
    vector)`` pairs). Without ``numRows``, the rows are the largest index
    plus one.

    >>> mat = IndexedRowMatrix(sc.parallelize([IndexedRow(0, [1, 2, 3]), (6, [4, 5, 6])]))
    >>> mat.numRows(), mat.numCols(), mat.rows.first()
    (7, 3, IndexedRow(0, [1.0,2.0,3.0]))
    >>> mat.toRowMatrix().rows.collect()
    [DenseVector([1.0, 2.0, 3.0]), DenseVector([4.0, 5.0, 6.0])]
    >>> IndexedRowMatrix(sc.parallelize([(0, [1, 0]), (6, [0, 5])])).toCoordinateMatrix() \\
    ...     .entries.take(3)
    [MatrixEntry(0, 0, 1.0), MatrixEntry(0, 1, 0.0), MatrixEntry(6, 0, 0.0)]
    """

    def __init__(self, rows: Any, numRows: int = 0, numCols: int = 0):
        self._rows = self._take(rows, _convert_to_indexed_row,
                                "rows should be an RDD of IndexedRows or (int, vector) tuples",
                                numRows, numCols)

    @property
    def rows(self) -> Any:
        """The rows, an RDD of ``IndexedRow``."""
        return self._rows

    def numRows(self) -> int:
        """The number of rows: the largest index plus one when not given."""
        if self._num_rows <= 0:
            self._num_rows = self._rows.map(lambda row: row.index).fold(-1, max) + 1
        return self._num_rows

    def numCols(self) -> int:
        """The number of columns: the first row's size when not given."""
        if self._num_cols <= 0:
            self._num_cols = _first_size(self._rows.map(lambda row: row.vector))
        return self._num_cols

    def columnSimilarities(self) -> "CoordinateMatrix":
        """The cosine similarities of every pair of columns (exact).

        >>> IndexedRowMatrix(sc.parallelize([(0, [1, 2, 3]), (6, [4, 5, 6])])) \\
        ...     .columnSimilarities().numCols()
        3
        """
        return self.toRowMatrix().columnSimilarities()

    def computeGramianMatrix(self) -> DenseMatrix:
        """The Gramian matrix ``A^T A``."""
        return self.toRowMatrix().computeGramianMatrix()

    def toRowMatrix(self) -> RowMatrix:
        """The rows without their indices."""
        return RowMatrix(self._rows.map(lambda row: row.vector), 0, self._num_cols)

    def toCoordinateMatrix(self) -> "CoordinateMatrix":
        """Every value (zeros of dense rows included) as a ``MatrixEntry``."""
        entries = self._rows.flatMap(lambda row: _entries_of(row.index, row.vector))
        return CoordinateMatrix(entries, self._num_rows, self._num_cols)

    def toBlockMatrix(self, rowsPerBlock: int = 1024, colsPerBlock: int = 1024) -> "BlockMatrix":
        """The matrix cut into blocks of at most ``rowsPerBlock`` x ``colsPerBlock``.

        >>> mat = IndexedRowMatrix(sc.parallelize([(0, [1, 2, 3]), (6, [4, 5, 6])])).toBlockMatrix()
        >>> mat.numRows(), mat.numCols()
        (7, 3)
        """
        return self.toCoordinateMatrix().toBlockMatrix(rowsPerBlock, colsPerBlock)

    def computeSVD(self, k: int, computeU: bool = False,
                   rCond: float = 1e-9) -> SingularValueDecomposition:
        """As ``RowMatrix.computeSVD``, ``U`` keeping the row indices.

        >>> irm = IndexedRowMatrix(sc.parallelize([(0, (3, 1, 1)), (1, (-1, 3, 1))]))
        >>> irm.computeSVD(2, True).s
        DenseVector([3.4641, 3.1623])
        """
        svd = self.toRowMatrix().computeSVD(k, False, rCond)
        U = None
        if computeU:
            U = self.multiply(_local(svd.V.toArray() / svd.s.toArray()))
        return SingularValueDecomposition(U, svd.s, svd.V)

    def multiply(self, matrix: Matrix) -> "IndexedRowMatrix":
        """This matrix times a local dense matrix (on the right).

        >>> mat = IndexedRowMatrix(sc.parallelize([(0, (0, 1)), (1, (2, 3))]))
        >>> mat.multiply(DenseMatrix(2, 2, [0, 2, 1, 3])).rows.collect()
        [IndexedRow(0, [2.0,3.0]), IndexedRow(1, [6.0,11.0])]
        """
        if not isinstance(matrix, DenseMatrix):
            raise TypeError("Only multiplication with DenseMatrix is supported.")
        B = matrix.toArray()
        rows = self._rows.map(lambda row: IndexedRow(row.index, row.vector.dot(B)))
        return IndexedRowMatrix(rows, self._num_rows, B.shape[1])


class MatrixEntry:
    """An entry of a ``CoordinateMatrix``: row ``i``, column ``j``, ``value``.

    >>> MatrixEntry(6, 4, 2)
    MatrixEntry(6, 4, 2.0)
    """

    def __init__(self, i: int, j: int, value: float):
        self.i = int(i)
        self.j = int(j)
        self.value = float(value)

    def __reduce__(self):
        return MatrixEntry, (self.i, self.j, self.value)

    def __repr__(self) -> str:
        return f"MatrixEntry({self.i}, {self.j}, {self.value})"


def _convert_to_matrix_entry(entry: Any) -> MatrixEntry:
    if isinstance(entry, MatrixEntry):
        return entry
    if isinstance(entry, tuple) and len(entry) == 3:
        return MatrixEntry(*entry)
    raise TypeError(f"Cannot convert type {type(entry)} into MatrixEntry")


class CoordinateMatrix(_SizedByScan):
    """A distributed matrix of ``(i, j, value)`` entries. Without ``numRows``
    (``numCols``), the largest row (column) index plus one.

    >>> entries = sc.parallelize([MatrixEntry(0, 0, 1.2), MatrixEntry(1, 0, 2),
    ...                           MatrixEntry(2, 1, 3.7)])
    >>> mat = CoordinateMatrix(entries)
    >>> mat.numRows(), mat.numCols(), mat.entries.first()
    (3, 2, MatrixEntry(0, 0, 1.2))
    >>> mat.transpose().numRows(), CoordinateMatrix(entries, 7, 6).numCols()
    (2, 6)
    >>> sparse = CoordinateMatrix(sc.parallelize([(0, 0, 1.2), (6, 4, 2.1)]))
    >>> sparse.toRowMatrix().numRows(), sparse.toIndexedRowMatrix().numRows()
    (2, 7)
    """

    def __init__(self, entries: Any, numRows: int = 0, numCols: int = 0):
        self._entries = self._take(entries, _convert_to_matrix_entry,
                                   "entries should be an RDD of MatrixEntry entries or "
                                   "(int, int, float) tuples", numRows, numCols)

    @property
    def entries(self) -> Any:
        """The entries, an RDD of ``MatrixEntry``."""
        return self._entries

    def _size(self) -> None:
        top = self._entries.map(lambda e: (e.i, e.j)).fold(
            (-1, -1), lambda a, b: (max(a[0], b[0]), max(a[1], b[1])))
        if self._num_rows <= 0:
            self._num_rows = top[0] + 1
        if self._num_cols <= 0:
            self._num_cols = top[1] + 1

    def transpose(self) -> "CoordinateMatrix":
        """The transposed matrix."""
        return CoordinateMatrix(self._entries.map(lambda e: MatrixEntry(e.j, e.i, e.value)),
                                self._num_cols, self._num_rows)

    def _rows_by_index(self) -> Any:
        n = self.numCols()
        return self._entries.map(lambda e: (e.i, (e.j, e.value))).groupByKey() \
            .mapValues(lambda cells: SparseVector(n, sorted(_sum_duplicates(cells))))

    def toRowMatrix(self) -> RowMatrix:
        """The rows that have entries, as sparse vectors (indices dropped)."""
        return RowMatrix(self._rows_by_index().values(), 0, self.numCols())

    def toIndexedRowMatrix(self) -> IndexedRowMatrix:
        """The rows that have entries, as indexed sparse vectors."""
        rows = self._rows_by_index().map(lambda pair: IndexedRow(pair[0], pair[1]))
        return IndexedRowMatrix(rows, self.numRows(), self.numCols())

    def toBlockMatrix(self, rowsPerBlock: int = 1024, colsPerBlock: int = 1024) -> "BlockMatrix":
        """The matrix cut into sparse blocks of at most ``rowsPerBlock`` x
        ``colsPerBlock``.

        >>> mat = CoordinateMatrix(sc.parallelize([(0, 0, 1.2), (6, 4, 2.1)])).toBlockMatrix()
        >>> mat.numRows(), mat.numCols()
        (7, 5)
        """
        if rowsPerBlock <= 0 or colsPerBlock <= 0:
            raise ValueError(f"rowsPerBlock and colsPerBlock must be positive, got "
                             f"{rowsPerBlock} and {colsPerBlock}")
        m, n = self.numRows(), self.numCols()

        def block_of(entry: MatrixEntry):
            key = (entry.i // rowsPerBlock, entry.j // colsPerBlock)
            return key, (entry.i % rowsPerBlock, entry.j % colsPerBlock, entry.value)

        def to_matrix(item):
            (bi, bj), cells = item
            rows = min(rowsPerBlock, m - bi * rowsPerBlock)
            cols = min(colsPerBlock, n - bj * colsPerBlock)
            dense = np.zeros((rows, cols))
            for i, j, value in cells:
                dense[i, j] += value
            return (bi, bj), DenseMatrix(rows, cols, np.ravel(dense, order="F")).toSparse()

        blocks = self._entries.map(block_of).groupByKey().map(to_matrix)
        return BlockMatrix(blocks, rowsPerBlock, colsPerBlock, m, n)


def _sum_duplicates(cells) -> list[tuple[int, float]]:
    totals: dict = {}
    for column, value in cells:
        totals[column] = totals.get(column, 0.0) + value
    return list(totals.items())


def _convert_to_matrix_block_tuple(block: Any) -> tuple[tuple[int, int], Matrix]:
    if (isinstance(block, tuple) and len(block) == 2 and isinstance(block[0], tuple)
            and len(block[0]) == 2 and isinstance(block[1], Matrix)):
        return (int(block[0][0]), int(block[0][1])), block[1]
    raise TypeError(f"Cannot convert type {type(block)} into a sub-matrix block tuple")


def _transpose(matrix: Matrix) -> Matrix:
    if isinstance(matrix, SparseMatrix):
        return SparseMatrix(matrix.numCols, matrix.numRows, matrix.colPtrs, matrix.rowIndices,
                            matrix.values, not matrix.isTransposed)
    return DenseMatrix(matrix.numCols, matrix.numRows, matrix.values, not matrix.isTransposed)


def _combine(left: Matrix | None, right: Matrix | None, sign: float) -> Matrix:
    if right is None:
        return left
    if left is None:
        result = sign * right.toArray()
        sparse = isinstance(right, SparseMatrix)
    else:
        if (left.numRows, left.numCols) != (right.numRows, right.numCols):
            raise InvalidDataError(f"blocks of different sizes at one index: "
                                   f"{left.numRows} x {left.numCols} and "
                                   f"{right.numRows} x {right.numCols}")
        result = left.toArray() + sign * right.toArray()
        sparse = isinstance(left, SparseMatrix) or isinstance(right, SparseMatrix)
    dense = DenseMatrix(result.shape[0], result.shape[1], np.ravel(result, order="F"))
    return dense.toSparse() if sparse else dense


class BlockMatrix(_SizedByScan):
    """A distributed matrix of local matrices: ``((blockRow, blockCol),
    matrix)`` pairs, every block ``rowsPerBlock`` x ``colsPerBlock`` except
    on the bottom and right edges.

    >>> blocks = sc.parallelize([((0, 0), Matrices.dense(3, 2, [1, 2, 3, 4, 5, 6])),
    ...                          ((1, 0), Matrices.dense(3, 2, [7, 8, 9, 10, 11, 12]))])
    >>> mat = BlockMatrix(blocks, 3, 2)
    >>> mat.numRows(), mat.numCols(), mat.numRowBlocks, mat.numColBlocks
    (6, 2, 2, 1)
    >>> mat.blocks.first()
    ((0, 0), DenseMatrix(3, 2, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 0))
    >>> mat.transpose().toLocalMatrix()
    DenseMatrix(2, 6, [1.0, 4.0, 2.0, 5.0, 3.0, 6.0, 7.0, 10.0, 8.0, 11.0, 9.0, 12.0], 0)
    >>> mat.add(mat).toLocalMatrix().toArray()[:, 0].tolist()
    [2.0, 4.0, 6.0, 14.0, 16.0, 18.0]
    >>> bool(mat.subtract(mat).toLocalMatrix().toArray().any())
    False
    >>> mat.transpose().multiply(mat).toLocalMatrix()
    DenseMatrix(2, 2, [208.0, 298.0, 298.0, 442.0], 0)
    >>> mat.validate()
    """

    def __init__(self, blocks: Any, rowsPerBlock: int, colsPerBlock: int, numRows: int = 0,
                 numCols: int = 0):
        self._blocks = self._take(blocks, _convert_to_matrix_block_tuple,
                                  "blocks should be an RDD of sub-matrix blocks as "
                                  "((int, int), matrix) tuples", numRows, numCols)
        if int(rowsPerBlock) <= 0 or int(colsPerBlock) <= 0:
            raise ValueError(f"rowsPerBlock and colsPerBlock must be positive, got "
                             f"{rowsPerBlock} and {colsPerBlock}")
        self._rows_per_block = int(rowsPerBlock)
        self._cols_per_block = int(colsPerBlock)

    @property
    def blocks(self) -> Any:
        """The blocks, an RDD of ``((blockRow, blockCol), matrix)``."""
        return self._blocks

    @property
    def rowsPerBlock(self) -> int:
        """The rows of each (full) block."""
        return self._rows_per_block

    @property
    def colsPerBlock(self) -> int:
        """The columns of each (full) block."""
        return self._cols_per_block

    @property
    def numRowBlocks(self) -> int:
        """The number of block rows."""
        return -(-self.numRows() // self._rows_per_block)

    @property
    def numColBlocks(self) -> int:
        """The number of block columns."""
        return -(-self.numCols() // self._cols_per_block)

    def _size(self) -> None:
        rpb, cpb = self._rows_per_block, self._cols_per_block
        top = self._blocks.map(lambda b: (b[0][0] * rpb + b[1].numRows,
                                          b[0][1] * cpb + b[1].numCols)).fold(
            (0, 0), lambda a, b: (max(a[0], b[0]), max(a[1], b[1])))
        if self._num_rows <= 0:
            self._num_rows = top[0]
        if self._num_cols <= 0:
            self._num_cols = top[1]

    def cache(self) -> "BlockMatrix":
        """Cache the blocks."""
        self._blocks.cache()
        return self

    def persist(self, storageLevel: StorageLevel) -> "BlockMatrix":
        """Persist the blocks at ``storageLevel``."""
        if not isinstance(storageLevel, StorageLevel):
            raise TypeError(f"`storageLevel` should be a StorageLevel, got {type(storageLevel)}")
        self._blocks.persist(storageLevel)
        return self

    def validate(self) -> None:
        """Check the blocks against the dimensions: no two blocks share an
        index and every block has the size its place requires."""
        m, n = self.numRows(), self.numCols()
        rpb, cpb = self._rows_per_block, self._cols_per_block
        duplicates = self._blocks.map(lambda b: (b[0], 1)).reduceByKey(lambda a, b: a + b) \
            .filter(lambda item: item[1] > 1).keys().take(1)
        if duplicates:
            i, j = duplicates[0]
            raise InvalidDataError(f"Found multiple MatrixBlocks with the indices ({i},{j}). "
                                   f"Please remove blocks with duplicate indices.")

        def wrong(block) -> bool:
            (i, j), matrix = block
            rows = min(rpb, m - i * rpb)
            cols = min(cpb, n - j * cpb)
            return i < 0 or j < 0 or matrix.numRows != rows or matrix.numCols != cols

        bad = self._blocks.filter(wrong).take(1)
        if bad:
            (i, j), matrix = bad[0]
            raise InvalidDataError(
                f"The MatrixBlock at ({i}, {j}) has dimensions different than rowsPerBlock: "
                f"{rpb}, and colsPerBlock: {cpb}. Blocks on the right and bottom edges can "
                f"have smaller dimensions. You may use the repartition method to fix this "
                f"issue.")

    def _check_same_shape(self, other: "BlockMatrix", verb: str) -> None:
        if not isinstance(other, BlockMatrix):
            raise TypeError(f"Other should be a BlockMatrix, got {type(other)}")
        if (self.numRows(), self.numCols()) != (other.numRows(), other.numCols()):
            raise ValueError(f"Both matrices must have the same number of rows and columns to "
                             f"{verb}: A is {self.numRows()} x {self.numCols()}, B is "
                             f"{other.numRows()} x {other.numCols()}")
        if (self._rows_per_block, self._cols_per_block) != (other._rows_per_block,
                                                            other._cols_per_block):
            raise ValueError(f"Cannot {verb} matrices with different block dimensions: A has "
                             f"{self._rows_per_block} x {self._cols_per_block} blocks, B has "
                             f"{other._rows_per_block} x {other._cols_per_block}")

    def _elementwise(self, other: "BlockMatrix", sign: float) -> "BlockMatrix":
        def merge(item):
            key, (mine, theirs) = item
            left = next(iter(mine), None)
            right = next(iter(theirs), None)
            return key, _combine(left, right, sign)

        blocks = self._blocks.cogroup(other._blocks).map(merge)
        return BlockMatrix(blocks, self._rows_per_block, self._cols_per_block,
                           self.numRows(), self.numCols())

    def add(self, other: "BlockMatrix") -> "BlockMatrix":
        """The sum with a matrix of the same size and block size (a block
        is sparse if either summand's is)."""
        self._check_same_shape(other, "add")
        return self._elementwise(other, 1.0)

    def subtract(self, other: "BlockMatrix") -> "BlockMatrix":
        """``this - other`` for a matrix of the same size and block size."""
        self._check_same_shape(other, "subtract")
        return self._elementwise(other, -1.0)

    def multiply(self, other: "BlockMatrix") -> "BlockMatrix":
        """``this * other``; this matrix's ``colsPerBlock`` must equal the
        other's ``rowsPerBlock``. The result has dense blocks."""
        if not isinstance(other, BlockMatrix):
            raise TypeError(f"Other should be a BlockMatrix, got {type(other)}")
        if self.numCols() != other.numRows():
            raise ValueError(f"The number of columns of A and the number of rows of B must be "
                             f"equal. A.numCols: {self.numCols()}, B.numRows: {other.numRows()}. "
                             f"If you think they should be equal, try setting the dimensions "
                             f"of A and B explicitly while initializing them.")
        if self._cols_per_block != other._rows_per_block:
            raise ValueError(f"The colsPerBlock of A ({self._cols_per_block}) must equal the "
                             f"rowsPerBlock of B ({other._rows_per_block})")
        left = self._blocks.map(lambda b: (b[0][1], (b[0][0], b[1])))
        right = other._blocks.map(lambda b: (b[0][0], (b[0][1], b[1])))

        def product(item):
            _, ((i, a), (j, b)) = item
            return (i, j), a.toArray() @ b.toArray()

        def to_matrix(item):
            key, array = item
            return key, DenseMatrix(array.shape[0], array.shape[1], np.ravel(array, order="F"))

        blocks = left.join(right).map(product).reduceByKey(lambda a, b: a + b).map(to_matrix)
        return BlockMatrix(blocks, self._rows_per_block, other._cols_per_block, self.numRows(),
                           other.numCols())

    def transpose(self) -> "BlockMatrix":
        """The transposed matrix (no job runs)."""
        blocks = self._blocks.map(lambda b: ((b[0][1], b[0][0]), _transpose(b[1])))
        return BlockMatrix(blocks, self._cols_per_block, self._rows_per_block, self._num_cols,
                           self._num_rows)

    def toLocalMatrix(self) -> DenseMatrix:
        """The whole matrix on the driver, as a DenseMatrix.

        >>> blocks = sc.parallelize([((0, 0), Matrices.dense(1, 2, [1, 2])),
        ...                          ((1, 0), Matrices.dense(1, 2, [7, 8]))])
        >>> BlockMatrix(blocks, 1, 2).toLocalMatrix()
        DenseMatrix(2, 2, [1.0, 7.0, 2.0, 8.0], 0)
        """
        m, n = self.numRows(), self.numCols()
        out = np.zeros((m, n))
        rpb, cpb = self._rows_per_block, self._cols_per_block
        for (i, j), matrix in self._blocks.collect():
            array = matrix.toArray()
            out[i * rpb:i * rpb + array.shape[0], j * cpb:j * cpb + array.shape[1]] += array
        return _local(out)

    def toIndexedRowMatrix(self) -> IndexedRowMatrix:
        """The matrix as indexed dense rows."""
        n = self.numCols()
        rpb, cpb = self._rows_per_block, self._cols_per_block

        def rows_of(block):
            (i, j), matrix = block
            array = matrix.toArray()
            for r in range(array.shape[0]):
                yield i * rpb + r, (j * cpb, array[r])

        def assemble(item):
            index, pieces = item
            vector = np.zeros(n)
            for start, values in pieces:
                vector[start:start + len(values)] += values
            return IndexedRow(index, DenseVector(vector))

        rows = self._blocks.flatMap(rows_of).groupByKey().map(assemble)
        return IndexedRowMatrix(rows, self.numRows(), n)

    def toCoordinateMatrix(self) -> CoordinateMatrix:
        """Every stored value as a ``MatrixEntry`` (dense blocks' zeros included).

        >>> blocks = sc.parallelize([((0, 0), Matrices.dense(1, 2, [1, 2])),
        ...                          ((1, 0), Matrices.dense(1, 2, [7, 8]))])
        >>> BlockMatrix(blocks, 1, 2).toCoordinateMatrix().entries.take(3)
        [MatrixEntry(0, 0, 1.0), MatrixEntry(0, 1, 2.0), MatrixEntry(1, 0, 7.0)]
        """
        rpb, cpb = self._rows_per_block, self._cols_per_block

        def entries_of(block):
            (i, j), matrix = block
            if isinstance(matrix, SparseMatrix):
                major = matrix._major_indices()
                pairs = zip(major, matrix.rowIndices) if matrix.isTransposed else \
                    zip(matrix.rowIndices, major)
                for (r, c), value in zip(pairs, matrix.values):
                    yield MatrixEntry(i * rpb + int(r), j * cpb + int(c), value)
            else:
                array = matrix.toArray()
                for c in range(array.shape[1]):
                    for r in range(array.shape[0]):
                        yield MatrixEntry(i * rpb + r, j * cpb + c, array[r, c])

        return CoordinateMatrix(self._blocks.flatMap(entries_of), self._num_rows,
                                self._num_cols)

