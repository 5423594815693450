"""A fixed seed gives the same model on one worker as on four: everything
random depends on the seed and the partition, and partial results are
combined in partition order, whichever worker computed them."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.mllib.classification import LogisticRegressionWithLBFGS
from ember.mllib.clustering import LDA, BisectingKMeans, GaussianMixture, KMeans
from ember.mllib.linalg import Vectors
from ember.mllib.recommendation import ALS
from ember.mllib.tree import GradientBoostedTrees, RandomForest
from mllib_data import binary, blobs, points

pytestmark = pytest.mark.slow


def _train_everything(sc):
    X, _ = blobs(n=400, d=3, k=3, seed=1)
    Xb, yb = binary(n=400, d=3, seed=2)
    vectors = sc.parallelize(X.tolist(), 4)
    labeled = sc.parallelize(points(Xb, yb), 4)
    ratings = sc.parallelize([(u, p, float((u * p) % 5)) for u in range(20) for p in range(15)
                              if (u + p) % 3], 4)
    docs = sc.parallelize([[i, Vectors.dense([i % 3, (i + 1) % 2, 2.0, i % 5])]
                           for i in range(30)], 4)
    forest = RandomForest.trainClassifier(labeled, 2, {}, 5, seed=3)
    boosted = GradientBoostedTrees.trainRegressor(labeled, {}, numIterations=5)
    return {
        "kmeans": np.vstack(KMeans.train(vectors, 3, seed=4).clusterCenters),
        "bisecting": np.vstack(BisectingKMeans.train(vectors, 3, seed=4).clusterCenters),
        "gmm": GaussianMixture.train(vectors, 3, seed=4).weights,
        "logistic": LogisticRegressionWithLBFGS.train(labeled, regParam=0.01).weights.toArray(),
        "forest": np.array(forest.predict(sc.parallelize(Xb.tolist(), 2)).collect()),
        "boosted": np.array(boosted.predict(sc.parallelize(Xb.tolist(), 2)).collect()),
        "als": np.array([r.rating for r in ALS.train(ratings, 3, seed=5).predictAll(
            sc.parallelize([(u, p) for u in range(20) for p in range(15)], 2)).collect()]),
        "lda": LDA.train(docs, k=2, maxIterations=5, seed=6).topicsMatrix(),
    }


def test_one_worker_and_four_workers_train_the_same_models():
    results = []
    for master in ("local[1]", "local[4]"):
        with ember.Context(master, appName="mllib-workers") as sc:
            results.append(_train_everything(sc))
    one, four = results
    for name in one:
        assert np.array_equal(one[name], four[name]), name
