"""Optimisation over blocked data: MLlib's gradients, updaters, mini-batch
gradient descent, L-BFGS and OWL-QN.

Owns the training loops of the linear models. Each pass over the data is
one ``treeAggregate`` over the cached blocks of ``ember.mllib._blocks``:
every block computes its loss and gradient sums with one or two matrix
products (``gradient_sums``), and the partial sums meet in a tree. The
weights of a pass travel to the workers in a broadcast, destroyed once the
pass is aggregated (no lineage refers to it afterwards).

The formulas are MLlib's (``org.apache.spark.mllib.optimization``):

* gradients: least squares (loss ``(w.x - y)^2 / 2``), logistic (binary,
  and multinomial with class 0 as pivot), hinge (labels scaled to -1/+1);
* updaters: ``simple`` (step ``stepSize / sqrt(t)``), ``l1`` (soft
  thresholding by ``regParam * step``), ``l2`` (shrink by ``1 - step *
  regParam``); the regularisation value they report is added to the loss;
* gradient descent samples a ``miniBatchFraction`` of the rows per
  iteration with seed ``42 + t`` (per partition and block, so a
  recomputed block samples the same rows) and stops early when the
  weights move less than ``convergenceTol`` relative to their norm.

L-BFGS is a two-loop recursion with a strong-Wolfe line search; it stops
after ``maxIter`` iterations, when the objective improved by less than
``tol`` relative to its first value over the last ten iterations, or when the
gradient's largest entry is below ``tol`` relative to the objective.
OWL-QN (for L1 penalties) follows Andrew and Gao: a pseudo-gradient, the
two-loop direction constrained to its orthant, and a backtracking line
search projected on that orthant.

What it must not know: models and their public API (the algorithm modules
turn weights into models).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from ember.mllib._blocks import Block, BlockedData


# --- gradients: loss and gradient sums over one block --------------------------


def _log1p_exp(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def least_squares(block: Block, w: np.ndarray) -> tuple[np.ndarray, float]:
    diff = block.rows.matvec(w) - block.labels
    return block.rows.rmatvec(diff), 0.5 * float(diff @ diff)


def logistic(block: Block, w: np.ndarray) -> tuple[np.ndarray, float]:
    y = block.labels
    margin = -block.rows.matvec(w)
    multiplier = 1.0 / (1.0 + np.exp(margin)) - y
    loss = _log1p_exp(margin) - np.where(y > 0, 0.0, margin)
    return block.rows.rmatvec(multiplier), float(loss.sum())


def hinge(block: Block, w: np.ndarray) -> tuple[np.ndarray, float]:
    scaled = 2.0 * block.labels - 1.0
    dot = block.rows.matvec(w)
    active = 1.0 > scaled * dot
    return block.rows.rmatvec(-scaled * active), float(((1.0 - scaled * dot) * active).sum())


def multinomial_logistic(num_classes: int) -> Callable:
    """Logistic loss over ``num_classes`` classes, class 0 the pivot: the
    weights are (num_classes - 1) rows of the data's width, flattened."""

    def gradient(block: Block, w: np.ndarray) -> tuple[np.ndarray, float]:
        W = w.reshape(num_classes - 1, -1)
        margins = np.hstack([np.zeros((block.n, 1)), block.rows.matvec(W.T)])
        top = margins.max(axis=1, keepdims=True)
        exp = np.exp(margins - top)
        total = exp.sum(axis=1, keepdims=True)
        probabilities = exp / total
        labels = block.labels.astype(np.int64)
        loss = (np.log(total[:, 0]) + top[:, 0] - margins[np.arange(block.n), labels]).sum()
        probabilities[np.arange(block.n), labels] -= 1.0
        return block.rows.rmatvec(probabilities[:, 1:]).T.reshape(-1), float(loss)

    return gradient


GRADIENTS = {"leastSquares": least_squares, "logistic": logistic, "hinge": hinge}


# --- updaters ------------------------------------------------------------------


def simple_update(w, gradient, step_size, iteration, reg_param):
    step = step_size / math.sqrt(iteration)
    return w - step * gradient, 0.0


def l1_update(w, gradient, step_size, iteration, reg_param):
    step = step_size / math.sqrt(iteration)
    moved = w - step * gradient
    shrinkage = reg_param * step
    shrunk = np.sign(moved) * np.maximum(0.0, np.abs(moved) - shrinkage)
    return shrunk, reg_param * float(np.abs(shrunk).sum())


def l2_update(w, gradient, step_size, iteration, reg_param):
    step = step_size / math.sqrt(iteration)
    moved = w * (1.0 - step * reg_param) - step * gradient
    return moved, 0.5 * reg_param * float(moved @ moved)


UPDATERS = {None: simple_update, "l1": l1_update, "l2": l2_update}


# --- passes over the data ------------------------------------------------------


def _add(left, right):
    if left is None:
        return right
    if right is None:
        return left
    return left[0] + right[0], left[1] + right[1], left[2] + right[2]


def loss_and_gradient(data: BlockedData, gradient: Callable, w: np.ndarray,
                      fraction: float = 1.0, seed: int = 0) -> tuple[np.ndarray, float, int]:
    """Sums over the data (or a Bernoulli sample of a ``fraction`` of it) of
    the gradient and the loss, and the rows summed: one treeAggregate."""
    broadcast = data.context.broadcast(w)

    def per_partition(partition, blocks):
        weights = broadcast.value
        total = None
        for index, block in enumerate(blocks):
            if fraction < 1.0:
                rng = np.random.default_rng([seed, partition, index])
                keep = rng.random(block.n) < fraction
                if not keep.any():
                    continue
                block = Block(block.rows.take(keep), block.labels[keep])
            grad, loss = gradient(block, weights)
            total = _add(total, (grad, loss, block.n))
        return total

    try:
        result = data.aggregate_partitions(per_partition, _add)
    finally:
        broadcast.destroy()
    if result is None:
        return np.zeros_like(w), 0.0, 0
    return result


def gradient_descent(data: BlockedData, gradient: Callable, updater: Callable,
                     step_size: float, num_iterations: int, reg_param: float,
                     mini_batch_fraction: float, initial_weights: np.ndarray,
                     convergence_tol: float = 0.001) -> tuple[np.ndarray, list[float]]:
    """MLlib's mini-batch SGD: the weights and the loss of every iteration."""
    weights = np.array(initial_weights, dtype=np.float64)
    history: list[float] = []
    if data.n == 0:
        return weights, history
    _, reg_value = updater(weights, np.zeros_like(weights), 0.0, 1, reg_param)
    previous = None
    for iteration in range(1, num_iterations + 1):
        grad_sum, loss_sum, batch = loss_and_gradient(data, gradient, weights,
                                                      mini_batch_fraction, 42 + iteration)
        if batch == 0:
            continue
        history.append(loss_sum / batch + reg_value)
        weights, reg_value = updater(weights, grad_sum / batch, step_size, iteration, reg_param)
        if previous is not None:
            moved = np.linalg.norm(previous - weights)
            if moved < convergence_tol * max(np.linalg.norm(weights), 1.0):
                break
        previous = weights
    return weights, history


# --- quasi-Newton --------------------------------------------------------------


def _two_loop(gradient: np.ndarray, s_list: list, y_list: list) -> np.ndarray:
    """The L-BFGS direction -H g from the stored corrections."""
    q = gradient.copy()
    alphas = []
    for s, y in zip(reversed(s_list), reversed(y_list)):
        rho = 1.0 / (y @ s)
        alpha = rho * (s @ q)
        q -= alpha * y
        alphas.append((rho, alpha))
    if s_list:
        q *= (s_list[-1] @ y_list[-1]) / (y_list[-1] @ y_list[-1])
    for (s, y), (rho, alpha) in zip(zip(s_list, y_list), reversed(alphas)):
        beta = rho * (y @ q)
        q += s * (alpha - beta)
    return -q


def _cubic_min(a, fa, ga, b, fb, gb):
    """The minimiser of the cubic through (a, fa, ga) and (b, fb, gb), kept
    inside the interval's middle; bisection when the cubic has none."""
    d1 = ga + gb - 3 * (fa - fb) / (a - b)
    square = d1 * d1 - ga * gb
    low, high = min(a, b), max(a, b)
    if square >= 0:
        d2 = math.copysign(math.sqrt(square), b - a)
        t = b - (b - a) * (gb + d2 - d1) / (gb - ga + 2 * d2)
        if low + 0.1 * (high - low) <= t <= high - 0.1 * (high - low):
            return t
    return 0.5 * (a + b)


def _wolfe_search(f: Callable, x, fx, gx, direction, step=1.0, c1=1e-4, c2=0.9,
                  max_evaluations=20):
    """A step along ``direction`` meeting the strong Wolfe conditions
    (Nocedal and Wright, algorithms 3.5 and 3.6)."""
    slope0 = gx @ direction
    previous_step, previous_f, previous_slope = 0.0, fx, slope0
    evaluations = 0
    while evaluations < max_evaluations:
        value, grad = f(x + step * direction)
        evaluations += 1
        slope = grad @ direction
        if value > fx + c1 * step * slope0 or (evaluations > 1 and value >= previous_f):
            return _zoom(f, x, fx, slope0, direction, previous_step, previous_f, previous_slope,
                         step, value, slope, c1, c2, max_evaluations - evaluations)
        if abs(slope) <= -c2 * slope0:
            return step, value, grad
        if slope >= 0:
            return _zoom(f, x, fx, slope0, direction, step, value, slope, previous_step,
                         previous_f, previous_slope, c1, c2, max_evaluations - evaluations)
        previous_step, previous_f, previous_slope = step, value, slope
        step *= 2.0
    return step, value, grad


def _zoom(f, x, fx, slope0, direction, lo, f_lo, g_lo, hi, f_hi, g_hi, c1, c2, budget):
    best = None
    for _ in range(max(budget, 1)):
        step = _cubic_min(lo, f_lo, g_lo, hi, f_hi, g_hi)
        value, grad = f(x + step * direction)
        slope = grad @ direction
        if best is None or value < best[1]:
            best = (step, value, grad)
        if value > fx + c1 * step * slope0 or value >= f_lo:
            hi, f_hi, g_hi = step, value, slope
        else:
            if abs(slope) <= -c2 * slope0:
                return step, value, grad
            if slope * (hi - lo) >= 0:
                hi, f_hi, g_hi = lo, f_lo, g_lo
            lo, f_lo, g_lo = step, value, slope
        if abs(hi - lo) < 1e-12:
            break
    return best


def _remember(s_list: list, y_list: list, s: np.ndarray, y: np.ndarray, keep: int) -> None:
    """Keep a correction pair (if it curves the right way), the last ``keep``."""
    if s @ y > 1e-10 * (y @ y):
        s_list.append(s)
        y_list.append(y)
        if len(s_list) > keep:
            s_list.pop(0)
            y_list.pop(0)


def _converged(values: list[float], gradient: np.ndarray, tol: float) -> bool:
    if len(values) >= 2:
        recent = values[-11:-1]
        if abs(values[-1] - max(recent)) <= tol * max(abs(values[0]), 1e-300):
            return True
    return float(np.max(np.abs(gradient), initial=0.0)) <= max(tol * abs(values[-1]), 1e-8)


def lbfgs(f: Callable[[np.ndarray], tuple[float, np.ndarray]], x0: np.ndarray, max_iter: int,
          num_corrections: int = 10, tol: float = 1e-6) -> tuple[np.ndarray, list[float]]:
    """Minimise the smooth ``f`` (value and gradient) from ``x0``."""
    x = np.array(x0, dtype=np.float64)
    value, grad = f(x)
    values = [value]
    s_list: list = []
    y_list: list = []
    for iteration in range(max_iter):
        if _converged(values, grad, tol) and iteration > 0:
            break
        direction = _two_loop(grad, s_list, y_list)
        if grad @ direction >= 0:  # not a descent direction: restart from steepest descent
            s_list, y_list = [], []
            direction = -grad
        first = 1.0 if s_list else min(1.0, 1.0 / max(np.linalg.norm(grad), 1e-300))
        step, new_value, new_grad = _wolfe_search(f, x, value, grad, direction, first)
        if not new_value < value and not np.isclose(new_value, value):
            break
        s = step * direction
        _remember(s_list, y_list, s, new_grad - grad, num_corrections)
        x, value, grad = x + s, new_value, new_grad
        values.append(value)
    return x, values


def owlqn(f: Callable[[np.ndarray], tuple[float, np.ndarray]], x0: np.ndarray, l1: np.ndarray,
          max_iter: int, num_corrections: int = 10,
          tol: float = 1e-6) -> tuple[np.ndarray, list[float]]:
    """Minimise ``f(x) + sum(l1 * |x|)`` (``f`` smooth, ``l1`` >= 0 per entry)."""
    x = np.array(x0, dtype=np.float64)

    def objective(point):
        value, grad = f(point)
        return value + float(l1 @ np.abs(point)), grad

    def pseudo_gradient(point, grad):
        right = grad + l1 * np.where(point > 0, 1.0, np.where(point < 0, -1.0, 1.0))
        left = grad + l1 * np.where(point > 0, 1.0, np.where(point < 0, -1.0, -1.0))
        return np.where(point != 0, grad + l1 * np.sign(point),
                        np.where(right < 0, right, np.where(left > 0, left, 0.0)))

    value, grad = objective(x)
    values = [value]
    s_list: list = []
    y_list: list = []
    for iteration in range(max_iter):
        pseudo = pseudo_gradient(x, grad)
        if iteration > 0 and _converged(values, pseudo, tol):
            break
        direction = _two_loop(pseudo, s_list, y_list)
        direction = np.where(direction * pseudo < 0, direction, 0.0)  # stay in the orthant
        if not direction.any():
            break
        orthant = np.where(x != 0, np.sign(x), -np.sign(pseudo))
        step = 1.0 if s_list else 1.0 / max(np.linalg.norm(pseudo), 1e-300)
        for _ in range(30):
            candidate = x + step * direction
            candidate = np.where(np.sign(candidate) == orthant, candidate, 0.0)
            new_value, new_grad = objective(candidate)
            if new_value <= value + 1e-4 * (pseudo @ (candidate - x)):
                break
            step *= 0.5
        else:
            break
        _remember(s_list, y_list, candidate - x, new_grad - grad, num_corrections)
        x, value, grad = candidate, new_value, new_grad
        values.append(value)
    return x, values


def mean_loss(data: BlockedData, gradient: Callable, reg_l2: float = 0.0,
              penalised: np.ndarray | None = None) -> Callable[[np.ndarray], tuple[float, Any]]:
    """``w -> (mean loss + reg_l2/2 ||w||^2, its gradient)`` over the data,
    one treeAggregate per call (``penalised`` masks entries the L2 term
    leaves out, such as intercepts)."""

    def f(w):
        grad_sum, loss_sum, count = loss_and_gradient(data, gradient, w)
        count = max(count, 1)
        penal = w if penalised is None else w * penalised
        return (loss_sum / count + 0.5 * reg_l2 * float(penal @ penal),
                grad_sum / count + reg_l2 * penal)

    return f
