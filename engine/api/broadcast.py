"""Broadcast variables: a read-only value shipped to each worker once.

On the driver, ``Context.broadcast(value)`` pickles the value once into a file
under the Context's directory. A ``Broadcast`` captured by a task's closure
travels as (id, path) only; a worker loads the value from the file the first
time a task reads ``.value`` and keeps it for the process's later tasks
(``_loaded``). A worker on another host cannot read the driver's file: its
process installs a fetcher (``set_fetcher``) that asks the driver for the
pickled bytes over the authenticated driver connection instead.
``unpersist`` makes workers drop their copy (they load it again
if a later task needs it); ``destroy`` also deletes the file, after which the
broadcast cannot be used anywhere.

Thread-safety: ``_loaded`` is guarded by a lock; tasks in several slots of one
worker share one copy of each value.
"""

from __future__ import annotations

import os
import pickle
import threading
from typing import IO, Any, Callable, Generic, TypeVar

import cloudpickle

from ember.engine.io.fileio import atomic_writer
from ember.engine.wire.serializer import PROTOCOL

T = TypeVar("T")

_loaded: dict[int, Any] = {}  # this process's copies of broadcast values
_lock = threading.Lock()
# Set in a worker that shares no disk with its driver: id -> pickled value.
_fetcher: Callable[[int], bytes] | None = None


def set_fetcher(fetcher: Callable[[int], bytes] | None) -> None:
    """Read broadcast values through ``fetcher`` instead of the driver's files."""
    global _fetcher
    _fetcher = fetcher


def forget(broadcast_id: int) -> None:
    """Drop this process's copy of a broadcast value (unpersist/destroy)."""
    with _lock:
        _loaded.pop(broadcast_id, None)


def _in_task(broadcast_id: int, path: str) -> "Broadcast":
    broadcast = Broadcast.__new__(Broadcast)
    broadcast._init(broadcast_id, path, None, on_driver=False)
    return broadcast


class Broadcast(Generic[T]):
    """A broadcast variable, made with ``sc.broadcast(value)``.

    >>> numbers = sc.broadcast([1, 2, 3])
    >>> numbers.value
    [1, 2, 3]
    >>> sc.parallelize([0, 10], 2).flatMap(lambda x: [x + n for n in numbers.value]).collect()
    [1, 2, 3, 11, 12, 13]
    >>> numbers.unpersist()
    >>> numbers.destroy()
    """

    def __init__(self, sc: Any = None, value: T | None = None, pickle_registry: Any = None,
                 path: str | None = None, sock_file: Any = None):
        if sc is not None:  # the driver: the Context made it
            broadcast_id, path = sc._new_broadcast_file()
            with atomic_writer(path, durable=False) as handle:
                self.dump(value, handle)
            self._init(broadcast_id, path, value, on_driver=True)
            self._owner = sc
        elif path is not None:  # a value someone saved: read it lazily
            self._init(-1, path, None, on_driver=False)
        else:
            raise ValueError("Broadcast needs a Context (use sc.broadcast(value)) or a path")

    def _init(self, broadcast_id: int, path: str, value: Any, on_driver: bool) -> None:
        self._id = broadcast_id
        self._path = path
        self._value = value
        self._on_driver = on_driver
        self._destroyed = False

    def __reduce__(self):
        if self._destroyed:
            raise RuntimeError(f"Broadcast {self._id} was destroyed; it cannot be used in a task")
        return _in_task, (self._id, self._path)

    @property
    def id(self) -> int:
        return self._id

    @property
    def value(self) -> T:
        if self._destroyed:
            raise RuntimeError(f"Broadcast {self._id} was destroyed; its value is gone")
        if self._on_driver:
            return self._value
        with _lock:
            if self._id in _loaded:
                return _loaded[self._id]
        if _fetcher is not None and self._id >= 0:
            value = pickle.loads(_fetcher(self._id))
        else:
            value = self.load_from_path(self._path)
        if self._id >= 0:
            with _lock:
                value = _loaded.setdefault(self._id, value)
        return value

    def dump(self, value: T, f: IO[bytes]) -> None:
        """Write ``value`` to the open binary file ``f``."""
        try:
            cloudpickle.dump(value, f, protocol=PROTOCOL)
        except Exception as error:  # noqa: BLE001
            raise pickle.PicklingError(
                f"Could not serialize broadcast value of type {type(value).__name__}: {error}") from error

    def load_from_path(self, path: str) -> T:
        try:
            with open(path, "rb") as handle:
                return self.load(handle)
        except FileNotFoundError:
            raise RuntimeError(f"broadcast {self._id}: its data at {path} is gone (destroyed, or the "
                               f"Context that made it stopped)") from None

    def load(self, file: IO[bytes]) -> T:
        return pickle.load(file)

    def unpersist(self, blocking: bool = False) -> None:
        """Drop the workers' copies; a later task reloads the value."""
        if not self._on_driver:
            raise RuntimeError("Broadcast.unpersist and destroy work only on the driver")
        self._owner._release_broadcast(self._id)

    def destroy(self, blocking: bool = False) -> None:
        """Remove the value everywhere; the broadcast can no longer be used."""
        if self._destroyed:
            return
        self.unpersist(blocking)
        self._destroyed = True
        self._value = None
        try:
            os.unlink(self._path)
        except FileNotFoundError:
            pass

    def __repr__(self) -> str:
        return f"<Broadcast id={self._id}>"
