"""Helpers of the replication tests: where a partition's leader is, waiting
for the cluster to reach a state, and reading what each replica holds."""

from __future__ import annotations

import os

from ember.ingest.log.log_config import LogConfig
from ember.ingest.log.partition_log import PartitionLog
from ember.ingest.log.record_batch import iter_records
from tests.waiting import wait_for  # also imported from here by the replication suites


def partition_state(store, topic, partition=0):
    """(leader, leader epoch, ISR) as the metadata says now."""
    info = store.topic_metadata([topic])[topic]
    return info["leaders"][partition], info["leader_epochs"][partition], info["isr"][partition]


def leader_of(store, topic, partition=0):
    return partition_state(store, topic, partition)[0]


def wait_for_new_leader(store, topic, old, partition=0, timeout=30.0):
    """The id of a leader other than ``old``, once the metadata names one."""
    def new():
        try:
            leader = leader_of(store, topic, partition)
        except Exception:  # noqa: BLE001 - brokers may be failing over
            return None
        return leader if leader >= 0 and leader != old else None
    return wait_for(new, timeout, what=f"a new leader of {topic}-{partition}")


def replica_view(store, node, topic, partition=0):
    """What broker ``node`` reports for its replica of the partition."""
    described = store.describe_cluster().get(node, {})
    return described.get("partitions", {}).get(f"{topic}-{partition}")


def stored_values(directory, topic, partition=0):
    """Every record value in a stopped broker's replica, in offset order, as
    ``[(offset, value)]``."""
    path = os.path.join(directory, f"{topic}-{partition}")
    plog = PartitionLog(path, topic, partition, LogConfig(), clean_shutdown=True)
    try:
        out, offset = [], plog.log_start_offset
        while offset < plog.log_end_offset:
            data = plog.read(offset, 1 << 20, committed_only=False)
            records = [r for r in iter_records(data) if r.offset >= offset]
            out += [(r.offset, r.value) for r in records]
            offset = records[-1].offset + 1
        return out
    finally:
        plog.close()
