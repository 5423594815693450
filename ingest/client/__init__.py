"""ember.ingest.client: talking to a broker.

One authenticated connection, the producer and the consumer with
kafka-python's vocabulary, the producer's partitioner, and ``LogStore`` /
``connect``, the handle that starts or opens a broker. Never imports the
server.
"""
