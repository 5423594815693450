"""The parameters of a multivariate Gaussian, as MLlib's models return them.

Owns ``MultivariateGaussian``, a named pair ``(mu, sigma)``: the mean vector
and the covariance matrix. (Densities are computed where they are used, by
the Gaussian mixture.)
"""

from __future__ import annotations

from typing import NamedTuple

from ember.mllib.linalg import Matrix, Vector

__all__ = ["MultivariateGaussian"]


class MultivariateGaussian(NamedTuple):
    """A ``(mu, sigma)`` pair: mean vector and covariance matrix.

    >>> from ember.mllib.linalg import DenseMatrix, Vectors
    >>> m = MultivariateGaussian(Vectors.dense([11, 12]), DenseMatrix(2, 2, (1.0, 3.0, 5.0, 2.0)))
    >>> m.mu, m.sigma.toArray().tolist()
    (DenseVector([11.0, 12.0]), [[1.0, 5.0], [3.0, 2.0]])
    >>> m[0] == m.mu
    True
    """

    mu: Vector
    sigma: Matrix
