"""Saving and loading models: Spark's directory layout, JSON throughout.

Owns the on-disk form of every model's ``save(sc, path)`` and
``load(sc, path)``. A model directory holds, as Spark's do:

* ``path/metadata/part-00000``: one JSON line, ``{"class": <Spark's model
  class name>, "version": <format version>, ...}`` plus the model's scalar
  parameters (``numFeatures``, ``numClasses``, ``k``, ...);
* ``path/data/part-NNNNN``: the model's data, one JSON record a line
  (weights, centers, nodes, factors), written by a job like any text output
  (``saveAsTextFile``: committed part files, then ``_SUCCESS``).

*Design change*: Spark stores the data part as Parquet. ember has no Parquet
writer of its own and ``pyspark.mllib`` users load models through the
same library, so the data is JSON lines; the metadata is Spark's. A model
loaded with the wrong class raises ``ValueError`` naming both classes.

Both parts are written through the Context, so the path must be reachable
by every worker (as for any Spark output); ``path`` itself may exist (a
fresh ``tempfile.mkdtemp()``, as the examples use), its ``metadata`` and
``data`` folders must not. JSON is read back with ``json.loads`` only:
loading a model never unpickles anything.
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterable

_FORMAT = "1.0"


def _check_path(sc: Any, path: Any) -> None:
    if not hasattr(sc, "parallelize"):
        raise TypeError(f"sc should be a SparkContext, got type {type(sc)}")
    if not isinstance(path, str):
        raise TypeError(f"path should be a string, got type {type(path)}")


def save(sc: Any, path: str, class_name: str, params: dict, records: Iterable | Any,
         slices: int | None = None) -> None:
    """Write a model: its metadata and its data records (a list of
    JSON-able values, or an RDD of them for models too large to hold)."""
    _check_path(sc, path)
    metadata = json.dumps({"class": class_name, "version": _FORMAT, **params})
    sc.parallelize([metadata], 1).saveAsTextFile(os.path.join(path, "metadata"))
    if hasattr(records, "mapPartitions"):
        lines = records.map(json.dumps)
    else:
        records = list(records)
        lines = sc.parallelize([json.dumps(record) for record in records],
                               slices or max(1, min(len(records) // 10_000 + 1, 8)))
    lines.saveAsTextFile(os.path.join(path, "data"))


def load_metadata(sc: Any, path: str, class_name: str | tuple) -> dict:
    """The metadata of the model at ``path``, checked to be one of ``class_name``."""
    _check_path(sc, path)
    folder = os.path.join(path, "metadata")
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"no model at {path}: {folder} does not exist (a model saved "
                                f"with save(sc, path) has metadata/ and data/ folders)")
    metadata = json.loads(sc.textFile(folder, 1).first())
    expected = (class_name,) if isinstance(class_name, str) else class_name
    if metadata.get("class") not in expected:
        raise ValueError(f"the model at {path} is a {metadata.get('class')}, expected "
                         f"{' or '.join(expected)}")
    return metadata


def load_records(sc: Any, path: str) -> list:
    """The data records of the model at ``path``, on the driver."""
    return [json.loads(line) for line in sc.textFile(os.path.join(path, "data")).collect()]


def load_record_rdd(sc: Any, path: str) -> Any:
    """The data records of the model at ``path``, as an RDD."""
    return sc.textFile(os.path.join(path, "data")).map(json.loads)


def floats(values: Any) -> list[float]:
    """A numpy array or vector as a JSON-able list of floats."""
    if hasattr(values, "toArray"):
        values = values.toArray()
    return [float(value) for value in values]
