"""Messages past the 1 MiB frame limit between the log store's clients and
its broker: a produce batch of many frames and the fetch reply carrying it
arrive whole; a request past socket.request.max.bytes is answered with a
MessageTooLargeError naming the limit, and the broker serves on; a reply past
it fails its call with the same error."""

from __future__ import annotations

import pytest
import zmq

from ember.engine.errors import MessageTooLargeError
from ember.engine.wire.transport import (
    DEFAULT_MAX_MESSAGE_SIZE, Authenticator, derive_keys, new_secret, send_message, server_socket,
)
from ember.ingest import protocol
from ember.ingest.client.client import BrokerConnection
from ember.ingest.structs import TopicPartition

MiB = 1 << 20


def test_a_batch_of_many_frames_is_produced_and_fetched_whole(store):
    store.create_topic("big", config={"max.message.bytes": 64 * MiB})
    producer = store.producer(max_request_size=64 * MiB, batch_size=32 * MiB, linger_ms=50)
    values = [bytes([i]) * (3 * DEFAULT_MAX_MESSAGE_SIZE + i) for i in range(6)]  # ~18 MiB
    futures = [producer.send("big", value=value) for value in values]
    producer.flush()
    offsets = [future.get(timeout=30).offset for future in futures]
    producer.close()
    assert offsets == list(range(6))
    consumer = store.consumer(enable_auto_commit=False, max_partition_fetch_bytes=32 * MiB)
    partition = TopicPartition("big", 0)
    consumer.assign([partition])
    consumer.seek(partition, 0)
    got = []
    while len(got) < len(values):
        records = consumer.poll(timeout_ms=10_000).get(partition)
        assert records, f"only {len(got)} of {len(values)} records came back"
        got += [record.value for record in records]
    consumer.close()
    assert got == values


def test_a_request_past_the_brokers_limit_is_answered_with_an_error_naming_it(store):
    conn = BrokerConnection(store.address, store.secret)
    try:
        batch = b"\0" * (protocol.MAX_MESSAGE_BYTES + 1)
        with pytest.raises(MessageTooLargeError, match=r"larger than the 104857600 bytes "
                                                       r"allowed \(socket.request.max.bytes\)"):
            conn.request("produce", {"acks": -1, "partitions": [["t", 0]]}, [batch], timeout=60)
        del batch
        assert conn.request("metadata", {"topics": None}, timeout=30)[0]["unknown"] == []
    finally:
        conn.close()


def test_a_reply_past_the_clients_limit_fails_its_call_with_the_error(zctx_server):
    """A broker (here a bare CURVE ROUTER holding the store's keys) whose reply
    is past socket.request.max.bytes: the call fails at once, named."""
    sock, address, secret = zctx_server
    conn = BrokerConnection(address, secret)
    try:
        call = conn.call("metadata", {"topics": None})
        assert sock.poll(10_000)
        identity, header = sock.recv_multipart()
        reply_id = protocol.decode(header)["id"]
        send_message(sock, [identity, protocol.reply(reply_id, {}),
                            b"\0" * (protocol.MAX_MESSAGE_BYTES + 1)])
        with pytest.raises(MessageTooLargeError, match="socket.request.max.bytes"):
            conn.wait(call, timeout=60)
    finally:
        conn.close()


@pytest.fixture
def zctx_server():
    zctx = zmq.Context()
    secret = new_secret()
    keys = derive_keys(secret)
    auth = Authenticator(zctx, keys)
    sock, address = server_socket(zctx, zmq.ROUTER, keys)
    yield sock, address, secret
    sock.close(linger=0)
    auth.stop()
    zctx.destroy(linger=0)
