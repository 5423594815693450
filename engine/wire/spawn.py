"""Starting and ending ember's child processes (workers, log store brokers).

One way to start one: ``python -m <module>`` (never a fork of the parent), in
its own session (a Ctrl-C in the terminal reaches only the parent), importing
the same ember as the parent, with a pinned ``PYTHONHASHSEED``. Its bootstrap,
secrets included, is one JSON line on its stdin, never argv or the
environment; the pipe then stays open as its lifeline: the child exits when it
reads EOF, which the kernel delivers however the parent ends (SIGKILL too).
A child that cannot start says why with ``report_start_failure``: one JSON
line to the parent, or a line on stderr when started by hand.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Mapping


def import_root() -> str:
    """The directory from which this process imported ember (the package
    ``ember`` is always loaded before its subpackages, so it is in
    ``sys.modules``)."""
    return os.path.dirname(os.path.dirname(os.path.abspath(sys.modules["ember"].__file__)))


def child_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PYTHONHASHSEED", "0")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (import_root(), env.get("PYTHONPATH")) if p)
    env.update(extra or {})
    return env


def spawn(module: str, args: list[str], bootstrap: dict, *, env: Mapping[str, str] | None = None,
          cwd: str | None = None, stdout: int | None = None) -> subprocess.Popen:
    """Start ``python -m module args...`` and hand it ``bootstrap`` on stdin."""
    process = subprocess.Popen([sys.executable, "-m", module, *args], stdin=subprocess.PIPE,
                               stdout=stdout, env=dict(env) if env is not None else child_environment(),
                               cwd=cwd, start_new_session=True, close_fds=True)
    try:
        process.stdin.write(json.dumps(bootstrap).encode() + b"\n")
        process.stdin.flush()
    except BrokenPipeError:
        pass  # it died at once; whoever waits for it learns why
    return process


def end(process: subprocess.Popen, *, kill: bool = False, timeout: float = 10.0) -> None:
    """Close the lifeline and reap the process (SIGKILL if it does not stop
    within ``timeout``, or at once with ``kill``)."""
    try:
        process.stdin.close()
    except OSError:
        pass
    try:
        if kill and process.poll() is None:
            process.kill()
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def report_start_failure(program: str, error: BaseException, lifeline: bool) -> int:
    """In a child that could not start: say why, as one JSON line
    ``{"error": ...}`` on stdout to the parent holding its lifeline, or as
    ``<program>: error: ...`` on stderr to a person who started it by hand.
    Returns the exit status, 1."""
    message = f"{type(error).__name__}: {error}"
    if lifeline:
        print(json.dumps({"error": message}), flush=True)
    else:
        print(f"{program}: error: {message}", file=sys.stderr, flush=True)
    return 1
