"""Every model saved with ``save(sc, path)`` loads back with
``load(sc, path)`` into a model that predicts exactly the same; a path of
another model's class is refused by name."""

from __future__ import annotations

import os

import numpy as np
import pytest

from ember.mllib.classification import (LogisticRegressionModel, LogisticRegressionWithLBFGS,
                                        NaiveBayes, NaiveBayesModel, SVMModel, SVMWithSGD)
from ember.mllib.clustering import (LDA, BisectingKMeans, BisectingKMeansModel, GaussianMixture,
                                    GaussianMixtureModel, KMeans, KMeansModel, LDAModel,
                                    PowerIterationClustering, PowerIterationClusteringModel)
from ember.mllib.feature import Word2Vec, Word2VecModel
from ember.mllib.fpm import FPGrowth, FPGrowthModel
from ember.mllib.linalg import Vectors
from ember.mllib.recommendation import ALS, MatrixFactorizationModel
from ember.mllib.regression import (IsotonicRegression, IsotonicRegressionModel, LabeledPoint,
                                    LassoModel, LassoWithSGD, LinearRegressionModel,
                                    LinearRegressionWithSGD, RidgeRegressionModel,
                                    RidgeRegressionWithSGD)
from ember.mllib.tree import (DecisionTree, DecisionTreeModel, GradientBoostedTrees,
                              GradientBoostedTreesModel, RandomForest, RandomForestModel)

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


@pytest.fixture(scope="module")
def data(sc):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 3))
    y = (X[:, 0] - X[:, 1] > 0).astype(float)
    return {
        "labeled": sc.parallelize([LabeledPoint(l, r) for l, r in zip(y, X)], 3),
        "counts": sc.parallelize([LabeledPoint(l, np.abs(r)) for l, r in zip(y, X)], 3),
        "vectors": sc.parallelize(X.tolist(), 3),
        "probe": X[:20],
    }


def _same_predictions(model, loaded, probe):
    return [model.predict(row) for row in probe] == [loaded.predict(row) for row in probe]


TRAINERS = {
    "linear": (LinearRegressionModel, lambda d: LinearRegressionWithSGD.train(d["labeled"], 10)),
    "ridge": (RidgeRegressionModel, lambda d: RidgeRegressionWithSGD.train(d["labeled"], 10)),
    "lasso": (LassoModel, lambda d: LassoWithSGD.train(d["labeled"], 10)),
    "logistic": (LogisticRegressionModel,
                 lambda d: LogisticRegressionWithLBFGS.train(d["labeled"], 20)),
    "svm": (SVMModel, lambda d: SVMWithSGD.train(d["labeled"], 10)),
    "bayes": (NaiveBayesModel, lambda d: NaiveBayes.train(d["counts"])),
    "kmeans": (KMeansModel, lambda d: KMeans.train(d["vectors"], 3, seed=1)),
    "bisecting": (BisectingKMeansModel, lambda d: BisectingKMeans.train(d["vectors"], 3, seed=1)),
    "gmm": (GaussianMixtureModel, lambda d: GaussianMixture.train(d["vectors"], 2, seed=1)),
    "tree": (DecisionTreeModel, lambda d: DecisionTree.trainClassifier(d["labeled"], 2, {})),
    "forest": (RandomForestModel,
               lambda d: RandomForest.trainRegressor(d["labeled"], {}, 3, seed=1)),
    "boosted": (GradientBoostedTreesModel,
                lambda d: GradientBoostedTrees.trainClassifier(d["labeled"], {}, numIterations=3)),
}


@pytest.mark.parametrize("name", sorted(TRAINERS))
def test_a_saved_model_loads_and_predicts_the_same(sc, data, tmp_path, name):
    cls, train = TRAINERS[name]
    model = train(data)
    path = str(tmp_path / name)
    model.save(sc, path)
    assert sorted(os.listdir(path)) == ["data", "metadata"]
    loaded = cls.load(sc, path)
    assert type(loaded) is cls
    assert _same_predictions(model, loaded, data["probe"])


def test_models_with_tables_round_trip(sc, tmp_path):
    ratings = sc.parallelize([(u, p, float(u + p)) for u in range(5) for p in range(4)], 2)
    als = ALS.train(ratings, 2, seed=1)
    als.save(sc, str(tmp_path / "als"))
    loaded = MatrixFactorizationModel.load(sc, str(tmp_path / "als"))
    assert loaded.rank == 2 and loaded.predict(3, 2) == als.predict(3, 2)
    assert loaded.userFeatures().collect() == als.userFeatures().collect()

    iso = IsotonicRegression.train(sc.parallelize([(1.0, 1.0, 1.0), (3.0, 2.0, 1.0), (2.0, 3.0, 1.0)]))
    iso.save(sc, str(tmp_path / "iso"))
    assert np.array_equal(IsotonicRegressionModel.load(sc, str(tmp_path / "iso")).predict(
        [0.5, 1.5, 2.5]), iso.predict([0.5, 1.5, 2.5]))

    fp = FPGrowth.train(sc.parallelize([["a", "b"], ["a"], ["b", "c"]], 2), 0.3)
    fp.save(sc, str(tmp_path / "fp"))
    assert sorted(FPGrowthModel.load(sc, str(tmp_path / "fp")).freqItemsets().collect()) == \
        sorted(fp.freqItemsets().collect())

    docs = sc.parallelize([[i, Vectors.dense([i % 2, 1 - i % 2, 1.0])] for i in range(6)], 2)
    lda = LDA.train(docs, k=2, maxIterations=3, seed=1)
    lda.save(sc, str(tmp_path / "lda"))
    assert np.array_equal(LDAModel.load(sc, str(tmp_path / "lda")).topicsMatrix(),
                          lda.topicsMatrix())

    pic = PowerIterationClustering.train(sc.parallelize([(0, 1, 1.0), (1, 2, 1.0), (3, 4, 1.0)]),
                                         2, 10)
    pic.save(sc, str(tmp_path / "pic"))
    assert sorted(PowerIterationClusteringModel.load(sc, str(tmp_path / "pic"))
                  .assignments().collect()) == sorted(pic.assignments().collect())

    w2v = Word2Vec().setVectorSize(3).setMinCount(1).setSeed(1).fit(
        sc.parallelize([["a", "b", "c"]] * 5, 1))
    w2v.save(sc, str(tmp_path / "w2v"))
    assert Word2VecModel.load(sc, str(tmp_path / "w2v")).transform("a") == w2v.transform("a")


def test_loading_another_kind_of_model_is_refused(sc, data, tmp_path):
    KMeans.train(data["vectors"], 2, seed=1).save(sc, str(tmp_path / "kmeans"))
    with pytest.raises(ValueError, match="is a org.apache.spark.mllib.clustering.KMeansModel, "
                                         "expected org.apache.spark.mllib.tree.DecisionTreeModel"):
        DecisionTreeModel.load(sc, str(tmp_path / "kmeans"))
    with pytest.raises(FileNotFoundError, match="no model at"):
        KMeansModel.load(sc, str(tmp_path / "nothing"))
    with pytest.raises(FileExistsError):
        KMeans.train(data["vectors"], 2, seed=1).save(sc, str(tmp_path / "kmeans"))
