"""Generated data sets of the ember.mllib tests, and plain numpy oracles of
MLlib's algorithms where scikit-learn has no counterpart running the same
update rules."""

from __future__ import annotations

import math

import numpy as np

from ember.mllib.linalg import DenseVector, SparseVector
from ember.mllib.regression import LabeledPoint


def blobs(n=600, d=3, k=3, spread=0.6, seed=0):
    """Points around ``k`` well-separated centers."""
    rng = np.random.default_rng(seed)
    while True:  # centers at least 10 spreads apart: every method must find the same clusters
        centers = rng.uniform(-10, 10, size=(k, d))
        gaps = np.linalg.norm(centers[:, None] - centers[None, :], axis=-1)[np.triu_indices(k, 1)]
        if gaps.min() > 10 * spread:
            break
    labels = rng.integers(k, size=n)
    return centers[labels] + spread * rng.standard_normal((n, d)), labels


def linear(n=400, d=4, noise=0.1, seed=1, intercept=0.0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    w = rng.uniform(-2, 2, size=d)
    return X, X @ w + intercept + noise * rng.standard_normal(n), w


def binary(n=600, d=4, seed=2):
    """Labels 0/1 from a logistic model with an intercept."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    w = rng.uniform(-2, 2, size=d)
    p = 1.0 / (1.0 + np.exp(-(X @ w + 0.5)))
    return X, (rng.random(n) < p).astype(float)


def points(X, y):
    return [LabeledPoint(label, DenseVector(row)) for label, row in zip(y, X)]


def sparse_points(X, y):
    out = []
    for label, row in zip(y, X):
        nonzero = np.nonzero(row)[0]
        out.append(LabeledPoint(label, SparseVector(len(row), nonzero, row[nonzero])))
    return out


# --- MLlib's mini-batch gradient descent, in plain numpy (the full batch) ------------

def sgd_oracle(X, y, gradient, updater, step, iterations, reg, initial, tol=0.001):
    w = np.array(initial, dtype=float)
    previous = None
    for t in range(1, iterations + 1):
        if gradient == "leastSquares":
            g = X.T @ (X @ w - y)
        elif gradient == "logistic":
            g = X.T @ (1.0 / (1.0 + np.exp(-(X @ w))) - y)
        else:  # hinge
            s = 2 * y - 1
            g = X.T @ (-s * (1.0 > s * (X @ w)))
        g /= len(y)
        size = step / math.sqrt(t)
        if updater == "l2":
            w = w * (1 - size * reg) - size * g
        elif updater == "l1":
            w = w - size * g
            w = np.sign(w) * np.maximum(0.0, np.abs(w) - reg * size)
        else:
            w = w - size * g
        if previous is not None and np.linalg.norm(previous - w) < tol * max(np.linalg.norm(w), 1.0):
            break
        previous = w
    return w


def als_oracle(R, rank, iterations, reg, seed_factors):
    """ALS-WR on a dense rating matrix with NaN for missing entries."""
    users, products = seed_factors
    known = ~np.isnan(R)
    for _ in range(iterations):
        for j in range(R.shape[1]):
            rows = known[:, j]
            Y = users[rows]
            products[j] = np.linalg.solve(Y.T @ Y + reg * rows.sum() * np.eye(rank), Y.T @ R[rows, j])
        for i in range(R.shape[0]):
            cols = known[i]
            Y = products[cols]
            users[i] = np.linalg.solve(Y.T @ Y + reg * cols.sum() * np.eye(rank), Y.T @ R[i, cols])
    return users, products
