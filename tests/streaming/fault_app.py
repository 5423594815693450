"""The streaming application the fault tests kill: a stateful windowed word
count over a topic, written exactly once two ways.

    python fault_app.py BROKER SECRET_FILE CHECKPOINT_DIR OUT_DIR DB BATCHES

``BROKER`` is the log store's address (read over ember's protocol with the
store's secret), or ``kafka://HOST:PORT`` (read as a Kafka cluster through
``KafkaUtils.createDirectStream``; the secret file is not used).

* ``OUT_DIR/counts-<batch time>``: ``saveAsTextFiles`` of the windowed
  counts (``w WORD N``, a 2.5 s window sliding every 0.5 s batch, kept
  incrementally with an inverse function) and the running totals
  (``t WORD N``, ``updateStateByKey``).
* ``DB`` (sqlite): the foreachRDD pattern: per batch, its word counts and the
  offset ranges it read, in one transaction keyed by batch time.

Resumes from ``CHECKPOINT_DIR`` when it holds a checkpoint
(``StreamingContext.getOrCreate``). Stops gracefully once BATCHES batch
directories are committed. Prints ``UI <url>`` when running and ``DONE
<batch time>`` after each batch; failpoints come from ``EMBER_FAILPOINTS``.
"""

from __future__ import annotations

import operator
import os
import sqlite3
import sys
import threading

from ember.driver.conf import Conf
from ember.driver.context import Context
from ember.ingest.secret_file import coerce_secret
from ember.streaming import StreamingContext, StreamingListener
from ember.streaming.kafka import KafkaUtils

INTERVAL = 0.5
TOPIC = "words"


def main() -> int:
    broker, secret_file, checkpoint_dir, out_dir, db_path, batches = sys.argv[1:7]
    secret = None if broker.startswith("kafka://") else coerce_secret(None, secret_file)
    batches = int(batches)

    def setup() -> StreamingContext:
        conf = (Conf().setMaster("local[2]").setAppName("streaming-faults")
                .set("spark.streaming.kafka.maxRatePerPartition", "20"))
        sc = Context(conf=conf)
        ssc = StreamingContext(sc, INTERVAL)
        if secret is None:
            records = KafkaUtils.createDirectStream(ssc, [TOPIC], {
                "bootstrap.servers": broker.removeprefix("kafka://"), "group.id": "word-count",
                "auto.offset.reset": "smallest"})
        else:
            records = ssc.topicStream(broker, [TOPIC], start="earliest", group_id="word-count",
                                      secret=secret)
        ranges: dict = {}

        def remember_ranges(time, rdd):
            ranges[time] = rdd.offsetRanges()
            return rdd

        pairs = records.transform(remember_ranges).map(lambda kv: (kv[1], 1))
        windowed = pairs.reduceByKeyAndWindow(operator.add, operator.sub, 5 * INTERVAL, INTERVAL,
                                              filterFunc=lambda kv: kv[1] > 0)
        totals = pairs.updateStateByKey(lambda values, total: sum(values) + (total or 0))
        windowed.checkpoint(2 * INTERVAL)
        totals.checkpoint(2 * INTERVAL)
        lines = windowed.map(lambda kv: f"w {kv[0]} {kv[1]}").union(
            totals.map(lambda kv: f"t {kv[0]} {kv[1]}"))
        lines.saveAsTextFiles(os.path.join(out_dir, "counts"))

        def store(time, rdd):
            counts = rdd.collect()
            key = str(int(time.timestamp() * 1000))
            with sqlite3.connect(db_path) as db:  # one transaction: results and offsets
                db.execute("CREATE TABLE IF NOT EXISTS counts (batch TEXT, word TEXT, n INT)")
                db.execute("CREATE TABLE IF NOT EXISTS ranges "
                           "(batch TEXT, part INT, start INT, until INT)")
                db.execute("DELETE FROM counts WHERE batch = ?", (key,))
                db.execute("DELETE FROM ranges WHERE batch = ?", (key,))
                db.executemany("INSERT INTO counts VALUES (?, ?, ?)",
                               [(key, word, n) for word, n in counts])
                db.executemany("INSERT INTO ranges VALUES (?, ?, ?, ?)",
                               [(key, r.partition, r.fromOffset, r.untilOffset)
                                for r in ranges.pop(time)])

        pairs.reduceByKey(operator.add).foreachRDD(store)
        return ssc

    ssc = StreamingContext.getOrCreate(checkpoint_dir, setup)
    enough = threading.Event()

    class Progress(StreamingListener):
        def onBatchCompleted(self, event):
            print(f"DONE {event.batchInfo().batchTime().milliseconds()}", flush=True)
            committed = [name for name in os.listdir(out_dir)
                         if os.path.exists(os.path.join(out_dir, name, "_SUCCESS"))]
            if len(committed) >= batches:
                enough.set()

    ssc.addStreamingListener(Progress())
    ssc.start()
    print(f"UI {ssc.sparkContext.uiWebUrl}", flush=True)
    while not enough.wait(0.1):
        if ssc.awaitTerminationOrTimeout(0.01):
            return 1
    ssc.stop(stopSparkContext=True, stopGraceFully=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
