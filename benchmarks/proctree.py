"""Running one child under watch: peak memory of its tree, timeout, clean-up.

The child starts in a session of its own, so everything it starts (a JVM,
PySpark's Python daemon and workers, Dask's pool, ember's workers) can be
found again even after it has been re-parented. Only those processes are
ever signalled, each by PID through psutil, which refuses a PID that has
since been reused.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field

import psutil

SAMPLE_INTERVAL_S = 0.04
_GRACE_S = 5.0


@dataclass
class Outcome:
    returncode: int | None
    timed_out: bool
    elapsed_s: float
    peak_rss_bytes: int
    peak_process_rss_bytes: int = 0   # the largest one process below the child (a worker)
    leftovers: list[str] = field(default_factory=list)   # "name(pid)" killed after exit


def _tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _rss(processes) -> list[int]:
    sizes = []
    for process in processes:
        try:
            sizes.append(process.memory_info().rss)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            sizes.append(0)
    return sizes


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _session_members(session: int) -> list[psutil.Process]:
    members = []
    for process in psutil.process_iter():
        try:
            if os.getsid(process.pid) == session and _alive(process):
                members.append(process)
        except (ProcessLookupError, PermissionError):
            pass
    return members


def _kill(processes) -> list[str]:
    killed = []
    for process in processes:
        try:
            name = process.name()
            process.kill()
            killed.append(f"{name}({process.pid})")
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(processes, timeout=_GRACE_S)
    return killed


def _outliving(root_pid: int, seen) -> list[psutil.Process]:
    """Descendants still running once the root has exited and had time to."""
    survivors = {p.pid: p for p in seen if p.pid != root_pid and _alive(p)}
    survivors.update((p.pid, p) for p in _session_members(root_pid))
    # Some engines' helpers exit asynchronously after their parent (a
    # shutdown hook, a lifeline noticing the parent is gone): give them the
    # chance before calling them left behind.
    _, still = psutil.wait_procs(list(survivors.values()), timeout=_GRACE_S)
    return [p for p in still if _alive(p)]


def run_watched(argv: list[str], *, env: dict, cwd: str, timeout_s: float,
                log_path: str) -> Outcome:
    started = time.perf_counter()
    with open(log_path, "wb") as log:
        child = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                 stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    root = psutil.Process(child.pid)
    seen: dict[int, psutil.Process] = {}
    peak = peak_process = 0
    timed_out = False
    try:
        while child.poll() is None:
            tree = _tree(root)
            seen.update((p.pid, p) for p in tree)
            sizes = _rss(tree)
            peak = max(peak, sum(sizes))
            peak_process = max(peak_process, *sizes[1:], 0)
            if time.perf_counter() - started > timeout_s:
                timed_out = True
                _kill(list(reversed(_tree(root))) or [root])
                break
            time.sleep(SAMPLE_INTERVAL_S)
    finally:
        # Reached on normal exit, timeout and Ctrl-C alike: nothing the child
        # started may outlive the run.
        if child.poll() is None:
            _kill([root])
        child.wait()
        leftovers = _kill(_outliving(child.pid, seen.values()))
    return Outcome(returncode=child.returncode, timed_out=timed_out,
                   elapsed_s=time.perf_counter() - started, peak_rss_bytes=peak,
                   peak_process_rss_bytes=peak_process,
                   leftovers=leftovers)
