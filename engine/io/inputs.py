"""The Context's input methods besides ``parallelize`` and ``textFile``: one
function per ``SparkContext`` method, taking the Context first and PySpark's
arguments after it, each building an RDD kind of ``ember.engine.api.rdds``.
The whole-file readers name their RDD after the path, as PySpark does.

Each checks its arguments here, on the driver, naming the argument; paths
are listed (and a missing one raised) when the first job prepares the RDD,
as for ``textFile``. ``minPartitions=None`` means the Context's
``defaultMinPartitions``.

>>> import os, tempfile
>>> folder = tempfile.mkdtemp()
>>> for name, text in [("a.txt", "alpha"), ("b.txt", "beta")]:
...     with open(os.path.join(folder, name), "w") as f:
...         _ = f.write(text)
>>> sorted(text for _, text in whole_text_files(sc, folder).collect())
['alpha', 'beta']
"""

from __future__ import annotations

from typing import Any

from ember.engine.io import hadoop
from ember.engine.api.callsite import user_callsite
from ember.engine.api.rdd import RDD, _check_positive
from ember.engine.api.rdds import BinaryRecordsRDD, OffsetLinesRDD, PickleFileRDD, TextFileRDD, WholeFilesRDD


def _min_partitions(ctx: Any, value: int | None, method: str) -> int:
    if value is None:
        return ctx.defaultMinPartitions
    return _check_positive("minPartitions", value, method)


def _check_path(path: Any, method: str) -> str:
    if not isinstance(path, str) or not path.strip():
        raise ValueError(f"{method}: path must be a non-empty string, got {path!r}")
    return path


def whole_text_files(ctx: Any, path: str, minPartitions: int | None = None,
                     use_unicode: bool = True) -> RDD:
    """``sc.wholeTextFiles``: one ``(file URI, content)`` record per file;
    content as ``str`` (UTF-8) or, with ``use_unicode=False``, ``bytes``."""
    ctx._check_running()
    return WholeFilesRDD(ctx, _check_path(path, "wholeTextFiles"),
                         _min_partitions(ctx, minPartitions, "wholeTextFiles"), bool(use_unicode),
                         "wholeTextFiles", user_callsite(2)).setName(path)


def binary_files(ctx: Any, path: str, minPartitions: int | None = None) -> RDD:
    """``sc.binaryFiles``: one ``(file URI, bytes)`` record per file."""
    ctx._check_running()
    return WholeFilesRDD(ctx, _check_path(path, "binaryFiles"),
                         _min_partitions(ctx, minPartitions, "binaryFiles"), False,
                         "binaryFiles", user_callsite(2)).setName(path)


def binary_records(ctx: Any, path: str, recordLength: int) -> RDD:
    """``sc.binaryRecords``: the files cut into records of ``recordLength`` bytes."""
    ctx._check_running()
    return BinaryRecordsRDD(ctx, _check_path(path, "binaryRecords"),
                            _check_positive("recordLength", recordLength, "binaryRecords"),
                            user_callsite(2))


def pickle_file(ctx: Any, name: str, minPartitions: int | None = None) -> RDD:
    """``sc.pickleFile``: the records written by ``saveAsPickleFile``."""
    ctx._check_running()
    return PickleFileRDD(ctx, _check_path(name, "pickleFile"),
                         _min_partitions(ctx, minPartitions, "pickleFile"), "pickleFile",
                         user_callsite(2))


def sequence_file(ctx: Any, path: str, keyClass: str | None = None, valueClass: str | None = None,
                  keyConverter: str | None = None, valueConverter: str | None = None,
                  minSplits: int | None = None, batchSize: int = 0) -> RDD:
    """``sc.sequenceFile``: the pairs written by ``saveAsSequenceFile`` (or a
    SequenceFileOutputFormat); key and value classes are ignored."""
    ctx._check_running()
    hadoop.check_converters("sequenceFile", keyConverter, valueConverter)
    return PickleFileRDD(ctx, _check_path(path, "sequenceFile"),
                         _min_partitions(ctx, minSplits, "sequenceFile"), "sequenceFile",
                         user_callsite(2))


def _hadoop_input(ctx: Any, method: str, api: str, path: str, inputFormatClass: str,
                  keyConverter: Any, valueConverter: Any, conf: dict | None) -> RDD:
    ctx._check_running()
    hadoop.check_converters(method, keyConverter, valueConverter)
    kind = hadoop.format_kind(method, inputFormatClass, api, "input")
    path = _check_path(path, method)
    callsite = user_callsite(2)
    partitions = ctx.defaultMinPartitions
    if kind == "sequence":
        return PickleFileRDD(ctx, path, partitions, method, callsite)
    if kind == "text":
        return OffsetLinesRDD(ctx, path, partitions, method, callsite)
    separator = hadoop.conf_value(conf, hadoop.KEY_VALUE_SEPARATOR, "\t")
    lines = TextFileRDD(ctx, path, partitions, True, callsite)
    return lines.map(hadoop.SplitKeyValue(separator))


def hadoop_file(ctx: Any, path: str, inputFormatClass: str, keyClass: str, valueClass: str,
                keyConverter: str | None = None, valueConverter: str | None = None,
                conf: dict | None = None, batchSize: int = 0) -> RDD:
    """``sc.hadoopFile`` (old Hadoop API): see ``ember.engine.io.hadoop``."""
    return _hadoop_input(ctx, "hadoopFile", "old", path, inputFormatClass, keyConverter,
                         valueConverter, conf)


def new_api_hadoop_file(ctx: Any, path: str, inputFormatClass: str, keyClass: str,
                        valueClass: str, keyConverter: str | None = None,
                        valueConverter: str | None = None, conf: dict | None = None,
                        batchSize: int = 0) -> RDD:
    """``sc.newAPIHadoopFile`` (new Hadoop API): see ``ember.engine.io.hadoop``."""
    return _hadoop_input(ctx, "newAPIHadoopFile", "new", path, inputFormatClass, keyConverter,
                         valueConverter, conf)


def hadoop_rdd(ctx: Any, inputFormatClass: str, keyClass: str, valueClass: str,
               keyConverter: str | None = None, valueConverter: str | None = None,
               conf: dict | None = None, batchSize: int = 0) -> RDD:
    """``sc.hadoopRDD``: as ``hadoopFile``, the path taken from ``conf``."""
    path = hadoop.require_conf("hadoopRDD", conf, hadoop.INPUT_DIR)
    return _hadoop_input(ctx, "hadoopRDD", "old", path, inputFormatClass, keyConverter,
                         valueConverter, conf)


def new_api_hadoop_rdd(ctx: Any, inputFormatClass: str, keyClass: str, valueClass: str,
                       keyConverter: str | None = None, valueConverter: str | None = None,
                       conf: dict | None = None, batchSize: int = 0) -> RDD:
    """``sc.newAPIHadoopRDD``: as ``newAPIHadoopFile``, the path taken from ``conf``."""
    path = hadoop.require_conf("newAPIHadoopRDD", conf, hadoop.INPUT_DIR)
    return _hadoop_input(ctx, "newAPIHadoopRDD", "new", path, inputFormatClass, keyConverter,
                         valueConverter, conf)
