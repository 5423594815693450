"""Statistics, distributed matrices, feature transformers, evaluation
metrics, random RDDs and pattern mining against numpy, SciPy and
scikit-learn (or a brute-force oracle for pattern mining).

Tolerances: closed-form quantities agree to 1e-9 (1e-6 for p-values from
series and continued fractions); random samples pass a KS test at 1 %."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest

scipy_stats = pytest.importorskip("scipy.stats")
pytest.importorskip("sklearn")
from sklearn import metrics  # noqa: E402
from sklearn.decomposition import PCA as SkPCA  # noqa: E402

from ember.mllib.evaluation import (  # noqa: E402
    BinaryClassificationMetrics, MulticlassMetrics, RankingMetrics, RegressionMetrics)
from ember.mllib.feature import (  # noqa: E402
    IDF, PCA, ChiSqSelector, ElementwiseProduct, HashingTF, Normalizer, StandardScaler, Word2Vec)
from ember.mllib.fpm import FPGrowth, PrefixSpan  # noqa: E402
from ember.mllib.linalg import Matrices, SparseVector, Vectors  # noqa: E402
from ember.mllib.linalg.distributed import (  # noqa: E402
    BlockMatrix, CoordinateMatrix, IndexedRowMatrix, RowMatrix)
from ember.mllib.random import RandomRDDs  # noqa: E402
from ember.mllib.regression import LabeledPoint  # noqa: E402
from ember.mllib.stat import KernelDensity, Statistics  # noqa: E402


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 5)) @ rng.standard_normal((5, 5))
    X[:, 4] = np.round(X[:, 4])  # ties, for the rank correlations
    X[rng.random(X.shape) < 0.2] = 0.0
    return X


def test_column_statistics_match_numpy(sc, table):
    sparse = [SparseVector(5, np.nonzero(r)[0], r[np.nonzero(r)[0]]) for r in table]
    for rows in (table.tolist(), sparse):
        stats = Statistics.colStats(sc.parallelize(rows, 4))
        assert stats.count() == 300
        assert np.allclose(stats.mean(), table.mean(0), atol=1e-12)
        assert np.allclose(stats.variance(), table.var(0, ddof=1), atol=1e-9)
        assert np.array_equal(stats.max(), table.max(0))
        assert np.array_equal(stats.min(), table.min(0))
        assert np.array_equal(stats.numNonzeros(), np.count_nonzero(table, axis=0))
        assert np.allclose(stats.normL1(), np.abs(table).sum(0))
        assert np.allclose(stats.normL2(), np.linalg.norm(table, axis=0))


def test_correlations_match_scipy(sc, table):
    rows = sc.parallelize(table.tolist(), 4)
    assert np.allclose(Statistics.corr(rows), np.corrcoef(table.T), atol=1e-9)
    spearman = scipy_stats.spearmanr(table).statistic
    assert np.allclose(Statistics.corr(rows, method="spearman"), spearman, atol=1e-9)
    x, y = sc.parallelize(table[:, 0].tolist(), 3), sc.parallelize(table[:, 4].tolist(), 3)
    assert abs(Statistics.corr(x, y) - scipy_stats.pearsonr(table[:, 0], table[:, 4])[0]) < 1e-9
    assert abs(Statistics.corr(x, y, "spearman")
               - scipy_stats.spearmanr(table[:, 0], table[:, 4]).statistic) < 1e-9


def test_hypothesis_tests_match_scipy(sc):
    observed = np.array([12.0, 30.0, 25.0, 33.0])
    expected = np.array([0.2, 0.3, 0.2, 0.3])
    ours = Statistics.chiSqTest(Vectors.dense(observed), Vectors.dense(expected))
    reference = scipy_stats.chisquare(observed, expected * observed.sum())
    assert abs(ours.statistic - reference.statistic) < 1e-9
    assert abs(ours.pValue - reference.pvalue) < 1e-6
    table = np.array([[20.0, 15.0, 5.0], [10.0, 25.0, 30.0]])
    ours = Statistics.chiSqTest(Matrices.dense(2, 3, np.ravel(table, order="F")))
    statistic, p_value, dof, _ = scipy_stats.chi2_contingency(table, correction=False)
    assert (abs(ours.statistic - statistic) < 1e-9 and abs(ours.pValue - p_value) < 1e-6
            and ours.degreesOfFreedom == dof)
    rng = np.random.default_rng(1)
    for n in (50, 400, 3000):  # the exact distribution, then the limiting one
        sample = rng.normal(0.3, 1.2, size=n)
        ours = Statistics.kolmogorovSmirnovTest(sc.parallelize(sample.tolist(), 3), "norm", 0.0, 1.0)
        reference = scipy_stats.kstest(sample, "norm", args=(0.0, 1.0), method="exact")
        assert abs(ours.statistic - reference.statistic) < 1e-12
        assert abs(ours.pValue - reference.pvalue) < 1e-3 * max(reference.pvalue, 1e-3)


def test_kernel_density_is_the_mean_of_gaussian_kernels(sc):
    sample = np.random.default_rng(2).standard_normal(500)
    kd = KernelDensity()
    kd.setSample(sc.parallelize(sample.tolist(), 4))
    kd.setBandwidth(0.4)
    points = np.linspace(-3, 3, 13)
    expected = scipy_stats.norm.pdf(points[:, None], sample[None, :], 0.4).mean(axis=1)
    assert np.allclose(kd.estimate(points), expected, atol=1e-12)


def test_distributed_matrices_match_numpy(sc, table):
    rows = RowMatrix(sc.parallelize(table.tolist(), 4))
    assert np.allclose(rows.computeGramianMatrix().toArray(), table.T @ table)
    assert np.allclose(rows.computeCovariance().toArray(), np.cov(table.T), atol=1e-9)
    svd = rows.computeSVD(3, computeU=True)
    assert np.allclose(svd.s.toArray(), np.linalg.svd(table, compute_uv=False)[:3])
    U = np.array(svd.U.rows.map(lambda v: v.toArray()).collect())
    assert np.allclose(U * svd.s.toArray() @ svd.V.toArray().T,
                       _best_rank(table, 3), atol=1e-8)
    reference = SkPCA(2).fit(table)
    assert np.allclose(np.abs(rows.computePrincipalComponents(2).toArray()),
                       np.abs(reference.components_.T), atol=1e-8)
    qr = rows.tallSkinnyQR(computeQ=True)
    Q = np.array(qr.Q.rows.map(lambda v: v.toArray()).collect())
    assert np.allclose(Q @ qr.R.toArray(), table, atol=1e-9)
    assert np.allclose(Q.T @ Q, np.eye(5), atol=1e-9)
    normalised = table / np.linalg.norm(table, axis=0)
    cosine = normalised.T @ normalised
    entries = rows.columnSimilarities().entries.collect()
    assert {(e.i, e.j) for e in entries} == set(zip(*np.triu_indices(5, 1)))
    assert all(abs(e.value - cosine[e.i, e.j]) < 1e-9 for e in entries)
    blocks = IndexedRowMatrix(sc.parallelize(list(enumerate(table.tolist())), 3)) \
        .toBlockMatrix(64, 2)
    blocks.validate()
    product = blocks.transpose().multiply(blocks).toLocalMatrix().toArray()
    assert np.allclose(product, table.T @ table)
    assert np.allclose(blocks.add(blocks).subtract(blocks).toLocalMatrix().toArray(), table)
    coordinates = blocks.toCoordinateMatrix()
    assert (coordinates.numRows(), coordinates.numCols()) == (300, 5)


def _best_rank(X, k):
    u, s, vt = np.linalg.svd(X, full_matrices=False)
    return (u[:, :k] * s[:k]) @ vt[:k]


def test_block_matrices_refuse_mismatched_shapes(sc):
    a = BlockMatrix(sc.parallelize([((0, 0), Matrices.dense(2, 2, [1, 2, 3, 4]))]), 2, 2)
    b = BlockMatrix(sc.parallelize([((0, 0), Matrices.dense(3, 2, [1, 2, 3, 4, 5, 6]))]), 3, 2)
    with pytest.raises(ValueError, match="same number of rows"):
        a.add(b)
    with pytest.raises(ValueError, match="columns of A and the number of rows of B"):
        a.multiply(BlockMatrix(sc.parallelize([((0, 0), Matrices.dense(3, 1, [1, 2, 3]))]), 3, 1))
    duplicated = BlockMatrix(sc.parallelize([((0, 0), Matrices.dense(2, 2, [1, 2, 3, 4]))] * 2),
                             2, 2)
    with pytest.raises(ValueError, match="multiple MatrixBlocks with the indices"):
        duplicated.validate()
    entries = CoordinateMatrix(sc.parallelize([(0, 1, 2.0), (3, 0, 1.0)]))
    assert np.array_equal(entries.toBlockMatrix(2, 2).toLocalMatrix().toArray(),
                          [[0, 2], [0, 0], [0, 0], [1, 0]])


def test_feature_transformers_match_numpy_and_scikit_learn(sc, table):
    rows = sc.parallelize(table.tolist(), 3)
    model = StandardScaler(withMean=True, withStd=True).fit(rows)
    scaled = np.array(model.transform(rows).map(lambda v: v.toArray()).collect())
    assert np.allclose(scaled, (table - table.mean(0)) / table.std(0, ddof=1), atol=1e-12)
    normalised = np.array(Normalizer(3.0).transform(rows).map(lambda v: v.toArray()).collect())
    assert np.allclose(normalised, table / np.linalg.norm(table, 3, axis=1)[:, None])
    product = ElementwiseProduct([1.0, 2.0, 0.0, -1.0, 0.5]).transform(Vectors.dense(table[0]))
    assert np.allclose(product.toArray(), table[0] * [1.0, 2.0, 0.0, -1.0, 0.5])
    counts = np.abs(np.round(table))
    idf = IDF(minDocFreq=2).fit(sc.parallelize(counts.tolist(), 3))
    df = np.count_nonzero(counts, axis=0)
    expected = np.where(df >= 2, np.log((301.0) / (df + 1.0)), 0.0)
    assert np.allclose(idf.idf().toArray(), expected) and idf.docFreq() == df.tolist()
    pca = PCA(2).fit(rows)
    projected = np.array(pca.transform(rows).map(lambda v: v.toArray()).collect())
    reference = SkPCA(2).fit(table)
    assert np.allclose(np.abs(projected - projected.mean(0)), np.abs(reference.transform(table)),
                       atol=1e-8)
    tf = HashingTF(1000)
    assert tf.transform(["a", "b", "a"])[tf.indexOf("a")] == 2.0
    assert tf.transform(sc.parallelize([["a", "b", "a"]], 1)).first() == tf.transform(["a", "b", "a"])


def test_chi_squared_selector_keeps_the_most_dependent_features(sc):
    rng = np.random.default_rng(3)
    y = rng.integers(2, size=400).astype(float)
    X = np.column_stack([rng.integers(3, size=400), y * 2 + rng.integers(2, size=400),
                         rng.integers(4, size=400), y + (rng.random(400) < 0.3)]).astype(float)
    data = sc.parallelize([LabeledPoint(l, r) for l, r in zip(y, X)], 3)
    p_values = [scipy_stats.chi2_contingency(
        np.array([[np.sum((X[:, j] == v) & (y == c)) for c in (0, 1)] for v in np.unique(X[:, j])]),
        correction=False)[1] for j in range(4)]
    assert ChiSqSelector(numTopFeatures=2).fit(data).selectedFeatures == \
        sorted(np.argsort(p_values)[:2].tolist())
    assert ChiSqSelector(selectorType="fpr", fpr=0.01).fit(data).selectedFeatures == \
        [j for j in range(4) if p_values[j] < 0.01]


def test_word2vec_places_co_occurring_words_together(sc):
    sentences = [["ember", "spark", "engine"] * 5, ["cat", "dog", "pet"] * 5] * 30
    model = Word2Vec().setVectorSize(8).setMinCount(1).setSeed(3).setNumIterations(3) \
        .fit(sc.parallelize(sentences, 2))
    near = [word for word, _ in model.findSynonyms("spark", 2)]
    assert set(near) == {"ember", "engine"}
    assert len(model.getVectors()) == 6


def test_binary_metrics_match_scikit_learn(sc):
    rng = np.random.default_rng(4)
    y = rng.integers(2, size=500).astype(float)
    scores = np.round(y * 0.3 + rng.random(500), 2)  # ties between scores, as sklearn handles
    weights = rng.uniform(0.5, 2.0, size=500)
    ours = BinaryClassificationMetrics(sc.parallelize(list(zip(scores, y, weights)), 4))
    assert abs(ours.areaUnderROC - metrics.roc_auc_score(y, scores, sample_weight=weights)) < 1e-9
    fpr, tpr, _ = metrics.roc_curve(y, scores, sample_weight=weights, drop_intermediate=False)
    curve = np.array(ours.roc().collect())
    assert np.allclose(curve[1:-1], np.column_stack([fpr, tpr])[1:], atol=1e-12)
    precision, recall, _ = metrics.precision_recall_curve(y, scores, sample_weight=weights)
    pr = np.array(ours.pr().collect())
    assert np.allclose(pr[1:], np.column_stack([recall, precision])[-2::-1], atol=1e-12)


def test_regression_and_multiclass_metrics_match_scikit_learn(sc):
    rng = np.random.default_rng(5)
    observed = rng.standard_normal(300)
    predicted = observed + 0.4 * rng.standard_normal(300)
    ours = RegressionMetrics(sc.parallelize(list(zip(predicted, observed)), 3))
    assert abs(ours.meanSquaredError - metrics.mean_squared_error(observed, predicted)) < 1e-12
    assert abs(ours.meanAbsoluteError - metrics.mean_absolute_error(observed, predicted)) < 1e-12
    assert abs(ours.r2 - metrics.r2_score(observed, predicted)) < 1e-12
    # MLlib's explained variance: the variance of the predictions around the labels' mean
    assert abs(ours.explainedVariance - np.mean((predicted - observed.mean()) ** 2)) < 1e-12
    labels = rng.integers(3, size=300).astype(float)
    guesses = np.where(rng.random(300) < 0.7, labels, rng.integers(3, size=300)).astype(float)
    ours = MulticlassMetrics(sc.parallelize(list(zip(guesses, labels)), 3))
    assert np.array_equal(ours.confusionMatrix().toArray(), metrics.confusion_matrix(labels, guesses))
    assert abs(ours.accuracy - metrics.accuracy_score(labels, guesses)) < 1e-12
    for label in (0.0, 1.0, 2.0):
        assert abs(ours.precision(label) - metrics.precision_score(
            labels, guesses, labels=[label], average="macro")) < 1e-12
        assert abs(ours.fMeasure(label, 2.0) - metrics.fbeta_score(
            labels, guesses, beta=2.0, labels=[label], average="macro")) < 1e-12
    assert abs(ours.weightedFMeasure() - metrics.f1_score(labels, guesses, average="weighted")) < 1e-12


def test_ranking_metrics_match_their_definitions(sc):
    rankings = [([1, 6, 2, 7, 8, 3, 9, 10, 4, 5], [1, 2, 3, 4, 5]), ([4, 1, 5, 6, 2], [1, 2, 3])]
    ours = RankingMetrics(sc.parallelize(rankings, 2))
    assert abs(ours.precisionAt(5) - np.mean([2 / 5, 2 / 5])) < 1e-12
    dcg = [sum(1 / np.log(i + 2) for i, p in enumerate(pred[:5]) if p in set(lab))
           / sum(1 / np.log(i + 2) for i in range(min(5, len(lab)))) for pred, lab in rankings]
    assert abs(ours.ndcgAt(5) - np.mean(dcg)) < 1e-12


@pytest.mark.parametrize("generator, args, distribution", [
    ("uniformRDD", (), scipy_stats.uniform()), ("normalRDD", (), scipy_stats.norm()),
    ("exponentialRDD", (2.0,), scipy_stats.expon(scale=2.0)),
    ("gammaRDD", (2.0, 3.0), scipy_stats.gamma(2.0, scale=3.0)),
    ("logNormalRDD", (0.5, 0.8), scipy_stats.lognorm(0.8, scale=np.exp(0.5)))])
def test_random_rdds_draw_from_their_distribution(sc, generator, args, distribution):
    rdd = getattr(RandomRDDs, generator)(sc, *args, 2000, 4, seed=8)
    values = rdd.collect()
    assert rdd.getNumPartitions() == 4 and values == rdd.collect()  # recomputed identically
    assert scipy_stats.kstest(values, distribution.cdf).pvalue > 0.01


def _itemsets_oracle(transactions, min_count):
    found = {}
    items = sorted({i for t in transactions for i in t})
    for size in range(1, len(items) + 1):
        for combo in itertools.combinations(items, size):
            count = sum(1 for t in transactions if set(combo) <= set(t))
            if count >= min_count:
                found[frozenset(combo)] = count
    return found


def test_fp_growth_finds_every_frequent_itemset(sc):
    rng = np.random.default_rng(6)
    transactions = [sorted(set(rng.choice(list("abcdefg"), size=rng.integers(1, 6),
                                          p=[0.3, 0.2, 0.15, 0.15, 0.1, 0.05, 0.05])))
                    for _ in range(200)]
    model = FPGrowth.train(sc.parallelize(transactions, 4), minSupport=0.05, numPartitions=3)
    ours = {frozenset(s.items): s.freq for s in model.freqItemsets().collect()}
    assert ours == _itemsets_oracle(transactions, 10)


def _contains(sequence, pattern):
    position = 0
    for itemset in pattern:
        while position < len(sequence) and not set(itemset) <= set(sequence[position]):
            position += 1
        if position == len(sequence):
            return False
        position += 1
    return True


def test_prefix_span_finds_every_frequent_sequence(sc):
    rng = np.random.default_rng(7)
    sequences = [[sorted(set(rng.choice(list("abcd"), size=rng.integers(1, 3))))
                  for _ in range(rng.integers(1, 5))] for _ in range(60)]
    model = PrefixSpan.train(sc.parallelize(sequences, 3), minSupport=0.2, maxPatternLength=4)
    ours = {tuple(tuple(sorted(i)) for i in s.sequence): s.freq
            for s in model.freqSequences().collect()}
    for pattern, freq in ours.items():
        assert freq == sum(_contains(s, pattern) for s in sequences) >= 12
    singles = Counter(i for s in sequences for i in {x for itemset in s for x in itemset})
    assert {p for p in ours if len(p) == 1 and len(p[0]) == 1} == \
        {((i,),) for i, c in singles.items() if c >= 12}
    pairs = {((a,), (b,)) for a in "abcd" for b in "abcd"
             if sum(_contains(s, ((a,), (b,))) for s in sequences) >= 12}
    assert pairs <= set(ours)
