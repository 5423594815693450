"""ember.scheduler: from an action to tasks on workers.

The DAGScheduler (one event loop owning all scheduling state), stages, task
sets and their attempts, the MapOutputTracker, the cache tracker, and the
driver's ZeroMQ backend. Imports ember.engine only.
"""
