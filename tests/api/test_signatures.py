"""Every public member of PySpark's ``RDD``, ``SparkContext``,
``StatCounter`` and ``StorageLevel`` exists in ember with a compatible
signature: the same parameter names in the same order, the same defaults
(a callable default may be any callable), and nothing extra that is
required. The member lists below are PySpark 4's API, written out once from
an installed pyspark (names, parameters and defaults only).

Members that belong to the Context's side (broadcast, accumulators, job
groups and tags, files, checkpoint directory, status, input methods, the
barrier stage) are checked by ``test_context_side_members_exist``, which
lists every one still missing.
"""

from __future__ import annotations

import importlib
import inspect
import typing

import pytest

import ember
from ember.engine.api.rdd import RDD as EmberRDD
from ember.engine.api.statcounter import StatCounter as EmberStatCounter
from ember.engine.api.storage import StorageLevel as EmberStorageLevel

# name -> "(parameters)" (optionally prefixed by "classmethod "), "property" or
# "attribute"; "<callable>" stands for a function default.
RDD = {
    '__add__': '(other)',
    'aggregate': '(zeroValue, seqOp, combOp)',
    'aggregateByKey': '(zeroValue, seqFunc, combFunc, numPartitions=None, partitionFunc=<callable>)',
    'barrier': '()',
    'cache': '()',
    'cartesian': '(other)',
    'checkpoint': '()',
    'cleanShuffleDependencies': '(blocking=False)',
    'coalesce': '(numPartitions, shuffle=False)',
    'cogroup': '(other, numPartitions=None)',
    'collect': '()',
    'collectAsMap': '()',
    'collectWithJobGroup': '(groupId, description, interruptOnCancel=False)',
    'combineByKey': '(createCombiner, mergeValue, mergeCombiners, numPartitions=None, partitionFunc=<callable>)',
    'context': 'property',
    'count': '()',
    'countApprox': '(timeout, confidence=0.95)',
    'countApproxDistinct': '(relativeSD=0.05)',
    'countByKey': '()',
    'countByValue': '()',
    'distinct': '(numPartitions=None)',
    'filter': '(f)',
    'first': '()',
    'flatMap': '(f, preservesPartitioning=False)',
    'flatMapValues': '(f)',
    'fold': '(zeroValue, op)',
    'foldByKey': '(zeroValue, func, numPartitions=None, partitionFunc=<callable>)',
    'foreach': '(f)',
    'foreachPartition': '(f)',
    'fullOuterJoin': '(other, numPartitions=None)',
    'getCheckpointFile': '()',
    'getNumPartitions': '()',
    'getResourceProfile': '()',
    'getStorageLevel': '()',
    'glom': '()',
    'groupBy': '(f, numPartitions=None, partitionFunc=<callable>)',
    'groupByKey': '(numPartitions=None, partitionFunc=<callable>)',
    'groupWith': '(other, *others)',
    'histogram': '(buckets)',
    'id': '()',
    'intersection': '(other)',
    'isCheckpointed': '()',
    'isEmpty': '()',
    'isLocallyCheckpointed': '()',
    'join': '(other, numPartitions=None)',
    'keyBy': '(f)',
    'keys': '()',
    'leftOuterJoin': '(other, numPartitions=None)',
    'localCheckpoint': '()',
    'lookup': '(key)',
    'map': '(f, preservesPartitioning=False)',
    'mapPartitions': '(f, preservesPartitioning=False)',
    'mapPartitionsWithIndex': '(f, preservesPartitioning=False)',
    'mapPartitionsWithSplit': '(f, preservesPartitioning=False)',
    'mapValues': '(f)',
    'max': '(key=None)',
    'mean': '()',
    'meanApprox': '(timeout, confidence=0.95)',
    'min': '(key=None)',
    'name': '()',
    'partitionBy': '(numPartitions, partitionFunc=<callable>)',
    'persist': '(storageLevel=StorageLevel(False, True, False, False, 1))',
    'pipe': '(command, env=None, checkCode=False)',
    'randomSplit': '(weights, seed=None)',
    'reduce': '(f)',
    'reduceByKey': '(func, numPartitions=None, partitionFunc=<callable>)',
    'reduceByKeyLocally': '(func)',
    'repartition': '(numPartitions)',
    'repartitionAndSortWithinPartitions': '(numPartitions=None, partitionFunc=<callable>, ascending=True, keyfunc=<callable>)',
    'rightOuterJoin': '(other, numPartitions=None)',
    'sample': '(withReplacement, fraction, seed=None)',
    'sampleByKey': '(withReplacement, fractions, seed=None)',
    'sampleStdev': '()',
    'sampleVariance': '()',
    'saveAsHadoopDataset': '(conf, keyConverter=None, valueConverter=None)',
    'saveAsHadoopFile': '(path, outputFormatClass, keyClass=None, valueClass=None, keyConverter=None, valueConverter=None, conf=None, compressionCodecClass=None)',
    'saveAsNewAPIHadoopDataset': '(conf, keyConverter=None, valueConverter=None)',
    'saveAsNewAPIHadoopFile': '(path, outputFormatClass, keyClass=None, valueClass=None, keyConverter=None, valueConverter=None, conf=None)',
    'saveAsPickleFile': '(path, batchSize=10)',
    'saveAsSequenceFile': '(path, compressionCodecClass=None)',
    'saveAsTextFile': '(path, compressionCodecClass=None)',
    'setName': '(name)',
    'sortBy': '(keyfunc, ascending=True, numPartitions=None)',
    'sortByKey': '(ascending=True, numPartitions=None, keyfunc=<callable>)',
    'stats': '()',
    'stdev': '()',
    'subtract': '(other, numPartitions=None)',
    'subtractByKey': '(other, numPartitions=None)',
    'sum': '()',
    'sumApprox': '(timeout, confidence=0.95)',
    'take': '(num)',
    'takeOrdered': '(num, key=None)',
    'takeSample': '(withReplacement, num, seed=None)',
    'toDF': '(schema=None, sampleRatio=None)',
    'toDebugString': '()',
    'toLocalIterator': '(prefetchPartitions=False)',
    'top': '(num, key=None)',
    'treeAggregate': '(zeroValue, seqOp, combOp, depth=2)',
    'treeReduce': '(f, depth=2)',
    'union': '(other)',
    'unpersist': '(blocking=False)',
    'values': '()',
    'variance': '()',
    'withResources': '(profile)',
    'zip': '(other)',
    'zipWithIndex': '()',
    'zipWithUniqueId': '()',
}
SPARKCONTEXT = {
    'PACKAGE_EXTENSIONS': 'attribute',
    'accumulator': '(value, accum_param=None)',
    'addArchive': '(path)',
    'addFile': '(path, recursive=False)',
    'addJobTag': '(tag)',
    'addPyFile': '(path)',
    'applicationId': 'property',
    'binaryFiles': '(path, minPartitions=None)',
    'binaryRecords': '(path, recordLength)',
    'broadcast': '(value)',
    'cancelAllJobs': '()',
    'cancelJobGroup': '(groupId)',
    'cancelJobsWithTag': '(tag)',
    'clearJobTags': '()',
    'defaultMinPartitions': 'property',
    'defaultParallelism': 'property',
    'dump_profiles': '(path)',
    'emptyRDD': '()',
    'getCheckpointDir': '()',
    'getConf': '()',
    'getJobTags': '()',
    'getLocalProperty': '(key)',
    'getOrCreate': 'classmethod (conf=None)',
    'getSystemProperty': 'classmethod (key)',
    'hadoopFile': '(path, inputFormatClass, keyClass, valueClass, keyConverter=None, valueConverter=None, conf=None, batchSize=0)',
    'hadoopRDD': '(inputFormatClass, keyClass, valueClass, keyConverter=None, valueConverter=None, conf=None, batchSize=0)',
    'listArchives': 'property',
    'listFiles': 'property',
    'newAPIHadoopFile': '(path, inputFormatClass, keyClass, valueClass, keyConverter=None, valueConverter=None, conf=None, batchSize=0)',
    'newAPIHadoopRDD': '(inputFormatClass, keyClass, valueClass, keyConverter=None, valueConverter=None, conf=None, batchSize=0)',
    'parallelize': '(c, numSlices=None)',
    'pickleFile': '(name, minPartitions=None)',
    'range': '(start, end=None, step=1, numSlices=None)',
    'removeJobTag': '(tag)',
    'resources': 'property',
    'runJob': '(rdd, partitionFunc, partitions=None, allowLocal=False)',
    'sequenceFile': '(path, keyClass=None, valueClass=None, keyConverter=None, valueConverter=None, minSplits=None, batchSize=0)',
    'setCheckpointDir': '(dirName)',
    'setInterruptOnCancel': '(interruptOnCancel)',
    'setJobDescription': '(value)',
    'setJobGroup': '(groupId, description, interruptOnCancel=False)',
    'setLocalProperty': '(key, value)',
    'setLogLevel': '(logLevel)',
    'setSystemProperty': 'classmethod (key, value)',
    'show_profiles': '()',
    'sparkUser': '()',
    'startTime': 'property',
    'statusTracker': '()',
    'stop': '()',
    'textFile': '(name, minPartitions=None, use_unicode=True)',
    'uiWebUrl': 'property',
    'union': '(rdds)',
    'version': 'property',
    'wholeTextFiles': '(path, minPartitions=None, use_unicode=True)',
}
STATCOUNTER = {
    'asDict': '(sample=False)',
    'copy': '()',
    'count': '()',
    'max': '()',
    'mean': '()',
    'merge': '(value)',
    'mergeStats': '(other)',
    'min': '()',
    'sampleStdev': '()',
    'sampleVariance': '()',
    'stdev': '()',
    'sum': '()',
    'variance': '()',
}
STORAGELEVEL = {
    'DISK_ONLY': 'attribute',
    'DISK_ONLY_2': 'attribute',
    'DISK_ONLY_3': 'attribute',
    'MEMORY_AND_DISK': 'attribute',
    'MEMORY_AND_DISK_2': 'attribute',
    'MEMORY_AND_DISK_DESER': 'attribute',
    'MEMORY_ONLY': 'attribute',
    'MEMORY_ONLY_2': 'attribute',
    'NONE': 'attribute',
    'OFF_HEAP': 'attribute',
}

# Public instance attributes PySpark sets in __init__.
RDD_ATTRIBUTES = ["ctx", "is_cached", "is_checkpointed", "has_resource_profile", "partitioner"]
CONTEXT_ATTRIBUTES = ["master", "appName", "environment", "pythonExec", "pythonVer"]

# RDD members that need the Context's side of the work.
RDD_CONTEXT_SIDE = {"barrier"}


def expected_signature(text: str) -> inspect.Signature:
    text = text.removeprefix("classmethod ").removeprefix("staticmethod ")
    source = f"lambda {text[1:-1]}: None".replace("<callable>", "CALLABLE")
    return inspect.signature(eval(source, {"CALLABLE": CALLABLE, "StorageLevel": EmberStorageLevel}))


def CALLABLE():  # noqa: N802 - stands for "any function" in the data above
    pass


def incompatibilities(member, expected: str) -> list[str]:
    if isinstance(member, property):
        return [f"is a property; PySpark's is a method {expected}"]
    try:
        actual = inspect.signature(member)
    except (TypeError, ValueError):
        return ["has no inspectable signature"]
    params = [p for p in actual.parameters.values() if p.name not in ("self", "cls")]
    problems = []
    wanted = list(expected_signature(expected).parameters.values())
    for index, want in enumerate(wanted):
        have = params[index] if index < len(params) else None
        if have is None or have.name != want.name or have.kind != want.kind:
            problems.append(f"parameter {index} should be {want}, is {have}")
            continue
        if want.default is inspect.Parameter.empty:
            continue
        if have.default is inspect.Parameter.empty:
            problems.append(f"{want.name} needs the default {want.default!r}")
        elif want.default is CALLABLE:
            if not callable(have.default):
                problems.append(f"{want.name}'s default should be a function, is {have.default!r}")
        elif have.default != want.default or type(have.default) is not type(want.default):
            problems.append(f"{want.name}'s default should be {want.default!r}, is {have.default!r}")
    for extra in params[len(wanted):]:
        if extra.default is inspect.Parameter.empty and extra.kind not in (
                inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            problems.append(f"extra parameter {extra.name} must have a default")
    return problems


def check_members(ours, expected: dict, instance=None) -> list[str]:
    problems = []
    for name, spec in sorted(expected.items()):
        holder = instance if instance is not None else ours
        if not hasattr(holder, name) and not hasattr(ours, name):
            problems.append(f"{name}: missing")
            continue
        if spec == "property" and inspect.isfunction(inspect.getattr_static(ours, name, None)):
            problems.append(f"{name}: is a method; PySpark's is a property (read without a call)")
            continue
        if spec in ("property", "attribute"):
            continue
        member = inspect.getattr_static(ours, name)
        if isinstance(member, (classmethod, staticmethod)):
            member = getattr(ours, name)
        problems.extend(f"{name}: {problem}" for problem in incompatibilities(member, spec))
    return problems


@pytest.fixture(scope="module")
def sc():
    with ember.Context("local[2]", appName="signatures") as context:
        yield context


@pytest.mark.parametrize("name", sorted(set(RDD) - RDD_CONTEXT_SIDE))
def test_rdd_member_matches_pyspark(name):
    assert hasattr(EmberRDD, name), f"RDD.{name} is missing"
    spec = RDD[name]
    if spec != "property":
        assert not incompatibilities(getattr(EmberRDD, name), spec), \
            f"RDD.{name}: {incompatibilities(getattr(EmberRDD, name), spec)}"


def test_rdd_instance_attributes(sc):
    rdd = sc.parallelize([1])
    assert [name for name in RDD_ATTRIBUTES if not hasattr(rdd, name)] == []


def test_statcounter_and_storage_level_match_pyspark():
    assert check_members(EmberStatCounter, STATCOUNTER) == []
    assert check_members(EmberStorageLevel, STORAGELEVEL) == []


def test_present_context_members_have_pysparks_signatures(sc):
    present = {name: spec for name, spec in SPARKCONTEXT.items() if hasattr(sc, name)}
    problems = [p for p in check_members(type(sc), present, sc) if not p.endswith("missing")]
    assert problems == []


def test_context_side_members_exist(sc):
    missing = sorted(f"SparkContext.{name}" for name in SPARKCONTEXT if not hasattr(sc, name))
    missing += [f"SparkContext.{name} (attribute)" for name in CONTEXT_ATTRIBUTES
                if not hasattr(sc, name)]
    missing += sorted(f"RDD.{name}" for name in RDD_CONTEXT_SIDE if not hasattr(EmberRDD, name))
    assert not missing, f"{len(missing)} members are missing: {', '.join(missing)}"


@pytest.mark.parametrize("module, name", [
    ("ember.rdd", "RDD"), ("ember.broadcast", "Broadcast"),
    ("ember.accumulators", "Accumulator"), ("ember.accumulators", "AccumulatorParam"),
    ("ember.resultiterable", "ResultIterable"), ("ember.streaming", "DStream"),
])
def test_classes_generic_in_pyspark_take_type_arguments_in_annotations(module, name):
    # a ported program evaluates annotations such as `def f(rdd: RDD[str])`
    cls = getattr(importlib.import_module(module), name)
    assert typing.get_origin(cls[int]) is cls
    assert typing.get_args(cls[int]) == (int,)
