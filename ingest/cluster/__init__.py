"""ember.ingest.cluster: the controller quorum and the cluster's metadata.

- ``raft_storage``, ``raft``, ``raft_wire``: Raft (durable state, the
  protocol as a pure state machine, its messages on the wire).
- ``metadata``: the metadata image, a state machine over Raft's records.
- ``controller``: the active controller's decisions, as pure code.
- ``controller_server``: a quorum member's process; ``controller_client``
  finds the active controller; ``local_quorum`` runs a quorum of processes
  on one machine.

Phase 1 of replication: brokers do not use it yet (ARCHITECTURE.md,
"Replication, phase 1"). Imports ember.engine and ember.ingest only.
"""
