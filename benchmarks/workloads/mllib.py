"""mllib: ember.mllib against PySpark's MLlib and scikit-learn.

Four workloads, each one training call, the same on every engine:

* ``mllib_kmeans``: ``KMeans.train`` (k-means||, 10 iterations, epsilon 0)
  against scikit-learn's ``KMeans`` (k-means++, one start, 10 iterations,
  tol 0);
* ``mllib_logistic``: ``LogisticRegressionWithLBFGS.train`` (no penalty,
  with intercept, up to 100 iterations, tolerance 1e-6) against
  scikit-learn's ``LogisticRegression`` (L-BFGS, no penalty, the same);
* ``mllib_als``: ``ALS.train`` (rank 10, 10 iterations, lambda 0.01); no
  scikit-learn counterpart;
* ``mllib_random_forest``: ``RandomForest.trainClassifier`` (20 trees,
  depth 4, sqrt features) against scikit-learn's ``RandomForestClassifier``
  (the same settings, one process).

The RDD versions run unchanged on PySpark and on ember: they import
``pyspark.mllib`` or ``ember.mllib`` by the Context's module. Untimed, before
the call, ``prepare`` reads the data files into a cached RDD of rows (numpy
arrays, ``LabeledPoint`` or ``(user, product, rating)``) and counts it, or,
for scikit-learn, into arrays. The timed span is the training call alone.

Answers check the models against the hidden model the data was drawn from
(every center found, weights within 0.05, rating RMSE below 0.2, held-out
accuracy above 0.75), computed after the clock stops; an answer is
``{"quality": "ok"}`` or names what fell short.
"""

from __future__ import annotations

import contextlib
import importlib
from functools import partial
from pathlib import Path

import numpy as np

from benchmarks.datagen import HIDDEN
from benchmarks.scales import (ML_ALS_ITERATIONS, ML_ALS_RANK, ML_CLUSTERS, ML_FOREST_TREES,
                               ML_KMEANS_ITERATIONS)
from benchmarks.workloads import Workload


def _mllib(sc, name: str):
    """The MLlib module of the engine ``sc`` belongs to."""
    package = "pyspark" if type(sc).__module__.startswith("pyspark") else "ember"
    return importlib.import_module(f"{package}.mllib.{name}")


def _parts(files: list[str]) -> list[str]:
    return [f for f in files if Path(f).name != HIDDEN]


def _hidden(files: list[str]) -> dict:
    path = next(f for f in files if Path(f).name == HIDDEN)
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


# --- loaders, run inside the tasks --------------------------------------------------

def load_points(path: str) -> list:
    return list(np.load(path))


def load_labeled(path: str, package: str) -> list:
    LabeledPoint = importlib.import_module(f"{package}.mllib.regression").LabeledPoint
    with np.load(path) as data:
        return [LabeledPoint(label, row) for label, row in zip(data["y"], data["X"])]


def load_ratings(path: str) -> list:
    with np.load(path) as data:
        return list(zip(data["users"].tolist(), data["products"].tolist(),
                        data["ratings"].tolist()))


def _arrays(files: list[str]) -> tuple[np.ndarray, np.ndarray | None]:
    parts = _parts(files)
    if parts[0].endswith(".npy"):
        return np.vstack([np.load(f) for f in parts]), None
    loaded = [np.load(f) for f in parts]
    X = np.vstack([part["X"] for part in loaded])
    y = np.concatenate([part["y"] for part in loaded])
    return X, y


def _prepare(loader):
    @contextlib.contextmanager
    def prepare(engine: str, handle, inputs: dict):
        if engine == "sklearn":
            X, y = _arrays(inputs["files"])
            yield dict(inputs, X=X, y=y)
            return
        sc = handle
        package = "pyspark" if type(sc).__module__.startswith("pyspark") else "ember"
        parts = _parts(inputs["files"])
        load = partial(load_labeled, package=package) if loader is load_labeled else loader
        rdd = sc.parallelize(parts, len(parts)).flatMap(load).cache()
        rdd.count()
        try:
            yield dict(inputs, rdd=rdd, sc=sc)
        finally:
            rdd.unpersist()

    return prepare


def _inputs(dataset: str):
    def inputs(scale, files):
        return {"files": files[dataset]}

    return inputs


def _verdict(problems: list[str]) -> dict:
    return {"quality": "ok" if not problems else "; ".join(problems)}


# --- k-means --------------------------------------------------------------------------

def kmeans_rdd(sc, inputs):
    clustering = _mllib(sc, "clustering")
    model = clustering.KMeans.train(inputs["rdd"], ML_CLUSTERS, maxIterations=ML_KMEANS_ITERATIONS,
                                    initializationMode="k-means||", seed=1, epsilon=0.0)
    return {"centers": np.array([np.asarray(c) for c in model.clusterCenters]),
            "files": inputs["files"]}


def kmeans_sklearn(inputs):
    from sklearn.cluster import KMeans

    model = KMeans(ML_CLUSTERS, init="k-means++", n_init=1, max_iter=ML_KMEANS_ITERATIONS,
                   tol=0.0, random_state=1, algorithm="lloyd").fit(inputs["X"])
    return {"centers": model.cluster_centers_, "files": inputs["files"]}


def kmeans_answer(raw):
    hidden = _hidden(raw["files"])["centers"]
    gaps = np.linalg.norm(hidden[:, None, :] - raw["centers"][None, :, :], axis=2).min(axis=1)
    print(f"largest distance of a hidden center to its learned one: {gaps.max():.4f}")
    return _verdict([] if gaps.max() < 0.5 else [f"a center missed by {gaps.max():.2f}"])


# --- logistic regression ------------------------------------------------------------

def logistic_rdd(sc, inputs):
    classification = _mllib(sc, "classification")
    model = classification.LogisticRegressionWithLBFGS.train(
        inputs["rdd"], iterations=100, regParam=0.0, intercept=True, tolerance=1e-6)
    return {"weights": np.asarray(model.weights.toArray()), "intercept": model.intercept,
            "files": inputs["files"]}


def logistic_sklearn(inputs):
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=np.inf, max_iter=100, tol=1e-6, solver="lbfgs").fit(
        inputs["X"], inputs["y"])
    return {"weights": model.coef_[0], "intercept": float(model.intercept_[0]),
            "files": inputs["files"]}


def logistic_answer(raw):
    hidden = _hidden(raw["files"])
    error = max(np.abs(raw["weights"] - hidden["weights"]).max(),
                abs(raw["intercept"] - float(hidden["intercept"])))
    print(f"largest error of a weight or the intercept: {error:.4f}")
    return _verdict([] if error < 0.05 else [f"a weight off by {error:.3f}"])


# --- ALS ------------------------------------------------------------------------------

def als_rdd(sc, inputs):
    recommendation = _mllib(sc, "recommendation")
    model = recommendation.ALS.train(inputs["rdd"], ML_ALS_RANK, iterations=ML_ALS_ITERATIONS,
                                     lambda_=0.01, seed=1)
    return {"model": model, "sc": sc, "rdd": inputs["rdd"]}


def als_answer(raw):
    sample = raw["rdd"].sample(False, 0.01, 3).collect()
    pairs = raw["sc"].parallelize([(u, p) for u, p, _ in sample], 4)
    predicted = {(r.user, r.product): r.rating for r in raw["model"].predictAll(pairs).collect()}
    errors = [predicted[(u, p)] - r for u, p, r in sample if (u, p) in predicted]
    rmse = float(np.sqrt(np.mean(np.square(errors))))
    print(f"rating RMSE on a 1 % sample of the training ratings: {rmse:.4f}")
    return _verdict([] if rmse < 0.2 else [f"rating RMSE {rmse:.3f}"])


# --- random forest --------------------------------------------------------------------

def _held_out(files: list[str], rows: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(12345)
    X = rng.standard_normal((rows, 20))
    return X, (X[:, 0] + X[:, 1] * X[:, 2] - X[:, 3] > 0).astype(np.float64)


def forest_rdd(sc, inputs):
    tree = _mllib(sc, "tree")
    model = tree.RandomForest.trainClassifier(inputs["rdd"], 2, {}, ML_FOREST_TREES,
                                              featureSubsetStrategy="sqrt", impurity="gini",
                                              maxDepth=4, maxBins=32, seed=1)
    return {"predict": lambda X: np.array(model.predict(sc.parallelize(X.tolist(), 4)).collect()),
            "files": inputs["files"]}


def forest_sklearn(inputs):
    from sklearn.ensemble import RandomForestClassifier

    model = RandomForestClassifier(ML_FOREST_TREES, max_depth=4, max_features="sqrt",
                                   random_state=1, n_jobs=1).fit(inputs["X"], inputs["y"])
    return {"predict": model.predict, "files": inputs["files"]}


def forest_answer(raw):
    X, y = _held_out(raw["files"])
    accuracy = float(np.mean(raw["predict"](X) == y))
    print(f"held-out accuracy: {accuracy:.4f}")
    return _verdict([] if accuracy > 0.75 else [f"held-out accuracy {accuracy:.3f}"])


WORKLOADS = [
    Workload(name="mllib_kmeans", measures="KMeans.train: k-means|| and 10 Lloyd iterations, "
             "k = 10, 20 dimensions", inputs=_inputs("ml_points"), rdd=kmeans_rdd,
             sklearn=kmeans_sklearn, prepare=_prepare(load_points), normalise=kmeans_answer,
             group="mllib", datasets=("ml_points",)),
    Workload(name="mllib_logistic", measures="LogisticRegressionWithLBFGS.train: 50 features, "
             "no penalty, intercept", inputs=_inputs("ml_classes"), rdd=logistic_rdd,
             sklearn=logistic_sklearn, prepare=_prepare(load_labeled),
             normalise=logistic_answer, group="mllib", datasets=("ml_classes",)),
    Workload(name="mllib_als", measures="ALS.train: rank 10, 10 iterations",
             inputs=_inputs("ml_ratings"), rdd=als_rdd, prepare=_prepare(load_ratings),
             normalise=als_answer, group="mllib", datasets=("ml_ratings",)),
    Workload(name="mllib_random_forest", measures="RandomForest.trainClassifier: 20 trees, "
             "depth 4, 20 features", inputs=_inputs("ml_forest"), rdd=forest_rdd,
             sklearn=forest_sklearn, prepare=_prepare(load_labeled), normalise=forest_answer,
             group="mllib", datasets=("ml_forest",)),
]
