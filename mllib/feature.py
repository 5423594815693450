"""Feature transformations: scaling, normalisation, hashing term
frequencies, IDF, chi-squared feature selection, PCA, element-wise products
and Word2Vec.

Owns the transformers and their models. A model transforms a vector on the
driver, or an RDD of vectors a block at a time on the workers; sparse
vectors stay sparse unless the transformation centres them. Fitting reads
the data once: ``StandardScaler`` and ``IDF`` aggregate column statistics,
``ChiSqSelector`` runs the per-feature chi-squared tests, ``PCA`` the
covariance of a ``RowMatrix``.

*Design change*: ``HashingTF`` hashes terms with ember's portable hash
(CRC-32 of strings and bytes, PySpark's hash of numbers and tuples), not
Python's ``hash``: Python randomises string hashes per process, so the
driver and the workers would otherwise put a term at different indices.

Word2Vec is MLlib's skip-gram with hierarchical softmax: the vocabulary
(words seen ``minCount`` times) and its Huffman tree are built with one
job; each iteration broadcasts the vectors, every partition trains its
sentences on its own copy (learning rate decaying with the words
processed, a window of random width per word), and the driver averages the
vectors each partition changed.
"""

from __future__ import annotations

import heapq
import random as _random
from typing import Any, Iterable, Iterator

import numpy as np

from ember.engine.api.storage import StorageLevel
from ember.engine.data.hashing import portable_hash
from ember.engine.errors import InvalidDataError
from ember.mllib import _persist
from ember.mllib._blocks import is_rdd, map_rows, vector_data
from ember.mllib.linalg import DenseVector, SparseVector, Vector, Vectors, _convert_to_vector
from ember.mllib.regression import LabeledPoint  # noqa: F401 - the examples use it
from ember.mllib.util import Loader, Saveable

__all__ = [
    "Normalizer",
    "StandardScalerModel",
    "StandardScaler",
    "HashingTF",
    "IDFModel",
    "IDF",
    "Word2Vec",
    "Word2VecModel",
    "ChiSqSelector",
    "ChiSqSelectorModel",
    "ElementwiseProduct",
]


class VectorTransformer:
    """Base of the transformations of a vector or an RDD of vectors."""

    def transform(self, vector: Any) -> Any:
        """The transformed vector, or an RDD of them for an RDD."""
        raise NotImplementedError

    def _apply(self, vector: Any) -> Any:
        if is_rdd(vector):
            return vector.map(lambda v: self._one(_convert_to_vector(v)))
        return self._one(_convert_to_vector(vector))

    def _one(self, vector: Vector) -> Vector:
        raise NotImplementedError


def _scaled(vector: Vector, values: np.ndarray) -> Vector:
    """``vector`` with its active values replaced (sparsity kept)."""
    if isinstance(vector, SparseVector):
        return SparseVector(vector.size, vector.indices, values)
    return DenseVector(values)


class Normalizer(VectorTransformer):
    """Scale vectors to unit L^p norm (``p = inf``: the largest absolute value).

    >>> v = Vectors.dense(range(3))
    >>> Normalizer(1).transform(v)
    DenseVector([0.0, 0.3333, 0.6667])
    >>> Normalizer(1).transform(sc.parallelize([v])).collect()
    [DenseVector([0.0, 0.3333, 0.6667])]
    >>> Normalizer(float("inf")).transform(v)
    DenseVector([0.0, 0.5, 1.0])
    """

    def __init__(self, p: float = 2.0):
        if not p >= 1.0:
            raise ValueError(f"p should be greater than 1.0, got {p!r}")
        self.p = float(p)

    def transform(self, vector: Any) -> Any:
        """The vector divided by its p-norm (unchanged if that is 0)."""
        return self._apply(vector)

    def _one(self, vector: Vector) -> Vector:
        values = vector.values if isinstance(vector, SparseVector) else vector.toArray()
        norm = np.linalg.norm(values, self.p)
        return _scaled(vector, values / norm if norm != 0 else values.copy())


class JavaVectorTransformer(VectorTransformer):
    """A fitted transformation (the counterpart of PySpark's JVM-backed ones)."""


class StandardScalerModel(JavaVectorTransformer):
    """A fitted standardisation: ``(x - mean) / std`` per column (without
    centring unless ``withMean``; a constant column maps to 0)."""

    def __init__(self, mean: np.ndarray, std: np.ndarray, withMean: bool, withStd: bool):
        self._mean = np.asarray(mean, dtype=np.float64)
        self._std = np.asarray(std, dtype=np.float64)
        self._with_mean = bool(withMean)
        self._with_std = bool(withStd)

    def transform(self, vector: Any) -> Any:
        """The standardised vector, or an RDD of them for an RDD."""
        return self._apply(vector)

    def _one(self, vector: Vector) -> Vector:
        factor = np.where(self._std != 0, 1.0 / np.where(self._std != 0, self._std, 1.0), 0.0) \
            if self._with_std else None
        if self._with_mean:
            values = vector.toArray() - self._mean
            return DenseVector(values * factor if factor is not None else values)
        if factor is None:
            return vector
        if isinstance(vector, SparseVector):
            return SparseVector(vector.size, vector.indices, vector.values * factor[vector.indices])
        return DenseVector(vector.toArray() * factor)

    def setWithMean(self, withMean: bool) -> "StandardScalerModel":
        """Set whether to centre on the mean."""
        self._with_mean = bool(withMean)
        return self

    def setWithStd(self, withStd: bool) -> "StandardScalerModel":
        """Set whether to scale to unit standard deviation."""
        self._with_std = bool(withStd)
        return self

    @property
    def withStd(self) -> bool:
        """Whether the model scales to unit standard deviation."""
        return self._with_std

    @property
    def withMean(self) -> bool:
        """Whether the model centres on the mean."""
        return self._with_mean

    @property
    def std(self) -> Vector:
        """The column standard deviations."""
        return DenseVector(self._std)

    @property
    def mean(self) -> Vector:
        """The column means."""
        return DenseVector(self._mean)


class StandardScaler:
    """Standardise features with the training set's column statistics.

    >>> vs = [Vectors.dense([-2.0, 2.3, 0]), Vectors.dense([3.8, 0.0, 1.9])]
    >>> dataset = sc.parallelize(vs)
    >>> model = StandardScaler(True, True).fit(dataset)
    >>> for r in model.transform(dataset).collect(): r
    DenseVector([-0.7071, 0.7071, -0.7071])
    DenseVector([0.7071, -0.7071, 0.7071])
    >>> int(model.std[0]), int(model.mean[0] * 10), model.withStd, model.withMean
    (4, 9, True, True)
    """

    def __init__(self, withMean: bool = False, withStd: bool = True):
        if not (withMean or withStd):
            import warnings

            warnings.warn("Both withMean and withStd are false. The model does nothing.")
        self.withMean = withMean
        self.withStd = withStd

    def fit(self, dataset: Any) -> StandardScalerModel:
        """Compute the column means and (sample) standard deviations."""
        from ember.mllib.stat._statistics import summarize

        data = vector_data(dataset)
        try:
            summary = summarize(data)
        finally:
            data.unpersist()
        return StandardScalerModel(summary.mean(), np.sqrt(summary.variance()), self.withMean,
                                   self.withStd)


class ChiSqSelectorModel(JavaVectorTransformer):
    """A fitted chi-squared selection: keeps ``selectedFeatures``."""

    def __init__(self, selectedFeatures: list[int]):
        self._selected = np.array(sorted(selectedFeatures), dtype=np.int64)

    @property
    def selectedFeatures(self) -> list[int]:
        """The indices of the kept features, ascending."""
        return self._selected.tolist()

    def transform(self, vector: Any) -> Any:
        """The vector reduced to the selected features (sparse stays sparse)."""
        return self._apply(vector)

    def _one(self, vector: Vector) -> Vector:
        selected = self._selected
        if isinstance(vector, SparseVector):
            keep = np.isin(vector.indices, selected)
            new_indices = np.searchsorted(selected, vector.indices[keep])
            return SparseVector(len(selected), new_indices, vector.values[keep])
        return DenseVector(vector.toArray()[selected])


class ChiSqSelector:
    """Select features by Pearson's chi-squared test of independence from
    the label: the ``numTopFeatures`` with the smallest p-values, a
    ``percentile`` of them, those with p-value below ``fpr``, below the
    Benjamini-Hochberg ``fdr`` bound, or below ``fwe / numFeatures``.

    >>> data = sc.parallelize([
    ...     LabeledPoint(0.0, SparseVector(3, {0: 8.0, 1: 7.0})),
    ...     LabeledPoint(1.0, SparseVector(3, {1: 9.0, 2: 6.0})),
    ...     LabeledPoint(1.0, [0.0, 9.0, 8.0]),
    ...     LabeledPoint(2.0, [7.0, 9.0, 5.0]),
    ...     LabeledPoint(2.0, [8.0, 7.0, 3.0])])
    >>> model = ChiSqSelector(numTopFeatures=1).fit(data)
    >>> model.transform(SparseVector(3, {1: 9.0, 2: 6.0})), model.transform(DenseVector([7.0, 9.0, 5.0]))
    (SparseVector(1, {}), DenseVector([7.0]))
    >>> ChiSqSelector(selectorType="fpr", fpr=0.2).fit(data).transform(DenseVector([7.0, 9.0, 5.0]))
    DenseVector([7.0])
    >>> ChiSqSelector(selectorType="percentile", percentile=0.34).fit(data).selectedFeatures
    [0]
    """

    def __init__(self, numTopFeatures: int = 50, selectorType: str = "numTopFeatures",
                 percentile: float = 0.1, fpr: float = 0.05, fdr: float = 0.05,
                 fwe: float = 0.05):
        self.numTopFeatures = numTopFeatures
        self.selectorType = selectorType
        self.percentile = percentile
        self.fpr = fpr
        self.fdr = fdr
        self.fwe = fwe

    def setNumTopFeatures(self, numTopFeatures: int) -> "ChiSqSelector":
        """Keep this many features (selector type "numTopFeatures")."""
        self.numTopFeatures = int(numTopFeatures)
        return self

    def setPercentile(self, percentile: float) -> "ChiSqSelector":
        """Keep this share of the features (selector type "percentile")."""
        self.percentile = float(percentile)
        return self

    def setFpr(self, fpr: float) -> "ChiSqSelector":
        """Keep features with p-value below this (selector type "fpr")."""
        self.fpr = float(fpr)
        return self

    def setFdr(self, fdr: float) -> "ChiSqSelector":
        """The false discovery rate bound (selector type "fdr")."""
        self.fdr = float(fdr)
        return self

    def setFwe(self, fwe: float) -> "ChiSqSelector":
        """The family-wise error rate bound (selector type "fwe")."""
        self.fwe = float(fwe)
        return self

    def setSelectorType(self, selectorType: str) -> "ChiSqSelector":
        """One of "numTopFeatures", "percentile", "fpr", "fdr", "fwe"."""
        self.selectorType = str(selectorType)
        return self

    def _check(self) -> None:
        kinds = ("numTopFeatures", "percentile", "fpr", "fdr", "fwe")
        if self.selectorType not in kinds:
            raise ValueError(f"ChiSqSelector Unknown Selector Type: {self.selectorType!r}; the "
                             f"types are {', '.join(kinds)}")
        for name in ("percentile", "fpr", "fdr", "fwe"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value!r}")
        if self.numTopFeatures < 1:
            raise ValueError(f"numTopFeatures must be at least 1, got {self.numTopFeatures!r}")

    def fit(self, data: Any) -> ChiSqSelectorModel:
        """Test every feature against the label and keep the selected ones."""
        from ember.mllib.stat._statistics import Statistics

        self._check()
        results = Statistics.chiSqTest(data)
        p_values = np.array([result.pValue for result in results])
        statistics = np.array([result.statistic for result in results])
        n = len(results)
        order = np.lexsort((-statistics, p_values))
        if self.selectorType == "numTopFeatures":
            selected = order[:self.numTopFeatures]
        elif self.selectorType == "percentile":
            selected = order[:int(n * self.percentile)]
        elif self.selectorType == "fpr":
            selected = np.nonzero(p_values < self.fpr)[0]
        elif self.selectorType == "fdr":
            ranked = p_values[order]
            passing = np.nonzero(ranked <= self.fdr * (np.arange(n) + 1) / n)[0]
            selected = order[:passing.max() + 1] if len(passing) else np.array([], dtype=int)
        else:
            selected = np.nonzero(p_values < self.fwe / n)[0]
        return ChiSqSelectorModel([int(i) for i in selected])


class PCAModel(JavaVectorTransformer):
    """A fitted PCA: projects vectors on the principal components ``pc``."""

    def __init__(self, pc: Any, explainedVariance: Any):
        self._pc = pc
        self._explained = explainedVariance

    @property
    def pc(self) -> Any:
        """The principal components, one per column (a DenseMatrix)."""
        return self._pc

    @property
    def explainedVariance(self) -> DenseVector:
        """The share of the variance each component explains."""
        return self._explained

    def transform(self, vector: Any) -> Any:
        """The projection of a vector, or an RDD of them for an RDD."""
        components = self._pc.toArray()
        if is_rdd(vector):
            return map_rows(vector, lambda rows: (DenseVector(row)
                                                  for row in rows.matvec(components)),
                            components.shape[0])
        return DenseVector(_convert_to_vector(vector).dot(components))


class PCA:
    """Project vectors on their ``k`` principal components.

    >>> data = [Vectors.sparse(5, [(1, 1.0), (3, 7.0)]), Vectors.dense([2.0, 0.0, 3.0, 4.0, 5.0]),
    ...         Vectors.dense([4.0, 0.0, 0.0, 6.0, 7.0])]
    >>> model = PCA(2).fit(sc.parallelize(data))
    >>> np.abs(model.transform(Vectors.sparse(5, [(1, 1.0), (3, 7.0)])).toArray()).round(2).tolist()
    [1.65, 4.01]
    """

    def __init__(self, k: int):
        self.k = int(k)

    def fit(self, data: Any) -> PCAModel:
        """Compute the principal components of the vectors."""
        from ember.mllib.linalg.distributed import RowMatrix

        matrix = RowMatrix(data)
        n = matrix.numCols()
        if not 0 < self.k <= n:
            raise ValueError(f"source vector size {n} must be no less than k={self.k}")
        pc, explained = matrix.computePrincipalComponentsAndExplainedVariance(self.k)
        return PCAModel(pc, explained)


class HashingTF:
    """Term frequencies by the hashing trick: term ``t`` counts at index
    ``hash(t) % numFeatures`` (ember's portable hash, the same on every process).

    >>> htf = HashingTF(100)
    >>> vector = htf.transform("a a b b c d".split(" "))
    >>> vector.size, sorted(vector.values.tolist())
    (100, [1.0, 1.0, 2.0, 2.0])
    >>> vector[htf.indexOf("a")]
    np.float64(2.0)
    >>> htf.transform(sc.parallelize([["a", "b"]])).first() == htf.transform(["a", "b"])
    True
    """

    def __init__(self, numFeatures: int = 1 << 20):
        self.numFeatures = numFeatures
        self.binary = False

    def setBinary(self, value: bool) -> "HashingTF":
        """Count each term at most once per document."""
        self.binary = value
        return self

    def indexOf(self, term: Any) -> int:
        """The index of a term."""
        return portable_hash(term) % self.numFeatures

    def transform(self, document: Any) -> Any:
        """The term frequency vector of a document (an iterable of terms), or
        an RDD of them for an RDD of documents."""
        if is_rdd(document):
            return document.map(self.transform)
        frequencies: dict[int, float] = {}
        for term in document:
            index = self.indexOf(term)
            frequencies[index] = 1.0 if self.binary else frequencies.get(index, 0.0) + 1.0
        return Vectors.sparse(self.numFeatures, frequencies.items())


class IDFModel(JavaVectorTransformer):
    """A fitted inverse document frequency weighting."""

    def __init__(self, idf: np.ndarray, docFreq: np.ndarray, numDocs: int):
        self._idf = np.asarray(idf, dtype=np.float64)
        self._doc_freq = np.asarray(docFreq, dtype=np.int64)
        self._num_docs = int(numDocs)

    def transform(self, x: Any) -> Any:
        """TF-IDF vectors from term frequency vectors (sparse stay sparse)."""
        return self._apply(x)

    def _one(self, vector: Vector) -> Vector:
        if isinstance(vector, SparseVector):
            return SparseVector(vector.size, vector.indices,
                                vector.values * self._idf[vector.indices])
        return DenseVector(vector.toArray() * self._idf)

    def idf(self) -> Vector:
        """The IDF of every term."""
        return DenseVector(self._idf)

    def docFreq(self) -> list[int]:
        """The number of documents each term appears in."""
        return self._doc_freq.tolist()

    def numDocs(self) -> int:
        """The number of documents the IDF was computed on."""
        return self._num_docs


class IDF:
    """Inverse document frequency: ``log((m + 1) / (d(t) + 1))`` for ``m``
    documents, ``d(t)`` of them containing term ``t``; 0 for terms in fewer
    than ``minDocFreq`` documents.

    >>> n = 4
    >>> freqs = [Vectors.sparse(n, (1, 3), (1.0, 2.0)), Vectors.dense([0.0, 1.0, 2.0, 3.0]),
    ...          Vectors.sparse(n, [1], [1.0])]
    >>> data = sc.parallelize(freqs)
    >>> model = IDF().fit(data)
    >>> for r in model.transform(data).collect(): r
    SparseVector(4, {1: 0.0, 3: 0.5754})
    DenseVector([0.0, 0.0, 1.3863, 0.863])
    SparseVector(4, {1: 0.0})
    >>> model.transform([0.0, 1.0, 2.0, 3.0])
    DenseVector([0.0, 0.0, 1.3863, 0.863])
    >>> model.docFreq(), model.numDocs()
    ([0, 3, 1, 2], 3)
    """

    def __init__(self, minDocFreq: int = 0):
        self.minDocFreq = minDocFreq

    def fit(self, dataset: Any) -> IDFModel:
        """Count the documents containing each term."""
        if not is_rdd(dataset):
            raise TypeError("dataset should be an RDD of term frequency vectors")
        data = vector_data(dataset, "term frequency vectors")
        try:
            doc_freq = data.aggregate(np.zeros(data.d), lambda total, block: total
                                      + block.rows.column_nonzeros(), lambda a, b: a + b)
        finally:
            data.unpersist()
        m = data.n
        idf = np.log((m + 1.0) / (doc_freq + 1.0))
        idf[doc_freq < self.minDocFreq] = 0.0
        return IDFModel(idf, doc_freq.astype(np.int64), m)


class ElementwiseProduct(VectorTransformer):
    """Multiply every vector, element by element, by a scaling vector.

    >>> eprod = ElementwiseProduct(Vectors.dense([1.0, 2.0, 3.0]))
    >>> eprod.transform(Vectors.dense([2.0, 1.0, 3.0]))
    DenseVector([2.0, 2.0, 9.0])
    >>> eprod.transform(sc.parallelize([[9.0, 3.0, 4.0]])).collect()
    [DenseVector([9.0, 6.0, 12.0])]
    """

    def __init__(self, scalingVector: Any):
        self.scalingVector = _convert_to_vector(scalingVector)

    def transform(self, vector: Any) -> Any:
        """The element-wise product (sparse stays sparse)."""
        return self._apply(vector)

    def _one(self, vector: Vector) -> Vector:
        if len(vector) != len(self.scalingVector):
            raise InvalidDataError(f"vector sizes do not match: the scaling vector has "
                                   f"{len(self.scalingVector)} values, the vector {len(vector)}")
        scale = self.scalingVector.toArray()
        if isinstance(vector, SparseVector):
            return SparseVector(vector.size, vector.indices, vector.values * scale[vector.indices])
        return DenseVector(vector.toArray() * scale)


# --- Word2Vec -----------------------------------------------------------------


def _huffman(counts: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """For every word (by decreasing count), its Huffman code and the inner
    nodes on its path from the root."""
    n = len(counts)
    heap = [(int(count), index) for index, count in enumerate(counts)]
    heapq.heapify(heap)
    parent = np.zeros(2 * n, dtype=np.int64)
    binary = np.zeros(2 * n, dtype=np.int8)
    next_node = n
    while len(heap) > 1:
        count1, first = heapq.heappop(heap)
        count2, second = heapq.heappop(heap)
        parent[first], parent[second] = next_node, next_node
        binary[second] = 1
        heapq.heappush(heap, (count1 + count2, next_node))
        next_node += 1
    root = next_node - 1
    codes, points = [], []
    for word in range(n):
        code, path = [], []
        node = word
        while node != root:
            code.append(binary[node])
            path.append(parent[node] - n)
            node = parent[node]
        codes.append(np.array(code[::-1], dtype=np.float64))
        points.append(np.array(path[::-1], dtype=np.int64))
    return codes, points


class Word2VecModel(JavaVectorTransformer, Saveable, Loader["Word2VecModel"]):
    """Word vectors learned by ``Word2Vec``."""

    def __init__(self, words: list[str], vectors: np.ndarray):
        self._words = list(words)
        self._index = {word: i for i, word in enumerate(self._words)}
        self._vectors = np.asarray(vectors, dtype=np.float64)

    def transform(self, word: str) -> Vector:
        """The vector of a word."""
        index = self._index.get(word)
        if index is None:
            raise ValueError(f"{word} not in vocabulary")
        return DenseVector(self._vectors[index])

    def findSynonyms(self, word: Any, num: int) -> Iterable[tuple[str, float]]:
        """The ``num`` words closest (cosine similarity) to a word (never the
        word itself) or to a vector."""
        if isinstance(word, str):
            query = self.transform(word).toArray()
            exclude = word
        else:
            query = _convert_to_vector(word).toArray()
            exclude = None
        norms = np.linalg.norm(self._vectors, axis=1) * max(np.linalg.norm(query), 1e-300)
        similarity = self._vectors @ query / np.where(norms > 0, norms, 1.0)
        order = np.argsort(-similarity, kind="stable")
        found = [(self._words[i], float(similarity[i])) for i in order
                 if self._words[i] != exclude][:num]
        return zip([w for w, _ in found], [s for _, s in found])

    def getVectors(self) -> dict[str, list[float]]:
        """Every word's vector."""
        return {word: self._vectors[i].tolist() for i, word in enumerate(self._words)}

    def save(self, sc: Any, path: str) -> None:
        """Save this model to ``path``."""
        _persist.save(sc, path, "org.apache.spark.mllib.feature.Word2VecModel",
                      {"vectorSize": self._vectors.shape[1], "numWords": len(self._words)},
                      [{"word": word, "vector": self._vectors[i].tolist()}
                       for i, word in enumerate(self._words)])

    @classmethod
    def load(cls, sc: Any, path: str) -> "Word2VecModel":
        """Load a model saved with ``save``."""
        _persist.load_metadata(sc, path, "org.apache.spark.mllib.feature.Word2VecModel")
        records = _persist.load_records(sc, path)
        return cls([r["word"] for r in records], np.array([r["vector"] for r in records]))


class Word2Vec:
    """Word vectors by the skip-gram model with hierarchical softmax.

    >>> sentence = "a b " * 100 + "a c " * 10
    >>> doc = sc.parallelize([sentence, sentence]).map(lambda line: line.split(" "))
    >>> model = Word2Vec().setVectorSize(10).setSeed(42).fit(doc)
    >>> [s[0] for s in model.findSynonyms("a", 2)]
    ['b', 'c']
    >>> [s[0] for s in model.findSynonyms(model.transform("a"), 2)]
    ['a', 'b']
    """

    def __init__(self) -> None:
        self.vectorSize = 100
        self.learningRate = 0.025
        self.numPartitions = 1
        self.numIterations = 1
        self.seed: int | None = None
        self.minCount = 5
        self.windowSize = 5

    def setVectorSize(self, vectorSize: int) -> "Word2Vec":
        """Set the vector size (default 100)."""
        self.vectorSize = vectorSize
        return self

    def setLearningRate(self, learningRate: float) -> "Word2Vec":
        """Set the initial learning rate (default 0.025)."""
        self.learningRate = learningRate
        return self

    def setNumPartitions(self, numPartitions: int) -> "Word2Vec":
        """Set the number of partitions trained in parallel (default 1)."""
        self.numPartitions = numPartitions
        return self

    def setNumIterations(self, numIterations: int) -> "Word2Vec":
        """Set the number of passes over the data (default 1)."""
        self.numIterations = numIterations
        return self

    def setSeed(self, seed: int) -> "Word2Vec":
        """Set the random seed."""
        self.seed = seed
        return self

    def setMinCount(self, minCount: int) -> "Word2Vec":
        """Set how often a word must occur to be in the vocabulary (default 5)."""
        self.minCount = minCount
        return self

    def setWindowSize(self, windowSize: int) -> "Word2Vec":
        """Set the context window size (default 5)."""
        self.windowSize = windowSize
        return self

    def fit(self, data: Any) -> Word2VecModel:
        """Learn word vectors from an RDD of sentences (lists of words)."""
        if not is_rdd(data):
            raise TypeError("data should be an RDD of list of string")
        for name in ("vectorSize", "numPartitions", "numIterations", "windowSize"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")
        if self.minCount < 0 or not self.learningRate > 0:
            raise ValueError(f"minCount must be >= 0 and learningRate positive, got "
                             f"{self.minCount!r} and {self.learningRate!r}")
        seed = _random.getrandbits(63) if self.seed is None else int(self.seed)
        counts = data.flatMap(lambda sentence: sentence).map(lambda w: (w, 1)) \
            .reduceByKey(lambda a, b: a + b).filter(lambda item: item[1] >= self.minCount) \
            .collect()
        if not counts:
            raise InvalidDataError(f"The vocabulary size should be > 0. You may need to check "
                                   f"the setting of minCount ({self.minCount}), which could be "
                                   f"large enough to remove all your words in sentences.")
        counts.sort(key=lambda item: (-item[1], str(item[0])))
        words = [word for word, _ in counts]
        frequencies = np.array([count for _, count in counts], dtype=np.float64)
        total_words = frequencies.sum()
        codes, points = _huffman(frequencies)
        size = self.vectorSize
        rng = np.random.default_rng([seed & 0xFFFFFFFFFFFFFFFF, 8])
        syn0 = (rng.random((len(words), size)) - 0.5) / size
        syn1 = np.zeros((len(words), size))
        index = {word: i for i, word in enumerate(words)}
        def encode(sentence: Iterable) -> np.ndarray:
            return np.array([index[w] for w in sentence if w in index], dtype=np.int64)

        sentences = data.map(encode)
        if sentences.getNumPartitions() != self.numPartitions:
            sentences = sentences.repartition(self.numPartitions)
        sentences.persist(StorageLevel.MEMORY_AND_DISK)
        context = data.context
        alpha0, window, iterations = self.learningRate, self.windowSize, self.numIterations
        try:
            for iteration in range(1, iterations + 1):
                broadcast = context.broadcast((syn0, syn1, codes, points))

                def train(partition: int, parts: Iterator, iteration=iteration) -> Iterator:
                    local0, local1, word_codes, word_points = (np.array(a) if i < 2 else a
                                                               for i, a in
                                                               enumerate(broadcast.value))
                    touched0 = np.zeros(len(local0), dtype=bool)
                    touched1 = np.zeros(len(local1), dtype=bool)
                    rng = np.random.default_rng([seed & 0xFFFFFFFFFFFFFFFF, 9, partition,
                                                 iteration])
                    done = 0
                    for sentence in parts:
                        for position, word in enumerate(sentence):
                            progress = done / (iterations * total_words + 1)
                            alpha = max(alpha0 * (1 - progress), alpha0 * 1e-4)
                            done += 1
                            reduced = int(rng.integers(window))
                            start = max(0, position - window + reduced)
                            end = min(len(sentence), position + window - reduced + 1)
                            path, code = word_points[word], word_codes[word]
                            for other_position in range(start, end):
                                if other_position == position:
                                    continue
                                context_word = sentence[other_position]
                                vector = local0[context_word]
                                inner = local1[path]
                                f = 1.0 / (1.0 + np.exp(-(inner @ vector)))
                                g = (1.0 - code - f) * alpha
                                local0[context_word] = vector + g @ inner
                                local1[path] = inner + np.outer(g, vector)
                                touched0[context_word] = True
                                touched1[path] = True
                    yield local0 * touched0[:, None], touched0.astype(np.float64), \
                        local1 * touched1[:, None], touched1.astype(np.float64)

                try:
                    sum0, count0, sum1, count1 = sentences.mapPartitionsWithIndex(train) \
                        .treeReduce(lambda a, b: tuple(x + y for x, y in zip(a, b)))
                finally:
                    broadcast.destroy()
                syn0 = np.where(count0[:, None] > 0, sum0 / np.maximum(count0, 1)[:, None], syn0)
                syn1 = np.where(count1[:, None] > 0, sum1 / np.maximum(count1, 1)[:, None], syn1)
        finally:
            sentences.unpersist()
        return Word2VecModel(words, syn0)
