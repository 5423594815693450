"""The main job: ``python -m ember`` (also ``ember demo``).

Generates a text whose word frequencies follow Zipf's law (seeded, so every
run counts the same words), counts its words on a local cluster with the
PySpark API, and prints the top words with timings. Everything it creates lives in a temporary directory
that is removed at the end.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from operator import add

import numpy as np


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


def run(master: str = "local[2]", megabytes: float = 50.0, top: int = 10) -> list[tuple[str, int]]:
    import ember

    workdir = tempfile.mkdtemp(prefix="ember-demo-")
    try:
        path = os.path.join(workdir, "corpus.txt")
        began = time.perf_counter()
        lines = generate_text(path, megabytes)
        generated = time.perf_counter()
        size = os.path.getsize(path) / 1024 / 1024
        print(f"generated {size:.1f} MB of text ({lines:,} lines) in {generated - began:.2f} s")
        with ember.Context(master, appName="ember-demo") as sc:
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
        width = max(len(word) for word, _ in best)
        for rank, (word, count) in enumerate(best, 1):
            print(f"{rank:>3}. {word:<{width}}  {count:>10,}")
        print()
        print(f"total {time.perf_counter() - began:.2f} s")
        return best
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
