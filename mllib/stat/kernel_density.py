"""Kernel density estimation with Gaussian kernels over a sample RDD.

Owns ``KernelDensity``. ``estimate(points)`` broadcasts the points and
aggregates, block by block of the sample, the kernel sums at every point
(one ``treeAggregate``); the density is their mean.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Iterator

import numpy as np

__all__ = ["KernelDensity"]


class KernelDensity:
    """Estimate a probability density from a sample, with a Gaussian kernel
    of standard deviation ``bandwidth`` (1.0 by default) around each value.

    >>> kd = KernelDensity()
    >>> kd.setSample(sc.parallelize([0.0, 1.0]))
    >>> kd.estimate([0.0, 1.0]).round(8)
    array([0.3204565, 0.3204565])
    """

    def __init__(self) -> None:
        self._bandwidth = 1.0
        self._sample = None

    def setBandwidth(self, bandwidth: float) -> None:
        """Set the kernels' standard deviation (default 1.0)."""
        if not bandwidth > 0:
            raise ValueError(f"bandwidth must be positive, got {bandwidth!r}")
        self._bandwidth = bandwidth

    def setSample(self, sample: Any) -> None:
        """Set the sample: an RDD of numbers."""
        if not hasattr(sample, "mapPartitions"):
            raise TypeError(f"samples should be a RDD, received {type(sample)}")
        self._sample = sample

    def estimate(self, points: Iterable[float]) -> np.ndarray:
        """The estimated density at each point."""
        if self._sample is None:
            raise ValueError("setSample must be called before estimate")
        where = np.asarray(list(points), dtype=np.float64)
        bandwidth = self._bandwidth
        broadcast = self._sample.context.broadcast(where)
        norm = 1.0 / (bandwidth * math.sqrt(2 * math.pi))

        def sums(values: Iterator) -> Iterator:
            at = broadcast.value
            total = np.zeros(len(at))
            count = 0
            chunk = []
            for value in values:
                chunk.append(float(value))
                if len(chunk) == 4096:
                    total += _kernels(np.array(chunk), at, bandwidth).sum(axis=0)
                    count += len(chunk)
                    chunk = []
            if chunk:
                total += _kernels(np.array(chunk), at, bandwidth).sum(axis=0)
                count += len(chunk)
            yield total, count

        try:
            total, count = self._sample.mapPartitions(sums).treeReduce(
                lambda a, b: (a[0] + b[0], a[1] + b[1]))
        finally:
            broadcast.destroy()
        return total * norm / count


def _kernels(sample: np.ndarray, points: np.ndarray, bandwidth: float) -> np.ndarray:
    z = (points[None, :] - sample[:, None]) / bandwidth
    return np.exp(-0.5 * z * z)
