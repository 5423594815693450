"""The public names of the PySpark modules an RDD, DStream or MLlib program
imports from (a developer tool, not collected by pytest).

A program moves to ember by replacing the word ``pyspark`` with ``ember``, so
every ``from pyspark.X import Y`` must work as ``from ember.X import Y``.
This tool reads, from the *installed* pyspark, the public names of each
module listed in ``MODULES``: the names in its ``__all__`` and every name
its own source defines at top level (classes, functions, constants), except
those starting with ``_``, type variables and ``TYPE_CHECKING``. It writes
them, names only, to ``tests/compat/pyspark_public_names.json`` (``--write``),
which ``tests/api/test_pyspark_names.py`` reads to import each name from its
ember counterpart, so the suite needs no pyspark.

Without ``--write`` it prints, per module, the names ember does not have yet
(and those it leaves out on purpose, with the reason given in
``pyspark_left_out.json``), and exits with 1 when one is missing.

How to run it: with a Python that can import pyspark (PySpark 4.x) and
ember, from the repository root::

    python3 -m venv <venv> && <venv>/bin/pip install pyspark && <venv>/bin/pip install -e .
    <venv>/bin/python tests/compat/pyspark_names.py [--write]
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import json
import pathlib
import sys
import typing

HERE = pathlib.Path(__file__).resolve().parent
SNAPSHOT = HERE / "pyspark_public_names.json"
LEFT_OUT = HERE / "pyspark_left_out.json"  # names ember leaves out on purpose, and why

# The modules a PySpark RDD, DStream or MLlib program imports from, and the top-level package.
MODULES = ("pyspark", "pyspark.rdd", "pyspark.context", "pyspark.conf", "pyspark.broadcast",
           "pyspark.accumulators", "pyspark.storagelevel", "pyspark.taskcontext",
           "pyspark.statcounter", "pyspark.resultiterable", "pyspark.files", "pyspark.profiler",
           "pyspark.serializers", "pyspark.shuffle", "pyspark.util", "pyspark.rddsampler",
           "pyspark.status",
           "pyspark.streaming", "pyspark.streaming.context", "pyspark.streaming.dstream",
           "pyspark.streaming.listener", "pyspark.streaming.util",
           "pyspark.mllib", "pyspark.mllib.linalg", "pyspark.mllib.linalg.distributed",
           "pyspark.mllib.regression", "pyspark.mllib.classification", "pyspark.mllib.clustering",
           "pyspark.mllib.tree", "pyspark.mllib.recommendation", "pyspark.mllib.feature",
           "pyspark.mllib.fpm", "pyspark.mllib.stat", "pyspark.mllib.random",
           "pyspark.mllib.evaluation", "pyspark.mllib.util")
# Left out whole: pyspark.mllib.common (the Py4J bridge to MLlib's JVM code),
# pyspark.streaming.kinesis (a JVM receiver).


def top_level_names(module) -> set[str]:
    """Names the module's own source binds at top level."""
    tree = ast.parse(inspect.getsource(module))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def public_names(name: str) -> list[str]:
    module = importlib.import_module(name)
    names = set(getattr(module, "__all__", ()))
    if name != "pyspark":  # the package's own source is mostly its re-exports' imports
        names |= top_level_names(module)
    else:
        names |= {n for n in top_level_names(module) if inspect.isfunction(getattr(module, n, None))}
    return sorted(n for n in names
                  if (not n.startswith("_") or n == "__version__") and n != "TYPE_CHECKING"
                  and not isinstance(getattr(module, n, None), typing.TypeVar))


def snapshot() -> dict:
    import pyspark

    return {"pyspark": pyspark.__version__,
            "modules": {name: public_names(name) for name in MODULES}}


def ember_module_name(name: str) -> str:
    return "ember" + name[len("pyspark"):]


def importable(module: str, name: str) -> bool:
    """``from module import name`` works (a submodule counts, as in Python)."""
    try:
        exec(f"from {module} import {name}", {})
    except ImportError:
        return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help=f"write {SNAPSHOT.name}")
    args = parser.parse_args()
    current = snapshot()
    if args.write:
        SNAPSHOT.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
        print(f"wrote {SNAPSHOT} (pyspark {current['pyspark']})")
        return 0
    left_out_all = json.loads(LEFT_OUT.read_text())
    missing_any = False
    for name, names in current["modules"].items():
        target = importlib.import_module(ember_module_name(name))
        left_out = left_out_all.get(name, {})
        missing = [n for n in names if n not in left_out and not importable(target.__name__, n)]
        missing_any |= bool(missing)
        print(f"{name} -> {target.__name__}: {len(names) - len(missing) - len(left_out)} of "
              f"{len(names)} names; missing: {', '.join(missing) or 'none'}")
        for n, why in sorted(left_out.items()):
            print(f"    left out {n}: {why}")
    return 1 if missing_any else 0


if __name__ == "__main__":
    sys.exit(main())
