"""Classification: logistic regression (gradient descent and L-BFGS), linear
SVMs, multinomial naive Bayes, and streaming logistic regression.

Owns the classification models and their trainers. Linear models train
through ``ember.mllib._glm``; labels must be the integers
0 .. numClasses - 1 (0 or 1 for the binary models), checked when the data
is read unless ``validateData=False`` (an ``InvalidDataError`` naming the
offending label, or the partition of a fractional one). Naive Bayes counts
labels and sums features per class in one ``treeAggregate``; its features
must be non-negative (the error names the partition).

Predictions over an RDD are computed a block at a time. A binary model
predicts 1 when its score (a probability for logistic regression, a margin
for SVMs) exceeds the threshold, 0 otherwise, and the score itself once the
threshold is cleared.
"""

from __future__ import annotations

import warnings
from math import exp
from typing import Any, Iterator

import numpy as np

from ember.engine.errors import InvalidDataError
from ember.mllib import _glm, _persist
from ember.mllib._blocks import is_rdd, labeled_data, map_rows
from ember.mllib.linalg import SparseVector, _convert_to_vector  # noqa: F401 - the examples use it
from ember.mllib.regression import LabeledPoint, LinearModel, StreamingLinearAlgorithm
from ember.mllib.util import Loader, Saveable, inherit_doc

__all__ = [
    "LogisticRegressionModel",
    "LogisticRegressionWithSGD",
    "LogisticRegressionWithLBFGS",
    "SVMModel",
    "SVMWithSGD",
    "NaiveBayesModel",
    "NaiveBayes",
    "StreamingLogisticRegressionWithSGD",
]


class LinearClassificationModel(LinearModel):
    """A linear model for classification, with a threshold for binary
    decisions."""

    def __init__(self, weights: Any, intercept: float):
        super().__init__(weights, intercept)
        self._threshold: float | None = None

    def setThreshold(self, value: float) -> None:
        """Set the score above which the model predicts 1 (binary only)."""
        self._threshold = value

    @property
    def threshold(self) -> float | None:
        """The threshold, or None when ``predict`` returns raw scores."""
        return self._threshold

    def clearThreshold(self) -> None:
        """Make ``predict`` return raw scores."""
        self._threshold = None

    def predict(self, test: Any) -> Any:
        """The prediction for a vector, or an RDD of them for an RDD."""
        raise NotImplementedError

    def _decide(self, scores: np.ndarray) -> Iterator:
        if self._threshold is None:
            return iter(scores)
        return iter((scores > self._threshold).astype(np.int64).tolist())


def _save_classifier(model: LinearClassificationModel, sc: Any, path: str, class_name: str,
                     num_features: int, num_classes: int) -> None:
    _persist.save(sc, path, class_name, {"numFeatures": num_features, "numClasses": num_classes},
                  [{"weights": _persist.floats(model.weights), "intercept": model.intercept,
                    "threshold": model.threshold}])


_LOGISTIC = "org.apache.spark.mllib.classification.LogisticRegressionModel"
_SVM = "org.apache.spark.mllib.classification.SVMModel"
_NAIVE_BAYES = "org.apache.spark.mllib.classification.NaiveBayesModel"


class LogisticRegressionModel(LinearClassificationModel, Saveable,
                              Loader["LogisticRegressionModel"]):
    """A binary or multinomial logistic regression model. A multinomial model
    holds ``numClasses - 1`` weight vectors (class 0 is the pivot), one after
    the other, each with the bias last when trained with an intercept.

    >>> data = [LabeledPoint(0.0, [0.0, 1.0]), LabeledPoint(1.0, [1.0, 0.0])]
    >>> lrm = LogisticRegressionWithSGD.train(sc.parallelize(data), iterations=10)
    >>> lrm.predict([1.0, 0.0]), lrm.predict([0.0, 1.0])
    (1, 0)
    >>> lrm.predict(sc.parallelize([[1.0, 0.0], [0.0, 1.0]])).collect()
    [1, 0]
    >>> lrm.clearThreshold()
    >>> round(lrm.predict([0.0, 1.0]), 3)
    0.279
    >>> import tempfile
    >>> path = tempfile.mkdtemp()
    >>> lrm.save(sc, path)
    >>> same = LogisticRegressionModel.load(sc, path)
    >>> same.weights == lrm.weights, same.threshold
    (True, None)
    >>> multi = [LabeledPoint(0.0, [0.0, 1.0, 0.0]), LabeledPoint(1.0, [1.0, 0.0, 0.0]),
    ...          LabeledPoint(2.0, [0.0, 0.0, 1.0])]
    >>> mcm = LogisticRegressionWithLBFGS.train(sc.parallelize(multi), iterations=10,
    ...                                         numClasses=3)
    >>> mcm.predict([0.0, 0.5, 0.0]), mcm.predict([0.8, 0.0, 0.0]), mcm.predict([0.0, 0.0, 0.3])
    (0, 1, 2)
    """

    def __init__(self, weights: Any, intercept: float, numFeatures: int, numClasses: int):
        super().__init__(weights, intercept)
        self._numFeatures = int(numFeatures)
        self._numClasses = int(numClasses)
        self._threshold = 0.5
        if self._numClasses == 2:
            self._dataWithBiasSize = None
            self._weightsMatrix = None
        else:
            self._dataWithBiasSize = self._coeff.size // (self._numClasses - 1)
            self._weightsMatrix = self._coeff.toArray().reshape(self._numClasses - 1,
                                                                self._dataWithBiasSize)

    @property
    def numFeatures(self) -> int:
        """The number of features."""
        return self._numFeatures

    @property
    def numClasses(self) -> int:
        """The number of classes."""
        return self._numClasses

    def predict(self, x: Any) -> Any:
        """The class (or, without threshold, the probability of class 1 for a
        binary model) of a vector, or an RDD of them for an RDD."""
        if is_rdd(x):
            return map_rows(x, self._predict_rows)
        x = _convert_to_vector(x)
        if self._numClasses == 2:
            margin = self.weights.dot(x) + self._intercept
            if margin > 0:
                prob = 1 / (1 + exp(-margin))
            else:
                exp_margin = exp(margin)
                prob = exp_margin / (1 + exp_margin)
            if self._threshold is None:
                return prob
            return 1 if prob > self._threshold else 0
        best_class, max_margin = 0, 0.0
        size = len(x)
        for i in range(self._numClasses - 1):
            row = self._weightsMatrix[i]
            margin = x.dot(row[:size]) + row[size] if size + 1 == self._dataWithBiasSize \
                else x.dot(row)
            if margin > max_margin:
                max_margin, best_class = margin, i + 1
        return best_class

    def _predict_rows(self, rows) -> Iterator:
        if self._numClasses == 2:
            margins = rows.matvec(self._coeff.toArray()) + self._intercept
            return self._decide(1.0 / (1.0 + np.exp(-margins)))
        W = self._weightsMatrix
        if rows.d + 1 == self._dataWithBiasSize:
            margins = rows.matvec(W[:, :rows.d].T) + W[:, rows.d]
        else:
            margins = rows.matvec(W.T)
        margins = np.hstack([np.zeros((rows.n, 1)), margins])
        return iter(np.argmax(margins, axis=1).tolist())

    def save(self, sc: Any, path: str) -> None:
        """Save this model to ``path``."""
        _save_classifier(self, sc, path, _LOGISTIC, self._numFeatures, self._numClasses)

    @classmethod
    def load(cls, sc: Any, path: str) -> "LogisticRegressionModel":
        """Load a model saved with ``save``."""
        metadata = _persist.load_metadata(sc, path, _LOGISTIC)
        record = _persist.load_records(sc, path)[0]
        model = cls(np.array(record["weights"]), record["intercept"], metadata["numFeatures"],
                    metadata["numClasses"])
        model._threshold = record["threshold"]
        return model

    def __repr__(self) -> str:
        return (f"pyspark.mllib.LogisticRegressionModel: intercept = {self._intercept}, "
                f"numFeatures = {self._numFeatures}, numClasses = {self._numClasses}, "
                f"threshold = {self._threshold}")


class LogisticRegressionWithSGD:
    """Binary logistic regression by mini-batch gradient descent."""

    @classmethod
    def train(cls, data: Any, iterations: int = 100, step: float = 1.0,
              miniBatchFraction: float = 1.0, initialWeights: Any = None, regParam: float = 0.01,
              regType: str | None = "l2", intercept: bool = False, validateData: bool = True,
              convergenceTol: float = 0.001) -> LogisticRegressionModel:
        """Train on an RDD of ``LabeledPoint`` with labels 0 and 1.

        >>> data = [LabeledPoint(0.0, [0.0]), LabeledPoint(2.0, [1.0])]
        >>> LogisticRegressionWithSGD.train(sc.parallelize(data))
        Traceback (most recent call last):
            ...
        ember.engine.errors.InvalidDataError: LogisticRegressionWithSGD: label 2.0 is outside the classes 0 .. 1 (numClasses=2)
        """
        warnings.warn("Deprecated in 2.0.0. Use ml.classification.LogisticRegression or "
                      "LogisticRegressionWithLBFGS.", FutureWarning)
        weights, bias, d = _glm.train_sgd(
            data, "LogisticRegressionWithSGD", "logistic", regType, iterations, step, regParam,
            miniBatchFraction, initialWeights, intercept, validateData, convergenceTol,
            binary=True)
        return LogisticRegressionModel(weights, bias, d, 2)


class LogisticRegressionWithLBFGS:
    """Binary or multinomial logistic regression by L-BFGS, with standardised
    features and (by default) an L2 penalty."""

    @classmethod
    def train(cls, data: Any, iterations: int = 100, initialWeights: Any = None,
              regParam: float = 0.0, regType: str | None = "l2", intercept: bool = False,
              corrections: int = 10, tolerance: float = 1e-6, validateData: bool = True,
              numClasses: int = 2) -> LogisticRegressionModel:
        """Train on an RDD of ``LabeledPoint`` with labels 0 .. numClasses - 1.

        >>> data = [LabeledPoint(0.0, [0.0, 1.0]), LabeledPoint(1.0, [1.0, 0.0])]
        >>> lrm = LogisticRegressionWithLBFGS.train(sc.parallelize(data), iterations=10)
        >>> lrm.predict([1.0, 0.0]), lrm.predict([0.0, 1.0])
        (1, 0)
        >>> LogisticRegressionWithLBFGS.train(sc.parallelize(data), regType="l3")
        Traceback (most recent call last):
            ...
        ValueError: Invalid value for 'regType' parameter: 'l3'. Can only be initialized using the following string values: ['l1', 'l2', None].
        """
        weights, bias, d = _glm.train_logistic_lbfgs(
            data, iterations, initialWeights, regParam, regType, intercept, corrections,
            tolerance, validateData, numClasses)
        return LogisticRegressionModel(weights, bias, d, numClasses)


class SVMModel(LinearClassificationModel, Saveable, Loader["SVMModel"]):
    """A linear support vector machine: predicts 1 when the margin
    ``weights . x + intercept`` exceeds the threshold (0.0 by default).

    >>> data = [LabeledPoint(0.0, [0.0]), LabeledPoint(1.0, [1.0]),
    ...         LabeledPoint(1.0, [2.0]), LabeledPoint(1.0, [3.0])]
    >>> svm = SVMWithSGD.train(sc.parallelize(data), iterations=10)
    >>> svm.predict([1.0]), svm.predict(sc.parallelize([[1.0]])).collect()
    (1, [1])
    >>> svm.clearThreshold()
    >>> round(float(svm.predict(np.array([1.0]))), 2)
    1.44
    """

    def __init__(self, weights: Any, intercept: float):
        super().__init__(weights, intercept)
        self._threshold = 0.0

    def predict(self, x: Any) -> Any:
        """The class (or, without threshold, the margin) of a vector, or an
        RDD of them for an RDD."""
        if is_rdd(x):
            return map_rows(x, lambda rows: self._decide(self._margins(rows)),
                            len(self._coeff))
        margin = self.weights.dot(_convert_to_vector(x)) + self.intercept
        if self._threshold is None:
            return margin
        return 1 if margin > self._threshold else 0

    def save(self, sc: Any, path: str) -> None:
        """Save this model to ``path``."""
        _save_classifier(self, sc, path, _SVM, len(self.weights), 2)

    @classmethod
    def load(cls, sc: Any, path: str) -> "SVMModel":
        """Load a model saved with ``save``."""
        _persist.load_metadata(sc, path, _SVM)
        record = _persist.load_records(sc, path)[0]
        model = cls(np.array(record["weights"]), record["intercept"])
        model._threshold = record["threshold"]
        return model


class SVMWithSGD:
    """A linear SVM (hinge loss) by mini-batch gradient descent."""

    @classmethod
    def train(cls, data: Any, iterations: int = 100, step: float = 1.0, regParam: float = 0.01,
              miniBatchFraction: float = 1.0, initialWeights: Any = None,
              regType: str | None = "l2", intercept: bool = False, validateData: bool = True,
              convergenceTol: float = 0.001) -> SVMModel:
        """Train on an RDD of ``LabeledPoint`` with labels 0 and 1.

        >>> data = [LabeledPoint(0.0, SparseVector(2, {0: -1.0})),
        ...         LabeledPoint(1.0, SparseVector(2, {1: 1.0}))]
        >>> svm = SVMWithSGD.train(sc.parallelize(data), iterations=10)
        >>> svm.predict(SparseVector(2, {1: 1.0})), svm.predict(SparseVector(2, {0: -1.0}))
        (1, 0)
        """
        weights, bias, _ = _glm.train_sgd(
            data, "SVMWithSGD", "hinge", regType, iterations, step, regParam, miniBatchFraction,
            initialWeights, intercept, validateData, convergenceTol, binary=True)
        return SVMModel(weights, bias)


@inherit_doc
class NaiveBayesModel(Saveable, Loader["NaiveBayesModel"]):
    """A multinomial naive Bayes model: ``labels``, their log priors ``pi``
    and the log probabilities ``theta`` of each feature per label.

    >>> data = [LabeledPoint(0.0, [0.0, 0.0]), LabeledPoint(0.0, [0.0, 1.0]),
    ...         LabeledPoint(1.0, [1.0, 0.0])]
    >>> model = NaiveBayes.train(sc.parallelize(data))
    >>> float(model.predict(np.array([0.0, 1.0]))), float(model.predict([1.0, 0.0]))
    (0.0, 1.0)
    >>> list(map(float, model.predict(sc.parallelize([[1.0, 0.0]])).collect()))
    [1.0]
    >>> import tempfile
    >>> path = tempfile.mkdtemp()
    >>> model.save(sc, path)
    >>> same = NaiveBayesModel.load(sc, path)
    >>> bool((same.theta == model.theta).all())
    True
    """

    def __init__(self, labels: np.ndarray, pi: np.ndarray, theta: np.ndarray):
        self.labels = labels
        self.pi = pi
        self.theta = theta

    def predict(self, x: Any) -> Any:
        """The most likely label of a vector, or an RDD of them for an RDD."""
        if is_rdd(x):
            return map_rows(x, lambda rows: iter(self.labels[np.argmax(
                self.pi + rows.matvec(self.theta.T), axis=1)]), self.theta.shape[1])
        x = _convert_to_vector(x)
        return self.labels[np.argmax(self.pi + x.dot(self.theta.transpose()))]

    def save(self, sc: Any, path: str) -> None:
        """Save this model to ``path``."""
        _persist.save(sc, path, _NAIVE_BAYES,
                      {"numFeatures": int(self.theta.shape[1]), "numClasses": len(self.labels)},
                      [{"labels": _persist.floats(self.labels), "pi": _persist.floats(self.pi),
                        "theta": [_persist.floats(row) for row in self.theta],
                        "modelType": "multinomial"}])

    @classmethod
    def load(cls, sc: Any, path: str) -> "NaiveBayesModel":
        """Load a model saved with ``save``."""
        _persist.load_metadata(sc, path, _NAIVE_BAYES)
        record = _persist.load_records(sc, path)[0]
        return cls(np.array(record["labels"]), np.array(record["pi"]),
                   np.array(record["theta"]).reshape(len(record["labels"]), -1))


def _class_sums(partition: int, blocks: Iterator) -> dict | None:
    """Per label: (count, feature sums) over a partition's blocks."""
    sums: dict = {}
    for block in blocks:
        rows = block.rows
        values = rows.data if hasattr(rows, "data") else rows.X
        if values.size and values.min() < 0:
            raise InvalidDataError(
                f"Naive Bayes requires nonnegative feature values but found "
                f"{float(values.min())} in partition {partition}")
        for label in np.unique(block.labels):
            mask = block.labels == label
            count, total = sums.get(float(label), (0.0, 0.0))
            sums[float(label)] = (count + float(mask.sum()),
                                  total + rows.take(mask).column_sums())
    return sums or None


def _merge_class_sums(left: dict, right: dict) -> dict:
    merged = dict(left)
    for label, (count, total) in right.items():
        if label in merged:
            merged[label] = (merged[label][0] + count, merged[label][1] + total)
        else:
            merged[label] = (count, total)
    return merged


class NaiveBayes:
    """Multinomial naive Bayes (also Bernoulli naive Bayes on 0/1 features)."""

    @classmethod
    def train(cls, data: Any, lambda_: float = 1.0) -> NaiveBayesModel:
        """Train on an RDD of ``LabeledPoint`` with non-negative features;
        ``lambda_`` is the additive smoothing.

        >>> from ember.engine.errors import InvalidDataError
        >>> bad = [LabeledPoint(0.0, [1.0]), LabeledPoint(1.0, [-1.0])]
        >>> try:
        ...     NaiveBayes.train(sc.parallelize(bad, 2))
        ... except InvalidDataError as error:
        ...     print(error)
        Naive Bayes requires nonnegative feature values but found -1.0 in partition 1
        """
        _glm.check_nonnegative("lambda_", lambda_)
        first = data.first()
        if not isinstance(first, LabeledPoint):
            raise ValueError("`data` should be an RDD of LabeledPoint")
        blocked = labeled_data(data)
        try:
            sums = blocked.aggregate_partitions(_class_sums, _merge_class_sums)
        finally:
            blocked.unpersist()
        labels = np.array(sorted(sums))
        counts = np.array([sums[label][0] for label in labels])
        totals = np.vstack([sums[label][1] for label in labels])
        n, k, d = counts.sum(), len(labels), totals.shape[1]
        pi = np.log(counts + lambda_) - np.log(n + k * lambda_)
        theta = np.log(totals + lambda_) - np.log(totals.sum(axis=1, keepdims=True) + d * lambda_)
        return NaiveBayesModel(labels, pi, theta)


@inherit_doc
class StreamingLogisticRegressionWithSGD(StreamingLinearAlgorithm):
    """Binary logistic regression refined on every batch of a stream of
    labelled points by gradient descent from the previous weights.

    >>> class Batches:  # any stream with foreachRDD and map
    ...     def __init__(self, rdds): self.rdds = rdds
    ...     def foreachRDD(self, f): [f(rdd) for rdd in self.rdds]
    ...     def map(self, f): return Batches([rdd.map(f) for rdd in self.rdds])
    >>> batch = sc.parallelize([LabeledPoint(1.0, [1.0]), LabeledPoint(0.0, [-1.0])])
    >>> slr = StreamingLogisticRegressionWithSGD(stepSize=1.0).setInitialWeights([0.0])
    >>> slr.trainOn(Batches([batch, batch]))
    >>> slr.latestModel().predict([1.0]), slr.latestModel().predict([-1.0])
    (1, 0)
    """

    def __init__(self, stepSize: float = 0.1, numIterations: int = 50,
                 miniBatchFraction: float = 1.0, regParam: float = 0.0,
                 convergenceTol: float = 0.001):
        self.stepSize = stepSize
        self.numIterations = numIterations
        self.regParam = regParam
        self.miniBatchFraction = miniBatchFraction
        self.convergenceTol = convergenceTol
        self._model = None
        super().__init__(model=self._model)

    def setInitialWeights(self, initialWeights: Any) -> "StreamingLogisticRegressionWithSGD":
        """Set the starting weights (required before trainOn and predictOn)."""
        initialWeights = _convert_to_vector(initialWeights)
        self._model = LogisticRegressionModel(initialWeights, 0, len(initialWeights), 2)
        return self

    def trainOn(self, dstream: Any) -> None:
        """Refine the model with every (non-empty) batch of the stream."""
        self._train_on(dstream, lambda rdd: LogisticRegressionWithSGD.train(
            rdd, self.numIterations, self.stepSize, self.miniBatchFraction, self._model.weights,
            regParam=self.regParam, convergenceTol=self.convergenceTol))
