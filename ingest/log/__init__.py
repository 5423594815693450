"""ember.ingest.log: the log store on disk, layer by layer.

RecordBatch (the unit written, checked and shipped), the offset and time
indexes, LogSegment, PartitionLog, LogManager, per-topic LogConfig, the
idempotent producers' state per partition, and the file layer (positional
writes, fsync, simulated power loss for tests). Knows nothing of sockets.
"""
