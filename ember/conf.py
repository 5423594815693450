"""``ember.conf``: the names of PySpark's ``pyspark.conf``."""

from ember.driver.conf import Conf, SparkConf

__all__ = ["SparkConf", "Conf"]
