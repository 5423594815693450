"""Bit rot in one replica of a three-broker cluster (RELIABILITY.md L11 at
RF 3): a byte flipped in the middle of a sealed segment of the leader's
copy. A read of that copy never returns the corrupt bytes and names topic,
partition, offset and file; the leadership moves to a healthy in-sync
replica, which serves every record; the damaged broker truncates to the
corrupt batch, fetches it again and rejoins the ISR with an intact copy."""

from __future__ import annotations

import os

import pytest

from ember.engine.errors import NotLeaderOrFollowerError
from ember.ingest.client.client import BrokerConnection
from ember.ingest.log.record_batch import iter_records

from tests.ingest.broker_helpers import read_topic
from tests.ingest.ingest_helpers import flip_byte
from tests.replication.cluster_helpers import (
    leader_of, partition_state, replica_view, stored_values, wait_for, wait_for_new_leader,
)

pytestmark = [pytest.mark.fault, pytest.mark.slow]

RECORDS = 400


def test_a_corrupt_batch_in_the_leaders_copy_is_served_from_a_healthy_replica_and_repaired(
        cluster):
    cluster.create_topic("events", 1, config={"segment.bytes": 2048})
    expected = [f"record-{i:04d}".encode() * 4 for i in range(RECORDS)]
    with cluster.producer() as producer:
        for i, value in enumerate(expected):
            producer.send("events", value)
            if i % 10 == 9:
                producer.flush(120)  # small batches: several sealed segments
    wait_for(lambda: sorted(partition_state(cluster, "events")[2]) == [1, 2, 3]
             and {replica_view(cluster, n, "events")["log_end_offset"] for n in (1, 2, 3)}
             == {RECORDS}, timeout=60, what="every replica to hold every record")
    victim = leader_of(cluster, "events")
    directory = cluster.cluster.broker_directory(victim)
    segments = sorted(name for name in os.listdir(os.path.join(directory, "events-0"))
                      if name.endswith(".log"))
    assert len(segments) >= 3, segments
    rotten = os.path.join(directory, "events-0", segments[len(segments) // 2])
    flip_byte(rotten, os.path.getsize(rotten) // 2)

    # Straight at the damaged copy, a batch at a time from the rotten segment's start:
    # intact batches come back intact, the corrupt one never does.
    conn = BrokerConnection(cluster.cluster.addresses[victim], cluster.secret, request_timeout=30)
    try:
        offset = int(segments[len(segments) // 2][:-len(".log")])
        with pytest.raises(NotLeaderOrFollowerError) as refused:
            while True:
                _, frames = conn.request("fetch", {"topic": "events", "partition": 0,
                                                   "offset": offset, "max_bytes": 1})
                records = [r for r in iter_records(frames[0]) if r.offset >= offset]
                assert records and [r.value for r in records] == \
                    expected[offset:offset + len(records)]
                offset = records[-1].offset + 1
    finally:
        conn.close()
    message = str(refused.value)
    for part in ("'events'", "partition 0", f"offset {offset}", rotten, "healthy"):
        assert part in message, message

    assert wait_for_new_leader(cluster, "events", victim) != victim
    contents = read_topic(cluster, "events")
    assert [(o, v) for o, _, v in contents[0]] == list(enumerate(expected)), \
        "a consumer reads every record, intact, from the new leader"

    # The damaged broker fetched the batches again and is back in sync.
    wait_for(lambda: sorted(partition_state(cluster, "events")[2]) == [1, 2, 3]
             and replica_view(cluster, victim, "events")["log_end_offset"] == RECORDS,
             timeout=60, what=f"broker {victim} to repair its copy and rejoin the ISR")
    cluster.cluster.kill(victim)
    assert stored_values(directory, "events") == list(enumerate(expected)), \
        "the repaired copy holds every record, each batch's CRC intact"
