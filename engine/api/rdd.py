"""The RDD: an immutable, partitioned dataset defined by its lineage.

An RDD is five properties, and each kind of RDD (``ember.engine.api.rdds``) is a
small class that overrides only those:

* ``_get_partitions()``: the list of ``Partition`` objects (driver side).
* ``compute(split, context)``: an iterator over one partition (worker side).
* ``_get_dependencies()``: how it depends on parent RDDs
  (``ember.engine.api.dependency``); read through ``dependencies``, which answers
  with the checkpoint instead once the RDD is checkpointed.
* ``partitioner``: how its (key, value) records are partitioned, if known.
* ``preferred_locations(split)``: workers where a partition is cheap to compute.

This class also carries PySpark's public RDD API. Transformations build new
RDDs and run nothing; actions hand a job to the Context (``ctx._run_job``),
which the scheduler turns into tasks. Nothing here knows about the scheduler,
processes or sockets: an RDD reaches worker services only through the
``TaskContext`` passed to ``compute``.

What crosses the wire: an RDD is pickled into a stage's task binary without
its Context and its cached partition list (driver-only state). User functions
travel inside ``Closure`` objects that were pickled once on the driver. An RDD
captured by a user function is refused (it exists only on the driver).

Names, as PySpark gives them: an RDD's repr, ``toDebugString`` and the stage
it ends are named after the user's call that made it (``range at job.py:3``,
``distinct at job.py:4``, never an internal step such as the ``partitionBy``
inside ``distinct``), and ``id()`` is PySpark's number. PySpark numbers the
RDDs of its JVM as they are made: a narrow transformation's ``PipelinedRDD``
only when first needed (``id()``, ``repr``, ``cache``, a job), and some
operations make several JVM RDDs (a shuffle four, ``textFile`` two, each
action one for its own pipeline). ``id()`` counts the same way (the costs
are in ``_pyspark_numbered``'s callers, and ``_run``'s ``pyspark_ids``), so a
ported program sees the ids PySpark shows. ember's own key for an RDD
(cache blocks, stages, profiles) is ``_id``, fixed when it is made.
"""

from __future__ import annotations

import heapq
import itertools
import math
import os
import re
import sys
import types
import warnings
from collections import defaultdict
from functools import reduce
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from ember.engine.api.callsite import api_callsite, user_callsite
from ember.engine.wire.closure import Closure, in_user_code
from ember.engine.errors import DriverOnlyError
from ember.engine.util import guarded_filter, guarded_map
from ember.engine.data.hashing import portable_hash
from ember.engine.api.partitioner import Partitioner
from ember.engine.api.resultiterable import ResultIterable
from ember.engine.api.statcounter import StatCounter
from ember.engine.api.storage import StorageLevel

if TYPE_CHECKING:
    from ember.engine.api.approx import BoundedFloat
    from ember.engine.api.dependency import Dependency
    from ember.engine.api.task_context import TaskContext


class Partition:
    """One partition of an RDD. Kinds subclass it to carry what ``compute``
    needs (a slice of data, a file range, the parent partitions)."""

    __slots__ = ("index",)

    def __init__(self, index: int):
        self.index = index

    def __getstate__(self):
        return {slot: getattr(self, slot) for cls in type(self).__mro__
                for slot in getattr(cls, "__slots__", ())}

    def __setstate__(self, state):
        for key, value in state.items():
            setattr(self, key, value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.index})"


def _check_positive(name: str, value: Any, method: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{method}: {name} must be an int, got {type(value).__name__} {value!r}")
    if value <= 0:
        raise ValueError(f"{method}: {name} must be positive, got {value}")
    return value


class RDD:
    """A Resilient Distributed Dataset: PySpark's RDD API over ember's engine.

    >>> rdd = sc.parallelize([1, 2, 3, 4], 2)
    >>> rdd.map(lambda x: x * 10).collect()
    [10, 20, 30, 40]
    """

    # RDD[int] in a type annotation, as PySpark's generic RDD allows (evaluated
    # at run time in a script's top level).
    __class_getitem__ = classmethod(types.GenericAlias)

    # Attributes that exist only on the driver and never travel to a worker
    # (the partitioner may hold user code; workers read it from the shuffle
    # dependency, which ships it as a Closure).
    _DRIVER_ONLY = ("ctx", "_partitions", "partitioner", "_prepared", "_resource_profile")

    def __init__(self, ctx: Any, op: str, callsite: str | None = None):
        self.ctx = ctx
        self._id: int = ctx._next_rdd_id()
        self._op = op  # the step this RDD computes (partitionBy inside distinct)
        # The user's call that made it (distinct), and where.
        self._api, site = api_callsite(1)
        self._callsite = callsite if callsite is not None else site
        self._public_id: int | None = None  # PySpark's number, given by id()
        # The number of the PySpark RDD this one's functions were fused into.
        self._absorbed_id: int | None = None
        # What PySpark's RDD would read its JVM data with (rdd._jrdd_deserializer).
        self._jrdd_deserializer = ctx.serializer
        self._name: str | None = None
        self._partitions: list[Partition] | None = None
        self._storage_level = StorageLevel.NONE
        self.is_cached = False
        self.is_checkpointed = False
        self.partitioner: Partitioner | None = None
        self._prepared = False  # lineage checked and closures pickled (Context._prepare)
        self.has_resource_profile = False
        self._barrier = False  # computed by a barrier transformation (RDD.barrier())
        self._resource_profile: Any = None
        # Checkpoint state (ember.engine.io.checkpoint): the mode once marked
        # ("reliable" or "local"), a materializing job running, and the RDD
        # reading the checkpoint once materialized (the lineage ends there).
        self._checkpoint_mode: str | None = None
        self._checkpointing = False
        self._checkpoint_rdd: RDD | None = None
        self._checkpoint_file: str | None = None

    # --- the five properties --------------------------------------------------

    def _get_partitions(self) -> list[Partition]:
        raise NotImplementedError

    def compute(self, split: Partition, context: "TaskContext") -> Iterator:
        raise NotImplementedError

    def _get_dependencies(self) -> list["Dependency"]:
        return []

    def preferred_locations(self, split: Partition) -> list[str]:
        return []

    # --- engine plumbing ------------------------------------------------------

    @property
    def dependencies(self) -> list["Dependency"]:
        """The parents' dependencies; once checkpointed, only the checkpoint."""
        if self._checkpoint_rdd is not None:
            from ember.engine.api.dependency import OneToOneDependency

            return [OneToOneDependency(self._checkpoint_rdd)]
        return self._get_dependencies()

    @property
    def partitions(self) -> list[Partition]:
        if self._partitions is None:
            self._partitions = self._get_partitions()
        return self._partitions

    def iterator(self, split: Partition, context: "TaskContext") -> Iterator:
        """The records of one partition: from the checkpoint once checkpointed
        (its lineage is gone, so it is never recomputed, even when persisted),
        else from the cache if persisted."""
        if self._checkpoint_rdd is not None:
            return self._checkpoint_rdd.iterator(split, context)
        if self._storage_level != StorageLevel.NONE:  # equality: unpickled levels are copies
            return context._env.blocks.get_or_compute(self, split, context)
        return self.compute(split, context)

    def _closures(self) -> list[Closure]:
        """User code this RDD ships to workers (frozen before a job runs)."""
        return []

    def __getstate__(self):
        if in_user_code():
            raise DriverOnlyError(
                f"A function shipped to workers captures {self!r}. An RDD exists only on the "
                f"driver: transformations and actions cannot be used inside another "
                f"transformation (for example, rdd1.map(lambda x: rdd2.count() * x) is invalid; "
                f"collect or broadcast what the function needs instead).")
        state = self.__dict__.copy()
        for name in self._DRIVER_ONLY:
            state.pop(name, None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.ctx = None
        self._partitions = None
        self.partitioner = None

    def _require_driver(self):
        if self.ctx is None:
            raise DriverOnlyError(f"{self!r} is used on a worker; RDD operations run only on the driver")
        return self.ctx

    # --- identity and display -------------------------------------------------

    @property
    def context(self):
        """The Context this RDD was created on."""
        return self.ctx

    def id(self) -> int:
        """A unique id for this RDD within its Context, numbered as PySpark
        numbers its RDDs (see the module's docstring).

        >>> rdd = sc.parallelize(range(10))
        >>> first = rdd.id()
        >>> rdd.map(str).filter(bool).id() == first + 1  # one pipeline, one number
        True
        """
        if self._public_id is None:
            self._number()
        return self._public_id

    def _number(self) -> None:
        """Give this RDD PySpark's number, now that PySpark would make it."""
        self._pyspark_numbered()

    def _pyspark_numbered(self, *parents: "RDD", count: int = 1) -> None:
        """Number this RDD as PySpark does when it makes its JVM counterpart:
        its ``parents`` first, then ``count`` JVM RDDs, the last being this one."""
        for parent in parents:
            parent.id()
        self._public_id = self._require_driver()._new_public_ids(count)

    def _display_id(self) -> int:
        """The number to show for this RDD in a lineage, without numbering it
        when PySpark would not have (an RDD whose functions PySpark fused
        into the next one is shown with the number that one got)."""
        if self._public_id is not None:
            return self._public_id
        if self._absorbed_id is not None:
            return self._absorbed_id
        return self.id()

    def _pyspark_pipelinable(self) -> bool:
        """Would PySpark fuse this RDD's functions into the next narrow
        transformation (a PipelinedRDD not persisted, checkpointed or with a
        resource profile), so that it never numbers this one by itself?"""
        return False

    def _reserialize(self, serializer: Any = None) -> "RDD":
        """This RDD, read with ``serializer`` (the Context's by default): a
        copy through an identity map when its own differs (PySpark's)."""
        serializer = serializer or self._require_driver().serializer
        if self._jrdd_deserializer == serializer:
            return self
        copy = self.map(lambda x: x, preservesPartitioning=True)
        copy._jrdd_deserializer = serializer
        return copy

    def name(self) -> str | None:
        self.id()  # PySpark asks its JVM RDD, which numbers it
        return self._name

    def setName(self, name: str) -> "RDD":
        self.id()
        self._name = name
        return self

    def __repr__(self) -> str:
        self.id()
        return self._describe()

    def _describe(self) -> str:
        """The repr, with the number a lineage shows (``_display_id``)."""
        prefix = f"{self._name} " if self._name else ""
        return (f"{prefix}{type(self).__name__}[{self._display_id()}] at {self._api} at "
                f"{self._callsite}")

    def _repr_html_(self) -> str:
        """A notebook's display: partitions, partitioner, storage level, and
        the lineage as nested lists, a new stage below each shuffle (what
        ``toDebugString`` draws with indentation)."""
        from html import escape

        from ember.engine.api.dependency import ShuffleDependency

        def describe(rdd: RDD) -> str:
            level = rdd._storage_level
            cached = f" <i>[{escape(str(level))}]</i>" if level != StorageLevel.NONE else ""
            return f"<code>{escape(rdd._describe())}</code>{cached}"

        def lineage(rdd: RDD, seen: set) -> str:
            if rdd._id in seen:  # a diamond: the shared parent is drawn once
                return (f"<li><code>{escape(type(rdd).__name__)}[{rdd._display_id()}]</code> "
                        f"(above)</li>")
            seen.add(rdd._id)
            items = []
            for dep in rdd.dependencies:
                if isinstance(dep, ShuffleDependency):
                    items.append(f"<li><b>shuffle</b>: stage boundary, "
                                 f"{dep.rdd.getNumPartitions()} map partitions"
                                 f"<ul>{lineage(dep.rdd, seen)}</ul></li>")
                else:
                    items.append(lineage(dep.rdd, seen))
            return f"<li>{describe(rdd)}</li>" + "".join(items)

        partitioner = self.partitioner
        rows = [("partitions", str(self.getNumPartitions())),
                ("partitioner", "none" if partitioner is None else
                 f"{type(partitioner).__name__} ({partitioner.numPartitions} partitions)"),
                ("storage level", str(self._storage_level))]
        table = "".join(f"<tr><th style='text-align:left'>{key}</th><td>{escape(value)}</td></tr>"
                        for key, value in rows)
        return (f"<div><p><b>{escape(repr(self))}</b></p><table>{table}</table>"
                f"<p>Lineage</p><ul>{lineage(self, set())}</ul></div>")

    def getNumPartitions(self) -> int:
        """The number of partitions.

        >>> sc.parallelize([1, 2, 3, 4], 2).getNumPartitions()
        2
        """
        return len(self.partitions)

    def toDebugString(self) -> bytes:
        """The lineage of this RDD, one line per RDD, indented at each shuffle
        (bytes, as in PySpark)."""
        self.id()
        from ember.engine.api.dependency import ShuffleDependency

        def describe(rdd: RDD) -> str:
            level = rdd._storage_level
            return f"{rdd._describe()} [{level if level != StorageLevel.NONE else ''}]"

        def children(rdd: RDD, prefix: str) -> list[str]:
            deps = rdd.dependencies
            lines: list[str] = []
            for i, dep in enumerate(deps):
                lines += lineage(dep.rdd, prefix, isinstance(dep, ShuffleDependency),
                                 i == len(deps) - 1)
            return lines

        def lineage(rdd: RDD, prefix: str, shuffle: bool, last: bool) -> list[str]:
            if not shuffle:
                return [prefix + describe(rdd)] + children(rdd, prefix)
            count = f"({rdd.getNumPartitions()})"
            offset = (len(count) - 1) // 2
            head = re.sub(r"\|\s+$", "", prefix)
            below = head + ("  " if last else "| ") + " " * offset + "|" + " " * (len(count) - offset)
            return [f"{head}+-{count} {describe(rdd)}"] + children(rdd, below)

        count = f"({self.getNumPartitions()})"
        offset = (len(count) - 1) // 2
        below = " " * offset + "|" + " " * (len(count) - offset)
        lines = [f"{count} {describe(self)}"] + children(self, below)
        return "\n".join(lines).encode("utf-8")

    # --- persistence ----------------------------------------------------------

    def cache(self) -> "RDD":
        """Persist with the default level (MEMORY_ONLY)."""
        return self.persist(StorageLevel.MEMORY_ONLY)

    def persist(self, storageLevel: StorageLevel = StorageLevel.MEMORY_ONLY) -> "RDD":
        """Keep this RDD's partitions on the workers that compute them, so later
        actions reuse them; a lost partition is recomputed from lineage.

        >>> rdd = sc.parallelize(["b", "a", "c"]).persist()
        >>> rdd.is_cached
        True
        """
        if not isinstance(storageLevel, StorageLevel):
            raise TypeError(f"persist: storageLevel must be a StorageLevel, got {storageLevel!r}")
        self.id()  # PySpark persists its JVM RDD, which numbers it
        if self._storage_level != StorageLevel.NONE and storageLevel != self._storage_level:
            raise ValueError(
                f"persist: cannot change the storage level of {self!r} from "
                f"{self._storage_level!r} to {storageLevel!r}; unpersist it first")
        self.is_cached = storageLevel != StorageLevel.NONE
        self._storage_level = storageLevel
        return self

    def unpersist(self, blocking: bool = False) -> "RDD":
        """Drop this RDD's cached partitions from every worker."""
        was_cached = self._storage_level != StorageLevel.NONE
        self.is_cached = False
        self._storage_level = StorageLevel.NONE
        if was_cached:
            self._require_driver()._unpersist_rdd(self._id, blocking)
        return self

    def getStorageLevel(self) -> StorageLevel:
        """This RDD's storage level.

        >>> print(sc.parallelize([1]).getStorageLevel())
        Serialized 1x Replicated
        """
        self.id()
        return self._storage_level

    # --- checkpoints ----------------------------------------------------------

    def checkpoint(self) -> None:
        """Mark this RDD to be saved under the Context's checkpoint directory
        by the first job that computes it; from then on it is read from those
        files and its lineage is forgotten. Persist it too, or the save
        computes it a second time.

        >>> import tempfile
        >>> sc.setCheckpointDir(tempfile.mkdtemp())
        >>> rdd = sc.parallelize(range(4)).map(lambda x: x * x)
        >>> rdd.checkpoint()
        >>> rdd.isCheckpointed(), rdd.count(), rdd.isCheckpointed()
        (False, 4, True)
        >>> rdd.collect()
        [0, 1, 4, 9]
        """
        ctx = self._require_driver()
        if getattr(ctx, "_checkpoint_dir", None) is None:
            raise RuntimeError("Checkpoint directory has not been set in the SparkContext "
                               "(call sc.setCheckpointDir(dirName) first)")
        self.id()  # PySpark marks its JVM RDD, which numbers it
        self.is_checkpointed = True
        if self._checkpoint_mode is None:
            self._checkpoint_mode = "reliable"

    def localCheckpoint(self) -> None:
        """Mark this RDD to have its lineage cut after the first job that
        computes it, keeping its partitions only in the workers' block
        stores (persisted with disk added to its level). Faster than
        :meth:`checkpoint`, but a lost worker loses the data for good.

        >>> rdd = sc.parallelize(["a", "b"])
        >>> rdd.localCheckpoint()
        >>> rdd.isLocallyCheckpointed(), rdd.isCheckpointed()
        (True, False)
        >>> rdd.collect(), rdd.isCheckpointed()
        (['a', 'b'], True)
        """
        from ember.engine.io.checkpoint import local_storage_level

        self.id()
        self._storage_level = local_storage_level(self._storage_level)
        if self._checkpoint_rdd is None:  # a materialized checkpoint is kept
            self._checkpoint_mode = "local"

    def isCheckpointed(self) -> bool:
        """True once the RDD is checkpointed and materialized, reliably or locally.

        >>> sc.parallelize([1]).isCheckpointed()
        False
        """
        return self._checkpoint_rdd is not None

    def isLocallyCheckpointed(self) -> bool:
        """True once the RDD is marked by :meth:`localCheckpoint`.

        >>> sc.parallelize([1]).isLocallyCheckpointed()
        False
        """
        return self._checkpoint_mode == "local"

    def getCheckpointFile(self) -> str | None:
        """The directory of this RDD's reliable checkpoint as a ``file:`` URI
        (PySpark's form), or None before it is written (and for local
        checkpoints).

        >>> import os, tempfile
        >>> sc.setCheckpointDir(tempfile.mkdtemp())
        >>> rdd = sc.parallelize([1, 2])
        >>> rdd.checkpoint()
        >>> rdd.getCheckpointFile() is None
        True
        >>> _ = rdd.sum()
        >>> rdd.getCheckpointFile() == f"{sc.getCheckpointDir()}/rdd-{rdd.id()}"
        True
        """
        return None if self._checkpoint_file is None else "file:" + self._checkpoint_file

    def _do_checkpoint(self) -> None:
        """Materialize the checkpoints marked in this RDD's lineage. The
        Context calls this after every job on this RDD; it stops at the first
        marked RDD of each branch, as Spark does."""
        from ember.engine.io.checkpoint import materialize

        stack, seen = [self], set()
        while stack:
            rdd = stack.pop()
            if rdd._id in seen or rdd._checkpoint_rdd is not None or rdd._checkpointing:
                continue
            seen.add(rdd._id)
            if rdd._checkpoint_mode is not None:
                materialize(rdd)
                continue
            stack.extend(dep.rdd for dep in rdd.dependencies)

    def cleanShuffleDependencies(self, blocking: bool = False) -> None:
        """Remove the shuffle files of this RDD's lineage (up to persisted
        ancestors) from the workers. Checkpoint and materialize the RDD first
        if it is used again.

        >>> rdd = sc.parallelize([("a", 1), ("a", 2)]).reduceByKey(lambda a, b: a + b)
        >>> rdd.collect()
        [('a', 3)]
        >>> rdd.cleanShuffleDependencies()
        """
        from ember.engine.api.dependency import ShuffleDependency

        ctx = self._require_driver()
        stack, seen = list(self._get_dependencies()), set()
        while stack:
            dep = stack.pop()
            if isinstance(dep, ShuffleDependency) and dep.shuffle_id not in seen:
                seen.add(dep.shuffle_id)
                ctx._clean_shuffle(dep.shuffle_id, blocking)
            if dep.rdd._storage_level == StorageLevel.NONE:
                stack.extend(dep.rdd._get_dependencies())

    # --- resource profiles ----------------------------------------------------

    def withResources(self, profile: Any) -> "RDD":
        """Record the resource profile this RDD's stage asks for (ember's
        local workers are all alike, so it changes no placement); returns self.

        >>> rdd = sc.parallelize([1, 2])
        >>> rdd.withResources("gpu-profile") is rdd, rdd.getResourceProfile()
        (True, 'gpu-profile')
        """
        self.id()
        self.has_resource_profile = True
        self._resource_profile = profile
        return self

    def getResourceProfile(self) -> Any:
        """The profile given to :meth:`withResources`, or None.

        >>> sc.parallelize([1]).getResourceProfile() is None
        True
        """
        return self._resource_profile

    # --- narrow transformations -----------------------------------------------

    def mapPartitionsWithIndex(self, f: Callable[[int, Iterator], Iterable],
                               preservesPartitioning: bool = False) -> "RDD":
        """Apply ``f(partition_index, iterator)`` to each partition.

        >>> rdd = sc.parallelize([1, 2, 3, 4], 4)
        >>> rdd.mapPartitionsWithIndex(lambda i, it: [i]).sum()
        6
        """
        return self._pipe(f, preservesPartitioning, "mapPartitionsWithIndex", f)

    def _pipe(self, func: Callable[[int, Iterator], Iterable], preserves: bool,
              op: str, user_fn: Any, barrier: bool = False) -> "RDD":
        from ember.engine.api.rdds import PipelinedRDD

        return PipelinedRDD(self, func, preserves, op, user_fn, user_callsite(3), barrier)

    def barrier(self):
        """Run the next transformation as a barrier stage: all its tasks at
        once, able to wait for one another (``BarrierTaskContext``).

        >>> sc.parallelize(range(4), 2).barrier().mapPartitions(lambda it: [sum(it)]).collect()
        [1, 5]
        """
        from ember.engine.api.barrier import RDDBarrier

        return RDDBarrier(self)

    def _is_barrier(self) -> bool:
        return self._barrier

    def mapPartitions(self, f: Callable[[Iterator], Iterable],
                      preservesPartitioning: bool = False) -> "RDD":
        """Apply ``f(iterator)`` to each partition.

        >>> sc.parallelize([1, 2, 3, 4], 2).mapPartitions(lambda it: [sum(it)]).collect()
        [3, 7]
        """
        return self._pipe(lambda _, it: f(it), preservesPartitioning, "mapPartitions", f)

    def mapPartitionsWithSplit(self, f: Callable[[int, Iterator], Iterable],
                               preservesPartitioning: bool = False) -> "RDD":
        """Deprecated name of :meth:`mapPartitionsWithIndex` (warns FutureWarning).

        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore", FutureWarning)
        ...     sc.parallelize([5, 6, 7], 3).mapPartitionsWithSplit(lambda i, it: [i]).collect()
        [0, 1, 2]
        """
        warnings.warn("mapPartitionsWithSplit is deprecated; use mapPartitionsWithIndex instead",
                      FutureWarning, stacklevel=2)
        return self._pipe(f, preservesPartitioning, "mapPartitionsWithSplit", f)

    def map(self, f: Callable[[Any], Any], preservesPartitioning: bool = False) -> "RDD":
        """Apply ``f`` to each element.

        >>> sorted(sc.parallelize(["b", "a", "c"]).map(lambda x: (x, 1)).collect())
        [('a', 1), ('b', 1), ('c', 1)]
        """
        return self._pipe(lambda _, it: guarded_map(f, it), preservesPartitioning, "map", f)

    def flatMap(self, f: Callable[[Any], Iterable], preservesPartitioning: bool = False) -> "RDD":
        """Apply ``f`` to each element and flatten the results.

        >>> sorted(sc.parallelize([2, 3, 4]).flatMap(lambda x: range(1, x)).collect())
        [1, 1, 1, 2, 2, 3]
        """
        chain = itertools.chain.from_iterable
        return self._pipe(lambda _, it: chain(guarded_map(f, it)), preservesPartitioning,
                          "flatMap", f)

    def filter(self, f: Callable[[Any], bool]) -> "RDD":
        """Keep the elements for which ``f`` is true.

        >>> sc.parallelize([1, 2, 3, 4, 5]).filter(lambda x: x % 2 == 0).collect()
        [2, 4]
        """
        return self._pipe(lambda _, it: guarded_filter(f, it), True, "filter", f)

    def glom(self) -> "RDD":
        """Each partition as one list.

        >>> sc.parallelize([1, 2, 3, 4], 2).glom().collect()
        [[1, 2], [3, 4]]
        """
        return self._pipe(lambda _, it: [list(it)], False, "glom", None)

    def keyBy(self, f: Callable[[Any], Any]) -> "RDD":
        """Pair each element with the key ``f(x)``: ``(f(x), x)``.

        >>> sc.parallelize(range(3)).keyBy(lambda x: x * x).collect()
        [(0, 0), (1, 1), (4, 2)]
        """
        return self._pipe(lambda _, it: ((f(x), x) for x in it), False, "keyBy", f)

    def mapValues(self, f: Callable[[Any], Any]) -> "RDD":
        """Apply ``f`` to each value of a pair RDD, keeping keys and partitioning.

        >>> sc.parallelize([("a", ["apple", "banana"]), ("b", ["grape"])]).mapValues(len).collect()
        [('a', 2), ('b', 1)]
        """
        return self._pipe(lambda _, it: ((k, f(v)) for k, v in it), True, "mapValues", f)

    def flatMapValues(self, f: Callable[[Any], Iterable]) -> "RDD":
        """Apply ``f`` to each value and flatten, keeping keys and partitioning.

        >>> sc.parallelize([("a", ["x", "y"]), ("b", ["p"])]).flatMapValues(lambda v: v).collect()
        [('a', 'x'), ('a', 'y'), ('b', 'p')]
        """
        return self._pipe(lambda _, it: ((k, x) for k, v in it for x in f(v)), True,
                          "flatMapValues", f)

    def keys(self) -> "RDD":
        """The key of each pair.

        >>> sc.parallelize([(1, 2), (3, 4)]).keys().collect()
        [1, 3]
        """
        return self._pipe(lambda _, it: (kv[0] for kv in it), False, "keys", None)

    def values(self) -> "RDD":
        """The value of each pair.

        >>> sc.parallelize([(1, 2), (3, 4)]).values().collect()
        [2, 4]
        """
        return self._pipe(lambda _, it: (kv[1] for kv in it), False, "values", None)

    def sample(self, withReplacement: bool, fraction: float, seed: int | None = None) -> "RDD":
        """A sampled subset: each element kept with probability ``fraction``
        (without replacement), or repeated a Poisson(``fraction``) number of
        times (with replacement).

        >>> rdd = sc.parallelize(range(100), 4)
        >>> 6 <= rdd.sample(False, 0.1, 81).count() <= 14
        True
        """
        from ember.engine.api.samplers import RDDSampler

        if not isinstance(fraction, (int, float)) or fraction < 0.0:
            raise ValueError(f"sample: fraction must be nonnegative, got {fraction!r}")
        return self._pipe(RDDSampler(bool(withReplacement), float(fraction), seed), True,
                          "sample", None)

    def randomSplit(self, weights: list, seed: int | None = None) -> list["RDD"]:
        """Split into RDDs holding about ``weights[i] / sum(weights)`` of the
        elements each; every element lands in exactly one of them.

        >>> parts = sc.parallelize(range(1000), 2).randomSplit([1, 3], seed=7)
        >>> sum(p.count() for p in parts), 150 < parts[0].count() < 350
        (1000, True)
        """
        from ember.engine.api.samplers import RDDRangeSampler, fixed_seed

        weights = list(weights)
        if not all(isinstance(w, (int, float)) and not isinstance(w, bool) for w in weights):
            raise TypeError(f"randomSplit: weights must be numbers, got {weights!r}")
        if not all(w >= 0 for w in weights):
            raise ValueError(f"Weights must be nonnegative (randomSplit: weights={weights!r})")
        total = float(sum(weights))
        if not total > 0:
            raise ValueError(f"Sum of weights must be positive (randomSplit: weights={weights!r})")
        bounds = list(itertools.accumulate((w / total for w in weights), initial=0.0))
        bounds[-1] = 1.0  # rounding must not leave the top of [0, 1) to no split
        seed = fixed_seed(seed)
        return [self._pipe(RDDRangeSampler(low, high, seed), True, "randomSplit", None)
                for low, high in zip(bounds, bounds[1:])]

    def sampleByKey(self, withReplacement: bool, fractions: dict,
                    seed: int | None = None) -> "RDD":
        """Sample a pair RDD with a fraction per key (``fractions[key]``).

        >>> rdd = sc.parallelize([("a", i) for i in range(200)] + [("b", i) for i in range(200)])
        >>> counts = rdd.sampleByKey(False, {"a": 0.5, "b": 0.0}, seed=3).countByKey()
        >>> 60 < counts["a"] < 140, counts.get("b", 0)
        (True, 0)
        """
        from ember.engine.api.samplers import RDDStratifiedSampler

        for key, fraction in fractions.items():
            if not isinstance(fraction, (int, float)) or isinstance(fraction, bool):
                raise TypeError(f"sampleByKey: the fraction of key {key!r} must be a number, "
                                f"got {fraction!r}")
            if not fraction >= 0.0:
                raise AssertionError(f"Negative fraction value: {fraction} (sampleByKey, key {key!r})")
        sampler = RDDStratifiedSampler(bool(withReplacement), fractions, seed)
        return self._pipe(sampler, True, "sampleByKey", None)

    def zip(self, other: "RDD") -> "RDD":
        """Pair the i-th element of this RDD with the i-th of ``other``; both
        need the same number of partitions and of elements in each.

        >>> sc.parallelize(["a", "b", "c"], 2).zip(sc.parallelize([1, 2, 3], 2)).collect()
        [('a', 1), ('b', 2), ('c', 3)]
        """
        from ember.engine.api.rdds import ZippedRDD

        if not isinstance(other, RDD):
            raise TypeError(f"zip: other must be an RDD, got {type(other).__name__}")
        if self.getNumPartitions() != other.getNumPartitions():
            raise ValueError(
                "Can only zip with RDD which has the same number of partitions "
                f"({self.getNumPartitions()} and {other.getNumPartitions()})")
        return ZippedRDD(self, other, user_callsite(2))

    def zipWithIndex(self) -> "RDD":
        """Pair each element with its position (partition by partition, then
        within each); runs one job to count all partitions but the last.

        >>> sc.parallelize(["x", "y", "z"], 2).zipWithIndex().collect()
        [('x', 0), ('y', 1), ('z', 2)]
        """
        count = self.getNumPartitions()
        starts = [0]
        if count > 1:
            for size in self._run(_count_iterator, range(count - 1)):
                starts.append(starts[-1] + size)
        return self._pipe(lambda k, it: ((v, i) for i, v in enumerate(it, starts[k])), False,
                          "zipWithIndex", None)

    def zipWithUniqueId(self) -> "RDD":
        """Pair each element with a unique id: the i-th element of partition k
        of n gets ``i * n + k`` (no job runs; ids have gaps).

        >>> sc.parallelize(["x", "y", "z"], 2).zipWithUniqueId().collect()
        [('x', 0), ('y', 1), ('z', 3)]
        """
        count = self.getNumPartitions()
        return self._pipe(lambda k, it: ((v, i * count + k) for i, v in enumerate(it)), False,
                          "zipWithUniqueId", None)

    def cartesian(self, other: "RDD") -> "RDD":
        """Every pair ``(a, b)`` with ``a`` in this RDD and ``b`` in ``other``.

        >>> sorted(sc.parallelize([1, 2]).cartesian(sc.parallelize(["u", "v"])).collect())
        [(1, 'u'), (1, 'v'), (2, 'u'), (2, 'v')]
        """
        from ember.engine.api.rdds import CartesianRDD

        if not isinstance(other, RDD):
            raise TypeError(f"cartesian: other must be an RDD, got {type(other).__name__}")
        return CartesianRDD(self, other, user_callsite(2))

    def pipe(self, command: str, env: dict | None = None, checkCode: bool = False) -> "RDD":
        """Each partition through an external command: elements go in as lines
        on its stdin, its stdout lines come out. ``env`` is the command's
        whole environment; ``checkCode`` fails the task on a non-zero exit.

        >>> sc.parallelize(["b", "a", "c"], 1).pipe("sort").collect()
        ['a', 'b', 'c']
        >>> sc.parallelize(["x"]).pipe("sh -c 'exit 3'", checkCode=True).collect()
        Traceback (most recent call last):
            ...
        RuntimeError: Pipe function `sh -c 'exit 3'' exited with error code 3...
        """
        from ember.engine.api.pipe import PipeCommand

        if not isinstance(command, str) or not command.strip():
            raise TypeError(f"pipe: command must be a non-empty string, got {command!r}")
        if env is not None and not isinstance(env, dict):
            raise TypeError(f"pipe: env must be a dict of strings, got {type(env).__name__}")
        return self._pipe(PipeCommand(command, env or {}, bool(checkCode)), False, "pipe", None)

    def union(self, other: "RDD") -> "RDD":
        """The elements of both RDDs (duplicates kept).

        >>> rdd = sc.parallelize([1, 1, 2, 3])
        >>> rdd.union(rdd).collect()
        [1, 1, 2, 3, 1, 1, 2, 3]
        """
        return self._require_driver().union([self, other])

    def __add__(self, other: "RDD") -> "RDD":
        if not isinstance(other, RDD):
            raise TypeError(f"cannot add an RDD and {type(other).__name__}")
        return self.union(other)

    def coalesce(self, numPartitions: int, shuffle: bool = False) -> "RDD":
        """Fewer partitions: adjacent partitions are merged without a shuffle,
        or (``shuffle=True``) elements are redistributed evenly.

        >>> sc.parallelize([1, 2, 3, 4, 5], 3).coalesce(1).glom().collect()
        [[1, 2, 3, 4, 5]]
        """
        from ember.engine.api.rdds import CoalescedRDD

        _check_positive("numPartitions", numPartitions, "coalesce")
        if shuffle:
            return self._redistribute(numPartitions, "coalesce")
        return CoalescedRDD(self, numPartitions, user_callsite(2))

    def repartition(self, numPartitions: int) -> "RDD":
        """Exactly ``numPartitions`` partitions, through a shuffle that spreads
        elements evenly.

        >>> rdd = sc.parallelize([1, 2, 3, 4, 5, 6, 7], 4)
        >>> len(rdd.repartition(2).glom().collect())
        2
        """
        _check_positive("numPartitions", numPartitions, "repartition")
        return self._redistribute(numPartitions, "repartition")

    def _redistribute(self, numPartitions: int, op: str) -> "RDD":
        from ember.engine.api.partitioner import identity_partition
        from ember.engine.api.sampling import round_robin

        from ember.engine.wire.serializers import BatchedSerializer, CPickleSerializer

        keyed = self._pipe(round_robin(numPartitions), False, op, None)
        spread = keyed.partitionBy(numPartitions, identity_partition)._pipe(
            lambda _, it: (kv[1] for kv in it), False, op, None)
        spread.id()  # PySpark's result is its JVM RDD, made (and numbered) now
        spread._jrdd_deserializer = BatchedSerializer(CPickleSerializer(),
                                                      min(10, self.ctx._batchSize or 1024))
        return spread

    # --- shuffles -------------------------------------------------------------

    def _reduce_partitions(self, numPartitions: int | None, method: str) -> int:
        """An explicit partition count (checked), or the default for a shuffle
        of this RDD: spark.default.parallelism if set, else this RDD's count
        (which is 0 for an empty RDD, as in Spark)."""
        if numPartitions is not None:
            return _check_positive("numPartitions", numPartitions, method)
        ctx = self._require_driver()
        if ctx._conf.contains("spark.default.parallelism"):
            return ctx.defaultParallelism
        return self.getNumPartitions()

    def partitionBy(self, numPartitions: int | None,
                    partitionFunc: Callable[[Any], int] = portable_hash) -> "RDD":
        """A copy of this pair RDD partitioned by ``partitionFunc(key) % numPartitions``.

        >>> pairs = sc.parallelize([1, 2, 3, 4, 2, 4, 1]).map(lambda x: (x, x))
        >>> parts = pairs.partitionBy(2).glom().collect()
        >>> len(set(parts[0]).intersection(set(parts[1])))
        0
        """
        from ember.engine.api.rdds import ShuffledRDD

        numPartitions = self._reduce_partitions(numPartitions, "partitionBy")
        partitioner = Partitioner(numPartitions, partitionFunc)
        if self.partitioner == partitioner:
            return self
        return ShuffledRDD(self, partitioner, user_callsite(2))

    def combineByKey(self, createCombiner: Callable, mergeValue: Callable,
                     mergeCombiners: Callable, numPartitions: int | None = None,
                     partitionFunc: Callable[[Any], int] = portable_hash) -> "RDD":
        """Combine the values of each key with three functions: make a combiner
        from a value, fold a value into a combiner, merge two combiners. Values
        are combined within each partition before the shuffle.

        >>> rdd = sc.parallelize([("a", 1), ("b", 1), ("a", 2)])
        >>> sorted(rdd.combineByKey(lambda v: [v], lambda c, v: c + [v],
        ...                         lambda c1, c2: c1 + c2).collect())
        [('a', [1, 2]), ('b', [1])]
        """
        from ember.engine.data.aggregation import combine_combiners, combine_values

        if numPartitions is not None:  # else resolved by partitionBy, as for this RDD
            _check_positive("numPartitions", numPartitions, "combineByKey")
        budget = self._memory_budget()
        local = self._pipe(
            lambda _, it: combine_values(it, createCombiner, mergeValue, mergeCombiners, budget),
            True, "combineByKey", (createCombiner, mergeValue))
        shuffled = local.partitionBy(numPartitions, partitionFunc)
        return shuffled._pipe(lambda _, it: combine_combiners(it, mergeCombiners, budget), True,
                              "combineByKey", mergeCombiners)

    def reduceByKey(self, func: Callable[[Any, Any], Any], numPartitions: int | None = None,
                    partitionFunc: Callable[[Any], int] = portable_hash) -> "RDD":
        """Merge the values of each key with an associative, commutative ``func``.

        >>> from operator import add
        >>> sorted(sc.parallelize([("a", 1), ("b", 1), ("a", 1)]).reduceByKey(add).collect())
        [('a', 2), ('b', 1)]
        """
        from ember.engine.data.aggregation import reduce_values

        if numPartitions is not None:  # else resolved by partitionBy, as for this RDD
            _check_positive("numPartitions", numPartitions, "reduceByKey")
        budget = self._memory_budget()
        local = self._pipe(lambda _, it: reduce_values(it, func, budget), True, "reduceByKey", func)
        shuffled = local.partitionBy(numPartitions, partitionFunc)
        return shuffled._pipe(lambda _, it: reduce_values(it, func, budget), True, "reduceByKey",
                              func)

    def reduceByKeyLocally(self, func: Callable[[Any, Any], Any]) -> dict:
        """Merge the values of each key and return the result as a dict.

        >>> from operator import add
        >>> sorted(sc.parallelize([("a", 1), ("b", 1), ("a", 1)]).reduceByKeyLocally(add).items())
        [('a', 2), ('b', 1)]
        """
        from ember.engine.data.aggregation import reduce_values

        def merge(left: dict, right: dict) -> dict:
            for key, value in right.items():
                left[key] = func(left[key], value) if key in left else value
            return left

        return self._pipe(lambda _, it: [dict(reduce_values(it, func))], False,
                          "reduceByKeyLocally", func).reduce(merge)

    def foldByKey(self, zeroValue: Any, func: Callable[[Any, Any], Any],
                  numPartitions: int | None = None,
                  partitionFunc: Callable[[Any], int] = portable_hash) -> "RDD":
        """Merge the values of each key, starting each key from ``zeroValue``.

        >>> from operator import add
        >>> sorted(sc.parallelize([("a", 1), ("b", 1), ("a", 1)]).foldByKey(0, add).collect())
        [('a', 2), ('b', 1)]
        """
        from ember.engine.data.aggregation import fresh_copy

        return self.combineByKey(lambda v: func(fresh_copy(zeroValue), v), func, func,
                                 numPartitions, partitionFunc)

    def aggregateByKey(self, zeroValue: Any, seqFunc: Callable, combFunc: Callable,
                       numPartitions: int | None = None,
                       partitionFunc: Callable[[Any], int] = portable_hash) -> "RDD":
        """Aggregate the values of each key: ``seqFunc`` folds a value into an
        accumulator started from ``zeroValue``, ``combFunc`` merges accumulators.

        >>> rdd = sc.parallelize([("a", 1), ("b", 1), ("a", 2)])
        >>> sorted(rdd.aggregateByKey((0, 0), lambda a, v: (a[0] + v, a[1] + 1),
        ...                           lambda a, b: (a[0] + b[0], a[1] + b[1])).collect())
        [('a', (3, 2)), ('b', (1, 1))]
        """
        from ember.engine.data.aggregation import fresh_copy

        return self.combineByKey(lambda v: seqFunc(fresh_copy(zeroValue), v), seqFunc,
                                 combFunc, numPartitions, partitionFunc)

    def groupByKey(self, numPartitions: int | None = None,
                   partitionFunc: Callable[[Any], int] = portable_hash) -> "RDD":
        """Group the values of each key into one iterable.

        >>> rdd = sc.parallelize([("a", 1), ("b", 1), ("a", 1)])
        >>> sorted(rdd.groupByKey().mapValues(list).collect())
        [('a', [1, 1]), ('b', [1])]
        """
        from ember.engine.data.aggregation import group_combiners, group_values

        if numPartitions is not None:  # else resolved by partitionBy, as for this RDD
            _check_positive("numPartitions", numPartitions, "groupByKey")
        budget = self._memory_budget()
        local = self._pipe(lambda _, it: group_values(it, budget), True, "groupByKey", None)
        shuffled = local.partitionBy(numPartitions, partitionFunc)
        return shuffled._pipe(lambda _, it: group_combiners(it, budget), True, "groupByKey", None)

    def groupBy(self, f: Callable[[Any], Any], numPartitions: int | None = None,
                partitionFunc: Callable[[Any], int] = portable_hash) -> "RDD":
        """Group elements by ``f(x)``.

        >>> result = sc.parallelize([1, 1, 2, 3, 5, 8]).groupBy(lambda x: x % 2).collect()
        >>> sorted((k, sorted(v)) for k, v in result)
        [(0, [2, 8]), (1, [1, 1, 3, 5])]
        """
        return self.map(lambda x: (f(x), x)).groupByKey(numPartitions, partitionFunc)

    def distinct(self, numPartitions: int | None = None) -> "RDD":
        """The distinct elements.

        >>> sorted(sc.parallelize([1, 1, 2, 3]).distinct().collect())
        [1, 2, 3]
        """
        return (self.map(lambda x: (x, None))
                .reduceByKey(lambda x, _: x, numPartitions)
                .keys())

    def cogroup(self, other: "RDD", numPartitions: int | None = None) -> "RDD":
        """For each key in either RDD, the pair of iterables of its values in
        this RDD and in ``other``.

        >>> x = sc.parallelize([("a", 1), ("b", 4)])
        >>> y = sc.parallelize([("a", 2)])
        >>> [(k, tuple(map(list, v))) for k, v in sorted(list(x.cogroup(y).collect()))]
        [('a', ([1], [2])), ('b', ([4], []))]
        """
        return self._cogroup([self, other], numPartitions)

    def groupWith(self, other: "RDD", *others: "RDD") -> "RDD":
        """:meth:`cogroup` of this RDD with one or more others.

        >>> w, x = sc.parallelize([("k", 1)]), sc.parallelize([("k", 2), ("j", 3)])
        >>> sorted((k, [list(g) for g in v]) for k, v in w.groupWith(x, x).collect())
        [('j', [[], [3], [3]]), ('k', [[1], [2], [2]])]
        """
        return self._cogroup([self, other, *others], None)

    @staticmethod
    def _cogroup(rdds: list["RDD"], numPartitions: int | None) -> "RDD":
        from ember.engine.data.aggregation import cogroup_values

        count = len(rdds)
        if numPartitions is not None:
            _check_positive("numPartitions", numPartitions, "cogroup")
        shuffled = RDD._keyed_together(rdds, numPartitions)
        budget = rdds[0]._memory_budget()
        return shuffled._pipe(
            lambda _, it: ((key, tuple(ResultIterable(group) for group in groups))
                           for key, groups in cogroup_values(it, count, budget)),
            True, "cogroup", None)

    def subtractByKey(self, other: "RDD", numPartitions: int | None = None) -> "RDD":
        """The pairs of this RDD whose key is not a key of ``other``.

        >>> x = sc.parallelize([("a", 1), ("b", 2), ("b", 3)])
        >>> sorted(x.subtractByKey(sc.parallelize([("a", 0)])).collect())
        [('b', 2), ('b', 3)]
        """
        return (self.cogroup(other, numPartitions)
                .filter(lambda kv: len(kv[1][0]) > 0 and len(kv[1][1]) == 0)
                .flatMapValues(lambda groups: groups[0]))

    def subtract(self, other: "RDD", numPartitions: int | None = None) -> "RDD":
        """The elements of this RDD not in ``other`` (duplicates of a kept
        element are all kept).

        >>> sorted(sc.parallelize([1, 2, 2, 3]).subtract(sc.parallelize([3, 4])).collect())
        [1, 2, 2]
        """
        return (self.map(lambda x: (x, True))
                .subtractByKey(other.map(lambda x: (x, True)), numPartitions)
                .keys())

    def intersection(self, other: "RDD") -> "RDD":
        """The distinct elements found in both RDDs.

        >>> sorted(sc.parallelize([1, 2, 2, 5]).intersection(sc.parallelize([2, 5, 7])).collect())
        [2, 5]
        """
        return (self.map(lambda x: (x, None))
                .cogroup(other.map(lambda x: (x, None)))
                .filter(lambda kv: all(len(group) > 0 for group in kv[1]))
                .keys())

    def join(self, other: "RDD", numPartitions: int | None = None) -> "RDD":
        """Inner join: ``(k, (v, w))`` for every pair of values of a shared key.

        >>> x = sc.parallelize([("a", 1), ("b", 4)])
        >>> y = sc.parallelize([("a", 2), ("a", 3)])
        >>> sorted(x.join(y).collect())
        [('a', (1, 2)), ('a', (1, 3))]
        """
        return self._join(other, numPartitions, pad_left=False, pad_right=False)

    def leftOuterJoin(self, other: "RDD", numPartitions: int | None = None) -> "RDD":
        """Every key of this RDD; ``w`` is None where ``other`` lacks the key.

        >>> x = sc.parallelize([("a", 1), ("b", 4)])
        >>> y = sc.parallelize([("a", 2)])
        >>> sorted(x.leftOuterJoin(y).collect())
        [('a', (1, 2)), ('b', (4, None))]
        """
        return self._join(other, numPartitions, pad_left=False, pad_right=True)

    def rightOuterJoin(self, other: "RDD", numPartitions: int | None = None) -> "RDD":
        """Every key of ``other``; ``v`` is None where this RDD lacks the key.

        >>> x = sc.parallelize([("a", 1), ("b", 4)])
        >>> y = sc.parallelize([("a", 2)])
        >>> sorted(y.rightOuterJoin(x).collect())
        [('a', (2, 1)), ('b', (None, 4))]
        """
        return self._join(other, numPartitions, pad_left=True, pad_right=False)

    def fullOuterJoin(self, other: "RDD", numPartitions: int | None = None) -> "RDD":
        """Every key of either RDD, with None for the missing side.

        >>> x = sc.parallelize([("a", 1), ("b", 4)])
        >>> y = sc.parallelize([("a", 2), ("c", 8)])
        >>> sorted(x.fullOuterJoin(y).collect())
        [('a', (1, 2)), ('b', (4, None)), ('c', (None, 8))]
        """
        return self._join(other, numPartitions, pad_left=True, pad_right=True)

    def _join(self, other: "RDD", numPartitions: int | None, pad_left: bool,
              pad_right: bool) -> "RDD":
        from ember.engine.data.aggregation import join_values

        if numPartitions is not None:
            _check_positive("numPartitions", numPartitions, "join")
        shuffled = RDD._keyed_together([self, other], numPartitions)
        budget = self._memory_budget()
        return shuffled._pipe(lambda _, it: join_values(it, pad_left, pad_right, budget), True,
                              "join", None)

    @staticmethod
    def _keyed_together(rdds: list["RDD"], numPartitions: int | None) -> "RDD":
        """The input of a cogroup or join of ``rdds``, as PySpark builds it:
        each RDD re-keyed by the side it is on, their union, partitioned by
        key (no shuffle when the union already is). Where a partition's
        records can be told apart by the RDD they came from (each map task
        of the shuffle reads one RDD, or there is no shuffle), nothing is
        tagged: the partition is read side by side (``Sides``). Only a
        union of RDDs sharing a partitioner, shuffled again, tags each
        record ``(k, (index, v))``."""
        from ember.engine.api.rdds import ShuffledRDD

        first = rdds[0].partitioner
        shared = first is not None and rdds[1].partitioner == first  # the first union keeps it
        if shared and all(rdd.partitioner == first for rdd in rdds):
            target = rdds[0]._reduce_partitions(numPartitions, "partitionBy")
            sided = Partitioner(target, portable_hash) == first  # no shuffle at all
        else:
            sided = not shared  # plain unions: each map task reads one RDD
        keyed = reduce(lambda a, b: a.union(b), [rdd._tagged(i, tag=not sided)
                                                 for i, rdd in enumerate(rdds)])
        shuffled = keyed.partitionBy(numPartitions)
        if sided and isinstance(shuffled, ShuffledRDD):
            ranges, start = [], 0
            for rdd in rdds:
                ranges.append((start, start + rdd.getNumPartitions()))
                start = ranges[-1][1]
            shuffled._sides = ranges
        elif sided:
            shuffled._sided = True  # the union itself, already partitioned by key
        return shuffled

    def _tagged(self, index: int, tag: bool = True) -> "RDD":
        """``(k, (index, v))``: the values of one side of a cogroup or join,
        tagged with the side they came from (or passed on untouched, to be
        read side by side)."""
        if not tag:
            return self._pipe(lambda _, it: it, True, "cogroup", None)
        return self._pipe(lambda _, it: ((k, (index, v)) for k, v in it), True, "cogroup", None)

    def _memory_budget(self) -> int:
        """Bytes a task may hold in an aggregation or sort before spilling
        (``spark.python.worker.memory``), read on the driver when the RDD is made."""
        from ember.engine.data.spill import DEFAULT_BUDGET

        ctx = self.ctx
        if ctx is None or not ctx._conf.contains("spark.python.worker.memory"):
            return DEFAULT_BUDGET
        return ctx._conf.value("spark.python.worker.memory")

    def sortByKey(self, ascending: bool = True, numPartitions: int | None = None,
                  keyfunc: Callable[[Any], Any] = lambda x: x) -> "RDD":
        """Sort a pair RDD by key: each partition sorted, and every key of
        partition i before every key of partition i + 1.

        >>> tmp = [("a", 1), ("b", 2), ("1", 3), ("d", 4), ("2", 5)]
        >>> sc.parallelize(tmp).sortByKey().first()
        ('1', 3)
        >>> sc.parallelize(tmp).sortByKey(True, 2).collect()
        [('1', 3), ('2', 5), ('a', 1), ('b', 2), ('d', 4)]
        """
        from ember.engine.api.sampling import range_bounds

        numPartitions = self._reduce_partitions(numPartitions, "sortByKey")
        if numPartitions == 0:  # no partitions at all: nothing to sort
            return self
        sort_partition = _SortPartition(keyfunc, ascending, "sortByKey", self._memory_budget())
        if numPartitions == 1:
            if self.getNumPartitions() > 1:
                source = self.coalesce(1)
            else:  # PySpark coalesces anyway: a JVM RDD ember does without
                source = self
                self.id()
                self.ctx._new_public_ids(1)
            return source._pipe(sort_partition, True, "sortByKey", keyfunc)
        bounds = range_bounds(self, numPartitions, keyfunc)
        if bounds is None:  # empty RDD
            return self
        from ember.engine.api.partitioner import RangeBounds

        return (self.partitionBy(numPartitions, RangeBounds(bounds, keyfunc, ascending,
                                                            sort_partition.identity))
                ._pipe(sort_partition, True, "sortByKey", keyfunc))

    def repartitionAndSortWithinPartitions(
            self, numPartitions: int | None = None,
            partitionFunc: Callable[[Any], int] = portable_hash, ascending: bool = True,
            keyfunc: Callable[[Any], Any] = lambda x: x) -> "RDD":
        """Repartition a pair RDD by ``partitionFunc`` and sort each partition
        by key, in one shuffle.

        >>> rdd = sc.parallelize([(3, "c"), (0, "a"), (1, "b"), (2, "d")])
        >>> rdd.repartitionAndSortWithinPartitions(2, lambda k: k % 2).glom().collect()
        [[(0, 'a'), (2, 'd')], [(1, 'b'), (3, 'c')]]
        """
        sort = _SortPartition(keyfunc, ascending, "repartitionAndSortWithinPartitions",
                              self._memory_budget())
        return self.partitionBy(numPartitions, partitionFunc)._pipe(
            sort, True, "repartitionAndSortWithinPartitions", keyfunc)

    def sortBy(self, keyfunc: Callable[[Any], Any], ascending: bool = True,
               numPartitions: int | None = None) -> "RDD":
        """Sort by ``keyfunc(x)``.

        >>> sc.parallelize([("a", 1), ("b", 2), ("1", 3)]).sortBy(lambda kv: kv[1], False).collect()
        [('1', 3), ('b', 2), ('a', 1)]
        """
        return self.keyBy(keyfunc).sortByKey(ascending, numPartitions).values()

    # --- actions --------------------------------------------------------------

    def _run(self, func: Callable[[Iterator], Any], partitions: Iterable[int] | None = None,
             pyspark_ids: int | None = 1) -> list:
        """Run ``func`` over the given partitions (all by default); one result
        per partition, in partition order. ``pyspark_ids``: how many RDDs
        PySpark's version of the action makes (0: it runs on this RDD's own;
        None: counted by the caller)."""
        return self._require_driver()._run_job(self, func, partitions, pyspark_ids)

    def collect(self) -> list:
        """Every element, in partition order.

        >>> sc.parallelize([1, 2, 3], 2).collect()
        [1, 2, 3]
        """
        return list(itertools.chain.from_iterable(self._run(list, pyspark_ids=0)))

    def count(self) -> int:
        """The number of elements.

        >>> sc.parallelize([2, 3, 4]).count()
        3
        """
        return sum(self._run(_count_iterator))

    def foreach(self, f: Callable[[Any], Any]) -> None:
        """Call ``f`` on every element, on the workers.

        >>> sc.parallelize([1, 2, 3]).foreach(lambda x: None)
        """
        def each(iterator):
            for item in iterator:
                f(item)

        self._run(each)

    def foreachPartition(self, f: Callable[[Iterator], Any]) -> None:
        """Call ``f`` on the iterator of every partition, on the workers.

        >>> sc.parallelize([1, 2, 3], 2).foreachPartition(lambda it: None)
        """
        def each(iterator):
            f(iterator)

        self._run(each)

    def reduce(self, f: Callable[[Any, Any], Any]) -> Any:
        """Reduce the elements with an associative, commutative ``f``.

        >>> from operator import add
        >>> sc.parallelize([1, 2, 3, 4, 5]).reduce(add)
        15
        >>> sc.parallelize([]).reduce(add)
        Traceback (most recent call last):
            ...
        ValueError: Can not reduce() empty RDD
        """
        values = list(itertools.chain.from_iterable(
            self._run(lambda it: _reduce_partition(f, it))))
        if not values:
            raise ValueError("Can not reduce() empty RDD")
        return reduce(f, values)

    def treeReduce(self, f: Callable[[Any, Any], Any], depth: int = 2) -> Any:
        """Reduce like :meth:`reduce`, merging partial results in a tree of
        ``depth`` levels on the workers (see :meth:`treeAggregate`).

        >>> from operator import add
        >>> sc.parallelize(range(100), 16).treeReduce(add, depth=3)
        4950
        >>> sc.parallelize([], 2).treeReduce(add)
        Traceback (most recent call last):
            ...
        ValueError: Cannot reduce empty RDD.
        """
        _check_depth(depth, "treeReduce")

        # (value, True) stands for "no value yet", so empty partitions merge away.
        def merge(x: tuple, y: tuple) -> tuple:
            if x[1]:
                return y
            if y[1]:
                return x
            return f(x[0], y[0]), False

        value, empty = self.map(lambda x: (x, False)).treeAggregate((None, True), merge, merge,
                                                                    depth)
        if empty:
            raise ValueError("Cannot reduce empty RDD.")
        return value

    def fold(self, zeroValue: Any, op: Callable[[Any, Any], Any]) -> Any:
        """Fold each partition, then the partition results, starting from
        ``zeroValue`` each time.

        >>> from operator import add
        >>> sc.parallelize([1, 2, 3, 4, 5]).fold(0, add)
        15
        """
        # Each task unpickles its own copy of zeroValue, so partitions never
        # share a mutable zero.
        def fold_partition(iterator):
            return reduce(op, iterator, zeroValue)

        return reduce(op, self._run(fold_partition), zeroValue)

    def aggregate(self, zeroValue: Any, seqOp: Callable, combOp: Callable) -> Any:
        """Aggregate each partition with ``seqOp`` from ``zeroValue``, then the
        partition results with ``combOp``.

        >>> seqOp = (lambda x, y: (x[0] + y, x[1] + 1))
        >>> combOp = (lambda x, y: (x[0] + y[0], x[1] + y[1]))
        >>> sc.parallelize([1, 2, 3, 4]).aggregate((0, 0), seqOp, combOp)
        (10, 4)
        >>> sc.parallelize([]).aggregate((0, 0), seqOp, combOp)
        (0, 0)
        """
        def aggregate_partition(iterator):
            return reduce(seqOp, iterator, zeroValue)

        return reduce(combOp, self._run(aggregate_partition), zeroValue)

    def treeAggregate(self, zeroValue: Any, seqOp: Callable, combOp: Callable,
                      depth: int = 2) -> Any:
        """Aggregate like :meth:`aggregate`, but merge the partitions' results
        in a tree on the workers: each extra level shuffles them into about
        ``n ** (1 / depth)`` times fewer partitions, so the driver merges few.

        >>> add = lambda x, y: x + y
        >>> sc.parallelize(range(1, 101), 20).treeAggregate(0, add, add, depth=2)
        5050
        >>> sc.parallelize([], 3).treeAggregate(0, add, add)
        0
        """
        _check_depth(depth, "treeAggregate")
        if self.getNumPartitions() == 0:
            return zeroValue

        def aggregate_partition(iterator):
            return [reduce(seqOp, iterator, zeroValue)]

        partial = self.mapPartitions(aggregate_partition)
        count = partial.getNumPartitions()
        scale = max(math.ceil(count ** (1.0 / depth)), 2)
        # Another level only while it leaves the driver less to merge than it costs.
        while count > scale + count / scale:
            count /= scale
            target = int(count)
            partial = (partial.mapPartitionsWithIndex(
                lambda i, it, target=target: ((i % target, x) for x in it))
                .reduceByKey(combOp, target)
                .values())
        return partial.reduce(combOp)

    def sum(self) -> Any:
        """The sum of the elements.

        >>> sc.parallelize([1.0, 2.0, 3.0]).sum()
        6.0
        """
        return sum(self._run(sum), 0)

    def max(self, key: Callable[[Any], Any] | None = None) -> Any:
        """The largest element (by ``key`` if given).

        >>> sc.parallelize([1.0, 5.0, 43.0, 10.0]).max()
        43.0
        >>> sc.parallelize([1.0, 5.0, 43.0, 10.0]).max(key=str)
        5.0
        """
        if key is None:
            return self.reduce(max)
        return self.reduce(lambda a, b: max(a, b, key=key))

    def min(self, key: Callable[[Any], Any] | None = None) -> Any:
        """The smallest element (by ``key`` if given).

        >>> sc.parallelize([2.0, 5.0, 43.0, 10.0]).min()
        2.0
        >>> sc.parallelize([2.0, 5.0, 43.0, 10.0]).min(key=str)
        10.0
        """
        if key is None:
            return self.reduce(min)
        return self.reduce(lambda a, b: min(a, b, key=key))

    def stats(self) -> StatCounter:
        """Count, mean, variance, max and min in one pass.

        >>> sc.parallelize([1, 2, 3]).stats()
        (count: 3, mean: 2.0, stdev: 0.816496580927726, max: 3, min: 1)
        """
        parts = self._run(StatCounter)
        if not parts:
            raise ValueError("Can not reduce() empty RDD")
        return reduce(lambda a, b: a.mergeStats(b), parts)

    def variance(self) -> float:
        """The population variance of the elements.

        >>> sc.parallelize([1, 2, 3, 4]).variance()
        1.25
        """
        return self.stats().variance()

    def stdev(self) -> float:
        """The population standard deviation of the elements.

        >>> sc.parallelize([2, 4, 4, 4, 5, 5, 7, 9]).stdev()
        2.0
        """
        return self.stats().stdev()

    def sampleVariance(self) -> float:
        """The sample variance (divided by n - 1) of the elements.

        >>> sc.parallelize([1, 2, 3, 4]).sampleVariance()
        1.6666666666666667
        """
        return self.stats().sampleVariance()

    def sampleStdev(self) -> float:
        """The sample standard deviation (divided by n - 1) of the elements.

        >>> sc.parallelize([1, 3]).sampleStdev()
        1.4142135623730951
        """
        return self.stats().sampleStdev()

    def histogram(self, buckets: int | list | tuple) -> tuple:
        """Count the elements per bucket. ``buckets`` is a number of evenly
        spaced buckets between the minimum and the maximum (one extra job
        finds them), or the sorted boundaries. Buckets are [a, b) except the
        last, [a, b]; None, NaN and elements out of range are not counted.

        >>> rdd = sc.parallelize([1, 2, 2, 7, 10])
        >>> rdd.histogram(3)
        ([1, 4, 7, 10], [3, 0, 2])
        >>> rdd.histogram([0, 5, 10])
        ([0, 5, 10], [3, 2])
        """
        from ember.engine.api import histogram

        if isinstance(buckets, int):
            if buckets < 1:
                raise ValueError(f"number of buckets must be >= 1 (histogram: buckets={buckets})")
            values = self.filter(histogram.comparable)
            try:
                low, high = values.map(lambda x: (x, x)).reduce(histogram.min_max)
            except ValueError as error:
                if "empty" not in str(error):
                    raise
                raise ValueError("can not generate buckets from empty RDD") from None
            if low == high or buckets == 1:
                return [low, high], [values.count()]
            bounds, step = histogram.even_buckets(low, high, buckets)
        elif isinstance(buckets, (list, tuple)):
            step = histogram.check_buckets(buckets)
            bounds = buckets
        else:
            raise TypeError("buckets should be a list or tuple or number(int or long), "
                            f"got {type(buckets).__name__}")
        counts = self._run(histogram.BucketCounter(bounds, step))
        if not counts:
            raise ValueError("Can not reduce() empty RDD")
        return bounds, [sum(column) for column in zip(*counts)]

    def countApprox(self, timeout: int, confidence: float = 0.95) -> int:
        """The number of elements, or an estimate if counting every partition
        takes longer than ``timeout`` milliseconds.

        >>> sc.parallelize(range(500), 5).countApprox(2000)
        500
        """
        counts = self.mapPartitions(lambda it: [float(_count_iterator(it))])
        return int(counts.sumApprox(timeout, confidence))

    def sumApprox(self, timeout: int, confidence: float = 0.95) -> "BoundedFloat":
        """The sum of the elements within ``timeout`` milliseconds: exact
        (``confidence`` 1.0) if every partition was summed in time, else
        extrapolated, with the interval [``low``, ``high``] holding the true
        sum with probability ``confidence``.

        >>> total = sc.parallelize(range(100), 4).sumApprox(2000)
        >>> total, total.low, total.high, total.confidence
        (4950.0, 4950.0, 4950.0, 1.0)
        """
        from ember.engine.api import approx

        approx.check_timeout_confidence("sumApprox", timeout, confidence)
        partials, total = approx.run_timed(
            self, lambda it: StatCounter([float(sum(it, 0))]), timeout)
        return approx.sum_estimate(partials, total, confidence)

    def meanApprox(self, timeout: int, confidence: float = 0.95) -> "BoundedFloat":
        """The mean of the elements within ``timeout`` milliseconds (see
        :meth:`sumApprox`).

        >>> sc.parallelize([1, 2, 3, 4], 2).meanApprox(2000)
        2.5
        """
        from ember.engine.api import approx

        approx.check_timeout_confidence("meanApprox", timeout, confidence)
        partials, total = approx.run_timed(self, lambda it: StatCounter(map(float, it)), timeout)
        return approx.mean_estimate(partials, total, confidence)

    def countApproxDistinct(self, relativeSD: float = 0.05) -> int:
        """An estimate of the number of distinct elements (HyperLogLog), with
        relative standard deviation about ``relativeSD`` (at least 0.000017).

        >>> n = sc.parallelize([i % 300 for i in range(3000)], 4).countApproxDistinct()
        >>> 270 < n < 330
        True
        """
        from ember.engine.api import approx

        p = approx.precision(relativeSD)
        sketches = self._run(approx.Sketch(p), pyspark_ids=2)
        return approx.estimate_distinct(approx.merge_sketches(sketches, p), p)

    def mean(self) -> float:
        """The mean of the elements.

        >>> sc.parallelize([1, 2, 3]).mean()
        2.0
        """
        return self.stats().mean()

    def countByValue(self) -> dict:
        """How many times each distinct element occurs, as a dict.

        >>> sorted(sc.parallelize([1, 2, 1, 2, 2], 2).countByValue().items())
        [(1, 2), (2, 3)]
        """
        def count_partition(iterator):
            counts: defaultdict = defaultdict(int)
            for item in iterator:
                counts[item] += 1
            return counts

        total: defaultdict = defaultdict(int)
        for counts in self._run(count_partition):
            for item, count in counts.items():
                total[item] += count
        return total

    def countByKey(self) -> dict:
        """How many pairs each key has, as a dict.

        >>> sorted(sc.parallelize([("a", 1), ("b", 1), ("a", 1)]).countByKey().items())
        [('a', 2), ('b', 1)]
        """
        return self.keys().countByValue()

    def collectAsMap(self) -> dict:
        """The pairs of this RDD as a dict (a later duplicate key wins).

        >>> m = sc.parallelize([(1, 2), (3, 4)]).collectAsMap()
        >>> m[1], m[3]
        (2, 4)
        """
        return dict(self.collect())

    def isEmpty(self) -> bool:
        """True if the RDD has no elements.

        >>> sc.emptyRDD().isEmpty(), sc.parallelize([1]).isEmpty()
        (True, False)
        """
        return self.getNumPartitions() == 0 or len(self.take(1)) == 0

    def lookup(self, key: Any) -> list:
        """The values of ``key`` in a pair RDD. When the RDD's partitioner is
        known, only the partition that can hold the key is scanned.

        >>> pairs = sc.parallelize([("a", 1), ("b", 2), ("a", 3)])
        >>> pairs.lookup("a"), pairs.lookup("z")
        ([1, 3], [])
        >>> pairs.groupByKey().mapValues(sorted).lookup("a")
        [[1, 3]]
        """
        values = self.filter(lambda kv: kv[0] == key).values()
        if self.partitioner is not None:
            return values._run(list, [self.partitioner(key)])[0]
        return values.collect()

    def takeSample(self, withReplacement: bool, num: int, seed: int | None = None) -> list:
        """``num`` elements drawn at random (with or without replacement),
        in random order; without replacement, at most every element.

        >>> rdd = sc.parallelize(range(20), 3)
        >>> len(rdd.takeSample(False, 5, seed=1)), len(rdd.takeSample(True, 30, seed=1))
        (5, 30)
        >>> sorted(rdd.takeSample(False, 50, seed=2)) == list(range(20))
        True
        """
        import random as _random

        if isinstance(num, bool) or not isinstance(num, int):
            raise TypeError(f"takeSample: num must be an int, got {type(num).__name__} {num!r}")
        most = sys.maxsize - int(10.0 * math.sqrt(sys.maxsize))
        if num < 0:
            raise ValueError(f"Sample size cannot be negative. (takeSample: num={num})")
        if num > most:
            raise ValueError(f"Sample size cannot be greater than {most}. (takeSample: num={num})")
        if num == 0 or self.getNumPartitions() == 0:
            return []
        total = self.count()
        if total == 0:
            return []
        rng = _random.Random(seed)
        if not withReplacement and num >= total:
            items = self.collect()
            rng.shuffle(items)
            return items
        fraction = _sample_fraction(num, total, withReplacement)
        items = self.sample(withReplacement, fraction, seed).collect()
        while len(items) < num:  # rare: the fraction leaves a 10^-4 chance of falling short
            items = self.sample(withReplacement, fraction, rng.randint(0, sys.maxsize)).collect()
        rng.shuffle(items)
        return items[:num]

    def toLocalIterator(self, prefetchPartitions: bool = False) -> Iterator:
        """Iterate over every element on the driver, computing one partition
        at a time (one job each), so the driver holds one partition at most;
        with ``prefetchPartitions`` the next partition is computed while this
        one is consumed.

        >>> it = sc.parallelize(range(6), 3).toLocalIterator(prefetchPartitions=True)
        >>> next(it), list(it)
        (0, [1, 2, 3, 4, 5])
        """
        self._require_driver()
        return _partition_by_partition(self, bool(prefetchPartitions))

    def take(self, num: int) -> list:
        """The first ``num`` elements, scanning as few partitions as it can.

        >>> sc.parallelize([2, 3, 4, 5, 6]).cache().take(2)
        [2, 3]
        >>> sc.parallelize(range(100), 100).filter(lambda x: x > 90).take(3)
        [91, 92, 93]
        """
        if isinstance(num, bool) or not isinstance(num, int):
            raise TypeError(f"take: num must be an int, got {type(num).__name__} {num!r}")
        if num < 0:
            raise ValueError(f"take: num must be non-negative, got {num}")
        items: list = []
        total = self.getNumPartitions()
        scanned = 0
        while len(items) < num and scanned < total:
            # Scan one partition first; then grow the scan from the observed
            # yield, at most four times the partitions scanned so far.
            batch = 1
            if scanned > 0:
                if not items:
                    batch = scanned * 4
                else:
                    batch = int(1.5 * num * scanned / len(items)) - scanned
                    batch = min(max(batch, 1), scanned * 4)
            left = num - len(items)
            partitions = range(scanned, min(scanned + batch, total))
            for chunk in self._run(lambda it: list(itertools.islice(it, left)), partitions):
                items.extend(chunk)
            scanned += batch
        return items[:num]

    def first(self) -> Any:
        """The first element.

        >>> sc.parallelize([2, 3, 4]).first()
        2
        >>> sc.parallelize([]).first()
        Traceback (most recent call last):
            ...
        ValueError: RDD is empty
        """
        items = self.take(1)
        if items:
            return items[0]
        raise ValueError("RDD is empty")

    def top(self, num: int, key: Callable[[Any], Any] | None = None) -> list:
        """The ``num`` largest elements, largest first.

        >>> sc.parallelize([10, 4, 2, 12, 3]).top(1)
        [12]
        >>> sc.parallelize([2, 3, 4, 5, 6], 2).top(2)
        [6, 5]
        >>> sc.parallelize([10, 4, 2, 12, 3]).top(3, key=str)
        [4, 3, 2]
        """
        if num < 0:
            raise ValueError(f"top: num must be non-negative, got {num}")
        parts = self._run(lambda it: heapq.nlargest(num, it, key=key))
        return heapq.nlargest(num, itertools.chain.from_iterable(parts), key=key)

    def takeOrdered(self, num: int, key: Callable[[Any], Any] | None = None) -> list:
        """The ``num`` smallest elements, smallest first.

        >>> sc.parallelize([10, 1, 2, 9, 3, 4, 5, 6, 7]).takeOrdered(6)
        [1, 2, 3, 4, 5, 6]
        >>> sc.parallelize([10, 1, 2, 9, 3, 4, 5, 6, 7], 2).takeOrdered(6, key=lambda x: -x)
        [10, 9, 7, 6, 5, 4]
        """
        if num < 0:
            raise ValueError(f"takeOrdered: num must be non-negative, got {num}")
        parts = self._run(lambda it: heapq.nsmallest(num, it, key=key))
        return heapq.nsmallest(num, itertools.chain.from_iterable(parts), key=key)

    @property
    def write(self) -> Any:
        """Spark's DataFrameWriter vocabulary for an RDD of dicts
        (``rdd.write.json/csv/xml/text/sql``: ``ember.etl.writer``)."""
        return self._require_driver()._data_writer(self)

    def saveAsTextFile(self, path: str, compressionCodecClass: str | None = None) -> None:
        """Write each element's ``str`` as a line, one ``part-NNNNN`` file per
        partition, under the directory ``path`` (which must not exist), then
        an empty ``_SUCCESS`` file.

        >>> import os, tempfile
        >>> out = os.path.join(tempfile.mkdtemp(), "out")
        >>> sc.parallelize(["a", "b", "c"], 2).saveAsTextFile(out)
        >>> sorted(os.listdir(out))
        ['_SUCCESS', 'part-00000', 'part-00001']
        """
        from ember.engine.io.textfile import TextOutput

        self._write_output(TextOutput(path, compressionCodecClass))

    def _write_output(self, output: Any, pyspark_ids: int = 3) -> None:
        """Run ``output``'s commit protocol (``TextOutput``): prepare the
        directory, write every partition, commit, or clean up on failure."""
        if not output.prepare():
            return  # save mode 'ignore' and the path exists
        try:
            self._run(output.write_partition, pyspark_ids=pyspark_ids)
        except BaseException:
            output.abort()
            raise
        output.commit()

    def saveAsPickleFile(self, path: str, batchSize: int = 10) -> None:
        """Write the elements as pickled batches of ``batchSize`` (0: 1024,
        negative: a whole partition), one ``part-NNNNN`` file per partition
        under ``path``; ``sc.pickleFile`` reads them back.

        >>> import os, tempfile
        >>> out = os.path.join(tempfile.mkdtemp(), "objects")
        >>> sc.parallelize([{"k": 1}, (2, 3), None], 2).saveAsPickleFile(out)
        >>> sorted(os.listdir(out))
        ['_SUCCESS', 'part-00000', 'part-00001']
        """
        if isinstance(batchSize, bool) or not isinstance(batchSize, int):
            raise TypeError(f"saveAsPickleFile: batchSize must be an int, got {batchSize!r}")
        self._save_pickled(path, batchSize, None, False, "saveAsPickleFile")

    def saveAsSequenceFile(self, path: str, compressionCodecClass: str | None = None) -> None:
        """Write a pair RDD as a sequence file: ember's pickle files of
        (key, value) pairs, optionally compressed; ``sc.sequenceFile`` reads
        them back with keys and values of their original types.

        >>> import os, tempfile
        >>> out = os.path.join(tempfile.mkdtemp(), "pairs")
        >>> sc.parallelize([(1, "a"), (2, "b")]).saveAsSequenceFile(out)
        >>> os.path.exists(os.path.join(out, "_SUCCESS"))
        True
        """
        self._save_pickled(path, 10, compressionCodecClass, True, "saveAsSequenceFile")

    def _save_pickled(self, path: str, batch_size: int, codec_class: str | None,
                      pairs_only: bool, method: str) -> None:
        from ember.engine.io.picklefile import PickleOutput, codec_number

        if not isinstance(path, str) or not path.strip():
            raise ValueError(f"{method}: path must be a non-empty string, got {path!r}")
        batch = 1024 if batch_size == 0 else sys.maxsize if batch_size < 0 else batch_size
        self._write_output(PickleOutput(path, batch,
                                        codec_number(method, codec_class),
                                        _check_pair if pairs_only else None))

    def saveAsHadoopFile(self, path: str, outputFormatClass: str, keyClass: str | None = None,
                         valueClass: str | None = None, keyConverter: str | None = None,
                         valueConverter: str | None = None, conf: dict | None = None,
                         compressionCodecClass: str | None = None) -> None:
        """Write a pair RDD with an old-API Hadoop output format: TextOutputFormat
        (``key<TAB>value`` lines) or SequenceFileOutputFormat (see
        :meth:`saveAsSequenceFile`); other formats raise NotImplementedError.

        >>> import os, tempfile
        >>> out = os.path.join(tempfile.mkdtemp(), "text")
        >>> sc.parallelize([("a", 1), ("b", 2)], 1).saveAsHadoopFile(
        ...     out, "org.apache.hadoop.mapred.TextOutputFormat")
        >>> open(os.path.join(out, "part-00000")).read()
        'a\\t1\\nb\\t2\\n'
        """
        from ember.engine.io import hadoop

        hadoop.check_converters("saveAsHadoopFile", keyConverter, valueConverter)
        hadoop.save(self, "saveAsHadoopFile", path, outputFormatClass, "old", conf,
                    compressionCodecClass)

    def saveAsNewAPIHadoopFile(self, path: str, outputFormatClass: str,
                               keyClass: str | None = None, valueClass: str | None = None,
                               keyConverter: str | None = None,
                               valueConverter: str | None = None,
                               conf: dict | None = None) -> None:
        """:meth:`saveAsHadoopFile` with the new Hadoop API's class names
        (``org.apache.hadoop.mapreduce.lib.output.*``); compression from ``conf``.

        >>> import os, tempfile
        >>> out = os.path.join(tempfile.mkdtemp(), "seq")
        >>> sc.parallelize([(1, [2.0])]).saveAsNewAPIHadoopFile(
        ...     out, "org.apache.hadoop.mapreduce.lib.output.SequenceFileOutputFormat")
        >>> os.path.exists(os.path.join(out, "_SUCCESS"))
        True
        """
        from ember.engine.io import hadoop

        hadoop.check_converters("saveAsNewAPIHadoopFile", keyConverter, valueConverter)
        hadoop.save(self, "saveAsNewAPIHadoopFile", path, outputFormatClass, "new", conf, None)

    def saveAsHadoopDataset(self, conf: dict, keyConverter: str | None = None,
                            valueConverter: str | None = None) -> None:
        """:meth:`saveAsHadoopFile` with the output directory and format taken
        from ``conf`` (``mapreduce.output.fileoutputformat.outputdir``,
        ``mapred.output.format.class``).

        >>> import os, tempfile
        >>> out = os.path.join(tempfile.mkdtemp(), "data")
        >>> sc.parallelize([("k", "v")], 1).saveAsHadoopDataset({
        ...     "mapred.output.format.class": "org.apache.hadoop.mapred.TextOutputFormat",
        ...     "mapreduce.output.fileoutputformat.outputdir": out})
        >>> open(os.path.join(out, "part-00000")).read()
        'k\\tv\\n'
        """
        self._save_dataset("saveAsHadoopDataset", "old", conf, keyConverter, valueConverter)

    def saveAsNewAPIHadoopDataset(self, conf: dict, keyConverter: str | None = None,
                                  valueConverter: str | None = None) -> None:
        """:meth:`saveAsHadoopDataset` with the new Hadoop API
        (``mapreduce.job.outputformat.class``).

        >>> import os, tempfile
        >>> out = os.path.join(tempfile.mkdtemp(), "data")
        >>> sc.parallelize([("k", "v")]).saveAsNewAPIHadoopDataset({
        ...     "mapreduce.job.outputformat.class":
        ...         "org.apache.hadoop.mapreduce.lib.output.SequenceFileOutputFormat",
        ...     "mapreduce.output.fileoutputformat.outputdir": out})
        >>> os.path.exists(os.path.join(out, "_SUCCESS"))
        True
        """
        self._save_dataset("saveAsNewAPIHadoopDataset", "new", conf, keyConverter, valueConverter)

    def _save_dataset(self, method: str, api: str, conf: dict, keyConverter: Any,
                      valueConverter: Any) -> None:
        from ember.engine.io import hadoop

        if not isinstance(conf, dict):
            raise TypeError(f"{method}: conf must be a dict, got {type(conf).__name__}")
        hadoop.check_converters(method, keyConverter, valueConverter)
        path = hadoop.require_conf(method, conf, hadoop.OUTPUT_DIR)
        format_class = hadoop.require_conf(method, conf, hadoop.OUTPUT_FORMAT_CLASS[api])
        hadoop.save(self, method, path, format_class, api, conf, None)

    def collectWithJobGroup(self, groupId: str, description: str,
                            interruptOnCancel: bool = False) -> list:
        """Deprecated: :meth:`collect` in job group ``groupId`` (set with
        ``sc.setJobGroup`` first, so ``sc.cancelJobGroup(groupId)`` cancels it)."""
        warnings.warn("Deprecated in 3.1, Use pyspark.InheritableThread with the pinned "
                      "thread mode enabled.", FutureWarning, stacklevel=2)
        self._require_driver().setJobGroup(groupId, description, interruptOnCancel)
        return self.collect()

    # Set by ember.sql when a SparkSession exists (PySpark attaches toDF then too).
    _dataframe_maker: Callable[..., Any] | None = None

    def toDF(self, schema: Any = None, sampleRatio: float | None = None) -> Any:
        """A DataFrame of this RDD's rows (tuples, Rows, dicts): PySpark's
        ``spark.createDataFrame(rdd, schema, sampleRatio)``; a SparkSession
        (``ember.sql``) must have been made first, as in PySpark.

        >>> from ember.sql import SparkSession
        >>> _ = SparkSession.builder.getOrCreate()
        >>> sc.parallelize([(1, "a")]).toDF(["n", "s"]).collect()
        [Row(n=1, s='a')]
        """
        maker = RDD._dataframe_maker
        if maker is None:
            raise RuntimeError("RDD.toDF needs a SparkSession: make one first "
                               "(ember.sql.SparkSession.builder.getOrCreate()), as in PySpark")
        return maker(self, schema, sampleRatio)


class _SortPartition:
    """Sorts one partition of pairs by ``keyfunc(key)`` (sortByKey,
    repartitionAndSortWithinPartitions)."""

    def __init__(self, keyfunc: Callable[[Any], Any], ascending: bool, method: str, budget: int):
        self.keyfunc = keyfunc
        self.ascending = ascending
        self.method = method
        self.budget = budget
        # Decided here, on the driver: the default identity keyfunc arrives on
        # a worker as a copy, no longer the default object itself.
        self.identity = any(keyfunc is default for default in (
            RDD.sortByKey.__defaults__[-1],
            RDD.repartitionAndSortWithinPartitions.__defaults__[-1]))

    def __call__(self, _: int, iterator: Iterator) -> Iterator:
        from ember.engine.data.spill import external_sorted

        keyfunc = self.keyfunc
        # With the methods' default (identity) keyfunc, keys are compared in C.
        key = itemgetter(0) if self.identity else (lambda kv: keyfunc(kv[0]))
        try:
            return external_sorted(iterator, key, not self.ascending, self.budget)
        except TypeError as error:
            if "not supported between instances" not in str(error):
                raise
            raise TypeError(f"{self.method}: keys cannot be ordered: {error}") from error


def _check_depth(depth: Any, method: str) -> None:
    if isinstance(depth, bool) or not isinstance(depth, int):
        raise TypeError(f"{method}: depth must be an int, got {type(depth).__name__} {depth!r}")
    if depth < 1:
        raise ValueError(f"Depth cannot be smaller than 1 but got {depth}. ({method})")


def _check_pair(record: Any) -> None:
    if not isinstance(record, (tuple, list)) or len(record) != 2:
        raise TypeError(f"a sequence file holds (key, value) pairs; got {record!r}")


def _sample_fraction(num: int, total: int, with_replacement: bool) -> float:
    """A sampling fraction that yields at least ``num`` of ``total`` elements
    with probability 0.9999 (Spark's bounds: Poisson tail with replacement,
    binomial tail without)."""
    fraction = num / total
    if with_replacement:
        deviations = 9 if num < 12 else 5
        return fraction + deviations * math.sqrt(fraction / total)
    gamma = -math.log(0.00005) / total
    return min(1.0, fraction + gamma + math.sqrt(gamma * gamma + 2 * gamma * fraction))


def _partition_by_partition(rdd: RDD, prefetch: bool) -> Iterator:
    """toLocalIterator's generator: one job per partition, the next one
    started before this one is consumed when prefetching."""
    count = rdd.getNumPartitions()

    rdd.id()  # PySpark reads the RDD's own JVM RDD, partition by partition

    def fetch(index: int) -> list:
        return rdd._run(list, [index], pyspark_ids=None)[0]

    if not prefetch:
        for index in range(count):
            yield from fetch(index)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="ember-prefetch") as pool:
        pending = pool.submit(fetch, 0) if count else None
        for index in range(count):
            current = pending.result()
            pending = pool.submit(fetch, index + 1) if index + 1 < count else None
            yield from current


def _reduce_partition(f, iterator) -> list:
    """[the partition reduced by f], or [] for an empty partition."""
    iterator = iter(iterator)
    for first in iterator:
        return [reduce(f, iterator, first)]
    return []


def _count_iterator(iterator) -> int:
    count = 0
    for count, _ in enumerate(iterator, 1):
        pass
    return count

