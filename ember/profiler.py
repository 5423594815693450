"""``ember.profiler``: the names of PySpark's ``pyspark.profiler`` (the
profilers of RDD tasks; ember has no UDFs to profile)."""

from ember.engine.api.profiling import BasicProfiler, Profiler, ProfilerCollector, PStatsParam

__all__ = ["Profiler", "BasicProfiler", "ProfilerCollector", "PStatsParam"]
