"""The main jobs: ``python -m ember`` (also ``ember demo``) and ``ember wordcount``.

``run_logs``: the flagship demo. Starts a log store broker in a temporary
directory, produces a synthetic web access log into a 4-partition topic
(acknowledged means fsynced), reads it back as a topic RDD on a local
cluster and runs an ETL: parse each line, keep the page views, join with a
small table of page sections, and aggregate traffic per section and the
busiest pages. With ``chaos``, a worker is SIGKILLed in the middle of the job,
and the result is checked against a fault-free run of the same job.

``run_wordcount``: counts the words of a Zipf-distributed generated text.

Everything they create lives in a temporary directory removed at the end.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import tempfile
import threading
import time
from operator import add

import numpy as np

SECTIONS = {"/": "home", "/search": "search", "/cart": "shop", "/checkout": "shop",
            "/help": "support", "/account": "account", "/login": "account"}
TEAMS = {"home": "web", "search": "search", "shop": "commerce", "support": "care",
         "account": "identity", "product": "catalog", "other": "web"}
PRODUCT_PAGES = 400
LINE = re.compile(r'(\S+) - (\S+) \[([^\]]+)\] "(\S+) (\S+) HTTP/1\.1" (\d{3}) (\d+)')


def access_log_lines(count: int, seed: int = 7) -> list[bytes]:
    """Synthetic access-log lines: Zipf-popular pages, a few users much busier
    than the rest, mostly 200s with some 404s and 500s."""
    rng = np.random.default_rng(seed)
    pages = np.array(list(SECTIONS) + [f"/product/{i}" for i in range(PRODUCT_PAGES)])
    page = pages[(rng.zipf(1.4, count) - 1) % len(pages)]
    user = rng.zipf(1.3, count) % 5000
    status = rng.choice(np.array([200, 404, 500, 301]), count, p=[0.9, 0.06, 0.02, 0.02])
    size = rng.integers(200, 20_000, count)
    method = rng.choice(np.array(["GET", "POST"]), count, p=[0.85, 0.15])
    ip = rng.integers(1, 255, (count, 2))
    return [f'10.0.{a}.{b} - u{u} [25/Nov/2026:10:{(i // 1000) % 60:02d}:{i % 60:02d} +0000] '
            f'"{m} {p} HTTP/1.1" {s} {z}'.encode()
            for i, (a, b, u, m, p, s, z) in enumerate(zip(ip[:, 0], ip[:, 1], user, method, page,
                                                          status, size))]


def section_of(path: str) -> str:
    return "product" if path.startswith("/product/") else SECTIONS.get(path, "other")


def parse(line: str):
    match = LINE.match(line)
    if match is None:
        raise ValueError(f"not an access-log line: {line[:80]!r}")
    ip, user, _, method, path, status, size = match.groups()
    return user, method, path, int(status), int(size)


def etl(sc, store):
    """Traffic per section with its owning team (views, users, MB, error
    rate), and the busiest pages."""
    requests = sc.topicRDD(store, "access-log").values().map(parse).cache()
    teams = sc.parallelize(sorted(TEAMS.items()), 2)
    views = requests.filter(lambda r: r[1] == "GET" and r[3] == 200)
    by_section = (views.map(lambda r: (section_of(r[2]), (1, r[4], {r[0]})))
                  .reduceByKey(lambda a, b: (a[0] + b[0], a[1] + b[1], a[2] | b[2])))
    errors = (requests.map(lambda r: (section_of(r[2]), (int(r[3] >= 500), 1)))
              .reduceByKey(lambda a, b: (a[0] + b[0], a[1] + b[1])))
    table = (by_section.join(errors).join(teams)
             .map(lambda kv: (kv[1][1], kv[0], kv[1][0][0][0], len(kv[1][0][0][2]),
                              round(kv[1][0][0][1] / 1e6, 1),
                              round(100.0 * kv[1][0][1][0] / kv[1][0][1][1], 2)))
             .sortBy(lambda row: -row[2]).collect())
    top_pages = (views.map(lambda r: (r[2], 1)).reduceByKey(add)
                 .takeOrdered(5, key=lambda kv: (-kv[1], kv[0])))
    return table, top_pages


def _print_table(headers, rows) -> None:
    widths = [max(len(str(v)) for v in column) for column in zip(headers, *rows)]
    for row in [headers, *rows]:
        print("  ".join(str(v).rjust(w) if i else str(v).ljust(w)
                        for i, (v, w) in enumerate(zip(row, widths))))


def run_logs(master: str = "local[2]", records: int = 300_000, chaos: bool = False):
    import ember
    from ember.ingest import LogStore

    workdir = tempfile.mkdtemp(prefix="ember-demo-")
    try:
        began = time.perf_counter()
        lines = access_log_lines(records)
        with LogStore.start(os.path.join(workdir, "log")) as store:
            store.create_topic("access-log", partitions=4)
            producer = store.producer()
            for i, line in enumerate(lines):
                producer.send("access-log", value=line, key=b"k%d" % (i % 4096))
            producer.flush()
            producer.close()
            produced = time.perf_counter()
            size = sum(len(line) for line in lines) / 1e6
            print(f"produced {records:,} access-log records ({size:.0f} MB) to a 4-partition topic "
                  f"in {produced - began:.2f} s, each acknowledged after fsync")
            with ember.Context(master, appName="ember-demo") as sc:
                started = time.perf_counter()
                if chaos:
                    expected = etl(sc, store)
                    killed = _kill_a_worker_soon(sc)
                    result = etl(sc, store)
                    killed.join()
                else:
                    result = etl(sc, store)
                finished = time.perf_counter()
            table, top_pages = result
            print(f"read the topic as an RDD and ran the ETL on {master} in "
                  f"{finished - started:.2f} s")
            print()
            _print_table(("team", "section", "page views", "users", "MB", "errors %"), table)
            print()
            _print_table(("busiest pages", "views"), top_pages)
            if chaos:
                print()
                print("chaos: a worker was SIGKILLed mid-job; the result is "
                      + ("identical to the fault-free run" if result == expected else "DIFFERENT"))
                if result != expected:
                    raise RuntimeError("the result after a worker was killed differs")
        print(f"\ntotal {time.perf_counter() - began:.2f} s")
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _kill_a_worker_soon(sc) -> threading.Thread:
    def kill() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            running = [pid for wid, pid in sc._cluster.pids().items()]
            if running and sc.statusTracker().getActiveStageIds():
                time.sleep(0.2)
                victim = running[0]
                print(f"chaos: SIGKILL worker process {victim}")
                os.kill(victim, signal.SIGKILL)
                return
            time.sleep(0.02)

    thread = threading.Thread(target=kill, daemon=True)
    thread.start()
    return thread


def vocabulary(seed: int = 7) -> np.ndarray:
    """Pseudo-words of one to four syllables, in a seeded order (rank 0 first)."""
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "qu", "an", "el"]
    words = list(syllables)
    for _ in range(3):
        words += [word + syllable for word in words[-len(syllables) ** 3:] for syllable in syllables]
    words = sorted(set(words))
    np.random.default_rng(seed).shuffle(words)
    return np.array(words)


def generate_text(path: str, megabytes: float, seed: int = 7) -> int:
    """Write about ``megabytes`` MB of lines of 12 Zipf-distributed words;
    returns the number of lines."""
    rng = np.random.default_rng(seed)
    words = vocabulary(seed)
    per_chunk = 12 * 20_000
    separators = np.full(per_chunk, " ", dtype="<U1")
    separators[11::12] = "\n"
    lines, target = 0, int(megabytes * 1024 * 1024)
    with open(path, "w") as out:
        while out.tell() < target:
            ranks = np.minimum(rng.zipf(1.3, size=per_chunk), len(words)) - 1
            out.write("".join(np.char.add(words[ranks], separators).tolist()))
            lines += per_chunk // 12
    return lines


def run_wordcount(master: str = "local[2]", megabytes: float = 50.0, top: int = 10) -> list[tuple[str, int]]:
    import ember

    workdir = tempfile.mkdtemp(prefix="ember-demo-")
    try:
        path = os.path.join(workdir, "corpus.txt")
        began = time.perf_counter()
        lines = generate_text(path, megabytes)
        generated = time.perf_counter()
        size = os.path.getsize(path) / 1024 / 1024
        print(f"generated {size:.1f} MB of text ({lines:,} lines) in {generated - began:.2f} s")
        with ember.Context(master, appName="ember-wordcount") as sc:
            started = time.perf_counter()
            print(f"started {master}: {sc.defaultParallelism} task slots in {started - generated:.2f} s")
            counts = (sc.textFile(path)
                      .flatMap(str.split)
                      .map(lambda word: (word, 1))
                      .reduceByKey(add))
            best = counts.takeOrdered(top, key=lambda kv: (-kv[1], kv[0]))
            distinct = counts.count()
            counted = time.perf_counter()
        print(f"counted {distinct:,} distinct words in {counted - started:.2f} s "
              f"({size / (counted - started):.1f} MB/s)")
        print()
        _print_table(("word", "count"), [(word, f"{count:,}") for word, count in best])
        print()
        print(f"total {time.perf_counter() - began:.2f} s")
        return best
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
