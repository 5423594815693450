"""Statistics on RDDs: column summaries, correlations, hypothesis tests,
kernel density estimation, and the multivariate Gaussian's parameters.

The public names of ``pyspark.mllib.stat``; each lives in its own module
(``_statistics``, ``test``, ``distribution``, ``kernel_density``).
"""

from ember.mllib.stat._statistics import MultivariateStatisticalSummary, Statistics
from ember.mllib.stat.distribution import MultivariateGaussian
from ember.mllib.stat.kernel_density import KernelDensity
from ember.mllib.stat.test import ChiSqTestResult, KolmogorovSmirnovTestResult

__all__ = [
    "Statistics",
    "MultivariateStatisticalSummary",
    "ChiSqTestResult",
    "KolmogorovSmirnovTestResult",
    "MultivariateGaussian",
    "KernelDensity",
]
