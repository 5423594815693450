"""Helpers for the broker tests: read a whole topic back the way a consumer
does, and produce numbered records while recording every acknowledgement
(the history a checker compares with what the log holds)."""

from __future__ import annotations

import threading

from ember.ingest.structs import TopicPartition


def read_topic(store, topic, timeout_ms=200):
    """{partition: [(offset, key, value)]} of every durable record of ``topic``."""
    partitions = [TopicPartition(topic, p) for p in range(store.partitions_for(topic))]
    consumer = store.consumer(enable_auto_commit=False)
    try:
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(partitions)
        out = {tp.partition: [] for tp in partitions}
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            for tp, records in consumer.poll(timeout_ms=timeout_ms).items():
                out[tp.partition].extend((r.offset, r.key, r.value) for r in records)
        return out
    finally:
        consumer.close()


class AckHistory:
    """Every acknowledged send: value -> (partition, offset)."""

    def __init__(self):
        self.acked = {}
        self.failed = 0
        self._lock = threading.Lock()

    def track(self, future, value):
        future.add_callback(self._ok, value)
        future.add_errback(self._error)

    def _ok(self, value, metadata):
        with self._lock:
            assert value not in self.acked, f"{value!r} acknowledged twice"
            self.acked[value] = (metadata.partition, metadata.offset)

    def _error(self, error):
        with self._lock:
            self.failed += 1

    def __len__(self):
        with self._lock:
            return len(self.acked)


def check_history(history, contents):
    """Every acknowledged record is stored exactly once, at the offset its
    acknowledgement gave; nothing is stored twice; offsets are contiguous."""
    seen = {}
    for partition, records in contents.items():
        offsets = [offset for offset, _, _ in records]
        assert offsets == list(range(offsets[0], offsets[0] + len(offsets))) if offsets else True
        for offset, _, value in records:
            assert value not in seen, f"{value!r} stored twice: {seen[value]} and {(partition, offset)}"
            seen[value] = (partition, offset)
    lost = [v for v in history.acked if v not in seen]
    assert not lost, f"{len(lost)} acknowledged records lost, e.g. {lost[:3]}"
    moved = {v: (history.acked[v], seen[v]) for v in history.acked if history.acked[v] != seen[v]}
    assert not moved, f"acknowledged at one offset, stored at another: {list(moved.items())[:3]}"
    # Shown with -s: the figures behind "every acknowledged record survives".
    print(f"\n{len(history.acked)} acknowledged, {history.failed} failed sends, "
          f"{len(seen)} stored after the restart")
