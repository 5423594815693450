"""Rate limits and backpressure of topic streams: the configured maximum per
partition, the PID estimator (Spark's), and the initial backpressure rate
shared among partitions by their lag."""

from __future__ import annotations

import pytest

import ember
from ember.streaming.rate import PIDRateEstimator
from streaming_helpers import produce


@pytest.fixture(scope="module")
def sc():
    conf = (ember.Conf().setMaster("local[2]").setAppName("rate-control")
            .set("spark.streaming.kafka.maxRatePerPartition", "5"))
    context = ember.Context(conf=conf)
    yield context
    context.stop()


def test_max_rate_per_partition_caps_each_batch(stream, store):
    store.create_topic("backlog", partitions=2)
    produce(store, "backlog", {0: [f"a{i}" for i in range(12)], 1: [f"b{i}" for i in range(3)]})
    manual = stream()
    ranges = []
    manual.ssc.topicStream(store, ["backlog"], start="earliest").foreachRDD(
        lambda rdd: ranges.append([(r.partition, r.fromOffset, r.untilOffset)
                                   for r in rdd.offsetRanges()]))
    manual.run(4)
    assert ranges == [[(0, 0, 5), (1, 0, 3)], [(0, 5, 10), (1, 3, 3)], [(0, 10, 12), (1, 3, 3)],
                      [(0, 12, 12), (1, 3, 3)]]


def test_backpressure_starts_at_the_initial_rate_shared_by_lag(sc, stream, store):
    sc._conf.set("spark.streaming.backpressure.enabled", "true")
    sc._conf.set("spark.streaming.backpressure.initialRate", "4")
    try:
        store.create_topic("lagging", partitions=2)
        produce(store, "lagging", {0: [f"a{i}" for i in range(30)], 1: [f"b{i}" for i in range(10)]})
        manual = stream()
        counts = []
        manual.ssc.topicStream(store, ["lagging"], start="earliest").foreachRDD(
            lambda rdd: counts.append([r.count() for r in rdd.offsetRanges()]))
        manual.run(2)
    finally:
        sc._conf.set("spark.streaming.backpressure.enabled", "false")
    # 4 records/s over a lag of 30 and 10: 3 and 1 per 1 s batch
    assert counts[0] == [3, 1]


def test_pid_estimator_calibrates_on_the_first_batch_then_follows_the_processing_rate():
    estimator = PIDRateEstimator(1000, 1.0, 0.2, 0.0, 10)
    assert estimator.compute(1000, 1000, 500, 0) is None  # calibration: 2000 records/s
    assert estimator.compute(1000, 1000, 500, 0) is None  # not newer than the last
    assert estimator.compute(2000, 0, 500, 0) is None  # no records: nothing learned
    # processed at 2000 records/s again, no backlog: the rate stays at 2000
    assert estimator.compute(2000, 1000, 500, 0) == pytest.approx(2000)
    # slower (1000 records/s) with a 500 ms backlog: the rate drops below 1000
    lower = estimator.compute(3000, 1000, 1000, 500)
    assert lower == pytest.approx(2000 - (2000 - 1000) - 0.2 * 500 * 1000 / 1000)
    # a huge backlog never goes below the minimum rate
    assert estimator.compute(4000, 1000, 1000, 10_000_000) == 10


@pytest.mark.parametrize("args,problem", [((0, 1, 0.2, 0, 10), "batch interval"),
                                          ((1000, -1, 0.2, 0, 10), "proportional"),
                                          ((1000, 1, -0.2, 0, 10), "integral"),
                                          ((1000, 1, 0.2, 0, 0), "minimum rate")])
def test_pid_estimator_refuses_bad_terms(args, problem):
    with pytest.raises(ValueError, match=problem):
        PIDRateEstimator(*args)
