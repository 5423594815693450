"""The Kafka listener's throughput, side by side in one run.

Produce (acks=all; the Kafka clients with idempotence on, as ember's own
producer is by default): confluent-kafka (librdkafka) and kafka-python
against the Kafka listener, ember's own producer over ember's protocol, and
the raw floor of this disk (plain Python appending framed records to a
file, fsync after every 16 KiB, the batch size of ember's producer). Each
with 100-byte and 1 KiB records. The timed span ends when every record is
acknowledged (fsynced).

Consume: the records are stored first (untimed, by confluent-kafka); the
timed span is one group consumer (subscribe, join, read everything)
through confluent-kafka and kafka-python over the Kafka listener, and
ember's own consumer over ember's protocol.

Producers connect and learn the topic before the clock starts; consumers
join their group inside the timed span. Every measurement runs in a fresh
process against a fresh broker (a log
directory in a scratch folder on the repository's disk); medians of
``--repeat`` runs. Goals (issue 14): confluent-kafka at acks=all >= 150,000
records/s of 100 B and >= 60 MB/s of 1 KiB; a group consumer >= 300,000
records/s.

    python -m benchmarks.kafka_listener [--records 200000] [--repeat 3] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import os
import shutil
import statistics
import tempfile
import time

PARTITIONS = 4
TOPIC = "bench"
FLOOR_BATCH = 16 * 1024
GOALS = {("produce", "confluent-kafka", 100): ("records/s", 150_000),
         ("produce", "confluent-kafka", 1024): ("MB/s", 60.0),
         ("consume", "confluent-kafka", 100): ("records/s", 300_000)}


def _scratch() -> str:
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "scratch")
    os.makedirs(root, exist_ok=True)
    return tempfile.mkdtemp(prefix="kafka-", dir=root)


def _values(count: int, size: int) -> list[bytes]:
    base = os.urandom(size)
    return [(b"%010d" % i + base)[:size] for i in range(count)]


def _start(directory: str):
    from ember.ingest.client.store import LogStore
    store = LogStore.start(directory, kafka_listener="127.0.0.1:0")
    store.create_topic(TOPIC, PARTITIONS)
    return store


def _confluent_producer(address: str):
    from confluent_kafka import Producer
    producer = Producer({"bootstrap.servers": address, "acks": "all", "enable.idempotence": True,
                         "linger.ms": 5, "batch.size": 1_000_000, "log_level": 3})
    producer.list_topics(TOPIC, timeout=30)
    return producer


def _send_confluent(producer, values: list[bytes]) -> None:
    # No Python callback per record (it would cost the client more than the
    # broker spends on the record): flush() returning 0 means every record
    # was acknowledged, and the run then counts what the store holds.
    produce = producer.produce
    for value in values:
        while True:
            try:
                produce(TOPIC, value)
                break
            except BufferError:  # the client's queue is full: let it drain
                producer.poll(0.05)
    if producer.flush(300):
        raise RuntimeError("confluent-kafka: records left unacknowledged")


def _produce_confluent(address: str, values: list[bytes]) -> None:
    _send_confluent(_confluent_producer(address), values)


def _kafka_python_producer(address: str):
    from kafka import KafkaProducer
    producer = KafkaProducer(bootstrap_servers=address, acks="all", enable_idempotence=True,
                             linger_ms=5, batch_size=1 << 20)
    producer.partitions_for(TOPIC)
    return producer


def _send_kafka_python(producer, values: list[bytes]) -> None:
    futures = [producer.send(TOPIC, value) for value in values]
    producer.flush(300)
    for future in futures[-100:]:
        future.get(60)
    producer.close()


def _ember_producer(store):
    producer = store.producer()
    producer.partitions_for(TOPIC)
    return producer


def _send_ember(producer, values: list[bytes]) -> None:
    for value in values:
        producer.send(TOPIC, value)
    producer.flush()
    producer.close()


def _floor(directory: str, values: list[bytes]) -> None:
    import struct
    with open(os.path.join(directory, "floor.log"), "ab") as handle:
        pending = 0
        for value in values:
            handle.write(struct.pack(">i", len(value)))
            handle.write(value)
            pending += len(value) + 4
            if pending >= FLOOR_BATCH:
                handle.flush()
                os.fsync(handle.fileno())
                pending = 0
        handle.flush()
        os.fsync(handle.fileno())


def _cpu(process=None) -> float:
    import psutil
    times = (process or psutil.Process()).cpu_times()
    return times.user + times.system


def produce_run(client: str, count: int, size: int) -> tuple[float, float, float]:
    """(seconds, client CPU s, broker CPU s) to produce ``count`` records of
    ``size`` bytes, all acknowledged."""
    directory = _scratch()
    store = None
    try:
        values = _values(count, size)
        if client == "raw floor":
            start, cpu = time.perf_counter(), _cpu()
            _floor(directory, values)
            return time.perf_counter() - start, _cpu() - cpu, 0.0
        store = _start(os.path.join(directory, "log"))
        import psutil
        broker = psutil.Process(store.pid)
        # Producers connect (and learn the topic) before the clock starts.
        make, send = {"confluent-kafka": (_confluent_producer, _send_confluent),
                      "kafka-python": (_kafka_python_producer, _send_kafka_python)}.get(
            client, (None, _send_ember))
        producer = make(store.kafka_address) if make else _ember_producer(store)
        start, cpu, broker_cpu = time.perf_counter(), _cpu(), _cpu(broker)
        send(producer, values)
        elapsed = time.perf_counter() - start
        used, broker_used = _cpu() - cpu, _cpu(broker) - broker_cpu
        held = sum(high for _, high in _edges(store))
        if held != count:
            raise RuntimeError(f"{client}: the store holds {held} records, {count} were sent")
        return elapsed, used, broker_used
    finally:
        if store is not None:
            store.stop()
        shutil.rmtree(directory, ignore_errors=True)


def _edges(store):
    specs = [(TOPIC, p, -1) for p in range(PARTITIONS)]
    return [(p, offset) for p, offset in enumerate(store.list_offsets(specs))]


def consume_run(client: str, count: int, size: int) -> tuple[float, float, float]:
    """(seconds, client CPU s, broker CPU s) for one group consumer to read
    ``count`` stored records."""
    directory = _scratch()
    store = _start(os.path.join(directory, "log"))
    try:
        _produce_confluent(store.kafka_address, _values(count, size))
        import psutil
        broker = psutil.Process(store.pid)
        start, cpu, broker_cpu = time.perf_counter(), _cpu(), _cpu(broker)
        read = 0
        if client == "confluent-kafka":
            from confluent_kafka import Consumer
            # librdkafka stops fetching a partition once its local queue holds
            # queued.min.messages (100,000) and waits fetch.queue.backoff.ms
            # (1 s) before it looks again: with 4 MiB fetches of four
            # partitions that pause, not the broker, set the pace. A consumer
            # reading as fast as it can looks again sooner, against any broker.
            consumer = Consumer({"bootstrap.servers": store.kafka_address, "group.id": "bench",
                                 "auto.offset.reset": "earliest", "log_level": 3,
                                 "fetch.max.bytes": 52428800,
                                 "max.partition.fetch.bytes": 4 << 20,
                                 "fetch.queue.backoff.ms": 10})
            consumer.subscribe([TOPIC])
            while read < count:
                read += sum(1 for m in consumer.consume(10000, timeout=1) if not m.error())
            consumer.close()
        elif client == "kafka-python":
            from kafka import KafkaConsumer
            consumer = KafkaConsumer(TOPIC, bootstrap_servers=store.kafka_address,
                                     group_id="bench", auto_offset_reset="earliest",
                                     max_partition_fetch_bytes=4 << 20)
            while read < count:
                read += sum(map(len, consumer.poll(timeout_ms=1000, max_records=50000).values()))
            consumer.close()
        else:
            consumer = store.consumer(TOPIC, group_id="bench", auto_offset_reset="earliest",
                                      max_partition_fetch_bytes=4 << 20)
            while read < count:
                read += sum(map(len, consumer.poll(timeout_ms=1000,
                                                   max_records=50000).values()))
            consumer.close()
        return time.perf_counter() - start, _cpu() - cpu, _cpu(broker) - broker_cpu
    finally:
        store.stop()
        shutil.rmtree(directory, ignore_errors=True)


def _run(kind: str, client: str, count: int, size: int) -> tuple[float, float, float]:
    with concurrent.futures.ProcessPoolExecutor(
            1, mp_context=multiprocessing.get_context("spawn")) as pool:
        function = produce_run if kind == "produce" else consume_run
        return pool.submit(function, client, count, size).result(timeout=900)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.kafka_listener")
    parser.add_argument("--records", type=int, default=200_000,
                        help="records of 100 B per run (1 KiB runs: a fifth as many)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", help="also write the table (markdown) here")
    args = parser.parse_args(argv)
    plan = [("produce", c, s) for s in (100, 1024)
            for c in ("confluent-kafka", "kafka-python", "ember (own protocol)", "raw floor")]
    plan += [("consume", c, 100) for c in ("confluent-kafka", "kafka-python",
                                           "ember (own protocol)")]
    rows = []
    for kind, client, size in plan:
        count = args.records if size == 100 else args.records // 5
        runs = [_run(kind, client, count, size) for _ in range(args.repeat)]
        times = [run[0] for run in runs]
        median = statistics.median(times)
        client_us = statistics.median(run[1] for run in runs) / count * 1e6
        broker_us = statistics.median(run[2] for run in runs) / count * 1e6
        rate, mbps = count / median, count * size / median / 1e6
        goal = GOALS.get((kind, client, size))
        verdict = ""
        if goal:
            value = rate if goal[0] == "records/s" else mbps
            verdict = (f"goal {goal[1]:,} {goal[0]}: " + ("met" if value >= goal[1] else "missed"))
        rows.append(f"| {kind} | {client} | {size} B | {count:,} | {median:.2f} s "
                    f"({min(times):.2f}-{max(times):.2f}) | {rate:,.0f} | {mbps:.1f} | "
                    f"{client_us:.1f} | {broker_us:.1f} | {verdict} |")
        print(rows[-1], flush=True)
    table = ["| workload | client | record | records | median (range) | records/s | MB/s "
             "| client CPU µs/record | broker CPU µs/record | |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |", *rows]
    load = os.getloadavg()[0]
    text = (f"Kafka listener, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores (load "
            f"average {load:.1f} at the end), {args.repeat} runs each, acks=all\n\n"
            + "\n".join(table) + "\n")
    print(text)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text)


if __name__ == "__main__":
    main()
