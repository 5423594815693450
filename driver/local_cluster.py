"""LocalCluster: the worker processes of a ``local[N]`` Context.

Spawns each worker as ``python -m ember.worker`` with ``engine.wire.spawn`` (never
a fork of the driver, so a driver script needs no ``if __name__ ==
"__main__"`` guard; own session; the cluster secret in the bootstrap on stdin,
whose pipe stays open as the worker's lifeline), in the driver's working
directory and with the driver's import path, so helper modules next to the
script import on the workers too.

Watches each process with a thread blocked in ``wait()``: a worker's death is
seen at once and reported through ``on_exit(worker_id, reason)``.

Thread-safety: ``start``/``stop``/``spawn`` are called by the Context's
thread; watcher threads only report.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from typing import Callable

from ember.engine.wire.spawn import child_environment, end, spawn


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        hint = " (possibly out of memory)" if -returncode == signal.SIGKILL else ""
        return f"killed by {name}{hint}"
    return f"exit code {returncode}"


class LocalCluster:
    def __init__(self, driver_address: str, secret: bytes, work_root: str,
                 on_exit: Callable[[str, str], None], cores: int = 1,
                 settings: dict | None = None):
        self.driver_address = driver_address
        self._secret = secret
        self.work_root = work_root
        self._on_exit = on_exit
        self.cores = cores
        self._settings = settings or {}
        self.processes: dict[str, subprocess.Popen] = {}
        self._next = 0
        self._stopping = False
        self._lock = threading.Lock()

    def _environment(self) -> dict[str, str]:
        return child_environment()

    def spawn(self) -> str:
        with self._lock:
            worker_id = f"w-{self._next}"
            self._next += 1
        work_dir = os.path.join(self.work_root, worker_id)
        os.makedirs(work_dir)
        bootstrap = {
            "worker_id": worker_id, "driver": self.driver_address, "secret": self._secret.hex(),
            "work_dir": work_dir, "cores": self.cores, "cwd": os.getcwd(),
            "sys_path": [os.path.abspath(p or ".") for p in sys.path if os.path.isdir(p or ".")],
            **self._settings,
        }
        process = spawn("ember.worker", [], bootstrap, env=self._environment(), cwd=os.getcwd())
        with self._lock:
            self.processes[worker_id] = process
        threading.Thread(target=self._watch, args=(worker_id, process), daemon=True,
                         name=f"ember-watch-{worker_id}").start()
        return worker_id

    def _watch(self, worker_id: str, process: subprocess.Popen) -> None:
        returncode = process.wait()
        if not self._stopping:
            self._on_exit(worker_id, describe_exit(returncode))

    def exited(self) -> dict[str, str]:
        """Workers that have exited, with the reason."""
        with self._lock:
            return {wid: describe_exit(p.returncode) for wid, p in self.processes.items()
                    if p.poll() is not None}

    def pids(self) -> dict[str, int]:
        with self._lock:
            return {wid: p.pid for wid, p in self.processes.items() if p.poll() is None}

    def kill(self, worker_id: str) -> None:
        """SIGKILL a worker and every process it started (a task's
        subprocesses), so that nothing it ran outlives it; its watcher then
        reports the exit."""
        with self._lock:
            process = self.processes.get(worker_id)
        if process is None or process.poll() is not None:
            return
        kill_tree(process.pid)

    def stop(self, timeout: float = 5.0) -> None:
        """Close every lifeline, then wait; SIGKILL what is still running."""
        self._stopping = True
        with self._lock:
            processes = list(self.processes.values())
        for process in processes:  # all lifelines first, so the workers stop together
            try:
                process.stdin.close()
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        for process in processes:
            end(process, timeout=max(0.0, deadline - time.monotonic()))


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and its descendants (listed first: once the parent is
    gone, its children are reparented and can no longer be found from it)."""
    import psutil

    try:
        parent = psutil.Process(pid)
        victims = parent.children(recursive=True) + [parent]
    except psutil.NoSuchProcess:
        return
    for victim in victims:
        try:
            victim.kill()
        except psutil.NoSuchProcess:
            pass
