"""Special functions the statistics need, on numpy and the standard library.

Owns the distribution functions behind MLlib's hypothesis tests and models:
the normal CDF, the chi-squared survival function (through the regularised
incomplete gamma function: a series below ``a + 1``, a continued fraction
above, as in Numerical Recipes) and the Kolmogorov distribution of the
one-sample statistic ``D_n`` (exact by Marsaglia, Tsang and Wang's matrix
method while its matrix has at most 401 rows, as Apache Commons Math does
for small samples, and by the limiting distribution with Stephens'
correction beyond). ember needs no SciPy
at run time; the tests compare these with SciPy's.
"""

from __future__ import annotations

import math

import numpy as np


def norm_cdf(x: float | np.ndarray, mean: float = 0.0, sd: float = 1.0):
    """The normal distribution's CDF."""
    z = (np.asarray(x, dtype=np.float64) - mean) / (sd * math.sqrt(2.0))
    return 0.5 * _erfc(-z)


def _erfc(z: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erfc, otypes=[np.float64])(z) if np.ndim(z) else \
        np.float64(math.erfc(float(z)))


def _gamma_series(a: float, x: float) -> float:
    """P(a, x) by its series (x < a + 1)."""
    term = total = 1.0 / a
    ap = a
    for _ in range(10_000):
        ap += 1.0
        term *= x / ap
        total += term
        if abs(term) < abs(total) * 1e-16:
            break
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _gamma_fraction(a: float, x: float) -> float:
    """Q(a, x) by its continued fraction (x >= a + 1), Lentz's method."""
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-16:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


def gammaincc(a: float, x: float) -> float:
    """The regularised upper incomplete gamma function Q(a, x)."""
    if x <= 0:
        return 1.0
    if x < a + 1.0:
        return 1.0 - _gamma_series(a, x)
    return _gamma_fraction(a, x)


def chi2_sf(statistic: float, df: float) -> float:
    """P(X > statistic) for X chi-squared with ``df`` degrees of freedom."""
    if df <= 0:
        return float("nan")
    return gammaincc(df / 2.0, statistic / 2.0)


def _matrix_power_scaled(H: np.ndarray, n: int) -> tuple[np.ndarray, float]:
    """H ** n as (matrix, log scale): the true power is matrix * exp(scale)."""
    result = np.eye(len(H))
    result_scale = 0.0
    base, base_scale = H.copy(), 0.0
    while n:
        if n & 1:
            result = result @ base
            result_scale += base_scale
            top = np.abs(result).max()
            if top > 0:
                result /= top
                result_scale += math.log(top)
        n >>= 1
        if n:
            base = base @ base
            base_scale *= 2
            top = np.abs(base).max()
            if top > 0:
                base /= top
                base_scale += math.log(top)
    return result, result_scale


def _kolmogorov_exact(d: float, n: int) -> float:
    """P(D_n < d), Marsaglia, Tsang and Wang (2003)."""
    k = int(n * d) + 1
    m = 2 * k - 1
    h = k - n * d
    i, j = np.indices((m, m))
    H = np.where(i - j + 1 >= 0, 1.0, 0.0)
    powers = h ** np.arange(1, m + 1)
    H[:, 0] -= powers
    H[m - 1, :] -= powers[::-1]
    if 2 * h - 1 > 0:
        H[m - 1, 0] += (2 * h - 1) ** m
    factorials = np.array([math.factorial(max(v, 0)) for v in range(m + 1)], dtype=np.float64)
    gap = i - j + 1
    H = np.where(gap > 0, H / factorials[np.clip(gap, 0, m)], H)
    power, scale = _matrix_power_scaled(H, n)
    entry = power[k - 1, k - 1]
    if entry <= 0:
        return 0.0
    log_value = math.log(entry) + scale + math.lgamma(n + 1) - n * math.log(n)
    return min(1.0, math.exp(log_value))


def _kolmogorov_limit(x: float) -> float:
    """P(K <= x) for Kolmogorov's limiting distribution."""
    if x <= 0:
        return 0.0
    if x < 1.0:
        terms = sum(math.exp(-(2 * k - 1) ** 2 * math.pi ** 2 / (8 * x * x))
                    for k in range(1, 50))
        return math.sqrt(2 * math.pi) / x * terms
    return 1.0 - 2.0 * sum((-1) ** (k - 1) * math.exp(-2.0 * k * k * x * x)
                           for k in range(1, 100))


def kolmogorov_cdf(d: float, n: int) -> float:
    """P(D_n <= d) for the one-sample Kolmogorov-Smirnov statistic of ``n`` points."""
    if d <= 0:
        return 0.0
    if d >= 1:
        return 1.0
    if d <= 1.0 / (2 * n):
        return 0.0
    if n * d * d >= 18.37:  # the survival function is below 1e-16 there
        return 1.0
    if 2 * (int(n * d) + 1) - 1 <= 401:
        return _kolmogorov_exact(d, n)
    root = math.sqrt(n)
    return _kolmogorov_limit(d * (root + 0.12 + 0.11 / root))


def digamma(x: np.ndarray) -> np.ndarray:
    """The digamma function for positive arguments: the recurrence up to 6,
    then the asymptotic series."""
    x = np.array(x, dtype=np.float64, copy=True)
    result = np.zeros_like(x)
    small = x < 6.0
    while small.any():
        result[small] -= 1.0 / x[small]
        x[small] += 1.0
        small = x < 6.0
    inverse = 1.0 / x
    inverse2 = inverse * inverse
    result += (np.log(x) - 0.5 * inverse
               - inverse2 * (1.0 / 12 - inverse2 * (1.0 / 120 - inverse2 * (
                   1.0 / 252 - inverse2 * (1.0 / 240 - inverse2 / 132)))))
    return result
