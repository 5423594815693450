"""``ember.files``: the names of PySpark's ``pyspark.files``."""

from ember.engine.io.files import SparkFiles

__all__ = ["SparkFiles"]
