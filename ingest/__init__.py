"""ember.ingest: the bundled, durable, partitioned log store, and LogRDD.

Imports ember.engine only.
"""
