"""``python -m benchmarks controller``: the controller quorum's failover and commit latency.

For each engine, a 3-member quorum of real processes on loopback:

* **Election time after SIGKILL of the leader**: the leader is killed; the
  clock runs from the kill until a surviving member reports itself the
  active leader (ember: a ``describe`` answering ``active``, which also
  needs the new term's no-op committed; pysyncobj: a member reporting
  itself leader and ready). The killed member is restarted and the quorum
  settles before the next round. Reported: p50, p99 (nearest rank) and
  max over ``--repeat`` rounds.
* **Commit latency**: ``--commits`` writes one after another, each waited
  for (ember: a topic created through the active controller, measured at
  the client, so including the ZeroMQ round trip and the fsync of a
  majority; pysyncobj: a replicated dict's synchronous set, measured inside
  the leader's process, with no fsync at all).

Both engines use the same Raft timeouts: an election timeout drawn from
[1.0, 2.0] s and heartbeats every 0.15 s. ``--engines pysyncobj`` needs the
``bench`` extra.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.runner import RESULTS_DIR, describe_machine


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engines", default="ember,pysyncobj",
                        help="comma-separated: ember, pysyncobj (default both)")
    parser.add_argument("--repeat", type=int, default=20, help="leader kills per engine")
    parser.add_argument("--commits", type=int, default=200, help="sequential writes per engine")
    parser.add_argument("--out", type=Path, default=None,
                        help="results .json (default benchmarks/results/<date>-controller.json)")


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q * len(ordered) + 0.5)) - 1))]


def _summary(values: list[float]) -> dict:
    return {"n": len(values), "p50": statistics.median(values), "p99": _quantile(values, 0.99),
            "max": max(values), "min": min(values)}


# --- ember --------------------------------------------------------------------------


def _ember(repeat: int, commits: int, root: str) -> dict:
    from ember.ingest.cluster.local_quorum import LocalQuorum

    elections: list[float] = []
    with LocalQuorum(os.path.join(root, "ember"), 3) as quorum, quorum.client() as client:
        leader = quorum.wait_for_active(client, timeout=60)
        client.request("register_broker", broker_id=1, incarnation="bench", host="127.0.0.1", port=1)
        latencies = []
        for i in range(commits):
            started = time.perf_counter()
            client.request("create_topic", topic=f"bench-{i}", assignment=[[1]])
            latencies.append(time.perf_counter() - started)
        for round_ in range(repeat):
            killed_at = time.monotonic()
            quorum.kill(leader)
            new = quorum.wait_for_active(client, timeout=60, exclude={leader})
            elections.append(time.monotonic() - killed_at)
            print(f"  ember     round {round_ + 1}/{repeat}: {elections[-1]:.2f} s", flush=True)
            quorum.restart(leader)
            _settle_ember(quorum, client)
            leader = quorum.wait_for_active(client, timeout=60)
    return {"election_s": _summary(elections), "commit_s": _summary(latencies),
            "elections": elections}


def _settle_ember(quorum, client, timeout: float = 60.0) -> None:
    """Every member answers and has applied the same entries."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            states = [client.ask(node, "describe", timeout=1) for node in quorum.ids]
            if len({s["applied"] for s in states}) == 1 and any(s["active"] for s in states):
                return
        except Exception:  # noqa: BLE001 - still starting
            pass
        time.sleep(0.1)
    raise TimeoutError("the ember quorum did not settle")


# --- pysyncobj ----------------------------------------------------------------------


class _Member:
    def __init__(self, me: str, others: list[str], journal: str):
        self.me = me
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.pysyncobj_member", me, ",".join(others), journal],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True)
        assert json.loads(self.process.stdout.readline())["ready"]

    def ask(self, **command) -> dict:
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pysyncobj(repeat: int, commits: int, root: str) -> dict:
    addresses = [f"127.0.0.1:{_free_port()}" for _ in range(3)]
    directory = os.path.join(root, "pysyncobj")
    os.makedirs(directory)
    members: dict[str, _Member] = {}

    def start(address):
        members[address] = _Member(address, [a for a in addresses if a != address],
                                   os.path.join(directory, address.replace(":", "_") + ".journal"))

    def leader(exclude=(), timeout=60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for address, member in members.items():
                if address in exclude or member.process.poll() is not None:
                    continue
                status = member.ask(op="status")
                if status["leader"] == address and status["ready"]:
                    return address
            time.sleep(0.02)
        raise TimeoutError("pysyncobj elected no leader")

    elections: list[float] = []
    try:
        for address in addresses:
            start(address)
        current = leader()
        latencies = members[current].ask(op="commit", n=commits)["latencies"]
        for round_ in range(repeat):
            killed_at = time.monotonic()
            members[current].stop()
            new = leader(exclude={current})
            elections.append(time.monotonic() - killed_at)
            print(f"  pysyncobj round {round_ + 1}/{repeat}: {elections[-1]:.2f} s", flush=True)
            start(current)
            members[new].ask(op="commit", n=5)  # the restarted member is caught up again
            time.sleep(1.0)
            current = leader()
    finally:
        for member in members.values():
            member.stop()
    return {"election_s": _summary(elections), "commit_s": _summary(latencies),
            "elections": elections}


ENGINES = {"ember": _ember, "pysyncobj": _pysyncobj}


def run(args) -> int:
    engines = [name.strip() for name in args.engines.split(",") if name.strip()]
    unknown = [name for name in engines if name not in ENGINES]
    if unknown or not engines:
        print(f"unknown engines {unknown}; choose from {', '.join(ENGINES)}", file=sys.stderr)
        return 2
    root = tempfile.mkdtemp(prefix="ember-bench-controller-")
    results = {"machine": describe_machine(), "repeat": args.repeat, "commits": args.commits,
               "engines": {}}
    try:
        for name in engines:
            print(f"{name}: {args.commits} commits, then {args.repeat} leader kills", flush=True)
            results["engines"][name] = ENGINES[name](args.repeat, args.commits, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    lines = ["| engine | election after leader SIGKILL p50 / p99 / max (s) | "
             "commit latency p50 / p99 (ms) |", "| --- | --- | --- |"]
    for name, result in results["engines"].items():
        e, c = result["election_s"], result["commit_s"]
        lines.append(f"| {name} | {e['p50']:.2f} / {e['p99']:.2f} / {e['max']:.2f} | "
                     f"{c['p50'] * 1000:.1f} / {c['p99'] * 1000:.1f} |")
    print("\n".join(lines))
    out = args.out or RESULTS_DIR / f"{time.strftime('%Y-%m-%d')}-controller.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(f"results: {out}")
    return 0
