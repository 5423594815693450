"""Where ember listens and where its secrets go (RELIABILITY.md S10, S11):
every socket of every ember process (driver, workers, broker) is on
loopback; a secret file others can read is refused with a named error; the
secret never shows in DEBUG logs, in a child's error output, or in the
errors of a failed authentication."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys

import psutil
import pytest
import zmq

import ember
from ember.engine.errors import AuthenticationError, SecretFileError
from ember.engine.wire.spawn import child_environment
from ember.engine.wire.transport import derive_keys
from ember.ingest import connect
from ember.ingest.secret_file import write_secret_file
from ember.ingest.client.store import LogStore
from ember.ingest.structs import TopicPartition
from security_helpers import authenticated_client

pytestmark = pytest.mark.security

WILDCARDS = {"0.0.0.0", "::", ""}


@pytest.fixture
def cluster_and_store(tmp_path):
    """A local[2] Context and a broker with a producer connected to it."""
    context = ember.Context("local[2]", appName="ember-security-audit")
    store = LogStore.start(tmp_path / "log")
    try:
        yield context, store
    finally:
        store.stop()
        context.stop()


def inet_sockets(pid):
    return psutil.Process(pid).net_connections(kind="inet")


def test_no_socket_of_any_ember_process_is_on_a_wildcard_address(cluster_and_store):
    sc, store = cluster_and_store
    store.create_topic("t")
    producer = store.producer()  # a client connection of the driver process too
    try:
        producer.send("t", value=b"x").get(timeout=10)
        assert sc.parallelize(range(10), 2).map(lambda x: (x, 1)).groupByKey().count() == 10
        processes = {"driver": os.getpid(), "broker": store.pid, **sc._cluster.pids()}
        for name, pid in processes.items():
            sockets = inet_sockets(pid)
            listening = [s for s in sockets if s.status == psutil.CONN_LISTEN]
            assert listening, f"the {name} process listens nowhere"
            for sock in listening:
                assert sock.laddr.ip == "127.0.0.1", f"the {name} process listens on {sock.laddr}"
            for sock in sockets:
                assert sock.laddr.ip not in WILDCARDS, f"the {name} process has a socket on {sock.laddr}"
                assert not sock.raddr or sock.raddr.ip == "127.0.0.1", \
                    f"the {name} process talks to {sock.raddr}"
    finally:
        producer.close()


def serve_from_shell(log_dir, secret_file):
    return subprocess.Popen([sys.executable, "-m", "ember.ingest.server.broker", "--dir", str(log_dir),
                             "--secret-file", str(secret_file)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=child_environment())


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644], ids=lambda mode: f"{mode:04o}")
def test_a_secret_file_readable_by_group_or_others_is_refused_by_name(tmp_path, mode):
    secret = os.urandom(32)
    path = tmp_path / "broker.secret"
    write_secret_file(path, secret)
    os.chmod(path, mode)
    broker = serve_from_shell(tmp_path / "log", path)
    try:
        out, err = broker.communicate(timeout=30)
    finally:
        if broker.poll() is None:
            broker.kill()
            broker.communicate()
    assert broker.returncode == 1
    assert "SecretFileError" in err and str(path) in err and f"mode {mode:04o}" in err, err
    assert "chmod 600" in err
    assert secret.hex() not in out + err
    with pytest.raises(SecretFileError, match=f"mode {mode:04o}") as info:
        connect("127.0.0.1:1", secret_file=path, timeout=1)
    assert secret.hex() not in str(info.value)


def test_a_broker_started_from_the_shell_creates_its_secret_file_owner_only(tmp_path):
    path = tmp_path / "keys" / "broker.secret"
    broker = serve_from_shell(tmp_path / "log", path)
    try:
        line = broker.stdout.readline()
        address = re.search(r"at (tcp://127\.0\.0\.1:\d+)", line)
        assert address, line + broker.stderr.read()
        assert os.stat(path).st_mode & 0o777 == 0o600
        with connect(address.group(1), secret_file=path) as store:
            store.create_topic("t")
            assert store.topics() == ["t"]
        secret = path.read_text().strip()
        assert secret not in line
    finally:
        broker.terminate()
        out, err = broker.communicate(timeout=30)
    assert broker.returncode == 0, err
    assert secret not in out + err


def forbidden_texts(secret: bytes) -> list[str]:
    """Every form in which a secret could leak: hex (both cases), the bytes'
    repr, and the Z85 secret keys derived from it."""
    keys = derive_keys(secret)
    return [secret.hex(), secret.hex().upper(), repr(secret)[2:-1],
            keys.client_secret.decode(), keys.server_secret.decode()]


def test_secrets_never_appear_in_debug_logs_child_output_or_authentication_errors(
        tmp_path, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    wrong = os.urandom(32)
    messages, secrets = [], [wrong]
    sc = ember.Context("local[2]", appName="ember-security-logs")
    store = None
    try:
        store = LogStore.start(tmp_path / "log")
        secrets += [sc._cluster._secret, store.secret]
        store.create_topic("t")
        producer = store.producer()
        producer.send("t", value=b"logged run").get(timeout=10)
        producer.close()
        consumer = store.consumer(enable_auto_commit=False)
        consumer.assign([TopicPartition("t", 0)])
        consumer.seek_to_beginning()
        assert consumer.poll(timeout_ms=5000)
        consumer.close()
        assert sc.parallelize(range(100), 4).map(lambda x: (x % 5, x)).reduceByKey(
            lambda a, b: a + b).collectAsMap()[0] == sum(range(0, 100, 5))
        try:
            sc.parallelize([1], 1).map(lambda x: 1 / 0).collect()
        except ZeroDivisionError as error:
            messages.append(str(error))
        # Failed authentications, against the broker and the driver.
        with pytest.raises(AuthenticationError) as info:
            connect(store.address, secret=wrong, timeout=10)
        messages += [str(info.value), repr(info.value)]
        zctx = zmq.Context()
        try:
            with pytest.raises(AuthenticationError) as info:
                authenticated_client(zctx, derive_keys(wrong), sc._backend.address)
            messages += [str(info.value), repr(info.value)]
            impostor = derive_keys(wrong)
            with pytest.raises(AuthenticationError) as info:  # the server key leaked, not the secret
                authenticated_client(zctx, type(impostor)(derive_keys(sc._cluster._secret).server_public,
                                                          b"", impostor.client_public, impostor.client_secret),
                                     sc._backend.address)
            messages += [str(info.value), repr(info.value)]
        finally:
            zctx.destroy(linger=0)
        worker_output = run_wrong_secret_worker(sc, wrong, tmp_path)
        messages.append(worker_output)
        messages += [repr(sc), repr(store), repr(derive_keys(wrong)), str(sc.getConf().getAll())]
    finally:
        if store is not None:
            store.stop()
        sc.stop()
    out, err = capfd.readouterr()
    assert "rejected a connection that did not present the cluster's key" in caplog.text
    assert "authentication failed: cluster secret mismatch" in worker_output
    assert any(record.levelno == logging.DEBUG for record in caplog.records)
    everything = "\n".join([caplog.text, out, err, *messages])
    for secret in secrets:
        for text in forbidden_texts(secret):
            assert text not in everything, "a secret appeared in a log or an error message"


def run_wrong_secret_worker(sc, secret, tmp_path) -> str:
    """A worker pointed at the driver with ``secret``: its error output."""
    bootstrap = {"worker_id": "intruder", "driver": sc._backend.address, "secret": secret.hex(),
                 "work_dir": str(tmp_path / "intruder"), "cores": 1, "connect_timeout": 20}
    worker = subprocess.Popen([sys.executable, "-m", "ember.worker"], stdin=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=child_environment())
    try:
        worker.stdin.write(json.dumps(bootstrap) + "\n")
        worker.stdin.flush()
        worker.wait(timeout=30)
        return worker.stderr.read()
    finally:
        if worker.poll() is None:
            worker.kill()
        worker.wait()
        worker.stdin.close()
        worker.stderr.close()
