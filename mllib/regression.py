"""Regression: labelled points, linear models trained by gradient descent,
isotonic regression, and their streaming variants.

Owns ``LabeledPoint``, ``LinearModel`` and the linear regression models
(plain, ridge, lasso) with their ``*WithSGD`` trainers, ``IsotonicRegression``
and ``StreamingLinearRegressionWithSGD``. Training is
``ember.mllib._glm`` over cached blocks; predictions over an RDD are computed
a block at a time (one matrix product per 4,096 rows).

Isotonic regression is MLlib's parallel pool-adjacent-violators: the points
are range-partitioned by feature, each partition pools its sorted points
(equal features merged into their weighted mean first), and the driver
pools the partitions' pooled blocks again; only block ends travel to the
driver. Predictions interpolate linearly between boundaries.

Streaming trainers work on any stream offering ``foreachRDD`` and ``map``
(a DStream): each batch's RDD refines the model from the previous weights.
"""

from __future__ import annotations

import warnings
from typing import Any, Iterator

import numpy as np

from ember.engine.errors import InvalidDataError
from ember.mllib import _glm, _persist
from ember.mllib._blocks import is_rdd, map_rows
from ember.mllib.linalg import SparseVector, Vector, _convert_to_vector  # noqa: F401 - examples
from ember.mllib.util import Loader, Saveable, inherit_doc

__all__ = [
    "LabeledPoint",
    "LinearModel",
    "LinearRegressionModel",
    "LinearRegressionWithSGD",
    "RidgeRegressionModel",
    "RidgeRegressionWithSGD",
    "LassoModel",
    "LassoWithSGD",
    "IsotonicRegressionModel",
    "IsotonicRegression",
    "StreamingLinearAlgorithm",
    "StreamingLinearRegressionWithSGD",
]



class LabeledPoint:
    """A label and its feature vector (anything convertible to a Vector).

    >>> p = LabeledPoint(1, [0.5, 2])
    >>> p
    LabeledPoint(1.0, [0.5,2.0])
    >>> p.label, p.features
    (1.0, DenseVector([0.5, 2.0]))
    >>> print(LabeledPoint(0, SparseVector(3, {1: 4.0})))
    (0.0,(3,[1],[4.0]))
    """

    def __init__(self, label: float, features: Any):
        self.label = float(label)
        self.features = _convert_to_vector(features)

    def __reduce__(self):
        return LabeledPoint, (self.label, self.features)

    def __str__(self) -> str:
        return f"({self.label},{self.features})"

    def __repr__(self) -> str:
        return f"LabeledPoint({self.label}, {self.features})"


class LinearModel:
    """A linear model: a weight per feature and an intercept.

    >>> LinearModel([1.0, 2.0], 0.5)
    (weights=[1.0,2.0], intercept=0.5)
    """

    def __init__(self, weights: Any, intercept: float):
        self._coeff = _convert_to_vector(weights)
        self._intercept = float(intercept)

    @property
    def weights(self) -> Vector:
        """The weight of every feature."""
        return self._coeff

    @property
    def intercept(self) -> float:
        """The intercept."""
        return self._intercept

    def __repr__(self) -> str:
        return f"(weights={self._coeff}, intercept={self._intercept!r})"

    def _margins(self, rows) -> np.ndarray:
        return rows.matvec(self._coeff.toArray()) + self._intercept


@inherit_doc
class LinearRegressionModelBase(LinearModel):
    """A linear regression model: the prediction is ``weights . x + intercept``.

    >>> model = LinearRegressionModelBase(np.array([1.0, 2.0]), 0.1)
    >>> bool(abs(model.predict(np.array([-1.03, 7.777])) - 14.624) < 1e-6)
    True
    >>> bool(abs(model.predict(SparseVector(2, {0: -1.03, 1: 7.777})) - 14.624) < 1e-6)
    True
    >>> [round(float(p), 3) for p in model.predict(sc.parallelize([[1.0, 1.0], [0.0, 2.0]])).collect()]
    [3.1, 4.1]
    """

    def predict(self, x: Any) -> Any:
        """The prediction for a vector, or an RDD of predictions for an RDD of vectors."""
        if is_rdd(x):
            return map_rows(x, lambda rows: iter(self._margins(rows)), len(self._coeff))
        return self._coeff.dot(_convert_to_vector(x)) + self._intercept


def _save_linear(model: LinearModel, sc: Any, path: str, class_name: str, **params) -> None:
    _persist.save(sc, path, class_name, {"numFeatures": len(model.weights), **params},
                  [{"weights": _persist.floats(model.weights), "intercept": model.intercept}])


def _load_linear(sc: Any, path: str, class_name: str) -> tuple[dict, np.ndarray, float]:
    metadata = _persist.load_metadata(sc, path, class_name)
    record = _persist.load_records(sc, path)[0]
    return metadata, np.array(record["weights"]), float(record["intercept"])


_LINEAR = "org.apache.spark.mllib.regression.LinearRegressionModel"
_RIDGE = "org.apache.spark.mllib.regression.RidgeRegressionModel"
_LASSO = "org.apache.spark.mllib.regression.LassoModel"


@inherit_doc
class LinearRegressionModel(LinearRegressionModelBase, Saveable, Loader["LinearRegressionModel"]):
    """A linear regression model fitted by least squares.

    >>> data = [LabeledPoint(0.0, [0.0]), LabeledPoint(1.0, [1.0]),
    ...         LabeledPoint(3.0, [2.0]), LabeledPoint(2.0, [3.0])]
    >>> lrm = LinearRegressionWithSGD.train(sc.parallelize(data), iterations=10,
    ...                                     initialWeights=np.array([1.0]))
    >>> bool(abs(lrm.predict(np.array([1.0])) - 1) < 0.5)
    True
    >>> import os, tempfile
    >>> path = tempfile.mkdtemp()
    >>> lrm.save(sc, path)
    >>> LinearRegressionModel.load(sc, path).weights == lrm.weights
    True
    """

    def save(self, sc: Any, path: str) -> None:
        """Save this model to ``path``."""
        _save_linear(self, sc, path, _LINEAR)

    @classmethod
    def load(cls, sc: Any, path: str) -> "LinearRegressionModel":
        """Load a model saved with ``save``."""
        _, weights, intercept = _load_linear(sc, path, _LINEAR)
        return cls(weights, intercept)


def _train_regression(cls, data, what, iterations, step, mini_batch_fraction, initial_weights,
                      reg_param, reg_type, intercept, validate_data, convergence_tol):
    weights, bias, _ = _glm.train_sgd(
        data, what, "leastSquares", reg_type, iterations, step, reg_param, mini_batch_fraction,
        initial_weights, intercept, validate_data, convergence_tol, binary=False)
    return cls(weights, bias)


class LinearRegressionWithSGD:
    """Least-squares linear regression by mini-batch gradient descent,
    minimising ``1/(2n) ||A w - y||^2`` (plus the chosen penalty)."""

    @classmethod
    def train(cls, data: Any, iterations: int = 100, step: float = 1.0,
              miniBatchFraction: float = 1.0, initialWeights: Any = None, regParam: float = 0.0,
              regType: str | None = None, intercept: bool = False, validateData: bool = True,
              convergenceTol: float = 0.001) -> LinearRegressionModel:
        """Train on an RDD of ``LabeledPoint``. ``step`` shrinks as
        ``step / sqrt(t)``; ``regType`` is ``"l1"``, ``"l2"`` or None; with
        ``intercept`` a bias feature (starting at 1.0) is fitted too.

        >>> data = sc.parallelize([LabeledPoint(2 * x + 1, [x]) for x in np.linspace(-1, 1, 50)])
        >>> model = LinearRegressionWithSGD.train(data, iterations=100, step=1.0,
        ...                                       intercept=True, convergenceTol=0.0)
        >>> bool(abs(model.weights[0] - 2.0) < 0.2), bool(abs(model.intercept - 1.0) < 0.2)
        (True, True)
        """
        warnings.warn("Deprecated in 2.0.0. Use ml.regression.LinearRegression.", FutureWarning)
        return _train_regression(LinearRegressionModel, data, "LinearRegressionWithSGD",
                                 iterations, step, miniBatchFraction, initialWeights, regParam,
                                 regType, intercept, validateData, convergenceTol)


@inherit_doc
class LassoModel(LinearRegressionModelBase, Saveable, Loader["LassoModel"]):
    """A linear regression model fitted by least squares with an L1 penalty.

    >>> data = [LabeledPoint(0.0, [0.0]), LabeledPoint(1.0, [1.0]),
    ...         LabeledPoint(3.0, [2.0]), LabeledPoint(2.0, [3.0])]
    >>> lrm = LassoWithSGD.train(sc.parallelize(data), iterations=10,
    ...                          initialWeights=np.array([1.0]))
    >>> bool(abs(lrm.predict(np.array([1.0])) - 1) < 0.5)
    True
    """

    def save(self, sc: Any, path: str) -> None:
        """Save this model to ``path``."""
        _save_linear(self, sc, path, _LASSO)

    @classmethod
    def load(cls, sc: Any, path: str) -> "LassoModel":
        """Load a model saved with ``save``."""
        _, weights, intercept = _load_linear(sc, path, _LASSO)
        return cls(weights, intercept)


class LassoWithSGD:
    """Linear regression with an L1 penalty by mini-batch gradient descent,
    minimising ``1/(2n) ||A w - y||^2 + regParam ||w||_1``."""

    @classmethod
    def train(cls, data: Any, iterations: int = 100, step: float = 1.0, regParam: float = 0.01,
              miniBatchFraction: float = 1.0, initialWeights: Any = None,
              intercept: bool = False, validateData: bool = True,
              convergenceTol: float = 0.001) -> LassoModel:
        """Train on an RDD of ``LabeledPoint`` (see ``LinearRegressionWithSGD``)."""
        warnings.warn(
            "Deprecated in 2.0.0. Use ml.regression.LinearRegression with elasticNetParam = 1.0. "
            "Note the default regParam is 0.01 for LassoWithSGD, but is 0.0 for LinearRegression.",
            FutureWarning)
        return _train_regression(LassoModel, data, "LassoWithSGD", iterations, step,
                                 miniBatchFraction, initialWeights, regParam, "l1", intercept,
                                 validateData, convergenceTol)


@inherit_doc
class RidgeRegressionModel(LinearRegressionModelBase, Saveable, Loader["RidgeRegressionModel"]):
    """A linear regression model fitted by least squares with an L2 penalty.

    >>> data = [LabeledPoint(0.0, [0.0]), LabeledPoint(1.0, [1.0]),
    ...         LabeledPoint(3.0, [2.0]), LabeledPoint(2.0, [3.0])]
    >>> lrm = RidgeRegressionWithSGD.train(sc.parallelize(data), iterations=10,
    ...                                    initialWeights=np.array([1.0]))
    >>> bool(abs(lrm.predict(np.array([1.0])) - 1) < 0.5)
    True
    """

    def save(self, sc: Any, path: str) -> None:
        """Save this model to ``path``."""
        _save_linear(self, sc, path, _RIDGE)

    @classmethod
    def load(cls, sc: Any, path: str) -> "RidgeRegressionModel":
        """Load a model saved with ``save``."""
        _, weights, intercept = _load_linear(sc, path, _RIDGE)
        return cls(weights, intercept)


class RidgeRegressionWithSGD:
    """Linear regression with an L2 penalty by mini-batch gradient descent,
    minimising ``1/(2n) ||A w - y||^2 + regParam/2 ||w||^2``."""

    @classmethod
    def train(cls, data: Any, iterations: int = 100, step: float = 1.0, regParam: float = 0.01,
              miniBatchFraction: float = 1.0, initialWeights: Any = None,
              intercept: bool = False, validateData: bool = True,
              convergenceTol: float = 0.001) -> RidgeRegressionModel:
        """Train on an RDD of ``LabeledPoint`` (see ``LinearRegressionWithSGD``)."""
        warnings.warn(
            "Deprecated in 2.0.0. Use ml.regression.LinearRegression with elasticNetParam = 0.0. "
            "Note the default regParam is 0.01 for RidgeRegressionWithSGD, but is 0.0 for "
            "LinearRegression.", FutureWarning)
        return _train_regression(RidgeRegressionModel, data, "RidgeRegressionWithSGD",
                                 iterations, step, miniBatchFraction, initialWeights, regParam,
                                 "l2", intercept, validateData, convergenceTol)


# --- isotonic regression ----------------------------------------------------------


def _make_unique(points: np.ndarray) -> np.ndarray:
    """Points (label, feature, weight) sorted by feature, zero weights
    dropped, equal features merged into their weighted mean label."""
    if len(points) and (points[:, 2] < 0).any():
        y, x, w = points[np.argmax(points[:, 2] < 0)]
        raise InvalidDataError(f"Negative weight at point ({y}, {x}, {w}). Weights must be "
                               f"non-negative")
    points = points[points[:, 2] > 0]
    if len(points) <= 1:
        return points
    features, starts = np.unique(points[:, 1], return_index=True)
    weights = np.add.reduceat(points[:, 2], starts)
    sums = np.add.reduceat(points[:, 0] * points[:, 2], starts)
    return np.column_stack([sums / weights, features, weights])


def _pool(points: np.ndarray) -> np.ndarray:
    """Pool adjacent violators over unique sorted points; each pooled block
    is returned as its ends (with half its weight each) or its one point."""
    blocks: list[list[float]] = []  # [weight, weighted sum, first index, last index]
    for i, (y, _, w) in enumerate(points):
        blocks.append([w, w * y, i, i])
        while len(blocks) > 1 and blocks[-2][1] / blocks[-2][0] >= blocks[-1][1] / blocks[-1][0]:
            last = blocks.pop()
            blocks[-1][0] += last[0]
            blocks[-1][1] += last[1]
            blocks[-1][3] = last[3]
    out = []
    for weight, total, first, last in blocks:
        value = total / weight
        if points[first, 1] == points[last, 1]:
            out.append((value, points[first, 1], weight))
        else:
            out.append((value, points[first, 1], weight / 2))
            out.append((value, points[last, 1], weight / 2))
    return np.array(out).reshape(-1, 3)


def _pool_partition(records: Iterator) -> Iterator:
    points = np.array(list(records), dtype=np.float64).reshape(-1, 3)
    if len(points):
        order = np.lexsort((points[:, 0], points[:, 1]))
        yield _pool(_make_unique(points[order]))


def _as_triple(value: Any) -> tuple[float, float, float]:
    values = _convert_to_vector(value).toArray()
    if len(values) != 3:
        raise InvalidDataError(f"isotonic regression takes (label, feature, weight) triples, "
                               f"got {len(values)} values: {value!r}")
    return float(values[0]), float(values[1]), float(values[2])


class IsotonicRegressionModel(Saveable, Loader["IsotonicRegressionModel"]):
    """A piecewise linear, monotone model: predictions at ``boundaries``,
    interpolated between them and constant beyond them.

    >>> data = [(1, 0, 1), (2, 1, 1), (3, 2, 1), (1, 3, 1), (6, 4, 1), (17, 5, 1), (16, 6, 1)]
    >>> irm = IsotonicRegression.train(sc.parallelize(data))
    >>> float(irm.predict(3)), float(irm.predict(5))
    (2.0, 16.5)
    >>> list(map(float, irm.predict(sc.parallelize([3, 5])).collect()))
    [2.0, 16.5]
    >>> import tempfile
    >>> path = tempfile.mkdtemp()
    >>> irm.save(sc, path)
    >>> float(IsotonicRegressionModel.load(sc, path).predict(5))
    16.5
    """

    def __init__(self, boundaries: np.ndarray, predictions: np.ndarray, isotonic: bool):
        self.boundaries = boundaries
        self.predictions = predictions
        self.isotonic = isotonic

    def predict(self, x: Any) -> Any:
        """The prediction for a feature value (or each value of a vector, or
        of an RDD): the prediction at an equal boundary, interpolated
        between boundaries, the first or last one outside them."""
        if is_rdd(x):
            return x.map(lambda v: self.predict(v))
        return np.interp(x, self.boundaries, self.predictions)

    def save(self, sc: Any, path: str) -> None:
        """Save this model to ``path``."""
        _persist.save(sc, path, "org.apache.spark.mllib.regression.IsotonicRegressionModel",
                      {"isotonic": bool(self.isotonic)},
                      [{"boundary": float(b), "prediction": float(p)}
                       for b, p in zip(self.boundaries, self.predictions)])

    @classmethod
    def load(cls, sc: Any, path: str) -> "IsotonicRegressionModel":
        """Load a model saved with ``save``."""
        metadata = _persist.load_metadata(
            sc, path, "org.apache.spark.mllib.regression.IsotonicRegressionModel")
        records = sorted(_persist.load_records(sc, path), key=lambda r: r["boundary"])
        return cls(np.array([r["boundary"] for r in records]),
                   np.array([r["prediction"] for r in records]), metadata["isotonic"])


class IsotonicRegression:
    """Isotonic (or antitonic) regression of one feature, by parallel pool
    adjacent violators."""

    @classmethod
    def train(cls, data: Any, isotonic: bool = True) -> IsotonicRegressionModel:
        """Train on an RDD of ``(label, feature, weight)`` triples.

        >>> model = IsotonicRegression.train(sc.parallelize([(3, 1, 1), (2, 2, 1), (1, 3, 1)]),
        ...                                  isotonic=False)
        >>> model.predictions.tolist(), model.boundaries.tolist()
        ([3.0, 2.0, 1.0], [1.0, 2.0, 3.0])
        """
        if not is_rdd(data):
            raise TypeError(f"data should be an RDD of (label, feature, weight), got "
                            f"{type(data).__name__}")
        sign = 1.0 if isotonic else -1.0
        triples = data.map(_as_triple).map(lambda t: (sign * t[0], t[1], t[2]))
        pooled = (triples.sortBy(lambda t: t[1], numPartitions=data.getNumPartitions())
                  .mapPartitions(_pool_partition).collect())
        points = np.vstack(pooled) if pooled else np.zeros((0, 3))
        order = np.lexsort((points[:, 0], points[:, 1]))
        result = _pool(_make_unique(points[order]))
        return IsotonicRegressionModel(result[:, 1].copy(), sign * result[:, 0],
                                       bool(isotonic))


# --- streaming ----------------------------------------------------------------


def _check_stream(dstream: Any, model: Any, what: str = "Model") -> None:
    if not (hasattr(dstream, "foreachRDD") and hasattr(dstream, "map")):
        raise TypeError(f"dstream should be a DStream object, got {type(dstream)}")
    if not model:
        raise ValueError(f"{what} must be initialized using setInitialWeights")


class StreamingLinearAlgorithm:
    """Base of the streaming linear trainers: predictions on a stream with
    the latest model."""

    def __init__(self, model: Any):
        self._model = model

    def latestModel(self) -> Any:
        """The model as trained on the batches seen so far."""
        return self._model

    def _validate(self, dstream: Any) -> None:
        _check_stream(dstream, self._model)

    def predictOn(self, dstream: Any) -> Any:
        """A stream of predictions for a stream of vectors (each batch uses
        the model current when it runs)."""
        self._validate(dstream)
        return dstream.map(lambda x: self._model.predict(x))

    def predictOnValues(self, dstream: Any) -> Any:
        """A stream of ``(key, prediction)`` for a stream of ``(key, vector)``."""
        self._validate(dstream)
        return dstream.mapValues(lambda x: self._model.predict(x))

    def _train_on(self, dstream: Any, retrain) -> None:
        """Replace the model by ``retrain(rdd)`` for every non-empty batch."""
        self._validate(dstream)

        def update(rdd: Any) -> None:
            if not rdd.isEmpty():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", FutureWarning)  # the SGD trainers
                    self._model = retrain(rdd)

        dstream.foreachRDD(update)


@inherit_doc
class StreamingLinearRegressionWithSGD(StreamingLinearAlgorithm):
    """Linear regression refined on every batch of a stream of labelled
    points by gradient descent from the previous weights.

    >>> class Batches:  # any stream with foreachRDD and map
    ...     def __init__(self, rdds): self.rdds = rdds
    ...     def foreachRDD(self, f): [f(rdd) for rdd in self.rdds]
    ...     def map(self, f): return Batches([rdd.map(f) for rdd in self.rdds])
    >>> batch = sc.parallelize([LabeledPoint(2 * x, [x]) for x in np.linspace(0, 1, 20)])
    >>> slr = StreamingLinearRegressionWithSGD(stepSize=1.0, numIterations=50)
    >>> slr = slr.setInitialWeights([0.0])
    >>> slr.trainOn(Batches([batch, batch, batch]))
    >>> round(float(slr.latestModel().weights[0]), 1)
    2.0
    """

    def __init__(self, stepSize: float = 0.1, numIterations: int = 50,
                 miniBatchFraction: float = 1.0, convergenceTol: float = 0.001):
        self.stepSize = stepSize
        self.numIterations = numIterations
        self.miniBatchFraction = miniBatchFraction
        self.convergenceTol = convergenceTol
        self._model = None
        super().__init__(model=self._model)

    def setInitialWeights(self, initialWeights: Any) -> "StreamingLinearRegressionWithSGD":
        """Set the starting weights (required before trainOn and predictOn)."""
        self._model = LinearRegressionModel(_convert_to_vector(initialWeights), 0)
        return self

    def trainOn(self, dstream: Any) -> None:
        """Refine the model with every (non-empty) batch of the stream."""
        # the previous intercept goes in as the intercept flag, as PySpark passes it
        self._train_on(dstream, lambda rdd: LinearRegressionWithSGD.train(
            rdd, self.numIterations, self.stepSize, self.miniBatchFraction, self._model.weights,
            intercept=self._model.intercept, convergenceTol=self.convergenceTol))
