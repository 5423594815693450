"""Evaluation metrics for binary, multiclass, multilabel, regression and
ranking predictions.

Owns ``BinaryClassificationMetrics``, ``RegressionMetrics``,
``MulticlassMetrics``, ``MultilabelMetrics`` and ``RankingMetrics``, with
MLlib's definitions. Each constructor reads its RDD once:

* binary: (weighted) positive and negative counts per distinct score
  (``reduceByKey``), sorted by decreasing score and cached; the curves are
  cumulative sums over that order, computed partition by partition from
  the totals of the partitions before (no score list reaches the driver
  unless a curve is collected). A label above 0.5 is positive. ROC starts at
  (0, 0) and ends at (1, 1); the precision-recall curve starts at recall 0
  with the first threshold's precision; areas are trapezoidal.
* regression: one pass of weighted sums. ``explainedVariance`` is MLlib's
  ``sum w (prediction - mean label)^2 / sum w`` (not scikit-learn's
  explained variance score).
* multiclass, multilabel, ranking: one pass of counts, aggregated with
  ``treeAggregate``.

Beyond PySpark's methods, ``BinaryClassificationMetrics`` has the Scala
API's curves (``roc``, ``pr``, ``thresholds``, ``fMeasureByThreshold``,
``precisionByThreshold``, ``recallByThreshold``), each an RDD.
"""

from __future__ import annotations

import math
from typing import Any, Iterator

import numpy as np

from ember.engine.api.storage import StorageLevel
from ember.engine.errors import InvalidDataError
from ember.mllib.linalg import DenseMatrix

__all__ = [
    "BinaryClassificationMetrics",
    "RegressionMetrics",
    "MulticlassMetrics",
    "RankingMetrics",
    "MultilabelMetrics",
]


def _weighted(record: Any) -> tuple[float, float, float]:
    if len(record) == 3:
        return float(record[0]), float(record[1]), float(record[2])
    return float(record[0]), float(record[1]), 1.0


class BinaryClassificationMetrics:
    """Metrics of scores against binary labels: an RDD of ``(score, label)``
    or ``(score, label, weight)``.

    >>> scoreAndLabels = sc.parallelize([
    ...     (0.1, 0.0), (0.1, 1.0), (0.4, 0.0), (0.6, 0.0), (0.6, 1.0), (0.6, 1.0), (0.8, 1.0)], 2)
    >>> metrics = BinaryClassificationMetrics(scoreAndLabels)
    >>> round(metrics.areaUnderROC, 4), round(metrics.areaUnderPR, 4)
    (0.7083, 0.8339)
    >>> metrics.roc().collect()
    [(0.0, 0.0), (0.0, 0.25), (0.3333333333333333, 0.75), (0.6666666666666666, 0.75), (1.0, 1.0), (1.0, 1.0)]
    >>> metrics.pr().collect()
    [(0.0, 1.0), (0.25, 1.0), (0.75, 0.75), (0.75, 0.6), (1.0, 0.5714285714285714)]
    >>> metrics.unpersist()
    >>> weighted = sc.parallelize([(0.1, 0.0, 1.0), (0.1, 1.0, 0.4), (0.4, 0.0, 0.2),
    ...     (0.6, 0.0, 0.6), (0.6, 1.0, 0.9), (0.6, 1.0, 0.5), (0.8, 1.0, 0.7)], 2)
    >>> metrics = BinaryClassificationMetrics(weighted)
    >>> round(metrics.areaUnderROC, 4), round(metrics.areaUnderPR, 4)
    (0.7911, 0.8822)
    """

    def __init__(self, scoreAndLabels: Any, numBins: int = 0):
        if numBins < 0:
            raise ValueError(f"numBins should be nonnegative, but got {numBins}")
        counts = scoreAndLabels.map(_weighted).map(
            lambda t: (t[0], (t[2] if t[1] > 0.5 else 0.0, 0.0 if t[1] > 0.5 else t[2]))) \
            .reduceByKey(lambda a, b: (a[0] + b[0], a[1] + b[1])) \
            .sortByKey(ascending=False)
        counts.persist(StorageLevel.MEMORY_AND_DISK)
        self._counts = counts
        totals = counts.mapPartitionsWithIndex(
            lambda index, it: [(index, _sum_pairs(v for _, v in it))]).collect()
        self._offsets: dict[int, tuple[float, float]] = {}
        positives = negatives = 0.0
        for index, (p, n) in sorted(totals):
            self._offsets[index] = (positives, negatives)
            positives, negatives = positives + p, negatives + n
        self._positives, self._negatives = positives, negatives
        if numBins > 0:
            self._bin(numBins)

    def _bin(self, num_bins: int) -> None:
        """Merge consecutive thresholds into about ``numBins`` bins, each
        scored by its lowest threshold (MLlib's down-sampling)."""
        grouping = self._counts.count() // num_bins
        if grouping < 2:
            return

        def chunks(records: Iterator) -> Iterator:
            chunk = []
            for record in records:
                chunk.append(record)
                if len(chunk) == grouping:
                    yield chunk[-1][0], _sum_pairs(v for _, v in chunk)
                    chunk = []
            if chunk:
                yield chunk[-1][0], _sum_pairs(v for _, v in chunk)

        binned = self._counts.mapPartitions(chunks)
        binned.persist(StorageLevel.MEMORY_AND_DISK)
        binned.count()
        self._counts.unpersist()
        self._counts = binned

    def _confusions(self) -> Any:
        """(threshold, true positives, false positives) cumulated by
        decreasing threshold."""
        offsets = self._offsets

        def cumulate(index: int, records: Iterator) -> Iterator:
            tp, fp = offsets.get(index, (0.0, 0.0))
            for score, (p, n) in records:
                tp, fp = tp + p, fp + n
                yield score, tp, fp

        return self._counts.mapPartitionsWithIndex(cumulate)

    def thresholds(self) -> Any:
        """The distinct scores, in decreasing order."""
        return self._counts.keys()

    def roc(self) -> Any:
        """The ROC curve: (false positive rate, true positive rate), from
        (0, 0) to (1, 1)."""
        positives, negatives = self._positives, self._negatives
        points = self._confusions().map(lambda c: (_rate(c[2], negatives),
                                                   _rate(c[1], positives)))
        context = self._counts.context
        return context.parallelize([(0.0, 0.0)], 1).union(points) \
            .union(context.parallelize([(1.0, 1.0)], 1))

    def pr(self) -> Any:
        """The precision-recall curve: (recall, precision), starting at
        recall 0 with the first threshold's precision."""
        positives = self._positives
        points = self._confusions().map(lambda c: (_rate(c[1], positives),
                                                   _precision(c[1], c[2])))
        first = points.take(1)
        start = first[0][1] if first else 1.0
        return self._counts.context.parallelize([(0.0, start)], 1).union(points)

    def fMeasureByThreshold(self, beta: float = 1.0) -> Any:
        """(threshold, F-measure) for every threshold."""
        positives = self._positives

        def f(c):
            precision, recall = _precision(c[1], c[2]), _rate(c[1], positives)
            denominator = beta * beta * precision + recall
            return c[0], (0.0 if denominator == 0 else
                          (1 + beta * beta) * precision * recall / denominator)

        return self._confusions().map(f)

    def precisionByThreshold(self) -> Any:
        """(threshold, precision) for every threshold."""
        return self._confusions().map(lambda c: (c[0], _precision(c[1], c[2])))

    def recallByThreshold(self) -> Any:
        """(threshold, recall) for every threshold."""
        positives = self._positives
        return self._confusions().map(lambda c: (c[0], _rate(c[1], positives)))

    @property
    def areaUnderROC(self) -> float:
        """The area under the ROC curve."""
        return _area(self.roc())

    @property
    def areaUnderPR(self) -> float:
        """The area under the precision-recall curve."""
        return _area(self.pr())

    def unpersist(self) -> None:
        """Drop the cached per-score counts."""
        self._counts.unpersist()


def _sum_pairs(pairs) -> tuple[float, float]:
    p = n = 0.0
    for a, b in pairs:
        p, n = p + a, n + b
    return p, n


def _rate(count: float, total: float) -> float:
    return 0.0 if total == 0 else count / total


def _precision(tp: float, fp: float) -> float:
    return 1.0 if tp + fp == 0 else tp / (tp + fp)


def _area(curve: Any) -> float:
    """Trapezoidal area under a curve given as an RDD of points in order:
    per partition, then across partition boundaries."""

    def partial(index: int, points: Iterator) -> Iterator:
        xs, ys = [], []
        for x, y in points:
            xs.append(x)
            ys.append(y)
        if xs:
            x, y = np.array(xs), np.array(ys)
            yield index, float(((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0).sum()), \
                (xs[0], ys[0]), (xs[-1], ys[-1])

    parts = sorted(curve.mapPartitionsWithIndex(partial).collect())
    total = sum(part[1] for part in parts)
    for (_, _, _, last), (_, _, first, _) in zip(parts, parts[1:]):
        total += (first[0] - last[0]) * (first[1] + last[1]) / 2.0
    return total


class RegressionMetrics:
    """Metrics of predictions against observations: an RDD of
    ``(prediction, observation)`` or ``(prediction, observation, weight)``.

    >>> metrics = RegressionMetrics(sc.parallelize([(2.5, 3.0), (0.0, -0.5), (2.0, 2.0),
    ...                                             (8.0, 7.0)]))
    >>> round(metrics.explainedVariance, 4), metrics.meanAbsoluteError, metrics.meanSquaredError
    (8.8594, 0.5, 0.375)
    >>> round(metrics.rootMeanSquaredError, 4), round(metrics.r2, 4)
    (0.6124, 0.9486)
    >>> weighted = sc.parallelize([(2.5, 3.0, 0.5), (0.0, -0.5, 1.0), (2.0, 2.0, 0.3),
    ...                            (8.0, 7.0, 0.9)])
    >>> round(RegressionMetrics(weighted).rootMeanSquaredError, 4)
    0.6872
    """

    def __init__(self, predictionAndObservations: Any, throughOrigin: bool = False):
        def seq(total, record):
            prediction, observation, weight = _weighted(record)
            error = observation - prediction
            values = np.array([weight, weight * observation, weight * observation * observation,
                               weight * prediction, weight * prediction * prediction,
                               weight * abs(error), weight * error * error, weight * weight])
            return values if total is None else total + values

        def comb(a, b):
            return b if a is None else (a if b is None else a + b)

        sums = predictionAndObservations.treeAggregate(None, seq, comb)
        if sums is None or sums[0] == 0:
            raise InvalidDataError("RegressionMetrics needs at least one observation of "
                                   "positive weight")
        self._sums = sums
        self._through_origin = throughOrigin

    @property
    def explainedVariance(self) -> float:
        """``sum w (prediction - mean observation)^2 / sum w``."""
        w, wy, _, wp, wpp, _, _, _ = self._sums
        mean = wy / w
        return float((wpp - 2 * mean * wp + mean * mean * w) / w)

    @property
    def meanAbsoluteError(self) -> float:
        """The mean absolute error."""
        return float(self._sums[5] / self._sums[0])

    @property
    def meanSquaredError(self) -> float:
        """The mean squared error."""
        return float(self._sums[6] / self._sums[0])

    @property
    def rootMeanSquaredError(self) -> float:
        """The square root of the mean squared error."""
        return math.sqrt(self.meanSquaredError)

    @property
    def r2(self) -> float:
        """The coefficient of determination, ``1 - SSerr / SStot``; with
        weights, ``SStot`` is MLlib's: the unbiased weighted variance of the
        observations times ``sum w - 1``."""
        w, wy, wyy, _, _, _, sse, ww = self._sums
        if self._through_origin:
            total = wyy
        else:
            spread = wyy - wy * wy / w
            total = spread / (w - ww / w) * (w - 1) if w - ww / w else 0.0
        return float(1.0 - sse / total) if total != 0 else float("nan")


class MulticlassMetrics:
    """Metrics of predicted classes against labels: an RDD of
    ``(prediction, label)``, ``(prediction, label, weight)`` or
    ``(prediction, label, weight, probabilities)``.

    >>> predictionAndLabels = sc.parallelize([(0.0, 0.0), (0.0, 1.0), (0.0, 0.0),
    ...     (1.0, 0.0), (1.0, 1.0), (1.0, 1.0), (1.0, 1.0), (2.0, 2.0), (2.0, 0.0)])
    >>> metrics = MulticlassMetrics(predictionAndLabels)
    >>> metrics.confusionMatrix().toArray()
    array([[2., 1., 1.],
           [1., 3., 0.],
           [0., 0., 1.]])
    >>> metrics.falsePositiveRate(0.0), metrics.precision(1.0), metrics.recall(2.0)
    (0.2, 0.75, 1.0)
    >>> round(metrics.fMeasure(0.0, 2.0), 4), round(metrics.accuracy, 4)
    (0.5263, 0.6667)
    >>> round(metrics.weightedFalsePositiveRate, 4), round(metrics.weightedPrecision, 4)
    (0.1917, 0.6852)
    >>> round(metrics.weightedRecall, 4), round(metrics.weightedFMeasure(), 4)
    (0.6667, 0.6614)
    >>> probabilities = sc.parallelize([(1.0, 1.0, 1.0, [0.1, 0.8, 0.1]),
    ...     (0.0, 2.0, 1.0, [0.9, 0.05, 0.05]), (0.0, 0.0, 1.0, [0.8, 0.2, 0.0]),
    ...     (1.0, 1.0, 1.0, [0.3, 0.65, 0.05])])
    >>> round(MulticlassMetrics(probabilities).logLoss(), 4)
    0.9682
    """

    def __init__(self, predictionAndLabels: Any):
        def seq(total, record):
            prediction, label = float(record[0]), float(record[1])
            weight = float(record[2]) if len(record) > 2 else 1.0
            key = (label, prediction)
            total[0][key] = total[0].get(key, 0.0) + weight
            if len(record) > 3:
                probabilities = record[3]
                index = int(label)
                p = float(probabilities[index]) if 0 <= index < len(probabilities) else 0.0
                total[1].append((weight, p))
            return total

        def comb(a, b):
            for key, value in b[0].items():
                a[0][key] = a[0].get(key, 0.0) + value
            a[1].extend(b[1])
            return a

        confusion, probabilities = predictionAndLabels.treeAggregate(({}, []), seq, comb)
        self._confusion = confusion
        self._probabilities = probabilities
        self._labels = sorted({label for label, _ in confusion}
                              | {prediction for _, prediction in confusion})
        self._total = sum(confusion.values())
        self._label_count = {label: sum(v for (l, _), v in confusion.items() if l == label)
                             for label in self._labels}
        self._predicted_count = {label: sum(v for (_, p), v in confusion.items() if p == label)
                                 for label in self._labels}

    def confusionMatrix(self) -> DenseMatrix:
        """The confusion matrix: rows are true labels, columns predictions,
        both in ascending label order."""
        n = len(self._labels)
        index = {label: i for i, label in enumerate(self._labels)}
        matrix = np.zeros((n, n))
        for (label, prediction), weight in self._confusion.items():
            matrix[index[label], index[prediction]] += weight
        return DenseMatrix(n, n, np.ravel(matrix, order="F"), 0)

    def _tp(self, label: float) -> float:
        return self._confusion.get((label, label), 0.0)

    def truePositiveRate(self, label: float) -> float:
        """The true positive rate (recall) of a label."""
        return self.recall(label)

    def falsePositiveRate(self, label: float) -> float:
        """The false positive rate of a label."""
        label = float(label)
        fp = self._predicted_count.get(label, 0.0) - self._tp(label)
        negatives = self._total - self._label_count.get(label, 0.0)
        return fp / negatives if negatives else 0.0

    def precision(self, label: float) -> float:
        """The precision of a label."""
        label = float(label)
        predicted = self._predicted_count.get(label, 0.0)
        return self._tp(label) / predicted if predicted else 0.0

    def recall(self, label: float) -> float:
        """The recall of a label."""
        label = float(label)
        actual = self._label_count.get(label, 0.0)
        return self._tp(label) / actual if actual else 0.0

    def fMeasure(self, label: float, beta: float | None = None) -> float:
        """The F-measure of a label (F1 without ``beta``)."""
        beta = 1.0 if beta is None else float(beta)
        p, r = self.precision(label), self.recall(label)
        beta2 = beta * beta
        return 0.0 if p + r == 0 else (1 + beta2) * p * r / (beta2 * p + r)

    @property
    def accuracy(self) -> float:
        """The share of correct predictions."""
        return sum(self._tp(label) for label in self._labels) / self._total

    def _weighted_mean(self, value) -> float:
        return sum(value(label) * self._label_count.get(label, 0.0) / self._total
                   for label in self._labels)

    @property
    def weightedTruePositiveRate(self) -> float:
        """The true positive rates averaged with the label frequencies."""
        return self._weighted_mean(self.truePositiveRate)

    @property
    def weightedFalsePositiveRate(self) -> float:
        """The false positive rates averaged with the label frequencies."""
        return self._weighted_mean(self.falsePositiveRate)

    @property
    def weightedRecall(self) -> float:
        """The recalls averaged with the label frequencies."""
        return self._weighted_mean(self.recall)

    @property
    def weightedPrecision(self) -> float:
        """The precisions averaged with the label frequencies."""
        return self._weighted_mean(self.precision)

    def weightedFMeasure(self, beta: float | None = None) -> float:
        """The F-measures averaged with the label frequencies."""
        return self._weighted_mean(lambda label: self.fMeasure(label, beta))

    def logLoss(self, eps: float = 1e-15) -> float:
        """The weighted log loss of the true labels' probabilities (each
        clipped to [eps, 1 - eps])."""
        if not self._probabilities:
            raise InvalidDataError("logLoss needs probabilities: an RDD of (prediction, label, "
                                   "weight, probabilities)")
        total = weights = 0.0
        for weight, p in self._probabilities:
            p = min(max(p, eps), 1.0 - eps)
            total -= weight * math.log(p)
            weights += weight
        return total / weights


class MultilabelMetrics:
    """Metrics of predicted label sets against true label sets: an RDD of
    ``(predicted labels, true labels)`` lists.

    >>> predictionAndLabels = sc.parallelize([([0.0, 1.0], [0.0, 2.0]), ([0.0, 2.0], [0.0, 1.0]),
    ...     ([], [0.0]), ([2.0], [2.0]), ([2.0, 0.0], [2.0, 0.0]),
    ...     ([0.0, 1.0, 2.0], [0.0, 1.0]), ([1.0], [1.0, 2.0])])
    >>> metrics = MultilabelMetrics(predictionAndLabels)
    >>> metrics.precision(0.0), round(metrics.recall(1.0), 4), metrics.f1Measure(2.0)
    (1.0, 0.6667, 0.5)
    >>> round(metrics.precision(), 4), round(metrics.recall(), 4), round(metrics.f1Measure(), 4)
    (0.6667, 0.6429, 0.6381)
    >>> round(metrics.microPrecision, 4), round(metrics.microRecall, 4)
    (0.7273, 0.6667)
    >>> round(metrics.microF1Measure, 4), round(metrics.hammingLoss, 4)
    (0.6957, 0.3333)
    >>> round(metrics.subsetAccuracy, 4), round(metrics.accuracy, 4)
    (0.2857, 0.5476)
    """

    def __init__(self, predictionAndLabels: Any):
        def seq(total, record):
            predicted, actual = set(map(float, record[0])), set(map(float, record[1]))
            common = predicted & actual
            docs, precision, recall, f1, subset, accuracy, hamming, per_label = total
            docs += 1
            precision += len(common) / len(predicted) if predicted else 0.0
            recall += len(common) / len(actual) if actual else 0.0
            size = len(predicted) + len(actual)
            f1 += 2.0 * len(common) / size if size else 0.0
            subset += 1.0 if predicted == actual else 0.0
            union = len(predicted | actual)
            accuracy += len(common) / union if union else 0.0
            hamming += len(predicted ^ actual)
            for label in predicted | actual:
                tp, fp, fn = per_label.get(label, (0, 0, 0))
                per_label[label] = (tp + (label in common),
                                    fp + (label in predicted and label not in actual),
                                    fn + (label in actual and label not in predicted))
            return docs, precision, recall, f1, subset, accuracy, hamming, per_label

        def comb(a, b):
            per_label = dict(a[7])
            for label, (tp, fp, fn) in b[7].items():
                x = per_label.get(label, (0, 0, 0))
                per_label[label] = (x[0] + tp, x[1] + fp, x[2] + fn)
            return tuple(a[i] + b[i] for i in range(7)) + (per_label,)

        self._totals = predictionAndLabels.treeAggregate((0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, {}),
                                                         seq, comb)
        if self._totals[0] == 0:
            raise InvalidDataError("MultilabelMetrics needs at least one document")

    def _label(self, label: float) -> tuple[int, int, int]:
        return self._totals[7].get(float(label), (0, 0, 0))

    def precision(self, label: float | None = None) -> float:
        """The document-averaged precision, or the precision of one label."""
        if label is None:
            return self._totals[1] / self._totals[0]
        tp, fp, _ = self._label(label)
        return tp / (tp + fp) if tp + fp else 0.0

    def recall(self, label: float | None = None) -> float:
        """The document-averaged recall, or the recall of one label."""
        if label is None:
            return self._totals[2] / self._totals[0]
        tp, _, fn = self._label(label)
        return tp / (tp + fn) if tp + fn else 0.0

    def f1Measure(self, label: float | None = None) -> float:
        """The document-averaged F1, or the F1 of one label."""
        if label is None:
            return self._totals[3] / self._totals[0]
        p, r = self.precision(label), self.recall(label)
        return 2 * p * r / (p + r) if p + r else 0.0

    def _micro(self) -> tuple[int, int, int]:
        values = self._totals[7].values()
        return (sum(v[0] for v in values), sum(v[1] for v in values), sum(v[2] for v in values))

    @property
    def microPrecision(self) -> float:
        """Precision over all labels' counts."""
        tp, fp, _ = self._micro()
        return tp / (tp + fp) if tp + fp else 0.0

    @property
    def microRecall(self) -> float:
        """Recall over all labels' counts."""
        tp, _, fn = self._micro()
        return tp / (tp + fn) if tp + fn else 0.0

    @property
    def microF1Measure(self) -> float:
        """F1 over all labels' counts."""
        tp, fp, fn = self._micro()
        return 2.0 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0

    @property
    def hammingLoss(self) -> float:
        """Wrong labels (either way) per document and label."""
        return self._totals[6] / (self._totals[0] * len(self._totals[7]))

    @property
    def subsetAccuracy(self) -> float:
        """The share of documents whose label set is predicted exactly."""
        return self._totals[4] / self._totals[0]

    @property
    def accuracy(self) -> float:
        """The mean of |predicted & true| / |predicted | true| per document."""
        return self._totals[5] / self._totals[0]


class RankingMetrics:
    """Metrics of rankings against relevant items: an RDD of ``(predicted
    ranking, relevant items)`` or ``(predicted ranking, relevant items,
    relevance values)``.

    >>> metrics = RankingMetrics(sc.parallelize([
    ...     ([1, 6, 2, 7, 8, 3, 9, 10, 4, 5], [1, 2, 3, 4, 5]),
    ...     ([4, 1, 5, 6, 2, 7, 3, 8, 9, 10], [1, 2, 3]),
    ...     ([1, 2, 3, 4, 5], [])]))
    >>> [round(metrics.precisionAt(k), 4) for k in (1, 5, 15)]
    [0.3333, 0.2667, 0.1778]
    >>> round(metrics.meanAveragePrecision, 4), round(metrics.meanAveragePrecisionAt(2), 4)
    (0.355, 0.25)
    >>> round(metrics.ndcgAt(3), 4), round(metrics.ndcgAt(10), 4)
    (0.3333, 0.4879)
    >>> [round(metrics.recallAt(k), 4) for k in (1, 5, 15)]
    [0.0667, 0.3556, 0.6667]
    """

    def __init__(self, predictionAndLabels: Any):
        self._rdd = predictionAndLabels.map(_ranking)
        self._rdd.persist(StorageLevel.MEMORY_AND_DISK)

    def _mean(self, score) -> float:
        total, count = self._rdd.map(lambda item: (score(*item), 1)).treeReduce(
            lambda a, b: (a[0] + b[0], a[1] + b[1]))
        return total / count

    def precisionAt(self, k: int) -> float:
        """The mean over queries of the relevant share of the first ``k``
        predictions (``k`` counts even when fewer are predicted; 0 for a
        query without relevant items)."""
        if k <= 0:
            raise ValueError(f"ranking position k should be positive, got {k}")
        return self._mean(lambda pred, lab, rel: (
            sum(1 for p in pred[:k] if p in lab) / k if lab else 0.0))

    @property
    def meanAveragePrecision(self) -> float:
        """The mean over queries of the average precision."""
        return self._mean(lambda pred, lab, rel: _average_precision(pred, lab, len(pred)))

    def meanAveragePrecisionAt(self, k: int) -> float:
        """The mean average precision over the first ``k`` predictions."""
        if k <= 0:
            raise ValueError(f"ranking position k should be positive, got {k}")
        return self._mean(lambda pred, lab, rel: _average_precision(pred, lab, k))

    def ndcgAt(self, k: int) -> float:
        """The mean normalised discounted cumulative gain at ``k`` (binary
        relevance, or the given relevance values)."""
        if k <= 0:
            raise ValueError(f"ranking position k should be positive, got {k}")
        return self._mean(lambda pred, lab, rel: _ndcg(pred, lab, rel, k))

    def recallAt(self, k: int) -> float:
        """The mean over queries of the share of relevant items among the
        first ``k`` predictions."""
        if k <= 0:
            raise ValueError(f"ranking position k should be positive, got {k}")
        return self._mean(lambda pred, lab, rel: (
            sum(1 for p in pred[:k] if p in lab) / len(lab) if lab else 0.0))


def _ranking(record: Any) -> tuple[list, set, dict]:
    predicted, labels = list(record[0]), list(record[1])
    relevance = dict(zip(labels, record[2])) if len(record) > 2 else {}
    return predicted, set(labels), relevance


def _average_precision(predicted: list, labels: set, k: int) -> float:
    if not labels:
        return 0.0
    hits = 0
    total = 0.0
    for i, item in enumerate(predicted[:k]):
        if item in labels:
            hits += 1
            total += hits / (i + 1)
    return total / min(len(labels), k)


def _ndcg(predicted: list, labels: set, relevance: dict, k: int) -> float:
    if not labels:
        return 0.0
    if relevance:
        gains = sorted((2.0 ** relevance.get(item, 0.0) - 1.0 for item in labels), reverse=True)
        dcg = sum((2.0 ** relevance.get(item, 0.0) - 1.0) / math.log(i + 2)
                  for i, item in enumerate(predicted[:k]) if item in labels)
        ideal = sum(gain / math.log(i + 2) for i, gain in enumerate(gains[:k]))
    else:
        dcg = sum(1.0 / math.log(i + 2) for i, item in enumerate(predicted[:k]) if item in labels)
        ideal = sum(1.0 / math.log(i + 2) for i in range(min(k, len(labels))))
    return dcg / ideal if ideal else 0.0
