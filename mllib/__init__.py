"""ember.mllib: PySpark's RDD-based machine learning library, on numpy.

The same modules, classes, signatures, defaults and results as
``pyspark.mllib``, so a program moves with its imports changed
(``from pyspark.mllib.clustering import KMeans`` becomes
``from ember.mllib.clustering import KMeans``).

How it computes (the design every algorithm follows):

* Training data is read once into numpy blocks, one or a few per partition
  (``ember.mllib._blocks``): a dense float64 matrix, or compressed sparse rows
  when the vectors are sparse, with the labels beside it. The blocks are
  persisted, so iterative algorithms reuse them and never read the user's
  RDD again, and they never travel to the driver.
* Gradients, cluster sums and statistics are computed per block with
  vectorised numpy and combined with ``treeAggregate``; the model of an
  iteration (weights, centers, factors) is shipped to the workers as a
  broadcast.
* Bad input gets a named error: parameters are checked before any job runs;
  data is checked where it is read, and the error names the partition and
  the row (``ember.engine.errors.InvalidDataError``).

This package reaches the cluster only through the RDDs and the Context it is
handed: it imports ``ember.engine`` and nothing of the driver.
"""

__all__ = [
    "classification",
    "clustering",
    "evaluation",
    "feature",
    "fpm",
    "linalg",
    "random",
    "recommendation",
    "regression",
    "stat",
    "tree",
    "util",
]
