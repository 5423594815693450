"""Log-store workloads: not written yet.

They arrive with the log store itself (``ember.ingest``): producing records
to a topic and consuming them back through a consumer group, and reading a
topic as an RDD (``sc.topicRDD``). They have no PySpark, Dask or serial
counterpart to write ahead of that API, so nothing is measured here until
then. To add them: write the modules like the others, append their
``Workload`` objects to the registry in ``benchmarks/workloads/__init__.py``
and drop their names from ``PENDING``.
"""

PENDING = [
    ("logstore_produce_consume", "produce N records to a topic (acks=all), consume them back"),
    ("topic_rdd_read", "read a topic through sc.topicRDD and aggregate it"),
]
