"""Power iteration clustering over an RDD of similarities.

Owns the training of ``PowerIterationClustering`` (Lin and Cohen). The
similarities become a cached, row-normalised affinity matrix ``W = D^-1 A``
(every similarity in both directions, self-similarities dropped, negative
ones refused), stored per partition as numpy arrays of source, destination
and weight. The vector ``v`` (one value per vertex, L1-normalised) lives on
the driver and travels to the workers in a broadcast each iteration; a
partition returns its share of ``W v`` as one ``bincount`` and the shares
are summed with ``treeAggregate``. Iterations stop when the change of
``|v_t+1 - v_t|_1`` between iterations is below ``1e-5 / n`` (MLlib's
rule), or after ``maxIterations``; k-means (seed 0) on the values of ``v``
gives the clusters.

Vertex ids are collected to the driver (``n`` integers) to index the
vector: the graph's edges never are.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from ember.engine.api.storage import StorageLevel
from ember.engine.errors import InvalidDataError
from ember.mllib._kmeans import local_kmeans_plus_plus


def _triple(value: Any) -> tuple[int, int, float]:
    values = value.toArray() if hasattr(value, "toArray") else value
    if len(values) != 3:
        raise InvalidDataError(f"a similarity is (i, j, s), got {len(values)} values: {value!r}")
    i, j, s = values
    if s < 0:
        raise InvalidDataError(f"Similarity must be nonnegative but found s({int(i)}, {int(j)}) "
                               f"= {float(s)}.")
    return int(i), int(j), float(s)


def train(similarities: Any, k: int, max_iterations: int, init_mode: str) -> tuple[np.ndarray,
                                                                                   np.ndarray]:
    """Vertex ids (sorted) and their cluster."""
    edges = similarities.map(_triple).filter(lambda e: e[0] != e[1])
    ids = np.array(sorted(edges.flatMap(lambda e: (e[0], e[1])).distinct().collect()),
                   dtype=np.int64)
    n = len(ids)
    if n < k:
        raise InvalidDataError(f"PowerIterationClustering: k={k} is larger than the {n} "
                               f"vertices of the graph")
    context = similarities.context
    id_map = context.broadcast(ids)

    def to_arrays(records: Iterator) -> Iterator:
        triples = np.array(list(records), dtype=np.float64).reshape(-1, 3)
        if not len(triples):
            return
        index = id_map.value
        src = np.searchsorted(index, triples[:, 0].astype(np.int64))
        dst = np.searchsorted(index, triples[:, 1].astype(np.int64))
        yield np.concatenate([src, dst]), np.concatenate([dst, src]), \
            np.concatenate([triples[:, 2], triples[:, 2]])

    arrays = edges.mapPartitions(to_arrays)
    arrays.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        degrees = arrays.treeAggregate(np.zeros(n), lambda total, a: total + np.bincount(
            a[0], weights=a[2], minlength=n), lambda x, y: x + y)
        inverse = np.where(degrees > 0, 1.0 / np.where(degrees > 0, degrees, 1.0), 0.0)
        if init_mode == "degree":
            v = degrees / degrees.sum()
        else:
            v = np.random.default_rng(0).standard_normal(n)
            v = v / np.abs(v).sum()
        tolerance = 1e-5 / n
        previous_delta = np.inf
        difference = np.inf
        iteration = 0
        while iteration < max_iterations and abs(difference) > tolerance:
            broadcast = context.broadcast((v, inverse))

            def multiply(total, a):
                vector, scale = broadcast.value
                src, dst, weight = a
                return total + np.bincount(src, weights=weight * scale[src] * vector[dst],
                                           minlength=n)

            try:
                product = arrays.treeAggregate(np.zeros(n), multiply, lambda x, y: x + y)
            finally:
                broadcast.destroy()
            product = product / np.abs(product).sum()
            delta = float(np.abs(product - v).sum())
            difference = abs(delta - previous_delta)
            previous_delta = delta
            v = product
            iteration += 1
    finally:
        arrays.unpersist()
        id_map.destroy()
    centers = local_kmeans_plus_plus(v[:, None], np.ones(n), k, 20, 0)
    clusters = np.argmin(np.abs(v[:, None] - centers[:, 0][None, :]), axis=1)
    return ids, clusters
