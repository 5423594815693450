"""MLlib's utilities: LIBSVM files, labelled-point files, bias columns,
k-fold splits, generated linear data, and the save/load mixins of models.

Owns ``MLUtils``, ``LinearDataGenerator``, ``Saveable``, ``Loader`` and
``inherit_doc``. Readers are RDD transformations (``sc.textFile``), so files
are parsed on the workers; a malformed line raises ``InvalidDataError``
quoting it. Random splits (``kFold``, the generators) draw from a
generator seeded by the seed and the partition index, so a recomputed
partition splits the same way.

What it must not know: any algorithm.
"""

from __future__ import annotations

from typing import Any, Generic, Iterator, TypeVar

import numpy as np

from ember.engine.errors import InvalidDataError
from ember.mllib.linalg import DenseVector, SparseVector, Vector, Vectors, _convert_to_vector

T = TypeVar("T")

__all__ = ["MLUtils", "Saveable", "Loader", "LinearDataGenerator", "inherit_doc"]


def inherit_doc(cls):
    """Give a class's undocumented public methods their parent's docstring."""
    for name, member in vars(cls).items():
        if name.startswith("_") or getattr(member, "__doc__", None):
            continue
        for parent in cls.__bases__:
            inherited = getattr(getattr(parent, name, None), "__doc__", None)
            if inherited:
                try:
                    member.__doc__ = inherited
                except (AttributeError, TypeError):
                    pass
                break
    return cls


def _parse_libsvm_line(line: str) -> tuple[float, np.ndarray, np.ndarray]:
    """``label index:value ...`` (one-based, ascending) as (label, zero-based
    indices, values)."""
    items = line.split()
    try:
        label = float(items[0])
        pairs = [item.split(":") for item in items[1:]]
        indices = np.array([int(index) - 1 for index, _ in pairs], dtype=np.int32)
        values = np.array([float(value) for _, value in pairs])
    except (ValueError, IndexError):
        raise InvalidDataError(f"not a LIBSVM line (label index:value ...): {line[:100]!r}") \
            from None
    if len(indices) and (indices[0] < 0 or (np.diff(indices) <= 0).any()):
        raise InvalidDataError(f"LIBSVM indices must be one-based and ascending: "
                               f"{line[:100]!r}")
    return label, indices, values


def _libsvm_line(point: Any) -> str:
    items = [str(point.label)]
    vector = _convert_to_vector(point.features)
    if isinstance(vector, SparseVector):
        items += [f"{index + 1}:{value}" for index, value in zip(vector.indices, vector.values)]
    else:
        items += [f"{index + 1}:{value}" for index, value in enumerate(vector.toArray())]
    return " ".join(items)


def _parse_labeled_point(line: str) -> Any:
    """A LabeledPoint from its text form, ``(label,vector)`` or the older
    ``label,v1 v2 ...``."""
    from ember.mllib.regression import LabeledPoint

    text = line.strip()
    try:
        if text.startswith("("):
            label, _, vector = text[1:-1].partition(",")
            return LabeledPoint(float(label), Vectors.parse(vector))
        label, _, values = text.partition(",")
        return LabeledPoint(float(label), [float(value) for value in values.split()])
    except ValueError as error:
        raise InvalidDataError(f"not a labeled point ({error}): {line[:100]!r}") from None


def _fold_of(seed: int, lower: float, upper: float, keep: bool):
    def pick(partition: int, records: Iterator) -> Iterator:
        rng = np.random.default_rng([seed & 0xFFFFFFFFFFFFFFFF, partition])
        for record in records:
            inside = lower <= rng.random() < upper
            if inside == keep:
                yield record

    return pick


class MLUtils:
    """Helpers to load, save and prepare the data MLlib trains on."""

    @staticmethod
    def _parse_libsvm_line(line: str) -> tuple[float, np.ndarray, np.ndarray]:
        return _parse_libsvm_line(line)

    @staticmethod
    def _convert_labeled_point_to_libsvm(p: Any) -> str:
        return _libsvm_line(p)

    @staticmethod
    def loadLibSVMFile(sc: Any, path: str, numFeatures: int = -1,
                       minPartitions: int | None = None) -> Any:
        """Labelled points from LIBSVM text (``label index:value ...``, indices
        one-based and ascending) as an RDD of ``LabeledPoint`` with sparse
        features. With ``numFeatures`` <= 0 the size is the largest index
        (one job). Blank lines and ``#`` comments are skipped.

        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "data.txt")
        >>> with open(path, "w") as f:
        ...     _ = f.write("+1 1:1.0 3:2.0 5:3.0\\n-1\\n-1 2:4.0 4:5.0 6:6.0\\n")
        >>> examples = MLUtils.loadLibSVMFile(sc, path).collect()
        >>> examples[0]
        LabeledPoint(1.0, (6,[0,2,4],[1.0,2.0,3.0]))
        >>> examples[1]
        LabeledPoint(-1.0, (6,[],[]))
        """
        from ember.mllib.regression import LabeledPoint

        lines = sc.textFile(path, minPartitions)
        parsed = lines.filter(lambda line: line.strip() and not line.lstrip().startswith("#")) \
            .map(_parse_libsvm_line)
        if numFeatures <= 0:
            parsed.cache()
            numFeatures = parsed.map(lambda p: int(p[1][-1]) if p[1].size else -1) \
                .fold(-1, max) + 1
        size = numFeatures
        return parsed.map(lambda p: LabeledPoint(p[0], SparseVector(size, p[1], p[2])))

    @staticmethod
    def saveAsLibSVMFile(data: Any, dir: str) -> None:
        """Write labelled points as LIBSVM text files under ``dir``.

        >>> import glob, os, tempfile
        >>> from ember.mllib.regression import LabeledPoint
        >>> out = os.path.join(tempfile.mkdtemp(), "out")
        >>> points = [LabeledPoint(1.1, Vectors.sparse(3, [(0, 1.23), (2, 4.56)])),
        ...           LabeledPoint(0.0, Vectors.dense([1.01, 2.02, 3.03]))]
        >>> MLUtils.saveAsLibSVMFile(sc.parallelize(points), out)
        >>> sorted(line for f in glob.glob(out + "/part-*") for line in open(f))
        ['0.0 1:1.01 2:2.02 3:3.03\\n', '1.1 1:1.23 3:4.56\\n']
        """
        data.map(_libsvm_line).saveAsTextFile(dir)

    @staticmethod
    def loadLabeledPoints(sc: Any, path: str, minPartitions: int | None = None) -> Any:
        """Labelled points written with ``saveAsTextFile`` (their text form).

        >>> import os, tempfile
        >>> from ember.mllib.regression import LabeledPoint
        >>> out = os.path.join(tempfile.mkdtemp(), "points")
        >>> points = [LabeledPoint(1.1, Vectors.sparse(3, [(0, -1.23), (2, 4.56e-7)])),
        ...           LabeledPoint(0.0, Vectors.dense([1.01, 2.02, 3.03]))]
        >>> sc.parallelize(points, 1).saveAsTextFile(out)
        >>> MLUtils.loadLabeledPoints(sc, out).collect()
        [LabeledPoint(1.1, (3,[0,2],[-1.23,4.56e-07])), LabeledPoint(0.0, [1.01,2.02,3.03])]
        """
        minPartitions = minPartitions or min(sc.defaultParallelism, 2)
        return sc.textFile(path, minPartitions).filter(str.strip).map(_parse_labeled_point)

    @staticmethod
    def appendBias(data: Any) -> Vector:
        """The vector with 1.0 appended.

        >>> MLUtils.appendBias([1.0, 2.0])
        DenseVector([1.0, 2.0, 1.0])
        >>> MLUtils.appendBias(Vectors.sparse(2, [0], [3.0]))
        SparseVector(3, {0: 3.0, 2: 1.0})
        """
        vector = _convert_to_vector(data)
        if isinstance(vector, SparseVector):
            return SparseVector(len(vector) + 1, np.append(vector.indices, len(vector)),
                                np.append(vector.values, 1.0))
        return DenseVector(np.append(vector.toArray(), 1.0))

    @staticmethod
    def loadVectors(sc: Any, path: str) -> Any:
        """Vectors written with ``saveAsTextFile`` (their text form).

        >>> import os, tempfile
        >>> out = os.path.join(tempfile.mkdtemp(), "vectors")
        >>> sc.parallelize([Vectors.dense([1.0, 2.0]), Vectors.sparse(2, [1], [3.0])], 1) \\
        ...     .saveAsTextFile(out)
        >>> MLUtils.loadVectors(sc, out).collect()
        [DenseVector([1.0, 2.0]), SparseVector(2, {1: 3.0})]
        """
        return sc.textFile(path, sc.defaultParallelism).filter(str.strip).map(Vectors.parse)

    @staticmethod
    def kFold(rdd: Any, numFolds: int, seed: int) -> list:
        """``numFolds`` pairs of (training, validation) RDDs: each element is
        in exactly one validation fold and in the other folds' training sets.

        >>> folds = MLUtils.kFold(sc.parallelize(range(100), 4), 3, seed=7)
        >>> len(folds)
        3
        >>> sorted(x for _, validation in folds for x in validation.collect()) == list(range(100))
        True
        >>> all(t.count() + v.count() == 100 for t, v in folds)
        True
        """
        if not isinstance(numFolds, int) or numFolds < 2:
            raise ValueError(f"numFolds must be an integer of at least 2, got {numFolds!r}")
        folds = []
        for fold in range(1, numFolds + 1):
            lower, upper = (fold - 1) / numFolds, fold / numFolds
            validation = rdd.mapPartitionsWithIndex(_fold_of(seed, lower, upper, True), True)
            training = rdd.mapPartitionsWithIndex(_fold_of(seed, lower, upper, False), True)
            folds.append((training, validation))
        return folds


class DetachedContext:
    """Mixin of models that make RDDs: they keep the Context they were made
    with (``_sc``), which never travels with the model to a worker."""

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_sc", None)
        return state


class Saveable:
    """Mixin of models that can be saved: ``save(sc, path)`` writes JSON
    metadata to ``path/metadata`` and the model's data to ``path/data``."""

    def save(self, sc: Any, path: str) -> None:
        """Save this model to ``path`` (whose ``metadata`` and ``data``
        folders must not exist)."""
        raise NotImplementedError


class Loader(Generic[T]):
    """Mixin of models that can be loaded from what ``save`` wrote."""

    @classmethod
    def load(cls, sc: Any, path: str) -> T:
        """Load a model saved with ``save(sc, path)``."""
        raise NotImplementedError


class LinearDataGenerator:
    """Labelled points from a linear model with Gaussian noise."""

    @staticmethod
    def generateLinearInput(intercept: float, weights: Any, xMean: Any, xVariance: Any,
                            nPoints: int, seed: int, eps: float) -> list:
        """``nPoints`` points: features uniform around ``xMean`` with variance
        ``xVariance``, label ``weights . x + intercept + eps * N(0, 1)``.

        >>> points = LinearDataGenerator.generateLinearInput(
        ...     0.5, [2.0, -1.0], [0.0, 0.0], [1.0, 1.0], 1000, seed=1, eps=0.0)
        >>> len(points), len(points[0].features)
        (1000, 2)
        >>> p = points[0]
        >>> bool(abs(p.label - (0.5 + 2 * p.features[0] - p.features[1])) < 1e-12)
        True
        """
        from ember.mllib.regression import LabeledPoint

        weights = np.asarray([float(w) for w in weights])
        mean = np.asarray([float(m) for m in xMean])
        variance = np.asarray([float(v) for v in xVariance])
        rng = np.random.default_rng(seed)
        X = (rng.random((int(nPoints), len(weights))) - 0.5) * np.sqrt(12.0 * variance) + mean
        y = X @ weights + intercept + eps * rng.standard_normal(int(nPoints))
        return [LabeledPoint(label, DenseVector(row)) for label, row in zip(y, X)]

    @staticmethod
    def generateLinearRDD(sc: Any, nexamples: int, nfeatures: int, eps: float,
                          nParts: int = 2, intercept: float = 0.0) -> Any:
        """An RDD of ``nexamples`` points over ``nfeatures`` features uniform on
        [-1, 1), weights drawn once (seed 42), label noise ``eps * N(0, 1)``.

        >>> rdd = LinearDataGenerator.generateLinearRDD(sc, 100, 3, 0.1, nParts=4)
        >>> rdd.count(), rdd.getNumPartitions(), len(rdd.first().features)
        (100, 4, 3)
        """
        from ember.mllib.regression import LabeledPoint

        weights = np.random.default_rng(42).random(nfeatures) - 0.5
        bounds = [nexamples * part // nParts for part in range(nParts + 1)]

        def generate(part: int, _: Iterator) -> Iterator:
            rng = np.random.default_rng([42, part])
            count = bounds[part + 1] - bounds[part]
            X = rng.random((count, nfeatures)) * 2.0 - 1.0
            y = X @ weights + intercept + eps * rng.standard_normal(count)
            return (LabeledPoint(label, DenseVector(row)) for label, row in zip(y, X))

        return sc.parallelize(range(nParts), nParts).mapPartitionsWithIndex(generate)
