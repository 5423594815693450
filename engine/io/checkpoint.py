"""Checkpoints: where a checkpointed RDD's records live once its lineage is cut.

An RDD marked by ``checkpoint()`` (reliable) or ``localCheckpoint()`` (local)
is materialized after the first job that reaches it (``RDD._do_checkpoint``,
called by the Context after every job):

* reliable: one more job writes every partition as a pickle file
  (``ember.engine.io.picklefile``) to ``<checkpoint dir>/rdd-<id>/part-NNNNN``,
  committed like ``saveAsPickleFile``; the RDD then reads those files
  (``ReliableCheckpointRDD``). The checkpoint directory is
  ``<dirName>/<random uuid>`` (``new_checkpoint_dir``), so two applications
  sharing a ``dirName`` never mix their files.
* local: the RDD is persisted with a disk level; one more job makes sure every
  partition is cached (cached ones are read, not recomputed); the RDD then
  reads its cached blocks (``LocalCheckpointRDD``), and a lost block is an
  error: nothing behind it is left to recompute it.

State kept on the RDD (driver side): the mode (``None``, "reliable" or
"local"), whether a materializing job is running (so the Context's hook does
not recurse into it), and the reader RDD once materialized. One lock
serializes materializations, so two threads finishing jobs at once never
write the same checkpoint twice.
"""

from __future__ import annotations

import os
import threading
import uuid
from typing import TYPE_CHECKING, Iterator

from ember.engine.io import picklefile
from ember.engine.api.storage import StorageLevel

if TYPE_CHECKING:
    from ember.engine.api.rdd import RDD

_lock = threading.RLock()  # reentrant: a materializing job ends by calling the hook again

LOCAL_MISSING = (
    "Checkpoint block rdd_{rdd}_{partition} not found! Either the worker that originally "
    "checkpointed this partition is no longer alive, or the original RDD is unpersisted. "
    "If this problem persists, you may consider using `rdd.checkpoint()` instead, which is "
    "slower than local checkpointing but more fault-tolerant.")


def new_checkpoint_dir(dir_name: str) -> str:
    """Create ``<dir_name>/<uuid>`` and return its absolute path: what
    ``Context.setCheckpointDir`` stores and ``getCheckpointDir`` returns."""
    if not isinstance(dir_name, str) or not dir_name.strip():
        raise ValueError(f"setCheckpointDir: dirName must be a non-empty string, got {dir_name!r}")
    path = os.path.join(os.path.abspath(os.path.expanduser(dir_name)), str(uuid.uuid4()))
    os.makedirs(path)
    return path


def local_storage_level(level: StorageLevel) -> StorageLevel:
    """The level a local checkpoint keeps its blocks at: the RDD's own level
    with disk added (memory alone may drop a block with nothing to rebuild it)."""
    if level == StorageLevel.NONE:
        return StorageLevel.MEMORY_AND_DISK
    return StorageLevel(True, level.useMemory, level.useOffHeap, level.deserialized,
                        level.replication)


def write_reliable(rdd: "RDD", directory: str) -> str:
    """Write every partition of ``rdd`` under ``directory``/rdd-<id>; returns that path."""
    path = os.path.join(directory, f"rdd-{rdd.id()}")
    # PySpark's JVM makes one RDD to write the checkpoint with.
    rdd._write_output(picklefile.PickleOutput(path, batch_size=1024), pyspark_ids=1)
    return path


def cache_every_partition(rdd: "RDD") -> None:
    """Compute (or read from the cache) every partition once, so each one is
    cached somewhere before the lineage is cut."""
    rdd._run(_drain)


def _drain(iterator: Iterator) -> None:
    for _ in iterator:
        pass


def materialize(rdd: "RDD") -> None:
    """Checkpoint ``rdd`` now if it is marked and not yet materialized."""
    from ember.engine.api.rdds import LocalCheckpointRDD, ReliableCheckpointRDD

    with _lock:
        if rdd._checkpoint_rdd is not None or rdd._checkpointing or rdd._checkpoint_mode is None:
            return
        ctx = rdd._require_driver()
        rdd._checkpointing = True
        try:
            if rdd._checkpoint_mode == "reliable":
                path = write_reliable(rdd, ctx._checkpoint_dir)
                reader = ReliableCheckpointRDD(ctx, path, rdd.getNumPartitions(), rdd._callsite)
                rdd._checkpoint_file = path
            else:
                cache_every_partition(rdd)
                reader = LocalCheckpointRDD(ctx, rdd._id, rdd.getNumPartitions(), rdd._callsite)
        finally:
            rdd._checkpointing = False
        rdd._checkpoint_rdd = reader


def read_checkpoint_partition(path: str, index: int) -> Iterator:
    part = os.path.join(path, f"part-{index:05d}")
    codec = picklefile.read_header(part, "checkpoint")
    return picklefile.read_split(part, 0, os.path.getsize(part), codec)


def read_local_block(rdd_id: int, index: int, context) -> Iterator:
    values = context._env.blocks.get((rdd_id, index))
    if values is None:
        raise RuntimeError(LOCAL_MISSING.format(rdd=rdd_id, partition=index))
    return iter(values)
