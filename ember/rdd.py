"""``ember.rdd``: the names of PySpark's ``pyspark.rdd`` (a program ported by
replacing ``pyspark`` with ``ember`` imports them from here)."""

from ember.engine.api.approx import BoundedFloat
from ember.engine.api.barrier import RDDBarrier
from ember.engine.api.partitioner import Partitioner
from ember.engine.api.rdd import RDD
from ember.engine.api.rdds import PipelinedRDD
from ember.engine.data.hashing import portable_hash

__all__ = ["RDD", "PipelinedRDD", "RDDBarrier", "Partitioner", "BoundedFloat", "portable_hash"]
