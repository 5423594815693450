"""``ember.storagelevel``: the names of PySpark's ``pyspark.storagelevel``."""

from ember.engine.api.storage import StorageLevel

__all__ = ["StorageLevel"]
