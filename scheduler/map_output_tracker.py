"""MapOutputTracker: where every shuffle map output lives.

State: for each registered shuffle, one ``MapStatus`` or None per map
partition; an epoch, bumped whenever outputs are lost, so that a status
computed before a loss can be recognised as stale; and the block checksums of
the first output each map partition produced. A recomputed output is compared
with them: determinism is checked, not assumed (``register`` reports a change). Outputs outlive the jobs
and stages that produced them: a later job that needs the same shuffle finds
them here and skips the map stage. A shuffle is unregistered only when the
driver drops its ShuffleDependency.

Owned by the DAGScheduler's loop thread (not thread-safe).
"""

from __future__ import annotations

from ember.engine.data.shuffle import MapStatus


class MapOutputTracker:
    def __init__(self):
        self.epoch = 0
        self._outputs: dict[int, list[MapStatus | None]] = {}
        self._first_checksums: dict[tuple[int, int], bytes] = {}

    def register_shuffle(self, shuffle_id: int, num_maps: int) -> None:
        self._outputs.setdefault(shuffle_id, [None] * num_maps)

    def unregister_shuffle(self, shuffle_id: int) -> None:
        self._outputs.pop(shuffle_id, None)
        for key in [key for key in self._first_checksums if key[0] == shuffle_id]:
            del self._first_checksums[key]

    def contains(self, shuffle_id: int) -> bool:
        return shuffle_id in self._outputs

    def register(self, shuffle_id: int, map_index: int, status: MapStatus) -> bool:
        """Record an output; True when it differs from the first output of
        this map partition (the map task is not deterministic)."""
        self._outputs[shuffle_id][map_index] = status
        first = self._first_checksums.setdefault((shuffle_id, map_index), status.checksums)
        if first != status.checksums:
            self._first_checksums[(shuffle_id, map_index)] = status.checksums
            return True
        return False

    def unregister_all(self, shuffle_id: int) -> None:
        """Forget every output of a shuffle (its input changed)."""
        outputs = self._outputs.get(shuffle_id)
        if outputs is not None and any(outputs):
            self._outputs[shuffle_id] = [None] * len(outputs)
            self.epoch += 1

    def unregister(self, shuffle_id: int, map_index: int) -> None:
        outputs = self._outputs.get(shuffle_id)
        if outputs is not None and outputs[map_index] is not None:
            outputs[map_index] = None
            self.epoch += 1

    def remove_outputs_on_worker(self, worker_id: str) -> set[int]:
        """Forget every output held by ``worker_id``; returns the affected shuffles."""
        affected = set()
        for shuffle_id, outputs in self._outputs.items():
            for index, status in enumerate(outputs):
                if status is not None and status.worker_id == worker_id:
                    outputs[index] = None
                    affected.add(shuffle_id)
        if affected:
            self.epoch += 1
        return affected

    def missing(self, shuffle_id: int) -> list[int]:
        return [i for i, status in enumerate(self._outputs[shuffle_id]) if status is None]

    def is_complete(self, shuffle_id: int) -> bool:
        outputs = self._outputs.get(shuffle_id)
        return outputs is not None and all(status is not None for status in outputs)

    def statuses(self, shuffle_id: int) -> list[MapStatus | None]:
        return list(self._outputs[shuffle_id])
