"""Closures are pickled once on the driver with a diagnosis on failure; every
ember error pickles with its fields; the hash is seed-independent."""

from __future__ import annotations

import inspect
import pickle
import subprocess
import sys
import threading

import pytest

from ember.engine import errors
from ember.engine.wire.closure import Closure
from ember.engine.data.hashing import portable_hash


def test_closure_is_pickled_once_and_names_the_unpicklable_variable():
    calls = []
    value = {"n": 3}

    def add_n(x):
        calls.append(x)
        return x + value["n"]

    closure = Closure(add_n, [("map", "job.py:3", add_n)])
    assert closure.freeze() is closure.freeze()
    clone = pickle.loads(pickle.dumps(closure))
    assert clone.value(1) == 4

    guard = threading.Lock()
    bad = Closure(lambda x: guard, [("filter", "job.py:9", lambda x: guard)])
    with pytest.raises(pickle.PicklingError) as raised:
        bad.freeze()
    assert "filter at job.py:9" in str(raised.value)
    assert "'guard'" in str(raised.value) and "lock" in str(raised.value)


def test_every_ember_error_pickles_with_its_fields():
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass)
               if issubclass(c, errors.EmberError)]
    assert len(classes) > 15
    for cls in classes:
        if cls is errors.FetchFailedError:
            error = cls("gone", shuffle_id=1, map_index=2, reduce_index=3, worker_id="w-1")
        elif cls is errors.TaskFailedError:
            error = cls("failed", exc_type="X", remote_traceback="tb")
        else:
            error = cls("message")
        clone = pickle.loads(pickle.dumps(error))
        assert type(clone) is cls and str(clone) == str(error) and clone.__dict__ == error.__dict__


def test_error_tree_subclasses_the_natural_builtins():
    assert issubclass(errors.ConfigError, ValueError)
    assert issubclass(errors.OffsetOutOfRangeError, LookupError)
    assert issubclass(errors.CorruptRecordError, OSError)
    assert issubclass(errors.AuthenticationError, PermissionError)
    assert issubclass(errors.DriverOnlyError, pickle.PicklingError)


def test_portable_hash_does_not_depend_on_the_hash_seed():
    keys = ["spark", "", "é", b"bytes", ("a", 1, None), None, 7, -1, 2.5, True]
    code = f"from ember.engine.data.hashing import portable_hash; print([portable_hash(k) for k in {keys!r}])"
    outputs = {subprocess.run([sys.executable, "-c", code], env={"PYTHONHASHSEED": seed, "PATH": ""},
                              capture_output=True, text=True, check=True).stdout for seed in ("1", "2", "99")}
    assert len(outputs) == 1
    assert outputs.pop().strip() == str([portable_hash(k) for k in keys])
    assert portable_hash(7) == 7 and portable_hash(None) == 0
    assert portable_hash((1, 2)) != portable_hash((2, 1))
