"""Bisecting k-means over blocked data: MLlib's divisive clustering.

Owns the training of ``BisectingKMeans`` and the tree its model predicts
with. As in MLlib, clusters are numbered like a heap (the root 1, the
children of ``i`` are ``2i`` and ``2i + 1``). Every level splits the
divisible leaves (at least ``minDivisibleClusterSize`` points and a cost
above ``1e-8`` per point; the largest first when fewer splits are needed)
by perturbing each center by ``1e-4 * |center|`` times a uniform random
vector either way, then runs ``maxIterations`` 2-means steps for all of them
at once. A point's cluster index per row is kept beside the cached blocks,
one persisted RDD per level (the previous one dropped once the new one is
made).

Leaves are numbered 0 .. k - 1 left to right, internal nodes -1, -2, ...;
prediction walks from the root to the closer child until a leaf.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ember.engine.api.storage import StorageLevel
from ember.mllib._blocks import BlockedData
from ember.mllib._kmeans import closest

_LEVEL_LIMIT = int(math.log2(2 ** 63)) + 1  # MLlib's bound: heap indices stay in a long


class ClusteringTreeNode:
    """A node of the cluster tree: index (leaves 0.., internal -1..), size,
    center, cost and children."""

    def __init__(self, index: int, size: float, center: np.ndarray, cost: float,
                 children: list):
        self.index = index
        self.size = size
        self.center = center
        self.cost = cost
        self.children = children

    def leaves(self) -> list["ClusteringTreeNode"]:
        if not self.children:
            return [self]
        return [leaf for child in self.children for leaf in child.leaves()]

    def predict_rows(self, rows) -> tuple[np.ndarray, np.ndarray]:
        """For each row, its leaf index and squared distance to the leaf."""
        leaf = np.empty(rows.n, dtype=np.int64)
        cost = np.empty(rows.n)
        self._descend(rows, np.arange(rows.n), leaf, cost)
        return leaf, cost

    def _descend(self, rows, where: np.ndarray, leaf: np.ndarray, cost: np.ndarray) -> None:
        if not len(where):
            return
        if not self.children:
            leaf[where] = self.index
            subset = rows.take(where)
            diff = subset.sq_norms() - 2 * subset.matvec(self.center) + self.center @ self.center
            cost[where] = np.maximum(diff, 0.0)
            return
        centers = np.vstack([child.center for child in self.children])
        choice, _ = closest(rows.take(where), centers)
        for position, child in enumerate(self.children):
            child._descend(rows, where[choice == position], leaf, cost)

    def to_records(self) -> list[dict]:
        record = {"index": self.index, "size": self.size, "center": self.center.tolist(),
                  "cost": self.cost, "children": [child.index for child in self.children]}
        return [record] + [r for child in self.children for r in child.to_records()]

    @staticmethod
    def from_records(records: list[dict]) -> "ClusteringTreeNode":
        by_index = {record["index"]: record for record in records}

        def build(index: int) -> "ClusteringTreeNode":
            record = by_index[index]
            return ClusteringTreeNode(index, record["size"], np.array(record["center"]),
                                      record["cost"], [build(c) for c in record["children"]])

        root = next(r["index"] for r in records
                    if not any(r["index"] in other["children"] for other in records))
        return build(root)


def _summaries(assigned: Any, d: int) -> dict[int, tuple[float, np.ndarray, float]]:
    """Per cluster index: (size, center, cost)."""

    def seq(total, pair):
        block, labels = pair
        dense_sq = block.rows.sq_norms()
        for index in np.unique(labels):
            mask = labels == index
            count, sums, squares = total.get(int(index), (0.0, np.zeros(d), 0.0))
            total[int(index)] = (count + float(mask.sum()),
                                 sums + block.rows.take(mask).column_sums(),
                                 squares + float(dense_sq[mask].sum()))
        return total

    def comb(left, right):
        for index, (count, sums, squares) in right.items():
            if index in left:
                c, s, q = left[index]
                left[index] = (c + count, s + sums, q + squares)
            else:
                left[index] = (count, sums, squares)
        return left

    totals = assigned.treeAggregate({}, seq, comb)
    out = {}
    for index, (count, sums, squares) in totals.items():
        center = sums / count
        out[index] = (count, center, max(squares - count * float(center @ center), 0.0))
    return out


def _reassign(divisible: set, centers: dict[int, np.ndarray]):
    def update(pair):
        block, labels = pair
        labels = labels.copy()
        for index in divisible:
            mask = labels == index
            if not mask.any():
                continue
            left, right = 2 * index, 2 * index + 1
            pair_centers = np.vstack([centers.get(left, np.full(block.rows.d, np.inf)),
                                      centers.get(right, np.full(block.rows.d, np.inf))])
            finite = np.isfinite(pair_centers).all(axis=1)
            choice, _ = closest(block.rows.take(mask), np.where(finite[:, None], pair_centers, 0.0))
            choice = np.where(finite[choice], choice, int(np.argmax(finite)))
            labels[mask] = np.where(choice == 0, left, right)
        return block, labels

    return update


def train(data: BlockedData, k: int, max_iterations: int, min_divisible: float,
          seed: int) -> ClusteringTreeNode:
    d = data.d
    min_size = math.ceil(min_divisible) if min_divisible >= 1.0 else \
        math.ceil(min_divisible * data.n)
    assigned = data.blocks.map(lambda block: (block, np.ones(block.n, dtype=np.int64)))
    assigned.persist(StorageLevel.MEMORY_AND_DISK)
    active = _summaries(assigned, d)
    inactive: dict = {}
    rng = np.random.default_rng(seed & 0xFFFFFFFFFFFFFFFF)
    needed = k - 1
    level = 1
    previous = None
    while active and needed > 0 and level < _LEVEL_LIMIT:
        divisible = {index: summary for index, summary in active.items()
                     if summary[0] >= min_size and summary[2] > 1e-8 * summary[0]}
        if len(divisible) > needed:
            largest = sorted(divisible.items(), key=lambda item: (-item[1][0], item[0]))[:needed]
            divisible = dict(largest)
        if not divisible:
            inactive.update(active)
            active = {}
            break
        centers: dict[int, np.ndarray] = {}
        for index in sorted(divisible):
            center = divisible[index][1]
            noise = rng.random(d) * 1e-4 * float(np.linalg.norm(center))
            centers[2 * index], centers[2 * index + 1] = center - noise, center + noise
        indices = set(divisible)
        new_clusters: dict = {}
        for _ in range(max_iterations):
            trial = assigned.map(_reassign(indices, centers))
            new_clusters = {index: summary for index, summary in _summaries(trial, d).items()
                            if index // 2 in indices}
            centers = {index: summary[1] for index, summary in new_clusters.items()}
        if previous is not None:
            previous.unpersist()
        previous = assigned
        assigned = assigned.map(_reassign(indices, centers))
        assigned.persist(StorageLevel.MEMORY_AND_DISK)
        inactive.update(active)
        active = new_clusters
        needed -= len(divisible)
        level += 1
    assigned.unpersist()
    if previous is not None:
        previous.unpersist()
    clusters = {**inactive, **active}
    return _build_tree(clusters)


def _build_tree(clusters: dict) -> ClusteringTreeNode:
    counters = {"leaf": 0, "internal": -1}

    def build(raw: int) -> ClusteringTreeNode:
        size, center, cost = clusters[raw]
        children = [child for child in (2 * raw, 2 * raw + 1) if child in clusters]
        if children:
            index = counters["internal"]
            counters["internal"] -= 1
            return ClusteringTreeNode(index, size, center, cost, [build(c) for c in children])
        index = counters["leaf"]
        counters["leaf"] += 1
        return ClusteringTreeNode(index, size, center, cost, [])

    return build(1)
