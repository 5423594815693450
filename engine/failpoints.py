"""Failpoints: named places where a test can make a process fail on purpose.

Off unless armed through the ``EMBER_FAILPOINTS`` environment variable of the
process (workers inherit the driver's environment, so a test sets it before
creating its Context). When the variable is unset, ``point()`` is one dict
lookup on an empty dict.

Syntax: a comma-separated list of ``[worker:]name=action[@hit]``:

* ``name``: the place, e.g. ``worker.before_result_send`` (see ``POINTS``).
* ``action``: ``kill`` (SIGKILL this process: a real, abrupt death),
  ``exit`` (``os._exit(1)``), ``sleep:<seconds>``, or ``raise`` (an OSError).
* ``@hit``: fire on the N-th time the point is reached in this process
  (default 1); ``@*`` fires every time.
* ``worker:``: fire only in the worker with that id (``w-1``); a respawned
  worker gets a new id, so a kill does not repeat forever.

Example: ``EMBER_FAILPOINTS="w-1:shuffle.mid_write=kill"``.
"""

from __future__ import annotations

import os
import signal
import threading
import time

POINTS = {
    "task.start": "a task attempt is about to compute its partition",
    "worker.before_result_send": "a task finished; its status update is not sent yet",
    "worker.after_result_send": "a task's status update was just handed to the socket",
    "shuffle.mid_write": "a map task wrote half of its data file",
    "shuffle.mid_fetch": "a reducer received part of the blocks it asked for",
    "shuffle.serve": "a shuffle service is about to answer a fetch request",
    "shuffle.read": "a shuffle block is about to be read from disk (locally or to serve it)",
    "output.mid_write": "a task wrote half of a saveAsTextFile part file",
    "streaming.before_log": "the driver is about to plan a batch and log its input to the checkpoint",
    "streaming.after_log": "a batch's input is in the checkpoint; the batch has not run",
    "streaming.after_output": "one output operation of a batch finished; the batch is not complete",
    "streaming.before_offset_commit": "a batch's outputs are done; its group offsets are not committed",
    "sql.mid_write": "a task inserted half of its partition's rows, not committed yet",
    "connect.source.mid_send": "a source connector's first half batch is in the topic, the rest not sent",
    "connect.source.after_send": "a source connector's records are in the topic, its position not stored",
    "connect.sink.mid_batch": "a sink connector inserted half a batch's rows, not committed yet",
}

_ENV = "EMBER_FAILPOINTS"
_armed: dict[str, tuple[str, str | None]] = {}
_hits: dict[str, int] = {}
_lock = threading.Lock()
_worker_id: str | None = None


def _parse(spec: str) -> dict[str, tuple[str, str | None]]:
    armed = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        head, _, action = item.partition("=")
        target, _, name = head.rpartition(":")
        if name not in POINTS or not action:
            raise ValueError(f"{_ENV}: bad failpoint {item!r}; known points: {', '.join(sorted(POINTS))}")
        armed[name] = (action, target or None)
    return armed


def configure(worker_id: str | None = None, spec: str | None = None) -> None:
    """Arm from ``spec`` (default: the environment) for this process."""
    global _worker_id, _armed
    _worker_id = worker_id
    _armed = _parse(os.environ.get(_ENV, "") if spec is None else spec)
    _hits.clear()


def point(name: str) -> None:
    """Reach the failpoint ``name``: fail here if a test armed it."""
    if not _armed:
        return
    entry = _armed.get(name)
    if entry is None:
        return
    action, target = entry
    if target is not None and target != _worker_id:
        return
    action, _, when = action.partition("@")
    with _lock:
        _hits[name] = _hits.get(name, 0) + 1
        count = _hits[name]
    if when != "*" and count != int(when or 1):
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "exit":
        os._exit(1)
    elif action.startswith("sleep:"):
        time.sleep(float(action.split(":", 1)[1]))
    elif action == "raise":
        raise OSError(f"failpoint {name} raised")


configure()
