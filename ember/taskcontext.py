"""``ember.taskcontext``: the names of PySpark's ``pyspark.taskcontext``."""

from ember.engine.api.barrier import BarrierTaskContext, BarrierTaskInfo
from ember.engine.api.task_context import TaskContext

__all__ = ["TaskContext", "BarrierTaskContext", "BarrierTaskInfo"]
