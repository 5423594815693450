"""A controller quorum of real processes on one machine.

Starts N ``controller_server`` processes (``engine.wire.spawn``: bootstrap
and secret on stdin, stdin as the lifeline), each in its own directory under
``root``, bound to 127.0.0.1 on a port the kernel picks at its first start
and kept across restarts (peers keep reaching it at the same address).
Founding members are formatted with the initial voter set; a member
restarted with its directory wiped formats as a new incarnation and rejoins
as Raft's membership rule says (see ``raft``).

Used by the tests, the benchmarks, and ``local_cluster.LocalCluster``
(``LogStore.start_cluster``).
Every process is stopped by its PID: :meth:`stop` closes the lifelines,
waits, then SIGKILLs what is left.

Thread-safety: one owner.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from typing import Any

from ember.engine.wire import spawn
from ember.engine.wire.transport import new_secret
from ember.ingest.cluster.controller_client import ControllerClient
from ember.ingest.cluster.raft_storage import format_directory

MODULE = "ember.ingest.cluster.controller_server"


def signal_process(process: subprocess.Popen, signum: int) -> None:
    """Send ``signum`` to a member's process; after SIGKILL, reap it and
    close its lifeline (a local cluster's brokers are signalled the same way)."""
    os.kill(process.pid, signum)
    if signum == signal.SIGKILL:
        process.wait(10)
        try:
            process.stdin.close()
        except OSError:
            pass


class LocalQuorum:
    def __init__(self, root: str | os.PathLike, size: int = 3, *, secret: bytes | None = None,
                 timeouts: dict | None = None, settings: dict | None = None,
                 trace: bool = False, snapshot_every: int | None = None,
                 env: dict | None = None, cluster_id: str | None = None,
                 directories: dict[int, str] | None = None):
        self.root = os.fspath(root)
        self._directories = {int(k): os.fspath(v) for k, v in (directories or {}).items()}
        self.ids = list(range(1, size + 1))
        self.secret = secret or new_secret()
        self.cluster_id = cluster_id or f"ember-{secrets.token_hex(4)}"
        self._timeouts, self._settings = timeouts or {}, settings or {}
        self._trace, self._snapshot_every = trace, snapshot_every
        self._env = env
        self.processes: dict[int, subprocess.Popen | None] = {}
        self.addresses: dict[int, str] = {}
        self.incarnations: dict[int, str] = {}

    def directory(self, node: int) -> str:
        return self._directories.get(node) or os.path.join(self.root, f"controller-{node}")

    def trace_path(self, node: int) -> str:
        return os.path.join(self.root, f"trace-{node}.log")

    # --- lifecycle ----------------------------------------------------------------

    def start(self) -> "LocalQuorum":
        founders = {node: secrets.token_hex(8) for node in self.ids}
        for node in self.ids:
            format_directory(self.directory(node), self.cluster_id, node, founders,
                             incarnation=founders[node])
        try:
            for node in self.ids:
                self._spawn(node)
            self._send_peers(self.ids)
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, node: int, port: int = 0) -> None:
        boot: dict[str, Any] = {"secret": self.secret.hex(), "node_id": node,
                                "dir": self.directory(node), "cluster_id": self.cluster_id,
                                "port": port, "timeouts": self._timeouts,
                                "settings": self._settings}
        if self._trace:
            boot["trace"] = self.trace_path(node)
        if self._snapshot_every:
            boot["snapshot_every"] = self._snapshot_every
        env = spawn.child_environment(self._env)
        process = spawn.spawn(MODULE, ["--lifeline"], boot, stdout=subprocess.PIPE, env=env)
        self.processes[node] = process
        line = process.stdout.readline()
        try:
            answer = json.loads(line)
        except ValueError:
            answer = {"error": f"exited with {process.wait(10)} before answering"}
        if "error" in answer:
            spawn.end(process, kill=True)
            self.processes[node] = None
            raise RuntimeError(f"controller {node} did not start: {answer['error']}")
        self.addresses[node] = answer["address"]
        self.incarnations[node] = answer["incarnation"]

    def _send_peers(self, nodes) -> None:
        line = json.dumps({"peers": self.addresses}).encode() + b"\n"
        for node in nodes:
            process = self.processes.get(node)
            if process is not None and process.poll() is None:
                try:
                    process.stdin.write(line)
                    process.stdin.flush()
                except OSError:
                    pass

    def pid(self, node: int) -> int | None:
        process = self.processes.get(node)
        return process.pid if process is not None and process.poll() is None else None

    def pids(self) -> dict[int, int]:
        return {node: p.pid for node, p in self.processes.items() if p is not None}

    def kill(self, node: int, signum: int = signal.SIGKILL) -> None:
        """Send ``signum`` to the member's process (SIGKILL: it is gone, and
        reaped here; SIGSTOP/SIGCONT: paused and resumed)."""
        signal_process(self.processes[node], signum)
        if signum == signal.SIGKILL:
            self.processes[node] = None

    def restart(self, node: int, *, wipe: bool = False) -> None:
        """Start a member whose process is gone, at its old address; with
        ``wipe``, its directory is deleted first and it is formatted anew."""
        if self.processes.get(node) is not None:
            raise RuntimeError(f"controller {node} is still running")
        if wipe:
            shutil.rmtree(self.directory(node), ignore_errors=True)
            format_directory(self.directory(node), self.cluster_id, node)
        port = int(self.addresses[node].rsplit(":", 1)[1])
        self._spawn(node, port=port)
        self._send_peers([node])

    def stop(self) -> None:
        for node, process in list(self.processes.items()):
            if process is None:
                continue
            try:
                os.kill(process.pid, signal.SIGCONT)  # a paused member cannot read its EOF
            except ProcessLookupError:
                pass
            spawn.end(process, timeout=10)
            if process.stdout is not None:
                process.stdout.close()
            self.processes[node] = None

    def __enter__(self) -> "LocalQuorum":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # --- observing ----------------------------------------------------------------

    def client(self, **options) -> ControllerClient:
        return ControllerClient(dict(self.addresses), self.secret, **options)

    def wait_for_active(self, client: ControllerClient, timeout: float = 30.0,
                        exclude: set[int] = frozenset()) -> int:
        """The id of the active controller, once one (not in ``exclude``) is."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for node in self.ids:
                if node in exclude or self.pid(node) is None:
                    continue
                try:
                    if client.ask(node, "describe", timeout=0.5)["active"]:
                        return node
                except Exception:  # noqa: BLE001 - not answering yet
                    pass
            time.sleep(0.02)
        raise TimeoutError(f"no active controller within {timeout:.0f} s")
