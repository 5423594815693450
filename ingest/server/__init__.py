"""ember.ingest.server: the broker process.

The broker serving one log directory over ZeroMQ, group commit (one fsync
for concurrent producers), consumer groups and their committed offsets, and
the broker's test hooks. Never imports the clients.
"""
