"""ember.streaming: PySpark's DStream API as micro-batches, with topic
streams over ember's log store, write-ahead checkpoints and exactly-once
output.

A PySpark Streaming program runs with its imports changed::

    from ember import Context
    from ember.streaming import StreamingContext

    sc = Context("local[2]", "wordcount")
    ssc = StreamingContext(sc, 1)
    lines = ssc.topicStream(store, ["lines"], start="earliest")
    counts = lines.flatMap(lambda kv: kv[1].split()).map(lambda w: (w, 1)) \\
                  .reduceByKeyAndWindow(lambda a, b: a + b, lambda a, b: a - b, 30, 1)
    counts.pprint()
    ssc.start()
    ssc.awaitTermination()

The modules: ``context`` (StreamingContext), ``dstream`` (the DStream API),
``dstreams`` (derived kinds), ``inputs`` and ``topic`` (input streams),
``graph``, ``scheduler`` (generator and batch threads), ``checkpoint`` (the
write-ahead files), ``rate`` (backpressure), ``listener`` (events),
``status`` (status page section, notebook display, status line), ``kafka``
(PySpark 2's ``pyspark.streaming.kafka`` names).

Exactly-once output through ``foreachRDD``: store a batch's results and the
offsets it read in one transaction, keyed by batch time, and start from the
stored offsets when there is no checkpoint. A batch run again after a crash
reads the same offsets (they were logged before it ran) and replaces its own
rows::

    import sqlite3

    ranges = {}

    def remember_ranges(time, rdd):
        ranges[time] = rdd.offsetRanges()      # the topic RDD of this batch
        return rdd

    def store(time, rdd):
        counts = rdd.collect()
        with sqlite3.connect("results.db") as db:  # one transaction
            db.execute("DELETE FROM counts WHERE batch = ?", (str(time),))
            db.executemany("INSERT INTO counts VALUES (?, ?, ?)",
                           [(str(time), word, n) for word, n in counts])
            db.executemany("INSERT INTO offsets VALUES (?, ?, ?) ON CONFLICT(topic, part) "
                           "DO UPDATE SET until = max(until, excluded.until)",
                           [(r.topic, r.partition, r.untilOffset) for r in ranges.pop(time)])

    stream.transform(remember_ranges).flatMap(...).reduceByKey(...).foreachRDD(store)
"""

from __future__ import annotations

from ember.engine.exports import lazy_exports

_EXPORTS = {
    "StreamingContext": "ember.streaming.context",
    "DStream": "ember.streaming.dstream",
    "StreamingListener": "ember.streaming.listener",
}

__all__ = list(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
del lazy_exports
