"""Column statistics, correlations and hypothesis tests over RDDs.

Owns ``Statistics`` and ``MultivariateStatisticalSummary``.

* ``colStats`` is one ``treeAggregate`` over blocks of the vectors: per block
  its count, mean and sum of squared deviations (merged across blocks with
  Chan's formula, so the variance does not lose digits to cancellation),
  non-zeros, extremes (implicit zeros of sparse vectors count), and L1 and
  squared L2 norms. Variances are unbiased (``n - 1``), as MLlib's.
* Pearson correlation comes from the same aggregation plus the Gramian;
  a column with zero variance correlates NaN with every other (1.0 with
  itself). Spearman correlation replaces each column by its ranks (ties get
  their average rank) with a distributed sort, then takes Pearson's.
* ``chiSqTest`` runs on the driver for a vector or a matrix, and for an RDD
  of labelled points counts the (feature value, label) pairs with
  ``reduceByKey`` before building one contingency table per feature.
* ``kolmogorovSmirnovTest`` sorts the sample (``sortBy``) and finds the
  largest distance between its empirical CDF and the normal CDF partition
  by partition, shifted by the counts of the partitions before.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from ember.engine.errors import InvalidDataError
from ember.mllib import _special
from ember.mllib._blocks import BlockedData, vector_data
from ember.mllib.linalg import Matrix, _convert_to_vector
from ember.mllib.regression import LabeledPoint
from ember.mllib.stat.test import ChiSqTestResult, KolmogorovSmirnovTestResult

__all__ = ["MultivariateStatisticalSummary", "Statistics"]


def _block_summary(block) -> tuple:
    rows = block.rows
    n = rows.n
    total = rows.column_sums()
    mean = total / n
    if hasattr(rows, "X"):
        m2 = ((rows.X - mean) ** 2).sum(axis=0)
        l1 = np.abs(rows.X).sum(axis=0)
    else:
        m2 = np.maximum(rows.column_sums(2) - n * mean * mean, 0.0)
        l1 = np.bincount(rows.indices, weights=np.abs(rows.data), minlength=rows.d)
    return (n, mean, m2, rows.column_nonzeros(), rows.column_max(), rows.column_min(), l1,
            rows.column_sums(2))


def _merge_summaries(left: tuple | None, right: tuple | None) -> tuple | None:
    if left is None or right is None:
        return right if left is None else left
    n1, mean1, m2_1, nnz1, max1, min1, l1_1, sq1 = left
    n2, mean2, m2_2, nnz2, max2, min2, l1_2, sq2 = right
    n = n1 + n2
    delta = mean2 - mean1
    mean = mean1 + delta * (n2 / n)
    m2 = m2_1 + m2_2 + delta * delta * (n1 * n2 / n)
    return (n, mean, m2, nnz1 + nnz2, np.maximum(max1, max2), np.minimum(min1, min2),
            l1_1 + l1_2, sq1 + sq2)


def summarize(data: BlockedData) -> "MultivariateStatisticalSummary":
    """The column summary of blocked vectors (one treeAggregate)."""
    summary = data.aggregate(None, lambda total, block: _merge_summaries(
        total, _block_summary(block)), _merge_summaries)
    return MultivariateStatisticalSummary(summary, data.d)


class MultivariateStatisticalSummary:
    """Column-wise statistics of a set of vectors: ``mean``, ``variance``
    (unbiased), ``count``, ``numNonzeros``, ``max``, ``min``, ``normL1`` and
    ``normL2``, each an array with one value per column (``count`` an int)."""

    def __init__(self, summary: tuple | None, d: int):
        if summary is None:
            empty = np.zeros(d)
            summary = (0, empty, empty, empty, np.full(d, -np.inf), np.full(d, np.inf), empty,
                       empty)
        self._n, self._mean, self._m2, self._nnz, self._max, self._min, self._l1, \
            self._sq = summary

    def mean(self) -> np.ndarray:
        return self._mean.copy()

    def variance(self) -> np.ndarray:
        if self._n < 2:
            return np.zeros_like(self._mean)
        return self._m2 / (self._n - 1)

    def count(self) -> int:
        return int(self._n)

    def numNonzeros(self) -> np.ndarray:
        return self._nnz.copy()

    def max(self) -> np.ndarray:
        return self._max.copy()

    def min(self) -> np.ndarray:
        return self._min.copy()

    def normL1(self) -> np.ndarray:
        return self._l1.copy()

    def normL2(self) -> np.ndarray:
        return np.sqrt(self._sq)


def _gram_block(block) -> np.ndarray:
    X = block.rows.dense()
    return X.T @ X


def _add_arrays(left, right):
    if left is None or right is None:
        return right if left is None else left
    return left + right


def _pearson(data: BlockedData) -> np.ndarray:
    summary = summarize(data)
    gram = data.aggregate(None, lambda total, block: _add_arrays(total, _gram_block(block)),
                          _add_arrays)
    n = summary.count()
    if n < 2:
        raise InvalidDataError(f"correlation needs at least 2 rows, got {n}")
    mean = summary.mean()
    covariance = (gram - n * np.outer(mean, mean)) / (n - 1)
    std = np.sqrt(np.maximum(np.diag(covariance), 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = covariance / np.outer(std, std)
    zero = std == 0.0
    corr[zero, :] = np.nan
    corr[:, zero] = np.nan
    corr = np.clip(corr, -1.0, 1.0)
    np.fill_diagonal(corr, 1.0)
    return corr


def _ranks(vectors: Any, d: int) -> Any:
    """Each vector replaced by the ranks of its values within their column
    (average ranks for ties): a distributed sort of (column, value)."""
    indexed = vectors.map(lambda v: _convert_to_vector(v).toArray()).zipWithIndex()
    cells = indexed.flatMap(lambda pair: (((j, float(value)), pair[1])
                                          for j, value in enumerate(pair[0])))
    counts = cells.map(lambda cell: (cell[0], 1)).reduceByKey(lambda a, b: a + b) \
        .sortByKey().cache()

    def per_column_totals(index: int, records: Iterator) -> Iterator:
        totals: dict = {}
        for (column, _), count in records:
            totals[column] = totals.get(column, 0) + count
        yield index, totals

    partition_totals = dict(counts.mapPartitionsWithIndex(per_column_totals).collect())
    offsets: dict = {}
    running = [0] * d
    for index in sorted(partition_totals):
        offsets[index] = list(running)
        for column, count in partition_totals[index].items():
            running[column] += count

    def assign(index: int, records: Iterator) -> Iterator:
        seen = list(offsets[index])
        for (column, value), count in records:
            yield (column, value), seen[column] + (count + 1) / 2.0
            seen[column] += count

    ranks = counts.mapPartitionsWithIndex(assign)
    by_row = cells.join(ranks).map(lambda item: (item[1][0], (item[0][0], item[1][1])))

    def to_vector(entries: Any) -> np.ndarray:
        vector = np.zeros(d)
        for column, rank in entries:
            vector[column] = rank
        return vector

    result = by_row.groupByKey().sortByKey().map(lambda item: to_vector(item[1]))
    return result, counts


class Statistics:
    """Statistics over RDDs of vectors and numbers."""

    @staticmethod
    def colStats(rdd: Any) -> MultivariateStatisticalSummary:
        """Column-wise summary statistics of an RDD of vectors.

        >>> from ember.mllib.linalg import Vectors
        >>> rdd = sc.parallelize([Vectors.dense([2, 0, 0, -2]), Vectors.dense([4, 5, 0, 3]),
        ...                       Vectors.dense([6, 7, 0, 8])])
        >>> stats = Statistics.colStats(rdd)
        >>> stats.mean().tolist(), stats.variance().tolist(), stats.count()
        ([4.0, 4.0, 0.0, 3.0], [4.0, 13.0, 0.0, 25.0], 3)
        >>> stats.numNonzeros().tolist(), stats.max().tolist(), stats.min().tolist()
        ([3.0, 2.0, 0.0, 3.0], [6.0, 7.0, 0.0, 8.0], [2.0, 0.0, 0.0, -2.0])
        """
        data = vector_data(rdd)
        try:
            return summarize(data)
        finally:
            data.unpersist()

    @staticmethod
    def corr(x: Any, y: Any = None, method: str | None = None) -> Any:
        """The correlation of two RDDs of numbers (a float), or the
        correlation matrix of the columns of an RDD of vectors; ``method`` is
        ``"pearson"`` (the default) or ``"spearman"``.

        >>> x = sc.parallelize([1.0, 0.0, -2.0], 2)
        >>> y = sc.parallelize([4.0, 5.0, 3.0], 2)
        >>> round(Statistics.corr(x, y), 7), Statistics.corr(x, y, "spearman")
        (0.6546537, 0.5)
        >>> from ember.mllib.linalg import Vectors
        >>> rdd = sc.parallelize([Vectors.dense([1, 0, 0, -2]), Vectors.dense([4, 5, 0, 3]),
        ...                       Vectors.dense([6, 7, 0, 8]), Vectors.dense([9, 0, 0, 1])])
        >>> Statistics.corr(rdd).round(4)
        array([[1.    , 0.0556,    nan, 0.4005],
               [0.0556, 1.    ,    nan, 0.9136],
               [   nan,    nan, 1.    ,    nan],
               [0.4005, 0.9136,    nan, 1.    ]])
        >>> Statistics.corr(rdd, "spearman")
        Traceback (most recent call last):
            ...
        TypeError: Use 'method=' to specify method name.
        """
        if isinstance(y, str):
            raise TypeError("Use 'method=' to specify method name.")
        method = method or "pearson"
        if method not in ("pearson", "spearman"):
            raise ValueError(f"Unsupported correlation method {method!r}; the methods are "
                             f"'pearson' and 'spearman'")
        if y is None:
            return Statistics._corr_matrix(x, method)
        pairs = x.map(float).zip(y.map(float)).map(lambda pair: np.array(pair))
        return float(Statistics._corr_matrix(pairs, method)[0, 1])

    @staticmethod
    def _corr_matrix(vectors: Any, method: str) -> np.ndarray:
        if method == "spearman":
            first = _convert_to_vector(vectors.first())
            ranked, counts = _ranks(vectors, len(first))
            try:
                return Statistics._corr_matrix(ranked, "pearson")
            finally:
                counts.unpersist()
        data = vector_data(vectors)
        try:
            return _pearson(data)
        finally:
            data.unpersist()

    @staticmethod
    def chiSqTest(observed: Any, expected: Any = None) -> Any:
        """Pearson's chi-squared test: goodness of fit of an observed vector
        (against ``expected``, or the uniform distribution), independence of
        a contingency matrix, or, for an RDD of labelled points, independence
        of each feature from the label (a list of results).

        >>> from ember.mllib.linalg import Vectors, Matrices
        >>> pearson = Statistics.chiSqTest(Vectors.dense([4, 6, 5]))
        >>> pearson.statistic, pearson.degreesOfFreedom, round(pearson.pValue, 4)
        (0.4, 2, 0.8187)
        >>> round(Statistics.chiSqTest(Vectors.dense([21, 38, 43, 80]),
        ...                            Vectors.dense([3, 5, 7, 20])).pValue, 4)
        0.0027
        >>> data = [40.0, 24.0, 29.0, 56.0, 32.0, 42.0, 31.0, 10.0, 0.0, 30.0, 15.0, 12.0]
        >>> round(Statistics.chiSqTest(Matrices.dense(3, 4, data)).statistic, 4)
        21.9958
        """
        if hasattr(observed, "mapPartitions"):
            if not isinstance(observed.first(), LabeledPoint):
                raise ValueError("observed should be an RDD of LabeledPoint")
            return _chi_squared_features(observed)
        if isinstance(observed, Matrix):
            return _chi_squared_matrix(observed.toArray())
        observed_array = _convert_to_vector(observed).toArray()
        if expected is not None:
            expected_array = _convert_to_vector(expected).toArray()
            if len(expected_array) != len(observed_array):
                raise ValueError("`expected` should have same length with `observed`")
        else:
            expected_array = None
        return _chi_squared_fit(observed_array, expected_array)

    @staticmethod
    def kolmogorovSmirnovTest(data: Any, distName: str = "norm",
                              *params: float) -> KolmogorovSmirnovTestResult:
        """The one-sample Kolmogorov-Smirnov test of an RDD of numbers against
        the normal distribution (``distName="norm"``, parameters mean and
        standard deviation, by default 0 and 1).

        >>> result = Statistics.kolmogorovSmirnovTest(sc.parallelize([-1.0, 0.0, 1.0]), "norm")
        >>> round(result.statistic, 3), round(result.pValue, 3)
        (0.175, 1.0)
        >>> result.nullHypothesis
        'Sample follows theoretical distribution'
        >>> round(Statistics.kolmogorovSmirnovTest(sc.parallelize([2.0, 3.0, 4.0]), "norm",
        ...                                        3.0, 1.0).statistic, 3)
        0.175
        """
        if not hasattr(data, "mapPartitions"):
            raise TypeError(f"data should be an RDD, got {type(data)}.")
        if not isinstance(distName, str):
            raise TypeError(f"distName should be a string, got {type(distName)}.")
        if distName != "norm":
            raise ValueError(f"Unsupported distribution {distName!r}: the one-sample test "
                             f"supports 'norm'")
        values = [float(param) for param in params]
        if len(values) not in (0, 2):
            raise ValueError(f"the normal distribution takes a mean and a standard deviation, "
                             f"got {len(values)} parameters")
        mean, sd = values if values else (0.0, 1.0)
        if sd <= 0:
            raise ValueError(f"the standard deviation must be positive, got {sd}")
        return _kolmogorov_smirnov(data, mean, sd)


def _chi_squared_fit(observed: np.ndarray, expected: np.ndarray | None) -> ChiSqTestResult:
    if (observed < 0).any():
        raise ValueError(f"Negative entries disallowed in the observed vector: "
                         f"{observed.tolist()}")
    size = len(observed)
    if size == 0 or size > 10000:
        raise ValueError(f"the observed vector must have 1 to 10000 categories, got {size}")
    total = observed.sum()
    if expected is None:
        expected = np.full(size, total / size)
    else:
        if (expected <= 0).any():
            raise ValueError(f"Values in the expected vector must be positive: "
                             f"{expected.tolist()}")
        expected_total = expected.sum()
        scale = 1.0 if abs(total - expected_total) < 1e-7 else total / expected_total
        expected = expected * scale
    statistic = float(((observed - expected) ** 2 / expected).sum())
    df = size - 1
    return ChiSqTestResult(_special.chi2_sf(statistic, df), df, statistic, "pearson",
                           "observed follows the same distribution as expected.")


def _chi_squared_matrix(counts: np.ndarray) -> ChiSqTestResult:
    if (counts < 0).any():
        raise ValueError("Contingency table cannot contain negative entries")
    rows, cols = counts.sum(axis=1), counts.sum(axis=0)
    if (rows == 0).any() or (cols == 0).any():
        raise ValueError(f"Chi-squared statistic undefined for input matrix due to 0 sum in "
                         f"{'row' if (rows == 0).any() else 'column'} "
                         f"{int(np.argmax(rows == 0) if (rows == 0).any() else np.argmax(cols == 0))}.")
    expected = np.outer(rows, cols) / counts.sum()
    statistic = float(((counts - expected) ** 2 / expected).sum())
    df = (counts.shape[0] - 1) * (counts.shape[1] - 1)
    p_value = _special.chi2_sf(statistic, df) if df > 0 else 1.0
    return ChiSqTestResult(p_value, df, statistic, "pearson",
                           "the occurrence of the outcomes is statistically independent.")


def _chi_squared_features(points: Any) -> list[ChiSqTestResult]:
    counts = points.flatMap(lambda p: (((j, float(value), p.label), 1)
                                       for j, value in enumerate(p.features.toArray()))) \
        .reduceByKey(lambda a, b: a + b).collect()
    labels = sorted({label for (_, _, label), _ in counts})
    by_feature: dict = {}
    for (feature, value, label), count in counts:
        by_feature.setdefault(feature, {})[(value, label)] = count
    results = []
    for feature in sorted(by_feature):
        cells = by_feature[feature]
        values = sorted({value for value, _ in cells})
        if len(values) > 10000:
            raise InvalidDataError(f"Chi-square test expect factors (categorical values) but "
                                   f"found more than 10000 distinct values in column {feature}.")
        table = np.zeros((len(values), len(labels)))
        value_index = {value: i for i, value in enumerate(values)}
        label_index = {label: i for i, label in enumerate(labels)}
        for (value, label), count in cells.items():
            table[value_index[value], label_index[label]] = count
        results.append(_chi_squared_matrix(table))
    return results


def _kolmogorov_smirnov(data: Any, mean: float, sd: float) -> KolmogorovSmirnovTestResult:
    sorted_data = data.map(float).sortBy(lambda v: v).cache()
    try:
        sizes = dict(sorted_data.mapPartitionsWithIndex(
            lambda index, it: [(index, sum(1 for _ in it))]).collect())
        n = sum(sizes.values())
        if n == 0:
            raise InvalidDataError("the Kolmogorov-Smirnov test needs at least one value")
        offsets, running = {}, 0
        for index in sorted(sizes):
            offsets[index] = running
            running += sizes[index]

        def distances(index: int, values: Iterator) -> Iterator:
            sample = np.fromiter(values, dtype=np.float64)
            if not len(sample):
                return iter([])
            cdf = _special.norm_cdf(sample, mean, sd)
            position = offsets[index] + np.arange(len(sample))
            below = cdf - position / n
            above = (position + 1) / n - cdf
            return iter([float(max(below.max(), above.max()))])

        statistic = max(sorted_data.mapPartitionsWithIndex(distances).collect())
    finally:
        sorted_data.unpersist()
    p_value = 1.0 - _special.kolmogorov_cdf(statistic, n)
    return KolmogorovSmirnovTestResult(p_value, statistic,
                                       "Sample follows theoretical distribution")
