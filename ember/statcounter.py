"""``ember.statcounter``: the names of PySpark's ``pyspark.statcounter``."""

from ember.engine.api.statcounter import StatCounter

__all__ = ["StatCounter"]
