"""DStream: a stream as a sequence of RDDs, one per batch time, with
PySpark's ``DStream`` API.

A DStream has three properties (Spark's): the DStreams it depends on, its
slide duration (how often it makes an RDD), and ``_compute(time)``, which
makes the RDD of one batch time from its parents' RDDs of that time (or of
a window of times). ``_get_or_compute`` remembers what it made, so every
output of a batch, and every later window, sees the same RDD object;
``_clear_metadata`` forgets RDDs older than the stream's remember duration
(and unpersists them). The kinds live in ``dstreams.py``, the inputs in
``inputs.py`` and ``topic.py``; the methods below only build them, with
PySpark's arguments, defaults and errors.

Invariants:

* DStreams are made before the StreamingContext starts; afterwards (and
  after it stopped) making one raises ``StreamingStateError`` with Spark's
  message.
* A valid batch time of a stream is ``zero + k * slide`` (k >= 1); asking
  for any other time gives None, as in Spark.
* RDDs are generated under the graph's lock: the batch threads, ``slice``
  and recovery never build the same RDD twice.
* What is pickled into a checkpoint is the graph's shape and the user's
  functions; ``__getstate__`` drops the StreamingContext and every RDD.

User functions are called on the driver with the batch time as a local
``datetime`` (``transform``, ``foreachRDD``), or shipped in RDD
transformations to the workers, exactly as the RDD API ships them.
"""

from __future__ import annotations

import inspect
import math
import operator
import types
from itertools import chain
from typing import TYPE_CHECKING, Any, Callable, Iterable

from ember.engine.api.callsite import user_callsite
from ember.engine.api.rdd import RDD
from ember.engine.api.storage import StorageLevel
from ember.engine.data.hashing import portable_hash
from ember.streaming.util import duration_ms, ms_to_datetime, rddToFileName, time_argument_ms

if TYPE_CHECKING:
    from ember.streaming.context import StreamingContext

# A stateful stream without an explicit interval saves its RDDs every
# ceil(10 s / slide) slides (Spark's default).
DEFAULT_CHECKPOINT_MS = 10_000


def _arity(func: Callable, what: str) -> int:
    code = getattr(func, "__code__", None)
    if code is not None and not inspect.ismethod(func):
        return code.co_argcount
    try:
        return len([p for p in inspect.signature(func).parameters.values()
                    if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                    and p.default is p.empty])
    except (TypeError, ValueError):
        raise TypeError(f"{what}: expected a function, got {func!r}") from None


class DStream:
    """A discretized stream: one RDD per batch time (PySpark's ``DStream``).

    Made from a StreamingContext's inputs (``queueStream``, ``topicStream``,
    ``textFileStream``, ...) and from other DStreams by the methods below;
    an output operation (``foreachRDD``, ``pprint``, ``saveAsTextFiles``)
    makes the stream run once the context starts.
    """

    _name = "DStream"

    # DStream[str] in a type annotation, as PySpark's generic DStream allows
    __class_getitem__ = classmethod(types.GenericAlias)

    def __init__(self, ssc: "StreamingContext", slide_ms: int, parents: list["DStream"]):
        ssc._check_can_add()
        self._ssc = ssc
        self._parents = list(parents)
        self._slide_ms = slide_ms
        self._generated: dict[int, RDD] = {}
        self._zero: int | None = None
        self._remember_ms: int | None = None
        self._storage_level = StorageLevel.NONE
        self._checkpoint_ms: int | None = None
        self._must_checkpoint = False
        self._checkpointed: dict[int, tuple[str, int]] = {}
        self._callsite = user_callsite(3)
        self.is_cached = False
        self.is_checkpointed = False
        self._id = ssc._graph.add_stream(self)

    # --- what survives a checkpoint -------------------------------------------------

    _RUNTIME = ("_ssc", "_generated", "_checkpointed")

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        for name in self._RUNTIME:
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._ssc = None
        self._generated = {}
        self._checkpointed = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}[{self._id}] at {self._callsite}"

    # --- PySpark's properties ---------------------------------------------------------

    def context(self) -> "StreamingContext":
        """The StreamingContext this DStream belongs to."""
        return self._ssc

    @property
    def _sc(self):
        return self._ssc._sc

    @property
    def _slideDuration(self) -> float:
        """The slide duration of this DStream, in seconds."""
        return self._slide_ms / 1000.0

    # --- generating RDDs (the graph's lock is held by the callers) ----------------------

    def _compute(self, time: int) -> RDD | None:
        raise NotImplementedError

    def _is_time_valid(self, time: int) -> bool:
        return (self._zero is not None and time > self._zero
                and (time - self._zero) % self._slide_ms == 0)

    def _get_or_compute(self, time: int) -> RDD | None:
        with self._ssc._graph.lock:
            if time in self._generated:
                return self._generated[time]
            if not self._is_time_valid(time):
                return None
            rdd = self._compute(time)
            if rdd is None:
                return None
            if not isinstance(rdd, RDD):
                raise TypeError(f"{self!r}: a transform function must return an RDD, got "
                                f"{type(rdd).__name__} for batch time {time}")
            if self._storage_level != StorageLevel.NONE and \
                    rdd.getStorageLevel() == StorageLevel.NONE:
                rdd.persist(self._storage_level)
            if self._checkpoint_ms and (time - self._zero) % self._checkpoint_ms == 0 \
                    and not rdd.isCheckpointed():
                rdd.checkpoint()
            self._generated[time] = rdd
            return rdd

    def _slice_times(self, begin: int, end: int) -> list[RDD]:
        """The RDDs of the valid times in [begin, end], computed if needed."""
        if self._zero is None:
            raise RuntimeError(f"{self!r} has not been initialized: start the StreamingContext")
        first = begin if (begin - self._zero) % self._slide_ms == 0 else \
            self._zero + ((begin - self._zero) // self._slide_ms + 1) * self._slide_ms
        rdds = []
        for time in range(first, end + 1, self._slide_ms):
            rdd = self._get_or_compute(time)
            if rdd is not None:
                rdds.append(rdd)
        return rdds

    # --- lifecycle, driven by the graph -------------------------------------------------

    def _initialize(self, zero: int) -> None:
        if self._zero is not None and self._zero == zero:
            return
        self._zero = zero
        if self._must_checkpoint and self._checkpoint_ms is None:
            self._checkpoint_ms = self._slide_ms * math.ceil(DEFAULT_CHECKPOINT_MS / self._slide_ms)
        minimum = self._slide_ms
        if self._checkpoint_ms is not None:
            minimum = max(minimum, 2 * self._checkpoint_ms)
        if self._remember_ms is None or self._remember_ms < minimum:
            self._remember_ms = minimum
        for parent in self._parents:
            parent._initialize(zero)

    def _parent_remember_ms(self) -> int:
        return self._remember_ms

    def _remember(self, duration: int | None) -> None:
        if duration is not None and (self._remember_ms is None or duration > self._remember_ms):
            self._remember_ms = duration
        for parent in self._parents:
            parent._remember(self._parent_remember_ms())

    def _validate(self) -> None:
        if self._checkpoint_ms is not None and self._sc.getCheckpointDir() is None:
            raise ValueError("The checkpoint directory has not been set. Please set it by "
                             "StreamingContext.checkpoint().")
        if self._checkpoint_ms is not None and self._checkpoint_ms % self._slide_ms:
            raise ValueError(f"The checkpoint interval for {type(self).__name__} "
                             f"({self._checkpoint_ms} ms) must be a multiple of its slide "
                             f"duration ({self._slide_ms} ms)")
        for parent in self._parents:
            parent._validate()

    def _clear_metadata(self, time: int) -> None:
        """Forget (and unpersist) the RDDs older than the remember duration."""
        horizon = time - self._remember_ms
        for old in [t for t in self._generated if t <= horizon]:
            rdd = self._generated.pop(old)
            if self._storage_level != StorageLevel.NONE and not self._ssc._sc._stopped:
                rdd.unpersist()
        for parent in self._parents:
            parent._clear_metadata(time)

    def _lookback_ms(self) -> int:
        """How far back in time this stream's next RDD can reach into its inputs."""
        return max([p._lookback_ms() for p in self._parents] or [0])

    def _streams(self) -> list["DStream"]:
        """This stream and every stream it depends on, each once."""
        seen: dict[int, DStream] = {}
        stack: list[DStream] = [self]
        while stack:
            stream = stack.pop()
            if stream._id not in seen:
                seen[stream._id] = stream
                stack.extend(stream._parents)
        return list(seen.values())

    def _record_checkpoints(self) -> list[str]:
        """Note which remembered RDDs were saved; returns saved dirs no longer needed."""
        for time, rdd in self._generated.items():
            path = rdd._checkpoint_file  # a plain path: the saved dirs are removed by path
            if path is not None and time not in self._checkpointed:
                self._checkpointed[time] = (path, rdd.getNumPartitions())
        dropped = []
        for time in sorted(self._checkpointed)[:-3]:
            dropped.append(self._checkpointed.pop(time)[0])
        return dropped

    def _restore_checkpointed(self, entries: dict[int, tuple[str, int]]) -> None:
        from ember.engine.api.rdds import ReliableCheckpointRDD

        for time, (path, count) in sorted(entries.items()):
            self._checkpointed[time] = (path, count)
            self._generated[time] = ReliableCheckpointRDD(self._sc, path, count, self._callsite)

    # --- transformations (PySpark's) ----------------------------------------------------

    def count(self) -> "DStream":
        """A DStream whose RDDs hold one element: the count of each RDD of this one."""
        return self.mapPartitions(lambda i: [sum(1 for _ in i)]).reduce(operator.add)

    def filter(self, f: Callable[[Any], bool]) -> "DStream":
        """The elements that satisfy ``f``."""
        return self.mapPartitions(lambda iterator: filter(f, iterator), True)

    def flatMap(self, f: Callable[[Any], Iterable], preservesPartitioning: bool = False) -> "DStream":
        """``f`` applied to every element, the results flattened."""
        return self.mapPartitionsWithIndex(
            lambda _, iterator: chain.from_iterable(map(f, iterator)), preservesPartitioning)

    def map(self, f: Callable[[Any], Any], preservesPartitioning: bool = False) -> "DStream":
        """``f`` applied to every element."""
        return self.mapPartitions(lambda iterator: map(f, iterator), preservesPartitioning)

    def mapPartitions(self, f: Callable[[Iterable], Iterable],
                      preservesPartitioning: bool = False) -> "DStream":
        """``f`` applied to each partition of each RDD."""
        return self.mapPartitionsWithIndex(lambda _, iterator: f(iterator), preservesPartitioning)

    def mapPartitionsWithIndex(self, f: Callable[[int, Iterable], Iterable],
                               preservesPartitioning: bool = False) -> "DStream":
        """``f(partition index, iterator)`` applied to each partition of each RDD."""
        return self.transform(lambda rdd: rdd.mapPartitionsWithIndex(f, preservesPartitioning))

    def reduce(self, func: Callable[[Any, Any], Any]) -> "DStream":
        """A DStream whose RDDs hold one element: each RDD reduced with ``func``."""
        return self.map(lambda x: (None, x)).reduceByKey(func, 1).map(lambda x: x[1])

    def reduceByKey(self, func: Callable[[Any, Any], Any],
                    numPartitions: int | None = None) -> "DStream":
        """``reduceByKey`` on each RDD."""
        if numPartitions is None:
            numPartitions = self._sc.defaultParallelism
        return self.combineByKey(lambda x: x, func, func, numPartitions)

    def combineByKey(self, createCombiner: Callable, mergeValue: Callable,
                     mergeCombiners: Callable, numPartitions: int | None = None) -> "DStream":
        """``combineByKey`` on each RDD."""
        if numPartitions is None:
            numPartitions = self._sc.defaultParallelism
        return self.transform(lambda rdd: rdd.combineByKey(createCombiner, mergeValue,
                                                           mergeCombiners, numPartitions))

    def partitionBy(self, numPartitions: int,
                    partitionFunc: Callable[[Any], int] = portable_hash) -> "DStream":
        """Each RDD partitioned with ``partitionFunc`` into ``numPartitions``."""
        return self.transform(lambda rdd: rdd.partitionBy(numPartitions, partitionFunc))

    def mapValues(self, f: Callable[[Any], Any]) -> "DStream":
        """``f`` applied to each value of the (key, value) pairs, keys kept."""
        return self.map(lambda kv: (kv[0], f(kv[1])), preservesPartitioning=True)

    def flatMapValues(self, f: Callable[[Any], Iterable]) -> "DStream":
        """``f`` applied to each value, one pair per element of its result."""
        return self.flatMap(lambda kv: ((kv[0], x) for x in f(kv[1])),
                            preservesPartitioning=True)

    def glom(self) -> "DStream":
        """Each partition of each RDD as one list."""
        def to_list(iterator):
            yield list(iterator)

        return self.mapPartitions(to_list)

    def groupByKey(self, numPartitions: int | None = None) -> "DStream":
        """``groupByKey`` on each RDD."""
        if numPartitions is None:
            numPartitions = self._sc.defaultParallelism
        return self.transform(lambda rdd: rdd.groupByKey(numPartitions))

    def countByValue(self) -> "DStream":
        """(value, count) of each distinct value of each RDD."""
        return self.map(lambda x: (x, 1)).reduceByKey(lambda x, y: x + y)

    def repartition(self, numPartitions: int) -> "DStream":
        """Each RDD reshuffled into ``numPartitions`` partitions."""
        return self.transform(lambda rdd: rdd.repartition(numPartitions))

    def transform(self, func: Callable) -> "DStream":
        """``func(rdd)`` or ``func(time, rdd)`` applied to each RDD, on the
        driver; it must return an RDD."""
        from ember.streaming.dstreams import TransformedDStream

        arity = _arity(func, "transform")
        if arity == 1:
            one = func

            def func(_, rdd):
                return one(rdd)
        elif arity != 2:
            raise TypeError(f"transform: func should take one or two arguments (rdd, or time "
                            f"and rdd), it takes {arity}")
        return TransformedDStream.following(self, func)

    def transformWith(self, func: Callable, other: "DStream",
                      keepSerializer: bool = False) -> "DStream":
        """``func(rdd_a, rdd_b)`` or ``func(time, rdd_a, rdd_b)`` applied to the
        RDDs of this DStream and ``other`` of each batch time."""
        from ember.streaming.dstreams import TransformedDStream

        arity = _arity(func, "transformWith")
        if arity == 2:
            two = func

            def func(_, a, b):
                return two(a, b)
        elif arity != 3:
            raise TypeError(f"transformWith: func should take two or three arguments, it takes "
                            f"{arity}")
        self._check_same_context(other, "transformWith")
        return TransformedDStream(self._ssc, [self, other], func, empty_for_missing=True)

    def union(self, other: "DStream") -> "DStream":
        """The elements of this DStream and ``other`` (same slide duration)."""
        self._check_same_context(other, "union")
        if self._slide_ms != other._slide_ms:
            raise ValueError("the two DStream should have same slide duration")
        return self.transformWith(lambda a, b: a.union(b), other, True)

    def cogroup(self, other: "DStream", numPartitions: int | None = None) -> "DStream":
        """``cogroup`` of the RDDs of this DStream and ``other``."""
        if numPartitions is None:
            numPartitions = self._sc.defaultParallelism
        return self.transformWith(lambda a, b: a.cogroup(b, numPartitions), other)

    def join(self, other: "DStream", numPartitions: int | None = None) -> "DStream":
        """``join`` of the RDDs of this DStream and ``other``."""
        if numPartitions is None:
            numPartitions = self._sc.defaultParallelism
        return self.transformWith(lambda a, b: a.join(b, numPartitions), other)

    def leftOuterJoin(self, other: "DStream", numPartitions: int | None = None) -> "DStream":
        """``leftOuterJoin`` of the RDDs of this DStream and ``other``."""
        if numPartitions is None:
            numPartitions = self._sc.defaultParallelism
        return self.transformWith(lambda a, b: a.leftOuterJoin(b, numPartitions), other)

    def rightOuterJoin(self, other: "DStream", numPartitions: int | None = None) -> "DStream":
        """``rightOuterJoin`` of the RDDs of this DStream and ``other``."""
        if numPartitions is None:
            numPartitions = self._sc.defaultParallelism
        return self.transformWith(lambda a, b: a.rightOuterJoin(b, numPartitions), other)

    def fullOuterJoin(self, other: "DStream", numPartitions: int | None = None) -> "DStream":
        """``fullOuterJoin`` of the RDDs of this DStream and ``other``."""
        if numPartitions is None:
            numPartitions = self._sc.defaultParallelism
        return self.transformWith(lambda a, b: a.fullOuterJoin(b, numPartitions), other)

    def _check_same_context(self, other: Any, what: str) -> None:
        if not isinstance(other, DStream):
            raise TypeError(f"{what}: expected a DStream, got {type(other).__name__}")
        if other._ssc is not self._ssc:
            raise ValueError(f"{what}: both DStreams must belong to the same StreamingContext")

    # --- persistence and checkpoints ----------------------------------------------------

    def cache(self) -> "DStream":
        """Persist each RDD of this DStream at ``MEMORY_ONLY``."""
        return self.persist(StorageLevel.MEMORY_ONLY)

    def persist(self, storageLevel: StorageLevel) -> "DStream":
        """Persist each RDD of this DStream at ``storageLevel``."""
        if not isinstance(storageLevel, StorageLevel):
            raise TypeError(f"persist: storageLevel must be a StorageLevel, got {storageLevel!r}")
        self._ssc._check_can_add("persist")
        self.is_cached = True
        self._storage_level = storageLevel
        return self

    def checkpoint(self, interval: float) -> "DStream":
        """Save this DStream's RDDs every ``interval`` seconds (a multiple of
        its slide duration), cutting their lineage."""
        self._ssc._check_can_add("checkpoint")
        self.is_checkpointed = True
        self._checkpoint_ms = duration_ms(interval, "checkpoint interval")
        return self

    # --- windows --------------------------------------------------------------------------

    def slice(self, begin: Any, end: Any) -> list[RDD]:
        """The RDDs of the batch times from ``begin`` to ``end`` (both
        included): datetimes or unix timestamps in seconds."""
        begin_ms = time_argument_ms(begin, "slice: begin")
        end_ms = time_argument_ms(end, "slice: end")
        if end_ms < begin_ms:
            raise ValueError(f"slice: end ({end!r}) is before begin ({begin!r})")
        return self._slice_times(begin_ms, end_ms)

    def _validate_window_param(self, window: Any, slide: Any) -> None:
        window_ms = duration_ms(window, "windowDuration")
        if window_ms % self._slide_ms:
            raise ValueError(f"windowDuration must be multiple of the parent dstream's slide "
                             f"(batch) duration ({self._slide_ms} ms)")
        if slide is not None and duration_ms(slide, "slideDuration") % self._slide_ms:
            raise ValueError(f"slideDuration must be multiple of the parent dstream's slide "
                             f"(batch) duration ({self._slide_ms} ms)")

    def window(self, windowDuration: float, slideDuration: float | None = None) -> "DStream":
        """Every element seen in a sliding window: ``windowDuration`` long,
        every ``slideDuration`` (both multiples of this DStream's slide)."""
        from ember.streaming.dstreams import WindowedDStream

        self._validate_window_param(windowDuration, slideDuration)
        slide = self._slide_ms if slideDuration is None else duration_ms(slideDuration, "slide")
        return WindowedDStream(self, duration_ms(windowDuration, "windowDuration"), slide)

    def reduceByWindow(self, reduceFunc: Callable, invReduceFunc: Callable | None,
                       windowDuration: float, slideDuration: float) -> "DStream":
        """One element per window: its elements reduced with ``reduceFunc``;
        with ``invReduceFunc`` (its inverse), incrementally."""
        keyed = self.map(lambda x: (1, x))
        reduced = keyed.reduceByKeyAndWindow(reduceFunc, invReduceFunc, windowDuration,
                                             slideDuration, 1)
        return reduced.map(lambda kv: kv[1])

    def countByWindow(self, windowDuration: float, slideDuration: float) -> "DStream":
        """The number of elements in each window."""
        return self.map(lambda x: 1).reduceByWindow(operator.add, operator.sub,
                                                     windowDuration, slideDuration)

    def countByValueAndWindow(self, windowDuration: float, slideDuration: float,
                              numPartitions: int | None = None) -> "DStream":
        """(value, count) of each distinct value in each window."""
        keyed = self.map(lambda x: (x, 1))
        counted = keyed.reduceByKeyAndWindow(operator.add, operator.sub, windowDuration,
                                             slideDuration, numPartitions)
        return counted.filter(lambda kv: kv[1] > 0)

    def groupByKeyAndWindow(self, windowDuration: float, slideDuration: float,
                            numPartitions: int | None = None) -> "DStream":
        """``groupByKey`` over a sliding window."""
        from ember.engine.api.resultiterable import ResultIterable

        lists = self.mapValues(lambda x: [x])
        grouped = lists.reduceByKeyAndWindow(lambda a, b: a + b, lambda a, b: a[len(b):],
                                             windowDuration, slideDuration, numPartitions)
        return grouped.mapValues(ResultIterable)

    def reduceByKeyAndWindow(self, func: Callable, invFunc: Callable | None,
                             windowDuration: float, slideDuration: float | None = None,
                             numPartitions: int | None = None,
                             filterFunc: Callable | None = None) -> "DStream":
        """``reduceByKey`` over a sliding window. With ``invFunc`` (the inverse
        of ``func``) each window is the previous one plus the batches that
        entered minus those that left; ``filterFunc`` then drops pairs (keys
        whose value went back to nothing)."""
        from ember.streaming.dstreams import ReducedWindowedDStream

        self._validate_window_param(windowDuration, slideDuration)
        if numPartitions is None:
            numPartitions = self._sc.defaultParallelism
        reduced = self.reduceByKey(func, numPartitions)
        window_ms = duration_ms(windowDuration, "windowDuration")
        slide_ms = self._slide_ms if slideDuration is None else duration_ms(slideDuration,
                                                                              "slideDuration")
        if not invFunc:
            return reduced.window(windowDuration, slideDuration).reduceByKey(func, numPartitions)

        def reduce_func(_, a, b):
            b = b.reduceByKey(func, numPartitions)
            result = a.union(b).reduceByKey(func, numPartitions) if a is not None else b
            return result.filter(filterFunc) if filterFunc else result

        def inv_reduce_func(_, a, b):
            b = b.reduceByKey(func, numPartitions)
            joined = a.leftOuterJoin(b, numPartitions)
            return joined.mapValues(lambda kv: invFunc(kv[0], kv[1]) if kv[1] is not None
                                    else kv[0])

        return ReducedWindowedDStream(reduced, reduce_func, inv_reduce_func, window_ms, slide_ms)

    def updateStateByKey(self, updateFunc: Callable[[Iterable, Any], Any],
                         numPartitions: int | None = None, initialRDD: Any = None) -> "DStream":
        """A state per key, updated each batch: ``updateFunc(new values,
        previous state or None)`` returns the new state, or None to remove
        the key. ``initialRDD``: (key, state) pairs to start from."""
        from ember.streaming.dstreams import StateDStream

        if numPartitions is None:
            numPartitions = self._sc.defaultParallelism
        if initialRDD is not None and not isinstance(initialRDD, RDD):
            initialRDD = self._sc.parallelize(initialRDD)

        def reduce_func(_, a, b):
            if a is None:
                grouped = b.groupByKey(numPartitions).mapValues(lambda vs: (list(vs), None))
            else:
                grouped = a.cogroup(b.partitionBy(numPartitions), numPartitions)
                grouped = grouped.mapValues(
                    lambda ab: (list(ab[1]), list(ab[0])[0] if len(ab[0]) else None))
            state = grouped.mapValues(lambda vs_s: updateFunc(vs_s[0], vs_s[1]))
            return state.filter(lambda kv: kv[1] is not None)

        return StateDStream(self, reduce_func, initialRDD)

    # --- output operations ------------------------------------------------------------------

    def foreachRDD(self, func: Callable) -> None:
        """Run ``func(rdd)`` or ``func(time, rdd)`` on the driver for each RDD
        of this DStream: the output operation everything else is built on.

        Exactly-once output through ``foreachRDD``: store the batch's results
        and the offsets it read in one transaction, keyed by batch time, so a
        batch run again after a crash replaces what it wrote (see the
        ``ember.streaming`` module docs for the pattern with sqlite3).
        """
        from ember.streaming.dstreams import ForEachDStream

        arity = _arity(func, "foreachRDD")
        if arity == 1:
            one = func

            def func(_, rdd):
                return one(rdd)
        elif arity != 2:
            raise TypeError(f"foreachRDD: func should take one or two arguments (rdd, or time "
                            f"and rdd), it takes {arity}")
        ForEachDStream(self, func, "foreachRDD")

    def pprint(self, num: int = 10) -> None:
        """Print the first ``num`` elements of each RDD, under the batch time."""
        from ember.streaming.dstreams import ForEachDStream

        def take_and_print(time, rdd):
            taken = rdd.take(num + 1)
            print("-------------------------------------------")
            print("Time: %s" % time)
            print("-------------------------------------------")
            for record in taken[:num]:
                print(record)
            if len(taken) > num:
                print("...")
            print("")

        ForEachDStream(self, take_and_print, "pprint")

    def saveAsTextFiles(self, prefix: str, suffix: str | None = None) -> None:
        """Save each RDD as text files in the directory ``prefix-<batch time
        ms>[.suffix]``, committed once: a batch run again after a crash finds
        its directory committed (``_SUCCESS``) and leaves it, or finds the
        part files of an attempt cut short and writes it anew."""
        from ember.streaming.dstreams import ForEachDStream, save_text_files_once

        def save(time, rdd):
            save_text_files_once(rdd, rddToFileName(prefix, suffix, time))

        ForEachDStream(self, save, "saveAsTextFiles")


def as_datetime(time_ms: int):
    return ms_to_datetime(time_ms)


def __getattr__(name: str) -> Any:
    # PySpark's dstream module also holds the DStream ``transform`` makes;
    # ember's lives with the other derived streams, which import this module.
    if name == "TransformedDStream":
        from ember.streaming.dstreams import TransformedDStream
        return TransformedDStream
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
