"""A Jepsen-style workload and checker for the replicated store.

Workload: one idempotent acks=all producer sending unique values to random
partitions (the seed picks them), recording every outcome (acknowledged at
(partition, offset), or failed: indeterminate), and consumers reading every
partition from the start the whole time, recording every (partition,
offset, value) they are given.

Checker (a plain-Python oracle of what the log must hold), against the
final contents read once the cluster has healed:

* every acknowledged value is stored exactly once, at the offset its
  acknowledgement named (0 lost, 0 moved);
* no value is stored twice, acknowledged or not (idempotence: 0 duplicates);
* no value is stored that was never sent;
* each partition's offsets are contiguous;
* every record a consumer read is in the final log at the same offset with
  the same value: no reader saw a record that later disappeared, and all
  readers saw one order per partition.
"""

from __future__ import annotations

import random
import threading
import time

from ember.ingest.structs import TopicPartition

from tests.ingest.broker_helpers import read_topic
from tests.replication.cluster_helpers import wait_for


class Workload:
    def __init__(self, store, topic: str, partitions: int, seed: int, *, consumers: int = 1,
                 **producer_configs):
        self.store, self.topic, self.seed = store, topic, seed
        self.partitions = partitions
        self._rng = random.Random(seed)
        self._producer = store.producer(**{"request_timeout_ms": 10_000, **producer_configs})
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.sent: list[bytes] = []
        self.acked: dict[bytes, tuple[int, int]] = {}
        self.failed: dict[bytes, str] = {}
        self.reads: list[tuple[int, int, bytes]] = []
        self._threads = [threading.Thread(target=self._produce, daemon=True)]
        self._threads += [threading.Thread(target=self._consume, daemon=True)
                          for _ in range(consumers)]

    def __repr__(self):
        return f"Workload(seed={self.seed})"

    # --- running ------------------------------------------------------------------

    def start(self) -> "Workload":
        for thread in self._threads:
            thread.start()
        return self

    def _produce(self):
        n = 0
        while not self._stop.is_set():
            value = f"s{self.seed}-{n}".encode()
            n += 1
            partition = self._rng.randrange(self.partitions)
            with self._lock:
                self.sent.append(value)
            future = self._producer.send(self.topic, value, partition=partition)
            future.add_callback(self._acked, value)
            future.add_errback(self._failed, value)
            if n % 25 == 0:
                try:
                    self._producer.flush(120)
                except Exception:  # noqa: BLE001 - outcomes are in the futures
                    pass

    def _acked(self, value, metadata):
        with self._lock:
            assert value not in self.acked, f"{value!r} acknowledged twice"
            self.acked[value] = (metadata.partition, metadata.offset)

    def _failed(self, value, error):
        with self._lock:
            self.failed[value] = f"{type(error).__name__}: {error}"

    def _consume(self):
        consumer = self.store.consumer(enable_auto_commit=False, auto_offset_reset="earliest")
        try:
            consumer.assign([TopicPartition(self.topic, p) for p in range(self.partitions)])
            while not self._stop.is_set():
                try:
                    batch = consumer.poll(timeout_ms=200)
                except Exception:  # noqa: BLE001 - a failover: poll again
                    time.sleep(0.1)
                    continue
                with self._lock:
                    self.reads += [(tp.partition, r.offset, r.value)
                                   for tp, records in batch.items() for r in records]
        finally:
            consumer.close()

    def acked_count(self) -> int:
        with self._lock:
            return len(self.acked)

    def wait_acked(self, more: int, timeout: float = 90.0) -> None:
        """Wait until ``more`` records beyond those acknowledged now are."""
        target = self.acked_count() + more
        wait_for(lambda: self.acked_count() >= target, timeout,
                 what=f"{target} acknowledged records (seed {self.seed}; have "
                      f"{self.acked_count()}, failures {list(self.failed.values())[:2]})")

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(120)
        self._producer.flush(120)
        self._producer.close()

    # --- checking -----------------------------------------------------------------

    def check(self, final: dict | None = None, durable_acks: bool = True) -> dict:
        """Compare the final log with the history; returns the figures.
        ``durable_acks=False`` for acks=1, whose acknowledgements promise
        nothing once the leader is lost."""
        if final is None:
            final = read_topic(self.store, self.topic)
        where = f"(seed {self.seed})"
        stored: dict[bytes, tuple[int, int]] = {}
        for partition, records in final.items():
            offsets = [offset for offset, _, _ in records]
            assert offsets == list(range(offsets[0], offsets[0] + len(offsets))) if offsets \
                else True, f"partition {partition} has gaps {where}"
            for offset, _, value in records:
                assert value not in stored, \
                    f"{value!r} stored twice, at {stored[value]} and {(partition, offset)} {where}"
                stored[value] = (partition, offset)
        sent = set(self.sent)
        invented = [v for v in stored if v not in sent]
        assert not invented, f"stored but never sent: {invented[:3]} {where}"
        lost = [v for v in self.acked if v not in stored]
        assert not lost or not durable_acks, \
            f"{len(lost)} acknowledged records lost, e.g. {lost[:3]} {where}"
        moved = [(v, self.acked[v], stored[v]) for v in self.acked
                 if v in stored and self.acked[v] != stored[v]]
        assert not moved, f"acknowledged at one offset, stored at another: {moved[:3]} {where}"
        vanished = [(p, o, v) for p, o, v in self.reads if stored.get(v) != (p, o)]
        assert not vanished, f"read, then gone or moved: {vanished[:3]} {where}"
        figures = {"sent": len(self.sent), "acked": len(self.acked),
                   "failed": len(self.failed), "stored": len(stored),
                   "read": len(self.reads)}
        print(f"\nseed {self.seed}: {figures}")
        return figures
