"""A simulated network of Raft members for the core's tests.

Real ``RaftNode`` objects over real ``RaftStorage`` directories; only the
network and the clock are simulated: messages wait in a queue and are
delivered, dropped, delayed or cut by partitions as a seeded random source
decides, and one ``ManualClock`` is advanced in steps. A crash drops a
member's object (and the messages it had not sent) and reopens its directory;
a wipe also deletes the directory and formats a new incarnation.

Safety is checked on every step against what every member handed out as
committed, the oracle being the first entry committed at each index.
"""

from __future__ import annotations

import os
import random
import shutil

from ember.engine.clock import ManualClock
from ember.ingest.cluster.raft import LEADER, RaftNode, RaftTimeouts
from ember.ingest.cluster.raft_storage import COMMAND, RaftStorage, format_directory

CLUSTER = "sim"


class SafetyViolation(AssertionError):
    pass


class Simulation:
    def __init__(self, root, size: int = 3, seed: int = 0, *, drop: float = 0.0,
                 timeouts: RaftTimeouts = RaftTimeouts(), compact_every: int = 0):
        self.root = str(root)
        self.rng = random.Random(seed)
        self.clock = ManualClock(0.0)
        self.drop = drop
        self.timeouts = timeouts
        self.compact_every = compact_every
        self.ids = list(range(1, size + 1))
        incarnations = {node: f"inc-{node}-0" for node in self.ids}
        for node in self.ids:
            format_directory(self._dir(node), CLUSTER, node, initial_voters=incarnations,
                             incarnation=incarnations[node])
        self.nodes: dict[int, RaftNode | None] = {}
        self.states: dict[int, list] = {}  # the applied commands of each member's current life
        for node in self.ids:
            self._open(node)
        self.queue: list[tuple[float, int, dict]] = []
        self.cut: set[frozenset] = set()  # pairs that cannot talk
        self.committed: dict[int, tuple[int, str, object]] = {}  # index -> (term, kind, data)
        self.leaders_by_term: dict[int, set] = {}
        self.wipes = 0

    def _dir(self, node: int) -> str:
        return os.path.join(self.root, f"n{node}")

    def _open(self, node: int) -> None:
        storage = RaftStorage.open(self._dir(node), durable=False)
        self.nodes[node] = RaftNode(storage, set(self.ids), timeouts=self.timeouts,
                                    clock=self.clock, rng=random.Random(self.rng.random()))
        snap = storage.snapshot
        self.states[node] = list(snap.state) if snap.state is not None else []

    # --- faults -------------------------------------------------------------------

    def crash(self, node: int) -> None:
        self.nodes[node].storage.close()
        self.nodes[node] = None
        self.queue = [m for m in self.queue if m[1] != node]

    def restart(self, node: int) -> None:
        self._open(node)

    def wipe(self, node: int) -> None:
        if self.nodes[node] is not None:
            self.crash(node)
        shutil.rmtree(self._dir(node))
        self.wipes += 1
        format_directory(self._dir(node), CLUSTER, node, incarnation=f"inc-{node}-{self.wipes}")
        self._open(node)

    def partition(self, *groups) -> None:
        self.cut = {frozenset((a, b)) for g in groups for h in groups if g is not h
                    for a in g for b in h}

    def heal(self) -> None:
        self.cut = set()

    # --- running ------------------------------------------------------------------

    def leader(self) -> RaftNode | None:
        leaders = [n for n in self.nodes.values() if n is not None and n.role == LEADER]
        if not leaders:
            return None
        return max(leaders, key=lambda n: n.storage.term)

    def propose(self, data) -> tuple[int, int] | None:
        leader = self.leader()
        if leader is None:
            return None
        result = leader.propose(data)
        self._flush(leader)
        return result

    def step(self, dt: float = 0.05) -> None:
        self.clock.advance(dt)
        now = self.clock.monotonic()
        due = [m for m in self.queue if m[0] <= now]
        self.queue = [m for m in self.queue if m[0] > now]
        for _, to, message in due:
            node = self.nodes.get(to)
            if node is not None:
                node.step(dict(message))
                self._flush(node)
        for node in list(self.nodes.values()):
            if node is not None:
                node.tick()
                self._flush(node)

    def run(self, seconds: float, dt: float = 0.05) -> None:
        for _ in range(int(seconds / dt)):
            self.step(dt)

    def run_until(self, predicate, seconds: float = 60.0, dt: float = 0.05) -> bool:
        for _ in range(int(seconds / dt)):
            if predicate():
                return True
            self.step(dt)
        return bool(predicate())

    def _flush(self, node: RaftNode) -> None:
        ready = node.ready()
        if node.role == LEADER:
            self.leaders_by_term.setdefault(node.storage.term, set()).add(node.id)
            if len(self.leaders_by_term[node.storage.term]) > 1:
                raise SafetyViolation(f"two leaders in term {node.storage.term}: "
                                      f"{self.leaders_by_term[node.storage.term]}")
        if ready.snapshot is not None:
            self.states[node.id] = list(ready.snapshot.state or [])
        for entry in ready.committed:
            seen = self.committed.setdefault(entry.index, (entry.term, entry.kind, entry.data))
            if seen != (entry.term, entry.kind, entry.data):
                raise SafetyViolation(f"node {node.id} committed {entry} at {entry.index}, "
                                      f"another member committed {seen}")
            if entry.kind == COMMAND:
                self.states[node.id].append(entry.data)
        if self.compact_every and ready.committed:
            applied = ready.committed[-1].index
            if applied - node.storage.snapshot.index >= self.compact_every:
                node.compact(applied, list(self.states[node.id]))
        for to, message in ready.messages:
            if frozenset((node.id, to)) in self.cut or self.rng.random() < self.drop:
                continue
            delay = self.rng.uniform(0.001, 0.03)
            self.queue.append((self.clock.monotonic() + delay, to, message))

    def commands(self) -> list:
        """The committed commands in index order (the oracle's log)."""
        return [data for index, (term, kind, data) in sorted(self.committed.items())
                if kind == COMMAND]

    def close(self) -> None:
        for node in self.nodes.values():
            if node is not None:
                node.storage.close()
