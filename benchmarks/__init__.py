"""ember's benchmark suite: ember against PySpark, Dask and a serial floor.

Run from the repository root: ``python -m benchmarks run`` (see README.md).
Importing this package is cheap and pulls in no engine: worker processes of
every engine import ``benchmarks.workloads`` by name.
"""
