"""The kinds of derived DStream: each only says how one batch's RDD is made
from its parents' RDDs (``_compute``), how far back it looks, and what it
must keep.

* ``TransformedDStream``: a driver-side function of the parents' RDDs of
  the same time (every map, filter, join, ... is one). Consecutive ones on a
  single parent are fused into one function, as PySpark fuses them, unless
  the earlier one is cached or checkpointed.
* ``UnionDStream``: the union of several streams' RDDs of the same time.
* ``WindowedDStream``: the union of the parent's RDDs in ``(t - window, t]``;
  the parent's RDDs are persisted, since every window reads them again.
* ``ReducedWindowedDStream``: ``reduceByKeyAndWindow`` with an inverse
  function: the previous window, minus the batches that left, plus those
  that entered (only when the window spans at least five slides; a shorter
  one is reduced whole, as PySpark does). Its RDDs are persisted and
  checkpointed: each depends on the one before.
* ``StateDStream``: ``updateStateByKey``: the previous state RDD (or the
  initial RDD) combined with the batch's new values. Persisted and
  checkpointed for the same reason.
* ``ForEachDStream``: an output operation; ``generate_job`` gives the batch's
  job (or None when the parent has no RDD for that time).

Invariant: every function a user gave runs with the batch time as a local
``datetime`` first; RDD operations inside run on the cluster as usual.
"""

from __future__ import annotations

import logging
import os
import shutil
from typing import Any, Callable

from ember.engine.api.rdd import RDD
from ember.engine.api.storage import StorageLevel
from ember.streaming.dstream import DStream
from ember.streaming.util import ms_to_datetime

log = logging.getLogger("ember.streaming")


def _union(sc: Any, rdds: list[RDD]) -> RDD:
    return rdds[0] if len(rdds) == 1 else sc.union(rdds)


class TransformedDStream(DStream):
    """``func(time, *rdds)`` of the parents' RDDs of each batch time."""

    def __init__(self, ssc: Any, parents: list[DStream], func: Callable, *,
                 empty_for_missing: bool = False):
        super().__init__(ssc, parents[0]._slide_ms, parents)
        self._func = func
        self._empty_for_missing = empty_for_missing

    @classmethod
    def following(cls, prev: DStream, func: Callable) -> "TransformedDStream":
        """A one-parent transform, fused with ``prev`` when that is one too."""
        if type(prev) is cls and len(prev._parents) == 1 and not prev.is_cached \
                and not prev.is_checkpointed and not prev._empty_for_missing:
            first = prev._func
            return cls(prev._ssc, prev._parents, lambda t, rdd: func(t, first(t, rdd)))
        return cls(prev._ssc, [prev], func)

    def _compute(self, time: int) -> RDD | None:
        rdds = [parent._get_or_compute(time) for parent in self._parents]
        if any(rdd is None for rdd in rdds):
            if not self._empty_for_missing:
                return None
            rdds = [rdd if rdd is not None else self._sc.emptyRDD() for rdd in rdds]
        return self._func(ms_to_datetime(time), *rdds)


class UnionDStream(DStream):
    """The union of several DStreams' RDDs of each batch time."""

    def __init__(self, ssc: Any, parents: list[DStream]):
        slides = {parent._slide_ms for parent in parents}
        if len(slides) > 1:
            raise ValueError("All DStreams should have same slide duration")
        super().__init__(ssc, parents[0]._slide_ms, parents)

    def _compute(self, time: int) -> RDD | None:
        rdds = [rdd for rdd in (p._get_or_compute(time) for p in self._parents) if rdd is not None]
        return _union(self._sc, rdds) if rdds else None


class WindowedDStream(DStream):
    """Every element of the parent's RDDs in a sliding window."""

    def __init__(self, parent: DStream, window_ms: int, slide_ms: int):
        if window_ms % parent._slide_ms or slide_ms % parent._slide_ms:
            raise ValueError(f"window ({window_ms} ms) and slide ({slide_ms} ms) must be "
                             f"multiples of the parent's slide ({parent._slide_ms} ms)")
        super().__init__(parent._ssc, slide_ms, [parent])
        self._window_ms = window_ms
        if parent._storage_level == StorageLevel.NONE:
            parent.persist(StorageLevel.MEMORY_ONLY)  # each window reads it again

    def _parent_remember_ms(self) -> int:
        return self._remember_ms + self._window_ms

    def _lookback_ms(self) -> int:
        return self._window_ms + super()._lookback_ms()

    def _compute(self, time: int) -> RDD | None:
        parent = self._parents[0]
        rdds = parent._slice_times(time - self._window_ms + parent._slide_ms, time)
        return _union(self._sc, rdds) if rdds else self._sc.emptyRDD()


class ReducedWindowedDStream(DStream):
    """``reduceByKeyAndWindow`` with an inverse function (see the module docstring)."""

    def __init__(self, reduced: DStream, reduce_func: Callable, inv_reduce_func: Callable,
                 window_ms: int, slide_ms: int):
        super().__init__(reduced._ssc, slide_ms, [reduced])
        self._reduce_func, self._inv_reduce_func = reduce_func, inv_reduce_func
        self._window_ms = window_ms
        self._storage_level = StorageLevel.MEMORY_ONLY
        self._must_checkpoint = True

    def _parent_remember_ms(self) -> int:
        return self._remember_ms + self._window_ms

    def _lookback_ms(self) -> int:
        return self._window_ms + self._slide_ms + super()._lookback_ms()

    def _compute(self, time: int) -> RDD | None:
        parent, when = self._parents[0], ms_to_datetime(time)
        window, slide, step = self._window_ms, self._slide_ms, self._parents[0]._slide_ms
        previous = time - slide
        previous_rdd = self._get_or_compute(previous)
        if previous_rdd is not None and window >= 5 * slide:
            old = parent._slice_times(previous - window + step, time - window)
            subtracted = (self._inv_reduce_func(when, previous_rdd, _union(self._sc, old))
                          if old else previous_rdd)
            new = parent._slice_times(previous + step, time)
            return (self._reduce_func(when, subtracted, _union(self._sc, new))
                    if new else subtracted)
        current = parent._slice_times(time - window + step, time)
        return self._reduce_func(when, None, _union(self._sc, current)) if current else None


class StateDStream(DStream):
    """``updateStateByKey``: the previous state combined with each batch."""

    def __init__(self, parent: DStream, reduce_func: Callable, initial: RDD | None):
        super().__init__(parent._ssc, parent._slide_ms, [parent])
        self._reduce_func = reduce_func
        self._initial = initial
        self._storage_level = StorageLevel.MEMORY_ONLY
        self._must_checkpoint = True

    _RUNTIME = DStream._RUNTIME + ("_initial",)

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        # The initial RDD is read again from its records after a restart.
        state["_initial_records"] = (self._initial.collect() if self._initial is not None
                                     else None)
        return state

    def __setstate__(self, state: dict) -> None:
        records = state.pop("_initial_records", None)
        super().__setstate__(state)
        self._initial = None
        self._initial_pending = records

    def _attach(self) -> None:
        records = getattr(self, "_initial_pending", None)
        if records is not None:
            self._initial = self._sc.parallelize(records)
            self._initial_pending = None

    def _compute(self, time: int) -> RDD | None:
        last = self._get_or_compute(time - self._slide_ms)
        if last is None:
            last = self._initial
        rdd = self._parents[0]._get_or_compute(time)
        if rdd is None:
            return last
        return self._reduce_func(ms_to_datetime(time), last, rdd)


class OutputJob:
    """One output operation of one batch, run by the batch's thread."""

    def __init__(self, time: int, output: "ForEachDStream", rdd: RDD):
        self.time, self.output, self.rdd = time, output, rdd

    def run(self) -> None:
        self.output._func(ms_to_datetime(self.time), self.rdd)


class ForEachDStream(DStream):
    """An output operation: ``func(time, rdd)`` for each batch."""

    def __init__(self, parent: DStream, func: Callable, name: str):
        super().__init__(parent._ssc, parent._slide_ms, [parent])
        self._func = func
        self.op_name = name
        self._ssc._graph.add_output(self)

    def _compute(self, time: int) -> RDD | None:
        return None

    def description(self) -> str:
        return f"{self.op_name} at {self._callsite}"

    def generate_job(self, time: int) -> OutputJob | None:
        rdd = self._parents[0]._get_or_compute(time)
        return OutputJob(time, self, rdd) if rdd is not None else None


def save_text_files_once(rdd: RDD, path: str) -> None:
    """``rdd.saveAsTextFile(path)`` unless a run of the same batch committed it."""
    if os.path.exists(os.path.join(path, "_SUCCESS")):
        log.info("%s is already committed (by an earlier run of this batch): kept", path)
        return
    if os.path.exists(path):
        shutil.rmtree(path)  # the part files of an attempt that was cut short
    rdd.saveAsTextFile(path)
