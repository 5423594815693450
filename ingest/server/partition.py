"""Partition: one broker's replica of one partition in a cluster, and what
it knows as leader (Kafka's Partition.scala).

Role, from the metadata image: leader (of ``leader_epoch``), follower (of
``leader_id`` in ``leader_epoch``) or none. As leader it tracks, per
follower, the offset it last fetched from (a follower fetches from X only
once everything below X is fsynced on it, so that is its durable end) and
when it was last caught up:

* ``update_follower`` (Kafka's updateFollowerFetchState): a fetch at or past
  the leader's log end offset makes the follower caught up now; one at or
  past the log end the leader had at the follower's previous fetch makes it
  caught up as of that previous fetch.
* High watermark: the smallest durable end among the leader (its own
  fsynced end) and every member of the *maximal* ISR: the committed ISR plus
  any member whose addition is pending at the controller (KIP-497/KIP-841:
  an addition counts at once, a removal only once the controller committed
  it). A leader that was cut off cannot shrink its ISR without the
  controller, so it cannot acknowledge alone: the controller refuses its
  stale leader epoch.
* ``isr_to_shrink`` (maybeShrinkIsr): members not caught up for
  ``replica.lag.time.max.ms``. ``isr_to_expand`` (maybeExpandIsr): a
  follower not in the ISR whose durable end reached the high watermark and
  the start of the current leader epoch.

A follower's high watermark is the leader's, bounded by its own fsynced end.

What it must not know: sockets, the controller's wire; the replica manager
sends the ISR changes this class proposes.

Thread-safety: each Partition has its own ``lock``; the replica manager
holds it while it checks the role and appends, changes the role, or updates
a follower's state, so an append never lands in a log that just became a
follower's.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from ember.ingest.log.partition_log import PartitionLog

LEADER, FOLLOWER, NONE = "leader", "follower", "none"


@dataclass
class FollowerState:
    fetch_offset: int = -1  # its durable end, as of its last fetch; -1 unknown
    last_fetch_time: float = 0.0
    last_fetch_leader_end: int = -1
    last_caught_up_time: float = 0.0


@dataclass
class Partition:
    topic: str
    index: int
    log: PartitionLog
    broker_id: int
    role: str = NONE
    leader_id: int = -1
    leader_epoch: int = -1
    partition_epoch: int = -1
    replicas: tuple = ()
    isr: tuple = ()
    min_insync: int = 1
    epoch_start_offset: int = 0
    pending_isr: tuple | None = None  # an ISR change sent to the controller
    pending_since: float = 0.0
    followers: dict[int, FollowerState] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    @property
    def key(self) -> tuple[str, int]:
        return self.topic, self.index

    def describe(self) -> dict:
        lags = {b: (self.log.log_end_offset - s.fetch_offset if s.fetch_offset >= 0 else None)
                for b, s in sorted(self.followers.items())} if self.role == LEADER else {}
        return {"role": self.role, "leader": self.leader_id, "leader_epoch": self.leader_epoch,
                "partition_epoch": self.partition_epoch, "replicas": list(self.replicas),
                "isr": list(self.isr), "high_watermark": self.log.high_watermark,
                "log_end_offset": self.log.log_end_offset,
                "log_start_offset": self.log.log_start_offset, "follower_lag": lags}

    # --- roles ----------------------------------------------------------------------

    def make_leader(self, leader_epoch: int, partition_epoch: int, replicas, isr, min_insync: int,
                    now: float) -> bool:
        """Take (or keep) the leadership; True when this is a new term."""
        new_term = self.role != LEADER or leader_epoch != self.leader_epoch
        if not new_term and partition_epoch < self.partition_epoch:
            return False  # an older image than the change the controller answered
        self.partition_epoch, self.replicas, self.isr = partition_epoch, tuple(replicas), tuple(isr)
        self.min_insync = min_insync
        if self.pending_isr is not None and set(self.pending_isr) == set(self.isr):
            self.pending_isr = None
        if not new_term:
            return False
        self.log.enable_replication()
        self.log.become_leader(leader_epoch)
        self.role, self.leader_id, self.leader_epoch = LEADER, self.broker_id, leader_epoch
        self.epoch_start_offset = self.log.log_end_offset
        self.pending_isr = None
        # Every follower starts unknown, but in-sync members get a full lag
        # allowance from now (as Kafka resets lastCaughtUpTime).
        self.followers = {b: FollowerState(last_caught_up_time=now)
                          for b in self.replicas if b != self.broker_id}
        return True

    def make_follower(self, leader_id: int, leader_epoch: int, partition_epoch: int, replicas,
                      isr) -> bool:
        """Follow ``leader_id``; True when the leader or its epoch changed
        (the fetcher must then find the divergence point again)."""
        changed = (self.role != FOLLOWER or leader_id != self.leader_id
                   or leader_epoch != self.leader_epoch)
        self.partition_epoch, self.replicas, self.isr = partition_epoch, tuple(replicas), tuple(isr)
        if changed:
            self.log.enable_replication()
            self.role, self.leader_id, self.leader_epoch = FOLLOWER, leader_id, leader_epoch
            self.followers, self.pending_isr = {}, None
        return changed

    def make_none(self) -> None:
        self.role, self.leader_id, self.followers, self.pending_isr = NONE, -1, {}, None

    # --- the leader's bookkeeping ---------------------------------------------------

    @property
    def maximal_isr(self) -> tuple:
        if self.pending_isr is None:
            return self.isr
        return tuple(sorted(set(self.isr) | set(self.pending_isr)))

    def update_follower(self, broker_id: int, fetch_offset: int, now: float) -> None:
        state = self.followers.get(broker_id)
        if state is None:
            state = self.followers[broker_id] = FollowerState()
        leader_end = self.log.log_end_offset
        if fetch_offset >= leader_end:
            state.last_caught_up_time = now
        elif state.last_fetch_leader_end >= 0 and fetch_offset >= state.last_fetch_leader_end:
            state.last_caught_up_time = max(state.last_caught_up_time, state.last_fetch_time)
        state.fetch_offset = fetch_offset
        state.last_fetch_time, state.last_fetch_leader_end = now, leader_end

    def compute_high_watermark(self) -> int:
        """What every member of the maximal ISR holds durably (the leader's
        own fsynced end included); -1 while some member is unknown."""
        ends = [self.log.recovery_point]
        for b in self.maximal_isr:
            if b == self.broker_id:
                continue
            state = self.followers.get(b)
            if state is None or state.fetch_offset < 0:
                return -1
            ends.append(state.fetch_offset)
        return min(ends)

    def isr_to_shrink(self, now: float, max_lag: float) -> list[int]:
        return [b for b in self.isr if b != self.broker_id
                and now - self.followers.get(b, FollowerState()).last_caught_up_time > max_lag]

    def isr_to_expand(self) -> list[int]:
        hw = self.log.high_watermark
        out = []
        for b, state in self.followers.items():
            if b in self.isr or b not in self.replicas:
                continue
            if state.fetch_offset >= hw and state.fetch_offset >= self.epoch_start_offset:
                out.append(b)
        return out
