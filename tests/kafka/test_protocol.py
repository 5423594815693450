"""The Kafka listener at the protocol level, with hand-made requests: every
API version ApiVersions lists is served; an unserved ApiVersions version is
answered as KIP-511 prescribes; malformed requests close only their own
connection, with one log line; the codec agrees with kafka-python's."""

from __future__ import annotations

import logging
import socket
import struct

import pytest

from ember.engine.wire.transport import new_secret
from ember.ingest.kafka import codec
from ember.ingest.kafka.apis import ADVERTISED, API_NAMES, SERVED
from ember.ingest.server.broker import Broker


@pytest.fixture
def broker(tmp_path):
    """A broker in this process (so its log lines reach caplog)."""
    running = Broker(str(tmp_path / "log"), new_secret(), kafka_listener="127.0.0.1:0",
                     kafka_max_request_bytes=1 << 20)
    running.start()
    running.logs.create_topic("t", 2)
    yield running
    running.stop()


def connect(broker) -> socket.socket:
    host, port = broker.kafka_address.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=10)


def frame(api_key: int, version: int, body: bytes, correlation_id: int = 1) -> bytes:
    name = API_NAMES.get(api_key, "ApiVersions")
    flexible = api_key in API_NAMES and codec.is_flexible(name + "Request", version)
    payload = struct.pack(">hhih", api_key, version, correlation_id, 4) + b"test" + \
        (b"\x00" if flexible else b"") + body
    return struct.pack(">i", len(payload)) + payload


def read_response(sock) -> bytes | None:
    """One response frame, or None when the broker closed the connection."""
    header = b""
    while len(header) < 4:
        chunk = sock.recv(4 - len(header))
        if not chunk:
            return None
        header += chunk
    size = struct.unpack(">i", header)[0]
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def call(sock, api_key: int, version: int, body: dict, correlation_id: int = 1) -> dict:
    name = API_NAMES[api_key]
    sock.sendall(frame(api_key, version, codec.encode_bytes(name + "Request", version, body),
                       correlation_id))
    data = read_response(sock)
    assert data is not None, f"{name} v{version}: the broker closed the connection"
    assert struct.unpack(">i", data[:4])[0] == correlation_id
    flexible = api_key != 18 and codec.is_flexible(name + "Response", version)
    return codec.decode(name + "Response", version, data, 5 if flexible else 4)


def test_api_versions_lists_what_is_served_and_every_listed_version_answers(broker):
    with connect(broker) as sock:
        listed = call(sock, 18, 3, {"ClientSoftwareName": "t", "ClientSoftwareVersion": "1"})
        assert listed["ErrorCode"] == 0
        assert {k["ApiKey"]: (k["MinVersion"], k["MaxVersion"]) for k in listed["ApiKeys"]} == \
            ADVERTISED
        for api_key, (low, high) in sorted(SERVED.items()):
            if api_key in (17, 36):  # SASL on a PLAINTEXT listener: answered, then closed
                continue
            for version in range(low, high + 1):
                body = {"GroupId": "g", "MemberId": "m", "Acks": 1, "MaxWaitMs": 0,
                        "Topics": None if api_key == 3 and version else [], "TopicNames": [],
                        "CoordinatorKeys": ["g"], "Groups": [], "Resources": [],
                        "TransactionalId": None, "Protocols": [],
                        "ProtocolType": "consumer", "Key": "g"}
                call(sock, api_key, version, body, correlation_id=api_key * 100 + version)


def test_an_unserved_api_versions_version_is_answered_with_unsupported_version(broker):
    with connect(broker) as sock:
        sock.sendall(frame(18, 99, b"anything"))
        data = read_response(sock)
        answer = codec.decode("ApiVersionsResponse", 0, data, 4)
        assert answer["ErrorCode"] == 35
        assert {k["ApiKey"] for k in answer["ApiKeys"]} == set(SERVED)
        # and the connection stays usable
        assert call(sock, 18, 0, {})["ErrorCode"] == 0


@pytest.mark.parametrize("name, raw, problem", [
    ("unknown API key", frame(1000, 0, b""), "unknown API key 1000"),
    ("unserved version", frame(1, 13, b"\x00" * 40), "Fetch version 13 is not served"),
    ("negative size", struct.pack(">i", -5) + b"x" * 10, "a request size of -5"),
    ("size past the limit", struct.pack(">i", (1 << 20) + 1), "a request size of 1048577"),
    ("size of 2 GiB", struct.pack(">i", 0x7FFFFFFF), "a request size of 2147483647"),
    ("truncated body", frame(3, 1, b"\x00\x00\x00\x01\x00"), "cut short"),
    ("count past the body", frame(3, 1, b"\x00\x00\x00\x05\x00"), "but 1 bytes remain"),
    ("array length 2**31-1", frame(3, 1, struct.pack(">i", 0x7FFFFFFF) + b"\x00" * 8),
     "length 2147483647"),
    ("compact array length 2**32", frame(3, 9, b"\xff\xff\xff\xff\x0f" + b"\x00" * 8),
     "length 4294967294"),
    ("invalid UTF-8 topic", frame(3, 1, struct.pack(">ih", 1, 2) + b"\xff\xfe"), "invalid UTF-8"),
])
def test_a_malformed_request_closes_only_its_connection_with_one_log_line(
        broker, caplog, name, raw, problem):
    with connect(broker) as good, connect(broker) as bad:
        assert call(good, 18, 0, {})["ErrorCode"] == 0
        with caplog.at_level(logging.WARNING, logger="ember.ingest.kafka.server"):
            bad.sendall(raw)
            assert read_response(bad) is None  # closed, nothing answered
        lines = [r.getMessage() for r in caplog.records if r.name == "ember.ingest.kafka.server"]
        assert len(lines) == 1 and problem in lines[0], lines
        # the other connection, and new ones, are served as before
        assert call(good, 3, 1, {"Topics": [{"Name": "t"}]})["Topics"][0]["ErrorCode"] == 0
        with connect(broker) as fresh:
            assert call(fresh, 18, 0, {})["ErrorCode"] == 0


def test_requests_before_sasl_authentication_are_refused(tmp_path, caplog):
    running = Broker(str(tmp_path / "log"), new_secret(),
                     kafka_listener="SASL_PLAINTEXT://127.0.0.1:0")
    running.start()
    try:
        with connect(running) as sock:
            assert call(sock, 18, 0, {})["ErrorCode"] == 0  # allowed before authenticating
            with caplog.at_level(logging.WARNING, logger="ember.ingest.kafka.server"):
                sock.sendall(frame(3, 1, struct.pack(">i", -1)))
                assert read_response(sock) is None
            assert "Metadata before SASL authentication" in caplog.text
    finally:
        running.stop()


# --- the codec against an independent implementation ------------------------------------

@pytest.mark.parametrize("version", [0, 4, 9, 12])
def test_the_codec_reads_metadata_requests_as_kafka_python_writes_them(version):
    from kafka.protocol.metadata import MetadataRequest
    request = MetadataRequest(version=version, topics=[MetadataRequest.MetadataRequestTopic(
        name="clicks", topic_id=None)] if version >= 10 else ["clicks"],
        allow_auto_topic_creation=False)
    decoded = codec.decode("MetadataRequest", version, bytes(request.encode(version=version)))
    assert [t["Name"] for t in decoded["Topics"]] == ["clicks"]


@pytest.mark.parametrize("version", [3, 7, 9, 12])
def test_produce_requests_and_responses_agree_with_kafka_python(version):
    from kafka.protocol.producer.produce import ProduceRequest, ProduceResponse
    request = ProduceRequest(version=version, transactional_id=None, acks=-1, timeout_ms=1500,
                             topic_data=[ProduceRequest.TopicProduceData(name="t", partition_data=[
                                 ProduceRequest.TopicProduceData.PartitionProduceData(
                                     index=1, records=b"batch-bytes")])])
    decoded = codec.decode("ProduceRequest", version, bytes(request.encode(version=version)))
    assert decoded["Acks"] == -1 and decoded["TimeoutMs"] == 1500
    assert bytes(decoded["TopicData"][0]["PartitionData"][0]["Records"]) == b"batch-bytes"
    response = codec.encode_bytes("ProduceResponse", version, {"Responses": [
        {"Name": "t", "PartitionResponses": [{"Index": 1, "ErrorCode": 0, "BaseOffset": 42,
                                             "LogStartOffset": 3}]}]})
    parsed = ProduceResponse.decode(response, version=version)
    partition = parsed.responses[0].partition_responses[0]
    assert (partition.index, partition.error_code, partition.base_offset) == (1, 0, 42)
    if version >= 5:
        assert partition.log_start_offset == 3


@pytest.mark.parametrize("version", [4, 7, 11, 12])
def test_fetch_responses_agree_with_kafka_python(version):
    from kafka.protocol.consumer import FetchResponse
    data = codec.encode_bytes("FetchResponse", version, {"Responses": [
        {"Topic": "t", "Partitions": [{"PartitionIndex": 0, "HighWatermark": 9,
                                       "LastStableOffset": 9, "LogStartOffset": 0,
                                       "AbortedTransactions": None, "Records": b"xyz"}]}]})
    parsed = FetchResponse.decode(data, version=version)
    partition = parsed.responses[0].partitions[0]
    assert (partition.high_watermark, bytes(partition.records)) == (9, b"xyz")
