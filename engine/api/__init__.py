"""ember.engine.api: what a user program holds and calls.

The RDD and its kinds, dependencies and partitioners, shared variables
(broadcasts, accumulators), storage levels, TaskContext and barrier mode,
StatCounter and the grouped-values iterable, and the per-partition helpers
behind approximate actions, histograms, sampling, pipes and profiles.
Imports the rest of ember.engine; never the driver, scheduler or worker.
"""
