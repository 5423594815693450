"""Decision trees, random forests and gradient-boosted trees over binned
blocks: MLlib's tree learning (``org.apache.spark.ml.tree.impl``).

Owns tree growth and the node structure the tree models predict with.

How a forest grows (MLlib's algorithm, vectorised per block):

* Split candidates: continuous features get at most ``maxBins - 1``
  thresholds from a sample of about ``max(maxBins^2, 10000)`` rows: midpoints
  between consecutive distinct values when there are few, otherwise
  values spaced by equal counts (MLlib's ``findSplitsForContinuousFeature``).
  Categorical features (``categoricalFeaturesInfo``: index -> arity) use
  their categories as bins; for multiclass classification a categorical
  feature with ``2^(arity-1) - 1 <= maxBins`` splits on any subset of its
  categories ("unordered"), otherwise categories are ordered by their
  centroid (count of class 1 for binary classification, mean label for
  regression, impurity for multiclass) and split as a prefix of that order.
* The data is read once into cached blocks of bin indices (uint8/uint16),
  labels, and per-tree bootstrap counts (Poisson(1), seeded by the seed, the
  partition and the block, only for forests of more than one tree).
* Trees grow a level at a time, all trees of the forest together: each
  level is one ``treeAggregate`` in which a block routes its rows down the
  trees grown so far and adds, per open node, feature and bin, its class
  counts (or weight, sum and sum of squares of the label) with one
  ``bincount``. Levels with many nodes are cut into groups whose histograms
  stay under 64 MB.
* On the driver, each open node picks, among its features (all, or a
  random subset per node for forests), the split of highest information
  gain with at least ``minInstancesPerNode`` rows on each side and at least
  ``minInfoGain``; ties go to the first feature and threshold. A node stops
  at ``maxDepth`` or when pure. Finally sibling leaves with equal
  predictions are merged (MLlib prunes the same way).

Nodes are numbered as a heap (root 1, children 2i and 2i + 1). Everything
random depends on the seed, the tree, the node and the partition only, so a
seed gives the same forest on any number of workers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from ember.engine.api.storage import StorageLevel
from ember.engine.errors import InvalidDataError
from ember.mllib._blocks import Block, BlockedData

_HISTOGRAM_BYTES = 64 * 1024 * 1024


# --- the tree ----------------------------------------------------------------------


@dataclass
class Split:
    feature: int
    threshold: float = 0.0
    categories: tuple = ()  # left categories, for a categorical split
    categorical: bool = False
    bins: tuple = ()  # left bins (categorical) or the last left bin (continuous)

    def goes_left(self, values: np.ndarray) -> np.ndarray:
        if self.categorical:
            return np.isin(values, np.array(self.categories, dtype=np.float64))
        return values <= self.threshold

    def goes_left_binned(self, bins: np.ndarray) -> np.ndarray:
        if self.categorical:
            return np.isin(bins, np.array(self.bins, dtype=np.int64))
        return bins <= self.bins[0]

    def describe(self, left: bool) -> str:
        if self.categorical:
            values = "{" + ",".join(str(float(c)) for c in self.categories) + "}"
            return (f"(feature {self.feature} in {values})" if left
                    else f"(feature {self.feature} not in {values})")
        return (f"(feature {self.feature} <= {self.threshold})" if left
                else f"(feature {self.feature} > {self.threshold})")


@dataclass
class Node:
    id: int
    prediction: float
    impurity: float
    split: Split | None = None
    left: "Node | None" = None
    right: "Node | None" = None
    gain: float = 0.0
    probability: float = 0.0

    @property
    def is_leaf(self) -> bool:
        return self.left is None

    def num_nodes(self) -> int:
        return 1 if self.is_leaf else 1 + self.left.num_nodes() + self.right.num_nodes()

    def depth(self) -> int:
        return 0 if self.is_leaf else 1 + max(self.left.depth(), self.right.depth())

    def predict(self, X: np.ndarray) -> np.ndarray:
        out = np.empty(len(X))
        self._predict(X, np.arange(len(X)), out)
        return out

    def _predict(self, X: np.ndarray, rows: np.ndarray, out: np.ndarray) -> None:
        if not len(rows):
            return
        if self.is_leaf:
            out[rows] = self.prediction
            return
        left = self.split.goes_left(X[rows, self.split.feature])
        self.left._predict(X, rows[left], out)
        self.right._predict(X, rows[~left], out)

    def route_binned(self, bins: np.ndarray) -> np.ndarray:
        """The id of the node (leaf of the tree so far) each binned row reaches."""
        out = np.empty(len(bins), dtype=np.int64)
        self._route(bins, np.arange(len(bins)), out)
        return out

    def predict_binned(self, bins: np.ndarray) -> np.ndarray:
        """The prediction for each binned row."""
        reached = self.route_binned(bins)
        values = np.empty(len(reached))
        for node_id in np.unique(reached).tolist():
            values[reached == node_id] = self.find(node_id).prediction
        return values

    def _route(self, bins: np.ndarray, rows: np.ndarray, out: np.ndarray) -> None:
        if not len(rows):
            return
        if self.is_leaf:
            out[rows] = self.id
            return
        left = self.split.goes_left_binned(bins[rows, self.split.feature])
        self.left._route(bins, rows[left], out)
        self.right._route(bins, rows[~left], out)

    def find(self, node_id: int) -> "Node":
        path = []
        while node_id > 1:
            path.append(node_id & 1)
            node_id >>= 1
        node = self
        for bit in reversed(path):
            node = node.right if bit else node.left
        return node

    def subtree_string(self, indent: int) -> str:
        prefix = " " * indent
        if self.is_leaf:
            return f"{prefix}Predict: {self.prediction}\n"
        return (f"{prefix}If {self.split.describe(True)}\n" + self.left.subtree_string(indent + 1)
                + f"{prefix}Else {self.split.describe(False)}\n"
                + self.right.subtree_string(indent + 1))

    def prune(self) -> "Node":
        if self.is_leaf:
            return self
        self.left, self.right = self.left.prune(), self.right.prune()
        if self.left.is_leaf and self.right.is_leaf and \
                self.left.prediction == self.right.prediction:
            return Node(self.id, self.left.prediction, self.impurity)
        return self

    def to_records(self, tree: int) -> list[dict]:
        record = {"treeId": tree, "nodeId": self.id, "predict": self.prediction,
                  "impurity": self.impurity, "isLeaf": self.is_leaf, "infoGain": self.gain}
        if not self.is_leaf:
            split = self.split
            record["split"] = {"feature": split.feature, "threshold": split.threshold,
                               "featureType": 1 if split.categorical else 0,
                               "categories": list(split.categories)}
            return [record] + self.left.to_records(tree) + self.right.to_records(tree)
        return [record]

    @staticmethod
    def from_records(records: list[dict]) -> "Node":
        by_id = {record["nodeId"]: record for record in records}

        def build(node_id: int) -> Node:
            record = by_id[node_id]
            node = Node(node_id, record["predict"], record["impurity"], gain=record["infoGain"])
            if not record["isLeaf"]:
                s = record["split"]
                node.split = Split(s["feature"], s["threshold"], tuple(s["categories"]),
                                   s["featureType"] == 1)
                node.left, node.right = build(2 * node_id), build(2 * node_id + 1)
            return node

        return build(1)


# --- settings ----------------------------------------------------------------------


@dataclass
class Strategy:
    classification: bool
    num_classes: int
    impurity: str
    max_depth: int
    max_bins: int
    min_instances: int
    min_info_gain: float
    categorical: dict = field(default_factory=dict)


def check_strategy(strategy: Strategy) -> None:
    if strategy.classification and strategy.impurity not in ("gini", "entropy"):
        raise ValueError(f"DecisionTree classification impurity must be 'gini' or 'entropy', "
                         f"got {strategy.impurity!r}")
    if not strategy.classification and strategy.impurity != "variance":
        raise ValueError(f"DecisionTree regression impurity must be 'variance', got "
                         f"{strategy.impurity!r}")
    if not 0 <= strategy.max_depth <= 30:
        raise ValueError(f"DecisionTree currently only supports maxDepth <= 30 (and >= 0), but "
                         f"was given maxDepth = {strategy.max_depth}.")
    if strategy.max_bins < 2:
        raise ValueError(f"DecisionTree Strategy given invalid maxBins parameter: "
                         f"{strategy.max_bins}. Valid values are integers >= 2.")
    if strategy.min_instances < 1:
        raise ValueError(f"minInstancesPerNode must be at least 1, got {strategy.min_instances}")
    if strategy.classification and strategy.num_classes < 2:
        raise ValueError(f"DecisionTree Strategy for Classification must have numClasses >= 2, "
                         f"but numClasses = {strategy.num_classes}.")
    for feature, arity in strategy.categorical.items():
        if int(feature) < 0 or int(arity) < 2:
            raise ValueError(f"categoricalFeaturesInfo maps feature {feature} to {arity}: "
                             f"features are >= 0 and arities at least 2")


@dataclass
class Metadata:
    d: int
    bins: list  # per feature: number of bins
    thresholds: list  # per continuous feature: threshold array (None for categorical)
    unordered: set  # categorical features split on subsets
    classes: int  # label slots per histogram cell (3 for regression: w, wy, wyy)


def _continuous_thresholds(values: np.ndarray, splits: int) -> np.ndarray:
    distinct, counts = np.unique(values, return_counts=True)
    if len(distinct) <= 1:
        return np.zeros(0)
    if len(distinct) - 1 <= splits:
        return (distinct[:-1] + distinct[1:]) / 2.0
    stride = len(values) / (splits + 1)
    out = []
    current = counts[0]
    target = stride
    for index in range(1, len(distinct)):
        previous = current
        current += counts[index]
        if abs(previous - target) < abs(current - target):
            out.append((distinct[index - 1] + distinct[index]) / 2.0)
            target += stride
    return np.array(out)


def build_metadata(data: BlockedData, strategy: Strategy, seed: int) -> Metadata:
    d = data.d
    max_bins = min(strategy.max_bins, max(data.n, 1))
    categorical = {int(f): int(a) for f, a in strategy.categorical.items()}
    for feature, arity in categorical.items():
        if feature >= d:
            raise ValueError(f"categoricalFeaturesInfo names feature {feature}, but the data has "
                             f"{d} features")
        if arity > max_bins:
            raise ValueError(f"DecisionTree requires maxBins (= {max_bins}) to be at least as "
                             f"large as the number of values in each categorical feature, but "
                             f"categorical feature {feature} has {arity} values. Consider "
                             f"removing this and other categorical features with a large number "
                             f"of values, or add more training examples.")
    required = max(max_bins * max_bins, 10000)
    fraction = min(1.0, required / max(data.n, 1))

    def sample(partition: int, blocks: Iterator[Block]) -> Iterator:
        for index, block in enumerate(blocks):
            X = block.rows.dense()
            if fraction < 1.0:
                keep = np.random.default_rng([seed & 0xFFFFFFFFFFFFFFFF, 11, partition,
                                              index]).random(block.n) < fraction
                X = X[keep]
            if len(X):
                yield X

    pieces = data.blocks.mapPartitionsWithIndex(sample).collect()
    sampled = np.vstack(pieces) if pieces else np.zeros((0, d))
    bins, thresholds, unordered = [], [], set()
    multiclass = strategy.classification and strategy.num_classes > 2
    for feature in range(d):
        if feature in categorical:
            arity = categorical[feature]
            bins.append(arity)
            thresholds.append(None)
            if multiclass and (1 << (arity - 1)) - 1 <= max_bins:
                unordered.add(feature)
        else:
            cut = _continuous_thresholds(sampled[:, feature], max_bins - 1)
            thresholds.append(cut)
            bins.append(len(cut) + 1)
    classes = strategy.num_classes if strategy.classification else 3
    return Metadata(d, bins, thresholds, unordered, classes)


# --- binned data -------------------------------------------------------------------


class Binned:
    """A block as bin indices, labels and bootstrap counts per tree."""

    __slots__ = ("bins", "labels", "weights")

    def __init__(self, bins, labels, weights):
        self.bins, self.labels, self.weights = bins, labels, weights

    @property
    def n(self) -> int:
        return len(self.bins)

    def __reduce__(self):
        return Binned, (self.bins, self.labels, self.weights)


def binner(metadata: Metadata, strategy: Strategy, num_trees: int, seed: int, bootstrap: bool):
    dtype = np.uint8 if max(metadata.bins, default=1) <= 256 else np.uint16
    categorical = {int(f): int(a) for f, a in strategy.categorical.items()}

    def to_binned(partition: int, blocks: Iterator[Block]) -> Iterator[Binned]:
        for index, block in enumerate(blocks):
            X = block.rows.dense()
            bins = np.empty(X.shape, dtype=dtype)
            for feature in range(metadata.d):
                values = X[:, feature]
                if feature in categorical:
                    arity = categorical[feature]
                    bad = (values < 0) | (values >= arity) | (values != np.floor(values))
                    if bad.any():
                        raise InvalidDataError(
                            f"DecisionTree given invalid data: Feature {feature} is categorical "
                            f"with values in {{0,...,{arity - 1}}}, but a data point gives it "
                            f"value {values[np.argmax(bad)]} (partition {partition}).")
                    bins[:, feature] = values.astype(dtype)
                else:
                    bins[:, feature] = np.searchsorted(metadata.thresholds[feature], values,
                                                       side="left")
            if bootstrap:
                rng = np.random.default_rng([seed & 0xFFFFFFFFFFFFFFFF, 12, partition, index])
                weights = rng.poisson(1.0, size=(block.n, num_trees)).astype(np.float64)
            else:
                weights = None
            yield Binned(bins, block.labels, weights)

    return to_binned


# --- impurity ----------------------------------------------------------------------


def _impurity(stats: np.ndarray, kind: str) -> np.ndarray:
    """Impurity of class counts (..., C) or regression sums (..., 3)."""
    if kind == "variance":
        w = stats[..., 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = stats[..., 1] / w
            value = stats[..., 2] / w - mean * mean
        return np.where(w > 0, np.maximum(value, 0.0), 0.0)
    total = stats.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = stats / total[..., None]
        if kind == "gini":
            value = 1.0 - (p * p).sum(axis=-1)
        else:
            logs = np.where(p > 0, np.log2(np.where(p > 0, p, 1.0)), 0.0)
            value = -(p * logs).sum(axis=-1)
    return np.where(total > 0, value, 0.0)


def _count(stats: np.ndarray, kind: str) -> np.ndarray:
    return stats[..., 0] if kind == "variance" else stats.sum(axis=-1)


def _prediction(stats: np.ndarray, kind: str) -> float:
    if kind == "variance":
        return float(stats[1] / stats[0]) if stats[0] > 0 else 0.0
    return float(np.argmax(stats))


# --- growing ---------------------------------------------------------------------


@dataclass
class Open:
    tree: int
    node: Node
    depth: int
    features: np.ndarray


def _features_per_node(strategy_name: str, d: int, classification: bool, num_trees: int) -> int:
    if strategy_name == "auto":
        strategy_name = "all" if num_trees == 1 else ("sqrt" if classification else "onethird")
    if strategy_name == "all":
        return d
    if strategy_name == "sqrt":
        return max(1, math.ceil(math.sqrt(d)))
    if strategy_name == "log2":
        return max(1, math.ceil(math.log2(d))) if d > 1 else 1
    if strategy_name == "onethird":
        return max(1, math.ceil(d / 3.0))
    raise ValueError(f"unsupported featureSubsetStrategy: {strategy_name}")


def _histograms(binned: Any, trees: list[Node], group: list[Open], metadata: Metadata,
                strategy: Strategy, context: Any) -> np.ndarray:
    """(len(group), d, max bins, C) statistics of the group's nodes; only the
    features a node may split on are filled in."""
    d = metadata.d
    B = max(metadata.bins)
    C = metadata.classes
    wanted: dict[int, dict[int, tuple[int, np.ndarray]]] = {}
    for slot, item in enumerate(group):
        wanted.setdefault(item.tree, {})[item.node.id] = (slot, item.features)
    broadcast = context.broadcast((trees, wanted))
    size = len(group) * d * B * C
    classification = strategy.classification

    def seq(total, item):
        all_trees, nodes_of = broadcast.value
        block, labels = item if isinstance(item, tuple) else (item, item.labels)
        cells, weights_of_cells, labels_of_cells = [], [], []
        for tree, nodes in nodes_of.items():
            reached = all_trees[tree].route_binned(block.bins)
            weights = block.weights[:, tree] if block.weights is not None else None
            order = np.argsort(reached, kind="stable")  # the rows of each node, contiguous
            ordered = reached[order]
            for node_id, (slot, features) in nodes.items():
                rows = order[np.searchsorted(ordered, node_id, "left"):
                             np.searchsorted(ordered, node_id, "right")]
                if weights is not None:
                    rows = rows[weights[rows] > 0]
                if not len(rows):
                    continue
                offsets = (slot * d + features) * B
                cells.append((block.bins[np.ix_(rows, features)] + offsets[None, :]).ravel())
                w = np.ones(len(rows)) if weights is None else weights[rows]
                weights_of_cells.append(np.repeat(w, len(features)))
                labels_of_cells.append(np.repeat(labels[rows], len(features)))
        hist = np.zeros(size) if total is None else total
        if not cells:
            return hist
        # one bincount for the whole block: each of them costs the histogram's size
        cells = np.concatenate(cells).astype(np.int64) * C
        w = np.concatenate(weights_of_cells)
        y = np.concatenate(labels_of_cells)
        if classification:
            hist += np.bincount(cells + y.astype(np.int64), weights=w, minlength=size)
        else:
            hist += np.bincount(cells, weights=w, minlength=size)
            hist += np.bincount(cells + 1, weights=w * y, minlength=size)
            hist += np.bincount(cells + 2, weights=w * y * y, minlength=size)
        return hist

    def comb(a, b):
        if a is None or b is None:
            return b if a is None else a
        return a + b

    try:
        result = binned.treeAggregate(None, seq, comb)
    finally:
        broadcast.destroy()
    if result is None:
        result = np.zeros(size)
    return result.reshape(len(group), d, B, C)


def _best_split(hist: np.ndarray, features: np.ndarray, metadata: Metadata, strategy: Strategy,
                total: np.ndarray) -> tuple | None:
    """(gain, split, left stats, right stats) of the best valid split, or None."""
    kind = strategy.impurity
    parent_impurity = float(_impurity(total, kind))
    parent_count = float(_count(total, kind))
    best = None
    for feature in features:
        feature = int(feature)
        stats = hist[feature, :metadata.bins[feature]]
        if metadata.thresholds[feature] is not None:
            lefts = np.cumsum(stats, axis=0)[:-1]
            candidates = [(Split(feature, float(metadata.thresholds[feature][s]), bins=(s,)),)
                          for s in range(len(lefts))]
        elif feature in metadata.unordered:
            arity = metadata.bins[feature]
            masks = np.arange(1, 1 << (arity - 1))
            members = ((masks[:, None] >> np.arange(arity)[None, :]) & 1).astype(bool)
            lefts = members.astype(np.float64) @ stats
            candidates = []
            for mask_row in members:
                chosen = tuple(int(c) for c in np.nonzero(mask_row)[0])
                candidates.append((Split(feature, categories=tuple(float(c) for c in chosen),
                                         categorical=True, bins=chosen),))
        else:
            arity = metadata.bins[feature]
            counts = _count(stats, kind)
            if kind == "variance":
                with np.errstate(divide="ignore", invalid="ignore"):
                    centroid = stats[:, 1] / stats[:, 0]
            elif metadata.classes == 2:
                centroid = stats[:, 1].astype(np.float64)
            else:
                centroid = _impurity(stats, kind)
            centroid = np.where(counts > 0, centroid, np.finfo(np.float64).max)
            order = np.argsort(centroid, kind="stable")
            lefts = np.cumsum(stats[order], axis=0)[:-1]
            candidates = []
            for position in range(arity - 1):
                chosen = tuple(int(c) for c in order[:position + 1])
                candidates.append((Split(feature, categories=tuple(float(c) for c in chosen),
                                         categorical=True, bins=chosen),))
        if not len(lefts):
            continue
        rights = total[None, :] - lefts
        left_counts, right_counts = _count(lefts, kind), _count(rights, kind)
        valid = (left_counts >= strategy.min_instances) & (right_counts >= strategy.min_instances)
        if not valid.any():
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            gains = parent_impurity - (left_counts / parent_count) * _impurity(lefts, kind) \
                - (right_counts / parent_count) * _impurity(rights, kind)
        gains = np.where(valid & (gains >= strategy.min_info_gain), gains, -np.inf)
        index = int(np.argmax(gains))
        if gains[index] == -np.inf:
            continue
        if best is None or gains[index] > best[0]:
            best = (float(gains[index]), candidates[index][0], lefts[index], rights[index])
    return best


def grow(binned: Any, metadata: Metadata, strategy: Strategy, num_trees: int,
         subset_strategy: str, seed: int, context: Any, total_stats: np.ndarray | None = None
         ) -> list[Node]:
    """Grow ``num_trees`` trees over cached binned blocks."""
    kind = strategy.impurity
    per_node = _features_per_node(subset_strategy, metadata.d, strategy.classification,
                                  num_trees)
    d, B, C = metadata.d, max(metadata.bins), metadata.classes

    def features_for(tree: int, node_id: int) -> np.ndarray:
        if per_node >= d:
            return np.arange(d)
        rng = np.random.default_rng([seed & 0xFFFFFFFFFFFFFFFF, 13, tree, node_id])
        return np.sort(rng.choice(d, per_node, replace=False))

    trees = [Node(1, 0.0, 0.0) for _ in range(num_trees)]
    queue = [Open(t, trees[t], 0, features_for(t, 1)) for t in range(num_trees)]
    group_size = max(1, _HISTOGRAM_BYTES // max(1, d * B * C * 8))
    while queue:
        group, queue = queue[:group_size], queue[group_size:]
        hist = _histograms(binned, trees, group, metadata, strategy, context)
        for slot, item in enumerate(group):
            node_hist = hist[slot]
            first = int(item.features[0])  # any of its features sums to the node's totals
            total = node_hist[first, :metadata.bins[first]].sum(axis=0)
            node = item.node
            if node.id == 1:  # a child's prediction came with its parent's split
                node.prediction = _prediction(total, kind)
                node.impurity = float(_impurity(total, kind))
            if item.depth >= strategy.max_depth or node.impurity == 0.0 or \
                    _count(total, kind) == 0:
                continue
            best = _best_split(node_hist, item.features, metadata, strategy, total)
            if best is None or best[0] <= 0.0:
                continue
            gain, split, left_stats, right_stats = best
            node.split, node.gain = split, gain
            node.left = Node(2 * node.id, _prediction(left_stats, kind),
                             float(_impurity(left_stats, kind)))
            node.right = Node(2 * node.id + 1, _prediction(right_stats, kind),
                              float(_impurity(right_stats, kind)))
            for child in (node.left, node.right):
                if item.depth + 1 < strategy.max_depth and child.impurity > 0.0:
                    queue.append(Open(item.tree, child, item.depth + 1,
                                      features_for(item.tree, child.id)))
    return [tree.prune() for tree in trees]


def read_binned(data: BlockedData, metadata: Metadata, strategy: Strategy, num_trees: int,
                seed: int, bootstrap: bool) -> Any:
    binned = data.blocks.mapPartitionsWithIndex(binner(metadata, strategy, num_trees, seed,
                                                       bootstrap))
    binned.persist(StorageLevel.MEMORY_AND_DISK)
    return binned
