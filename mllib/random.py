"""Random RDDs: i.i.d. samples of a distribution, generated on the workers.

Owns ``RandomRDDs``. An RDD of ``size`` values in ``numPartitions``
partitions (the Context's default parallelism unless given) is a
``parallelize`` of the partition numbers whose partitions each generate
their share from a numpy generator seeded by the seed and the partition:
nothing is generated on the driver, and a recomputed partition generates
the same values. Without a seed, one is drawn at random. Scalar RDDs hold
Python floats, vector RDDs numpy arrays (as PySpark's do).
"""

from __future__ import annotations

import functools
import random as _random
from typing import Any, Callable, Iterator

import numpy as np

__all__ = ["RandomRDDs"]


def _draw(sc: Any, size: int, num_partitions: int | None, seed: int | None,
          sample: Callable[[np.random.Generator, int], np.ndarray], vectors: bool) -> Any:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 0:
        raise ValueError(f"size must be a non-negative integer, got {size!r}")
    partitions = num_partitions or sc.defaultParallelism
    if partitions <= 0:
        raise ValueError(f"numPartitions must be positive, got {partitions}")
    seed = _random.getrandbits(63) if seed is None else int(seed)
    bounds = [size * part // partitions for part in range(partitions + 1)]

    def generate(part: int, _: Iterator) -> Iterator:
        rng = np.random.default_rng([seed & 0xFFFFFFFFFFFFFFFF, part])
        values = sample(rng, bounds[part + 1] - bounds[part])
        return iter(values) if vectors else iter(values.tolist())

    return sc.parallelize(range(partitions), partitions).mapPartitionsWithIndex(generate)


def _positive(name: str, value: float) -> float:
    if not value > 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return float(value)


class RandomRDDs:
    """Generators of RDDs of i.i.d. samples."""

    @staticmethod
    def uniformRDD(sc: Any, size: int, numPartitions: int | None = None,
                   seed: int | None = None) -> Any:
        """``size`` samples of U(0, 1); ``v * (b - a) + a`` gives U(a, b).

        >>> x = RandomRDDs.uniformRDD(sc, 100).collect()
        >>> len(x), max(x) <= 1.0 and min(x) >= 0.0
        (100, True)
        >>> RandomRDDs.uniformRDD(sc, 100, 4).getNumPartitions()
        4
        """
        return _draw(sc, size, numPartitions, seed, lambda rng, n: rng.random(n), False)

    @staticmethod
    def normalRDD(sc: Any, size: int, numPartitions: int | None = None,
                  seed: int | None = None) -> Any:
        """``size`` samples of the standard normal distribution.

        >>> stats = RandomRDDs.normalRDD(sc, 1000, seed=1).stats()
        >>> stats.count(), bool(abs(stats.mean()) < 0.1), bool(abs(stats.stdev() - 1.0) < 0.1)
        (1000, True, True)
        """
        return _draw(sc, size, numPartitions, seed, lambda rng, n: rng.standard_normal(n), False)

    @staticmethod
    def logNormalRDD(sc: Any, mean: float, std: float, size: int,
                     numPartitions: int | None = None, seed: int | None = None) -> Any:
        """``size`` samples of ``exp(N(mean, std^2))``.

        >>> stats = RandomRDDs.logNormalRDD(sc, 0.0, 1.0, 1000, seed=2).stats()
        >>> bool(abs(stats.mean() - np.exp(0.5)) < 0.5)
        True
        """
        std = _positive("std", std)
        return _draw(sc, size, numPartitions, seed,
                     lambda rng, n: rng.lognormal(float(mean), std, n), False)

    @staticmethod
    def poissonRDD(sc: Any, mean: float, size: int, numPartitions: int | None = None,
                   seed: int | None = None) -> Any:
        """``size`` samples of a Poisson distribution (as floats).

        >>> stats = RandomRDDs.poissonRDD(sc, 100.0, 1000, seed=2).stats()
        >>> bool(abs(stats.mean() - 100.0) < 1.0), bool(abs(stats.stdev() - 10.0) < 1.0)
        (True, True)
        """
        mean = _positive("mean", mean)
        return _draw(sc, size, numPartitions, seed,
                     lambda rng, n: rng.poisson(mean, n).astype(np.float64), False)

    @staticmethod
    def exponentialRDD(sc: Any, mean: float, size: int, numPartitions: int | None = None,
                       seed: int | None = None) -> Any:
        """``size`` samples of an exponential distribution of the given mean.

        >>> bool(abs(RandomRDDs.exponentialRDD(sc, 2.0, 1000, seed=2).mean() - 2.0) < 0.5)
        True
        """
        mean = _positive("mean", mean)
        return _draw(sc, size, numPartitions, seed,
                     lambda rng, n: rng.exponential(mean, n), False)

    @staticmethod
    def gammaRDD(sc: Any, shape: float, scale: float, size: int,
                 numPartitions: int | None = None, seed: int | None = None) -> Any:
        """``size`` samples of a Gamma distribution.

        >>> bool(abs(RandomRDDs.gammaRDD(sc, 1.0, 2.0, 1000, seed=2).mean() - 2.0) < 0.5)
        True
        """
        shape, scale = _positive("shape", shape), _positive("scale", scale)
        return _draw(sc, size, numPartitions, seed,
                     lambda rng, n: rng.gamma(shape, scale, n), False)

    @staticmethod
    def uniformVectorRDD(sc: Any, numRows: int, numCols: int, numPartitions: int | None = None,
                         seed: int | None = None) -> Any:
        """``numRows`` vectors (numpy arrays) of ``numCols`` samples of U(0, 1).

        >>> mat = np.array(RandomRDDs.uniformVectorRDD(sc, 10, 10).collect())
        >>> mat.shape, bool(mat.max() <= 1.0 and mat.min() >= 0.0)
        ((10, 10), True)
        """
        return _draw(sc, numRows, numPartitions, seed,
                     lambda rng, n: rng.random((n, numCols)), True)

    @staticmethod
    def normalVectorRDD(sc: Any, numRows: int, numCols: int, numPartitions: int | None = None,
                        seed: int | None = None) -> Any:
        """``numRows`` vectors of ``numCols`` standard normal samples.

        >>> mat = np.array(RandomRDDs.normalVectorRDD(sc, 100, 100, seed=1).collect())
        >>> mat.shape, bool(abs(mat.mean()) < 0.1), bool(abs(mat.std() - 1.0) < 0.1)
        ((100, 100), True, True)
        """
        return _draw(sc, numRows, numPartitions, seed,
                     lambda rng, n: rng.standard_normal((n, numCols)), True)

    @staticmethod
    def logNormalVectorRDD(sc: Any, mean: float, std: float, numRows: int, numCols: int,
                           numPartitions: int | None = None, seed: int | None = None) -> Any:
        """``numRows`` vectors of ``numCols`` log-normal samples."""
        std = _positive("std", std)
        return _draw(sc, numRows, numPartitions, seed,
                     lambda rng, n: rng.lognormal(float(mean), std, (n, numCols)), True)

    @staticmethod
    def poissonVectorRDD(sc: Any, mean: float, numRows: int, numCols: int,
                         numPartitions: int | None = None, seed: int | None = None) -> Any:
        """``numRows`` vectors of ``numCols`` Poisson samples (as floats)."""
        mean = _positive("mean", mean)
        return _draw(sc, numRows, numPartitions, seed,
                     lambda rng, n: rng.poisson(mean, (n, numCols)).astype(np.float64), True)

    @staticmethod
    def exponentialVectorRDD(sc: Any, mean: float, numRows: int, numCols: int,
                             numPartitions: int | None = None, seed: int | None = None) -> Any:
        """``numRows`` vectors of ``numCols`` exponential samples."""
        mean = _positive("mean", mean)
        return _draw(sc, numRows, numPartitions, seed,
                     lambda rng, n: rng.exponential(mean, (n, numCols)), True)

    @staticmethod
    def gammaVectorRDD(sc: Any, shape: float, scale: float, numRows: int, numCols: int,
                       numPartitions: int | None = None, seed: int | None = None) -> Any:
        """``numRows`` vectors of ``numCols`` Gamma samples.

        >>> mat = np.array(RandomRDDs.gammaVectorRDD(sc, 1.0, 2.0, 100, 100, seed=1).collect())
        >>> bool(abs(mat.mean() - 2.0) < 0.1), bool(abs(mat.std() - 2.0) < 0.1)
        (True, True)
        """
        shape, scale = _positive("shape", shape), _positive("scale", scale)
        return _draw(sc, numRows, numPartitions, seed,
                     lambda rng, n: rng.gamma(shape, scale, (n, numCols)), True)


def toArray(f: Callable[..., Any]) -> Callable[..., Any]:
    """Makes a method returning an RDD of vectors return one of numpy arrays
    (PySpark's decorator of its vector generators)."""
    @functools.wraps(f)
    def func(*args: Any, **kwargs: Any) -> Any:
        return f(*args, **kwargs).map(lambda vec: vec.toArray())
    return func
