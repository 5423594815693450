"""Clustering: k-means, bisecting k-means, Gaussian mixtures, power
iteration clustering, LDA, and streaming k-means.

Owns the public models and trainers; the algorithms are in
``ember.mllib._kmeans``, ``_bisecting``, ``_gmm``, ``_pic`` and ``_lda``.
Parameters are checked before any job runs (``k``, iteration counts,
initialisation mode, distance measure, an initial model's size); the data
is read once into cached numpy blocks, and ``k`` larger than the number of
points is an ``InvalidDataError`` once they are counted.

Streaming k-means updates its model with each batch of any stream that
offers ``foreachRDD`` and ``map`` (a DStream): MLlib's rule,
``c' = (c n a + x m) / (n a + m)`` and ``n' = n a + m`` per center, with the
decay ``a`` applied per batch or per point, and a center that has lost
almost all its weight split off the heaviest one.
"""

from __future__ import annotations

import array as pyarray
import random
from collections import namedtuple
from math import exp, log
from typing import Any, Iterator

import numpy as np
from numpy import array, tile

from ember.engine.errors import InvalidDataError
from ember.mllib import _bisecting, _glm, _gmm, _kmeans, _lda, _persist, _pic
from ember.mllib._blocks import is_rdd, map_rows, vector_data
from ember.mllib.linalg import (DenseMatrix, DenseVector, SparseVector,  # noqa: F401
                                _convert_to_vector)
from ember.mllib.stat.distribution import MultivariateGaussian
from ember.mllib.util import DetachedContext, Loader, Saveable, inherit_doc

__all__ = [
    "BisectingKMeansModel",
    "BisectingKMeans",
    "KMeansModel",
    "KMeans",
    "GaussianMixtureModel",
    "GaussianMixture",
    "PowerIterationClusteringModel",
    "PowerIterationClustering",
    "StreamingKMeans",
    "StreamingKMeansModel",
    "LDA",
    "LDAModel",
]


def _random_seed(seed: int | None) -> int:
    return random.getrandbits(63) if seed is None else int(seed)


def _check_k_against(data, k: int, what: str) -> None:
    if data.n == 0:
        data.unpersist()
        raise InvalidDataError(f"{what}: the RDD is empty, there is nothing to cluster")
    if k > data.n:
        n = data.n
        data.unpersist()
        raise InvalidDataError(f"{what}: k={k} is larger than the {n} points of the data")


def _center_arrays(centers: Any) -> np.ndarray:
    return np.vstack([_convert_to_vector(c).toArray() for c in centers])


@inherit_doc
class BisectingKMeansModel(Saveable, Loader["BisectingKMeansModel"]):
    """A model from bisecting k-means: a tree of clusters whose leaves are
    the ``k`` clusters.

    >>> data = array([0.0, 0.0, 1.0, 1.0, 9.0, 8.0, 8.0, 9.0]).reshape(4, 2)
    >>> model = BisectingKMeans().train(sc.parallelize(data, 2), k=4)
    >>> p = array([0.0, 0.0])
    >>> model.predict(p), model.k, model.computeCost(p)
    (0, 4, 0.0)
    >>> model.predict(sc.parallelize(data, 2)).collect()
    [0, 1, 2, 3]
    """

    def __init__(self, root: Any):
        self._root = root
        self.centers = [leaf.center for leaf in root.leaves()]

    @property
    def clusterCenters(self) -> list[np.ndarray]:
        """The leaf centers, as numpy arrays."""
        return self.centers

    @property
    def k(self) -> int:
        """The number of leaf clusters."""
        return len(self.centers)

    def predict(self, x: Any) -> Any:
        """The leaf cluster of a point, or an RDD of them for an RDD."""
        if is_rdd(x):
            return map_rows(x, lambda rows: iter(self._root.predict_rows(rows)[0].tolist()))
        rows = _single_row(x)
        return int(self._root.predict_rows(rows)[0][0])

    def computeCost(self, x: Any) -> float:
        """The sum of squared distances of the point(s) to their leaf centers."""
        if is_rdd(x):
            return float(map_rows(x, lambda rows: iter([self._root.predict_rows(rows)[1].sum()]))
                         .sum())
        return float(self._root.predict_rows(_single_row(x))[1][0])

    def save(self, sc: Any, path: str) -> None:
        """Save this model to ``path``."""
        _persist.save(sc, path, "org.apache.spark.mllib.clustering.BisectingKMeansModel",
                      {"rootId": self._root.index, "distanceMeasure": "euclidean"},
                      self._root.to_records())

    @classmethod
    def load(cls, sc: Any, path: str) -> "BisectingKMeansModel":
        """Load a model saved with ``save``."""
        _persist.load_metadata(sc, path, "org.apache.spark.mllib.clustering.BisectingKMeansModel")
        return cls(_bisecting.ClusteringTreeNode.from_records(_persist.load_records(sc, path)))


def _single_row(x: Any):
    from ember.mllib._blocks import DenseRows, rows_from_vectors

    vector = _convert_to_vector(x)
    if isinstance(vector, SparseVector):
        return rows_from_vectors([vector], 0, 0, None)
    return DenseRows(vector.toArray()[None, :])


class BisectingKMeans:
    """Bisecting k-means (Steinbach, Karypis and Kumar, as MLlib adapts it):
    start from one cluster and split divisible leaves with 2-means, level by
    level, until there are ``k`` leaves or none is divisible."""

    @classmethod
    def train(cls, rdd: Any, k: int = 4, maxIterations: int = 20,
              minDivisibleClusterSize: float = 1.0,
              seed: int = -1888008604) -> BisectingKMeansModel:
        """Train on an RDD of vectors. ``minDivisibleClusterSize`` is a count
        (>= 1) or a share of the points (< 1) below which a cluster is not
        split."""
        _glm.check_positive_int("k", k, 1)
        _glm.check_positive_int("maxIterations", maxIterations, 1)
        if not minDivisibleClusterSize > 0:
            raise ValueError(f"minDivisibleClusterSize must be positive, got "
                             f"{minDivisibleClusterSize!r}")
        data = vector_data(rdd, "points")
        _check_k_against(data, k, "BisectingKMeans")
        try:
            root = _bisecting.train(data, k, maxIterations, minDivisibleClusterSize, int(seed))
        finally:
            data.unpersist()
        return BisectingKMeansModel(root)


@inherit_doc
class KMeansModel(Saveable, Loader["KMeansModel"]):
    """A k-means model: its cluster centers.

    >>> data = array([0.0, 0.0, 1.0, 1.0, 9.0, 8.0, 8.0, 9.0]).reshape(4, 2)
    >>> model = KMeans.train(sc.parallelize(data), 2, maxIterations=10,
    ...                      initializationMode="random", seed=50)
    >>> model.predict(array([0.0, 0.0])) == model.predict(array([1.0, 1.0]))
    True
    >>> model.k, model.computeCost(sc.parallelize(data))
    (2, 2.0)
    >>> import tempfile
    >>> path = tempfile.mkdtemp()
    >>> model.save(sc, path)
    >>> KMeansModel.load(sc, path).predict([9.0, 8.0]) == model.predict([9.0, 8.0])
    True
    >>> model = KMeans.train(sc.parallelize(data), 2, maxIterations=0,
    ...                      initialModel=KMeansModel([(-1000.0, -1000.0), (5.0, 5.0)]))
    >>> model.clusterCenters
    [array([-1000., -1000.]), array([5., 5.])]
    """

    def __init__(self, centers: Any):
        self.centers = centers

    @property
    def clusterCenters(self) -> list:
        """The cluster centers, as numpy arrays."""
        return self.centers

    @property
    def k(self) -> int:
        """The number of clusters."""
        return len(self.centers)

    def predict(self, x: Any) -> Any:
        """The closest center of a point, or an RDD of them for an RDD."""
        if is_rdd(x):
            centers = _center_arrays(self.centers)
            return map_rows(x, lambda rows: iter(_kmeans.closest(rows, centers)[0].tolist()),
                            centers.shape[1])
        x = _convert_to_vector(x)
        best, best_distance = 0, float("inf")
        for i, center in enumerate(self.centers):
            distance = x.squared_distance(center)
            if distance < best_distance:
                best, best_distance = i, distance
        return best

    def computeCost(self, rdd: Any) -> float:
        """The sum of squared distances of the points of ``rdd`` to their
        closest center."""
        centers = _center_arrays(self.centers)
        return float(map_rows(rdd, lambda rows: iter([_kmeans.closest(rows, centers)[1].sum()]),
                              centers.shape[1]).sum())

    def save(self, sc: Any, path: str) -> None:
        """Save this model to ``path``."""
        _persist.save(sc, path, "org.apache.spark.mllib.clustering.KMeansModel",
                      {"k": self.k, "distanceMeasure": "euclidean", "trainingCost": 0.0},
                      [{"id": i, "point": _persist.floats(_convert_to_vector(c))}
                       for i, c in enumerate(self.centers)])

    @classmethod
    def load(cls, sc: Any, path: str) -> "KMeansModel":
        """Load a model saved with ``save``."""
        _persist.load_metadata(sc, path, "org.apache.spark.mllib.clustering.KMeansModel")
        records = sorted(_persist.load_records(sc, path), key=lambda r: r["id"])
        return cls([np.array(r["point"]) for r in records])


class KMeans:
    """K-means clustering, initialised by k-means|| or at random."""

    @classmethod
    def train(cls, rdd: Any, k: int, maxIterations: int = 100,
              initializationMode: str = "k-means||", seed: int | None = None,
              initializationSteps: int = 2, epsilon: float = 1e-4,
              initialModel: KMeansModel | None = None,
              distanceMeasure: str = "euclidean") -> KMeansModel:
        """Train on an RDD of vectors (or anything convertible).

        >>> sparse_data = [SparseVector(3, {1: 1.0}), SparseVector(3, {1: 1.1}),
        ...                SparseVector(3, {2: 1.0}), SparseVector(3, {2: 1.1})]
        >>> model = KMeans.train(sc.parallelize(sparse_data), 2, initializationMode="k-means||",
        ...                      seed=50, initializationSteps=5, epsilon=1e-4)
        >>> model.predict(sparse_data[0]) == model.predict(sparse_data[1])
        True
        >>> model.predict(sparse_data[0]) == model.predict(sparse_data[2])
        False
        >>> KMeans.train(sc.parallelize(sparse_data), 5)
        Traceback (most recent call last):
            ...
        ember.engine.errors.InvalidDataError: KMeans: k=5 is larger than the 4 points of the data
        >>> KMeans.train(sc.parallelize(sparse_data), 2, initializationMode="kmeans++")
        Traceback (most recent call last):
            ...
        ValueError: Invalid initialization mode: 'kmeans++'; the modes are 'random' and 'k-means||'
        """
        _glm.check_positive_int("k", k, 1)
        _glm.check_positive_int("maxIterations", maxIterations, 0)
        _glm.check_positive_int("initializationSteps", initializationSteps, 1)
        if initializationMode not in ("random", "k-means||"):
            raise ValueError(f"Invalid initialization mode: {initializationMode!r}; the modes "
                             f"are 'random' and 'k-means||'")
        if distanceMeasure not in ("euclidean", "cosine"):
            raise ValueError(f"Invalid distance measure: {distanceMeasure!r}; the measures are "
                             f"'euclidean' and 'cosine'")
        if not isinstance(epsilon, (int, float)) or epsilon < 0:
            raise ValueError(f"epsilon must be a number >= 0, got {epsilon!r}")
        initial = None
        if initialModel is not None:
            if not isinstance(initialModel, KMeansModel):
                raise TypeError(f"initialModel is of {type(initialModel)}. It needs to be of "
                                f"<type 'KMeansModel'>")
            if initialModel.k != k:
                raise ValueError(f"mismatched cluster count: initialModel has "
                                 f"{initialModel.k} centers, k is {k}")
            initial = _center_arrays(initialModel.clusterCenters)
        data = vector_data(rdd, "points")
        _check_k_against(data, k, "KMeans")
        try:
            if initial is not None and initial.shape[1] != data.d:
                raise InvalidDataError(f"the initial centers have {initial.shape[1]} features, "
                                       f"the data {data.d}")
            centers, _ = _kmeans.train(data, k, maxIterations, initializationMode,
                                       _random_seed(seed), initializationSteps, epsilon,
                                       initial, distanceMeasure == "cosine")
        finally:
            data.unpersist()
        return KMeansModel([center for center in centers])


@inherit_doc
class GaussianMixtureModel(Saveable, Loader["GaussianMixtureModel"]):
    """A mixture of Gaussians: ``weights`` (summing to 1) and ``gaussians``
    (``MultivariateGaussian``).

    >>> data = array([-0.1, -0.05, -0.01, -0.1, 0.9, 0.8, 0.75, 0.935, -0.83, -0.68, -0.91,
    ...               -0.76]).reshape(6, 2)
    >>> points = sc.parallelize(data, 2)
    >>> model = GaussianMixture.train(points, 3, convergenceTol=0.0001, maxIterations=50,
    ...                               seed=2)
    >>> labels = model.predict(points).collect()
    >>> labels[0] == labels[1], labels[2] == labels[3], labels[4] == labels[5]
    (True, True, True)
    >>> len(set(labels))
    3
    >>> soft = model.predictSoft([-0.1, -0.05])
    >>> bool(abs(soft.max() - 1.0) < 0.03), model.k
    (True, 3)
    >>> import tempfile
    >>> path = tempfile.mkdtemp()
    >>> model.save(sc, path)
    >>> same = GaussianMixtureModel.load(sc, path)
    >>> bool((same.weights == model.weights).all())
    True
    """

    def __init__(self, weights: Any, gaussians: list):
        self._weights = np.asarray(weights, dtype=np.float64)
        self._gaussians = list(gaussians)
        self._means, self._covariances = _gmm.as_arrays(self._gaussians)

    @property
    def weights(self) -> np.ndarray:
        """The weight of every Gaussian."""
        return self._weights

    @property
    def gaussians(self) -> list:
        """The Gaussians, as ``MultivariateGaussian(mu, sigma)``."""
        return self._gaussians

    @property
    def k(self) -> int:
        """The number of Gaussians."""
        return len(self._weights)

    def predict(self, x: Any) -> Any:
        """The most likely component of a point, or an RDD of them for an RDD."""
        if is_rdd(x):
            return self.predictSoft(x).map(lambda z: z.index(max(z)))
        return self.predictSoft(x).argmax()

    def predictSoft(self, x: Any) -> Any:
        """The membership of a point in every component (a numpy array), or
        an RDD of them (``array.array``) for an RDD."""
        weights, means, covariances = self._weights, self._means, self._covariances
        if is_rdd(x):
            return map_rows(x, lambda rows: (pyarray.array("d", row) for row in
                                             _gmm.soft_predict(rows.dense(), weights, means,
                                                               covariances)), means.shape[1])
        vector = _convert_to_vector(x).toArray()[None, :]
        return _gmm.soft_predict(vector, weights, means, covariances)[0]

    def save(self, sc: Any, path: str) -> None:
        """Save this model to ``path``."""
        _persist.save(sc, path, "org.apache.spark.mllib.clustering.GaussianMixtureModel",
                      {"k": self.k},
                      [{"weight": float(w), "mu": mu.tolist(), "sigma": sigma.tolist()}
                       for w, mu, sigma in zip(self._weights, self._means, self._covariances)])

    @classmethod
    def load(cls, sc: Any, path: str) -> "GaussianMixtureModel":
        """Load a model saved with ``save``."""
        _persist.load_metadata(sc, path, "org.apache.spark.mllib.clustering.GaussianMixtureModel")
        records = _persist.load_records(sc, path)
        return cls([r["weight"] for r in records], [_gaussian(r["mu"], r["sigma"])
                                                    for r in records])


def _gaussian(mu: Any, sigma: Any) -> MultivariateGaussian:
    sigma = np.asarray(sigma, dtype=np.float64)
    return MultivariateGaussian(DenseVector(np.asarray(mu, dtype=np.float64)),
                                DenseMatrix(sigma.shape[0], sigma.shape[1],
                                            np.ravel(sigma, order="F"), 0))


class GaussianMixture:
    """Gaussian mixtures fitted by expectation-maximisation."""

    @classmethod
    def train(cls, rdd: Any, k: int, convergenceTol: float = 1e-3, maxIterations: int = 100,
              seed: int | None = None,
              initialModel: GaussianMixtureModel | None = None) -> GaussianMixtureModel:
        """Train on an RDD of vectors; stop when the log-likelihood changes by
        less than ``convergenceTol`` or after ``maxIterations``."""
        _glm.check_positive_int("k", k, 1)
        _glm.check_positive_int("maxIterations", maxIterations, 0)
        if not isinstance(convergenceTol, (int, float)) or convergenceTol < 0:
            raise ValueError(f"convergenceTol must be a number >= 0, got {convergenceTol!r}")
        if initialModel is not None and initialModel.k != k:
            raise ValueError(f"Mismatched cluster count, initialModel.k = {initialModel.k}, "
                             f"however k = {k}")
        data = vector_data(rdd, "points")
        _check_k_against(data, k, "GaussianMixture")
        try:
            if initialModel is not None:
                weights = initialModel.weights
                means, covariances = _gmm.as_arrays(initialModel.gaussians)
            else:
                weights, means, covariances = _gmm.initial_components(data, k, _random_seed(seed))
            weights, means, covariances = _gmm.em(data, weights, means, covariances,
                                                  float(convergenceTol), maxIterations)
        finally:
            data.unpersist()
        return GaussianMixtureModel(weights, [_gaussian(mu, sigma)
                                              for mu, sigma in zip(means, covariances)])


class PowerIterationClusteringModel(DetachedContext, Saveable,
                                    Loader["PowerIterationClusteringModel"]):
    """The clusters found by power iteration clustering.

    >>> import math
    >>> def circle(r, n):
    ...     return [(r * math.cos(2 * math.pi * i / n), r * math.sin(2 * math.pi * i / n))
    ...             for i in range(n)]
    >>> points = circle(1.0, 10) + circle(4.0, 40)
    >>> def sim(x, y):
    ...     return math.exp(-((x[0] - y[0]) ** 2 + (x[1] - y[1]) ** 2) / 2.0)
    >>> similarities = [(i, j, sim(points[i], points[j])) for i in range(1, 50) for j in range(i)]
    >>> model = PowerIterationClustering.train(sc.parallelize(similarities, 2), 2, 40)
    >>> result = sorted(model.assignments().collect(), key=lambda a: a.id)
    >>> model.k, len({a.cluster for a in result[:10]})  # the inner circle is one cluster
    (2, 1)
    """

    def __init__(self, k: int, ids: np.ndarray, clusters: np.ndarray, sc: Any = None):
        self._k = int(k)
        self._ids = np.asarray(ids)
        self._clusters = np.asarray(clusters)
        self._sc = sc

    @property
    def k(self) -> int:
        """The number of clusters."""
        return self._k

    def assignments(self) -> Any:
        """An RDD of ``PowerIterationClustering.Assignment(id, cluster)``."""
        pairs = list(zip(self._ids.tolist(), self._clusters.tolist()))
        return self._sc.parallelize(pairs).map(
            lambda pair: PowerIterationClustering.Assignment(*pair))

    def save(self, sc: Any, path: str) -> None:
        """Save this model to ``path``."""
        _persist.save(sc, path, "org.apache.spark.mllib.clustering.PowerIterationClusteringModel",
                      {"k": self._k}, [{"id": int(i), "cluster": int(c)}
                                        for i, c in zip(self._ids, self._clusters)])

    @classmethod
    def load(cls, sc: Any, path: str) -> "PowerIterationClusteringModel":
        """Load a model saved with ``save``."""
        metadata = _persist.load_metadata(
            sc, path, "org.apache.spark.mllib.clustering.PowerIterationClusteringModel")
        records = sorted(_persist.load_records(sc, path), key=lambda r: r["id"])
        return cls(metadata["k"], np.array([r["id"] for r in records]),
                   np.array([r["cluster"] for r in records]), sc)


class PowerIterationClustering:
    """Power iteration clustering (Lin and Cohen) of a graph given by
    non-negative similarities."""

    @classmethod
    def train(cls, rdd: Any, k: int, maxIterations: int = 100,
              initMode: str = "random") -> PowerIterationClusteringModel:
        """Train on an RDD of ``(i, j, similarity)``; ``initMode`` is
        ``"random"`` or ``"degree"``."""
        _glm.check_positive_int("k", k, 1)
        _glm.check_positive_int("maxIterations", maxIterations, 1)
        if initMode not in ("random", "degree"):
            raise ValueError(f"Invalid initialization mode: {initMode!r}; the modes are "
                             f"'random' and 'degree'")
        ids, clusters = _pic.train(rdd, k, maxIterations, initMode)
        return PowerIterationClusteringModel(k, ids, clusters, rdd.context)

    class Assignment(namedtuple("Assignment", ["id", "cluster"])):
        """An ``(id, cluster)`` pair."""


class StreamingKMeansModel(KMeansModel):
    """A k-means model updated online: each update moves every center
    towards the mean of the new points closest to it,
    ``c' = (c n a + x m) / (n a + m)`` and ``n' = n a + m`` (``a`` the decay
    factor, per batch, or raised to the number of points for
    ``timeUnit="points"``).

    >>> stkm = StreamingKMeansModel([[0.0, 0.0], [1.0, 1.0]], [1.0, 1.0])
    >>> data = sc.parallelize([[-0.1, -0.1], [0.1, 0.1], [0.9, 0.9], [1.1, 1.1]])
    >>> stkm = stkm.update(data, 1.0, "batches")
    >>> stkm.centers
    array([[0., 0.],
           [1., 1.]])
    >>> stkm.predict([-0.1, -0.1]), stkm.predict([0.9, 0.9]), stkm.clusterWeights
    (0, 1, [3.0, 3.0])
    >>> stkm = stkm.update(sc.parallelize([DenseVector([1.5, 1.5]), DenseVector([0.2, 0.2])]),
    ...                    0.0, "batches")
    >>> stkm.centers
    array([[0.2, 0.2],
           [1.5, 1.5]])
    >>> stkm.clusterWeights
    [1.0, 1.0]
    """

    def __init__(self, clusterCenters: Any, clusterWeights: Any):
        super().__init__(centers=clusterCenters)
        self._clusterWeights = [float(w) for w in clusterWeights]

    @property
    def clusterWeights(self) -> list[float]:
        """The weight of every center."""
        return self._clusterWeights

    def update(self, data: Any, decayFactor: float, timeUnit: str) -> "StreamingKMeansModel":
        """Move the centers towards a batch of points (an RDD)."""
        if not is_rdd(data):
            raise TypeError(f"Data should be of an RDD, got {type(data)}.")
        if timeUnit not in ("batches", "points"):
            raise ValueError(f"timeUnit should be 'batches' or 'points', got {timeUnit}.")
        decay = float(decayFactor)
        centers = _center_arrays(self.centers)
        k = len(centers)

        def stats(rows) -> Iterator:
            assignment, _ = _kmeans.closest(rows, centers)
            sums, counts = _kmeans._sums(rows, assignment, k)
            yield sums, counts

        sums, counts = map_rows(data, stats, centers.shape[1]).fold(
            (np.zeros_like(centers), np.zeros(k)), lambda a, b: (a[0] + b[0], a[1] + b[1]))
        discount = decay if timeUnit == "batches" else decay ** counts.sum()
        weights = np.array(self._clusterWeights) * discount
        for j in np.nonzero(counts)[0]:
            updated = weights[j] + counts[j]
            share = counts[j] / max(updated, 1e-16)
            weights[j] = updated
            centers[j] = centers[j] * (1.0 - share) + sums[j] * (share / counts[j])
        largest, smallest = int(np.argmax(weights)), int(np.argmin(weights))
        if weights[smallest] < 1e-8 * weights[largest]:
            weight = (weights[largest] + weights[smallest]) / 2.0
            weights[largest] = weights[smallest] = weight
            nudge = 1e-14 * np.maximum(np.abs(centers[largest]), 1.0)
            centers[smallest] = centers[largest] - nudge
            centers[largest] = centers[largest] + nudge
        self.centers = centers
        self._clusterWeights = weights.tolist()
        return self


class StreamingKMeans:
    """K-means trained on a stream: ``trainOn`` updates the model with every
    batch (see ``StreamingKMeansModel``), ``predictOn`` assigns every point of
    a stream with the current model.

    >>> class Batches:  # any stream with foreachRDD and map
    ...     def __init__(self, rdds): self.rdds = rdds
    ...     def foreachRDD(self, f): [f(rdd) for rdd in self.rdds]
    ...     def map(self, f): return Batches([rdd.map(f) for rdd in self.rdds])
    >>> batch = sc.parallelize([[0.0, 0.1], [0.1, 0.0], [5.0, 5.1], [5.1, 5.0]])
    >>> skm = StreamingKMeans(k=2, decayFactor=1.0).setInitialCenters([[1.0, 1.0], [4.0, 4.0]],
    ...                                                                [1.0, 1.0])
    >>> skm.trainOn(Batches([batch, batch]))
    >>> skm.latestModel().centers.round(2).tolist()
    [[0.24, 0.24], [4.84, 4.84]]
    >>> [rdd.collect() for rdd in skm.predictOn(Batches([batch])).rdds]
    [[0, 0, 1, 1]]
    """

    def __init__(self, k: int = 2, decayFactor: float = 1.0, timeUnit: str = "batches"):
        self._k = k
        self._decayFactor = decayFactor
        if timeUnit not in ("batches", "points"):
            raise ValueError(f"timeUnit should be 'batches' or 'points', got {timeUnit}.")
        self._timeUnit = timeUnit
        self._model = None

    def latestModel(self) -> StreamingKMeansModel | None:
        """The model as updated by the batches seen so far."""
        return self._model

    def _validate(self, dstream: Any) -> None:
        if self._model is None:
            raise ValueError("Initial centers should be set either by setInitialCenters or "
                             "setRandomCenters.")
        if not (hasattr(dstream, "foreachRDD") and hasattr(dstream, "map")):
            raise TypeError(f"Expected dstream to be of type DStream, got type {type(dstream)}")

    def setK(self, k: int) -> "StreamingKMeans":
        """Set the number of clusters."""
        self._k = k
        return self

    def setDecayFactor(self, decayFactor: float) -> "StreamingKMeans":
        """Set the decay factor (1: remember everything, 0: only the last batch)."""
        self._decayFactor = decayFactor
        return self

    def setHalfLife(self, halfLife: float, timeUnit: str) -> "StreamingKMeans":
        """Set the decay so that data from ``halfLife`` batches (or points)
        ago counts half as much.

        >>> round(StreamingKMeans().setHalfLife(2, "batches")._decayFactor ** 2, 6)
        0.5
        """
        self._timeUnit = timeUnit
        self._decayFactor = exp(log(0.5) / halfLife)
        return self

    def setInitialCenters(self, centers: Any, weights: Any) -> "StreamingKMeans":
        """Set the starting centers and their weights."""
        self._model = StreamingKMeansModel(centers, weights)
        return self

    def setRandomCenters(self, dim: int, weight: float, seed: int) -> "StreamingKMeans":
        """Start from ``k`` centers drawn from a standard normal distribution,
        each with ``weight``."""
        rng = np.random.RandomState(seed)
        self._model = StreamingKMeansModel(rng.randn(self._k, dim), tile(weight, self._k))
        return self

    def trainOn(self, dstream: Any) -> None:
        """Update the model with every batch of the stream."""
        self._validate(dstream)

        def update(rdd: Any) -> None:
            self._model.update(rdd, self._decayFactor, self._timeUnit)

        dstream.foreachRDD(update)

    def predictOn(self, dstream: Any) -> Any:
        """A stream of the closest center of every point."""
        self._validate(dstream)
        return dstream.map(lambda x: self._model.predict(x))

    def predictOnValues(self, dstream: Any) -> Any:
        """A stream of ``(key, closest center)`` for a stream of ``(key, point)``."""
        self._validate(dstream)
        return dstream.mapValues(lambda x: self._model.predict(x))


class LDAModel(Saveable, Loader["LDAModel"]):
    """A topic model from latent Dirichlet allocation: ``k`` topics, each a
    distribution over the vocabulary.

    >>> from ember.mllib.linalg import Vectors
    >>> data = [[1, Vectors.dense([0.0, 1.0])], [2, SparseVector(2, {0: 1.0})]]
    >>> model = LDA.train(sc.parallelize(data), k=2, seed=1)
    >>> model.vocabSize()
    2
    >>> sorted(terms for terms, _ in model.describeTopics())
    [[0, 1], [1, 0]]
    >>> np.allclose(model.topicsMatrix(), 0.5, atol=0.1)
    True
    >>> import tempfile
    >>> path = tempfile.mkdtemp()
    >>> model.save(sc, path)
    >>> bool((LDAModel.load(sc, path).topicsMatrix() == model.topicsMatrix()).all())
    True
    """

    def __init__(self, topics: np.ndarray, docConcentration: float = -1.0,
                 topicConcentration: float = -1.0):
        self._topics = np.asarray(topics, dtype=np.float64)
        self._doc_concentration = docConcentration
        self._topic_concentration = topicConcentration

    def topicsMatrix(self) -> np.ndarray:
        """The topics (vocabulary x k): column j holds topic j's term weights."""
        return self._topics.copy()

    def vocabSize(self) -> int:
        """The vocabulary size."""
        return self._topics.shape[0]

    def describeTopics(self, maxTermsPerTopic: int | None = None) -> list:
        """Per topic, its terms by decreasing weight and those weights
        (normalised), at most ``maxTermsPerTopic`` of each."""
        return _lda.describe(self._topics, maxTermsPerTopic or self.vocabSize())

    def save(self, sc: Any, path: str) -> None:
        """Save this model to ``path``."""
        _persist.save(sc, path, "org.apache.spark.mllib.clustering.LocalLDAModel",
                      {"k": self._topics.shape[1], "vocabSize": self.vocabSize(),
                       "docConcentration": self._doc_concentration,
                       "topicConcentration": self._topic_concentration},
                      [{"topic": j, "termWeights": self._topics[:, j].tolist()}
                       for j in range(self._topics.shape[1])])

    @classmethod
    def load(cls, sc: Any, path: str) -> "LDAModel":
        """Load a model saved with ``save``."""
        metadata = _persist.load_metadata(sc, path,
                                          "org.apache.spark.mllib.clustering.LocalLDAModel")
        records = sorted(_persist.load_records(sc, path), key=lambda r: r["topic"])
        return cls(np.column_stack([r["termWeights"] for r in records]),
                   metadata["docConcentration"], metadata["topicConcentration"])


class LDA:
    """Latent Dirichlet allocation, by EM (the default) or online variational
    Bayes."""

    @classmethod
    def train(cls, rdd: Any, k: int = 10, maxIterations: int = 20,
              docConcentration: float = -1.0, topicConcentration: float = -1.0,
              seed: int | None = None, checkpointInterval: int = 10,
              optimizer: str = "em") -> LDAModel:
        """Train on an RDD of ``[id, term count vector]`` documents (ids
        unique and >= 0, vectors the size of the vocabulary)."""
        _glm.check_positive_int("k", k, 2)
        _glm.check_positive_int("maxIterations", maxIterations, 0)
        if optimizer not in ("em", "online"):
            raise ValueError(f"Only em, online are supported but got {optimizer}.")
        if optimizer == "em":
            alpha = 50.0 / k + 1.0 if docConcentration == -1 else float(docConcentration)
            eta = 1.1 if topicConcentration == -1 else float(topicConcentration)
            if alpha <= 1.0:
                raise ValueError(f"LDA docConcentration must be > 1.0 (or -1 for auto) for EM "
                                 f"Optimizer, but was set to {alpha}")
            if eta <= 1.0:
                raise ValueError(f"LDA topicConcentration must be > 1.0 (or -1 for auto) for "
                                 f"EM Optimizer, but was set to {eta}")
        else:
            alpha = 1.0 / k if docConcentration == -1 else float(docConcentration)
            eta = 1.0 / k if topicConcentration == -1 else float(topicConcentration)
            if alpha < 0 or eta < 0:
                raise ValueError(f"LDA concentrations must be >= 0 (or -1 for auto) for the "
                                 f"online optimizer, got {alpha} and {eta}")
        first = rdd.first()
        vocabulary = len(_convert_to_vector(first[1]))
        seed = _random_seed(seed)
        if optimizer == "em":
            topics = _lda.train_em(rdd, k, vocabulary, maxIterations, alpha, eta, seed,
                                   checkpointInterval)
        else:
            topics = _lda.train_online(rdd, k, vocabulary, maxIterations, alpha, eta, seed)
        return LDAModel(topics, alpha, eta)
