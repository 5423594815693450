"""Every docstring example runs, under its module's real ``ember.…`` name,
against a live local[4] cluster (never ``--doctest-modules``, which would
import the mapped folders under the wrong names)."""

from __future__ import annotations

import doctest
import importlib

import pytest

import ember

MODULES = [
    "ember.engine.api.rdd", "ember.engine.api.storage", "ember.engine.api.statcounter",
    "ember.engine.api.resultiterable", "ember.engine.data.hashing", "ember.driver.context",
    "ember.driver.conf", "ember.engine.api.approx", "ember.engine.io.inputs", "ember.engine.api.accumulators",
    "ember.engine.api.broadcast", "ember.engine.io.files", "ember.scheduler.status", "ember.engine.api.barrier",
    "ember.driver.ui", "ember.driver.threads", "ember.engine.util", "ember.engine.data.external",
    "ember.engine.api.task_context", "ember.sql.types", "ember.sql.dataframe",
    "ember.sql.readwriter", "ember.sql.session", "ember.sql.functions",
    "ember.streaming.util", "ember.streaming.context",
    "ember.mllib.linalg", "ember.mllib.linalg.distributed", "ember.mllib.regression",
    "ember.mllib.classification", "ember.mllib.clustering", "ember.mllib.tree",
    "ember.mllib.recommendation", "ember.mllib.feature", "ember.mllib.fpm",
    "ember.mllib.stat._statistics", "ember.mllib.stat.test", "ember.mllib.stat.distribution",
    "ember.mllib.stat.kernel_density", "ember.mllib.random", "ember.mllib.evaluation",
    "ember.mllib.util",
]


@pytest.fixture(scope="module")
def sc4():
    with ember.Context("local[4]", appName="doctests") as context:
        yield context


@pytest.mark.parametrize("name", MODULES)
@pytest.mark.filterwarnings("ignore::FutureWarning")  # MLlib's deprecated SGD trainers
def test_docstring_examples(sc4, name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    globs = {**vars(module), "sc": sc4}
    if name.startswith("ember.sql."):  # PySpark's SQL docstrings use the session as ``spark``
        from ember.sql import SparkSession

        globs["spark"] = SparkSession.builder.getOrCreate()
    tests = [t for t in finder.find(module, name, globs=globs) if t.examples]
    assert tests, f"{name} has no examples"
    for test in tests:
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
