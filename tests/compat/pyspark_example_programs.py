"""PySpark's own example programs, ported by replacing the word ``pyspark``
with ``ember``, run on ember next to PySpark running the originals (a
developer tool, not collected by pytest).

What it does: takes every example program shipped in the *installed*
pyspark package (``pyspark/examples/src/main/python``: the core programs,
``mllib/`` and ``streaming/``; the DataFrame-only ``ml/`` and ``sql/`` are
out of ember's scope), writes a copy of each with ``pyspark`` replaced by
``ember`` (a temporary directory; no PySpark text lives in this
repository), and runs it as ``python program.py ARGS`` from a directory
holding PySpark's ``data/`` (linked from the package, as PySpark's own run
from SPARK_HOME), with the arguments in ``ARGS`` (the programs' usage
lines). The few inputs the package does not ship (``lr_data.txt``) are
generated there with a fixed seed. With ``--reference`` each original runs
on PySpark the same way (a JVM per program).

It prints one line per program and then a table: program, ember's outcome,
PySpark's: ``completes (12.3 s)``, ``fails: <the last exception line>``, or
``still running after N s`` (streaming programs that serve a socket or a
directory run until stopped, so they are given a short time). Exit status
1 when a core program fails on ember.

How to run it: with a Python that can import both pyspark (PySpark 4.x; Java
17 for ``--reference``) and ember, from the repository root::

    python3 -m venv <venv> && <venv>/bin/pip install pyspark && <venv>/bin/pip install -e .
    <venv>/bin/python tests/compat/pyspark_example_programs.py [--reference] [--only NAME]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

# Arguments per program, paths relative to the run directory (which holds data/).
ARGS = {
    "pi.py": ["2"],
    "wordcount.py": ["data/mllib/sample_lda_data.txt"],
    "sort.py": ["data/mllib/sample_lda_data.txt"],
    "pagerank.py": ["data/mllib/pagerank_data.txt", "10"],
    "kmeans.py": ["data/mllib/kmeans_data.txt", "2", "0.1"],
    "logistic_regression.py": ["generated/lr_data.txt", "5"],
    "mllib/kmeans.py": ["data/mllib/kmeans_data.txt", "2"],
    "mllib/gaussian_mixture_model.py": ["data/mllib/gmm_data.txt", "2"],
    "mllib/logistic_regression.py": ["data/mllib/sample_svm_data.txt", "10"],
    "mllib/word2vec.py": ["data/mllib/sample_lda_data.txt"],
    "mllib/streaming_linear_regression_example.py": ["generated/empty", "generated/empty"],
    "streaming/hdfs_wordcount.py": ["generated/empty"],
    "streaming/network_wordcount.py": ["localhost", "9"],
    "streaming/network_wordjoinsentiments.py": ["localhost", "9"],
    "streaming/sql_network_wordcount.py": ["localhost", "9"],
    "streaming/stateful_network_wordcount.py": ["localhost", "9"],
    "streaming/recoverable_network_wordcount.py": ["localhost", "9", "generated/checkpoint",
                                                   "generated/out.txt"],
}
# Programs that watch a socket or a directory until stopped: given RUNS_UNTIL_STOPPED s.
RUNS_UNTIL_STOPPED = {"mllib/streaming_linear_regression_example.py", "streaming/hdfs_wordcount.py",
                      "streaming/network_wordcount.py", "streaming/network_wordjoinsentiments.py",
                      "streaming/sql_network_wordcount.py",
                      "streaming/stateful_network_wordcount.py",
                      "streaming/recoverable_network_wordcount.py"}
SHORT = 30
# The RDD programs among the core examples (the others read Avro and Parquet
# through JVM converter classes).
CORE = {"pi.py", "wordcount.py", "sort.py", "pagerank.py", "kmeans.py", "logistic_regression.py",
        "als.py", "transitive_closure.py", "status_api_demo.py"}
EXCEPTION = re.compile(r"^(?:[\w.]+\.)?\w*(?:Error|Exception|Exit|Interrupt)\b.*")


def example_programs(root: str) -> list[str]:
    found = []
    for folder in ("", "mllib", "streaming"):
        directory = os.path.join(root, folder)
        found += sorted(os.path.join(folder, name) for name in os.listdir(directory)
                        if name.endswith(".py") and name != "__init__.py")
    return found


def prepare_run_directory(package: str) -> str:
    """A directory holding PySpark's data/ and the generated inputs."""
    run = tempfile.mkdtemp(prefix="pyspark-examples-")
    os.symlink(os.path.join(package, "data"), os.path.join(run, "data"))
    generated = os.path.join(run, "generated")
    os.makedirs(os.path.join(generated, "empty"))
    rng = random.Random(42)
    with open(os.path.join(generated, "lr_data.txt"), "w") as out:  # label, then 10 features
        for _ in range(1000):
            label = rng.choice((-1.0, 1.0))
            out.write(" ".join([str(label)] + [f"{rng.gauss(label * 0.7, 1.0):.6f}"
                                               for _ in range(10)]) + "\n")
    return run


def run_fresh(package: str, program: str, path: str, timeout: float) -> tuple[str, str]:
    """``run`` in a run directory of its own: what one run saves (a model's
    directory, say) must not be found by the next, whose save would then
    fail on a path that exists."""
    run_dir = prepare_run_directory(package)
    try:
        return run(program, path, run_dir, timeout)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def port(source: str) -> str:
    return re.sub(r"\bpyspark\b", "ember", source)


def run(program: str, path: str, run_dir: str, timeout: float) -> tuple[str, str]:
    """(outcome, detail) of ``python path ARGS`` in ``run_dir``."""
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)
    env.pop("EMBER_MASTER", None)
    started = time.monotonic()
    # Its own session, so that a program still running at the timeout goes
    # with everything it started (a JVM, workers).
    process = subprocess.Popen([sys.executable, path, *ARGS.get(program, [])], cwd=run_dir,
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return "running", f"still running after {timeout:.0f} s"
    elapsed = time.monotonic() - started
    if process.returncode == 0:
        return "completes", f"completes ({elapsed:.1f} s)"
    errors = [line.strip() for line in stderr.splitlines() if EXCEPTION.match(line.strip())]
    why = errors[-1] if errors else (stderr.strip().splitlines() or [f"exit {process.returncode}"])[-1]
    return "fails", f"fails: {why[:160]}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", action="store_true", help="also run the originals on PySpark")
    parser.add_argument("--only", help="run only programs whose path contains this")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per program")
    args = parser.parse_args()

    import pyspark

    package = os.path.dirname(pyspark.__file__)
    root = os.path.join(package, "examples", "src", "main", "python")
    programs = [p for p in example_programs(root) if not args.only or args.only in p]
    ported_dir = tempfile.mkdtemp(prefix="ember-ported-")
    rows = []
    try:
        for program in programs:
            with open(os.path.join(root, program)) as source:
                text = source.read()
            ported = os.path.join(ported_dir, program)
            os.makedirs(os.path.dirname(ported), exist_ok=True)
            with open(ported, "w") as out:
                out.write(port(text))
            timeout = SHORT if program in RUNS_UNTIL_STOPPED else args.timeout
            ours = run_fresh(package, program, ported, timeout)
            theirs = run_fresh(package, program, os.path.join(root, program), timeout) \
                if args.reference else ("", "not run")
            rows.append((program, ours, theirs))
            print(f"{program}: ember {ours[1]} | PySpark {theirs[1]}", flush=True)
    finally:
        shutil.rmtree(ported_dir, ignore_errors=True)
    print("\n| program | ember | PySpark |\n| --- | --- | --- |")
    for program, ours, theirs in rows:
        print(f"| {program} | {ours[1]} | {theirs[1]} |")
    core_failures = [p for p, ours, _ in rows if p in CORE and ours[0] == "fails"]
    completed = sum(1 for _, ours, _ in rows if ours[0] == "completes")
    print(f"\n{completed} of {len(rows)} programs complete on ember; core programs failing: "
          f"{', '.join(core_failures) or 'none'}")
    return 1 if core_failures else 0


if __name__ == "__main__":
    sys.exit(main())
