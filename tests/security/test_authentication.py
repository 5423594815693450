"""No byte from a peer is unpickled before that peer has authenticated with
the cluster's secret (RELIABILITY.md S01-S04, S10, S11).

Each attack sends a canary: a pickle whose unpickling would create a marker
directory. Pass means: the marker never appears, every attacked process is
still alive, and a legitimate job afterwards succeeds.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import time

import psutil
import pytest
import zmq

from ember.engine.wire.transport import derive_keys
from security_helpers import Canary, assert_curve_refused_without_the_secret, cluster_ports, offer, send_raw
from security_helpers import assert_cluster_unharmed as assert_unharmed

pytestmark = pytest.mark.security


def listeners(pid):
    return [c for c in psutil.Process(pid).net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]


def test_every_socket_listens_on_loopback_only(sc):
    ports = cluster_ports(sc)
    assert len(ports) == 3  # the driver, and each worker's shuffle service
    for pid in [os.getpid(), *sc._cluster.pids().values()]:
        for conn in listeners(pid):
            assert conn.laddr.ip == "127.0.0.1", f"pid {pid} listens on {conn.laddr}"


def test_secret_is_never_in_argv_or_environment(sc):
    secret = sc._cluster._secret.hex()
    for pid in sc._cluster.pids().values():
        process = psutil.Process(pid)
        assert secret not in " ".join(process.cmdline())
        assert all(secret not in value for value in process.environ().values())
    assert secret not in repr(sc) and secret not in repr(derive_keys(sc._cluster._secret))


def test_raw_tcp_canary_to_every_port_is_dropped(sc, tmp_path):
    marker = tmp_path / "raw-tcp"
    payload = pickle.dumps(Canary(marker))
    for port in cluster_ports(sc).values():
        send_raw(port, payload)
    assert_unharmed(sc, marker)


def test_zmtp_client_with_null_mechanism_delivers_nothing(sc, tmp_path):
    marker = tmp_path / "null-mechanism"
    payload = pickle.dumps(Canary(marker))
    context = zmq.Context()
    try:
        for port in cluster_ports(sc).values():
            client = context.socket(zmq.DEALER)
            client.setsockopt(zmq.LINGER, 0)
            client.connect(f"tcp://127.0.0.1:{port}")
            offer(client, [payload, payload], [payload])
        time.sleep(0.3)
    finally:
        context.destroy(linger=0)
    assert_unharmed(sc, marker)


def test_curve_client_knowing_the_server_key_but_not_the_secret_is_rejected(sc, tmp_path):
    marker = tmp_path / "curve-no-secret"
    payload = pickle.dumps(Canary(marker))
    server_public = derive_keys(sc._cluster._secret).server_public
    context = zmq.Context()
    try:
        for port in cluster_ports(sc).values():
            assert_curve_refused_without_the_secret(context, f"tcp://127.0.0.1:{port}",
                                                    server_public, payload)
    finally:
        context.destroy(linger=0)
    assert_unharmed(sc, marker)


def test_worker_with_the_wrong_secret_exits_at_once_with_a_named_error(sc, tmp_path):
    bootstrap = {"worker_id": "intruder", "driver": sc._backend.address, "secret": os.urandom(32).hex(),
                 "work_dir": str(tmp_path / "intruder"), "cores": 1, "connect_timeout": 3600}
    worker = subprocess.Popen([sys.executable, "-m", "ember.worker"], stdin=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        worker.stdin.write(json.dumps(bootstrap) + "\n")
        worker.stdin.flush()  # and keep the pipe open: it is the worker's lifeline
        # It must give up at the first refused handshake, not retry until its
        # (hour-long) connect timeout: wait() would time out and fail the test.
        returncode = worker.wait(timeout=60)
        stderr = worker.stderr.read()
    finally:
        worker.kill()
        worker.wait()
        worker.stdin.close()
        worker.stderr.close()
    assert returncode == 3, stderr
    assert "authentication failed: cluster secret mismatch" in stderr
    assert "intruder" not in sc._backend.registered()
    assert_unharmed(sc)
