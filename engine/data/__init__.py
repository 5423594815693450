"""ember.engine.data: the data plane inside a task.

Per-partition combining (aggregation), the shuffle block format and its
writer, spilling of aggregations and sorts past a task's memory, memory
sizing, and the portable partitioning hash. Knows nothing of processes or
sockets.
"""
