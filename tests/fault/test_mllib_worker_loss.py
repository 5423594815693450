"""A worker SIGKILLed in the middle of training loses its cached blocks;
training recomputes them from lineage and returns exactly the fault-free
model (MLlib's iterations are deterministic: the same blocks, combined in
partition order, whichever worker computed them)."""

from __future__ import annotations

import numpy as np
import pytest

from ember.mllib.classification import LogisticRegressionWithLBFGS
from ember.mllib.clustering import LDA, KMeans
from ember.mllib.linalg import DenseVector
from ember.mllib.regression import LabeledPoint
from faults import Background, kill, launches, worker_pids
from tests.waiting import wait_for

pytestmark = pytest.mark.fault


def _points(n=8_000, d=6, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.uniform(-5, 5, size=(5, d))
    return centers[rng.integers(5, size=n)] + rng.standard_normal((n, d))


def _kmeans(sc):
    data = sc.parallelize([DenseVector(row) for row in _points()], 4)
    model = KMeans.train(data, 5, maxIterations=25, epsilon=0.0, seed=7)
    return np.vstack(model.clusterCenters)


def _logistic(sc):
    X = _points(d=5, seed=1)
    y = (X @ np.array([1.0, -2.0, 0.5, 0.0, 1.5]) > 0).astype(float)
    data = sc.parallelize([LabeledPoint(label, DenseVector(row)) for label, row in zip(y, X)], 4)
    model = LogisticRegressionWithLBFGS.train(data, iterations=40, regParam=0.01, intercept=True,
                                              tolerance=0.0)
    return np.append(model.weights.toArray(), model.intercept)


def _lda_em(sc):
    # each iteration's state is cached and computed from the last one and that
    # iteration's broadcast topics: a lost block is recomputed through them all
    rng = np.random.default_rng(2)
    topics = rng.dirichlet(np.full(40, 0.2), size=3)
    docs = [[i, DenseVector(rng.multinomial(60, topics[rng.integers(3)]).astype(float))]
            for i in range(600)]
    model = LDA.train(sc.parallelize(docs, 4), k=3, maxIterations=30, seed=5, optimizer="em")
    return model.topicsMatrix()


def _train_with_a_kill(cluster, train, after_tasks):
    sc = cluster(2)
    before = len(launches(sc))
    job = Background(lambda: train(sc))
    wait_for(lambda: len(launches(sc)) - before >= after_tasks, timeout=120,
             interval=0.01, what=f"{after_tasks} tasks of training")
    assert job._thread.is_alive(), "training ended before the worker was killed"
    victim = launches(sc)[-1].worker_id  # it holds cached blocks of the training data
    killed_at = len(launches(sc))
    kill(worker_pids(sc)[victim])
    result = job.result(timeout=180)
    rerun = [launch for launch in launches(sc)[killed_at:] if launch.worker_id != victim]
    assert rerun, "nothing ran after the kill"
    sc.stop()
    return result


@pytest.mark.parametrize("train, after_tasks", [(_kmeans, 40), (_logistic, 40), (_lda_em, 40)],
                         ids=["kmeans", "logistic_lbfgs", "lda_em"])
def test_training_survives_a_worker_sigkill_with_the_fault_free_model(cluster, train,
                                                                      after_tasks):
    faulty = _train_with_a_kill(cluster, train, after_tasks)
    fault_free = train(cluster(2))
    assert np.array_equal(faulty, fault_free)
