"""Where in the user's code an RDD was made: ``"wordcount.py:12"``.

Shown in ``toDebugString``, in stage names and in error messages, so a failure
points at the user's line, not at ember's internals.
"""

from __future__ import annotations

import os
import sys

_ember_dirs: tuple[str, ...] | None = None


def _internal_dirs() -> tuple[str, ...]:
    global _ember_dirs
    if _ember_dirs is None:
        engine_dir = os.path.dirname(os.path.abspath(__file__))
        root = os.path.dirname(engine_dir)
        # Installed: every package sits under <site>/ember/. Source tree: the
        # packages are sibling folders of ember/ (see setup.cfg).
        names = ("ember", "engine", "scheduler", "worker", "ingest", "driver", "streaming")
        if os.path.basename(engine_dir) == "engine" and os.path.basename(root) == "ember":
            _ember_dirs = (root + os.sep,)
        else:
            _ember_dirs = tuple(os.path.join(root, name) + os.sep for name in names)
    return _ember_dirs


def user_callsite(depth: int = 2) -> str:
    """``file:line`` of the innermost frame outside ember, e.g. ``job.py:7``."""
    return api_callsite(depth + 1)[1]


def api_callsite(depth: int = 2) -> tuple[str, str]:
    """(ember API called by the user, ``file:line`` of the call), e.g.
    ``("collect", "job.py:7")``: the outermost ember frame and its caller."""
    internal = _internal_dirs()
    frame = sys._getframe(depth)
    api = "<unknown>"
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(internal):
            return api, f"{os.path.basename(filename)}:{frame.f_lineno}"
        api = frame.f_code.co_name
        frame = frame.f_back
    return api, "<unknown>"
