"""The three Kafka client implementations the listener is tested with, behind
one small interface, so each behaviour is one test parametrized by client:

* ``kafka-python``: pure Python, its own protocol code;
* ``confluent-kafka``: librdkafka (C);
* ``kcat``: the command-line program, also librdkafka, driven as a user would.

Records are ``(partition, key, value)``; each adapter produces with
acks=all and idempotence on, and reads from the beginning.
"""

from __future__ import annotations

import time

from kafka_helpers import confluent_config, kcat

CLIENTS = ["kafka-python", "confluent-kafka", "kcat"]
CODECS = ["gzip", "snappy", "lz4", "zstd"]


def security_options(kind: str, security: dict | None) -> dict:
    """``security`` = {protocol, mechanism, user, password, cafile} in each
    client's own names."""
    if not security:
        return {}
    if kind == "kafka-python":
        return {"security_protocol": security["protocol"],
                "sasl_mechanism": security["mechanism"],
                "sasl_plain_username": security["user"],
                "sasl_plain_password": security["password"],
                "ssl_cafile": security["cafile"], "ssl_check_hostname": False}
    return {"security.protocol": security["protocol"], "sasl.mechanism": security["mechanism"],
            "sasl.username": security["user"], "sasl.password": security["password"],
            "ssl.ca.location": security["cafile"],
            "ssl.endpoint.identification.algorithm": "none"}


def kcat_options(options: dict) -> list[str]:
    return [arg for key, value in options.items() for arg in ("-X", f"{key}={value}")]


def produce(kind: str, address: str, topic: str, records, *, compression: str | None = None,
            security: dict | None = None) -> None:
    """Produce ``records`` with acks=all and idempotence; returns once all are acknowledged."""
    if kind == "kafka-python":
        from kafka import KafkaProducer
        producer = KafkaProducer(bootstrap_servers=address, acks="all", enable_idempotence=True,
                                 compression_type=compression, linger_ms=5,
                                 **security_options(kind, security))
        try:
            futures = [producer.send(topic, value=v, key=k, partition=p) for p, k, v in records]
            producer.flush(60)
            for future in futures:
                future.get(60)
        finally:
            producer.close(10)
    elif kind == "confluent-kafka":
        from confluent_kafka import Producer
        failures = []
        producer = Producer(confluent_config(address, **{
            "acks": "all", "enable.idempotence": True, "linger.ms": 5,
            "compression.type": compression or "none"}, **security_options(kind, security)))
        for p, k, v in records:
            producer.produce(topic, value=v, key=k, partition=p,
                             on_delivery=lambda err, msg: err and failures.append(err))
            producer.poll(0)
        assert producer.flush(60) == 0, "confluent-kafka: records left unacknowledged"
        assert not failures, failures
    else:
        options = {"acks": "all", "enable.idempotence": "true"}
        options.update(security_options(kind, security))
        by_partition: dict[int, list] = {}
        for p, k, v in records:
            by_partition.setdefault(p, []).append((k, v))
        for p, items in by_partition.items():
            lines = b"".join((k or b"") + b"\t" + v + b"\n" for k, v in items)
            kcat("-b", address, "-P", "-t", topic, "-p", str(p), "-K", "\t",
                 *(["-z", compression] if compression else []), *kcat_options(options),
                 input=lines)


def consume_from_beginning(kind: str, address: str, topic: str, partitions: int, count: int,
                           security: dict | None = None) -> dict[int, list]:
    """{partition: [(key, value), ...]} read from offset 0 until ``count`` records."""
    out = {p: [] for p in range(partitions)}
    if kind == "kafka-python":
        from kafka import KafkaConsumer, TopicPartition
        consumer = KafkaConsumer(bootstrap_servers=address, enable_auto_commit=False,
                                 **security_options(kind, security))
        try:
            consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
            consumer.seek_to_beginning()
            deadline = time.monotonic() + 60
            while sum(map(len, out.values())) < count and time.monotonic() < deadline:
                for tp, messages in consumer.poll(timeout_ms=500).items():
                    out[tp.partition].extend((m.key, m.value) for m in messages)
        finally:
            consumer.close()
    elif kind == "confluent-kafka":
        from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
        consumer = Consumer(confluent_config(address, **{
            "group.id": f"reader-{topic}", "enable.auto.commit": False},
            **security_options(kind, security)))
        try:
            consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
            deadline = time.monotonic() + 60
            while sum(map(len, out.values())) < count and time.monotonic() < deadline:
                for message in consumer.consume(1000, timeout=0.5):
                    assert message.error() is None, message.error()
                    out[message.partition()].append((message.key(), message.value()))
        finally:
            consumer.close()
    else:
        done = kcat("-b", address, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
                    "-f", "%p\t%k\t%s\n", *kcat_options(security_options(kind, security)))
        for line in done.stdout.splitlines():
            p, k, v = line.split(b"\t", 2)
            out[int(p)].append((k or None, v))
    return out


def create_list_delete(kind: str, address: str, name: str) -> tuple[set, set]:
    """Create ``name`` (2 partitions), list topics, delete it, list again;
    returns (topics after create, topics after delete)."""
    if kind == "kafka-python":
        from kafka.admin import KafkaAdminClient, NewTopic
        admin = KafkaAdminClient(bootstrap_servers=address)
        try:
            admin.create_topics([NewTopic(name, 2, 1)])
            listed = set(admin.list_topics())
            admin.delete_topics([name])
            after = set(admin.list_topics())
        finally:
            admin.close()
        return listed, after
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient(confluent_config(address))
    for future in admin.create_topics([NewTopic(name, 2, 1)]).values():
        future.result(30)
    listed = set(admin.list_topics(timeout=30).topics)
    if kind == "kcat":  # kcat lists (-L); it has no command to create or delete topics
        listed = {line.split(b'"')[1].decode() for line in
                  kcat("-b", address, "-L").stdout.splitlines() if b'topic "' in line}
    for future in admin.delete_topics([name]).values():
        future.result(30)
    after = set(admin.list_topics(timeout=30).topics)
    return listed, after


__all__ = ["CLIENTS", "CODECS", "produce", "consume_from_beginning", "create_list_delete",
           "security_options", "kcat_options"]
