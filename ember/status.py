"""``ember.status``: the names of PySpark's ``pyspark.status``."""

from ember.scheduler.status import SparkJobInfo, SparkStageInfo, StatusTracker

__all__ = ["StatusTracker", "SparkJobInfo", "SparkStageInfo"]
