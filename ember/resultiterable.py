"""``ember.resultiterable``: the names of PySpark's ``pyspark.resultiterable``."""

from ember.engine.api.resultiterable import ResultIterable

__all__ = ["ResultIterable"]
