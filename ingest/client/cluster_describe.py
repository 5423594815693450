"""The per-partition view of a replicated store that operators read:
leader, replicas, in-sync set, leader epoch, and how far each follower is
behind its leader (``LogStore.describe_topics``, ``LogStore.describe``,
``ember logstore topics --describe``, the status page).

Two sources, put side by side: the cluster metadata any broker answers
(leaders, leader epochs, replicas, ISR, as the controller committed them)
and each leader's own view of the partitions it leads (``describe_replicas``:
its log end offset, high watermark, and for each follower the offsets it is
behind the leader's log end, as of that follower's last fetch). The leader
is the only broker that knows a follower's lag, as in Kafka (a follower's
fetch offset is known where it fetches).

Columns are added to each topic of the metadata reply, one entry per
partition, as the metadata's own ``leaders``/``isr`` lists are:
``replication_factor``, ``log_end_offsets``, ``high_watermarks``,
``follower_lag`` (``{broker id: offsets behind, or None while the leader
has not seen it fetch in this epoch}``). A partition whose leader did not
answer (it is failing over, or the broker is gone) gets None in the last
three: the view shows what it could learn, never a guess.

What it must not know: how brokers keep this state (it reads their replies).

Thread-safety: stateless functions over a thread-safe ClusterClient.
"""

from __future__ import annotations

import time

from ember.ingest.client.cluster_client import ClusterClient


def leaders_views(client: ClusterClient, brokers: dict, leaders: set[int],
                  timeout: float) -> dict[int, dict]:
    """``describe_replicas`` of every broker in ``leaders`` that answers
    within ``timeout``: ``{broker id: {"topic-p": view}}``."""
    calls = {}
    for leader in sorted(leaders):
        address = brokers.get(str(leader))
        if address is None:
            continue
        try:
            conn = client.connection(address)
            calls[leader] = (conn, conn.call("describe_replicas", {}))
        except Exception:  # noqa: BLE001 - an unreachable broker is shown as unknown
            continue
    deadline = time.monotonic() + timeout
    views = {}
    for leader, (conn, call) in calls.items():
        try:
            reply, _ = conn.wait(call, max(0.0, deadline - time.monotonic()))
        except Exception:  # noqa: BLE001 - a lost or silent leader is shown as unknown
            continue
        views[leader] = reply.get("partitions", {})
    return views


def add_partition_states(client: ClusterClient, reply: dict, timeout: float = 5.0) -> dict:
    """Add each leader's view to the topics of a cluster's ``metadata``
    ``reply`` (in place; returned). A single broker's reply is returned as
    it is: it has no replicas."""
    topics = reply.get("topics", {})
    brokers = reply.get("brokers")
    if not isinstance(brokers, dict):
        return reply
    wanted = {leader for info in topics.values() for leader in info.get("leaders", ())
              if leader >= 0}
    views = leaders_views(client, brokers, wanted, timeout)
    for name, info in topics.items():
        info["replication_factor"] = max((len(r) for r in info.get("replicas", ())), default=0)
        ends, marks, lags = [], [], []
        for index, leader in enumerate(info.get("leaders", ())):
            view = views.get(leader, {}).get(f"{name}-{index}")
            if not view or view.get("role") != "leader":
                ends.append(None)
                marks.append(None)
                lags.append(None)
                continue
            ends.append(view["log_end_offset"])
            marks.append(view["high_watermark"])
            known = {int(b): lag for b, lag in (view.get("follower_lag") or {}).items()}
            lags.append({b: known.get(b) for b in info["replicas"][index] if b != leader})
        info["log_end_offsets"], info["high_watermarks"], info["follower_lag"] = \
            ends, marks, lags
    return reply


def describe_lines(topics: dict) -> list[str]:
    """The text of ``ember logstore topics --describe``: one line per topic
    (Kafka's kafka-topics columns), then, for a replicated store, one per
    partition: Topic, Partition, Leader, Replicas, Isr, LeaderEpoch and each
    follower's lag (broker=offsets behind the leader's log end; ``?`` when
    unknown)."""
    lines = []
    for topic in sorted(topics):
        info = topics[topic]
        config = " ".join(f"{k}={v}" for k, v in sorted((info.get("config") or {}).items()))
        head = f"Topic: {topic}\tPartitions: {info['partitions']}"
        if "replication_factor" in info:
            head += f"\tReplicationFactor: {info['replication_factor']}"
        lines.append(head + (f"\tConfigs: {config}" if config else ""))
        if "leaders" not in info:
            continue
        for index, leader in enumerate(info["leaders"]):
            lag = (info.get("follower_lag") or [None] * (index + 1))[index]
            shown = "?" if lag is None else ",".join(
                f"{b}={'?' if v is None else v}" for b, v in sorted(lag.items())) or "-"
            lines.append(
                f"\tTopic: {topic}\tPartition: {index}\t"
                f"Leader: {leader if leader >= 0 else 'none'}\t"
                f"Replicas: {','.join(map(str, info['replicas'][index]))}\t"
                f"Isr: {','.join(map(str, info['isr'][index]))}\t"
                f"LeaderEpoch: {info['leader_epochs'][index]}\tLag: {shown}")
    return lines
