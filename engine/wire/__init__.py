"""ember.engine.wire: what crosses a process boundary, and how.

Protocol messages and their framing, the ZeroMQ transport and its CURVE
authentication, the record serializer, user closures on their way to the
workers, tasks (what the scheduler sends and what a worker runs), starting
child processes, and the cluster secret at rest. Scheduler and worker meet
only in ``task`` and ``protocol``.
"""
