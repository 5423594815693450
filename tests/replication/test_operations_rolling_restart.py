"""A rolling restart of every broker of a three-broker cluster while an
idempotent acks=all producer runs: each broker in turn gets SIGTERM (a
controlled shutdown: its leaderships move to in-sync followers before it
exits), is started again, and rejoins every ISR before the next one stops.
Checked with the workload's oracle (``workload``): nothing acknowledged is
lost or stored twice, nothing read disappears, and no produce is refused.

The longest pause between two acknowledgements is printed (a figure for
ARCHITECTURE.md, not an assertion: the machine is shared). Seeds as in
``test_replication_faults`` (``EMBER_REPLICATION_SEEDS=5``)."""

from __future__ import annotations

import os
import random
import threading
import time

import pytest

from tests.replication.cluster_helpers import wait_for
from tests.replication.workload import Workload

pytestmark = [pytest.mark.fault, pytest.mark.slow]

SEEDS = list(range(1, int(os.environ.get("EMBER_REPLICATION_SEEDS", "1")) + 1))


class TimedWorkload(Workload):
    """The workload, also noting when each acknowledgement arrived."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ack_times: list[float] = []
        self._times_lock = threading.Lock()

    def _acked(self, value, metadata):
        with self._times_lock:
            self.ack_times.append(time.monotonic())
        super()._acked(value, metadata)

    def longest_gap(self, since: float, until: float) -> float:
        with self._times_lock:
            times = sorted(t for t in self.ack_times if since <= t <= until)
        return max((b - a for a, b in zip(times, times[1:])), default=float("inf"))


def in_every_isr(store, node, topic):
    isr = store.topic_metadata([topic])[topic]["isr"]
    return all(node in members for members in isr)


def stepped_down(store, node, topic):
    info = store.topic_metadata([topic])[topic]
    return node not in info["leaders"] and not any(node in isr for isr in info["isr"])


@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed{s}" for s in SEEDS])
def test_a_rolling_restart_of_every_broker_loses_nothing_and_refuses_nothing(cluster, seed):
    rng = random.Random(seed)
    cluster.create_topic("events", 3)  # each broker leads one partition
    leaders_before = cluster.topic_metadata(["events"])["events"]["leaders"]
    assert sorted(leaders_before) == [1, 2, 3]
    workload = TimedWorkload(cluster, "events", 3, seed).start()
    try:
        workload.wait_acked(rng.randrange(50, 200))
        began = time.monotonic()
        for node in rng.sample([1, 2, 3], 3):
            cluster.cluster.stop_broker(node)
            # It left before exiting: it leads nothing and is in no ISR.
            wait_for(lambda: stepped_down(cluster, node, "events"),
                     what=f"broker {node} to lead nothing and leave every ISR (seed {seed})")
            workload.wait_acked(200)  # produces go on while it is down
            cluster.cluster.restart(node)
            wait_for(lambda: in_every_isr(cluster, node, "events"), 90,
                     what=f"broker {node} to rejoin every ISR (seed {seed})")
            workload.wait_acked(20)
        ended = time.monotonic()
    finally:
        workload.stop()
    figures = workload.check()
    assert not workload.failed, \
        f"produces refused during the rolling restart: {list(workload.failed.items())[:3]} " \
        f"(seed {seed})"
    assert figures["acked"] == figures["sent"]
    print(f"seed {seed}: rolling restart took {ended - began:.1f} s; the longest pause "
          f"between acknowledgements was {workload.longest_gap(began, ended):.2f} s")
