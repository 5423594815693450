"""Count, mean, variance, min and max of a stream of numbers, mergeable across
partitions (Chan et al.'s parallel update). PySpark's ``StatCounter``."""

from __future__ import annotations

import math
from typing import Iterable


class StatCounter:
    """Running statistics over numbers.

    >>> s = StatCounter([1.0, 2.0, 3.0, 4.0])
    >>> s.count(), s.mean(), s.sum(), s.min(), s.max(), s.variance()
    (4, 2.5, 10.0, 1.0, 4.0, 1.25)
    >>> s.mergeStats(StatCounter([5.0])).count()
    5
    """

    def __init__(self, values: Iterable[float] | None = None):
        self.n = 0
        self.mu = 0.0
        self.m2 = 0.0
        self.maxValue = float("-inf")
        self.minValue = float("inf")
        for value in values or ():
            self.merge(value)

    def merge(self, value: float) -> "StatCounter":
        delta = value - self.mu
        self.n += 1
        self.mu += delta / self.n
        self.m2 += delta * (value - self.mu)
        self.maxValue = max(self.maxValue, value)
        self.minValue = min(self.minValue, value)
        return self

    def mergeStats(self, other: "StatCounter") -> "StatCounter":
        if not isinstance(other, StatCounter):
            raise TypeError(f"mergeStats needs a StatCounter, got {type(other).__name__}")
        if other is self:
            return self.mergeStats(other.copy())
        if other.n == 0:
            return self
        if self.n == 0:
            self.n, self.mu, self.m2 = other.n, other.mu, other.m2
            self.maxValue, self.minValue = other.maxValue, other.minValue
            return self
        delta = other.mu - self.mu
        total = self.n + other.n
        if other.n * 10 < self.n:
            self.mu += delta * other.n / total
        elif self.n * 10 < other.n:
            self.mu = other.mu - delta * self.n / total
        else:
            self.mu = (self.mu * self.n + other.mu * other.n) / total
        self.m2 += other.m2 + delta * delta * self.n * other.n / total
        self.n = total
        self.maxValue = max(self.maxValue, other.maxValue)
        self.minValue = min(self.minValue, other.minValue)
        return self

    def copy(self) -> "StatCounter":
        clone = StatCounter()
        clone.n, clone.mu, clone.m2 = self.n, self.mu, self.m2
        clone.maxValue, clone.minValue = self.maxValue, self.minValue
        return clone

    def count(self) -> int:
        return int(self.n)

    def mean(self) -> float:
        return float(self.mu)

    def sum(self) -> float:
        return float(self.n * self.mu)

    def min(self) -> float:
        return self.minValue

    def max(self) -> float:
        return self.maxValue

    def variance(self) -> float:
        return math.nan if self.n == 0 else float(self.m2 / self.n)

    def sampleVariance(self) -> float:
        return math.nan if self.n <= 1 else float(self.m2 / (self.n - 1))

    def stdev(self) -> float:
        return math.sqrt(self.variance())

    def sampleStdev(self) -> float:
        return math.sqrt(self.sampleVariance())

    def asDict(self, sample: bool = False) -> dict:
        """The statistics as a dict. By default ``stdev`` and ``variance`` are
        the *sample* ones (n - 1), and ``sample=True`` gives the population
        ones: inverted, but it is what PySpark returns, and what code moving
        from PySpark expects.

        >>> StatCounter([1.0, 2.0, 3.0, 4.0]).asDict()["variance"]
        1.6666666666666667
        >>> StatCounter([1.0, 2.0, 3.0, 4.0]).asDict(sample=True)["variance"]
        1.25
        """
        return {
            "count": self.count(),
            "mean": self.mean(),
            "sum": self.sum(),
            "min": self.min(),
            "max": self.max(),
            "stdev": self.stdev() if sample else self.sampleStdev(),
            "variance": self.variance() if sample else self.sampleVariance(),
        }

    def __repr__(self) -> str:
        return "(count: %s, mean: %s, stdev: %s, max: %s, min: %s)" % (
            self.count(), self.mean(), self.stdev(), self.max(), self.min())
