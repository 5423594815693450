"""The samplers of ``sample``, ``randomSplit`` and ``sampleByKey``: PySpark's
``pyspark.rddsampler`` classes, drawing exactly PySpark's random numbers.

Each partition draws from its own generator, seeded with ``seed XOR
partition index`` and stirred by ten throw-away draws (neighbouring seeds
would otherwise start alike). So, with a seed, a partition's sample is the
same on every attempt (lineage recovery stays exact) and the same as
PySpark's for the same partitioning: a ported program that samples with a
fixed seed gets PySpark's elements.

* ``RDDSampler``: each element kept with probability ``fraction`` (without
  replacement), or repeated a Poisson(``fraction``)-distributed number of
  times (with replacement: Knuth's product of uniforms below a mean of 20,
  sums of exponential gaps above).
* ``RDDRangeSampler``: one uniform draw per element; the element belongs to
  the split whose [lower, upper) range holds it. The splits of one
  ``randomSplit`` share the seed, so they see the same draws: every element
  lands in exactly one split.
* ``RDDStratifiedSampler``: ``RDDSampler`` with a fraction per key (a key
  missing from ``fractions`` is an error naming it).

A sampler is called as ``sampler(partition_index, iterator)`` (also
``sampler.func``, PySpark's name). It keeps no state between calls, so one
object may serve several partitions at once.
"""

from __future__ import annotations

import math
import random
import sys
from typing import Any, Iterator


def fixed_seed(seed: int | None) -> int:
    return random.randint(0, sys.maxsize) if seed is None else int(seed)


class RDDSamplerBase:
    def __init__(self, withReplacement: bool, seed: int | None = None):
        self._seed = fixed_seed(seed)
        self._withReplacement = withReplacement
        self._random: random.Random | None = None

    def _generator(self, split: int) -> random.Random:
        generator = random.Random(self._seed ^ split)
        for _ in range(10):  # stir: seeds of neighbouring partitions differ in few bits
            generator.randint(0, 1)
        return generator

    def initRandomGenerator(self, split: int) -> None:
        self._random = self._generator(split)

    def getUniformSample(self) -> float:
        return self._random.random()

    def getPoissonSample(self, mean: float) -> int:
        return _poisson(self._random, mean)

    def func(self, split: int, iterator: Iterator) -> Iterator:
        raise NotImplementedError(f"{type(self).__name__}.func")

    def __call__(self, split: int, iterator: Iterator) -> Iterator:
        return self.func(split, iterator)


def _poisson(generator: random.Random, mean: float) -> int:
    """A Poisson(mean) draw, as PySpark draws it."""
    count = 0
    if mean < 20.0:
        limit = math.exp(-mean)
        product = generator.random()
        while product > limit:
            count += 1
            product *= generator.random()
    else:
        total = generator.expovariate(mean)
        while total < 1.0:
            count += 1
            total += generator.expovariate(mean)
    return count


class RDDSampler(RDDSamplerBase):
    def __init__(self, withReplacement: bool, fraction: float, seed: int | None = None):
        super().__init__(withReplacement, seed)
        self._fraction = fraction

    def func(self, split: int, iterator: Iterator) -> Iterator:
        generator = self._generator(split)
        fraction = self._fraction
        if not self._withReplacement:
            draw = generator.random
            return (item for item in iterator if draw() < fraction)
        return (item for item in iterator for _ in range(_poisson(generator, fraction)))


class RDDRangeSampler(RDDSamplerBase):
    def __init__(self, lowerBound: float, upperBound: float, seed: int | None = None):
        super().__init__(False, seed)
        self._lowerBound = lowerBound
        self._upperBound = upperBound

    def func(self, split: int, iterator: Iterator) -> Iterator:
        draw = self._generator(split).random
        lower, upper = self._lowerBound, self._upperBound
        return (item for item in iterator if lower <= draw() < upper)


class RDDStratifiedSampler(RDDSamplerBase):
    def __init__(self, withReplacement: bool, fractions: dict, seed: int | None = None):
        super().__init__(withReplacement, seed)
        self._fractions = dict(fractions)

    def _fraction(self, key: Any) -> float:
        try:
            return self._fractions[key]
        except KeyError:
            raise KeyError(f"sampleByKey: no fraction given for key {key!r}") from None

    def func(self, split: int, iterator: Iterator) -> Iterator:
        generator = self._generator(split)
        for record in iterator:
            fraction = self._fraction(record[0])
            if not self._withReplacement:
                if generator.random() < fraction:
                    yield record
                continue
            for _ in range(_poisson(generator, fraction)):
                yield record
