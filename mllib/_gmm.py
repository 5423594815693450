"""Gaussian mixtures by expectation-maximisation over blocked data.

Owns the EM loop of ``GaussianMixture`` and the densities the model
predicts with. Each iteration is one ``treeAggregate``: a block computes the
log-density of all its points under every component at once (through each
covariance's eigen-decomposition), the memberships, and their sums
(weights, weighted sums, weighted outer products), plus the
log-likelihood; the driver turns the sums into new weights, means and
covariances. As in MLlib:

* without an initial model, component ``i`` starts from 5 points drawn
  with replacement (``i*5 .. i*5+4`` of ``5k`` draws seeded by the seed):
  their mean, and the diagonal of their variances; weights ``1/k``;
* a membership is ``(eps + w_i p_i(x))`` normalised, ``eps`` the machine
  epsilon, so a point far from every component still belongs somewhere;
* a singular covariance is handled with its pseudo-inverse and
  pseudo-determinant (eigenvalues below ``eps * max * d`` are dropped);
* iterations stop when the log-likelihood changes by less than
  ``convergenceTol`` or after ``maxIterations``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ember.mllib._blocks import BlockedData
from ember.mllib._kmeans import fetch_rows

EPSILON = np.finfo(np.float64).eps


class Components:
    """The log-density terms of k Gaussians, precomputed."""

    def __init__(self, means: np.ndarray, covariances: np.ndarray):
        self.means = means
        self.roots = []
        self.log_norms = []
        d = means.shape[1]
        for sigma in covariances:
            values, vectors = np.linalg.eigh(sigma)
            tolerance = EPSILON * max(values.max(initial=0.0), 0.0) * d
            keep = values > tolerance
            root = vectors[:, keep] / np.sqrt(values[keep])
            self.roots.append(root)
            log_pdet = float(np.log(values[keep]).sum())
            self.log_norms.append(-0.5 * (keep.sum() * np.log(2 * np.pi) + log_pdet))

    def log_pdf(self, X: np.ndarray) -> np.ndarray:
        """(n, k) log-densities."""
        out = np.empty((len(X), len(self.means)))
        for i, (mean, root, log_norm) in enumerate(zip(self.means, self.roots, self.log_norms)):
            z = (X - mean) @ root
            out[:, i] = log_norm - 0.5 * np.einsum("ij,ij->i", z, z)
        return out

    def memberships(self, X: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n, k) memberships and each point's log of its unnormalised total."""
        p = EPSILON + weights * np.exp(self.log_pdf(X))
        total = p.sum(axis=1, keepdims=True)
        return p / total, np.log(total[:, 0])


def _merge(left, right):
    if left is None or right is None:
        return right if left is None else left
    return tuple(a + b for a, b in zip(left, right))


def em(data: BlockedData, weights: np.ndarray, means: np.ndarray, covariances: np.ndarray,
       tolerance: float, max_iterations: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    likelihood, previous = -np.inf, 0.0
    iteration = 0
    while iteration < max_iterations and abs(likelihood - previous) > tolerance:
        broadcast = data.context.broadcast((weights, means, covariances))

        def seq(total, block):
            w, mu, sigma = broadcast.value
            X = block.rows.dense()
            p, log_totals = Components(mu, sigma).memberships(X, w)
            sums = p.sum(axis=0)
            weighted = p.T @ X
            outer = np.einsum("nk,ni,nj->kij", p, X, X)
            return _merge(total, (sums, weighted, outer, float(log_totals.sum())))

        try:
            sums, weighted, outer, log_likelihood = data.aggregate(None, seq, _merge)
        finally:
            broadcast.destroy()
        total = sums.sum()
        means = weighted / sums[:, None]
        covariances = outer / sums[:, None, None] - np.einsum("ki,kj->kij", means, means)
        weights = sums / total
        previous, likelihood = likelihood, log_likelihood
        iteration += 1
    return weights, means, covariances


def initial_components(data: BlockedData, k: int, seed: int) -> tuple[np.ndarray, np.ndarray,
                                                                      np.ndarray]:
    samples_per = 5
    rng = np.random.default_rng([seed & 0xFFFFFFFFFFFFFFFF, 5])
    positions = rng.integers(0, data.n, size=k * samples_per)
    order = np.argsort(positions, kind="stable")
    fetched = fetch_rows(data, positions[order])
    samples = np.empty_like(fetched)
    samples[order] = fetched
    means, covariances = [], []
    for i in range(k):
        chunk = samples[i * samples_per:(i + 1) * samples_per]
        mean = chunk.mean(axis=0)
        means.append(mean)
        covariances.append(np.diag(((chunk - mean) ** 2).sum(axis=0) / len(chunk)))
    return np.full(k, 1.0 / k), np.vstack(means), np.stack(covariances)


def soft_predict(X: np.ndarray, weights: np.ndarray, means: np.ndarray,
                 covariances: np.ndarray) -> np.ndarray:
    return Components(means, covariances).memberships(X, weights)[0]


def as_arrays(gaussians: Any) -> tuple[np.ndarray, np.ndarray]:
    means = np.vstack([np.asarray(g.mu.toArray() if hasattr(g.mu, "toArray") else g.mu,
                                  dtype=np.float64) for g in gaussians])
    covariances = np.stack([np.asarray(g.sigma.toArray() if hasattr(g.sigma, "toArray")
                                       else g.sigma, dtype=np.float64) for g in gaussians])
    return means, covariances
