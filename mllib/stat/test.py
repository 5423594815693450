"""The results of MLlib's hypothesis tests.

Owns ``ChiSqTestResult`` and ``KolmogorovSmirnovTestResult``: the statistic,
its degrees of freedom, the p-value, the null hypothesis, and a summary
text saying how strongly the p-value argues against it (as Spark prints it).
"""

from __future__ import annotations

from typing import Any

__all__ = ["ChiSqTestResult", "KolmogorovSmirnovTestResult"]


class TestResult:
    """A hypothesis test's outcome."""

    __test__ = False  # not a pytest test class

    def __init__(self, pValue: float, degreesOfFreedom: Any, statistic: float,
                 nullHypothesis: str):
        self._p_value = float(pValue)
        self._degrees_of_freedom = degreesOfFreedom
        self._statistic = float(statistic)
        self._null_hypothesis = nullHypothesis

    @property
    def pValue(self) -> float:
        """The probability of a statistic at least this extreme if the null
        hypothesis holds."""
        return self._p_value

    @property
    def degreesOfFreedom(self) -> Any:
        """The degrees of freedom of the test."""
        return self._degrees_of_freedom

    @property
    def statistic(self) -> float:
        """The test statistic."""
        return self._statistic

    @property
    def nullHypothesis(self) -> str:
        """The null hypothesis of the test."""
        return self._null_hypothesis

    def _summary(self) -> str:
        p = self._p_value
        if p <= 0.01:
            strength = "Very strong presumption against"
        elif p <= 0.05:
            strength = "Strong presumption against"
        elif p <= 0.1:
            strength = "Low presumption against"
        else:
            strength = "No presumption against"
        return (f"degrees of freedom = {self._degrees_of_freedom} \n"
                f"statistic = {self._statistic} \n"
                f"pValue = {p} \n"
                f"{strength} null hypothesis: {self._null_hypothesis}")

    def __str__(self) -> str:
        return self._summary()


class ChiSqTestResult(TestResult):
    """The result of a Pearson chi-squared test.

    >>> result = ChiSqTestResult(0.8187, 2, 0.4, "pearson",
    ...                          "observed follows the same distribution as expected.")
    >>> print(result)
    Chi squared test summary:
    method: pearson
    degrees of freedom = 2 
    statistic = 0.4 
    pValue = 0.8187 
    No presumption against null hypothesis: observed follows the same distribution as expected.
    """

    def __init__(self, pValue: float, degreesOfFreedom: int, statistic: float, method: str,
                 nullHypothesis: str):
        super().__init__(pValue, degreesOfFreedom, statistic, nullHypothesis)
        self._method = method

    @property
    def method(self) -> str:
        """The name of the test method."""
        return self._method

    def __str__(self) -> str:
        return f"Chi squared test summary:\nmethod: {self._method}\n{self._summary()}"


class KolmogorovSmirnovTestResult(TestResult):
    """The result of a one-sample Kolmogorov-Smirnov test."""

    def __init__(self, pValue: float, statistic: float, nullHypothesis: str):
        super().__init__(pValue, 0, statistic, nullHypothesis)

    def __str__(self) -> str:
        return f"Kolmogorov-Smirnov test summary:\n{self._summary()}"
