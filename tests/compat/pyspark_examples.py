"""PySpark's own docstring examples, run against ember (a developer tool, not
collected by pytest).

What it does: takes the docstring examples of PySpark's ``SparkContext``,
``RDD``, ``Broadcast``, ``Accumulator``, ``StatCounter`` and ``StorageLevel``
(with ``--all``: every docstring of PySpark's core modules, which adds
``SparkConf``, ``SparkFiles``, ``TaskContext``, ``BarrierTaskContext``,
``RDDBarrier``, ...; with ``--streaming``: every docstring of
``pyspark.streaming``'s modules, run against ``ember.streaming``'s module of
the same name) from the *installed* pyspark, at run time (no PySpark text
lives in this repository), and runs each docstring's examples against ember
with only the context swapped, the way a PySpark program moves to ember:

* ``sc`` is an ember ``Context("local[4]")`` (``spark.sparkContext`` too, for
  the examples written against a SparkSession), with a checkpoint directory
  set as PySpark's own test harness sets one;
* every name PySpark's module offers that ember also exports
  (``SparkContext``, ``StorageLevel``, ``StatCounter``, ...) is ember's, and
  ``from pyspark... import X`` lines in examples import ember's ``X`` when
  ember has it (the one-line import change);
* a docstring's examples stop before the first one that reaches into the JVM
  (``_jvm``, ``_jsc``, ``_jrdd``, ``_jconf``, Py4J) or uses Spark SQL
  (DataFrames, UDFs: not part of ember), as later ones build on it; a
  docstring left with no examples, or with imports only, is skipped;
* an example expecting ``Py4JJavaError`` (an error raised inside the JVM)
  passes when ember raises any exception at that point;
* PySpark's default repr of an object (``<pyspark.conf.SparkConf object at
  ...>``) documents only the object's type: any one-line repr naming that
  type, or ember's class of that name, passes;
* what tasks print is not part of the compared output: ember shows it on
  the driver's stderr (tagged ``[w-N: task ...]``), never its stdout, as
  PySpark's executors print where the driver's stdout does not see it;
* a docstring that creates its own ``SparkContext`` runs with the shared one
  stopped, as at the start of a program (then any it left running is stopped);
* the run is pinned to ``PYTHONHASHSEED=0``, as PySpark's test runner pins
  its doctests, so printed sets of strings have one order.

With ``--mllib`` it runs the examples of PySpark's ``pyspark.mllib`` modules
instead, against ``ember.mllib``: each PySpark module's names are swapped
for those of the ember module of the same name (``pyspark.mllib.clustering``
-> ``ember.mllib.clustering``), ``from pyspark.mllib.X import ...`` lines
import from ``ember.mllib.X``, and each module's examples run the way that
module's own ``_test()`` runs them: numpy's 1.13 print style where it sets
it, the extra globals it provides (``Matrices``, ``temp_path``), and
``NORMALIZE_WHITESPACE`` for ``tree``. Examples that need the JVM's model
objects (``_java_model``) or Spark SQL (DataFrames, ``sqlContext``) are cut
as above.

It prints one line per docstring (PASS / FAIL with the first failing
example and why / N/A, with the reason, for the few that cannot hold without
a JVM or fail on PySpark itself, see ``NOT_APPLICABLE`` / SKIP) and a total.
A failure caused by a missing Context member says which one. The exit status
is 1 when any docstring fails.

``--reference`` runs the same examples, the same way, on PySpark itself
(``SparkContext("local[4]")``, so a JVM starts): a docstring failing there too
is the docstring's own problem (stale output, Python 2 literals, a property of
the PySpark build), not ember's.

How to run it: with a Python that can import both pyspark (PySpark 4.x; Java
17 must be installed, though no JVM is started unless ``--reference``) and
ember, from the repository root::

    python3 -m venv <venv> && <venv>/bin/pip install pyspark && <venv>/bin/pip install -e .
    <venv>/bin/python tests/compat/pyspark_examples.py [--all] [--verbose] [--only SUBSTRING]
    <venv>/bin/python tests/compat/pyspark_examples.py --reference [--all]
    <venv>/bin/python tests/compat/pyspark_examples.py --mllib [--reference]

(or run ember's own environment with pyspark's site-packages on PYTHONPATH).
"""

from __future__ import annotations

import argparse
import contextlib
import doctest
import functools
import io
import os
import re
import signal
import sys
import tempfile
import types

JVM_MARKERS = ("_jvm", "_jsc", "_jrdd", "py4j", "Py4J", "_gateway", "_jconf", "_java_model",
               "_java_matrix_wrapper")
SQL_MARKERS = ("pyspark.sql", "spark.range(", "spark.createDataFrame(", "spark.sql(",
               "spark.read", ".toDF(", "sqlContext.", "pyspark.ml.")
PY4J_ERRORS = ("py4j.protocol.Py4JJavaError", "Py4JJavaError")
MISSING = re.compile(r"AttributeError: '(\w+)' object has no attribute '(\w+)'")
CONSTRUCTS_CONTEXT = re.compile(r"\bSparkContext\(")

# Docstrings whose examples cannot hold on ember, and why: they need a JVM,
# or they fail on PySpark itself (``--reference`` shows which). They still
# run, and one that starts to pass is reported as PASS.
NOT_APPLICABLE = {
    "SparkContext.getSystemProperty":
        "reads a JVM system property (SPARK_SUBMIT, set by PySpark's JVM launcher); ember has "
        "no JVM: its system properties are the ones setSystemProperty set",
    "RDD.toDebugString":
        "expects the JVM's PythonRDD wrapper in the lineage; ember names its own RDD classes "
        "(sc.range is a single ParallelCollectionRDD, Python functions a PipelinedRDD)",
    "StatCounter.asDict":
        "fails on PySpark itself: it expects Python 2 output (4L, one key a line); ember's "
        "dict prints exactly as PySpark's",
    # --mllib
    "clustering.GaussianMixtureModel":
        "its labels depend on the initial components the seed draws in the JVM "
        "(XORShiftRandom samples); fails on PySpark itself (labels[0] == labels[1])",
    "stat.KernelDensity.KernelDensity":
        "fails on PySpark itself: the docstring's densities (0.129) are not the mean of the "
        "Gaussian kernels (0.3205, what PySpark and ember both return)",
    "stat.distribution.MultivariateGaussian":
        "fails on PySpark itself: the module has no test run and its examples use Vectors "
        "and DenseMatrix without importing them",
}


def pyspark_classes() -> list[type]:
    from pyspark.accumulators import Accumulator
    from pyspark.core.broadcast import Broadcast
    from pyspark.core.context import SparkContext
    from pyspark.core.rdd import RDD
    from pyspark.statcounter import StatCounter
    from pyspark.storagelevel import StorageLevel

    return [SparkContext, RDD, Broadcast, Accumulator, StatCounter, StorageLevel]


# With --all: every docstring of the modules of PySpark's core API, which adds
# SparkConf, SparkFiles, TaskContext, BarrierTaskContext, AccumulatorParam,
# RDDBarrier, PipelinedRDD, BoundedFloat and portable_hash to the classes above.
CORE_MODULES = ("pyspark.core.context", "pyspark.core.rdd", "pyspark.core.broadcast",
                "pyspark.accumulators", "pyspark.statcounter", "pyspark.storagelevel",
                "pyspark.conf", "pyspark.core.files", "pyspark.taskcontext")


# With --streaming: every docstring of PySpark's streaming modules, run against
# the ember.streaming module of the same name (pyspark.streaming.util ->
# ember.streaming.util).
STREAMING_MODULES = ("pyspark.streaming.context", "pyspark.streaming.dstream",
                     "pyspark.streaming.listener", "pyspark.streaming.util",
                     "pyspark.streaming.kinesis")


def collect_streaming_examples() -> list[doctest.DocTest]:
    import importlib

    finder = doctest.DocTestFinder()
    tests = []
    for name in STREAMING_MODULES:
        module = importlib.import_module(name)
        found = finder.find(module, name, globs=dict(vars(module)))
        for test in found:
            test.globs["__ember_module__"] = name.replace("pyspark.", "ember.", 1)
        tests += [test for test in found if test.examples]
    return tests


def streaming_globals(globs: dict, sc, ember) -> dict:
    """PySpark's streaming module globals with the names the ember.streaming
    module of the same name has (and the core ones ``ember_globals`` swaps)."""
    import importlib

    swapped = ember_globals(globs, sc, ember)
    try:
        ours = importlib.import_module(globs.get("__ember_module__", ""))
    except ImportError:
        return swapped
    for name in list(swapped):
        if not name.startswith("_") and hasattr(ours, name):
            swapped[name] = getattr(ours, name)
    return swapped


def collect_examples(whole_modules: bool = False) -> list[doctest.DocTest]:
    finder = doctest.DocTestFinder()
    tests = []
    if whole_modules:
        import importlib

        for name in CORE_MODULES:
            module = importlib.import_module(name)
            found = finder.find(module, name.rpartition(".")[2], globs=dict(vars(module)))
            for test in found:
                # named as the class-based run names them: "RDD.map", not "rdd.RDD.map"
                test.name = test.name.partition(".")[2] or test.name
            tests += [test for test in found if test.examples]
        return tests
    for cls in pyspark_classes():
        module = sys.modules[cls.__module__]
        for test in finder.find(cls, cls.__name__, module=False, globs=dict(vars(module))):
            if test.examples:
                tests.append(test)
    return tests


# PySpark's mllib modules whose docstrings have examples, and how each
# module's own _test() runs them: numpy's legacy print style, extra globals,
# extra option flags.
MLLIB_MODULES = {
    "pyspark.mllib.linalg": {"legacy": True},
    "pyspark.mllib.linalg.distributed": {"legacy": True, "globals": ("Matrices",)},
    "pyspark.mllib.regression": {},
    "pyspark.mllib.classification": {},
    "pyspark.mllib.tree": {"flags": doctest.NORMALIZE_WHITESPACE},
    "pyspark.mllib.clustering": {"legacy": True},
    "pyspark.mllib.recommendation": {},
    "pyspark.mllib.feature": {},
    "pyspark.mllib.fpm": {"globals": ("temp_path",)},
    "pyspark.mllib.stat._statistics": {"legacy": True},
    "pyspark.mllib.stat.KernelDensity": {},
    "pyspark.mllib.stat.distribution": {},
    "pyspark.mllib.random": {},
    "pyspark.mllib.evaluation": {"legacy": True},
    "pyspark.mllib.util": {},
}


def ember_mllib_module(pyspark_name: str) -> str:
    """ember's module for one of PySpark's (``KernelDensity`` is
    ``kernel_density`` in ember: a module named like its class shadows it)."""
    name = pyspark_name.replace("pyspark.", "ember.", 1)
    return name.replace("stat.KernelDensity", "stat.kernel_density")


def collect_mllib_examples() -> list[doctest.DocTest]:
    import importlib

    finder = doctest.DocTestFinder()
    tests = []
    for name, how in MLLIB_MODULES.items():
        module = importlib.import_module(name)
        for test in finder.find(module, name.replace("pyspark.mllib.", ""),
                                globs=dict(vars(module))):
            if test.examples:
                test.mllib = (name, how)
                tests.append(test)
    return tests


def cut_out_of_scope(test: doctest.DocTest) -> str | None:
    """Drop the examples from the first one that reaches into the JVM or uses
    Spark SQL (DataFrames, UDFs: not part of ember) to the end, as later ones
    build on it. Returns what they reached, or None when all stay."""
    for index, example in enumerate(test.examples):
        if any(marker in example.source for marker in JVM_MARKERS):
            reached = "the JVM"
        elif any(marker in example.source for marker in SQL_MARKERS):
            reached = "Spark SQL"
        else:
            continue
        del test.examples[index:]
        return reached
    return None


def exercises_something(example: doctest.Example) -> bool:
    """Whether an example does more than import: a docstring whose examples
    left after the cut only import would pass without testing anything."""
    return not example.source.lstrip().startswith(("import ", "from "))


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


def ember_mllib_globals(globs: dict, sc, ember, pyspark_module: str) -> dict:
    """PySpark's mllib module globals with the ember module's objects
    wherever it has them (then ember's top-level ones)."""
    import importlib

    ours = importlib.import_module(ember_mllib_module(pyspark_module))
    swapped = ember_globals(globs, sc, ember)
    for name in list(swapped):
        if not name.startswith("__") and hasattr(ours, name):
            swapped[name] = getattr(ours, name)
    from ember.engine.api.rdd import RDD

    swapped["RDD"] = RDD
    return swapped


MLLIB_IMPORT = re.compile(r"^(\s*)from pyspark\.(mllib[\w.]*) import (.+)$", re.MULTILINE)


def swap_mllib_imports(source: str) -> str:
    import importlib

    def replace(match: re.Match) -> str:
        module = ember_mllib_module("pyspark." + match.group(2))
        try:
            ours = importlib.import_module(module)
        except ImportError:
            return match.group(0)
        names = [name.strip() for name in match.group(3).split(",")]
        if all(hasattr(ours, name.split(" as ")[0].strip()) for name in names):
            return f"{match.group(1)}from {module} import {match.group(3)}"
        return match.group(0)

    return MLLIB_IMPORT.sub(replace, source)


IMPORT = re.compile(r"^(\s*)from pyspark[\w.]* import (.+)$", re.MULTILINE)


def swap_imports(source: str, ember) -> str:
    def replace(match: re.Match) -> str:
        names = [name.strip() for name in match.group(2).split(",")]
        if all(hasattr(ember, name.split(" as ")[0].strip()) for name in names):
            return f"{match.group(1)}from ember import {match.group(2)}"
        return match.group(0)

    return IMPORT.sub(replace, source)


# PySpark's default repr of an object, address elided: it documents only the
# object's type ("returns the SparkConf itself").
DEFAULT_REPR = re.compile(r"^<pyspark\.(?:\w+\.)*(\w+) (?:object at )?\.\.\.>\n?$")


class Checker(doctest.OutputChecker):
    def __init__(self, ember=None):
        super().__init__()
        self.ember = ember

    def check_output(self, want: str, got: str, optionflags: int) -> bool:
        if want.lstrip().startswith(PY4J_ERRORS):
            return True  # a JVM-side error expected: any ember exception will do
        default = DEFAULT_REPR.match(want)
        if default and self.ember is not None:
            return self.names_type(default.group(1), got)
        return super().check_output(want, got, optionflags)

    def names_type(self, name: str, got: str) -> bool:
        """Whether ``got`` is one line naming PySpark's type ``name`` or
        ember's class of that name (``SparkConf`` is ember's ``Conf``)."""
        ours = getattr(self.ember, name, None)
        names = {name, ours.__name__} if isinstance(ours, type) else {name}
        return got.count("\n") <= 1 and any(re.search(rf"\b{n}\b", got) for n in names)


class Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise Timeout("the example did not finish in time")


def pyspark_globals(globs: dict, sc) -> dict:
    """The reference run: PySpark's module globals and a PySpark context."""
    plain = dict(globs)
    plain["sc"] = sc
    plain["spark"] = types.SimpleNamespace(sparkContext=sc)
    return plain


def run_one(test: doctest.DocTest, globs: dict, ember, timeout: int) -> tuple[bool, str, str]:
    """Run one docstring; ``ember`` is None for the reference run on PySpark."""
    mllib = getattr(test, "mllib", None)
    if ember is not None:
        for example in test.examples:
            if mllib:
                example.source = swap_mllib_imports(example.source)
            example.source = swap_imports(example.source, ember)
    test.globs = dict(globs)
    out = io.StringIO()
    flags = doctest.ELLIPSIS | (mllib[1].get("flags", 0) if mllib else 0)
    runner = doctest.DocTestRunner(checker=Checker(ember), optionflags=flags)
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(timeout)
    printing = _numpy_printing(bool(mllib[1].get("legacy")) if mllib else None)
    try:
        result = runner.run(test, out=out.write, clear_globs=False)
    except Timeout as error:
        return False, str(error), out.getvalue()
    finally:
        signal.alarm(0)
        printing.close()
    return result.failed == 0, reason(out.getvalue()), out.getvalue()


def _numpy_printing(legacy: bool | None):
    """Print numpy values the way the docstring's module prints them for its
    own run (1.13 style for the mllib modules whose _test() sets it), for
    the duration of one docstring."""
    stack = contextlib.ExitStack()
    if legacy is None:
        return stack
    import numpy

    saved = numpy.get_printoptions()
    numpy.set_printoptions(legacy="1.13" if legacy else False)
    stack.callback(lambda: numpy.set_printoptions(**saved))
    return stack


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


def start_context(reference: bool, checkpoints: str, mllib: bool = False):
    """The shared context of the run (PySpark's for ``--reference``; for the
    mllib examples the context of a SparkSession, as their own runs start
    one: the distributed matrices convert their RDDs to DataFrames)."""
    if reference and mllib:
        from pyspark.sql import SparkSession

        spark = (SparkSession.builder.master("local[4]").appName("pyspark-examples")
                 .config("spark.ui.showConsoleProgress", "false").getOrCreate())
        sc = spark.sparkContext
    elif reference:
        from pyspark import SparkConf, SparkContext

        # as PySpark's own doctest run of its context module configures it
        sc = SparkContext("local[4]", "pyspark-examples",
                          conf=SparkConf().set("spark.ui.enabled", "true"))
    else:
        import ember

        sc = ember.Context("local[4]", appName="pyspark-examples")
    sc.setCheckpointDir(checkpoints)
    return sc


def starts_its_own_context(test: doctest.DocTest) -> bool:
    return any(CONSTRUCTS_CONTEXT.search(example.source) for example in test.examples)


def stop_contexts_left_in(globs: dict) -> None:
    for value in globs.values():
        if hasattr(value, "stop") and type(value).__name__ in ("Context", "SparkContext"):
            value.stop()


def pin_hash_seed() -> None:
    """Re-run under PYTHONHASHSEED=0, as PySpark's test runner runs its
    doctests: the printed order of a set of strings (``getJobTags()``) and
    PySpark's string partitioning (it refuses a random seed) depend on it."""
    if os.environ.get("PYTHONHASHSEED") != "0":
        sys.stdout.flush()
        os.execve(sys.executable, [sys.executable, *sys.argv],
                  {**os.environ, "PYTHONHASHSEED": "0"})


def mllib_globals(test: doctest.DocTest, globs: dict, sc, ember, scratch: str) -> dict:
    """What a pyspark.mllib module's own _test() adds to its globals."""
    module, how = test.mllib
    if ember is not None:
        globs = ember_mllib_globals(globs, sc, ember, module)
    extra = how.get("globals", ())
    if "Matrices" in extra:
        if ember is None:
            from pyspark.mllib.linalg import Matrices
        else:
            from ember.mllib.linalg import Matrices
        globs["Matrices"] = Matrices
    if "temp_path" in extra:
        globs["temp_path"] = tempfile.mkdtemp(dir=scratch)
    return globs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="run only docstrings whose name contains this")
    parser.add_argument("--verbose", action="store_true", help="print the full failure report")
    parser.add_argument("--timeout", type=int, default=120, help="seconds per docstring")
    parser.add_argument("--reference", action="store_true",
                        help="run the examples on PySpark itself (starts a JVM)")
    parser.add_argument("--all", action="store_true",
                        help="every docstring of PySpark's core modules, not only the six classes")
    parser.add_argument("--mllib", action="store_true",
                        help="the docstrings of pyspark.mllib's modules, against ember.mllib")
    parser.add_argument("--streaming", action="store_true",
                        help="every docstring of PySpark's streaming modules, against "
                             "ember.streaming")
    args = parser.parse_args()
    pin_hash_seed()

    if args.reference:
        ember = None
        make_globals = pyspark_globals
        expected_failures: dict[str, str] = {}
        with contextlib.suppress(ImportError, TypeError):
            import numpy

            # PySpark's RDD doctests print numpy scalars the numpy 1 way
            numpy.set_printoptions(legacy="1.25")
    else:
        import ember

        make_globals = functools.partial(ember_globals, ember=ember)
        expected_failures = NOT_APPLICABLE
    if args.mllib:
        tests = collect_mllib_examples()
    elif args.streaming:
        tests = collect_streaming_examples()
    else:
        tests = collect_examples(args.all)
    if args.streaming and not args.reference:
        make_globals = functools.partial(streaming_globals, ember=ember)
    if args.only:
        tests = [t for t in tests if args.only in t.name]
    passed = failed = skipped = expected = 0
    with tempfile.TemporaryDirectory(prefix="pyspark-examples-") as checkpoints:
        sc = start_context(args.reference, checkpoints, args.mllib)
        try:
            for test in tests:
                reached = cut_out_of_scope(test)
                if not any(exercises_something(e) for e in test.examples):
                    skipped += 1
                    print(f"SKIP {test.name} (reaches into {reached})")
                    continue
                note = f" (examples from the first reaching into {reached} left out)" \
                    if reached else ""
                fresh = starts_its_own_context(test)
                if fresh:  # written for a program's start: no context may be running
                    sc.stop()
                globs = make_globals(test.globs, sc)
                if args.mllib:
                    globs = mllib_globals(test, globs, sc, ember, checkpoints)
                try:
                    ok, why, report = run_one(test, globs, ember, args.timeout)
                finally:
                    if fresh:
                        stop_contexts_left_in(test.globs)
                        sc = start_context(args.reference, checkpoints, args.mllib)
                if ok:
                    passed += 1
                    print(f"PASS {test.name}{note}")
                elif test.name in expected_failures:
                    expected += 1
                    print(f"N/A  {test.name}: {expected_failures[test.name]}")
                else:
                    failed += 1
                    print(f"FAIL {test.name}{note}: {why}")
                if args.verbose and not ok:
                    print(report)
                sys.stdout.flush()
        finally:
            sc.stop()
    total = passed + failed + expected
    against = "PySpark" if args.reference else "ember"
    print(f"\n{passed} of {total} docstrings pass on {against} ({failed} fail, "
          f"{expected} not applicable, {skipped} skipped: JVM or Spark SQL only)")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
