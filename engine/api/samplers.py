"""Samplers of ``randomSplit`` and ``sampleByKey``, seeded per partition like
the samplers of ``ember.engine.api.sampling`` (one seed fixed on the driver), so
a recomputed partition draws exactly the same sample.

* ``RangeSampler``: one uniform draw per element; the element belongs to the
  split whose [lower, upper) range holds it. The splits of one
  ``randomSplit`` share the seed, so they see the same draws: every element
  lands in exactly one split.
* ``StratifiedSampler``: ``sample`` with a fraction per key (keys missing
  from ``fractions`` are an error naming the key).
"""

from __future__ import annotations

import math
import random
import sys
from typing import Any, Iterator

from ember.engine.api.sampling import _generator


def fixed_seed(seed: int | None) -> int:
    return random.randrange(sys.maxsize) if seed is None else int(seed)


class RangeSampler:
    def __init__(self, lower: float, upper: float, seed: int):
        self.lower = lower
        self.upper = upper
        self.seed = seed

    def __call__(self, partition: int, iterator: Iterator) -> Iterator:
        draw = _generator(self.seed, partition).random
        lower, upper = self.lower, self.upper
        return (item for item in iterator if lower <= draw() < upper)


class StratifiedSampler:
    def __init__(self, with_replacement: bool, fractions: dict, seed: int):
        self.with_replacement = with_replacement
        self.fractions = dict(fractions)
        self.seed = seed

    def _fraction(self, key: Any) -> float:
        try:
            return self.fractions[key]
        except KeyError:
            raise KeyError(f"sampleByKey: no fraction given for key {key!r}") from None

    def __call__(self, partition: int, iterator: Iterator) -> Iterator:
        draw = _generator(self.seed, partition).random
        for record in iterator:
            fraction = self._fraction(record[0])
            if not self.with_replacement:
                if draw() < fraction:
                    yield record
                continue
            # Poisson(fraction) copies, by Knuth's product of uniform draws.
            limit = math.exp(-fraction)
            product = draw()
            while product > limit:
                yield record
                product *= draw()
