"""kmeans: cache numpy point blocks, then 10 k-means steps, each a map and a reduce."""

from __future__ import annotations

from functools import partial, reduce

import numpy as np

from benchmarks.scales import KMEANS_STEPS
from benchmarks.workloads import Workload
from benchmarks.workloads.records import bag_of, load_blocks, rdd_of, serial_of


def inputs(scale, files):
    # The first points of the data set seed the centers, so every engine
    # starts from the same place without a separate sampling job.
    seed_points = np.load(files["points"][0], mmap_mode="r")[:scale.clusters]
    return {"files": files["points"], "centers": np.array(seed_points), "steps": KMEANS_STEPS}


def partial_sums(block: np.ndarray, centers: np.ndarray):
    distances = ((block * block).sum(1)[:, None] - 2.0 * block @ centers.T
                 + (centers * centers).sum(1)[None, :])
    nearest = distances.argmin(1)
    members = nearest[:, None] == np.arange(len(centers))[None, :]
    return members.T.astype(block.dtype) @ block, members.sum(0)


def _merge(a, b):
    return a[0] + b[0], a[1] + b[1]


def _iterate(inputs, step):
    """Runs the steps; step(centers) returns the merged (sums, counts)."""
    centers = inputs["centers"]
    for _ in range(inputs["steps"]):
        sums, counts = step(centers)
        # A center that lost all its points stays where it was.
        centers = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], centers)
    return centers


def rdd(sc, inputs):
    points = rdd_of(sc, inputs["files"], load_blocks).cache()
    points.count()
    return _iterate(inputs, lambda centers: points.map(
        partial(partial_sums, centers=centers)).reduce(_merge))


def bag(inputs):
    # persist() is the bag's cache: on the local schedulers it keeps the
    # blocks in the scheduling process and ships them to a worker per task.
    points = bag_of(inputs["files"], load_blocks).persist()
    return _iterate(inputs, lambda centers: points.map(
        partial(partial_sums, centers=centers)).fold(_merge).compute())


def serial(inputs):
    blocks = list(serial_of(inputs["files"], load_blocks))
    return _iterate(inputs, lambda centers: reduce(
        _merge, (partial_sums(block, centers) for block in blocks)))


def _normalise(centers):
    return np.asarray(centers, dtype=float).tolist()


WORKLOAD = Workload.from_module(globals(), datasets=("points",), normalise=_normalise,
                                cpu_bound=True)
