"""Linear models, naive Bayes and isotonic regression against scikit-learn
(the same objective and hyper-parameters) and against numpy oracles of
MLlib's update rules where scikit-learn runs another algorithm.

Tolerances: exact re-implementations of an update rule agree to 1e-9;
models fitted to the same convex objective by different optimizers agree
to 1e-3 relative (both stop at a tolerance); quality metrics (accuracy,
AUC, RMSE) to the stated margins."""

from __future__ import annotations

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.isotonic import IsotonicRegression as SkIsotonic  # noqa: E402
from sklearn.linear_model import LinearRegression, LogisticRegression  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.naive_bayes import MultinomialNB  # noqa: E402

from ember.mllib.classification import (  # noqa: E402
    LogisticRegressionWithLBFGS, LogisticRegressionWithSGD, NaiveBayes, SVMWithSGD,
    StreamingLogisticRegressionWithSGD)
from ember.mllib.evaluation import BinaryClassificationMetrics  # noqa: E402
from ember.mllib.regression import (  # noqa: E402
    IsotonicRegression, LassoWithSGD, LinearRegressionWithSGD,
    RidgeRegressionWithSGD, StreamingLinearRegressionWithSGD)
from mllib_data import binary, linear, points, sgd_oracle, sparse_points  # noqa: E402

# MLlib's SGD trainers are deprecated (a FutureWarning, as in PySpark); scikit-learn
# deprecates its own arguments between versions.
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")


@pytest.mark.parametrize("trainer, updater, reg", [
    (LinearRegressionWithSGD, None, 0.0), (RidgeRegressionWithSGD, "l2", 0.1),
    (LassoWithSGD, "l1", 0.05)])
def test_least_squares_sgd_follows_mllibs_update_rule(sc, trainer, updater, reg):
    X, y, _ = linear(n=300, d=3)
    model = trainer.train(sc.parallelize(points(X, y), 3), iterations=40, step=0.5,
                          regParam=reg)
    expected = sgd_oracle(X, y, "leastSquares", updater, 0.5, 40, reg, np.zeros(3))
    assert np.allclose(model.weights.toArray(), expected, rtol=1e-9, atol=1e-12)
    assert model.intercept == 0.0


def test_sgd_with_intercept_starts_it_at_one_and_regularises_it(sc):
    X, y, _ = linear(n=200, d=2, intercept=3.0)
    model = RidgeRegressionWithSGD.train(sc.parallelize(points(X, y), 2), iterations=30,
                                         step=0.5, regParam=0.05, intercept=True)
    biased = np.hstack([X, np.ones((len(X), 1))])
    expected = sgd_oracle(biased, y, "leastSquares", "l2", 0.5, 30, 0.05, [0.0, 0.0, 1.0])
    assert np.allclose(np.append(model.weights.toArray(), model.intercept), expected, rtol=1e-9)


def test_linear_regression_sgd_converges_to_least_squares(sc):
    X, y, _ = linear(n=400, d=3, noise=0.2)
    model = LinearRegressionWithSGD.train(sc.parallelize(points(X, y), 4), iterations=400,
                                          step=1.0, convergenceTol=0.0)
    reference = LinearRegression(fit_intercept=False).fit(X, y)
    assert np.allclose(model.weights.toArray(), reference.coef_, atol=2e-3)
    rmse = np.sqrt(np.mean((X @ model.weights.toArray() - y) ** 2))
    reference_rmse = np.sqrt(np.mean((reference.predict(X) - y) ** 2))
    assert rmse <= reference_rmse * 1.001


@pytest.mark.parametrize("gradient, trainer", [("logistic", LogisticRegressionWithSGD),
                                               ("hinge", SVMWithSGD)])
def test_binary_sgd_models_follow_mllibs_update_rule(sc, gradient, trainer):
    X, y = binary(n=300, d=3)
    model = trainer.train(sc.parallelize(points(X, y), 3), iterations=25, step=1.0,
                          regParam=0.01)
    expected = sgd_oracle(X, y, gradient, "l2", 1.0, 25, 0.01, np.zeros(3))
    assert np.allclose(model.weights.toArray(), expected, rtol=1e-9, atol=1e-12)


def test_logistic_lbfgs_without_penalty_matches_scikit_learn(sc):
    X, y = binary(n=800, d=4)
    model = LogisticRegressionWithLBFGS.train(sc.parallelize(points(X, y), 4), iterations=200,
                                              regParam=0.0, intercept=True, tolerance=1e-10)
    reference = LogisticRegression(penalty=None, tol=1e-12, max_iter=10_000).fit(X, y)
    assert np.allclose(model.weights.toArray(), reference.coef_[0], rtol=1e-3, atol=1e-4)
    assert abs(model.intercept - reference.intercept_[0]) < 1e-3
    model.clearThreshold()
    scores = np.array(model.predict(sc.parallelize(X.tolist(), 4)).collect())
    auc = BinaryClassificationMetrics(sc.parallelize(list(zip(scores, y)), 3)).areaUnderROC
    assert abs(auc - roc_auc_score(y, scores)) < 1e-12
    assert abs(auc - roc_auc_score(y, reference.decision_function(X))) < 1e-3
    model.setThreshold(0.5)
    accuracy = np.mean(np.array(model.predict(sc.parallelize(X.tolist(), 4)).collect()) == y)
    assert abs(accuracy - reference.score(X, y)) <= 1.0 / len(y)


@pytest.mark.parametrize("reg_type, penalty, solver", [("l2", "l2", "lbfgs"),
                                                       ("l1", "l1", "saga")])
def test_penalised_logistic_lbfgs_solves_the_same_objective_as_scikit_learn(sc, reg_type,
                                                                           penalty, solver):
    X, y = binary(n=600, d=4, seed=5)
    X = (X - X.mean(axis=0)) / X.std(axis=0, ddof=1)  # standardised: MLlib's penalty is sklearn's
    reg = 0.02
    model = LogisticRegressionWithLBFGS.train(sc.parallelize(points(X, y), 3), iterations=300,
                                              regParam=reg, regType=reg_type, intercept=True,
                                              tolerance=1e-10)
    reference = LogisticRegression(penalty=penalty, C=1.0 / (len(y) * reg), solver=solver,
                                   tol=1e-12, max_iter=100_000).fit(X, y)
    assert np.allclose(model.weights.toArray(), reference.coef_[0], atol=2e-3)
    assert abs(model.intercept - reference.intercept_[0]) < 2e-3


def test_multinomial_logistic_lbfgs_predicts_like_scikit_learn(sc):
    rng = np.random.default_rng(7)
    X = rng.standard_normal((600, 3))
    W = rng.uniform(-3, 3, size=(3, 3))
    y = np.argmax(X @ W.T + 0.5 * rng.standard_normal((600, 3)), axis=1).astype(float)
    model = LogisticRegressionWithLBFGS.train(sc.parallelize(points(X, y), 3), iterations=300,
                                              regParam=0.0, intercept=True, numClasses=3,
                                              tolerance=1e-10)
    reference = LogisticRegression(penalty=None, max_iter=10_000, tol=1e-12).fit(X, y)
    ours = np.array(model.predict(sc.parallelize(X.tolist(), 3)).collect())
    assert np.mean(ours == reference.predict(X)) >= 0.99
    assert abs(np.mean(ours == y) - reference.score(X, y)) <= 0.01
    # the same decision function, with class 0 as MLlib's pivot
    W_ours = model.weights.toArray().reshape(2, 4)
    centred = reference.coef_ - reference.coef_[0]
    assert np.allclose(W_ours[:, :3], centred[1:], atol=5e-3)


def test_sparse_and_dense_features_give_the_same_model(sc):
    X, y = binary(n=300, d=6, seed=9)
    X[np.abs(X) < 0.8] = 0.0
    dense = LogisticRegressionWithLBFGS.train(sc.parallelize(points(X, y), 3), regParam=0.01)
    sparse = LogisticRegressionWithLBFGS.train(sc.parallelize(sparse_points(X, y), 3),
                                               regParam=0.01)
    assert np.allclose(dense.weights.toArray(), sparse.weights.toArray(), rtol=1e-9, atol=1e-12)


def test_naive_bayes_matches_scikit_learns_multinomial_model(sc):
    rng = np.random.default_rng(3)
    y = rng.integers(3, size=300).astype(float)
    X = rng.poisson(lam=1.0 + y[:, None] * np.array([1.0, 0.2, 2.0, 0.5]), size=(300, 4))
    model = NaiveBayes.train(sc.parallelize(points(X.astype(float), y), 3), lambda_=0.5)
    counts = np.bincount(y.astype(int))
    assert np.allclose(model.pi, np.log((counts + 0.5) / (len(y) + 3 * 0.5)), atol=1e-12)
    # MLlib smooths the class priors too: give scikit-learn the same priors
    reference = MultinomialNB(alpha=0.5, class_prior=np.exp(model.pi)).fit(X, y)
    assert np.array_equal(model.labels, reference.classes_)
    assert np.allclose(model.theta, reference.feature_log_prob_, atol=1e-12)
    ours = model.predict(sc.parallelize(X.astype(float).tolist(), 3)).collect()
    assert np.array_equal(ours, reference.predict(X))


@pytest.mark.parametrize("isotonic", [True, False])
def test_isotonic_regression_matches_scikit_learn(sc, isotonic):
    rng = np.random.default_rng(4)
    x = rng.uniform(0, 10, size=200).round(1)  # repeated features are merged, as sklearn does
    y = (np.sqrt(x) if isotonic else -np.sqrt(x)) + 0.3 * rng.standard_normal(200)
    w = rng.uniform(0.5, 2.0, size=200)
    model = IsotonicRegression.train(sc.parallelize(list(zip(y, x, w)), 4), isotonic)
    reference = SkIsotonic(increasing=isotonic).fit(x, y, sample_weight=w)
    grid = np.linspace(-1, 11, 97)
    assert np.allclose(model.predict(grid), reference.predict(np.clip(grid, x.min(), x.max())),
                       atol=1e-9)


def test_streaming_trainers_refine_the_model_batch_by_batch(sc):
    class Batches:
        def __init__(self, rdds):
            self.rdds = rdds

        def foreachRDD(self, f):
            for rdd in self.rdds:
                f(rdd)

        def map(self, f):
            return Batches([rdd.map(f) for rdd in self.rdds])

    X, y, _ = linear(n=100, d=2, noise=0.0)
    batch = sc.parallelize(points(X, y), 2)
    streaming = StreamingLinearRegressionWithSGD(stepSize=0.5, numIterations=20) \
        .setInitialWeights([0.0, 0.0])
    streaming.trainOn(Batches([batch, batch]))
    once = LinearRegressionWithSGD.train(batch, 20, 0.5, initialWeights=[0.0, 0.0])
    twice = LinearRegressionWithSGD.train(batch, 20, 0.5, initialWeights=once.weights)
    assert np.allclose(streaming.latestModel().weights.toArray(), twice.weights.toArray())
    Xb, yb = binary(n=100, d=2)
    logistic = StreamingLogisticRegressionWithSGD(stepSize=1.0).setInitialWeights([0.0, 0.0])
    logistic.trainOn(Batches([sc.parallelize(points(Xb, yb), 2)]))
    predicted = logistic.predictOn(Batches([sc.parallelize(Xb.tolist(), 2)])).rdds[0].collect()
    assert np.mean(np.array(predicted) == yb) > 0.7
    with pytest.raises(ValueError, match="setInitialWeights"):
        StreamingLinearRegressionWithSGD().trainOn(Batches([]))
    with pytest.raises(TypeError, match="DStream"):
        logistic.trainOn([batch])
