"""Seeded input data, generated once per (scale, seed) and reused.

Datasets live in ``benchmarks/data/<scale>-seed<seed>-v<FORMAT>/<name>/``.
A dataset is written into a scratch folder and renamed into place when
complete, so an interrupted generation is never mistaken for data. Bump
``FORMAT`` whenever a generator changes what it writes: old folders are then
simply ignored.

Every chunk draws from its own generator seeded by (seed, dataset, chunk), so
the bytes do not depend on the order chunks are written in.

File formats, chosen so that loading is cheap next to the work measured:

* ``text``: one UTF-8 file, lines of 10 to 15 words drawn from a synthetic
  vocabulary with Zipf frequencies (exponent 1.07; frequent words are short).
* ``kv``, ``join_left``, ``join_right``, ``sort``: ``part-NNNNN.npz`` holding
  int64 arrays ``keys`` and ``values``.
* ``spill``: the same, with 100-byte ASCII ``values``.
* ``points``: ``part-NNNNN.npy``, float64 ``(rows, dims)`` around hidden centers.
* ``ml_points``: ``part-NNNNN.npy``, float64 points around hidden centers (unit noise).
* ``ml_classes``, ``ml_forest``: ``part-NNNNN.npz``, features ``X`` and 0/1 labels ``y``
  (a logistic model; a rule with an interaction and 5 % flipped labels).
* ``ml_ratings``: ``part-NNNNN.npz``, ``users``, ``products``, ``ratings`` from hidden
  rank-5 factors plus noise. The mllib datasets keep their hidden model in ``hidden.npz``.
* ``events``: ``events.txt``, one log-store record per line, each exactly
  ``LOG_RECORD_BYTES`` of ASCII: ``u<user> /p/<page> <status> <size> `` padded
  with letters (users uniform, pages Zipf-popular).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np

from benchmarks.scales import (LOG_LARGE_RECORD_BYTES, LOG_LARGE_SHARE, LOG_RECORD_BYTES,
                               LOG_USERS, ML_CLUSTERS, ML_FEATURES, ML_FOREST_FEATURES,
                               ML_POINT_DIMS, ML_PRODUCTS, ML_USERS, SPILL_VALUE_BYTES, Scale)

FORMAT = 1
DATA_ROOT = Path(__file__).resolve().parent / "data"

ZIPF_EXPONENT = 1.07
WORDS_PER_LINE = (10, 15)
JOIN_RIGHT_COVERAGE = 0.8
SORT_KEY_RANGE = 2**40


class DataMissingError(RuntimeError):
    pass


class DataCache:
    def __init__(self, scale: Scale, seed: int, root: Path = DATA_ROOT):
        self.scale = scale
        self.seed = seed
        self.dir = root / f"{scale.name}-seed{seed}-v{FORMAT}"

    def files(self, name: str, generate: bool = True) -> list[str]:
        """Absolute paths of a dataset's files, generating it if asked."""
        target = self.dir / name
        if not target.is_dir():
            if not generate:
                raise DataMissingError(
                    f"dataset {name!r} for scale {self.scale.name!r} seed "
                    f"{self.seed} is not in {self.dir}; `python -m benchmarks "
                    f"run` generates it before measuring")
            self._generate(name, target)
        return sorted(str(p) for p in target.iterdir())

    def _generate(self, name: str, target: Path) -> None:
        generator = GENERATORS.get(name)
        if generator is None:
            raise KeyError(f"unknown dataset {name!r}; known: {sorted(GENERATORS)}")
        self.dir.mkdir(parents=True, exist_ok=True)
        for stale in self.dir.glob(f"{name}.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        scratch = self.dir / f"{name}.tmp-{os.getpid()}"
        scratch.mkdir()
        started = time.perf_counter()
        print(f"  generating {name} for scale {self.scale.name} ...", end="", flush=True)
        try:
            generator(self.scale, _Seeds(self.seed, name), scratch)
            os.replace(scratch, target)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        size = sum(p.stat().st_size for p in target.iterdir())
        print(f" {size / 2**20:.1f} MB in {time.perf_counter() - started:.1f} s")


class _Seeds:
    # Fixed numbers rather than hash(name): str hashing is salted per process.
    _IDS = {"text": 1, "kv": 2, "join_left": 3, "join_right": 4, "sort": 5,
            "points": 6, "spill": 7, "events": 8, "events_1k": 9,
            "ml_points": 10, "ml_classes": 11, "ml_ratings": 12, "ml_forest": 13}

    def __init__(self, seed: int, name: str):
        self._base = [seed, self._IDS[name]]

    def rng(self, chunk: int = 0) -> np.random.Generator:
        return np.random.default_rng(self._base + [chunk])


def _chunk_sizes(rows: int, chunks: int) -> list[int]:
    return [len(part) for part in np.array_split(np.arange(rows), chunks)]


def _part(folder: Path, index: int, suffix: str) -> Path:
    return folder / f"part-{index:05d}{suffix}"


def _write_int_pairs(folder: Path, scale: Scale, rows: int, seeds: _Seeds,
                     draw_keys, value_high: int) -> None:
    for index, size in enumerate(_chunk_sizes(rows, scale.partitions)):
        rng = seeds.rng(index)
        keys = draw_keys(rng, size)
        values = rng.integers(0, value_high, size=size, dtype=np.int64)
        np.savez(_part(folder, index, ".npz"), keys=keys, values=values)


def _kv(scale: Scale, seeds: _Seeds, folder: Path) -> None:
    _write_int_pairs(folder, scale, scale.kv_rows, seeds,
                     lambda rng, n: rng.integers(0, scale.kv_keys, size=n, dtype=np.int64),
                     value_high=1_000)


def _join_left(scale: Scale, seeds: _Seeds, folder: Path) -> None:
    _write_int_pairs(folder, scale, scale.join_left_rows, seeds,
                     lambda rng, n: rng.integers(0, scale.join_right_keys, size=n, dtype=np.int64),
                     value_high=1_000_000)


def _join_right(scale: Scale, seeds: _Seeds, folder: Path) -> None:
    # Unique keys covering part of the key space, so the join both matches
    # many left rows per key and drops the left rows with no partner.
    rng = seeds.rng()
    present = rng.permutation(scale.join_right_keys)[
        :int(scale.join_right_keys * JOIN_RIGHT_COVERAGE)].astype(np.int64)
    for index, keys in enumerate(np.array_split(present, scale.partitions)):
        values = rng.integers(0, 1_000_000, size=len(keys), dtype=np.int64)
        np.savez(_part(folder, index, ".npz"), keys=keys, values=values)


def _sort(scale: Scale, seeds: _Seeds, folder: Path) -> None:
    _write_int_pairs(folder, scale, scale.sort_rows, seeds,
                     lambda rng, n: rng.integers(0, SORT_KEY_RANGE, size=n, dtype=np.int64),
                     value_high=1_000_000)


def _spill(scale: Scale, seeds: _Seeds, folder: Path) -> None:
    # About 500 records per key: groups big enough that a worker cannot keep
    # them all in its budget, small enough to be realistic.
    keys_space = max(1, scale.spill_rows // 500)
    for index, size in enumerate(_chunk_sizes(scale.spill_rows, scale.partitions)):
        rng = seeds.rng(index)
        keys = rng.integers(0, keys_space, size=size, dtype=np.int64)
        letters = rng.integers(ord("a"), ord("z") + 1, size=(size, SPILL_VALUE_BYTES),
                               dtype=np.uint8)
        values = letters.view(f"S{SPILL_VALUE_BYTES}").reshape(size)
        np.savez(_part(folder, index, ".npz"), keys=keys, values=values)


def _points(scale: Scale, seeds: _Seeds, folder: Path) -> None:
    # The chunk number one past the last chunk seeds the hidden centers.
    hidden = seeds.rng(scale.partitions).uniform(-10, 10, size=(scale.clusters, scale.dims))
    for index, size in enumerate(_chunk_sizes(scale.points, scale.partitions)):
        rng = seeds.rng(index)
        labels = rng.integers(0, scale.clusters, size=size)
        points = hidden[labels] + rng.normal(0.0, 2.0, size=(size, scale.dims))
        np.save(_part(folder, index, ".npy"), points)


_ONSETS = ["", "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r",
           "s", "t", "v", "w", "z", "st", "tr", "ch", "sh", "th", "br", "pl"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "ou", "y"]
_CODAS = ["", "", "", "n", "r", "s", "t", "l", "m", "nd", "st", "ck"]


def _vocabulary(rng: np.random.Generator, size: int) -> list[str]:
    """Distinct pronounceable words, shortest first (rank 1 = most frequent)."""
    seen: dict[str, None] = {}
    while len(seen) < size:
        batch = 4096
        syllables = 1 + np.minimum(rng.poisson(1.3, size=batch), 4)
        onsets = rng.integers(0, len(_ONSETS), size=(batch, 5))
        vowels = rng.integers(0, len(_VOWELS), size=(batch, 5))
        codas = rng.integers(0, len(_CODAS), size=(batch, 5))
        for row in range(batch):
            word = "".join(_ONSETS[onsets[row, i]] + _VOWELS[vowels[row, i]] + _CODAS[codas[row, i]]
                           for i in range(syllables[row]))
            seen.setdefault(word, None)
    words = list(seen)[:size]
    # Zipf's law of abbreviation: frequent words are the short ones.
    words.sort(key=len)
    return words


def _text(scale: Scale, seeds: _Seeds, folder: Path) -> None:
    rng = seeds.rng()
    vocab = np.asarray(_vocabulary(rng, scale.vocabulary), dtype=object)
    weights = 1.0 / np.arange(1, len(vocab) + 1) ** ZIPF_EXPONENT
    cdf = np.cumsum(weights / weights.sum())
    cdf[-1] = 1.0
    target = scale.text_mb * 2**20
    written = 0
    with open(folder / "words.txt", "wb") as out:
        while written < target:
            line_lengths = rng.integers(WORDS_PER_LINE[0], WORDS_PER_LINE[1] + 1, size=20_000)
            words = vocab[np.searchsorted(cdf, rng.random(int(line_lengths.sum())))].tolist()
            bounds = np.concatenate(([0], np.cumsum(line_lengths))).tolist()
            block = bytearray()
            for start, stop in zip(bounds, bounds[1:]):
                block += " ".join(words[start:stop]).encode() + b"\n"
                if written + len(block) >= target:
                    break
            out.write(block)
            written += len(block)


def _events(scale: Scale, seeds: _Seeds, folder: Path, record_bytes: int = LOG_RECORD_BYTES,
            share: int = 1, name: str = "events.txt") -> None:
    rng = seeds.rng()
    count = scale.log_records // share
    users = rng.integers(0, LOG_USERS, size=count).tolist()
    pages = ((rng.zipf(1.3, size=count) - 1) % 1000).tolist()
    statuses = rng.choice(np.array([200, 404, 500, 301]), size=count,
                          p=[0.9, 0.06, 0.02, 0.02]).tolist()
    sizes = rng.integers(200, 20_000, size=count).tolist()
    padding = rng.integers(ord("a"), ord("z") + 1, size=(count, record_bytes),
                           dtype=np.uint8)
    with open(folder / name, "wb") as out:
        for i in range(count):
            head = f"u{users[i]:05d} /p/{pages[i]:03d} {statuses[i]} {sizes[i]:5d} ".encode()
            out.write(head + padding[i, len(head):].tobytes() + b"\n")


# The hidden models the mllib datasets are drawn from are saved beside the
# parts as HIDDEN, so the answers can check learned models against them.
HIDDEN = "hidden.npz"


def _ml_points(scale: Scale, seeds: _Seeds, folder: Path) -> None:
    centers = seeds.rng(scale.partitions).uniform(-10, 10, size=(ML_CLUSTERS, ML_POINT_DIMS))
    np.savez(folder / HIDDEN, centers=centers)
    for index, size in enumerate(_chunk_sizes(scale.ml_points, scale.partitions)):
        rng = seeds.rng(index)
        points = centers[rng.integers(0, ML_CLUSTERS, size=size)] + rng.normal(
            0.0, 1.0, size=(size, ML_POINT_DIMS))
        np.save(_part(folder, index, ".npy"), points)


def _ml_classes(scale: Scale, seeds: _Seeds, folder: Path) -> None:
    weights = seeds.rng(scale.partitions).uniform(-1, 1, size=ML_FEATURES)
    np.savez(folder / HIDDEN, weights=weights, intercept=0.5)
    for index, size in enumerate(_chunk_sizes(scale.ml_rows, scale.partitions)):
        rng = seeds.rng(index)
        X = rng.standard_normal((size, ML_FEATURES))
        p = 1.0 / (1.0 + np.exp(-(X @ weights + 0.5)))
        np.savez(_part(folder, index, ".npz"), X=X, y=(rng.random(size) < p).astype(np.float64))


def _ml_ratings(scale: Scale, seeds: _Seeds, folder: Path) -> None:
    hidden_rng = seeds.rng(scale.partitions)
    users = hidden_rng.standard_normal((ML_USERS, 5)) / 5 ** 0.25
    products = hidden_rng.standard_normal((ML_PRODUCTS, 5)) / 5 ** 0.25
    np.savez(folder / HIDDEN, users=users, products=products)
    for index, size in enumerate(_chunk_sizes(scale.ml_ratings, scale.partitions)):
        rng = seeds.rng(index)
        user = rng.integers(0, ML_USERS, size=size)
        product = rng.integers(0, ML_PRODUCTS, size=size)
        ratings = (users[user] * products[product]).sum(1) + 0.1 * rng.standard_normal(size)
        np.savez(_part(folder, index, ".npz"), users=user, products=product, ratings=ratings)


def _ml_forest(scale: Scale, seeds: _Seeds, folder: Path) -> None:
    # a label no single split predicts: an interaction and a threshold, 5 % flipped
    for index, size in enumerate(_chunk_sizes(scale.ml_forest_rows, scale.partitions)):
        rng = seeds.rng(index)
        X = rng.standard_normal((size, ML_FOREST_FEATURES))
        y = ((X[:, 0] + X[:, 1] * X[:, 2] - X[:, 3] > 0) ^ (rng.random(size) < 0.05))
        np.savez(_part(folder, index, ".npz"), X=X, y=y.astype(np.float64))


GENERATORS = {
    "ml_points": _ml_points,
    "ml_classes": _ml_classes,
    "ml_ratings": _ml_ratings,
    "ml_forest": _ml_forest,
    "text": _text,
    "kv": _kv,
    "join_left": _join_left,
    "join_right": _join_right,
    "sort": _sort,
    "spill": _spill,
    "points": _points,
    "events": _events,
    "events_1k": lambda scale, seeds, folder: _events(
        scale, seeds, folder, LOG_LARGE_RECORD_BYTES, LOG_LARGE_SHARE, "events_1k.txt"),
}
