"""User code on its way to the workers.

A ``Closure`` holds a function (or any object with user code in it, such as
a partition function) given to a transformation, and pickles it once, on the
driver, the first time a job needs it: in the user's thread, before any stage
is submitted. So an unpicklable closure fails early, in the caller's frame,
with a ``PicklingError`` naming the captured variable, its type and the
transformation (``map at job.py:12``); and a lineage used by many jobs is
pickled once, not once per job.

Capturing an RDD or the Context in a closure is refused while pickling user
code: both exist only on the driver (``in_user_code()`` is what RDD and Context
check).
"""

from __future__ import annotations

import pickle
import threading
from typing import Any

from ember.engine.errors import DriverOnlyError
from ember.engine.wire.serializer import dumps, loads, unpicklable_parts

_state = threading.local()


def in_user_code() -> bool:
    """True while the calling thread pickles user code for shipping."""
    return getattr(_state, "active", False)


class Closure:
    """A user function and the transformations it came from.

    ``ops`` lists ``(operation, callsite, function)`` for every user function
    folded into ``value`` (pipelined transformations fold several), so a
    pickling failure can be blamed on the right one.
    """

    __slots__ = ("value", "ops", "_frozen")

    def __init__(self, value: Any, ops: list[tuple[str, str, Any]]):
        self.value = value
        self.ops = ops
        self._frozen: bytes | None = None

    def freeze(self) -> bytes:
        if self._frozen is None:
            _state.active = True
            try:
                self._frozen = dumps(self.value)
            except Exception as error:  # noqa: BLE001 - re-raised with a diagnosis
                raise self._diagnose(error) from error
            finally:
                _state.active = False
        return self._frozen

    def _diagnose(self, error: Exception) -> Exception:
        if isinstance(error, DriverOnlyError):
            return error
        for op, callsite, function in self.ops:
            _state.active = True
            try:
                dumps(function)
                continue
            except Exception as inner:  # noqa: BLE001
                if isinstance(inner, DriverOnlyError):
                    return DriverOnlyError(f"{inner} (in the function given to {op} at {callsite})")
            finally:
                _state.active = False
            parts = unpicklable_parts(function)
            if parts:
                what = "; ".join(f"variable '{name}' of type {kind} ({reason})"
                                 for name, kind, reason in parts)
                advice = ""
                if any("pickle" in reason for _, _, reason in parts):
                    advice = (" Create such objects inside the function (or in mapPartitions, "
                              "once per partition) instead of capturing them.")
                return pickle.PicklingError(
                    f"Could not serialize the function given to {op} at {callsite}: "
                    f"it captures {what}.{advice}")
            return pickle.PicklingError(
                f"Could not serialize the function given to {op} at {callsite}: {error}")
        return pickle.PicklingError(f"Could not serialize a task's function: {error}")

    def __getstate__(self):
        return self.freeze(), [(op, callsite, None) for op, callsite, _ in self.ops]

    def __setstate__(self, state):
        frozen, ops = state
        self._frozen = frozen
        self.ops = ops
        self.value = loads(frozen)
