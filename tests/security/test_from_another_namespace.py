"""An attacker on another host (RELIABILITY.md S15): a network namespace
joined to this one by a veth pair, attacking a driver and a broker bound to
this side's address of the link (a non-loopback address, as a cluster on
several hosts would be). The attacks of S01-S03 come from a process in that
namespace: raw TCP with a canary pickle, a NULL-mechanism client, and a
CURVE client that knows the server's public key but not the secret. The
workers' shuffle services stay on loopback, out of its reach."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import textwrap

import pytest

import ember
from ember.engine.wire.transport import derive_keys
from ember.ingest.client.store import LogStore
from security_helpers import Canary, assert_broker_unharmed, assert_cluster_unharmed, cluster_ports

pytestmark = [pytest.mark.security, pytest.mark.needs_root]

HERE, THERE = "10.213.9.1", "10.213.9.2"

ATTACKER = textwrap.dedent("""
    import json, socket, sys, zmq
    from zmq.utils.monitor import recv_monitor_message
    targets, payload = json.loads(sys.argv[1]), bytes.fromhex(sys.argv[2])
    report, zctx = {}, zmq.Context()

    def raw(host, port):
        try:
            conn = socket.create_connection((host, port), timeout=3)
        except ConnectionRefusedError:
            return "refused"
        except OSError as error:
            return f"unreachable: {error}"
        with conn:
            try:
                conn.sendall(payload)
                while conn.recv(65536):
                    pass
                return "closed by the server"
            except ConnectionResetError:
                return "closed by the server"
            except OSError:
                return "left open"

    def client(host, port, server_key):
        sock = zctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        if server_key:
            sock.curve_serverkey = server_key.encode()
            sock.curve_publickey, sock.curve_secretkey = zmq.curve_keypair()
        monitor = sock.get_monitor_socket()
        sock.connect(f"tcp://{host}:{port}")
        try:
            sock.send(payload, zmq.NOBLOCK)
        except zmq.Again:
            pass
        outcome = "no handshake outcome"
        while monitor.poll(5000):
            event = recv_monitor_message(monitor)["event"]
            if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                outcome = "accepted"
                break
            if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                outcome = "rejected by ZAP"
                break
            if event in (zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL, zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL):
                outcome = "handshake failed"
                break
        sock.disable_monitor()
        monitor.close(linger=0)
        sock.close(linger=0)
        return outcome

    for name, (host, port, server_key) in targets.items():
        report[name] = {"raw": raw(host, port)}
        if server_key:
            report[name]["null"] = client(host, port, None)
            report[name]["curve"] = client(host, port, server_key)
    zctx.destroy(linger=0)
    print(json.dumps(report))
""")


def run(*command):
    done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {done.stderr.strip()}")


@pytest.fixture(scope="module")
def namespace():
    """A namespace holding THERE, linked to this one, which gets HERE."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 to create a network namespace")
    name, link = f"ember{os.getpid()}-atk", f"emb{os.getpid()}a"
    try:
        run("ip", "netns", "add", name)
    except RuntimeError as error:
        pytest.skip(f"'ip netns add' does not work here: {error}")
    try:
        run("ip", "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", name)
        run("ip", "addr", "add", f"{HERE}/30", "dev", link)
        run("ip", "link", "set", link, "up")
        run("ip", "-n", name, "addr", "add", f"{THERE}/30", "dev", "eth0")
        run("ip", "-n", name, "link", "set", "eth0", "up")
        run("ip", "-n", name, "link", "set", "lo", "up")
        yield name
    finally:
        subprocess.run(["ip", "link", "del", link], capture_output=True)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


@pytest.fixture
def exposed(namespace, tmp_path):
    """A local[2] Context whose driver binds HERE, and a broker bound there too."""
    conf = ember.Conf().set("ember.driver.bindAddress", HERE)
    sc = ember.Context("local[2]", appName="ember-security-exposed", conf=conf)
    try:
        store = LogStore.start(tmp_path / "log", host=HERE)
        try:
            store.create_topic("t")
            yield sc, store
        finally:
            store.stop()
    finally:
        sc.stop()


def test_attacks_from_another_namespace_are_rejected_like_local_ones(namespace, exposed, tmp_path):
    sc, store = exposed
    marker = tmp_path / "canary-from-another-host"
    ports = cluster_ports(sc)
    targets = {"driver": (HERE, ports.pop("driver"), derive_keys(sc._cluster._secret).server_public.decode()),
               "broker": (HERE, store.port, derive_keys(store.secret).server_public.decode())}
    for name, port in ports.items():  # loopback only: not even a TCP connection
        targets[name] = (HERE, port, None)
    attacker = subprocess.run(
        ["ip", "netns", "exec", namespace, sys.executable, "-c", ATTACKER, json.dumps(targets),
         pickle.dumps(Canary(marker)).hex()], capture_output=True, text=True, timeout=120)
    assert attacker.returncode == 0, attacker.stderr
    report = json.loads(attacker.stdout)
    for name in ("driver", "broker"):
        assert report[name] == {"raw": "closed by the server", "null": "handshake failed",
                                "curve": "rejected by ZAP"}, (name, report[name])
    for name in ports:
        assert report[name] == {"raw": "refused"}, (name, report[name])
    assert_cluster_unharmed(sc, marker)
    assert_broker_unharmed(store, marker)
