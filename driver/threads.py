"""Threads that carry the driver's local properties (job group, job tags,
``setLocalProperty``) into the jobs they submit, as PySpark's do.

Local properties are per thread (``Context._local_properties``), so a plain
``threading.Thread`` starts with none. ``InheritableThread`` copies its
parent's when it is started; ``inheritable_thread_target(f)`` copies them
when it is called (decorate the target where the properties are the ones
wanted) and installs them in whichever thread runs ``f``.

Must not know: the scheduler, the wire.
"""

from __future__ import annotations

import functools
import threading
from typing import Any, Callable


def _snapshot() -> tuple[Any, dict]:
    from ember.driver.context import Context

    context = Context._active_spark_context
    return context, (dict(context._local_properties()) if context is not None else {})


def _install(context: Any, properties: dict) -> None:
    if context is not None:
        context._thread_state.properties = dict(properties)


class InheritableThread(threading.Thread):
    """A thread that runs with the local properties its parent had when it
    called ``start()``.

    >>> sc.setJobGroup("nightly", "reports")
    >>> seen = []
    >>> thread = InheritableThread(lambda: seen.append(sc.getLocalProperty("spark.jobGroup.id")))
    >>> thread.start(); thread.join(); seen
    ['nightly']
    >>> sc.setLocalProperty("spark.jobGroup.id", None)
    """

    def __init__(self, target: Callable | None = None, *args: Any, **kwargs: Any):
        self._inherited: tuple[Any, dict] = (None, {})
        target = target if target is not None else kwargs.pop("target", None)

        def run_with_properties(*a: Any, **k: Any) -> Any:
            _install(*self._inherited)
            return target(*a, **k) if target is not None else None

        super().__init__(*args, target=run_with_properties, **kwargs)

    def start(self) -> None:
        self._inherited = _snapshot()
        super().start()


def inheritable_thread_target(f: Any = None) -> Callable:
    """``f`` wrapped to run with the local properties of the thread calling
    this now. Given a SparkSession instead of a function, returns the
    decorator (PySpark's form for sessions).

    >>> sc.setLocalProperty("team", "search")
    >>> seen = []
    >>> target = inheritable_thread_target(lambda: seen.append(sc.getLocalProperty("team")))
    >>> sc.setLocalProperty("team", None)
    >>> thread = threading.Thread(target=target); thread.start(); thread.join(); seen
    ['search']
    """
    if f is None or not callable(f) or hasattr(f, "sparkContext"):
        return inheritable_thread_target  # a session, or called bare: the decorator
    context, properties = _snapshot()

    @functools.wraps(f)
    def with_properties(*args: Any, **kwargs: Any) -> Any:
        _install(context, properties)
        return f(*args, **kwargs)

    return with_properties
