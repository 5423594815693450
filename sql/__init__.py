"""ember.sql: the SparkSession entry point PySpark programs start from,
and the small DataFrames their reading path produces.

PySpark programs, even those whose work is all on RDDs, begin with
``SparkSession.builder.appName(...).getOrCreate()``, take
``spark.sparkContext`` and often read their input with
``spark.read.text(path).rdd.map(lambda r: r[0])``. This package gives them
that: ``SparkSession`` (``ember.sql.session``), ``Row`` and the data types
(``ember.sql.types``), ``DataFrame`` with what those programs call on it
(``ember.sql.dataframe``), and ``spark.read.text`` (``ember.sql.readwriter``).
It is an entry point, not a query engine: the rest of PySpark's DataFrame
API raises NotImplementedError naming the RDD way.

May import: engine (RDDs, errors) and driver (the Context a session wraps).
"""

from ember.sql.conf import RuntimeConfig
from ember.sql.dataframe import DataFrame
from ember.sql.readwriter import DataFrameReader
from ember.sql.session import SparkSession
from ember.sql.types import Row

__all__ = ["SparkSession", "DataFrame", "DataFrameReader", "Row", "RuntimeConfig"]
