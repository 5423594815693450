"""ETL parsing throughput: ember's sc.read.json / sc.read.csv on local[2]
against pandas in one process and PySpark's spark.read.json / csv on
local[2] (MB/s of input), and a partitioned SQL read (rows/s) against
pandas.read_sql, side by side in one run, medians of --repeat runs.

    python -m benchmarks.etl [--mb 64] [--rows 500000] [--repeat 3]

PySpark is skipped (and said so) when it is not installed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import tempfile
import time


def _data(folder: str, megabytes: int) -> tuple[str, str]:
    rng = random.Random(7)
    rows = [{"id": i, "user": f"user{rng.randrange(10_000)}", "amount": round(rng.uniform(0, 500), 2),
             "country": rng.choice(["de", "fr", "us", "jp", "br"]), "ok": rng.random() < 0.9}
            for i in range(20_000)]
    block_json = "".join(json.dumps(r) + "\n" for r in rows).encode()
    block_csv = "".join(f"{r['id']},{r['user']},{r['amount']},{r['country']},{r['ok']}\n"
                        for r in rows).encode()
    paths = []
    for name, block, head in (("events.jsonl", block_json, b""),
                              ("events.csv", block_csv, b"id,user,amount,country,ok\n")):
        path = os.path.join(folder, name)
        with open(path, "wb") as handle:
            handle.write(head)
            while handle.tell() < megabytes * 2**20:
                handle.write(block)
        paths.append(path)
    return paths[0], paths[1]


def _time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.etl")
    parser.add_argument("--mb", type=int, default=64)
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    import pandas

    import ember

    folder = tempfile.mkdtemp(prefix="etl-bench-")
    json_path, csv_path = _data(folder, args.mb)
    sizes = {"json": os.path.getsize(json_path) / 1e6, "csv": os.path.getsize(csv_path) / 1e6}
    db = os.path.join(folder, "rows.sqlite")
    with sqlite3.connect(db) as connection:
        connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, v REAL)")
        connection.executemany("INSERT INTO t VALUES (?, ?, ?)",
                               ((i, f"n{i % 1000}", i * 0.5) for i in range(args.rows)))
    results: dict[str, dict[str, float]] = {}
    with ember.Context("local[2]") as sc:
        results["json"] = {"ember": _time(lambda: sc.read.json(json_path).count(), args.repeat)}
        results["csv"] = {"ember": _time(
            lambda: sc.read.csv(csv_path, header=True, inferSchema=True).count(), args.repeat)}
        connect = __import__("functools").partial(sqlite3.connect, db)
        results["sql"] = {"ember": _time(lambda: sc.read.sql(
            connect, "t", column="id", lowerBound=0, upperBound=args.rows,
            numPartitions=2).count(), args.repeat)}
    results["json"]["pandas"] = _time(lambda: pandas.read_json(json_path, lines=True), args.repeat)
    results["csv"]["pandas"] = _time(lambda: pandas.read_csv(csv_path), args.repeat)
    results["sql"]["pandas"] = _time(
        lambda: pandas.read_sql("SELECT * FROM t", sqlite3.connect(db)), args.repeat)
    try:
        from pyspark.sql import SparkSession

        spark = SparkSession.builder.master("local[2]").getOrCreate()
        results["json"]["pyspark"] = _time(lambda: spark.read.json(json_path).count(), args.repeat)
        results["csv"]["pyspark"] = _time(
            lambda: spark.read.csv(csv_path, header=True, inferSchema=True).count(), args.repeat)
        spark.stop()
    except ImportError:
        print("pyspark not installed: its columns are left out (pip install -e '.[bench]')")
    print(f"{'workload':10} {'engine':8} {'median s':>9} {'throughput':>14} {'ember x':>8}")
    for workload, by_engine in results.items():
        for engine, seconds in by_engine.items():
            if workload == "sql":
                rate = f"{args.rows / seconds / 1e3:9.0f} krows/s"
            else:
                rate = f"{sizes[workload] / seconds:10.1f} MB/s"
            ratio = seconds / by_engine["ember"]
            print(f"{workload:10} {engine:8} {seconds:9.2f} {rate:>14} {ratio:8.2f}")


if __name__ == "__main__":
    main()
