"""ember: a Spark-style distributed batch engine with a bundled log store.

The public façade. It owns no logic: it re-exports the public names lazily
(PEP 562), so ``import ember`` stays cheap and a worker process that imports
``ember.worker`` does not pay for the driver.

Source-tree layout: the packages live in top-level folders (``engine/``,
``scheduler/``, ...) mapped onto ``ember.*`` by ``setup.cfg``. When this file
is imported straight from a source checkout (for example ``python -m ember``
run from the repository root, where the checkout's ``ember/`` folder shadows
the installed package), the checkout root is appended to ``__path__`` so that
``ember.engine`` resolves to ``engine/`` exactly as the installed mapping
does: one file, one module name.
"""

from __future__ import annotations

import os as _os

_root = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if _os.path.isfile(_os.path.join(_root, "setup.cfg")) and _os.path.isfile(
        _os.path.join(_root, "engine", "__init__.py")):
    __path__.append(_root)  # noqa: F821 - __path__ is defined for packages
del _root

from ember.engine.exports import lazy_exports  # noqa: E402
from ember.engine.version import __version__  # noqa: E402

_EXPORTS = {
    "Context": "ember.driver.context",
    "SparkContext": "ember.driver.context",
    "Conf": "ember.driver.conf",
    "SparkConf": "ember.driver.conf",
    "RDD": "ember.engine.api.rdd",
    "Partitioner": "ember.engine.api.partitioner",
    "portable_hash": "ember.engine.data.hashing",
    "StorageLevel": "ember.engine.api.storage",
    "TaskContext": "ember.engine.api.task_context",
    "EmberError": "ember.engine.errors",
    "ConfigError": "ember.engine.errors",
    "TaskFailedError": "ember.engine.errors",
    "JobAbortedError": "ember.engine.errors",
    "JobCancelledError": "ember.engine.errors",
    "WorkerLostError": "ember.engine.errors",
    "AuthenticationError": "ember.engine.errors",
    "ResultTooLargeError": "ember.engine.errors",
    "NoWorkersError": "ember.engine.errors",
    "IndeterminateStageError": "ember.engine.errors",
    "StoppedContextError": "ember.engine.errors",
    "Accumulator": "ember.engine.api.accumulators",
    "AccumulatorParam": "ember.engine.api.accumulators",
    "StatCounter": "ember.engine.api.statcounter",
    "InheritableThread": "ember.driver.threads",
    "inheritable_thread_target": "ember.driver.threads",
    "Broadcast": "ember.engine.api.broadcast",
    "SparkFiles": "ember.engine.io.files",
    "BarrierTaskContext": "ember.engine.api.barrier",
    "LogStore": "ember.ingest.client.store",
    "OffsetRange": "ember.ingest.structs",
    "BarrierTaskInfo": "ember.engine.api.barrier",
    "RDDBarrier": "ember.engine.api.barrier",
    "MarshalSerializer": "ember.engine.wire.serializers",
    "CPickleSerializer": "ember.engine.wire.serializers",
    "StatusTracker": "ember.scheduler.status",
    "SparkJobInfo": "ember.scheduler.status",
    "SparkStageInfo": "ember.scheduler.status",
    "Profiler": "ember.engine.api.profiling",
    "BasicProfiler": "ember.engine.api.profiling",
    "keyword_only": "ember.engine.util",
    "since": "ember.engine.util",
}

__all__ = ["__version__", *_EXPORTS]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
del lazy_exports
