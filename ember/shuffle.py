"""``ember.shuffle``: the names of PySpark's ``pyspark.shuffle``.

``DiskBytesSpilled``, ``MemoryBytesSpilled`` and ``process`` are read from
the module that updates them at each access (PEP 562), so
``ember.shuffle.DiskBytesSpilled`` is always the current count.
"""

from ember.engine.data import external as _external
from ember.engine.data.external import (
    Aggregator,
    ExternalGroupBy,
    ExternalList,
    ExternalListOfList,
    ExternalMerger,
    ExternalSorter,
    GroupByKey,
    Merger,
    SimpleAggregator,
    get_used_memory,
)

_LIVE = ("DiskBytesSpilled", "MemoryBytesSpilled", "process")


def __getattr__(name: str):
    if name in _LIVE:
        return getattr(_external, name)
    raise AttributeError(f"module 'ember.shuffle' has no attribute {name!r}")
