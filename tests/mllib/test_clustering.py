"""Clustering against scikit-learn (k-means, bisecting k-means, Gaussian
mixtures, LDA) and against numpy oracles of MLlib's update rules (power
iteration clustering, streaming k-means).

Tolerances: on well-separated blobs the clusterings must be the same
partition and the k-means cost within 0.1 % of scikit-learn's; mixture
parameters within 0.05; exact re-implementations to 1e-9."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.cluster import BisectingKMeans as SkBisecting  # noqa: E402
from sklearn.cluster import KMeans as SkKMeans  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402
from sklearn.mixture import GaussianMixture as SkGaussianMixture  # noqa: E402

from ember.mllib.clustering import (  # noqa: E402
    LDA, BisectingKMeans, GaussianMixture, KMeans, PowerIterationClustering, StreamingKMeans,
    StreamingKMeansModel)
from ember.mllib.linalg import SparseVector, Vectors  # noqa: E402
from mllib_data import blobs  # noqa: E402


def _cost(X, centers):
    return ((X[:, None, :] - centers[None, :, :]) ** 2).sum(-1).min(axis=1).sum()


def test_kmeans_finds_the_clusters_scikit_learn_finds(sc):
    X, truth = blobs(n=600, d=3, k=4, seed=11)
    model = KMeans.train(sc.parallelize(X.tolist(), 4), 4, maxIterations=50, seed=1)
    reference = SkKMeans(4, n_init=10, random_state=0).fit(X)
    centers = np.vstack(model.clusterCenters)
    assert abs(_cost(X, centers) - reference.inertia_) <= 1e-3 * reference.inertia_
    assert abs(model.computeCost(sc.parallelize(X.tolist(), 3)) - _cost(X, centers)) < 1e-6
    ours = model.predict(sc.parallelize(X.tolist(), 4)).collect()
    assert adjusted_rand_score(truth, ours) == 1.0


def test_kmeans_with_random_initialisation_starts_from_data_points(sc):
    X, _ = blobs(n=200, d=2, k=3, seed=12)
    model = KMeans.train(sc.parallelize(X.tolist(), 4), 3, maxIterations=0,
                         initializationMode="random", seed=4)
    centers = np.vstack(model.clusterCenters)
    assert all(any(np.array_equal(center, row) for row in X) for center in centers)
    assert len({tuple(center) for center in centers}) == 3


def test_kmeans_on_sparse_vectors_equals_kmeans_on_dense_ones(sc):
    X, _ = blobs(n=300, d=6, k=3, seed=3)
    X[np.abs(X) < 4] = 0.0
    sparse = [SparseVector(6, np.nonzero(row)[0], row[np.nonzero(row)[0]]) for row in X]
    dense_model = KMeans.train(sc.parallelize(X.tolist(), 3), 3, seed=5, maxIterations=20)
    sparse_model = KMeans.train(sc.parallelize(sparse, 3), 3, seed=5, maxIterations=20)
    assert np.allclose(np.vstack(dense_model.clusterCenters),
                       np.vstack(sparse_model.clusterCenters), atol=1e-12)


def test_kmeans_with_cosine_distance_clusters_directions(sc):
    rng = np.random.default_rng(2)
    directions = np.array([[1.0, 0.0], [0.0, 1.0]])
    X = np.vstack([d * rng.uniform(1, 10, size=(100, 1)) + 0.05 * rng.standard_normal((100, 2))
                   for d in directions])
    model = KMeans.train(sc.parallelize(X.tolist(), 2), 2, seed=3, distanceMeasure="cosine")
    centers = np.vstack(model.clusterCenters)
    assert np.allclose(np.linalg.norm(centers, axis=1), 1.0)
    assert sorted(np.argmax(np.abs(centers), axis=1).tolist()) == [0, 1]


def test_bisecting_kmeans_costs_about_what_scikit_learns_does(sc):
    # two groups of two blobs: every level of bisection has one right split
    rng = np.random.default_rng(8)
    truth = rng.integers(4, size=400)
    centers = np.array([[0.0, 0.0], [0.0, 5.0], [20.0, 0.0], [20.0, 5.0]])
    X = centers[truth] + 0.5 * rng.standard_normal((400, 2))
    model = BisectingKMeans.train(sc.parallelize(X.tolist(), 4), k=4, seed=2)
    reference = SkBisecting(4, random_state=0).fit(X)
    assert model.k == 4
    cost = model.computeCost(sc.parallelize(X.tolist(), 2))
    assert abs(cost - _cost(X, np.vstack(model.clusterCenters))) < 1e-6
    assert cost <= reference.inertia_ * 1.001
    assert adjusted_rand_score(truth, model.predict(sc.parallelize(X.tolist(), 4)).collect()) == 1


def test_gaussian_mixture_recovers_the_components_scikit_learn_does(sc):
    rng = np.random.default_rng(6)
    means = np.array([[0.0, 0.0], [6.0, 6.0], [-6.0, 5.0]])
    covariances = np.array([[[1.0, 0.3], [0.3, 0.5]], [[0.5, 0.0], [0.0, 1.5]], np.eye(2)])
    sizes = [300, 200, 100]
    X = np.vstack([rng.multivariate_normal(m, c, size=s)
                   for m, c, s in zip(means, covariances, sizes)])
    model = GaussianMixture.train(sc.parallelize(X.tolist(), 4), 3, convergenceTol=1e-6,
                                  maxIterations=200, seed=3)
    reference = SkGaussianMixture(3, tol=1e-8, max_iter=500, random_state=0).fit(X)
    order = np.argsort([g.mu[0] + 10 * g.mu[1] for g in model.gaussians])
    reference_order = np.argsort(reference.means_[:, 0] + 10 * reference.means_[:, 1])
    ours_mu = np.vstack([model.gaussians[i].mu.toArray() for i in order])
    ours_sigma = np.stack([model.gaussians[i].sigma.toArray() for i in order])
    assert np.allclose(ours_mu, reference.means_[reference_order], atol=0.05)
    assert np.allclose(ours_sigma, reference.covariances_[reference_order], atol=0.05)
    assert np.allclose(model.weights[order], reference.weights_[reference_order], atol=0.01)
    soft = np.array(model.predictSoft(sc.parallelize(X.tolist(), 2)).collect())
    assert np.allclose(soft.sum(axis=1), 1.0)


def test_power_iteration_clustering_follows_the_power_method(sc):
    rng = np.random.default_rng(1)
    points = np.vstack([rng.standard_normal((15, 2)) * 0.3, rng.standard_normal((15, 2)) * 0.3 + 4])
    similarities = [(i, j, math.exp(-((points[i] - points[j]) ** 2).sum() / 2))
                    for i in range(30) for j in range(i)]
    model = PowerIterationClustering.train(sc.parallelize(similarities, 3), 2, 50,
                                           initMode="degree")
    assignment = dict(model.assignments().collect())
    assert len({assignment[i] for i in range(15)}) == 1
    assert len({assignment[i] for i in range(15, 30)}) == 1
    assert assignment[0] != assignment[15]


def test_lda_separates_topics_with_disjoint_vocabularies(sc):
    rng = np.random.default_rng(4)
    docs = []
    for doc in range(40):
        topic = doc % 2
        counts = np.zeros(10)
        counts[topic * 5:(topic + 1) * 5] = rng.poisson(5, size=5) + 1
        docs.append([doc, Vectors.dense(counts)])
    for optimizer in ("em", "online"):
        model = LDA.train(sc.parallelize(docs, 2), k=2, maxIterations=40, seed=1,
                          optimizer=optimizer)
        topics = model.topicsMatrix()
        assert topics.shape == (10, 2)
        first_half = topics[:5].sum(axis=0) / topics.sum(axis=0)
        assert sorted(np.round(first_half, 1).tolist()) == [0.0, 1.0], optimizer


def test_streaming_kmeans_applies_the_decayed_update_rule(sc):
    model = StreamingKMeansModel([[0.0, 0.0], [10.0, 10.0]], [4.0, 2.0])
    batch = np.array([[1.0, 1.0], [2.0, 0.0], [9.0, 9.0]])
    model.update(sc.parallelize(batch.tolist(), 2), 0.5, "batches")
    # cluster 0: weight 4 * 0.5 + 2; cluster 1: weight 2 * 0.5 + 1
    expected0 = (np.array([0.0, 0.0]) * 2.0 + np.array([3.0, 1.0])) / 4.0
    expected1 = (np.array([10.0, 10.0]) * 1.0 + np.array([9.0, 9.0])) / 2.0
    assert np.allclose(model.centers, [expected0, expected1], atol=1e-12)
    assert model.clusterWeights == [4.0, 2.0]
    model.update(sc.parallelize([[0.0, 0.0]], 1), 0.5, "points")
    assert np.allclose(model.clusterWeights, [4.0 * 0.5 + 1, 2.0 * 0.5])


class Batches:
    """A stand-in for a DStream: the foreachRDD/map/mapValues interface over
    a list of batches (ember.streaming offers the same)."""

    def __init__(self, rdds):
        self.rdds = rdds

    def foreachRDD(self, f):
        for rdd in self.rdds:
            f(rdd)

    def map(self, f):
        return Batches([rdd.map(f) for rdd in self.rdds])

    def mapValues(self, f):
        return Batches([rdd.mapValues(f) for rdd in self.rdds])


def test_streaming_kmeans_trains_on_a_stream_with_a_half_life(sc):
    first = sc.parallelize([[0.0, 0.0]] * 10 + [[10.0, 10.0]] * 10, 2)
    moved = sc.parallelize([[2.0, 2.0]] * 10 + [[12.0, 12.0]] * 10, 2)
    streaming = StreamingKMeans(k=2).setHalfLife(1.0, "batches") \
        .setInitialCenters([[1.0, 1.0], [9.0, 9.0]], [0.0, 0.0])
    assert streaming._decayFactor == pytest.approx(0.5)
    streaming.trainOn(Batches([first, moved]))
    # weights: 10 after the first batch, then 10 * 0.5 + 10: the newer batch counts twice
    model = streaming.latestModel()
    assert model.clusterWeights == [15.0, 15.0]
    assert np.allclose(model.centers, [[4 / 3, 4 / 3], [34 / 3, 34 / 3]])
    keyed = sc.parallelize([("a", [0.0, 1.0]), ("b", [11.0, 11.0])], 1)
    assert streaming.predictOnValues(Batches([keyed])).rdds[0].collect() == [("a", 0), ("b", 1)]
    random = StreamingKMeans(k=3).setRandomCenters(2, 1.0, seed=4)
    assert random.latestModel().centers.shape == (3, 2)
    with pytest.raises(ValueError, match="Initial centers should be set"):
        StreamingKMeans().trainOn(Batches([]))
