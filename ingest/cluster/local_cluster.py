"""LocalCluster: a replicated log store of real processes on one machine.

Starts a controller quorum (``local_quorum.LocalQuorum``, one member per
directory for the first three directories) and one broker process per
directory (``python -m ember.ingest.server.broker --lifeline --node-id N
--cluster ...``), every one with the same secret, handed over on its stdin
pipe (never argv or the environment). In directory ``D`` of broker ``N``
(ids from 1), the broker keeps its logs in ``D/broker`` and a controller, if
``D`` holds one, its Raft log in ``D/controller``. Brokers bind 127.0.0.1
on ports the kernel picks at their first start, kept across restarts, so
clients and followers reach a restarted broker where they knew it.

For tests: ``env`` (every process) and ``node_env`` (one broker's, also
settable between restarts) arm the brokers' fault hooks; :meth:`kill`
(SIGKILL, or any signal: SIGSTOP then SIGCONT pauses a broker),
:meth:`stop_broker` (SIGTERM: a controlled shutdown), :meth:`restart` (with
its directory, or wiped), :meth:`add_broker` (one more broker joins the
running cluster), :meth:`describe` (what each broker knows of the
partitions it holds). Every
process is stopped by its PID: :meth:`stop` closes the brokers' lifelines
(each shuts down cleanly, in a controlled shutdown), then the quorum's.

Thread-safety: one owner.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import time
from typing import Mapping

from ember.engine.errors import BrokerUnavailableError
from ember.engine.wire import spawn
from ember.engine.wire.transport import new_secret
from ember.ingest.cluster.local_quorum import LocalQuorum, signal_process

BROKER_MODULE = "ember.ingest.server.broker"
MAX_CONTROLLERS = 3


class LocalCluster:
    def __init__(self, directories: list, *, replication_factor: int = 3,
                 secret: bytes | None = None, env: Mapping[str, str] | None = None,
                 broker_args: list[str] | None = None, controller_settings: dict | None = None,
                 kafka_listener: bool = False, startup_timeout: float = 60.0,
                 node_env: Mapping[int, Mapping[str, str]] | None = None):
        if not directories:
            raise ValueError("a cluster needs at least one directory (one broker each)")
        self.directories = [os.path.abspath(os.fspath(d)) for d in directories]
        if len(set(self.directories)) != len(self.directories):
            raise ValueError(f"every broker needs its own directory, got {directories!r}")
        if not isinstance(replication_factor, int) or not 1 <= replication_factor <= len(directories):
            raise ValueError(f"replication_factor={replication_factor!r}: expected 1 to the "
                             f"number of brokers ({len(directories)})")
        self.replication_factor = replication_factor
        self.secret = secret or new_secret()
        self.ids = list(range(1, len(self.directories) + 1))
        self._env = dict(env or {})
        self.node_env = {int(k): dict(v) for k, v in (node_env or {}).items()}
        self._broker_args = list(broker_args or [])
        self._kafka_listener = kafka_listener
        self._startup_timeout = startup_timeout
        controllers = min(MAX_CONTROLLERS, len(self.directories))
        self.quorum = LocalQuorum(
            self.directories[0], controllers, secret=self.secret, env=self._env,
            settings=controller_settings,
            directories={i + 1: os.path.join(self.directories[i], "controller")
                         for i in range(controllers)})
        self.processes: dict[int, subprocess.Popen | None] = {}
        self.addresses: dict[int, str] = {}
        self.kafka_addresses: dict[int, str | None] = {}

    def broker_directory(self, node: int) -> str:
        return os.path.join(self.directories[node - 1], "broker")

    @property
    def bootstrap(self) -> str:
        return ",".join(self.addresses[n] for n in self.ids if n in self.addresses)

    # --- lifecycle ----------------------------------------------------------------

    def start(self) -> "LocalCluster":
        try:
            self.quorum.start()
            pending = {node: self._spawn(node) for node in self.ids}
            for node, process in pending.items():
                self._await_ready(node, process)
            self.wait_for_brokers(self.ids, self._startup_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_for_brokers(self, nodes, timeout: float = 30.0) -> None:
        """Wait until every broker in ``nodes`` sees all of ``nodes``
        registered and unfenced (so topics may be placed on them)."""
        from ember.ingest.client.client import BrokerConnection

        wanted = {str(n) for n in nodes}
        deadline = time.monotonic() + timeout
        for node in nodes:
            conn = BrokerConnection(self.addresses[node], self.secret,
                                    connect_timeout=max(1.0, deadline - time.monotonic()),
                                    name="ember-cluster-start")
            try:
                while True:
                    try:
                        reply, _ = conn.request("metadata", {"topics": []}, timeout=2.0)
                        if wanted <= set(reply.get("brokers", {})):
                            break
                    except Exception:  # noqa: BLE001 - not answering yet
                        pass
                    if time.monotonic() >= deadline:
                        raise BrokerUnavailableError(
                            f"broker {node} did not see brokers {sorted(wanted)} registered "
                            f"within {timeout:g} s")
                    time.sleep(0.05)
            finally:
                conn.close()

    def _controllers(self) -> str:
        return ",".join(f"{node}@{address}" for node, address in sorted(self.quorum.addresses.items()))

    def _spawn(self, node: int, port: int = 0) -> subprocess.Popen:
        directory = self.broker_directory(node)
        os.makedirs(directory, exist_ok=True)
        args = ["--lifeline", "--dir", directory, "--host", "127.0.0.1", "--port", str(port),
                "--node-id", str(node), "--cluster", self._controllers(),
                "--default-replication-factor", str(self.replication_factor),
                *self._broker_args]
        if self._kafka_listener:
            kafka_port = 0
            if self.kafka_addresses.get(node):
                kafka_port = int(self.kafka_addresses[node].rsplit(":", 1)[1])
            args += ["--kafka-listener", f"127.0.0.1:{kafka_port}"]
        env = {**self._env, **self.node_env.get(node, {})}
        process = spawn.spawn(BROKER_MODULE, args, {"secret": self.secret.hex()},
                              env=spawn.child_environment(env), stdout=subprocess.PIPE)
        self.processes[node] = process
        return process

    def _await_ready(self, node: int, process: subprocess.Popen) -> None:
        deadline = time.monotonic() + self._startup_timeout
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BrokerUnavailableError(f"broker {node} did not report ready within "
                                                 f"{self._startup_timeout:g} s")
                readable, _, _ = select.select([process.stdout], [], [], left)
                if not readable:
                    continue
                line = process.stdout.readline()
                if not line:
                    raise BrokerUnavailableError(f"broker {node} exited during start-up "
                                                 f"(code {process.wait()})")
                try:
                    ready = json.loads(line)
                except ValueError:
                    continue
                if "address" not in ready:
                    raise BrokerUnavailableError(f"broker {node} did not start: "
                                                 f"{ready.get('error', 'no reason given')}")
                self.addresses[node] = ready["address"]
                self.kafka_addresses[node] = ready.get("kafka_address")
                return
        except BaseException:
            spawn.end(process, kill=True)
            self.processes[node] = None
            raise
        finally:
            process.stdout.close()

    def pid(self, node: int) -> int | None:
        process = self.processes.get(node)
        return process.pid if process is not None and process.poll() is None else None

    def alive(self) -> list[int]:
        return [node for node in self.ids if self.pid(node) is not None]

    def kill(self, node: int, signum: int = signal.SIGKILL) -> None:
        """Send ``signum`` to broker ``node`` (SIGKILL: it is gone and reaped;
        SIGSTOP/SIGCONT: paused and resumed)."""
        process = self.processes.get(node)
        if process is None:
            raise ValueError(f"broker {node} is not running")
        signal_process(process, signum)
        if signum == signal.SIGKILL:
            self.processes[node] = None

    def stop_broker(self, node: int, timeout: float = 30.0) -> None:
        """A clean stop of broker ``node``, as a service manager does it:
        SIGTERM, then wait for the broker's controlled shutdown (its
        leaderships move away before it exits)."""
        process = self.processes.get(node)
        if process is not None:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGTERM)
            spawn.end(process, timeout=timeout)
            self.processes[node] = None

    def restart(self, node: int, *, wipe: bool = False) -> None:
        """Start broker ``node`` again at its old address; with ``wipe`` its
        log directory is deleted first (a lost disk)."""
        if self.processes.get(node) is not None:
            raise RuntimeError(f"broker {node} is still running")
        if wipe:
            shutil.rmtree(self.broker_directory(node), ignore_errors=True)
        port = int(self.addresses[node].rsplit(":", 1)[1]) if node in self.addresses else 0
        self._await_ready(node, self._spawn(node, port))
        self.wait_for_brokers([node], self._startup_timeout)

    def add_broker(self, directory) -> int:
        """Start one more broker (the next node id, no controller) in
        ``directory`` and wait until every broker sees it registered; returns
        its id. It holds nothing until partitions are created on or
        reassigned to it."""
        directory = os.path.abspath(os.fspath(directory))
        if directory in self.directories:
            raise ValueError(f"every broker needs its own directory; {directory} is taken")
        self.directories.append(directory)
        node = len(self.directories)
        self.ids.append(node)
        self._await_ready(node, self._spawn(node))
        self.wait_for_brokers(self.alive(), self._startup_timeout)
        return node

    def stop(self) -> None:
        """Stop every broker (at once, each in a controlled shutdown), then
        the controller quorum."""
        running = [(node, p) for node, p in self.processes.items() if p is not None]
        for _, process in running:
            try:
                os.kill(process.pid, signal.SIGCONT)  # a paused broker cannot read its EOF
            except ProcessLookupError:
                pass
            try:
                process.stdin.close()
            except OSError:
                pass
        for node, process in running:
            spawn.end(process, timeout=30)
            self.processes[node] = None
        self.quorum.stop()

    def __enter__(self) -> "LocalCluster":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
