"""Raft consensus for the controller quorum, as a pure state machine.

Messages in (:meth:`RaftNode.step`), time in (:meth:`RaftNode.tick`, reading
an injected ``engine.clock``), proposals in (:meth:`RaftNode.propose`);
messages out and committed entries out (:meth:`RaftNode.ready`). No sockets,
no threads: ``controller_server`` carries the messages, and the tests drive
several nodes through a simulated network.

Follows the Raft paper (Ongaro and Ousterhout, 2014), §5, with:

* **Persistence before sending** (§5, Figure 2): a new term and vote are
  durable before any message that reflects them is queued
  (``RaftStorage.set_term_vote``); appended entries are fsynced in
  :meth:`ready` before the messages of that round leave, and a leader counts
  its own entries toward a majority only once they are fsynced.
* **Election safety** (§5.2, §5.4.1): one vote per term, granted only to a
  candidate whose log is at least as up to date (last term, then last index).
* **Log matching and leader completeness** (§5.3, §5.4): a follower truncates
  only at a real conflict (same index, other term), never because a message
  is shorter or older than its log, and never below its commit index; a
  leader commits by counting replicas only entries of its own term (§5.4.2),
  so an entry of an earlier term is committed only by a later one of the
  leader's term (its first entry is a no-op for this reason).
* **Pre-vote** (Ongaro's thesis §9.6): a member whose election timer fires
  first asks whether a majority would vote for it, without raising its term.
  A member grants a pre-vote only if it has not heard from a leader within
  the minimum election timeout and the asker's log is up to date. A member
  cut off from the others therefore does not inflate its term and does not
  depose a healthy leader when it returns. Members also ignore real vote
  requests while they hear from a leader (thesis §4.2.3).
* **Check-quorum**: a leader that has not heard from a majority within the
  minimum election timeout steps down, so a leader cut off (or paused by
  SIGSTOP) stops believing it leads; it could not commit anything anyway,
  since its followers moved to a higher term.
* **Snapshots** (§7): the state machine's snapshot replaces the log's
  prefix; a follower too far behind receives the snapshot.
* **Membership by incarnation** (the rule for a wiped member, see
  ARCHITECTURE.md "Replication, phase 1"): a voter is a (node id,
  incarnation) pair, the incarnation being random per formatted directory.
  Votes and acknowledgements count only from the incarnations in the voter
  set, so a member that lost its disk (and with it its votes and its
  acknowledged entries) cannot be counted in any majority. It returns as an
  observer under a new incarnation, catches up, and the leader swaps it in
  with two single-server changes (thesis §4.1: remove the old incarnation,
  then add the new one), each committed before the next and only after the
  leader committed an entry of its own term. A voter set takes effect as
  soon as its entry is in a member's log.

Message fields (every message: ``type``, ``term``, ``from``, ``inc``: the
sender's term, node id and incarnation; ``raft_wire`` checks them)::

    pre_vote / vote          last_index, last_term  (pre_vote: term = the
                             term the sender would campaign in)
    pre_vote_resp / vote_resp  granted
    append                   prev_index, prev_term, entries [[i, t, k, d]...],
                             commit
    append_resp              success, match (on success) or hint (first index
                             to try next)
    snapshot                 index, sterm, config, state
    snapshot_resp            match

Thread-safety: one owner; not thread-safe.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from typing import Any

from ember.engine.clock import SYSTEM_CLOCK, Clock
from ember.engine.errors import ConfigError, NotControllerError
from ember.ingest.cluster.raft_storage import (
    COMMAND, CONFIG, NOOP, Entry, RaftStorage, Snapshot, config_of,
)

log = logging.getLogger(__name__)

FOLLOWER, PRE_CANDIDATE, CANDIDATE, LEADER = "follower", "pre-candidate", "candidate", "leader"


@dataclass(frozen=True)
class RaftTimeouts:
    """Seconds. A follower waits a random time in [election_timeout_min,
    election_timeout_max] without a leader before it asks for votes; a
    leader sends appends (heartbeats) every heartbeat_interval and steps down
    when a majority was silent for election_timeout_min."""

    election_timeout_min: float = 1.0
    election_timeout_max: float = 2.0
    heartbeat_interval: float = 0.15
    max_append_bytes: int = 1 << 20

    def __post_init__(self):
        if not 0 < self.heartbeat_interval < self.election_timeout_min <= self.election_timeout_max:
            raise ConfigError(f"Raft timeouts must satisfy 0 < heartbeat interval "
                             f"({self.heartbeat_interval}) < election timeout min "
                             f"({self.election_timeout_min}) <= max ({self.election_timeout_max})")


@dataclass
class _Progress:
    """The leader's view of one peer (§5.3: nextIndex and matchIndex)."""

    next_index: int
    match_index: int = 0
    last_heard: float = float("-inf")
    incarnation: str | None = None
    snapshot_sent_at: float = float("-inf")


@dataclass
class Ready:
    """What a round produced: messages to send (after the log is durable)
    and entries newly committed, in order."""

    messages: list[tuple[int, dict]] = field(default_factory=list)
    committed: list[Entry] = field(default_factory=list)
    snapshot: Snapshot | None = None  # installed from the leader: reset the state machine to it


class RaftNode:
    """One member. ``peers``: the node ids this member can reach (its address
    book), voters or not; the leader replicates to all of them."""

    def __init__(self, storage: RaftStorage, peers: set[int], *,
                 timeouts: RaftTimeouts = RaftTimeouts(), clock: Clock = SYSTEM_CLOCK,
                 rng: random.Random | None = None):
        self.storage = storage
        self.id = storage.node_id
        self.incarnation = storage.incarnation
        self.me = (self.id, self.incarnation)
        self.peers = set(peers) - {self.id}
        self.timeouts = timeouts
        self._clock = clock
        self._rng = rng or random.Random()
        self.role = FOLLOWER
        self.leader_id: int | None = None
        self.commit_index = storage.snapshot.index
        self._delivered = storage.snapshot.index  # committed entries handed out by ready()
        self._durable_index = storage.last_index
        self._outbox: list[tuple[int, dict]] = []
        self._installed: Snapshot | None = None
        self._progress: dict[int, _Progress] = {}
        self._votes: set[tuple[int, str]] = set()
        self._last_leader_contact = float("-inf")
        self._config_cache: tuple[int, tuple] | None = None
        self._next_heartbeat = 0.0
        self._reset_election_timer()

    # --- the voter set ------------------------------------------------------------

    @property
    def config(self) -> tuple:
        """The voter set in force: the last config entry in the log (committed
        or not), else the snapshot's."""
        last = self.storage.last_index
        if self._config_cache is not None and self._config_cache[0] == last:
            return self._config_cache[1]
        config = self._config_at(last)
        self._config_cache = (last, config)
        return config

    def _config_at(self, last: int) -> tuple:
        """The voter set after the log's entries up to ``last``: the last
        config entry among them, else the snapshot's."""
        for index in range(last, self.storage.first_index - 1, -1):
            entry = self.storage.entry(index)
            if entry.kind == CONFIG:
                return config_of(entry.data)
        return self.storage.snapshot.config

    def _pending_config_change(self) -> bool:
        for index in range(self.storage.last_index, self.commit_index, -1):
            if self.storage.entry(index).kind == CONFIG:
                return True
        return False

    def is_voter(self) -> bool:
        return self.me in self.config

    def _quorum(self) -> int:
        return len(self.config) // 2 + 1

    # --- timers -------------------------------------------------------------------

    def _now(self) -> float:
        return self._clock.monotonic()

    def _reset_election_timer(self) -> None:
        t = self.timeouts
        self._election_deadline = self._now() + self._rng.uniform(
            t.election_timeout_min, t.election_timeout_max)

    def tick(self) -> None:
        """Advance timers: elections, heartbeats, check-quorum, membership."""
        now = self._now()
        if self.role == LEADER:
            if not self._check_quorum(now):
                log.info("node %s: no majority heard within %.1fs in term %s; stepping down",
                         self.id, self.timeouts.election_timeout_min, self.storage.term)
                self._become_follower(self.storage.term, None)
                return
            if now >= self._next_heartbeat:
                self._next_heartbeat = now + self.timeouts.heartbeat_interval
                for peer in sorted(self.peers):
                    self._send_append(peer)
            self._manage_membership()
        elif now >= self._election_deadline:
            self._reset_election_timer()
            if self.is_voter():
                self._start_pre_vote()

    def _check_quorum(self, now: float) -> bool:
        window = now - self.timeouts.election_timeout_min
        heard = sum(1 for voter in self.config if voter == self.me or (
            voter[0] in self._progress and self._progress[voter[0]].incarnation == voter[1]
            and self._progress[voter[0]].last_heard >= window))
        return heard >= self._quorum() or self._leader_since > window

    # --- elections ----------------------------------------------------------------

    def _log_up_to_date(self, last_index: int, last_term: int) -> bool:
        """§5.4.1: the asker's log is at least as up to date as ours."""
        mine = (self.storage.last_term, self.storage.last_index)
        return (last_term, last_index) >= mine

    def _in_lease(self) -> bool:
        """Heard from a leader within the minimum election timeout."""
        return (self.role == LEADER or self.leader_id is not None and
                self._now() - self._last_leader_contact < self.timeouts.election_timeout_min)

    def _start_pre_vote(self) -> None:
        self.role = PRE_CANDIDATE
        self.leader_id = None
        self._votes = {self.me}
        log.debug("node %s: pre-vote for term %s", self.id, self.storage.term + 1)
        if self._won():
            self._start_election()
            return
        for node, _ in self.config:
            if node != self.id:
                self._send(node, {"type": "pre_vote", "last_index": self.storage.last_index,
                                  "last_term": self.storage.last_term},
                           term=self.storage.term + 1)

    def _start_election(self) -> None:
        self.role = CANDIDATE
        self.leader_id = None
        self.storage.set_term_vote(self.storage.term + 1, self.me)
        self._votes = {self.me}
        self._reset_election_timer()
        log.info("node %s: campaigning in term %s", self.id, self.storage.term)
        if self._won():
            self._become_leader()
            return
        for node, _ in self.config:
            if node != self.id:
                self._send(node, {"type": "vote", "last_index": self.storage.last_index,
                                  "last_term": self.storage.last_term})

    def _won(self) -> bool:
        return len(self._votes & set(self.config)) >= self._quorum()

    def _become_follower(self, term: int, leader: int | None) -> None:
        if term > self.storage.term:
            self.storage.set_term_vote(term, None)
        if self.role == LEADER:
            self._progress.clear()
        self.role = FOLLOWER
        self.leader_id = leader
        self._reset_election_timer()

    def _become_leader(self) -> None:
        self.role = LEADER
        self.leader_id = self.id
        self._leader_since = self._now()
        last = self.storage.last_index
        self._progress = {peer: _Progress(next_index=last + 1) for peer in self.peers}
        log.info("node %s: leader of term %s", self.id, self.storage.term)
        self._append_local([(NOOP, None)])
        self._next_heartbeat = 0.0
        for peer in sorted(self.peers):
            self._send_append(peer)

    _leader_since = float("-inf")

    # --- proposals ----------------------------------------------------------------

    def propose(self, data: Any, kind: str = COMMAND) -> tuple[int, int]:
        """Append ``data`` as a new entry; returns its (index, term). It is
        committed once :meth:`ready` hands it out. NotControllerError unless
        this member leads."""
        if self.role != LEADER:
            raise NotControllerError(
                f"node {self.id} is not the leader (leader: {self.leader_id})")
        self._append_local([(kind, data)])
        for peer in sorted(self.peers):
            progress = self._progress_of(peer)
            if progress.match_index >= progress.next_index - 1:
                self._send_append(peer)
        return self.storage.last_index, self.storage.term

    def _append_local(self, items: list[tuple[str, Any]]) -> None:
        start, term = self.storage.last_index + 1, self.storage.term
        self.storage.append([Entry(start + i, term, kind, data) for i, (kind, data) in enumerate(items)])

    # --- membership ---------------------------------------------------------------

    def _manage_membership(self) -> None:
        """Swap in members that returned under a new incarnation, one
        single-server change at a time (see the module docstring)."""
        if self.storage.term_at(self.commit_index) != self.storage.term:
            return  # nothing of this term committed yet (thesis §4.1 fix)
        if self._pending_config_change():
            return
        config = self.config
        voters = dict(config)
        for peer in sorted(self.peers):
            progress = self._progress.get(peer)
            if progress is None or progress.incarnation is None:
                continue
            caught_up = progress.match_index >= self.commit_index
            if peer in voters and voters[peer] != progress.incarnation and caught_up:
                new = tuple(v for v in config if v[0] != peer)
                log.warning("node %s: node %s returned as incarnation %s; removing its "
                            "old incarnation %s from the voters", self.id, peer,
                            progress.incarnation, voters[peer])
                self.propose([list(v) for v in new], kind=CONFIG)
                return
            if peer not in voters and caught_up and progress.last_heard >= self._now() - self.timeouts.election_timeout_min:
                new = config + ((peer, progress.incarnation),)
                log.warning("node %s: adding node %s (incarnation %s) to the voters",
                            self.id, peer, progress.incarnation)
                self.propose([list(v) for v in config_of(new)], kind=CONFIG)
                return

    # --- messages in --------------------------------------------------------------

    def step(self, message: dict) -> None:
        """Handle one message (already checked by ``raft_wire``)."""
        kind, term, sender = message["type"], message["term"], message["from"]
        if sender == self.id or sender not in self.peers:
            return
        if kind == "pre_vote":
            self._on_pre_vote(message)
            return
        if term > self.storage.term:
            if kind == "vote" and self._in_lease():
                return  # a leader is alive: do not let a returning member depose it
            if kind == "pre_vote_resp" and message["granted"]:
                pass  # a pre-vote grant carries the prospective term
            else:
                leader = sender if kind in ("append", "snapshot") else None
                self._become_follower(term, leader)
        elif term < self.storage.term:
            if kind in ("append", "snapshot", "vote"):
                # Tell a stale leader or candidate about the newer term.
                reply = {"append": "append_resp", "snapshot": "snapshot_resp",
                         "vote": "vote_resp"}[kind]
                self._send(sender, {"type": reply, "success": False, "granted": False,
                                    "hint": 0, "match": 0})
            return
        handler = getattr(self, f"_on_{kind}")
        handler(message)

    def _on_pre_vote(self, message: dict) -> None:
        granted = (message["term"] > self.storage.term and not self._in_lease()
                   and self._log_up_to_date(message["last_index"], message["last_term"]))
        # A grant answers in the prospective term; a refusal in ours.
        self._send(message["from"], {"type": "pre_vote_resp", "granted": granted},
                   term=message["term"] if granted else self.storage.term)

    def _on_pre_vote_resp(self, message: dict) -> None:
        if self.role != PRE_CANDIDATE or not message["granted"]:
            return
        if message["term"] != self.storage.term + 1:
            return
        self._votes.add((message["from"], message["inc"]))
        if self._won():
            self._start_election()

    def _on_vote(self, message: dict) -> None:
        candidate = (message["from"], message["inc"])
        granted = (self.storage.voted_for in (None, candidate) and self.role != LEADER
                   and self._log_up_to_date(message["last_index"], message["last_term"]))
        if granted:
            if self.storage.voted_for != candidate:
                self.storage.set_term_vote(self.storage.term, candidate)
            self._reset_election_timer()
        self._send(message["from"], {"type": "vote_resp", "granted": granted})

    def _on_vote_resp(self, message: dict) -> None:
        if self.role != CANDIDATE or not message["granted"]:
            return
        self._votes.add((message["from"], message["inc"]))
        if self._won():
            self._become_leader()

    def _heard_from_leader(self, leader: int) -> None:
        if self.role != FOLLOWER or self.leader_id != leader:
            self.role = FOLLOWER
            self.leader_id = leader
        self._last_leader_contact = self._now()
        self._reset_election_timer()

    def _on_append(self, message: dict) -> None:
        if self.role == LEADER:
            log.error("node %s: two leaders in term %s (%s and %s)", self.id, self.storage.term,
                      self.id, message["from"])
            return
        self._heard_from_leader(message["from"])
        prev_index, prev_term = message["prev_index"], message["prev_term"]
        entries = [Entry(*item) for item in message["entries"]]
        snapshot_index = self.storage.snapshot.index
        if prev_index < snapshot_index:
            # The prefix up to the snapshot is committed, hence the same here.
            entries = [e for e in entries if e.index > snapshot_index]
            prev_index, prev_term = snapshot_index, self.storage.snapshot.term
            if entries and entries[0].index != prev_index + 1:
                entries = []
        if prev_index > self.storage.last_index:
            self._reply_append(False, hint=self.storage.last_index + 1)
            return
        if self.storage.term_at(prev_index) != prev_term:
            # Skip back over the whole conflicting term at once.
            conflict_term = self.storage.term_at(prev_index)
            hint = prev_index
            while hint - 1 > max(self.commit_index, snapshot_index) and \
                    self.storage.term_at(hint - 1) == conflict_term:
                hint -= 1
            self._reply_append(False, hint=max(hint, self.commit_index + 1))
            return
        new = []
        for position, entry in enumerate(entries):
            existing = self.storage.term_at(entry.index)
            if existing is None:
                new = entries[position:]
                break
            if existing != entry.term:
                if entry.index <= self.commit_index:
                    log.critical("node %s: leader %s conflicts with committed entry %s",
                                 self.id, message["from"], entry.index)
                    return
                self.storage.truncate_from(entry.index)
                self._durable_index = min(self._durable_index, entry.index - 1)
                new = entries[position:]
                break
        self.storage.append(new)
        last_new = prev_index + len(entries)
        if message["commit"] > self.commit_index:
            self.commit_index = min(message["commit"], last_new)
        self._reply_append(True, match=last_new)

    def _reply_append(self, success: bool, *, match: int = 0, hint: int = 0) -> None:
        self._send(self.leader_id, {"type": "append_resp", "success": success,
                                    "match": match, "hint": hint})

    def _on_append_resp(self, message: dict) -> None:
        progress = self._response_from_peer(message)
        if progress is None:
            return
        if message["success"]:
            if message["match"] > progress.match_index:
                progress.match_index = message["match"]
            progress.next_index = max(progress.next_index, progress.match_index + 1)
            self._advance_commit()
            if progress.match_index < self.storage.last_index:
                self._send_append(message["from"])
        else:
            progress.next_index = max(progress.match_index + 1, min(message["hint"], progress.next_index - 1), 1)
            self._send_append(message["from"])

    def _response_from_peer(self, message: dict) -> _Progress | None:
        """The leader's progress record of a peer that answered (None when
        this member no longer leads)."""
        progress = self._progress.get(message["from"]) if self.role == LEADER else None
        if progress is None:
            return None
        progress.last_heard = self._now()
        incarnation = message["inc"]
        if progress.incarnation != incarnation:
            if progress.incarnation is not None:
                # The member lost its disk and returned: nothing it held counts.
                progress.match_index = 0
                progress.next_index = min(progress.next_index, self.storage.last_index + 1)
                progress.snapshot_sent_at = float("-inf")
            progress.incarnation = incarnation
        return progress

    def _on_snapshot(self, message: dict) -> None:
        self._heard_from_leader(message["from"])
        snapshot = Snapshot(message["index"], message["sterm"], config_of(message["config"]),
                            message["state"])
        if snapshot.index > self.commit_index:
            self.storage.install_snapshot(snapshot)
            self._config_cache = None
            self.commit_index = snapshot.index
            self._delivered = snapshot.index
            self._durable_index = self.storage.last_index
            self._installed = snapshot
        self._send(message["from"], {"type": "snapshot_resp",
                                     "match": max(snapshot.index, self.commit_index)})

    def _on_snapshot_resp(self, message: dict) -> None:
        progress = self._response_from_peer(message)
        if progress is None:
            return
        progress.match_index = max(progress.match_index, message["match"])
        progress.next_index = progress.match_index + 1
        progress.snapshot_sent_at = float("-inf")
        self._advance_commit()
        self._send_append(message["from"])

    # --- messages out -------------------------------------------------------------

    def _send(self, to: int | None, message: dict, term: int | None = None) -> None:
        if to is None:
            return
        message["term"] = self.storage.term if term is None else term
        message["from"] = self.id
        message["inc"] = self.incarnation
        self._outbox.append((to, message))

    def _progress_of(self, peer: int) -> _Progress:
        """A peer's progress, begun when the address book grew mid-term."""
        if peer not in self._progress:
            self._progress[peer] = _Progress(next_index=self.storage.last_index + 1)
        return self._progress[peer]

    def _send_append(self, peer: int) -> None:
        progress = self._progress_of(peer)
        storage = self.storage
        if progress.next_index <= storage.snapshot.index:
            # Too far behind: the entries it needs are compacted away.
            if self._now() - progress.snapshot_sent_at < self.timeouts.election_timeout_min:
                return  # one in flight; do not resend the whole state every heartbeat
            progress.snapshot_sent_at = self._now()
            snap = storage.snapshot
            self._send(peer, {"type": "snapshot", "index": snap.index, "sterm": snap.term,
                              "config": [list(v) for v in snap.config], "state": snap.state})
            return
        prev_index = progress.next_index - 1
        entries = storage.entries(progress.next_index, max_bytes=self.timeouts.max_append_bytes)
        self._send(peer, {"type": "append", "prev_index": prev_index,
                          "prev_term": storage.term_at(prev_index),
                          "entries": [e.encode() for e in entries],
                          "commit": self.commit_index})
        if entries and progress.match_index == prev_index:
            # Pipeline: the next round starts after what is in flight.
            progress.next_index = entries[-1].index + 1

    def _advance_commit(self) -> None:
        config = self.config
        for index in range(self.storage.last_index, self.commit_index, -1):
            if self.storage.term_at(index) != self.storage.term:
                break  # §5.4.2: only entries of the current term are committed by counting
            count = 0
            for node, incarnation in config:
                if (node, incarnation) == self.me:
                    count += self._durable_index >= index
                else:
                    progress = self._progress.get(node)
                    count += bool(progress and progress.incarnation == incarnation
                                  and progress.match_index >= index)
            if count >= self._quorum():
                self.commit_index = index
                break

    # --- output -------------------------------------------------------------------

    def has_ready(self) -> bool:
        """Whether :meth:`ready` has anything to hand out."""
        return bool(self._outbox) or self._installed is not None or self.commit_index > self._delivered

    def ready(self) -> Ready:
        """Make this round's log changes durable, then hand out the messages
        it produced and the entries committed since the last call."""
        self.storage.sync()
        self._durable_index = self.storage.last_index
        if self.role == LEADER:
            self._advance_commit()
        ready = Ready(messages=self._outbox, snapshot=self._installed)
        self._outbox, self._installed = [], None
        if self.commit_index > self._delivered:
            ready.committed = self.storage.entries(self._delivered + 1, self.commit_index + 1)
            self._delivered = self.commit_index
        return ready

    def compact(self, applied_index: int, state: Any) -> None:
        """The state machine is ``state`` after ``applied_index``: snapshot it
        and drop the entries it covers."""
        if applied_index <= self.storage.snapshot.index or applied_index > self._delivered:
            return
        self.storage.save_snapshot(applied_index, self.storage.term_at(applied_index),
                                   self._config_at(applied_index), state)
        self._config_cache = None

    def status(self) -> dict:
        return {"node_id": self.id, "incarnation": self.incarnation, "role": self.role,
                "term": self.storage.term, "leader_id": self.leader_id,
                "commit_index": self.commit_index, "last_index": self.storage.last_index,
                "snapshot_index": self.storage.snapshot.index,
                "voters": [list(v) for v in self.config]}
