"""Test hooks of the broker process: named places where a test makes the
broker lose a reply or die, to reach a failure at an exact point.

Off unless armed through ``EMBER_BROKER_FAULTS`` in the broker's environment
(``LogStore.start(..., env={...})``); when unset, :func:`hit` is one dict
lookup on an empty dict. Syntax: comma-separated ``name[@N]``: the hook fires
on the N-th time (default 1) the broker reaches ``name``, and only then;
``name@*`` fires every time.

Kept apart from ``engine.failpoints`` because the actions differ (a lost
reply is not a process failure) and the broker's points are its own.

Thread-safety: thread-safe.
"""

from __future__ import annotations

import os
import signal
import threading

ENV = "EMBER_BROKER_FAULTS"
POINTS = {
    "produce.drop_reply": "a produce request was stored and fsynced; its reply is dropped",
    "produce.die_before_reply": "an acks=all produce was replicated to the in-sync replicas; "
                                "SIGKILL before its reply leaves",
    "offsets.before_rename": "a committed-offsets file was written under its temporary "
                             "name; SIGKILL before the rename",
    "replica_fetch.stall": "a leader answers its followers' fetches with no batches (and does "
                           "not count them as caught up): what it appends stays its own",
    "metadata.slow_apply": "every metadata image is applied 2 s after it arrived, as by a "
                           "broker slow to learn of the controller's decisions",
    "flush.slow_disk": "every group-commit round first waits 100 ms, as on a slow disk, so a "
                       "crash finds written but unsynced data more often",
}

_lock = threading.Lock()
_armed: dict[str, int] = {}
_hits: dict[str, int] = {}


def configure(spec: str | None = None) -> None:
    """Arm the hooks named in ``spec`` (default: the environment)."""
    armed = {}
    for item in filter(None, (part.strip() for part in
                              (os.environ.get(ENV, "") if spec is None else spec).split(","))):
        name, _, nth = item.partition("@")
        if name not in POINTS or not (nth == "*" or (nth or "1").isdigit()):
            raise ValueError(f"{ENV}: bad hook {item!r}; expected name[@N] or name@* with a "
                             f"name from {', '.join(sorted(POINTS))}")
        armed[name] = 0 if nth == "*" else int(nth or 1)
    with _lock:
        _armed.clear()
        _armed.update(armed)
        _hits.clear()


def hit(name: str) -> bool:
    """Reach hook ``name``: True exactly when a test armed it for this hit."""
    if name not in _armed:
        return False
    with _lock:
        _hits[name] = _hits.get(name, 0) + 1
        return _armed[name] in (0, _hits[name])


def die() -> None:
    """End the broker as abruptly as a power cut or an OOM kill would."""
    os.kill(os.getpid(), signal.SIGKILL)


configure()
