"""The Kafka listener's security: SASL_SSL with SCRAM (and PLAIN) for each
client implementation, the right password works and a wrong one is
refused; a plaintext client on the TLS listener gets nothing; users are
managed with ``ember logstore users``; a listener bound to a non-loopback
address refuses to start without TLS and SASL."""

from __future__ import annotations

import socket
import struct
import subprocess
import sys

import pytest

from kafka_helpers import kcat, read_log
from tests.waiting import wait_for
from ember.engine.errors import BrokerUnavailableError
from ember.ingest.client.store import LogStore
from kafka_clients import CLIENTS, consume_from_beginning, kcat_options, produce, \
    security_options

pytestmark = [pytest.mark.security, pytest.mark.slow]


def users(*args: str, password: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ember", "logstore", "users", *args],
                          input=None if password is None else (password + "\n").encode(),
                          capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return str(cert), str(key)


@pytest.fixture(scope="module")
def secure_store(tmp_path_factory, tls_files):
    directory = tmp_path_factory.mktemp("secure-log")
    added = users("add", "alice", "--dir", str(directory), password="wonderland")
    assert added.returncode == 0, added.stderr
    cert, key = tls_files
    store = LogStore.start(directory, kafka_listener="SASL_SSL://127.0.0.1:0",
                           kafka_ssl_certfile=cert, kafka_ssl_keyfile=key)
    store.create_topic("secured", 1)
    yield store
    store.stop()


def security(tls_files, mechanism: str, password: str) -> dict:
    return {"protocol": "SASL_SSL", "mechanism": mechanism, "user": "alice",
            "password": password, "cafile": tls_files[0]}


def test_the_users_file_holds_salted_scram_credentials_only(secure_store):
    text = open(f"{secure_store.directory}/kafka-users.json").read()
    assert "wonderland" not in text and "SCRAM-SHA-512" in text and '"salt"' in text
    import os
    assert os.stat(f"{secure_store.directory}/kafka-users.json").st_mode & 0o777 == 0o600
    listed = users("list", "--dir", secure_store.directory)
    assert listed.stdout.split() == [b"alice"]


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
@pytest.mark.parametrize("client", CLIENTS)
def test_sasl_ssl_with_scram_and_the_right_password_works(secure_store, tls_files, client,
                                                          mechanism):
    settings = security(tls_files, mechanism, "wonderland")
    before = len(read_log(secure_store, "secured")[0])
    records = [(0, None, f"{client}-{mechanism}-{i}".encode()) for i in range(20)]
    produce(client, secure_store.kafka_address, "secured", records, security=settings)
    stored = [v for _, v, _ in read_log(secure_store, "secured")[0]]
    assert stored[before:] == [v for _, _, v in records]
    got = consume_from_beginning(client, secure_store.kafka_address, "secured", 1,
                                 before + 20, security=settings)
    assert [v for _, v in got[0]][before:] == [v for _, _, v in records]


def test_a_topic_stream_reads_over_sasl_ssl_with_librdkafkas_settings(sc, secure_store,
                                                                         tls_files):
    """createDirectStream passes TLS and SASL through kafkaParams; a wrong
    password is an AuthenticationError when the stream starts."""
    from ember.engine.errors import AuthenticationError
    from ember.streaming import StreamingContext
    from ember.streaming.kafka import KafkaUtils

    settings = security(tls_files, "SCRAM-SHA-256", "wonderland")
    produce("confluent-kafka", secure_store.kafka_address, "secured",
            [(0, None, b"streamed-%d" % i) for i in range(5)], security=settings)
    expected = [v.decode() for _, v, _ in read_log(secure_store, "secured")[0]]
    params = {"bootstrap.servers": secure_store.kafka_address, "auto.offset.reset": "smallest",
              **security_options("confluent-kafka", settings)}
    ssc = StreamingContext(sc, 0.2)
    got = []
    KafkaUtils.createDirectStream(ssc, ["secured"], params).foreachRDD(
        lambda rdd: got.extend(value for _, value in rdd.collect()))
    ssc.start()
    try:
        wait_for(lambda: len(got) >= len(expected) or ssc.awaitTerminationOrTimeout(0.05),
                 timeout=60, what="the stream to read the topic")
    finally:
        ssc.stop(stopSparkContext=False)
    assert got == expected
    ssc = StreamingContext(sc, 0.2)
    KafkaUtils.createDirectStream(ssc, ["secured"], {**params, "sasl.password": "wrong"}) \
        .foreachRDD(lambda rdd: None)
    try:
        with pytest.raises(AuthenticationError, match="refused the login.*alice"):
            ssc.start()
    finally:
        ssc.stop(stopSparkContext=False)


def refused(client: str, address: str, settings: dict) -> str:
    """Try to list topics with ``settings``; returns the client's error text."""
    if client == "kafka-python":
        from kafka import KafkaConsumer
        with pytest.raises(Exception) as caught:
            consumer = KafkaConsumer(bootstrap_servers=address, request_timeout_ms=5000,
                                     bootstrap_timeout_ms=3000,
                                     **security_options(client, settings))
            try:
                consumer.topics()
            finally:
                consumer.close()
        return f"{type(caught.value).__name__}: {caught.value}"
    if client == "confluent-kafka":
        from confluent_kafka.admin import AdminClient
        errors = []
        admin = AdminClient({"bootstrap.servers": address, "log_level": 0,
                             "error_cb": lambda error: errors.append(str(error)),
                             **security_options(client, settings)})
        with pytest.raises(Exception) as caught:
            admin.list_topics(timeout=3)
        admin.poll(1)  # serves error_cb, which names the authentication failure
        return f"{caught.value} {errors}"
    done = kcat("-b", address, "-L", "-m", "2", *kcat_options(security_options(client, settings)),
                check=False, timeout=60)
    assert done.returncode != 0
    return done.stderr.decode(errors="replace")


@pytest.mark.parametrize("client", CLIENTS)
def test_a_wrong_password_is_refused(secure_store, tls_files, client):
    message = refused(client, secure_store.kafka_address,
                      security(tls_files, "SCRAM-SHA-256", "looking-glass"))
    # kafka-python retries the bootstrap and reports only that it gave up; the
    # librdkafka-based clients name the authentication failure.
    expected = "Unable to bootstrap" if client == "kafka-python" else "uthenticat"
    assert expected in message, message


def kafka_request(sock, api_key: int, version: int, body: dict, correlation_id: int = 7):
    """Send one request (header v1/v2) and read its response body (header v0/v1)."""
    from ember.ingest.kafka import codec
    from ember.ingest.kafka.apis import API_NAMES
    name = API_NAMES[api_key]
    flexible = codec.is_flexible(name + "Request", version)
    header = struct.pack(">hhih", api_key, version, correlation_id, 4) + b"test"
    payload = header + (b"\x00" if flexible else b"") + codec.encode_bytes(
        name + "Request", version, body)
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    size = struct.unpack(">i", recv_exactly(sock, 4))[0]
    data = recv_exactly(sock, size)
    assert struct.unpack(">i", data[:4])[0] == correlation_id
    skip = 5 if flexible and api_key != 18 else 4
    return codec.decode(name + "Response", version, data, skip)


def recv_exactly(sock, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError(f"closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def test_a_wrong_scram_proof_is_answered_with_sasl_authentication_failed_then_closed(
        secure_store, tls_files):
    import base64
    import hashlib
    import hmac
    import ssl
    context = ssl.create_default_context(cafile=tls_files[0])
    context.check_hostname = False
    host, port = secure_store.kafka_address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as raw, \
            context.wrap_socket(raw) as sock:
        handshake = kafka_request(sock, 17, 1, {"Mechanism": "SCRAM-SHA-256"})
        assert handshake["ErrorCode"] == 0 and "SCRAM-SHA-512" in handshake["Mechanisms"]
        first = kafka_request(sock, 36, 2, {"AuthBytes": b"n,,n=alice,r=abcdefgh"})
        assert first["ErrorCode"] == 0
        attrs = dict(part.split("=", 1) for part in first["AuthBytes"].decode().split(","))
        salted = hashlib.pbkdf2_hmac("sha256", b"not-the-password",
                                     base64.b64decode(attrs["s"]), int(attrs["i"]))
        client_key = hmac.new(salted, b"Client Key", "sha256").digest()
        without_proof = f"c=biws,r={attrs['r']}"
        auth_message = f"n=alice,r=abcdefgh,{first['AuthBytes'].decode()},{without_proof}"
        signature = hmac.new(hashlib.sha256(client_key).digest(), auth_message.encode(),
                             "sha256").digest()
        proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature))).decode()
        final = kafka_request(sock, 36, 2, {"AuthBytes": f"{without_proof},p={proof}".encode()})
        assert final["ErrorCode"] == 58  # SASL_AUTHENTICATION_FAILED
        assert "alice" in final["ErrorMessage"]
        with pytest.raises((ConnectionError, OSError)):
            kafka_request(sock, 3, 1, {"Topics": None})


def test_plain_is_checked_against_the_scram_credentials(secure_store, tls_files):
    settings = security(tls_files, "PLAIN", "wonderland")
    produce("confluent-kafka", secure_store.kafka_address, "secured", [(0, None, b"plain")],
            security=settings)
    message = refused("confluent-kafka", secure_store.kafka_address,
                      security(tls_files, "PLAIN", "looking-glass"))
    assert "uthenticat" in message, message


def test_a_removed_user_can_no_longer_log_in(secure_store, tls_files):
    assert users("add", "bob", "--dir", secure_store.directory, password="builder").returncode == 0
    bob = dict(security(tls_files, "SCRAM-SHA-512", "builder"), user="bob")
    produce("kafka-python", secure_store.kafka_address, "secured", [(0, None, b"bob")], security=bob)
    assert users("remove", "bob", "--dir", secure_store.directory).returncode == 0
    assert "uthenticat" in refused("confluent-kafka", secure_store.kafka_address, bob)


def test_a_plaintext_client_on_the_tls_listener_gets_no_kafka_answer(secure_store):
    host, port = secure_store.kafka_address.rsplit(":", 1)
    request = struct.pack(">hhih", 18, 0, 1, -1)  # ApiVersions v0, no client id
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(struct.pack(">i", len(request)) + request)
        data = b""
        try:
            while chunk := sock.recv(4096):
                data += chunk
        except (ConnectionResetError, socket.timeout):
            pass
    # At most a TLS alert (record type 21), never a Kafka response.
    assert not data or data[0] == 21, data[:40]
    message = refused("kafka-python", secure_store.kafka_address,
                      {"protocol": "SASL_PLAINTEXT", "mechanism": "SCRAM-SHA-256",
                       "user": "alice", "password": "wonderland", "cafile": None})
    assert message


@pytest.mark.parametrize("listener, extra, problem", [
    ("0.0.0.0:0", {}, "must be SASL_SSL"),
    ("SASL_PLAINTEXT://0.0.0.0:0", {}, "must be SASL_SSL"),
    ("SASL_SSL://0.0.0.0:0", {}, "needs a certificate and a key file"),
    ("SSL://127.0.0.1:0", {}, "needs a certificate and a key file"),
    ("FTP://127.0.0.1:0", {}, "PROTOCOL one of"),
])
def test_a_listener_that_would_be_exposed_refuses_to_start(tmp_path, listener, extra, problem):
    with pytest.raises(BrokerUnavailableError, match=problem):
        LogStore.start(tmp_path / "log", kafka_listener=listener, **extra)
