"""Memory sizing: a worker's default memory budget, and the estimated size of
live Python objects.

A worker's budget (``spark.executor.memory``) defaults to its share of this
machine: ``DEFAULT_SHARE`` of the physical memory psutil reports, divided
among the workers started on it, never below ``MINIMUM_WORKER_MEMORY``. Its
block manager lets cached partitions hold ``spark.memory.fraction`` of it.

Sizes are estimates in the manner of Spark's ``SizeEstimator``: the shallow
size of an object (``sys.getsizeof``) plus, a few levels down, the sizes of
what it holds, measured on an evenly spread sample of a large container's
items and scaled up. A numpy array counts its data buffer once, whether it
owns it or views another's. Shared objects (small ints, interned strings)
are counted at every reference, so estimates err high. The same objects give
the same estimate, on every worker.

Also owns the worker's allocator settings (``tune_allocator``), how often
its cyclic garbage collector runs (``tune_collector``), and its
address-space limit (``limit_address_space``: ``spark.executor.pyspark.memory``,
as PySpark limits its Python workers).

Must not know: RDDs, tasks, the scheduler.
"""

from __future__ import annotations

import ctypes
import gc
import os
import sys
from typing import Any

DEFAULT_SHARE = 0.6
STORAGE_FRACTION = 0.6  # spark.memory.fraction's default: the cache's share of a worker
MINIMUM_WORKER_MEMORY = 256 * 2**20
_SAMPLES = 16
_DEPTH = 4
_CONTAINERS = (tuple, list, set, frozenset)


def default_worker_memory(workers_on_host: int = 1) -> int:
    """The memory budget of one of ``workers_on_host`` workers on this machine."""
    import psutil  # only here: workers and clients that never size a budget skip it

    share = int(psutil.virtual_memory().total * DEFAULT_SHARE) // max(1, workers_on_host)
    return max(MINIMUM_WORKER_MEMORY, share)


def _spread(items: Any, count: int) -> list:
    """``count`` items taken at even steps through a sequence (or an iterable)."""
    if not isinstance(items, (list, tuple)):
        items = list(items)
    step = len(items) / count
    return [items[int(i * step)] for i in range(count)]


def _sampled_total(items: Any, length: int, depth: int) -> int:
    if length <= _SAMPLES:
        return sum(estimate_size(item, depth) for item in items)
    sample = _spread(items, _SAMPLES)
    return sum(estimate_size(item, depth) for item in sample) * length // _SAMPLES


def estimate_size(obj: Any, depth: int = _DEPTH) -> int:
    """Estimated bytes held by ``obj`` and what it refers to, ``depth`` levels down."""
    size = sys.getsizeof(obj, 64)
    kind = type(obj)
    if kind.__name__ == "ndarray" and kind.__module__ == "numpy":
        # getsizeof counts the buffer of an array that owns it, not of a view.
        return size if obj.base is None else size + obj.nbytes
    if depth <= 0:
        return size
    depth -= 1
    if kind in _CONTAINERS or isinstance(obj, _CONTAINERS):
        return size + _sampled_total(obj, len(obj), depth)
    if isinstance(obj, dict):
        return (size + _sampled_total(obj.keys(), len(obj), depth)
                + _sampled_total(obj.values(), len(obj), depth))
    attributes = getattr(obj, "__dict__", None)
    if isinstance(attributes, dict):
        return size + estimate_size(attributes, depth)
    return size


# glibc's mallopt parameters.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 2 * 2**20
TRIM_THRESHOLD = 16 * 2**20


def tune_allocator() -> bool:
    """Keep glibc's allocator from returning memory to the kernel after every
    large temporary: allocations under MMAP_THRESHOLD come from the heap, and
    up to TRIM_THRESHOLD of free space stays at its top. With glibc's
    defaults, numpy code whose temporaries are around a megabyte maps and
    unmaps (or grows and trims) them on every call and spends much of its
    time in page faults. Costs at most TRIM_THRESHOLD of memory kept. Skipped
    when the environment sets any MALLOC_* tunable (the user's choice wins)
    and where there is no glibc. Returns whether it applied."""
    if any(name.startswith("MALLOC_") for name in os.environ):
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))


# The cyclic collector's young-generation threshold in a worker: net new
# container objects (tuples, lists, dicts, ... allocated and not yet freed)
# between two collections. CPython's default is 700.
COLLECT_EVERY = 1_000_000


def tune_collector() -> None:
    """Run the cyclic garbage collector once per COLLECT_EVERY net new
    container objects instead of CPython's 700. A task that moves records
    keeps hundreds of thousands of tuples, lists and dicts alive at once
    (its partition, buckets, a merger's dict); with the defaults each
    young collection walks them again, and a full collection, every 25 %
    of heap growth, walks everything: a third to a half of a join's CPU
    time (measured). Records need no cyclic collection: reference counting
    frees them as soon as they are dropped. Cycles that user code makes are
    still collected, after at most COLLECT_EVERY net new objects."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(COLLECT_EVERY, middle, old)


def limit_address_space(limit: int) -> int | None:
    """Cap this process's address space (RLIMIT_AS, soft and hard) at
    ``limit`` bytes, as PySpark caps its Python workers with
    ``spark.executor.pyspark.memory``: past it an allocation raises
    MemoryError instead of pushing the machine into swap or the OOM killer.
    A lower limit already in place is kept. Returns the address space in use
    when the limit was set (None if it was not)."""
    import resource

    import psutil

    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY and soft <= limit:
        return None
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return psutil.Process().memory_info().vms
