"""Training generalised linear models: MLlib's GeneralizedLinearAlgorithm.

Owns the steps every linear model's ``train`` shares, in MLlib's order:
check the first record is a ``LabeledPoint`` (one small job, as PySpark
does) and the parameters (before any other job); read the data into
blocks (``ember.mllib._blocks``), checking binary labels when the model
needs them; scale the features by their standard deviation when the
algorithm uses feature scaling; append the bias column when an intercept is
fitted; optimise (``ember.mllib._optim``); map the weights back to the
original feature scale and split off the intercept.

Conventions kept from MLlib, because they change the answers:

* gradient descent starts the intercept at 1.0 and regularises it with
  the other weights (the bias is just another feature);
* feature scaling divides by the sample standard deviation without
  centring; a constant feature gets weight 0;
* ``LogisticRegressionWithLBFGS`` with an L1 or L2 penalty solves Spark ML's
  binary problem: mean log loss plus the penalty on the weights of the
  standardised features, the intercept not penalised (starting from the
  log-odds of the labels).

What it must not know: the public model classes (callers build them).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ember.mllib import _optim
from ember.mllib._blocks import AffineRows, Block, BlockedData, labeled_data


def first_labeled_point(data: Any, what: str) -> Any:
    """The first record, which must be a LabeledPoint (PySpark's check)."""
    from ember.mllib.regression import LabeledPoint

    if not hasattr(data, "mapPartitions"):
        raise TypeError(f"{what} needs an RDD of LabeledPoint, got {type(data).__name__}")
    first = data.first()
    if not isinstance(first, LabeledPoint):
        raise TypeError(f"data should be an RDD of LabeledPoint, but got {type(first)}")
    return first


def check_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer of at least {minimum}, got {value!r}")
    return int(value)


def check_fraction(name: str, value: Any) -> float:
    if not isinstance(value, (int, float)) or not 0.0 < value <= 1.0:
        raise ValueError(f"{name} must be in (0, 1], got {value!r}")
    return float(value)


def check_nonnegative(name: str, value: Any) -> float:
    if not isinstance(value, (int, float)) or value < 0 or value != value:
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    return float(value)


def check_reg_type(reg_type: Any) -> None:
    if reg_type not in ("l1", "l2", None):
        raise ValueError(f"Invalid value for 'regType' parameter: {reg_type!r}. Can only be "
                         f"initialized using the following string values: ['l1', 'l2', None].")


def check_initial_weights(weights: Any, expected: int, meaning: str) -> np.ndarray:
    from ember.mllib._blocks import as_array

    values = as_array(weights).reshape(-1)
    if len(values) != expected:
        raise ValueError(f"initialWeights has {len(values)} values, expected {expected} "
                         f"({meaning})")
    return values


def column_std(data: BlockedData) -> np.ndarray:
    """Per feature, the sample standard deviation (from the sums the blocks
    were summarised with: no pass over the data)."""
    if data.n < 2:
        return np.zeros(data.d)
    mean = data.column_sums / data.n
    variance = np.maximum((data.column_squares - data.n * mean * mean) / (data.n - 1), 0.0)
    return np.sqrt(variance)


def _scale_and_bias(factors: np.ndarray | None, bias: bool) -> Callable[[Block], Block]:
    def transform(block: Block) -> Block:
        return Block(AffineRows(block.rows, factors, bias), block.labels)

    return transform


def prepare(data: BlockedData, scale: bool, bias: bool) -> tuple[BlockedData, np.ndarray | None]:
    """The blocks to optimise over (scaled, with bias) and the scale factors."""
    factors = None
    if scale:
        std = column_std(data)
        factors = np.where(std != 0.0, 1.0 / np.where(std != 0.0, std, 1.0), 0.0)
    if not scale and not bias:
        return data, None
    return data.derive(_scale_and_bias(factors, bias), data.d + (1 if bias else 0)), factors


def read_training_data(data: Any, what: str, binary: bool, num_classes: int = 2) -> BlockedData:
    blocked = labeled_data(data)
    if binary:
        blocked.check_classes(num_classes, what)
    return blocked


def train_sgd(data: Any, what: str, gradient: str, reg_type: Any, iterations: int, step: float,
              reg_param: float, mini_batch_fraction: float, initial_weights: Any,
              intercept: bool, validate: bool, convergence_tol: float,
              binary: bool) -> tuple[np.ndarray, float, int]:
    """Weights, intercept and feature count of a model trained with MLlib's
    mini-batch gradient descent."""
    check_positive_int("iterations", iterations, 0)
    check_fraction("miniBatchFraction", mini_batch_fraction)
    check_nonnegative("regParam", reg_param)
    check_reg_type(reg_type)
    first = first_labeled_point(data, what)
    d = len(first.features)
    initial = np.zeros(d) if initial_weights is None else \
        check_initial_weights(initial_weights, d, "one per feature")
    blocked = read_training_data(data, what, binary and validate)
    training = blocked
    try:
        training, _ = prepare(blocked, scale=False, bias=intercept)
        start = np.append(initial, 1.0) if intercept else initial
        weights, _ = _optim.gradient_descent(
            training, _optim.GRADIENTS[gradient], _optim.UPDATERS[reg_type], float(step),
            int(iterations), float(reg_param), float(mini_batch_fraction), start,
            float(convergence_tol))
    finally:
        training.unpersist()
        blocked.unpersist()
    if intercept:
        return weights[:-1], float(weights[-1]), d
    return weights, 0.0, d


def train_logistic_lbfgs(data: Any, iterations: int, initial_weights: Any, reg_param: float,
                         reg_type: Any, intercept: bool, corrections: int, tolerance: float,
                         validate: bool, num_classes: int) -> tuple[np.ndarray, float, int]:
    """Weights, intercept and feature count of MLlib's
    LogisticRegressionWithLBFGS (binary and multinomial)."""
    what = "LogisticRegressionWithLBFGS"
    check_positive_int("iterations", iterations, 0)
    check_positive_int("numClasses", num_classes, 2)
    check_positive_int("corrections", corrections)
    check_nonnegative("regParam", reg_param)
    check_nonnegative("tolerance", tolerance)
    check_reg_type(reg_type)
    first = first_labeled_point(data, what)
    d = len(first.features)
    if num_classes == 2:
        expected, meaning = d, "one per feature"
    else:
        width = d + 1 if intercept else d
        expected = width * (num_classes - 1)
        meaning = f"{width} for each of the {num_classes - 1} classes after the first"
    initial = np.zeros(expected) if initial_weights is None else \
        check_initial_weights(initial_weights, expected, meaning)
    blocked = read_training_data(data, what, validate, num_classes)
    try:
        if num_classes == 2 and reg_type is not None:
            return _binary_penalised(blocked, d, iterations, initial, reg_param, reg_type,
                                     intercept, corrections, tolerance) + (d,)
        weights, bias = _glm_lbfgs(blocked, d, iterations, initial, reg_param, reg_type,
                                   intercept, corrections, tolerance, num_classes)
        return weights, bias, d
    finally:
        blocked.unpersist()


def _binary_penalised(blocked: BlockedData, d: int, iterations: int, initial: np.ndarray,
                      reg_param: float, reg_type: str, intercept: bool, corrections: int,
                      tolerance: float) -> tuple[np.ndarray, float]:
    """Spark ML's binary logistic regression, standardised features."""
    positives, n = blocked.positives, blocked.n
    if intercept and (positives == 0 or positives == n):
        # every label is the same class: the optimum is at an infinite intercept
        return np.zeros(d), float("inf") if positives == n else float("-inf")
    training, factors = prepare(blocked, scale=True, bias=intercept)
    try:
        std = np.where(factors != 0.0, 1.0 / np.where(factors != 0.0, factors, 1.0), 0.0)
        start = initial * std
        if intercept:
            start = np.append(start, np.log(positives / (n - positives)))
        penalised = np.append(np.ones(d), 0.0) if intercept else np.ones(d)
        l2 = reg_param if reg_type == "l2" else 0.0
        f = _optim.mean_loss(training, _optim.logistic, l2, penalised)
        if reg_type == "l1" and reg_param > 0:
            solution, _ = _optim.owlqn(f, start, reg_param * penalised, int(iterations),
                                       int(corrections), float(tolerance))
        else:
            solution, _ = _optim.lbfgs(f, start, int(iterations), int(corrections),
                                       float(tolerance))
    finally:
        training.unpersist()
    weights = solution[:d] * factors
    return weights, float(solution[d]) if intercept else 0.0


def _glm_lbfgs(blocked: BlockedData, d: int, iterations: int, initial: np.ndarray,
               reg_param: float, reg_type: Any, intercept: bool, corrections: int,
               tolerance: float, num_classes: int) -> tuple[np.ndarray, float]:
    """MLlib's own L-BFGS path: scaled features, the bias appended after
    scaling, the penalty (L2 through the loss, L1 through OWL-QN) on every
    weight including the bias."""
    training, factors = prepare(blocked, scale=True, bias=intercept)
    width = d + 1 if intercept else d
    classes = num_classes - 1
    try:
        if num_classes == 2:
            gradient = _optim.logistic
            start = np.append(initial, 1.0) if intercept else initial.copy()
        else:
            gradient = _optim.multinomial_logistic(num_classes)
            start = initial.copy()
        # starting weights are in the original scale: move them to the scaled one
        start = start.reshape(classes, width)
        start[:, :d] = start[:, :d] * np.where(factors != 0, 1.0 / np.where(factors != 0, factors, 1.0), 0.0)
        start = start.reshape(-1)
        l2 = reg_param if reg_type == "l2" else 0.0
        f = _optim.mean_loss(training, gradient, l2)
        if reg_type == "l1" and reg_param > 0:
            solution, _ = _optim.owlqn(f, start, np.full(len(start), reg_param),
                                       int(iterations), int(corrections), float(tolerance))
        else:
            solution, _ = _optim.lbfgs(f, start, int(iterations), int(corrections),
                                       float(tolerance))
    finally:
        training.unpersist()
    matrix = solution.reshape(classes, width)
    matrix[:, :d] *= factors
    if num_classes == 2 and intercept:
        return matrix[0, :d].copy(), float(matrix[0, d])
    return matrix.reshape(-1), 0.0
