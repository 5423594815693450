"""The client host of the replication suite: run in its own network
namespace (``python tests/multihost/replication_client.py``, from the
repository root), it holds the store handle, the workload (producer and
consumers, ``tests/replication/workload.py``) and any direct request to one
broker, and answers the test's commands: one JSON object a line on stdin,
one JSON reply a line on stdout (``{"ok": value}`` or ``{"error": text}``).

Commands: ``connect`` (brokers, secret file, addresses by node), ``create``
(a topic at RF 3), ``start`` (the workload, with a seed and producer
settings), ``acked``, ``wait_acked``, ``refusals`` (the refused writes'
errors), ``state`` (leader, leader epoch, ISR of a partition, as the
metadata says), ``replica`` (what one broker reports for its replica),
``send_to`` / ``outcome`` (an acks=all write sent straight to one broker, on
a thread, and its reply once it came), ``finish`` (stop the workload and
check its history against the final log)."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import traceback

sys.path.insert(0, os.getcwd())

import ember.ingest  # noqa: E402
from ember.ingest.client.client import BrokerConnection  # noqa: E402
from ember.ingest.log.record_batch import SimpleRecord, encode_batch  # noqa: E402

from tests.replication.workload import Workload  # noqa: E402


class ClientHost:
    def __init__(self):
        self.store = None
        self.workload = None
        self.addresses: dict[int, str] = {}
        self.outcomes: dict[str, object] = {}
        self._lock = threading.Lock()

    def connect(self, brokers, secret_file, addresses):
        self.addresses = {int(node): address for node, address in addresses.items()}
        self.store = ember.ingest.connect(",".join(brokers), secret_file=secret_file, timeout=60)
        return True

    def brokers(self):
        return sorted(int(n) for n in self.store._admin.metadata([]).get("brokers", {}))

    def create(self, topic, partitions):
        self.store.create_topic(topic, partitions, replication_factor=3)
        return True

    def start(self, topic, partitions, seed, producer_configs=None):
        self.workload = Workload(self.store, topic, partitions, seed,
                                 **(producer_configs or {})).start()
        return True

    def acked(self):
        return self.workload.acked_count()

    def refusals(self):
        """The errors of the writes that were refused, in no order."""
        return sorted(set(self.workload.failed.values()))

    def wait_acked(self, more, within):
        self.workload.wait_acked(more, within)
        return self.workload.acked_count()

    def state(self, topic, partition):
        self.store._admin.invalidate(topic)
        info = self.store.topic_metadata([topic])[topic]
        return [info["leaders"][partition], info["leader_epochs"][partition],
                sorted(info["isr"][partition])]

    def replica(self, node, topic, partition):
        conn = BrokerConnection(self.addresses[node], self.store.secret, connect_timeout=5,
                                request_timeout=5)
        try:
            reply, _ = conn.request("describe_replicas")
        finally:
            conn.close()
        return reply.get("partitions", {}).get(f"{topic}-{partition}")

    def send_to(self, node, topic, partition, value, request_timeout):
        """An acks=all write of ``value`` to broker ``node`` alone, answered
        on a thread (``outcome(value)``)."""
        def send():
            try:
                conn = BrokerConnection(self.addresses[node], self.store.secret,
                                        connect_timeout=10, request_timeout=request_timeout)
                try:
                    batch = encode_batch([SimpleRecord(None, value.encode())])
                    reply, _ = conn.request("produce",
                                            {"acks": -1, "partitions": [[topic, partition]]},
                                            [batch])
                    outcome = reply["results"][0]
                finally:
                    conn.close()
            except Exception as error:  # noqa: BLE001 - the outcome is what is reported
                outcome = {"error": f"{type(error).__name__}: {error}"}
            with self._lock:
                self.outcomes[value] = outcome
        threading.Thread(target=send, daemon=True).start()
        return True

    def outcome(self, value):
        with self._lock:
            return self.outcomes.get(value)

    def finish(self):
        self.workload.stop()
        return self.workload.check()

    def close(self):
        if self.store is not None:
            self.store.close()
        return True


def main() -> None:
    replies, sys.stdout = sys.stdout, sys.stderr  # prints of the workload go to the log
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    host = ClientHost()
    for line in sys.stdin:
        command = json.loads(line)
        op = command.pop("op")
        try:
            reply = {"ok": getattr(host, op)(**command)}
        except BaseException as error:  # noqa: BLE001 - every failure goes back to the test
            reply = {"error": f"{type(error).__name__}: {error}",
                     "traceback": traceback.format_exc()}
        print(json.dumps(reply), file=replies, flush=True)
        if op == "close":
            break


if __name__ == "__main__":
    main()
