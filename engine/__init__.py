"""ember.engine: what both sides of the wire agree on.

Four subpackages by concern, and a few modules every one of them uses:

- ``api``: what a user program holds and calls (RDD and its kinds,
  dependencies, partitioners, broadcasts, accumulators, storage levels,
  TaskContext, StatCounter, ...).
- ``wire``: what crosses a process boundary (protocol messages, transport and
  authentication, serializer, closures, tasks, child processes, secrets).
- ``data``: the data plane inside a task (aggregation, shuffle blocks,
  spilling, memory sizing, the partitioning hash).
- ``io``: files in and out (text, binary, pickle and Hadoop-named files,
  shipped files, checkpoints, crash-safe writes).
- here: ``errors``, ``clock``, ``failpoints``, ``units``, ``version``,
  ``exports`` (the lazily loaded public names of ember's packages).

Imports only the standard library, cloudpickle, pyzmq, numpy and psutil;
never the driver, scheduler, worker or ingest packages.
"""
