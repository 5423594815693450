"""``ember.broadcast``: the names of PySpark's ``pyspark.broadcast``."""

from ember.engine.api.broadcast import Broadcast

__all__ = ["Broadcast"]
