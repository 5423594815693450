"""``ember.context``: the names of PySpark's ``pyspark.context``."""

from ember.driver.context import Context, SparkContext

__all__ = ["SparkContext", "Context"]
