"""ReplicaRepair: a replica whose log rotted (RELIABILITY.md L11 with
replicas): found on read, never served, its leadership handed to a healthy
replica, and the bad copy fetched again.

A batch whose CRC no longer matches is never returned (the log raises
CorruptRecordError naming topic, partition, offset and file). In a cluster
this broker's copy is then damaged from that batch on, while every other
member of the ISR holds the batch intact (an in-sync replica holds everything
below the high watermark, and checked each batch's CRC when it appended it).
So, on the leader:

1. the damaged offset (the corrupt batch's base offset) is remembered;
2. the leader asks the controller to lead no more (``alter_partition`` with
   the ISR without itself: the controller makes the first live member of
   that ISR leader, in a new leader epoch). The reader is answered
   NotLeaderOrFollowerError, whose message carries the corruption, so
   clients look up the new leader and read there. With no other in-sync
   replica the reader gets the CorruptRecordError itself: no healthy copy
   is known, and the leadership stays;
3. once the metadata makes this broker a follower, it truncates its log to
   the damaged offset (durably) before fetching, so the fetcher copies the
   batches again from the new leader; the leader adds it back to the ISR
   once it has caught up.

What it must not know: sockets, the controller's protocol (``propose``
sends the ISR change), the fetcher.

Thread-safety: thread-safe; called under the partition's lock.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Callable

from ember.engine.errors import CorruptRecordError, EmberError, NotLeaderOrFollowerError
from ember.ingest.log.segment import parse_file_name
from ember.ingest.server.partition import LEADER

log = logging.getLogger(__name__)


class ReplicaRepair:
    def __init__(self, broker_id: int):
        self.broker_id = broker_id
        self._damaged: dict[tuple[str, int], CorruptRecordError] = {}
        self._lock = threading.Lock()

    def damaged(self, partition, error: CorruptRecordError,
                propose: Callable[[object, list[int]], None] | None) -> EmberError:
        """A read of ``partition``'s log here hit ``error``: remember it, ask
        to hand the leadership over; the error to answer the reader with."""
        key = (partition.topic, partition.index)
        with self._lock:
            known = self._damaged.get(key)
            if known is None or _offset(error) < _offset(known):
                self._damaged[key] = error
                log.error("%s: this broker's copy is damaged: %s", partition.log.name, error)
        healthy = [b for b in partition.isr if b != self.broker_id]
        if partition.role != LEADER or not healthy or propose is None:
            return error
        if partition.pending_isr is None:
            log.warning("%s: handing the leadership to the in-sync replicas %s",
                        partition.log.name, healthy)
            propose(partition, healthy)
        moved = NotLeaderOrFollowerError(
            f"{error}; broker {self.broker_id} hands the leadership to a healthy in-sync "
            f"replica ({healthy}) and will fetch the batch again")
        moved.leader_id = -1
        return moved

    def before_following(self, partition) -> None:
        """This broker now follows ``partition``'s leader: cut a damaged copy
        back to its first bad batch so that the fetcher copies it again."""
        with self._lock:
            error = self._damaged.pop((partition.topic, partition.index), None)
        if error is None:
            return
        offset = _offset(error)
        try:
            partition.log.truncate_to(offset)
        except CorruptRecordError:
            # The damage hides where the bad batch starts: drop its whole segment.
            base = parse_file_name(os.path.basename(error.path))[0]
            partition.log.truncate_to(base)
        log.warning("%s: truncated to offset %d to fetch the damaged batches again from "
                    "broker %d", partition.log.name, partition.log.log_end_offset,
                    partition.leader_id)


def _offset(error: CorruptRecordError) -> int:
    offset = getattr(error, "offset", None)
    return offset if isinstance(offset, int) else 0
