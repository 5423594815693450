"""The broker never unpickles, and only peers holding the store's secret get
in (RELIABILITY.md S01-S03, S11, S12). A canary pickle, whose unpickling
would create a marker directory, is stored and returned byte for byte as a
record value, and sent as raw TCP bytes and by a NULL-mechanism ZeroMQ
client to the broker's port: the marker never appears, the broker stays
up, and a legitimate produce afterwards works."""

from __future__ import annotations

import ast
import pathlib
import pickle
import time

import psutil
import pytest
import zmq

from ember.engine.wire.transport import derive_keys
from ember.ingest.structs import TopicPartition
from tests.security.security_helpers import Canary, assert_curve_refused_without_the_secret, send_raw
from tests.security.security_helpers import assert_broker_unharmed as assert_unharmed

pytestmark = pytest.mark.security

INGEST = pathlib.Path(__file__).resolve().parents[2] / "ingest"


def test_a_pickled_value_is_stored_and_returned_byte_for_byte_never_unpickled(store, tmp_path):
    marker = tmp_path / "stored-canary"
    payload = pickle.dumps(Canary(marker))
    store.create_topic("t")
    producer = store.producer()
    meta = producer.send("t", value=payload, key=payload, headers=[("h", payload)]).get(timeout=10)
    consumer = store.consumer(enable_auto_commit=False)
    consumer.assign([TopicPartition("t", 0)])
    consumer.seek(TopicPartition("t", 0), meta.offset)
    (record,) = consumer.poll(timeout_ms=2000)[TopicPartition("t", 0)]
    assert record.value == payload and record.key == payload and record.headers == [("h", payload)]
    consumer.close()
    assert_unharmed(store, marker)


def test_raw_tcp_canary_to_the_broker_port_is_dropped(store, tmp_path):
    marker = tmp_path / "raw-tcp"
    payload = pickle.dumps(Canary(marker))
    store.create_topic("t")
    send_raw(store.port, payload)
    assert_unharmed(store, marker)


def test_null_mechanism_zmq_client_delivers_nothing(store, tmp_path):
    marker = tmp_path / "null-mechanism"
    payload = pickle.dumps(Canary(marker))
    store.create_topic("t")
    context = zmq.Context()
    try:
        client = context.socket(zmq.DEALER)
        client.setsockopt(zmq.LINGER, 0)
        client.connect(store.address)
        client.send_multipart([b'{"v":1,"id":1,"op":"produce","acks":-1,"partitions":[["t",0]]}',
                               payload])
        client.send(payload)
        time.sleep(0.3)
    finally:
        context.destroy(linger=0)
    assert_unharmed(store, marker)


def test_curve_client_knowing_the_server_key_but_not_the_secret_is_rejected(store, tmp_path):
    marker = tmp_path / "curve-no-secret"
    store.create_topic("t")
    context = zmq.Context()
    try:
        assert_curve_refused_without_the_secret(context, store.address,
                                                derive_keys(store.secret).server_public,
                                                pickle.dumps(Canary(marker)))
    finally:
        context.destroy(linger=0)
    assert_unharmed(store, marker)


def test_the_secret_is_not_in_argv_environment_or_repr(store):
    broker = psutil.Process(store.pid)
    secret = store.secret.hex()
    assert secret not in " ".join(broker.cmdline())
    assert all(secret not in value for value in broker.environ().values())
    assert secret not in repr(store)
    assert all(c.laddr.ip == "127.0.0.1" for c in broker.net_connections(kind="inet")
               if c.status == psutil.CONN_LISTEN)


def source_of(module_name: str):
    """The file of an ember module (``ember.ingest.log.segment`` ->
    ``ingest/log/segment.py``), or None when the name is a package or not a module."""
    path = INGEST.parent.joinpath(*module_name.split(".")[1:]).with_suffix(".py")
    return path if path.is_file() else None


def broker_side_modules():
    """The ember modules a broker process runs: broker.py and what it imports."""
    todo, seen = ["ember.ingest.server.broker"], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for node in ast.walk(ast.parse(source_of(name).read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ember."):
                if source_of(node.module):
                    todo.append(node.module)
                else:  # from a package: the names that are modules of it
                    todo.extend(f"{node.module}.{alias.name}" for alias in node.names
                                if source_of(f"{node.module}.{alias.name}"))
    return seen


def test_no_unpickler_in_the_broker():
    modules = broker_side_modules()
    assert {"ember.ingest.server.broker", "ember.ingest.protocol", "ember.ingest.log.partition_log"} <= modules
    assert not modules & {"ember.engine.wire.serializer", "ember.engine.wire.closure"}
    for name in modules:
        tree = ast.parse(source_of(name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                assert not any("cloudpickle" in n or "marshal" in n for n in names), name
            if isinstance(node, ast.Attribute) and node.attr in {"loads", "load", "Unpickler"}:
                owner = node.value.id if isinstance(node.value, ast.Name) else ""
                assert owner not in {"pickle", "cloudpickle", "marshal"}, f"{name} unpickles"
