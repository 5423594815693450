"""ember.engine: what both sides of the wire agree on.

RDDs and their kinds, dependencies, partitioners, aggregators, tasks, the
shuffle block format, the serializer, protocol messages, the ZeroMQ transport
and its authentication, storage levels, and errors. Imports only the standard
library, cloudpickle, pyzmq and numpy; never the driver, scheduler, worker or
ingest packages.
"""
