"""Tools of the multi-host suite: hand-started workers, network namespaces.

``Processes`` owns every process a test starts (workers, drivers, brokers,
in the test's network namespace or in one of the fixture's): it stops them
at teardown, SIGTERM first so that they remove their files, then SIGKILL.

``Hosts`` builds a small network that exists only inside namespaces: one
"switch" namespace holding a bridge, and one namespace per host joined to
the bridge by a veth pair, each with an address of 10.213.7.0/24 and no
route anywhere else. ``cut(host)``/``heal(host)`` take the host's port on the
bridge down and up: a network partition, not a process failure.
``separate(host, others)``/``join(host, others)`` cut (and restore) only the
paths between ``host`` and ``others``, both ways, with blackhole routes in
each namespace, so the rest of the network still reaches every one of them.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

SUBNET = "10.213.7"


def run(*command: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()}")
    return done.stdout


def netns_unavailable() -> str | None:
    """Why namespaces cannot be used here, or None."""
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    if shutil.which("ip") is None:
        return "needs iproute2's ip command"
    probe = f"emberprobe{os.getpid()}"
    try:
        run("ip", "netns", "add", probe)
    except (RuntimeError, OSError) as error:
        return f"'ip netns add' does not work here: {error}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


class Hosts:
    """Namespaces ``<prefix>-<name>`` for each host, plus ``<prefix>-sw``."""

    def __init__(self, names: list[str]):
        self.prefix = f"ember{os.getpid()}"
        self.switch = f"{self.prefix}-sw"
        self.names = list(names)
        self.address = {name: f"{SUBNET}.{i + 1}" for i, name in enumerate(names)}
        self._made: list[str] = []

    def namespace(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def up(self) -> "Hosts":
        try:
            self._add(self.switch)
            run("ip", "-n", self.switch, "link", "add", "br0", "type", "bridge")
            run("ip", "-n", self.switch, "link", "set", "br0", "up")
            for index, name in enumerate(self.names):
                namespace = self.namespace(name)
                self._add(namespace)
                port = f"p{index}"
                run("ip", "-n", self.switch, "link", "add", port, "type", "veth", "peer", "name",
                    "eth0", "netns", namespace)
                run("ip", "-n", self.switch, "link", "set", port, "master", "br0")
                run("ip", "-n", self.switch, "link", "set", port, "up")
                run("ip", "-n", namespace, "addr", "add", f"{self.address[name]}/24", "dev", "eth0")
                run("ip", "-n", namespace, "link", "set", "eth0", "up")
                run("ip", "-n", namespace, "link", "set", "lo", "up")
        except BaseException:
            self.down()
            raise
        return self

    def _add(self, namespace: str) -> None:
        run("ip", "netns", "add", namespace)
        self._made.append(namespace)

    def down(self) -> None:
        for namespace in reversed(self._made):
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True)
        self._made.clear()

    def _port(self, name: str) -> str:
        return f"p{self.names.index(name)}"

    def cut(self, name: str) -> None:
        run("ip", "-n", self.switch, "link", "set", self._port(name), "down")

    def heal(self, name: str) -> None:
        run("ip", "-n", self.switch, "link", "set", self._port(name), "up")

    def _blackholes(self, action: str, name: str, others: list[str]) -> None:
        for here, there in [(name, other) for other in others] + [(other, name) for other in others]:
            run("ip", "-n", self.namespace(here), "route", action, "blackhole",
                f"{self.address[there]}/32")

    def separate(self, name: str, others: list[str]) -> None:
        """Drop every packet between ``name`` and each of ``others``."""
        self._blackholes("add", name, others)

    def join(self, name: str, others: list[str]) -> None:
        """Undo ``separate(name, others)``."""
        self._blackholes("del", name, others)

    def command(self, name: str | None, argv: list[str]) -> list[str]:
        """``argv`` run in host ``name``'s namespace (None: this one)."""
        return argv if name is None else ["ip", "netns", "exec", self.namespace(name), *argv]


class Processes:
    """Every process a test started; ``stop_all`` ends them all."""

    def __init__(self):
        self.started: list[subprocess.Popen] = []

    def start(self, argv: list[str], **options) -> subprocess.Popen:
        options.setdefault("stdout", subprocess.PIPE)
        options.setdefault("stderr", subprocess.PIPE)
        process = subprocess.Popen(argv, text=True, **options)
        self.started.append(process)
        return process

    def worker(self, driver: str, secret_file: str, cores: int = 1, hosts: Hosts | None = None,
               host: str | None = None, env: dict | None = None,
               flags: tuple = ()) -> subprocess.Popen:
        argv = [sys.executable, "-m", "ember", "worker", "--driver", driver, "--secret-file",
                str(secret_file), "--cores", str(cores), "--connect-timeout", "20", *flags]
        if hosts is not None:
            argv = hosts.command(host, argv)
        return self.start(argv, env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process in self.started:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            for stream in (process.stdin, process.stdout, process.stderr):
                if stream is not None:
                    stream.close()


def finish(process: subprocess.Popen, timeout: float) -> tuple[int, str, str]:
    """Wait for a process; its exit code, stdout and stderr."""
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out or "", err or ""
