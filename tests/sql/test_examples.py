"""The patterns of PySpark's own example programs (pi, wordcount, sort,
pagerank, kmeans, logistic regression, transitive closure, and the streaming
queue_stream) as they are
written there: a session from the builder, ``spark.sparkContext`` work, input
through ``spark.read.text(path).rdd.map(lambda r: r[0])``. Inputs are
generated here; each answer is checked against the same computation in
plain Python."""

from __future__ import annotations

import math
import random
import re
import time
from collections import Counter
from operator import add

import numpy as np
import pytest

from ember.resultiterable import ResultIterable
from ember.sql import SparkSession
from ember.streaming import StreamingContext


@pytest.fixture(scope="module")
def spark():
    session = SparkSession.builder.master("local[2]").appName("PythonExamples").getOrCreate()
    yield session
    session.stop()


def lines_of(spark, path):
    return spark.read.text(str(path)).rdd.map(lambda r: r[0])


def test_pi_with_a_fixed_seed(spark):
    partitions = 2
    n = 20000 * partitions

    def f(i: int) -> int:
        rng = random.Random(i)  # the example's random(), seeded per element
        x = rng.random() * 2 - 1
        y = rng.random() * 2 - 1
        return 1 if x ** 2 + y ** 2 <= 1 else 0

    count = spark.sparkContext.parallelize(range(1, n + 1), partitions).map(f).reduce(add)
    assert count == sum(f(i) for i in range(1, n + 1))
    assert abs(4.0 * count / n - math.pi) < 0.05


def test_wordcount(spark, tmp_path):
    rng = random.Random(1)
    words = [f"w{rng.randrange(300)}" for _ in range(20000)]
    path = tmp_path / "words.txt"
    path.write_text("\n".join(" ".join(words[i:i + 10]) for i in range(0, len(words), 10)) + "\n")
    counts = (lines_of(spark, path).flatMap(lambda x: x.split(' '))
              .map(lambda x: (x, 1)).reduceByKey(add))
    assert dict(counts.collect()) == Counter(words)


def test_sort(spark, tmp_path):
    rng = random.Random(2)
    numbers = [rng.randrange(-10000, 10000) for _ in range(5000)]
    path = tmp_path / "numbers.txt"
    path.write_text("\n".join(" ".join(map(str, numbers[i:i + 7])) for i in range(0, 5000, 7)))
    output = lines_of(spark, path).flatMap(lambda x: x.split(' ')) \
        .map(lambda x: (int(x), 1)).sortByKey().collect()
    assert [num for num, _ in output] == sorted(numbers)


def compute_contribs(urls: ResultIterable, rank: float):
    for url in urls:
        yield url, rank / len(urls)


def parse_neighbors(urls: str):
    parts = re.split(r'\s+', urls)
    return parts[0], parts[1]


def test_pagerank(spark, tmp_path):
    rng = random.Random(3)
    edges = sorted({(f"u{rng.randrange(40)}", f"u{rng.randrange(40)}") for _ in range(150)})
    path = tmp_path / "pagerank_data.txt"
    path.write_text("".join(f"{a} {b}\n" for a, b in edges))
    iterations = 5

    links = lines_of(spark, path).map(parse_neighbors).distinct().groupByKey().cache()
    ranks = links.map(lambda url_neighbors: (url_neighbors[0], 1.0))
    for _ in range(iterations):
        contribs = links.join(ranks).flatMap(
            lambda url_urls_rank: compute_contribs(url_urls_rank[1][0], url_urls_rank[1][1]))
        ranks = contribs.reduceByKey(add).mapValues(lambda rank: rank * 0.85 + 0.15)
    result = dict(ranks.collect())

    neighbors: dict[str, list[str]] = {}
    for a, b in edges:
        neighbors.setdefault(a, []).append(b)
    oracle = {url: 1.0 for url in neighbors}
    for _ in range(iterations):
        received: dict[str, float] = {}
        for url, rank in oracle.items():
            if url in neighbors:
                for target in neighbors[url]:
                    received[target] = received.get(target, 0.0) + rank / len(neighbors[url])
        oracle = {url: total * 0.85 + 0.15 for url, total in received.items()}
    assert result.keys() == oracle.keys()
    assert all(math.isclose(result[u], oracle[u], rel_tol=1e-9) for u in oracle)


def closest_point(p, centers):
    return min(range(len(centers)), key=lambda i: (np.sum((p - centers[i]) ** 2), i))


def test_kmeans(spark, tmp_path):
    rng = np.random.default_rng(4)
    truth = np.array([[0.0, 0.0], [10.0, 10.0], [-10.0, 10.0]])
    points = np.concatenate([center + rng.normal(size=(200, 2)) for center in truth])
    path = tmp_path / "kmeans_data.txt"
    path.write_text("".join(f"{x} {y}\n" for x, y in points))
    k, converge = 3, 1e-6

    data = lines_of(spark, path).map(lambda line: np.array([float(x) for x in line.split(' ')])).cache()
    start = data.takeSample(False, k, 1)
    centers = [c.copy() for c in start]
    temp = 1.0
    while temp > converge:
        closest = data.map(lambda p: (closest_point(p, centers), (p, 1)))
        stats = closest.reduceByKey(lambda a, b: (a[0] + b[0], a[1] + b[1]))
        new_points = stats.map(lambda st: (st[0], st[1][0] / st[1][1])).collect()
        temp = sum(np.sum((centers[i] - p) ** 2) for i, p in new_points)
        for i, p in new_points:
            centers[i] = p

    oracle = [c.copy() for c in start]  # the same computation, from the same start
    temp = 1.0
    while temp > converge:
        groups: dict[int, list] = {}
        for p in points:
            groups.setdefault(closest_point(p, oracle), []).append(p)
        new_points = [(i, np.sum(group, axis=0) / len(group)) for i, group in groups.items()]
        temp = sum(np.sum((oracle[i] - p) ** 2) for i, p in new_points)
        for i, p in new_points:
            oracle[i] = p
    assert np.allclose(np.array(centers), np.array(oracle), atol=1e-9)


def test_logistic_regression(spark, tmp_path):
    d = 10
    rng = np.random.default_rng(5)
    labels = rng.choice([-1.0, 1.0], size=400)
    features = rng.normal(size=(400, d)) + labels[:, None] * 0.5
    path = tmp_path / "lr_data.txt"
    path.write_text("".join(f"{y} " + " ".join(map(str, x)) + "\n" for y, x in zip(labels, features)))

    def read_point_batch(iterator):
        strs = list(iterator)
        matrix = np.zeros((len(strs), d + 1))
        for i, s in enumerate(strs):
            matrix[i] = np.array(s.replace(',', ' ').split(), dtype=np.float32)
        return [matrix]

    def gradient(matrix, w):
        y, x = matrix[:, 0], matrix[:, 1:]
        return ((1.0 / (1.0 + np.exp(-y * x.dot(w))) - 1.0) * y * x.T).sum(1)

    def add_in_place(x, y):
        x += y
        return x

    points = lines_of(spark, path).mapPartitions(read_point_batch).cache()
    w = 2 * np.random.default_rng(6).random(d) - 1
    oracle_w = w.copy()
    for _ in range(5):
        w -= points.map(lambda m: gradient(m, w)).reduce(add_in_place)
    everything = np.hstack([labels[:, None], features]).astype(np.float32).astype(np.float64)
    for _ in range(5):
        oracle_w -= gradient(everything, oracle_w)
    assert np.allclose(w, oracle_w, rtol=1e-9, atol=1e-9)


def test_transitive_closure(spark):
    # A dense graph: few rounds. (Each round of the example doubles the
    # partitions, as on PySpark, so a sparse graph's many rounds take long.)
    rand = random.Random(42)
    edges: set = set()
    while len(edges) < 30:
        src, dst = rand.randrange(0, 10), rand.randrange(0, 10)
        if src != dst:
            edges.add((src, dst))

    tc = spark.sparkContext.parallelize(sorted(edges), 2).cache()
    reversed_edges = tc.map(lambda x_y: (x_y[1], x_y[0]))
    next_count = tc.count()
    while True:
        old_count = next_count
        new_edges = tc.join(reversed_edges).map(lambda __a_b: (__a_b[1][1], __a_b[1][0]))
        tc = tc.union(new_edges).distinct().cache()
        next_count = tc.count()
        if next_count == old_count:
            break

    closure = set(edges)
    while True:
        grown = closure | {(x, z) for x, y in closure for y2, z in edges if y == y2}
        if grown == closure:
            break
        closure = grown
    assert set(tc.collect()) == closure and next_count == len(closure)


def test_queue_stream(spark):
    # The example's pipeline on its five queued RDDs; its pprint becomes a
    # foreachRDD that keeps each batch's answer, and its sleep a poll.
    ssc = StreamingContext(spark.sparkContext, 0.2)
    rdd_queue = [ssc.sparkContext.parallelize([j for j in range(1, 1001)], 10) for _ in range(5)]
    batches: list = []
    (ssc.queueStream(rdd_queue).map(lambda x: (x % 10, 1)).reduceByKey(lambda a, b: a + b)
        .foreachRDD(lambda rdd: batches.append(sorted(rdd.collect()))))
    ssc.start()
    deadline = time.monotonic() + 120
    while len(batches) < 7 and time.monotonic() < deadline:
        time.sleep(0.05)  # two empty batches after the queue ran out
    ssc.stop(stopSparkContext=False, stopGraceFully=True)

    oracle = sorted(Counter(x % 10 for x in range(1, 1001)).items())
    assert batches[:5] == [oracle] * 5
    assert all(batch == [] for batch in batches[5:])
