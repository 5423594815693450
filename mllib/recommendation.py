"""Collaborative filtering: alternating least squares and its model.

Owns ``ALS``, ``MatrixFactorizationModel`` and ``Rating``.

How ALS runs (MLlib's algorithm, ember's data layout):

* The ratings are read once and cached twice, grouped by user and grouped
  by product into ``blocks`` partitions (``-1``: the default parallelism),
  each partition holding numpy arrays sorted by its entity.
* The factors live on the driver (one row per user or product, rank
  columns) and travel to the workers as broadcasts: each iteration solves
  the products from the users' factors, then the users from the products'.
  A partition solves all its entities at once: the normal equations
  ``(Y^T Y + lambda n I) x = Y^T r`` of each entity come from one small
  matrix product per entity with many ratings, and from per-cell
  ``bincount`` sums for the entities with few, and are solved as one batch. ``lambda`` is scaled by each entity's number of
  ratings, as in MLlib (ALS-WR). Implicit feedback (Hu, Koren and Volinsky)
  uses confidence ``1 + alpha |r|`` and preference ``r > 0``, with the
  Gramian of all factors shared. ``nonnegative`` solves each system under
  ``x >= 0`` by an active-set method.
* Initial factors are drawn from a normal distribution seeded by the seed
  and scaled to unit length (their absolute values for a nonnegative
  factorisation, so it starts feasible), so a seed gives the same model
  whatever the partitioning or the number of workers.

*Design change*: MLlib keeps factors distributed and ships each block the
factors it needs. ember broadcasts whole factor matrices, which is simpler
and faster while they fit in memory (users x rank doubles; 10 million users
at rank 10 is 800 MB); beyond that MLlib's layout is the one to use.
"""

from __future__ import annotations

import array
import random as _random
from typing import Any, Iterator, NamedTuple

import numpy as np

from ember.engine.api.storage import StorageLevel
from ember.engine.errors import InvalidDataError
from ember.mllib import _persist
from ember.mllib.util import DetachedContext, Loader, Saveable

__all__ = ["MatrixFactorizationModel", "ALS", "Rating"]


class Rating(NamedTuple):
    """A ``(user, product, rating)`` triple.

    >>> r = Rating(1, 2, 5.0)
    >>> (r.user, r.product, r.rating), (r[0], r[1], r[2])
    ((1, 2, 5.0), (1, 2, 5.0))
    """

    user: int
    product: int
    rating: float

    def __reduce__(self):
        return Rating, (int(self.user), int(self.product), float(self.rating))


class MatrixFactorizationModel(DetachedContext, Saveable, Loader["MatrixFactorizationModel"]):
    """User and product factors whose dot products predict ratings.

    >>> ratings = sc.parallelize([(1, 1, 1.0), (1, 2, 2.0), (2, 1, 2.0)])
    >>> model = ALS.train(ratings, 2, seed=0)
    >>> model.predictAll(sc.parallelize([(1, 2), (1, 1)])).collect()
    [Rating(user=1, product=1, rating=1.0...), Rating(user=1, product=2, rating=1.9...)]
    >>> model = ALS.train(ratings, 4, seed=10)
    >>> model.userFeatures().collect()
    [(1, array('d', [...])), (2, array('d', [...]))]
    >>> model.recommendUsers(1, 2)
    [Rating(user=2, product=1, rating=1.9...), Rating(user=1, product=1, rating=1.0...)]
    >>> model.recommendProducts(1, 2)
    [Rating(user=1, product=2, rating=1.9...), Rating(user=1, product=1, rating=1.0...)]
    >>> model.rank, len(model.productFeatures().first()[1])
    (4, 4)
    >>> model.recommendProductsForUsers(1).collect()[0]
    (1, (Rating(user=1, product=2, rating=...),))
    >>> model.recommendUsersForProducts(1).collect()[0]
    (1, (Rating(user=2, product=1, rating=...),))
    >>> ALS.train(ratings, 1, nonnegative=True, seed=123456789).predict(2, 2)
    3.73...
    >>> import tempfile
    >>> path = tempfile.mkdtemp()
    >>> model.save(sc, path)
    >>> MatrixFactorizationModel.load(sc, path).predict(2, 2) == model.predict(2, 2)
    True
    """

    def __init__(self, rank: int, users: np.ndarray, user_factors: np.ndarray,
                 products: np.ndarray, product_factors: np.ndarray, sc: Any = None):
        self._rank = int(rank)
        self._users = np.asarray(users, dtype=np.int64)
        self._user_factors = np.asarray(user_factors, dtype=np.float64)
        self._products = np.asarray(products, dtype=np.int64)
        self._product_factors = np.asarray(product_factors, dtype=np.float64)
        self._sc = sc

    def _row(self, ids: np.ndarray, value: int, what: str) -> int:
        position = int(np.searchsorted(ids, value))
        if position >= len(ids) or ids[position] != value:
            raise KeyError(f"{what} {value} is not in the model")
        return position

    def predict(self, user: int, product: int) -> float:
        """The predicted rating of a product by a user (both must be in the model)."""
        u = self._row(self._users, int(user), "user")
        p = self._row(self._products, int(product), "product")
        return float(self._user_factors[u] @ self._product_factors[p])

    def predictAll(self, user_product: Any) -> Any:
        """The predicted ``Rating`` of every ``(user, product)`` pair of an RDD
        whose user and product are both in the model."""
        if not (hasattr(user_product, "mapPartitions")):
            raise TypeError("user_product should be RDD of (user, product)")
        first = user_product.first()
        if len(first) != 2:
            raise ValueError("user_product should be RDD of (user, product)")
        broadcast = self._sc.broadcast((self._users, self._user_factors, self._products,
                                        self._product_factors))

        def score(records: Iterator) -> Iterator:
            users, user_factors, products, product_factors = broadcast.value
            pairs = np.array([(int(u), int(p)) for p, u in records], dtype=np.int64)
            if not len(pairs):
                return
            u_pos = np.clip(np.searchsorted(users, pairs[:, 0]), 0, len(users) - 1)
            p_pos = np.clip(np.searchsorted(products, pairs[:, 1]), 0, len(products) - 1)
            known = (users[u_pos] == pairs[:, 0]) & (products[p_pos] == pairs[:, 1])
            values = np.einsum("ij,ij->i", user_factors[u_pos[known]],
                               product_factors[p_pos[known]])
            for (u, p), value in zip(pairs[known].tolist(), values.tolist()):
                yield Rating(u, p, value)

        keyed = user_product.map(lambda pair: (int(pair[1]), int(pair[0])))
        return keyed.partitionBy(user_product.getNumPartitions()).mapPartitions(score)

    def _features(self, ids: np.ndarray, factors: np.ndarray) -> Any:
        items = [(int(i), array.array("d", row)) for i, row in zip(ids, factors)]
        return self._sc.parallelize(items, max(1, min(self._sc.defaultParallelism,
                                                      len(items) // 1000 + 1)))

    def userFeatures(self) -> Any:
        """An RDD of ``(user, array('d', factors))``, by user."""
        return self._features(self._users, self._user_factors)

    def productFeatures(self) -> Any:
        """An RDD of ``(product, array('d', factors))``, by product."""
        return self._features(self._products, self._product_factors)

    def recommendUsers(self, product: int, num: int) -> list[Rating]:
        """The ``num`` users predicted to rate a product highest, best first."""
        p = self._row(self._products, int(product), "product")
        scores = self._user_factors @ self._product_factors[p]
        return [Rating(int(self._users[i]), int(product), float(scores[i]))
                for i in _top(scores, num)]

    def recommendProducts(self, user: int, num: int) -> list[Rating]:
        """The ``num`` products a user is predicted to rate highest, best first."""
        u = self._row(self._users, int(user), "user")
        scores = self._product_factors @ self._user_factors[u]
        return [Rating(int(user), int(self._products[i]), float(scores[i]))
                for i in _top(scores, num)]

    def _recommend_all(self, ids, factors, other_ids, other_factors, num: int,
                       users_first: bool) -> Any:
        broadcast = self._sc.broadcast((ids, factors, other_ids, other_factors))

        def recommend(records: Iterator) -> Iterator:
            ids_, factors_, other_ids_, other_factors_ = broadcast.value
            positions = np.fromiter(records, dtype=np.int64)
            if not len(positions):
                return
            scores = factors_[positions] @ other_factors_.T
            for position, row in zip(positions, scores):
                entity = int(ids_[position])
                best = _top(row, num)
                yield entity, tuple(
                    Rating(entity, int(other_ids_[j]), float(row[j])) if users_first
                    else Rating(int(other_ids_[j]), entity, float(row[j])) for j in best)

        slices = max(1, min(self._sc.defaultParallelism, len(ids) // 1000 + 1))
        return self._sc.parallelize(range(len(ids)), slices).mapPartitions(recommend)

    def recommendProductsForUsers(self, num: int) -> Any:
        """An RDD of ``(user, (Rating, ...))``: every user's ``num`` best products."""
        return self._recommend_all(self._users, self._user_factors, self._products,
                                   self._product_factors, num, True)

    def recommendUsersForProducts(self, num: int) -> Any:
        """An RDD of ``(product, (Rating, ...))``: every product's ``num`` best users."""
        return self._recommend_all(self._products, self._product_factors, self._users,
                                   self._user_factors, num, False)

    @property
    def rank(self) -> int:
        """The number of factors."""
        return self._rank

    def save(self, sc: Any, path: str) -> None:
        """Save this model to ``path``."""
        records = [{"kind": "user", "id": int(i), "features": row.tolist()}
                   for i, row in zip(self._users, self._user_factors)]
        records += [{"kind": "product", "id": int(i), "features": row.tolist()}
                    for i, row in zip(self._products, self._product_factors)]
        _persist.save(sc, path, "org.apache.spark.mllib.recommendation.MatrixFactorizationModel",
                      {"rank": self._rank}, records)

    @classmethod
    def load(cls, sc: Any, path: str) -> "MatrixFactorizationModel":
        """Load a model saved with ``save``."""
        metadata = _persist.load_metadata(
            sc, path, "org.apache.spark.mllib.recommendation.MatrixFactorizationModel")
        records = _persist.load_records(sc, path)
        rank = metadata["rank"]

        def table(kind: str) -> tuple[np.ndarray, np.ndarray]:
            rows = sorted((r["id"], r["features"]) for r in records if r["kind"] == kind)
            return (np.array([i for i, _ in rows], dtype=np.int64),
                    np.array([f for _, f in rows], dtype=np.float64).reshape(len(rows), rank))

        users, user_factors = table("user")
        products, product_factors = table("product")
        return cls(rank, users, user_factors, products, product_factors, sc)


def _top(scores: np.ndarray, num: int) -> np.ndarray:
    num = min(int(num), len(scores))
    if num <= 0:
        return np.zeros(0, dtype=np.int64)
    best = np.argpartition(-scores, num - 1)[:num]
    return best[np.lexsort((best, -scores[best]))]


# --- training -------------------------------------------------------------------


def _to_arrays(partition: int, records: Iterator) -> Iterator[np.ndarray]:
    """A partition's ratings as one (n, 3) array: user, product, rating."""
    rows = [tuple(record[:3]) for record in records]
    if not rows:
        return
    try:
        table = np.array(rows, dtype=np.float64).reshape(len(rows), 3)
    except (TypeError, ValueError):
        raise InvalidDataError(f"partition {partition} has a rating that is not (user, product, "
                               f"rating) numbers") from None
    ids = table[:, :2]
    bad = ids != np.floor(ids)
    if bad.any():
        row = int(np.argmax(bad.any(axis=1)))
        raise InvalidDataError(f"ALS ids must be integers, got user {table[row, 0]!r} and "
                               f"product {table[row, 1]!r} (row {row} of partition {partition})")
    yield table


class _Ratings:
    """One partition's ratings grouped by its entity: the entities (sorted,
    positions in the factor matrix), ``indptr``, the other side's positions
    and the ratings."""

    __slots__ = ("entities", "indptr", "others", "values")

    def __init__(self, entities, indptr, others, values):
        self.entities, self.indptr, self.others, self.values = entities, indptr, others, values

    def __reduce__(self):
        return _Ratings, (self.entities, self.indptr, self.others, self.values)


def _group(records: Iterator) -> Iterator[_Ratings]:
    """One partition's (entity, other side, rating) pieces as ``_Ratings``."""
    pieces = [value for _, value in records]
    if not pieces:
        return
    entities = np.concatenate([piece[0] for piece in pieces])
    others = np.concatenate([piece[1] for piece in pieces])
    values = np.concatenate([piece[2] for piece in pieces])
    order = np.lexsort((others, entities))
    entities, others, values = entities[order], others[order], values[order]
    unique, starts = np.unique(entities, return_index=True)
    yield _Ratings(unique, np.append(starts, len(entities)), others, values)


def _router(ids: Any, side: int, partitions: int):
    """Each rating array split by the partition of its user (side 0) or
    product (side 1), as (partition, (entities, others, ratings)) pieces."""

    def split(table: np.ndarray) -> Iterator:
        users, products = ids.value
        u = np.searchsorted(users, table[:, 0].astype(np.int64))
        p = np.searchsorted(products, table[:, 1].astype(np.int64))
        mine, other = (u, p) if side == 0 else (p, u)
        destination = mine % partitions
        for target in np.unique(destination).tolist():
            chosen = destination == target
            yield target, (mine[chosen], other[chosen], table[chosen, 2])

    return split


def _nnls(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """argmin 0.5 x'Ax - b'x subject to x >= 0 (A positive definite), by
    Lawson and Hanson's active-set method on the normal equations."""
    n = len(b)
    x = np.zeros(n)
    passive = np.zeros(n, dtype=bool)
    for _ in range(3 * n + 10):
        gradient = b - A @ x
        candidates = ~passive & (gradient > 1e-12)
        if not candidates.any():
            break
        passive[np.argmax(np.where(candidates, gradient, -np.inf))] = True
        while True:
            z = np.zeros(n)
            idx = np.nonzero(passive)[0]
            z[idx] = np.linalg.solve(A[np.ix_(idx, idx)], b[idx])
            if (z[idx] > 0).all():
                x = z
                break
            blocked = passive & (z <= 0)
            steps = x[blocked] / (x[blocked] - z[blocked])
            alpha = steps.min() if len(steps) else 0.0
            x = x + alpha * (z - x)
            passive &= x > 1e-12
            x[~passive] = 0.0
    return x


def _normal_equations(Y: np.ndarray, indptr: np.ndarray, outer_weights: np.ndarray | None,
                      b_weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per entity (ratings ``indptr[e]:indptr[e+1]`` of ``Y``): ``sum w y y^T``
    and ``sum b y``. An entity with many ratings is one small matrix product
    (a loop over entities, at BLAS speed); the many entities with a few
    ratings each are summed together, one ``bincount`` per matrix cell."""
    entities, rank = len(indptr) - 1, Y.shape[1]
    counts = np.diff(indptr)
    A = np.zeros((entities, rank, rank))
    b = np.zeros((entities, rank))
    big = counts >= 8
    for e in np.nonzero(big)[0].tolist():
        start, end = indptr[e], indptr[e + 1]
        rows = Y[start:end]
        A[e] = (rows if outer_weights is None else rows * outer_weights[start:end, None]).T @ rows
        b[e] = b_weights[start:end] @ rows
    if not big.all():
        owner = np.repeat(np.arange(entities), counts)
        mask = ~big[owner]
        owner, rows = owner[mask], Y[mask]
        weight = None if outer_weights is None else outer_weights[mask]
        upper = np.triu_indices(rank)
        for i, j in zip(*upper):
            product = rows[:, i] * rows[:, j]
            if weight is not None:
                product = product * weight
            A[:, i, j] += np.bincount(owner, weights=product, minlength=entities)
        A[:, upper[1], upper[0]] = A[:, upper[0], upper[1]]
        weighted = b_weights[mask]
        for i in range(rank):
            b[:, i] += np.bincount(owner, weights=rows[:, i] * weighted, minlength=entities)
    return A, b


def _solver(rank: int, reg: float, implicit: bool, alpha: float, nonnegative: bool):
    def solve(blocks: Iterator[_Ratings], other: np.ndarray, gram: np.ndarray | None) -> Iterator:
        eye = np.eye(rank)
        for block in blocks:
            counts = np.diff(block.indptr)
            Y = other[block.others]
            if implicit:
                confidence = alpha * np.abs(block.values)
                positive = block.values > 0
                A, b = _normal_equations(Y, block.indptr, confidence,
                                         np.where(positive, 1.0 + confidence, 0.0))
                explicit = np.add.reduceat(positive.astype(np.float64), block.indptr[:-1])
                A += gram
            else:
                A, b = _normal_equations(Y, block.indptr, None, block.values)
                explicit = counts.astype(np.float64)
            A += (reg * explicit)[:, None, None] * eye
            if nonnegative:
                x = np.vstack([_nnls(A[i], b[i]) for i in range(len(b))])
            else:
                x = np.linalg.solve(A, b[:, :, None])[:, :, 0]
            yield block.entities, x

    return solve


def _half_step(grouped: Any, other: np.ndarray, n: int, rank: int, solve, implicit: bool,
               context: Any) -> np.ndarray:
    gram = other.T @ other if implicit else None
    broadcast = context.broadcast((other, gram))
    try:
        solved = grouped.mapPartitions(lambda blocks: solve(blocks, *broadcast.value)).collect()
    finally:
        broadcast.destroy()
    factors = np.zeros((n, rank))
    for entities, x in solved:
        factors[entities] = x
    return factors


def _initial(n: int, rank: int, seed: int, side: int) -> np.ndarray:
    factors = np.random.default_rng([seed & 0xFFFFFFFFFFFFFFFF, side]).standard_normal((n, rank))
    return factors / np.linalg.norm(factors, axis=1, keepdims=True)


def _check(rank: Any, iterations: Any, lambda_: Any, implicit: bool, alpha: Any) -> None:
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or rank <= 0:
        raise ValueError(f"rank must be a positive integer, got {rank!r}")
    if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)) \
            or iterations < 0:
        raise ValueError(f"iterations must be an integer >= 0, got {iterations!r}")
    if not lambda_ >= 0:
        raise ValueError(f"lambda_ must be >= 0, got {lambda_!r}")
    if implicit and not alpha >= 0:
        raise ValueError(f"alpha must be >= 0, got {alpha!r}")


def _train(ratings: Any, rank: int, iterations: int, lambda_: float, blocks: int,
           nonnegative: bool, seed: int | None, implicit: bool,
           alpha: float) -> MatrixFactorizationModel:
    context = ratings.context
    seed = _random.getrandbits(63) if seed is None else int(seed)
    partitions = blocks if blocks > 0 else max(context.defaultParallelism,
                                               ratings.getNumPartitions() // 2)
    tables = ratings.mapPartitionsWithIndex(_to_arrays)
    tables.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        def uniques(pair):
            return np.unique(pair[:, 0]), np.unique(pair[:, 1])

        def union(a, b):
            if a is None or b is None:
                return b if a is None else a
            return np.union1d(a[0], b[0]), np.union1d(a[1], b[1])

        found = tables.map(uniques).treeAggregate(None, union, union)
        if found is None or not len(found[0]):
            raise InvalidDataError("ALS needs at least one rating; the RDD is empty")
        users, products = (found[0].astype(np.int64), found[1].astype(np.int64))
        ids = context.broadcast((users, products))
        by_user = tables.flatMap(_router(ids, 0, partitions)).partitionBy(partitions) \
            .mapPartitions(_group)
        by_product = tables.flatMap(_router(ids, 1, partitions)).partitionBy(partitions) \
            .mapPartitions(_group)
        by_user.persist(StorageLevel.MEMORY_AND_DISK)
        by_product.persist(StorageLevel.MEMORY_AND_DISK)
        solve = _solver(rank, float(lambda_), implicit, float(alpha), bool(nonnegative))
        user_factors = _initial(len(users), rank, seed, 0)
        product_factors = _initial(len(products), rank, seed, 1)
        if nonnegative:  # start inside the feasible set
            user_factors, product_factors = np.abs(user_factors), np.abs(product_factors)
        try:
            for _ in range(iterations):
                product_factors = _half_step(by_product, user_factors, len(products), rank, solve,
                                             implicit, context)
                user_factors = _half_step(by_user, product_factors, len(users), rank, solve,
                                          implicit, context)
        finally:
            by_user.unpersist()
            by_product.unpersist()
            ids.destroy()
    finally:
        tables.unpersist()
    return MatrixFactorizationModel(rank, users, user_factors, products, product_factors, context)


class ALS:
    """Alternating least squares matrix factorisation."""

    @classmethod
    def _prepare(cls, ratings: Any) -> Any:
        if not hasattr(ratings, "mapPartitions"):
            raise TypeError(f"Ratings should be represented by either an RDD or a DataFrame, "
                            f"but got {type(ratings)}.")
        first = ratings.first()
        if isinstance(first, Rating):
            return ratings
        if isinstance(first, (tuple, list)):
            return ratings.map(lambda x: Rating(*x))
        raise TypeError(f"Expect a Rating or a tuple/list, but got {type(first)}.")

    @classmethod
    def train(cls, ratings: Any, rank: int, iterations: int = 5, lambda_: float = 0.01,
              blocks: int = -1, nonnegative: bool = False,
              seed: int | None = None) -> MatrixFactorizationModel:
        """Factorise explicit ratings (an RDD of ``Rating`` or
        ``(user, product, rating)``) into ``rank`` factors per user and product."""
        _check(rank, iterations, lambda_, False, 0.0)
        return _train(cls._prepare(ratings), rank, iterations, lambda_, blocks, nonnegative,
                      seed, False, 0.0)

    @classmethod
    def trainImplicit(cls, ratings: Any, rank: int, iterations: int = 5, lambda_: float = 0.01,
                      blocks: int = -1, alpha: float = 0.01, nonnegative: bool = False,
                      seed: int | None = None) -> MatrixFactorizationModel:
        """Factorise implicit feedback (ratings as preference strengths).

        >>> ratings = sc.parallelize([(1, 1, 1.0), (1, 2, 2.0), (2, 1, 2.0)])
        >>> round(ALS.trainImplicit(ratings, 1, seed=10).predict(2, 2), 1)
        0.4
        """
        _check(rank, iterations, lambda_, True, alpha)
        return _train(cls._prepare(ratings), rank, iterations, lambda_, blocks, nonnegative,
                      seed, True, alpha)
