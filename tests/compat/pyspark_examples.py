"""PySpark's own docstring examples, run against ember (a developer tool, not
collected by pytest).

What it does: takes the docstring examples of PySpark's ``SparkContext``,
``RDD``, ``Broadcast``, ``Accumulator``, ``StatCounter`` and ``StorageLevel``
from the *installed* pyspark, at run time (no PySpark text lives in this
repository), skips the ones that reach into the JVM (``_jvm``, ``_jsc``,
``_jrdd``, Py4J), and runs each docstring's examples against ember with only
the context swapped, the way a PySpark program moves to ember:

* ``sc`` is an ember ``Context("local[4]")`` (``spark.sparkContext`` too, for
  the examples written against a SparkSession), with a checkpoint directory
  set as PySpark's own test harness sets one;
* every name PySpark's module offers that ember also exports
  (``SparkContext``, ``StorageLevel``, ``StatCounter``, ...) is ember's, and
  ``from pyspark... import X`` lines in examples import ember's ``X`` when
  ember has it (the one-line import change);
* an example expecting ``Py4JJavaError`` (an error raised inside the JVM)
  passes when ember raises any exception at that point.

It prints one line per docstring (PASS / FAIL with the first failing
example and why / SKIP for JVM ones) and a total. A failure caused by a
missing Context member says which one.

How to run it: with a Python that can import both pyspark (PySpark 4.x; Java
17 must be installed, though no JVM is started by the examples it runs) and
ember, from the repository root::

    python3 -m venv <venv> && <venv>/bin/pip install pyspark && <venv>/bin/pip install -e .
    <venv>/bin/python tests/compat/pyspark_examples.py [--verbose] [--only SUBSTRING]

(or run ember's own environment with pyspark's site-packages on PYTHONPATH).
"""

from __future__ import annotations

import argparse
import doctest
import io
import re
import signal
import sys
import tempfile
import types

JVM_MARKERS = ("_jvm", "_jsc", "_jrdd", "py4j", "Py4J", "_gateway", "_jconf")
PY4J_ERRORS = ("py4j.protocol.Py4JJavaError", "Py4JJavaError")
MISSING = re.compile(r"AttributeError: '(\w+)' object has no attribute '(\w+)'")


def pyspark_classes() -> list[type]:
    from pyspark.accumulators import Accumulator
    from pyspark.core.broadcast import Broadcast
    from pyspark.core.context import SparkContext
    from pyspark.core.rdd import RDD
    from pyspark.statcounter import StatCounter
    from pyspark.storagelevel import StorageLevel

    return [SparkContext, RDD, Broadcast, Accumulator, StatCounter, StorageLevel]


def collect_examples() -> list[doctest.DocTest]:
    finder = doctest.DocTestFinder()
    tests = []
    for cls in pyspark_classes():
        module = sys.modules[cls.__module__]
        for test in finder.find(cls, cls.__name__, module=False, globs=dict(vars(module))):
            if test.examples:
                tests.append(test)
    return tests


def reaches_jvm(test: doctest.DocTest) -> bool:
    return any(marker in example.source for example in test.examples for marker in JVM_MARKERS)


def ember_globals(globs: dict, sc, ember) -> dict:
    """PySpark's module globals with ember's objects wherever ember has them."""
    swapped = dict(globs)
    for name in list(swapped):
        if not name.startswith("_") and hasattr(ember, name):
            swapped[name] = getattr(ember, name)
    swapped["SparkContext"] = ember.Context
    swapped["sc"] = sc
    swapped["spark"] = types.SimpleNamespace(sparkContext=sc)
    return swapped


IMPORT = re.compile(r"^(\s*)from pyspark[\w.]* import (.+)$", re.MULTILINE)


def swap_imports(source: str, ember) -> str:
    def replace(match: re.Match) -> str:
        names = [name.strip() for name in match.group(2).split(",")]
        if all(hasattr(ember, name.split(" as ")[0].strip()) for name in names):
            return f"{match.group(1)}from ember import {match.group(2)}"
        return match.group(0)

    return IMPORT.sub(replace, source)


class Checker(doctest.OutputChecker):
    def check_output(self, want: str, got: str, optionflags: int) -> bool:
        if want.lstrip().startswith(PY4J_ERRORS):
            return True  # a JVM-side error expected: any ember exception will do
        return super().check_output(want, got, optionflags)


class Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise Timeout("the example did not finish in time")


def run_one(test: doctest.DocTest, globs: dict, ember, timeout: int) -> tuple[bool, str, str]:
    for example in test.examples:
        example.source = swap_imports(example.source, ember)
    test.globs = dict(globs)
    out = io.StringIO()
    runner = doctest.DocTestRunner(checker=Checker(), optionflags=doctest.ELLIPSIS)
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(timeout)
    try:
        result = runner.run(test, out=out.write, clear_globs=False)
    except Timeout as error:
        return False, str(error), out.getvalue()
    finally:
        signal.alarm(0)
    return result.failed == 0, reason(out.getvalue()), out.getvalue()


def reason(report: str) -> str:
    if not report:
        return ""
    missing = MISSING.search(report)
    if missing:
        return f"needs {missing.group(1)}.{missing.group(2)}"
    lines = [line.strip() for line in report.splitlines() if line.strip() and "*****" not in line]
    try:
        start = lines.index("Failed example:")
    except ValueError:
        return " | ".join(lines[:4])
    detail = lines[start + 1:start + 7]
    errors = [line for line in lines[start:] if re.match(r"^[\w.]+(Error|Exception)\b", line)]
    return " | ".join(detail[:4] + errors[-1:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="run only docstrings whose name contains this")
    parser.add_argument("--verbose", action="store_true", help="print the full failure report")
    parser.add_argument("--timeout", type=int, default=120, help="seconds per docstring")
    args = parser.parse_args()

    import ember

    tests = collect_examples()
    if args.only:
        tests = [t for t in tests if args.only in t.name]
    passed = failed = skipped = 0
    with ember.Context("local[4]", appName="pyspark-examples") as sc, \
            tempfile.TemporaryDirectory(prefix="pyspark-examples-") as checkpoints:
        if hasattr(sc, "setCheckpointDir"):
            sc.setCheckpointDir(checkpoints)
        for test in tests:
            if reaches_jvm(test):
                skipped += 1
                print(f"SKIP {test.name} (reaches into the JVM)")
                continue
            ok, why, report = run_one(test, ember_globals(test.globs, sc, ember), ember,
                                      args.timeout)
            if ok:
                passed += 1
                print(f"PASS {test.name}")
            else:
                failed += 1
                print(f"FAIL {test.name}: {why}")
                if args.verbose:
                    print(report)
            sys.stdout.flush()
    total = passed + failed
    print(f"\n{passed} of {total} non-JVM docstrings pass ({failed} fail, {skipped} skipped as JVM)")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
