"""Errors cross process boundaries intact, bad input gets a clear error that
names the problem, and the Context stays usable after every one."""

from __future__ import annotations

import os
import pickle
import threading
from operator import add

import pytest

from ember import TaskContext
from ember.engine.errors import (DriverOnlyError, RemoteTraceback, StopIterationOccurredError,
                                TaskFailedError)


class RecordError(Exception):
    """Raised by a user function; importable by the workers."""


class NeedsTwoArguments(Exception):
    def __init__(self, first, second):
        super().__init__(first)
        self.second = second


class HoldsALock(Exception):
    def __init__(self, message):
        super().__init__(message)
        self.lock = threading.Lock()


def fail_on_seven(x):
    if x == 7:
        raise ValueError(f"bad record {x}")
    return x


def assert_usable(sc):
    assert sc.parallelize(range(10), 2).map(lambda x: (x % 2, x)).reduceByKey(add).collectAsMap() == \
        {0: 20, 1: 25}


def test_user_exception_reaches_the_driver_with_type_message_traceback_and_location(sc):
    launches = sc._scheduler.tasks.launches
    with pytest.raises(ValueError, match="bad record 7") as raised:
        sc.parallelize(range(10), 3).map(fail_on_seven).collect()
    cause = raised.value.__cause__
    assert isinstance(cause, RemoteTraceback)
    assert "test_failures.py" in str(cause) and "fail_on_seven" in str(cause)
    notes = "\n".join(raised.value.__notes__)
    assert "partition 2" in notes and "stage" in notes and "failed 4 times" in notes
    assert sc._scheduler.tasks.launches - launches == 3 + 3  # 4 attempts of the bad partition
    assert_usable(sc)


def test_exception_class_defined_by_the_user_is_caught_by_type(sc):
    def explode(x):
        raise RecordError(f"cannot parse {x!r}")

    with pytest.raises(RecordError, match="cannot parse 'x'"):
        sc.parallelize(["x"], 1).map(explode).collect()
    assert_usable(sc)


@pytest.mark.parametrize("make", [lambda: NeedsTwoArguments("one", "two"), lambda: HoldsALock("locked")])
def test_exception_that_cannot_travel_arrives_as_text(sc, make):
    name = type(make()).__name__

    def explode(x):
        raise make()

    with pytest.raises(TaskFailedError) as raised:
        sc.parallelize([1], 1).map(explode).collect()
    assert name in str(raised.value)
    assert name in raised.value.remote_traceback
    assert raised.value.exc_type.endswith(name)
    assert_usable(sc)


def test_system_exit_and_recursion_error_in_a_task_are_task_failures(sc):
    import sys

    with pytest.raises(TaskFailedError, match="SystemExit"):
        sc.parallelize([1], 1).foreach(lambda x: sys.exit(3))

    def recurse(x):
        return recurse(x + 1)

    with pytest.raises(RecursionError):
        sc.parallelize([1], 1).map(recurse).collect()
    assert_usable(sc)


def test_task_failing_on_its_first_attempt_only_succeeds_with_one_extra_launch(sc):
    def flaky(x):
        if TaskContext.get().attemptNumber() == 0 and x == 3:
            raise RuntimeError("transient")
        return x * 2

    launches = sc._scheduler.tasks.launches
    assert sc.parallelize(range(8), 4).map(flaky).collect() == [x * 2 for x in range(8)]
    assert sc._scheduler.tasks.launches - launches == 4 + 1


def test_unpicklable_closure_is_refused_before_any_task_runs(sc):
    lock = threading.Lock()
    launches = sc._scheduler.tasks.launches
    rdd = sc.parallelize(range(4), 2).map(lambda x: (lock, x))
    with pytest.raises(pickle.PicklingError) as raised:
        rdd.collect()
    message = str(raised.value)
    assert "'lock'" in message and "lock" in message
    assert f"map at {os.path.abspath(__file__)}:" in message, "the call site, as Python names the file"
    assert sc._scheduler.tasks.launches == launches
    # ... also when the closure is in an earlier stage or in foreach
    stage_one = sc.parallelize(range(4), 2).filter(lambda x: lock is not None).map(lambda x: (x, 1))
    with pytest.raises(pickle.PicklingError, match=r"filter at \S*test_failures\.py"):
        stage_one.reduceByKey(add).collect()
    with pytest.raises(pickle.PicklingError, match="'lock'"):
        sc.parallelize(range(4), 2).foreach(lambda x: lock.acquire())
    assert sc._scheduler.tasks.launches == launches
    assert_usable(sc)


def test_rdd_or_context_captured_in_a_closure_is_refused(sc):
    other = sc.parallelize([1, 2])
    with pytest.raises(DriverOnlyError, match="exists only on the driver"):
        sc.parallelize([1]).map(lambda x: other.count()).collect()
    with pytest.raises(DriverOnlyError, match="Context"):
        sc.parallelize([1]).map(lambda x: sc.defaultParallelism).collect()
    assert_usable(sc)


def test_unpicklable_result_is_a_named_error(sc):
    with pytest.raises(Exception, match="could not be serialized"):
        sc.parallelize([1], 1).map(lambda x: threading.Lock()).collect()
    assert_usable(sc)


@pytest.mark.parametrize("call, error, text", [
    (lambda sc: sc.parallelize([1, 2], 0), ValueError, "numSlices must be positive, got 0"),
    (lambda sc: sc.parallelize([1, 2], -3), ValueError, "numSlices"),
    (lambda sc: sc.parallelize([1, 2], "2"), TypeError, "numSlices must be an int"),
    (lambda sc: sc.parallelize([1, 2]).take(-1), ValueError, "take: num must be non-negative"),
    (lambda sc: sc.parallelize([(1, 2)]).reduceByKey(add, 0), ValueError, "numPartitions must be positive"),
    (lambda sc: sc.parallelize([(1, 2)]).partitionBy(0), ValueError, "numPartitions"),
    (lambda sc: sc.parallelize([1]).repartition(0), ValueError, "numPartitions"),
    (lambda sc: sc.parallelize([1]).coalesce(-1), ValueError, "numPartitions"),
    (lambda sc: sc.parallelize([1]).sample(False, -1.0), ValueError, "fraction"),
    (lambda sc: sc.parallelize([1]).takeOrdered(-2), ValueError, "num"),
    (lambda sc: sc.textFile("/nonexistent/input.txt").count(), FileNotFoundError,
     "Input path does not exist: /nonexistent/input.txt"),
    (lambda sc: sc.union([]), ValueError, "at least one RDD"),
])
def test_bad_arguments_raise_a_clear_error_and_leave_the_context_usable(sc, call, error, text):
    with pytest.raises(error, match=text):
        call(sc)
    assert_usable(sc)


def test_unhashable_key_names_the_key_and_the_method(sc):
    with pytest.raises(TypeError, match=r"reduceByKey: key \[1, 2\] of type list is unhashable"):
        sc.parallelize([([1, 2], 1), ([1, 2], 2)]).reduceByKey(add).collect()
    with pytest.raises(TypeError, match="unhashable"):
        sc.parallelize([([1], 1)]).groupByKey().collect()
    with pytest.raises(TypeError, match="unhashable"):
        sc.parallelize([([1], 1)]).partitionBy(2).collect()
    assert_usable(sc)


def test_records_that_are_not_pairs_are_named(sc):
    with pytest.raises((TypeError, ValueError), match="reduceByKey: every record must be a"):
        sc.parallelize([1, 2, 3]).reduceByKey(add).collect()
    assert_usable(sc)


def test_incomparable_keys_in_sort_by_key(sc):
    with pytest.raises(TypeError, match="sortByKey: keys cannot be ordered"):
        sc.parallelize([(1, "a"), ("b", 2), (3, "c")], 2).sortByKey().collect()
    with pytest.raises(TypeError, match="sortByKey: keys cannot be ordered"):
        sc.parallelize([(1, "a"), ("b", 2)], 2).sortByKey(numPartitions=1).collect()
    assert_usable(sc)


def stop_at_three(x):
    if x == 3:
        raise StopIteration("no more")
    return x


@pytest.mark.parametrize("transform", [
    lambda rdd: rdd.map(stop_at_three),
    lambda rdd: rdd.filter(lambda x: stop_at_three(x) >= 0),
    lambda rdd: rdd.flatMap(lambda x: [stop_at_three(x)]),
], ids=["map", "filter", "flatMap"])
def test_stop_iteration_raised_by_a_user_function_fails_the_task_not_ends_the_partition(sc, transform):
    # Inside a loop over records, a stray StopIteration would look like the
    # end of the input: partition 0 would silently lose 3 and 4. PySpark fails
    # the task with a RuntimeError; so does ember.
    with pytest.raises(RuntimeError, match="Caught StopIteration thrown from user's code") as raised:
        transform(sc.parallelize(range(10), 2)).collect()
    assert isinstance(raised.value, StopIterationOccurredError)
    assert "no more" in str(raised.value)
    assert transform(sc.parallelize([0, 1, 2, 4], 2)).collect() == [0, 1, 2, 4]
    assert_usable(sc)
