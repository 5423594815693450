"""Trees and ALS against scikit-learn and a numpy oracle.

Trees split on binned features (at most ``maxBins - 1`` thresholds, from
quantiles): with few distinct values (every threshold a candidate) a
decision tree must be scikit-learn's exactly; otherwise, with 256 bins,
held-out accuracy within 2 points and RMSE within 10 % of scikit-learn's.
(MLlib's default of 32 bins trades some accuracy on small data for speed.)
ALS must follow ALS-WR's updates to 1e-9 from the same starting factors."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.ensemble import (  # noqa: E402
    GradientBoostingClassifier, GradientBoostingRegressor, RandomForestClassifier,
    RandomForestRegressor)
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor  # noqa: E402

from ember.mllib import recommendation  # noqa: E402
from ember.mllib.recommendation import ALS, Rating  # noqa: E402
from ember.mllib.tree import DecisionTree, GradientBoostedTrees, RandomForest  # noqa: E402
from mllib_data import als_oracle, points  # noqa: E402


def _classes(n=1200, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = ((X[:, 0] + 0.5 * X[:, 1] ** 2 - X[:, 2] > 0.3).astype(float)
         + (X[:, 3] > 1.0).astype(float))
    return X, y


def _split(X, y, train=0.75):
    cut = int(len(y) * train)
    return X[:cut], y[:cut], X[cut:], y[cut:]


def _predict(sc, model, X):
    return np.array(model.predict(sc.parallelize(X.tolist(), 3)).collect())


def test_decision_tree_on_integer_features_is_scikit_learns_tree(sc):
    rng = np.random.default_rng(1)
    X = rng.integers(0, 6, size=(500, 3)).astype(float)  # 6 values: every threshold is a candidate
    y = ((X[:, 0] > 2) ^ (X[:, 1] > 3)).astype(float)
    model = DecisionTree.trainClassifier(sc.parallelize(points(X, y), 3), 2, {}, maxDepth=3)
    reference = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
    grid = np.array([[a, b, c] for a in range(6) for b in range(6) for c in range(6)], float)
    assert np.array_equal(_predict(sc, model, grid), reference.predict(grid))


@pytest.mark.parametrize("impurity", ["gini", "entropy"])
def test_decision_tree_classifier_is_as_accurate_as_scikit_learns(sc, impurity):
    X, y = _classes()
    Xtr, ytr, Xte, yte = _split(X, y)
    model = DecisionTree.trainClassifier(sc.parallelize(points(Xtr, ytr), 3), 3, {},
                                         impurity=impurity, maxDepth=5, maxBins=256)
    reference = DecisionTreeClassifier(criterion=impurity, max_depth=5,
                                       random_state=0).fit(Xtr, ytr)
    assert np.mean(_predict(sc, model, Xte) == yte) >= reference.score(Xte, yte) - 0.02


def test_decision_tree_regressor_and_categorical_features(sc):
    rng = np.random.default_rng(2)
    X = np.column_stack([rng.standard_normal(800), rng.integers(0, 4, size=800)])
    effect = np.array([0.0, 3.0, -2.0, 1.0])
    y = np.sin(X[:, 0]) + effect[X[:, 1].astype(int)] + 0.1 * rng.standard_normal(800)
    Xtr, ytr, Xte, yte = _split(X, y)
    model = DecisionTree.trainRegressor(sc.parallelize(points(Xtr, ytr), 3), {1: 4}, maxDepth=6,
                                        maxBins=256)
    onehot = lambda A: np.column_stack([A[:, 0]] + [A[:, 1] == c for c in range(4)])  # noqa: E731
    reference = DecisionTreeRegressor(max_depth=6, random_state=0).fit(onehot(Xtr), ytr)
    rmse = np.sqrt(np.mean((_predict(sc, model, Xte) - yte) ** 2))
    reference_rmse = np.sqrt(np.mean((reference.predict(onehot(Xte)) - yte) ** 2))
    assert rmse <= reference_rmse * 1.1
    assert "in {" in model.toDebugString()  # split on a set of categories


def test_random_forest_is_as_accurate_as_scikit_learns(sc):
    X, y = _classes(seed=3)
    Xtr, ytr, Xte, yte = _split(X, y)
    model = RandomForest.trainClassifier(sc.parallelize(points(Xtr, ytr), 3), 3, {}, 20,
                                         maxDepth=6, maxBins=256, seed=4)
    reference = RandomForestClassifier(20, max_depth=6, max_features="sqrt",
                                       random_state=0).fit(Xtr, ytr)
    assert model.numTrees() == 20
    assert np.mean(_predict(sc, model, Xte) == yte) >= reference.score(Xte, yte) - 0.02
    regression = RandomForest.trainRegressor(sc.parallelize(points(Xtr, ytr), 3), {}, 10,
                                             maxDepth=6, maxBins=256, seed=4)
    reference = RandomForestRegressor(10, max_depth=6, max_features=1 / 3,
                                      random_state=0).fit(Xtr, ytr)
    rmse = np.sqrt(np.mean((_predict(sc, regression, Xte) - yte) ** 2))
    assert rmse <= np.sqrt(np.mean((reference.predict(Xte) - yte) ** 2)) * 1.1


def test_gradient_boosted_trees_are_as_accurate_as_scikit_learns(sc):
    X, y = _classes(n=800, seed=5)
    y = (y > 0).astype(float)
    Xtr, ytr, Xte, yte = _split(X, y)
    model = GradientBoostedTrees.trainClassifier(sc.parallelize(points(Xtr, ytr), 3), {},
                                                 numIterations=20, maxDepth=3, maxBins=256)
    reference = GradientBoostingClassifier(n_estimators=20, max_depth=3,
                                           random_state=0).fit(Xtr, ytr)
    assert np.mean(_predict(sc, model, Xte) == yte) >= reference.score(Xte, yte) - 0.02
    target = np.sin(X[:, 0]) + X[:, 1]
    regression = GradientBoostedTrees.trainRegressor(
        sc.parallelize(points(Xtr, target[:len(ytr)]), 3), {}, numIterations=20, maxDepth=3,
        maxBins=256)
    reference = GradientBoostingRegressor(n_estimators=20, max_depth=3, random_state=0) \
        .fit(Xtr, target[:len(ytr)])
    rmse = np.sqrt(np.mean((_predict(sc, regression, Xte) - target[len(ytr):]) ** 2))
    reference_rmse = np.sqrt(np.mean((reference.predict(Xte) - target[len(ytr):]) ** 2))
    assert rmse <= reference_rmse * 1.1


def _ratings(users=30, products=20, density=0.5, seed=6):
    rng = np.random.default_rng(seed)
    U, P = rng.standard_normal((users, 3)), rng.standard_normal((products, 3))
    R = U @ P.T + 0.1 * rng.standard_normal((users, products))
    R[rng.random(R.shape) > density] = np.nan
    return R


def test_als_follows_alternating_least_squares_with_weighted_regularisation(sc, monkeypatch):
    R = _ratings()
    ratings = [Rating(u, p, R[u, p]) for u, p in zip(*np.nonzero(~np.isnan(R)))]
    model = ALS.train(sc.parallelize(ratings, 3), 3, iterations=6, lambda_=0.05, seed=9)
    # the oracle starts from the same factors (ids are 0..n-1, so positions are ids)
    start = (recommendation._initial(R.shape[0], 3, 9, 0), recommendation._initial(R.shape[1], 3, 9, 1))
    users, products = als_oracle(R, 3, 6, 0.05, start)
    predicted = model.predictAll(sc.parallelize([(u, p) for u in range(30) for p in range(20)], 3))
    ours = np.full(R.shape, np.nan)
    for rating in predicted.collect():
        ours[rating.user, rating.product] = rating.rating
    assert np.allclose(ours, users @ products.T, atol=1e-9)
    known = ~np.isnan(R)
    assert np.sqrt(np.mean((ours[known] - R[known]) ** 2)) < 0.15


def test_implicit_als_ranks_observed_products_first(sc):
    R = _ratings(density=0.3, seed=7)
    ratings = [(int(u), int(p), 1.0) for u, p in zip(*np.nonzero(~np.isnan(R)))]
    model = ALS.trainImplicit(sc.parallelize(ratings, 3), 5, iterations=10, alpha=10.0, seed=1)
    scores = np.array([[model.predict(u, p) for p in range(20)] for u in range(30)])
    observed = ~np.isnan(R)
    assert scores[observed].mean() > scores[~observed].mean() + 0.3
    best = model.recommendProductsForUsers(3).collect()
    assert [user for user, _ in best] == list(range(30))
    hits = np.mean([observed[user, rating.product] for user, recs in best for rating in recs])
    assert hits > 0.7  # a random recommendation hits 0.3 of the time
