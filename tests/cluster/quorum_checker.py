"""A workload and a consistency checker for a controller quorum of processes.

The workload creates topics with unique names through the real client and
records each outcome: acknowledged, or unknown (no answer, or an answer that
a retry of an applied request would give). The checker then holds the
quorum to what Raft promises, from each member's apply trace (the
``trace`` hook of ``controller_server``):

* every member that applied index i applied the same entry there (same term,
  kind, and image digest after it), across restarts and snapshots;
* every acknowledged topic exists on every member at the end, and nothing
  exists that was not asked for;
* all members converge to the same image.
"""

from __future__ import annotations

import threading
import time

from ember.engine.errors import KafkaTimeoutError, NotControllerError, TopicAlreadyExistsError


class Workload:
    def __init__(self, quorum, prefix: str = "w"):
        self.quorum = quorum
        self.prefix = prefix
        self.acked: dict[str, int] = {}
        self.unknown: set[str] = set()
        self.attempted: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors: list[BaseException] = []
        self._count = 0

    def setup(self, client) -> None:
        client.request("register_broker", broker_id=1, incarnation="w", host="127.0.0.1", port=1)

    def create(self, client, name: str, timeout: float = 30.0) -> bool:
        self.attempted.add(name)
        try:
            client.request("create_topic", timeout=timeout, topic=name, assignment=[[1]])
        except (KafkaTimeoutError, NotControllerError, TopicAlreadyExistsError):
            self.unknown.add(name)
            return False
        self.acked[name] = time.monotonic()
        return True

    def start(self) -> "Workload":
        def run():
            client = self.quorum.client()
            try:
                while not self._stop.is_set():
                    self._count += 1
                    self.create(client, f"{self.prefix}-{self._count}")
                    time.sleep(0.01)
            except BaseException as error:  # noqa: BLE001 - reported by stop()
                self.errors.append(error)
            finally:
                client.close()

        self._thread = threading.Thread(target=run, name="quorum-workload", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)
        assert not self.errors, self.errors


def read_trace(path: str) -> tuple[dict[int, tuple], dict[int, str]]:
    """Index -> (term, kind, digest) applied, and index -> digest of
    installed snapshots; a member that applied one index twice (after a
    restart) must have applied the same thing."""
    applied: dict[int, tuple] = {}
    snapshots: dict[int, str] = {}
    try:
        with open(path) as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        return applied, snapshots
    for line in lines:
        parts = line.split()
        if parts[0] == "S":
            snapshots[int(parts[1])] = parts[3]
            continue
        index = int(parts[0])
        entry = (int(parts[1]), parts[2], parts[3])
        if applied.setdefault(index, entry) != entry:
            raise AssertionError(f"{path}: index {index} applied as {applied[index]} and later "
                                 f"as {entry}")
    return applied, snapshots


def check(quorum, workload: Workload, timeout: float = 60.0) -> dict:
    """Wait for every member to converge, then check the history."""
    client = quorum.client()
    try:
        deadline = time.monotonic() + timeout
        while True:
            states = {}
            for node in quorum.ids:
                try:
                    states[node] = client.ask(node, "describe", timeout=2)
                except Exception:  # noqa: BLE001 - restarting
                    pass
            digests = {(s["applied"], s["digest"]) for s in states.values()}
            if len(states) == len(quorum.ids) and len(digests) == 1:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"the members did not converge: "
                                     f"{ {n: (s['applied'], s['digest']) for n, s in states.items()} }")
            time.sleep(0.2)
    finally:
        client.close()
    traces = {node: read_trace(quorum.trace_path(node)) for node in quorum.ids}
    by_index: dict[int, tuple] = {}
    for node, (applied, _) in traces.items():
        for index, entry in applied.items():
            seen = by_index.setdefault(index, entry)
            if seen != entry:
                raise AssertionError(f"index {index}: member {node} applied {entry}, "
                                     f"another applied {seen}")
    for node, (_, snapshots) in traces.items():
        for index, digest in snapshots.items():
            if index in by_index and by_index[index][2] != digest:
                raise AssertionError(f"member {node} installed a snapshot at {index} with digest "
                                     f"{digest}; members applied {by_index[index][2]} there")
    image = next(iter(states.values()))["image"]
    topics = {t["name"] for t in image["topics"]}
    lost = set(workload.acked) - topics
    assert not lost, f"acknowledged topics lost: {sorted(lost)}"
    phantom = topics - workload.attempted
    assert not phantom, f"topics nobody created: {sorted(phantom)}"
    return {"states": states, "indexes": len(by_index), "topics": topics}
