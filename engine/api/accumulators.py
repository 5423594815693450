"""Accumulators: shared variables that tasks can only add to.

On the driver an ``Accumulator`` holds the value; shipped to a task (captured
by a closure) it unpickles as a fresh, zero-valued accumulator registered with
the running task's ``TaskContext``. What the task added travels home with its
result; the DAGScheduler applies it through the Context's
``AccumulatorRegistry``: once per partition for a result stage (an action), and
for every successful attempt of a map task (a transformation may therefore be
counted again when its partition is recomputed, as in Spark).

Thread-safety: the scheduler's loop applies updates while the user's thread
reads ``value``; each accumulator guards its value with a lock.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, Generic, TypeVar

from ember.engine.api.task_context import TaskContext

T = TypeVar("T")


class AccumulatorParam(Generic[T]):
    """How to add values of one type: subclass and define ``zero`` and ``addInPlace``.

    >>> class ListParam(AccumulatorParam):
    ...     def zero(self, value):
    ...         return []
    ...     def addInPlace(self, value1, value2):
    ...         value1.extend(value2)
    ...         return value1
    >>> acc = sc.accumulator([], ListParam())
    >>> sc.parallelize([1, 2, 3], 2).foreach(lambda x: acc.add([x]))
    >>> sorted(acc.value)
    [1, 2, 3]
    """

    def zero(self, value: T) -> T:
        raise NotImplementedError

    def addInPlace(self, value1: T, value2: T) -> T:
        raise NotImplementedError


class AddingAccumulatorParam(AccumulatorParam):
    """Adds with ``+=``, starting from a given zero (numbers)."""

    def __init__(self, zero_value: Any):
        self.zero_value = zero_value

    def zero(self, value: Any) -> Any:
        return self.zero_value

    def addInPlace(self, value1: Any, value2: Any) -> Any:
        value1 += value2
        return value1


INT_ACCUMULATOR_PARAM = AddingAccumulatorParam(0)
FLOAT_ACCUMULATOR_PARAM = AddingAccumulatorParam(0.0)
COMPLEX_ACCUMULATOR_PARAM = AddingAccumulatorParam(0.0j)


def default_param(value: Any) -> AccumulatorParam:
    if isinstance(value, bool) or not isinstance(value, (int, float, complex)):
        raise TypeError(f"No default accumulator param for type {type(value).__name__}; "
                        f"pass an AccumulatorParam (accumulator(value, accum_param))")
    if isinstance(value, int):
        return INT_ACCUMULATOR_PARAM
    return FLOAT_ACCUMULATOR_PARAM if isinstance(value, float) else COMPLEX_ACCUMULATOR_PARAM


def _rebuild_in_task(aid: int, zero: Any, accum_param: AccumulatorParam) -> "Accumulator":
    accumulator = Accumulator(aid, zero, accum_param)
    accumulator._in_task = True
    context = TaskContext.get()
    if context is not None:
        context._accumulators.append(accumulator)
    return accumulator


class Accumulator(Generic[T]):
    """A value tasks add to with ``add`` or ``+=``; only the driver reads it.

    >>> counter = sc.accumulator(0)
    >>> sc.parallelize([1, 2, 3, 4], 2).foreach(lambda x: counter.add(x))
    >>> counter.value
    10
    >>> counter += 5
    >>> counter
    Accumulator<id=..., value=15>
    """

    def __init__(self, aid: int, value: T, accum_param: AccumulatorParam[T]):
        self.aid = aid
        self.accum_param = accum_param
        self._value = value
        self._in_task = False
        self._lock = threading.Lock()

    def __reduce__(self):
        return _rebuild_in_task, (self.aid, self.accum_param.zero(self._value), self.accum_param)

    @property
    def value(self) -> T:
        if self._in_task:
            raise RuntimeError("Accumulator.value cannot be accessed inside tasks")
        with self._lock:
            return self._value

    @value.setter
    def value(self, value: T) -> None:
        if self._in_task:
            raise RuntimeError("Accumulator.value cannot be accessed inside tasks")
        with self._lock:
            self._value = value

    def add(self, term: T) -> None:
        with self._lock:
            self._value = self.accum_param.addInPlace(self._value, term)

    def __iadd__(self, term: T) -> "Accumulator[T]":
        self.add(term)
        return self

    def __str__(self) -> str:
        return str(self._value)

    def __repr__(self) -> str:
        return f"Accumulator<id={self.aid}, value={self._value}>"


class AccumulatorRegistry:
    """The driver's accumulators by id, held weakly: updates for an
    accumulator the program no longer references are dropped."""

    def __init__(self):
        self._accumulators: "weakref.WeakValueDictionary[int, Accumulator]" = weakref.WeakValueDictionary()
        self._next = 0
        self._lock = threading.Lock()

    def create(self, value: Any, accum_param: AccumulatorParam | None) -> Accumulator:
        param = accum_param if accum_param is not None else default_param(value)
        with self._lock:
            accumulator = Accumulator(self._next, value, param)
            self._accumulators[self._next] = accumulator
            self._next += 1
        return accumulator

    def apply(self, updates: dict) -> None:
        for aid, term in updates.items():
            accumulator = self._accumulators.get(aid)
            if accumulator is not None:
                accumulator.add(term)
