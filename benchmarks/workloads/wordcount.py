"""wordcount: text -> words -> (word, 1) -> reduceByKey(add), counts collected.

The text is Zipf-distributed over a synthetic vocabulary (see datagen).
"""

from __future__ import annotations

import os
from collections import Counter
from operator import add

from benchmarks.answers import keyed_totals
from benchmarks.workloads import Workload


def inputs(scale, files):
    (path,) = files["text"]
    return {"path": path, "partitions": scale.partitions}


def _pair(word):
    return word, 1


def rdd(sc, inputs):
    lines = sc.textFile(inputs["path"], minPartitions=inputs["partitions"])
    return lines.flatMap(str.split).map(_pair).reduceByKey(add).collect()


def bag(inputs):
    import dask.bag as db
    # Byte-range blocks, as textFile splits: one per requested partition.
    blocksize = -(-os.path.getsize(inputs["path"]) // inputs["partitions"])
    lines = db.read_text(inputs["path"], blocksize=blocksize)
    return lines.str.split().flatten().frequencies().compute()


def serial(inputs):
    counts = Counter()
    with open(inputs["path"], encoding="utf-8") as text:
        for line in text:
            counts.update(line.split())
    return counts.items()


WORKLOAD = Workload.from_module(globals(), datasets=("text",), normalise=keyed_totals,
                                cpu_bound=True)
