"""Bad input gets a named error: parameters before any job runs (the RDDs
here fail loudly if anything computes them), data where it is read, naming
the partition and the row."""

from __future__ import annotations

import numpy as np
import pytest

from ember.engine.errors import InvalidDataError
from ember.mllib.classification import LogisticRegressionWithLBFGS, NaiveBayes, SVMWithSGD
from ember.mllib.clustering import GaussianMixture, KMeans, KMeansModel, LDA
from ember.mllib.linalg import SparseVector
from ember.mllib.recommendation import ALS
from ember.mllib.regression import IsotonicRegression, LabeledPoint
from ember.mllib.tree import DecisionTree, RandomForest

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


class Computed(Exception):
    """Raised if a poisoned RDD is computed: the check came too late."""


def _poison(_):
    raise Computed("a job ran before the parameters were checked")


@pytest.fixture(scope="module")
def poisoned(sc):
    return sc.parallelize(range(4), 2).map(_poison)


@pytest.mark.parametrize("call, error, message", [
    (lambda rdd: KMeans.train(rdd, 0), ValueError, "k must be an integer of at least 1, got 0"),
    (lambda rdd: KMeans.train(rdd, 2, maxIterations=-1), ValueError, "maxIterations"),
    (lambda rdd: KMeans.train(rdd, 2, initializationMode="kmeans++"), ValueError,
     "Invalid initialization mode: 'kmeans\\+\\+'"),
    (lambda rdd: KMeans.train(rdd, 2, distanceMeasure="manhattan"), ValueError,
     "Invalid distance measure"),
    (lambda rdd: KMeans.train(rdd, 2, initialModel=[[0.0]]), TypeError, "initialModel is of"),
    (lambda rdd: KMeans.train(rdd, 2, initialModel=KMeansModel([[0.0]])), ValueError,
     "mismatched cluster count"),
    (lambda rdd: GaussianMixture.train(rdd, 2, convergenceTol=-1.0), ValueError, "convergenceTol"),
    (lambda rdd: LogisticRegressionWithLBFGS.train(rdd, regType="l3"), ValueError, "regType"),
    (lambda rdd: LogisticRegressionWithLBFGS.train(rdd, numClasses=1), ValueError, "numClasses"),
    (lambda rdd: SVMWithSGD.train(rdd, miniBatchFraction=0.0), ValueError, "miniBatchFraction"),
    (lambda rdd: NaiveBayes.train(rdd, lambda_=-1.0), ValueError, "lambda_"),
    (lambda rdd: DecisionTree.trainClassifier(rdd, 2, {}, impurity="variance"), ValueError,
     "impurity must be 'gini' or 'entropy'"),
    (lambda rdd: DecisionTree.trainRegressor(rdd, {}, maxBins=1), ValueError, "maxBins"),
    (lambda rdd: RandomForest.trainClassifier(rdd, 2, {}, 3, featureSubsetStrategy="half"),
     ValueError, "unsupported featureSubsetStrategy: half"),
    (lambda rdd: ALS.train(rdd, 0), ValueError, "rank must be a positive integer, got 0"),
    (lambda rdd: ALS.trainImplicit(rdd, 2, alpha=-1.0), ValueError, "alpha must be >= 0"),
    (lambda rdd: LDA.train(rdd, k=1), ValueError, "k must be an integer of at least 2"),
    (lambda rdd: LDA.train(rdd, optimizer="gibbs"), ValueError, "Only em, online are supported"),
])
def test_bad_parameters_fail_before_any_job(poisoned, call, error, message):
    with pytest.raises(error, match=message):
        call(poisoned)


def test_a_vector_of_the_wrong_size_names_its_partition_and_row(sc):
    rows = [[1.0, 2.0]] * 5 + [[1.0, 2.0, 3.0]] + [[0.0, 1.0]] * 2
    with pytest.raises(InvalidDataError, match="row 1 of partition 1 has 3 features, expected 2"):
        KMeans.train(sc.parallelize(rows, 2), 2)


def test_partitions_that_disagree_on_the_size_are_named(sc):
    rows = [[1.0, 2.0]] * 4 + [[1.0, 2.0, 3.0]] * 4
    with pytest.raises(InvalidDataError, match=r"2 features in partitions \[0\]; "
                                               r"3 features in partitions \[1\]"):
        KMeans.train(sc.parallelize(rows, 2), 2)


def test_something_that_is_not_a_vector_is_named(sc):
    with pytest.raises(InvalidDataError, match="row 1 of partition 0 is not a vector"):
        KMeans.train(sc.parallelize([[1.0], "text", [2.0]], 1), 1)


def test_k_larger_than_the_data_is_refused(sc):
    with pytest.raises(InvalidDataError, match="k=5 is larger than the 3 points of the data"):
        KMeans.train(sc.parallelize([[1.0], [2.0], [3.0]], 2), 5)


def test_labels_outside_the_classes_are_named(sc):
    points = [LabeledPoint(i % 3, [float(i)]) for i in range(9)]
    with pytest.raises(InvalidDataError, match="label 2.0 is outside the classes 0 .. 1"):
        LogisticRegressionWithLBFGS.train(sc.parallelize(points, 3))
    fractional = [LabeledPoint(0.0, [0.0]), LabeledPoint(0.0, [0.0]), LabeledPoint(0.5, [1.0])]
    with pytest.raises(InvalidDataError, match="label 0.5 in partition 1 is not a class index"):
        DecisionTree.trainClassifier(sc.parallelize(fractional, 2), 2, {})
    # validateData=False trusts the labels, as MLlib does
    SVMWithSGD.train(sc.parallelize(points, 3), iterations=1, validateData=False)


def test_data_errors_found_on_workers_name_the_partition(sc):
    negative = [LabeledPoint(0.0, [1.0])] * 3 + [LabeledPoint(1.0, SparseVector(1, [0], [-2.0]))]
    with pytest.raises(InvalidDataError, match="nonnegative feature values but found -2.0 in "
                                               "partition 1"):
        NaiveBayes.train(sc.parallelize(negative, 2))
    categorical = [LabeledPoint(0.0, [0.0]), LabeledPoint(1.0, [1.0]), LabeledPoint(1.0, [3.0])]
    with pytest.raises(InvalidDataError, match="Feature 0 is categorical with values in "
                                               r"\{0,...,1\}, but a data point gives it value 3.0"):
        DecisionTree.trainClassifier(sc.parallelize(categorical, 1), 2, {0: 2})
    with pytest.raises(InvalidDataError, match="Negative weight at point"):
        IsotonicRegression.train(sc.parallelize([(1.0, 1.0, 1.0), (2.0, 2.0, -1.0)], 1))
    with pytest.raises(InvalidDataError, match="ALS ids must be integers"):
        ALS.train(sc.parallelize([(1.5, 2, 3.0)], 1), 1)


def test_non_labeled_points_are_refused_as_pyspark_refuses_them(sc):
    with pytest.raises(TypeError, match="data should be an RDD of LabeledPoint"):
        LogisticRegressionWithLBFGS.train(sc.parallelize([np.array([1.0, 2.0])]))
