"""Decision trees, random forests and gradient-boosted trees.

Owns the public tree models and their trainers; growth is
``ember.mllib._tree`` (histograms per block, all trees of a level in one
pass). Parameters are checked before any job (impurity, depth, bins,
strategy, categorical arities); labels must be the classes 0 ..
numClasses - 1 for classification (0 or 1 for boosting) and categorical
values 0 .. arity - 1, or the error names the offending value.

Gradient boosting is MLlib's: classification labels become -1/+1, the
first tree fits the labels (weight 1), every further tree the negative
gradient of the loss at the current predictions (weight ``learningRate``),
all regression trees with variance impurity; the current predictions are
kept beside the cached blocks, one persisted RDD per iteration (and
checkpointed every 10 when the Context has a checkpoint directory). Losses:
``logLoss`` (``2 log(1 + exp(-2 y F))``), ``leastSquaresError``,
``leastAbsoluteError``. A boosted classifier predicts 1.0 when the weighted
sum of its trees is positive.
"""

from __future__ import annotations

import random as _random
from typing import Any

import numpy as np

from ember.engine.api.storage import StorageLevel
from ember.mllib import _glm, _persist, _tree
from ember.mllib._blocks import is_rdd, labeled_data, map_rows
from ember.mllib.linalg import _convert_to_vector
from ember.mllib.regression import LabeledPoint
from ember.mllib.util import Loader, Saveable

__all__ = [
    "DecisionTreeModel",
    "DecisionTree",
    "RandomForestModel",
    "RandomForest",
    "GradientBoostedTreesModel",
    "GradientBoostedTrees",
]


def _dense_rows(x: Any) -> np.ndarray:
    return _convert_to_vector(x).toArray()[None, :]


class TreeEnsembleModel(Saveable):
    """Trees combined by vote (random forest classification), average
    (random forest regression) or weighted sum (boosting)."""

    _CLASS_NAME = ""

    def __init__(self, algo: str, trees: list, weights: list[float], combining: str):
        self._algo = algo
        self._trees = trees
        self._weights = np.asarray(weights, dtype=np.float64)
        self._combining = combining

    def _predict_matrix(self, X: np.ndarray) -> np.ndarray:
        predictions = np.vstack([tree.predict(X) for tree in self._trees])
        if self._combining == "sum":
            total = self._weights @ predictions
            return (total > 0).astype(np.float64) if self._algo == "classification" else total
        if self._combining == "average":
            return self._weights @ predictions / self._weights.sum()
        classes = int(predictions.max()) + 1 if predictions.size else 1
        votes = np.zeros((X.shape[0], classes))
        for weight, row in zip(self._weights, predictions):
            votes[np.arange(X.shape[0]), row.astype(np.int64)] += weight
        return np.argmax(votes, axis=1).astype(np.float64)

    def predict(self, x: Any) -> Any:
        """The prediction for a vector, or an RDD of them for an RDD."""
        if is_rdd(x):
            return map_rows(x, lambda rows: iter(self._predict_matrix(rows.dense()).tolist()))
        return float(self._predict_matrix(_dense_rows(x))[0])

    def numTrees(self) -> int:
        """The number of trees."""
        return len(self._trees)

    def totalNumNodes(self) -> int:
        """The number of nodes of all trees."""
        return sum(tree.num_nodes() for tree in self._trees)

    def __repr__(self) -> str:
        kind = "classifier" if self._algo == "classification" else "regressor"
        return f"TreeEnsembleModel {kind} with {len(self._trees)} trees\n"

    def toDebugString(self) -> str:
        """Every tree, as nested if/else rules."""
        return repr(self) + "\n" + "".join(
            f"  Tree {index}:\n" + tree.subtree_string(4) for index, tree in enumerate(self._trees))

    def save(self, sc: Any, path: str) -> None:
        """Save this model to ``path``."""
        _persist.save(sc, path, self._CLASS_NAME,
                      {"algo": self._algo, "combiningStrategy": self._combining,
                       "treeWeights": self._weights.tolist()},
                      [record for index, tree in enumerate(self._trees)
                       for record in tree.to_records(index)])

    @classmethod
    def _load(cls, sc: Any, path: str):
        metadata = _persist.load_metadata(sc, path, cls._CLASS_NAME)
        records = _persist.load_records(sc, path)
        trees = [_tree.Node.from_records([r for r in records if r["treeId"] == index])
                 for index in range(len(metadata["treeWeights"]))]
        return cls(metadata["algo"], trees, metadata["treeWeights"],
                   metadata["combiningStrategy"])


class DecisionTreeModel(Saveable, Loader["DecisionTreeModel"]):
    """A decision tree for classification or regression.

    >>> data = [LabeledPoint(0.0, [0.0]), LabeledPoint(1.0, [1.0]), LabeledPoint(1.0, [2.0]),
    ...         LabeledPoint(1.0, [3.0])]
    >>> model = DecisionTree.trainClassifier(sc.parallelize(data), 2, {})
    >>> print(model)
    DecisionTreeModel classifier of depth 1 with 3 nodes
    >>> print(model.toDebugString())
    DecisionTreeModel classifier of depth 1 with 3 nodes
      If (feature 0 <= 0.5)
       Predict: 0.0
      Else (feature 0 > 0.5)
       Predict: 1.0
    <BLANKLINE>
    >>> model.predict(np.array([1.0])), model.predict(sc.parallelize([[1.0], [0.0]])).collect()
    (1.0, [1.0, 0.0])
    >>> import tempfile
    >>> path = tempfile.mkdtemp()
    >>> model.save(sc, path)
    >>> print(DecisionTreeModel.load(sc, path))
    DecisionTreeModel classifier of depth 1 with 3 nodes
    """

    _CLASS_NAME = "org.apache.spark.mllib.tree.DecisionTreeModel"

    def __init__(self, algo: str, root: Any):
        self._algo = algo
        self._root = root

    def predict(self, x: Any) -> Any:
        """The prediction for a vector, or an RDD of them for an RDD."""
        if is_rdd(x):
            return map_rows(x, lambda rows: iter(self._root.predict(rows.dense()).tolist()))
        return float(self._root.predict(_dense_rows(x))[0])

    def numNodes(self) -> int:
        """The number of nodes, leaves included."""
        return self._root.num_nodes()

    def depth(self) -> int:
        """The depth (0 for a single leaf)."""
        return self._root.depth()

    def __repr__(self) -> str:
        kind = "classifier" if self._algo == "classification" else "regressor"
        return f"DecisionTreeModel {kind} of depth {self.depth()} with {self.numNodes()} nodes"

    def toDebugString(self) -> str:
        """The whole tree, as nested if/else rules."""
        return repr(self) + "\n" + self._root.subtree_string(2)

    def save(self, sc: Any, path: str) -> None:
        """Save this model to ``path``."""
        _persist.save(sc, path, self._CLASS_NAME, {"algo": self._algo,
                                                   "numNodes": self.numNodes()},
                      self._root.to_records(0))

    @classmethod
    def load(cls, sc: Any, path: str) -> "DecisionTreeModel":
        """Load a model saved with ``save``."""
        metadata = _persist.load_metadata(sc, path, cls._CLASS_NAME)
        return cls(metadata["algo"], _tree.Node.from_records(_persist.load_records(sc, path)))


def _strategy(classification: bool, num_classes: int, categorical: Any, impurity: str,
              max_depth: int, max_bins: int, min_instances: int,
              min_info_gain: float) -> _tree.Strategy:
    if not isinstance(categorical, dict):
        raise TypeError(f"categoricalFeaturesInfo must be a dict of feature index -> number of "
                        f"categories, got {type(categorical).__name__}")
    strategy = _tree.Strategy(classification, int(num_classes), impurity, int(max_depth),
                              int(max_bins), int(min_instances), float(min_info_gain),
                              {int(k): int(v) for k, v in categorical.items()})
    _tree.check_strategy(strategy)
    return strategy


def _train_forest(data: Any, strategy: _tree.Strategy, num_trees: int, subset: str, seed: int,
                  what: str) -> list:
    first = data.first()
    if not isinstance(first, LabeledPoint):
        raise TypeError(f"the data should be RDD of LabeledPoint, got {type(first)}")
    blocked = labeled_data(data)
    try:
        blocked.require_rows(what)
        if strategy.classification:
            blocked.check_classes(strategy.num_classes, what)
        metadata = _tree.build_metadata(blocked, strategy, seed)
        binned = _tree.read_binned(blocked, metadata, strategy, num_trees, seed, num_trees > 1)
        try:
            return _tree.grow(binned, metadata, strategy, num_trees, subset, seed, data.context)
        finally:
            binned.unpersist()
    finally:
        blocked.unpersist()


class DecisionTree:
    """Decision tree learning for classification and regression."""

    @classmethod
    def trainClassifier(cls, data: Any, numClasses: int, categoricalFeaturesInfo: dict,
                        impurity: str = "gini", maxDepth: int = 5, maxBins: int = 32,
                        minInstancesPerNode: int = 1,
                        minInfoGain: float = 0.0) -> DecisionTreeModel:
        """Train a classification tree on an RDD of ``LabeledPoint`` (labels
        0 .. numClasses - 1); ``categoricalFeaturesInfo`` maps a categorical
        feature's index to its number of categories."""
        strategy = _strategy(True, numClasses, categoricalFeaturesInfo, impurity, maxDepth,
                             maxBins, minInstancesPerNode, minInfoGain)
        root, = _train_forest(data, strategy, 1, "all", 0, "DecisionTree")
        return DecisionTreeModel("classification", root)

    @classmethod
    def trainRegressor(cls, data: Any, categoricalFeaturesInfo: dict, impurity: str = "variance",
                       maxDepth: int = 5, maxBins: int = 32, minInstancesPerNode: int = 1,
                       minInfoGain: float = 0.0) -> DecisionTreeModel:
        """Train a regression tree on an RDD of ``LabeledPoint``.

        >>> from ember.mllib.linalg import SparseVector
        >>> data = [LabeledPoint(0.0, SparseVector(2, {0: 0.0})),
        ...         LabeledPoint(1.0, SparseVector(2, {1: 1.0})),
        ...         LabeledPoint(0.0, SparseVector(2, {0: 0.0})),
        ...         LabeledPoint(1.0, SparseVector(2, {1: 2.0}))]
        >>> model = DecisionTree.trainRegressor(sc.parallelize(data), {})
        >>> model.predict(SparseVector(2, {1: 1.0})), model.predict(SparseVector(2, {1: 0.0}))
        (1.0, 0.0)
        >>> DecisionTree.trainRegressor(sc.parallelize(data), {}, maxDepth=31)
        Traceback (most recent call last):
            ...
        ValueError: DecisionTree currently only supports maxDepth <= 30 (and >= 0), but was given maxDepth = 31.
        """
        strategy = _strategy(False, 0, categoricalFeaturesInfo, impurity, maxDepth, maxBins,
                             minInstancesPerNode, minInfoGain)
        root, = _train_forest(data, strategy, 1, "all", 0, "DecisionTree")
        return DecisionTreeModel("regression", root)


class RandomForestModel(TreeEnsembleModel, Loader["RandomForestModel"]):
    """A random forest: trees voting (classification) or averaged (regression)."""

    _CLASS_NAME = "org.apache.spark.mllib.tree.model.RandomForestModel"

    @classmethod
    def load(cls, sc: Any, path: str) -> "RandomForestModel":
        """Load a model saved with ``save``."""
        return cls._load(sc, path)


class RandomForest:
    """Random forests: trees grown on bootstrap samples, each node choosing
    among a random subset of the features."""

    supportedFeatureSubsetStrategies = ("auto", "all", "sqrt", "log2", "onethird")

    @classmethod
    def _train(cls, data: Any, algo: str, numClasses: int, categoricalFeaturesInfo: dict,
               numTrees: int, featureSubsetStrategy: str, impurity: str, maxDepth: int,
               maxBins: int, seed: int | None) -> RandomForestModel:
        if featureSubsetStrategy not in cls.supportedFeatureSubsetStrategies:
            raise ValueError(f"unsupported featureSubsetStrategy: {featureSubsetStrategy}")
        _glm.check_positive_int("numTrees", numTrees)
        classification = algo == "classification"
        strategy = _strategy(classification, numClasses, categoricalFeaturesInfo, impurity,
                             maxDepth, maxBins, 1, 0.0)
        seed = _random.randint(0, 1 << 30) if seed is None else int(seed)
        trees = _train_forest(data, strategy, numTrees, featureSubsetStrategy, seed,
                              "RandomForest")
        return RandomForestModel(algo, trees, [1.0] * len(trees),
                                 "vote" if classification else "average")

    @classmethod
    def trainClassifier(cls, data: Any, numClasses: int, categoricalFeaturesInfo: dict,
                        numTrees: int, featureSubsetStrategy: str = "auto",
                        impurity: str = "gini", maxDepth: int = 4, maxBins: int = 32,
                        seed: int | None = None) -> RandomForestModel:
        """Train a classification forest of ``numTrees`` trees.

        >>> data = [LabeledPoint(0.0, [0.0]), LabeledPoint(0.0, [1.0]),
        ...         LabeledPoint(1.0, [2.0]), LabeledPoint(1.0, [3.0])]
        >>> model = RandomForest.trainClassifier(sc.parallelize(data), 2, {}, 3, seed=42)
        >>> model.numTrees()
        3
        >>> print(model)
        TreeEnsembleModel classifier with 3 trees
        <BLANKLINE>
        >>> model.predict([2.0]), model.predict([0.0])
        (1.0, 0.0)
        >>> model.predict(sc.parallelize([[3.0], [1.0]])).collect()
        [1.0, 0.0]
        """
        return cls._train(data, "classification", numClasses, categoricalFeaturesInfo, numTrees,
                          featureSubsetStrategy, impurity, maxDepth, maxBins, seed)

    @classmethod
    def trainRegressor(cls, data: Any, categoricalFeaturesInfo: dict, numTrees: int,
                       featureSubsetStrategy: str = "auto", impurity: str = "variance",
                       maxDepth: int = 4, maxBins: int = 32,
                       seed: int | None = None) -> RandomForestModel:
        """Train a regression forest of ``numTrees`` trees.

        >>> from ember.mllib.linalg import SparseVector
        >>> data = [LabeledPoint(0.0, SparseVector(2, {0: 1.0})),
        ...         LabeledPoint(1.0, SparseVector(2, {1: 1.0})),
        ...         LabeledPoint(0.0, SparseVector(2, {0: 1.0})),
        ...         LabeledPoint(1.0, SparseVector(2, {1: 2.0}))]
        >>> model = RandomForest.trainRegressor(sc.parallelize(data), {}, 2, seed=42)
        >>> model.numTrees(), 0.0 <= model.predict(SparseVector(2, {0: 1.0})) <= 1.0
        (2, True)
        """
        return cls._train(data, "regression", 0, categoricalFeaturesInfo, numTrees,
                          featureSubsetStrategy, impurity, maxDepth, maxBins, seed)


class GradientBoostedTreesModel(TreeEnsembleModel, Loader["GradientBoostedTreesModel"]):
    """Gradient-boosted trees: a weighted sum of regression trees."""

    _CLASS_NAME = "org.apache.spark.mllib.tree.model.GradientBoostedTreesModel"

    @classmethod
    def load(cls, sc: Any, path: str) -> "GradientBoostedTreesModel":
        """Load a model saved with ``save``."""
        return cls._load(sc, path)


_LOSSES = ("logLoss", "leastSquaresError", "leastAbsoluteError")


def _negative_gradient(loss: str, prediction: np.ndarray, label: np.ndarray) -> np.ndarray:
    if loss == "logLoss":
        return 4.0 * label / (1.0 + np.exp(2.0 * label * prediction))
    if loss == "leastSquaresError":
        return 2.0 * (label - prediction)
    return np.where(label - prediction < 0, -1.0, 1.0)


class GradientBoostedTrees:
    """Gradient boosting of regression trees (Friedman), MLlib's variant."""

    @classmethod
    def _train(cls, data: Any, algo: str, categoricalFeaturesInfo: dict, loss: str,
               numIterations: int, learningRate: float, maxDepth: int,
               maxBins: int) -> GradientBoostedTreesModel:
        if loss not in _LOSSES:
            raise ValueError(f"Loss {loss!r} not supported; the losses are "
                             f"{', '.join(_LOSSES)}")
        _glm.check_positive_int("numIterations", numIterations)
        if not 0 < learningRate <= 1:
            raise ValueError(f"learningRate must be in (0, 1], got {learningRate!r}")
        strategy = _strategy(False, 0, categoricalFeaturesInfo, "variance", maxDepth, maxBins, 1,
                             0.0)
        first = data.first()
        if not isinstance(first, LabeledPoint):
            raise TypeError(f"the data should be RDD of LabeledPoint, got {type(first)}")
        blocked = labeled_data(data)
        what = "GradientBoostedTrees"
        try:
            blocked.require_rows(what)
            if algo == "classification":
                blocked.check_classes(2, what)
            metadata = _tree.build_metadata(blocked, strategy, 0)
            binned = _tree.read_binned(blocked, metadata, strategy, 1, 0, False)
            try:
                trees = _boost(binned, metadata, strategy, algo, loss, numIterations,
                               learningRate, data.context)
            finally:
                binned.unpersist()
        finally:
            blocked.unpersist()
        weights = [1.0] + [float(learningRate)] * (len(trees) - 1)
        return GradientBoostedTreesModel(algo, trees, weights, "sum")

    @classmethod
    def trainClassifier(cls, data: Any, categoricalFeaturesInfo: dict, loss: str = "logLoss",
                        numIterations: int = 100, learningRate: float = 0.1, maxDepth: int = 3,
                        maxBins: int = 32) -> GradientBoostedTreesModel:
        """Train a binary classifier (labels 0 and 1).

        >>> data = [LabeledPoint(0.0, [0.0]), LabeledPoint(0.0, [1.0]),
        ...         LabeledPoint(1.0, [2.0]), LabeledPoint(1.0, [3.0])]
        >>> model = GradientBoostedTrees.trainClassifier(sc.parallelize(data), {}, numIterations=10)
        >>> model.numTrees(), model.totalNumNodes()
        (10, 30)
        >>> model.predict([2.0]), model.predict([0.0])
        (1.0, 0.0)
        """
        return cls._train(data, "classification", categoricalFeaturesInfo, loss, numIterations,
                          learningRate, maxDepth, maxBins)

    @classmethod
    def trainRegressor(cls, data: Any, categoricalFeaturesInfo: dict,
                       loss: str = "leastSquaresError", numIterations: int = 100,
                       learningRate: float = 0.1, maxDepth: int = 3,
                       maxBins: int = 32) -> GradientBoostedTreesModel:
        """Train a regressor.

        >>> from ember.mllib.linalg import SparseVector
        >>> data = [LabeledPoint(0.0, SparseVector(2, {0: 1.0})),
        ...         LabeledPoint(1.0, SparseVector(2, {1: 1.0})),
        ...         LabeledPoint(0.0, SparseVector(2, {0: 1.0})),
        ...         LabeledPoint(1.0, SparseVector(2, {1: 2.0}))]
        >>> model = GradientBoostedTrees.trainRegressor(sc.parallelize(data), {}, numIterations=10)
        >>> model.numTrees(), model.totalNumNodes()
        (10, 12)
        >>> model.predict(SparseVector(2, {1: 1.0})), model.predict(SparseVector(2, {0: 1.0}))
        (1.0, 0.0)
        """
        return cls._train(data, "regression", categoricalFeaturesInfo, loss, numIterations,
                          learningRate, maxDepth, maxBins)


def _boost(binned: Any, metadata: Any, strategy: Any, algo: str, loss: str, iterations: int,
           rate: float, context: Any) -> list:
    classification = algo == "classification"

    def initial(block):
        labels = 2.0 * block.labels - 1.0 if classification else block.labels
        return block, labels, np.zeros(block.n)

    state = binned.map(initial)
    state.persist(StorageLevel.MEMORY_AND_DISK)
    checkpointing = bool(getattr(context, "getCheckpointDir", lambda: None)())
    trees = []
    try:
        for iteration in range(iterations):
            weight = 1.0 if iteration == 0 else rate
            if iteration == 0:
                targets = state.map(lambda item: (item[0], item[1]))
            else:
                targets = state.map(lambda item: (
                    item[0], _negative_gradient(loss, item[2], item[1])))
            tree, = _tree.grow(targets, metadata, strategy, 1, "all", 0, context)
            trees.append(tree)
            previous = state

            def advance(item, tree=tree, weight=weight):
                block, labels, predictions = item
                return block, labels, predictions + weight * tree.predict_binned(block.bins)

            state = previous.map(advance)
            state.persist(StorageLevel.MEMORY_AND_DISK)
            if checkpointing and (iteration + 1) % 10 == 0:
                state.checkpoint()
            state.count()
            previous.unpersist()
    finally:
        state.unpersist()
    return trees

