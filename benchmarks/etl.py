"""ETL parsing throughput: ember's sc.read.json / sc.read.csv on local[2]
against pandas in one process and PySpark's spark.read.json / csv on
local[2] (MB/s of input), and a partitioned SQL read (rows/s) against
pandas.read_sql, side by side in one run, medians of --repeat runs.

    python -m benchmarks.etl [--mb 64] [--rows 500000] [--repeat 3]
                             [--engines ember,pandas,pyspark] [--out DIR]

Every engine reads the same files: JSON lines and CSV with a header, five
columns (int, string, double, string, boolean), and a sqlite table. CSV is
read with the header and inferSchema on, by ember and PySpark alike (PySpark
infers from a full pass over the file, ember from a sample of each split);
pandas types its columns as it parses. The action is a count (ember,
PySpark) or the DataFrame itself (pandas), and the row counts of all
engines must agree. Repetitions are the outer loop, so a slow spell on a
busy machine is spread over the engines; the ember Context and the Spark
session are started (and run one small job) before the first timed run.
PySpark runs with the suite's settings (no UI, no progress bars, log level
ERROR) and is left out, saying so, when it is not installed. The results go
to DIR/<date>-etl.json and .md (default benchmarks/results).
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ENGINES = ("ember", "pandas", "pyspark")
GOAL_PANDAS = 1.5  # ember's throughput at least this times pandas', and ahead of PySpark


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


def _table(db: str, rows: int) -> None:
    with sqlite3.connect(db) as connection:
        connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, v REAL)")
        connection.executemany("INSERT INTO t VALUES (?, ?, ?)",
                               ((i, f"n{i % 1000}", i * 0.5) for i in range(rows)))


def _engines(names: str) -> list[str]:
    chosen = [name.strip() for name in names.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in ENGINES]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"unknown engine {', '.join(unknown) or '(none)'}; "
                                         f"choose from {', '.join(ENGINES)}")
    return chosen


def _spark_session():
    from benchmarks.engines import PYSPARK_SETTINGS

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master("local[2]").appName("ember-benchmarks-etl")
    for key, value in PYSPARK_SETTINGS.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    spark.sparkContext.parallelize([1, 2], 2).count()
    return spark


def _markdown(record: dict) -> str:
    lines = [f"# ETL parsing, {record['date']}", "",
             f"Input: JSON lines {record['sizes_mb']['json']:.1f} MB, CSV "
             f"{record['sizes_mb']['csv']:.1f} MB, sqlite table of {record['rows']:,} rows; "
             f"{record['repeat']} runs per cell, medians. Load average at the start "
             f"{record['load'][0]:.1f}, at the end {record['load'][1]:.1f}.", "",
             "| workload | engine | median s | min–max s | throughput | ember's throughput ÷ this engine's |",
             "| --- | --- | ---: | ---: | ---: | ---: |"]
    for workload, by_engine in record["results"].items():
        for engine, times in by_engine.items():
            median = statistics.median(times)
            if workload == "sql":
                rate = f"{record['rows'] / median / 1e3:,.0f} krows/s"
            else:
                rate = f"{record['sizes_mb'][workload] / median:.1f} MB/s"
            ember = by_engine.get("ember")
            ratio = f"{median / statistics.median(ember):.2f}" if ember else "—"
            lines.append(f"| {workload} | {engine} | {median:.2f} | {min(times):.2f}–{max(times):.2f} "
                         f"| {rate} | {ratio} |")
    lines += ["", "Goals (ember):", ""]
    lines += [f"- {goal}" for goal in record["goals"]]
    return "\n".join(lines) + "\n"


def _goals(results: dict) -> list[str]:
    goals = []
    for workload, by_engine in results.items():
        if "ember" not in by_engine:
            continue
        ember = statistics.median(by_engine["ember"])
        for engine, target in (("pandas", GOAL_PANDAS), ("pyspark", 1.0)):
            if engine not in by_engine:
                continue
            ratio = statistics.median(by_engine[engine]) / ember
            verdict = "met" if ratio >= target else "**missed**"
            wanted = f"≥ {target}×" if engine == "pandas" else "ahead of"
            goals.append(f"{workload}: {wanted} {engine}: {verdict} ({ratio:.2f}×)")
    return goals


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.etl",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=64, help="size of each input file")
    parser.add_argument("--rows", type=int, default=500_000, help="rows of the SQL table")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--engines", type=_engines, default=list(ENGINES),
                        help=f"comma-separated, default {','.join(ENGINES)}")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args(argv)
    engines = list(args.engines)

    folder = tempfile.mkdtemp(prefix="etl-bench-")
    json_path, csv_path = _data(folder, args.mb)
    sizes = {"json": os.path.getsize(json_path) / 1e6, "csv": os.path.getsize(csv_path) / 1e6}
    db = os.path.join(folder, "rows.sqlite")
    _table(db, args.rows)

    runs: dict[tuple[str, str], object] = {}
    started: list = []
    if "ember" in engines:
        import ember

        sc = ember.Context("local[2]", appName="ember-benchmarks-etl")
        started.append(sc.stop)
        sc.parallelize([1, 2], 2).count()
        connect = functools.partial(sqlite3.connect, db)
        runs["json", "ember"] = lambda: sc.read.json(json_path).count()
        runs["csv", "ember"] = lambda: sc.read.csv(csv_path, header=True, inferSchema=True).count()
        runs["sql", "ember"] = lambda: sc.read.sql(
            connect, "t", column="id", lowerBound=0, upperBound=args.rows,
            numPartitions=2).count()
    if "pandas" in engines:
        import pandas

        runs["json", "pandas"] = lambda: len(pandas.read_json(json_path, lines=True))
        runs["csv", "pandas"] = lambda: len(pandas.read_csv(csv_path))
        runs["sql", "pandas"] = lambda: len(pandas.read_sql("SELECT * FROM t", sqlite3.connect(db)))
    if "pyspark" in engines:
        try:
            spark = _spark_session()
        except ImportError:
            print("pyspark not installed: its columns are left out (pip install -e '.[bench]')")
        else:
            started.append(spark.stop)
            runs["json", "pyspark"] = lambda: spark.read.json(json_path).count()
            runs["csv", "pyspark"] = lambda: spark.read.csv(
                csv_path, header=True, inferSchema=True).count()

    load_start = os.getloadavg()[0]
    results: dict[str, dict[str, list[float]]] = {}
    counts: dict[str, dict[str, int]] = {}
    try:
        for _ in range(args.repeat):
            for (workload, engine), run in runs.items():
                begin = time.perf_counter()
                count = run()
                results.setdefault(workload, {}).setdefault(engine, []).append(
                    time.perf_counter() - begin)
                counts.setdefault(workload, {})[engine] = count
    finally:
        for stop in started:
            stop()
        shutil.rmtree(folder, ignore_errors=True)
    for workload, by_engine in counts.items():
        if len(set(by_engine.values())) != 1:
            raise SystemExit(f"{workload}: the engines disagree on the number of rows: {by_engine}")

    record = {"date": datetime.date.today().isoformat(), "mb": args.mb, "rows": args.rows,
              "repeat": args.repeat, "sizes_mb": sizes, "load": [load_start, os.getloadavg()[0]],
              "python": sys.version.split()[0], "results": results, "counts": counts}
    record["goals"] = _goals(results)
    table = _markdown(record)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"{record['date']}-etl"
    suffix = 1
    while stem.with_suffix(".json").exists():
        suffix += 1
        stem = args.out / f"{record['date']}-etl-{suffix}"
    stem.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    stem.with_suffix(".md").write_text(table)
    print(f"written: {stem}.json and .md")


if __name__ == "__main__":
    main()
