"""ember.etl: records in and out of files and databases, and connectors
between databases and topics.

* ``sc.read`` (``ember.etl.reader.DataReader``): Spark's DataFrameReader
  vocabulary (``json``, ``csv``, ``xml``, ``text``, ``sql``, ``format``/
  ``option``/``load``), returning RDDs of dicts.
* ``rdd.write`` (``ember.etl.writer.DataWriter``): Spark's DataFrameWriter
  vocabulary taking RDDs of dicts; files go through the same output commit
  as ``saveAsTextFile``; ``sql`` stores each row exactly once.
* ``ember.etl.connect``: a source connector (a table tailed into a topic) and
  a sink connector (a topic written into a table), run by ``ember connect``.

Formats, codecs and remote filesystems are the engine's (``engine/io``);
this package owns what a record is in each format and what a parse mode
does with a bad one.
"""
