"""CacheTracker: which workers hold which cached RDD partitions.

Filled from the cache updates that come back with task results and emptied
by the drops that come back the same way (blocks a worker evicted); a
worker's entries go when the worker is lost, an RDD's when it is unpersisted. Used for
locality: a task over a cached partition prefers the worker that holds it.

Owned by the DAGScheduler's loop thread (not thread-safe).
"""

from __future__ import annotations


class CacheTracker:
    def __init__(self):
        self._locations: dict[tuple[int, int], set[str]] = {}

    def add(self, worker_id: str, rdd_id: int, partition: int) -> None:
        self._locations.setdefault((rdd_id, partition), set()).add(worker_id)

    def remove(self, worker_id: str, rdd_id: int, partition: int) -> None:
        holders = self._locations.get((rdd_id, partition))
        if holders is not None:
            holders.discard(worker_id)
            if not holders:
                del self._locations[(rdd_id, partition)]

    def locations(self, rdd_id: int, partition: int) -> set[str]:
        return self._locations.get((rdd_id, partition), set())

    def remove_worker(self, worker_id: str) -> None:
        for key in list(self._locations):
            holders = self._locations[key]
            holders.discard(worker_id)
            if not holders:
                del self._locations[key]

    def remove_rdd(self, rdd_id: int) -> None:
        for key in [key for key in self._locations if key[0] == rdd_id]:
            del self._locations[key]

    def cached_partitions(self, rdd_id: int) -> dict[int, set[str]]:
        return {partition: set(holders) for (rid, partition), holders in self._locations.items()
                if rid == rdd_id}

    def summary(self) -> dict[int, dict[int, list[str]]]:
        """Every cached partition: ``{rdd id: {partition: [workers]}}``."""
        result: dict[int, dict[int, list[str]]] = {}
        for (rdd_id, partition), holders in self._locations.items():
            result.setdefault(rdd_id, {})[partition] = sorted(holders)
        return result
