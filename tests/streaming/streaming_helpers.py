"""Helpers of the streaming tests: a StreamingContext on a manual clock,
driven one batch at a time, and plain-Python oracles of windows and state."""

from __future__ import annotations

import threading
import time

from ember.engine.clock import ManualClock
from ember.streaming import StreamingContext, StreamingListener

START = 1_700_000_000.0  # a multiple of every batch interval the tests use


class Batches(StreamingListener):
    """Records the batch times that completed, for waiting on them."""

    def __init__(self):
        self.completed: list[int] = []
        self.infos: list = []
        self.started: list[int] = []
        self.submitted: list[int] = []
        self.outputs: list = []
        self.streaming_started: list = []
        self.lock = threading.Lock()

    def onStreamingStarted(self, event):
        self.streaming_started.append(event.time)

    def onBatchSubmitted(self, event):
        self.submitted.append(event.batchInfo().batchTime().milliseconds())

    def onBatchStarted(self, event):
        self.started.append(event.batchInfo().batchTime().milliseconds())

    def onBatchCompleted(self, event):
        with self.lock:
            self.completed.append(event.batchInfo().batchTime().milliseconds())
            self.infos.append(event.batchInfo())

    def onOutputOperationCompleted(self, event):
        self.outputs.append(event.outputOperationInfo())


class ManualStream:
    """A StreamingContext whose clock moves only when ``run`` says so."""

    def __init__(self, sc, batch: float = 1.0, ssc: StreamingContext | None = None,
                 clock: ManualClock | None = None):
        self.clock = clock or ManualClock(START)
        self.batch = batch
        self.ssc = ssc or StreamingContext(sc, batch, clock=self.clock)
        self.batches = Batches()
        self.ssc.addStreamingListener(self.batches)

    def collect(self, dstream, with_time: bool = False) -> list:
        """Every batch's RDD of ``dstream``, collected, in batch order."""
        results: list = []

        def keep(time, rdd):
            results.append((time, rdd.collect()) if with_time else rdd.collect())

        dstream.foreachRDD(keep)
        return results

    def run(self, batches: int, timeout: float = 60.0) -> None:
        """Advance the clock one interval at a time; wait for each batch."""
        if self.ssc.getState() == "INITIALIZED":
            self.ssc.start()
        for _ in range(batches):
            done = self.completed_count()
            self.clock.advance(self.batch)
            self.wait(lambda: self.completed_count() > done, timeout)

    def completed_count(self) -> int:
        return self.ssc._status.snapshot()["completedBatches"]

    def wait(self, predicate, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            scheduler = self.ssc._scheduler
            if scheduler is not None and scheduler.error is not None:
                raise scheduler.error
            if time.monotonic() > deadline:
                raise AssertionError(f"no progress within {timeout} s")
            time.sleep(0.005)

    def stop(self, stopSparkContext: bool = False) -> None:
        self.ssc.stop(stopSparkContext=stopSparkContext)


def windows(batches: list[list], window: int, slide: int, count: int) -> list[list]:
    """The elements of each window (``window``/``slide`` in batches) for the
    first ``count`` outputs; batches past the input are empty."""
    out = []
    for end in range(slide, slide + count * slide, slide):  # batches [end - window, end)
        start = max(0, end - window)
        out.append([x for b in batches[start:end] for x in b])
    return out


def produce(store, topic: str, values_by_partition: dict[int, list[str]]) -> None:
    """Append values to partitions and wait until each is acknowledged (durable)."""
    producer = store.producer()
    try:
        futures = [producer.send(topic, value=value.encode(), partition=partition)
                   for partition, values in sorted(values_by_partition.items())
                   for value in values]
        producer.flush()
        for future in futures:
            future.get(timeout=30)
    finally:
        producer.close()
