"""The replicated log store: acks=all throughput at replication factor 3
beside 1, and failover time, in one run.

Throughput: one three-broker cluster (``LogStore.start_cluster``, every
process on this machine), two topics of ``--partitions`` partitions, one
with three replicas (``min.insync.replicas`` 2) and one with one. ember's
producer (idempotent, acks=all) sends ``--records`` records of ``--size``
bytes to one topic, then the other, alternating ``--repeat`` times; the
timed span ends when every record is acknowledged (fsynced by every
in-sync replica). Medians side by side, and their ratio (goal of issue 15:
RF 3 at >= 0.5x the throughput of RF 1).

Failover: a producer sends one record at a time (acks=all, each waited for)
to partition 0 of the RF-3 topic; the partition's leader is SIGKILLed at a
random moment; the time from the last acknowledgement before the kill to
the first acknowledgement of a record sent after it is one failover (the broker's session expiring at the
controller, the election, the new leader's metadata reaching the broker and
the producer, and the producer's retry). The killed broker is then
restarted and waited for until it is back in the ISR, and the next trial
starts. p50 and p99 of ``--failovers`` trials (goal: p99 <= 5 s with the
default settings).

    python -m benchmarks.replication [--records 20000] [--size 100] [--partitions 4]
                                     [--repeat 3] [--failovers 20] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import tempfile
import threading
import time

TOPICS = {3: "rf3", 1: "rf1"}


def _scratch() -> str:
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "scratch")
    os.makedirs(root, exist_ok=True)
    return tempfile.mkdtemp(prefix="replication-", dir=root)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(q * (len(ordered) - 1)))))
    return ordered[index]


def produce_rate(store, topic: str, records: int, size: int) -> float:
    """Records per second of one acks=all run (connect and metadata untimed)."""
    base = os.urandom(size)
    values = [(b"%010d" % i + base)[:size] for i in range(records)]
    with store.producer(acks="all", linger_ms=5) as producer:
        producer.partitions_for(topic)
        started = time.perf_counter()
        futures = [producer.send(topic, value) for value in values]
        producer.flush(600)
        elapsed = time.perf_counter() - started
        failed = sum(1 for f in futures if f.failed())
    if failed:
        raise RuntimeError(f"{failed} records of {records} were not acknowledged")
    return records / elapsed


def _leader(store, topic: str, partition: int = 0) -> int:
    return store.topic_metadata([topic])[topic]["leaders"][partition]


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout:g} s")
        time.sleep(0.05)


def failover_times(store, topic: str, trials: int, rng: random.Random) -> list[float]:
    """Seconds from the last acknowledgement before a leader's SIGKILL to the
    first after it, per trial."""
    times = []
    acks: list[tuple[float, float]] = []  # (sent, acknowledged)
    stop = threading.Event()

    def produce() -> None:
        with store.producer(acks="all", linger_ms=0, retry_backoff_ms=50) as producer:
            n = 0
            while not stop.is_set():
                sent = time.monotonic()
                try:
                    producer.send(topic, b"f%d" % n, partition=0).get(60)
                    acks.append((sent, time.monotonic()))
                except Exception:  # noqa: BLE001 - a failed record: keep measuring
                    pass
                n += 1

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        _wait(lambda: len(acks) > 20, 60, "the first acknowledgements")
        for trial in range(trials):
            time.sleep(rng.uniform(0.5, 1.5))
            victim = _leader(store, topic)
            killed = time.monotonic()
            store.cluster.kill(victim)
            # The first record sent after the kill: a reply already on its way
            # when the leader died says nothing about the failover.
            _wait(lambda: acks and acks[-1][0] > killed, 60, "an acknowledgement after the kill")
            before = max(acked for _, acked in acks if acked <= killed)
            after = min(acked for sent, acked in acks if sent > killed)
            times.append(after - before)
            print(f"  failover {trial + 1}/{trials}: broker {victim}, {after - before:.2f} s",
                  flush=True)
            store.cluster.restart(victim)
            _wait(lambda: sorted(store.topic_metadata([topic])[topic]["isr"][0]) == [1, 2, 3],
                  60, f"broker {victim} to rejoin the ISR")
    finally:
        stop.set()
        thread.join(60)
    return times


def run(records: int, size: int, partitions: int, repeat: int, failovers: int,
        seed: int = 15) -> dict:
    from ember.ingest.client.store import LogStore

    scratch = _scratch()
    rng = random.Random(seed)
    rates: dict[int, list[float]] = {3: [], 1: []}
    try:
        store = LogStore.start_cluster([os.path.join(scratch, f"broker{i}") for i in range(3)])
        try:
            for factor, topic in TOPICS.items():
                store.create_topic(topic, partitions, replication_factor=factor)
            produce_rate(store, TOPICS[3], min(records, 2000), size)  # warm-up, untimed
            for i in range(repeat):
                for factor in (3, 1) if i % 2 == 0 else (1, 3):
                    rate = produce_rate(store, TOPICS[factor], records, size)
                    rates[factor].append(rate)
                    print(f"  RF {factor}: {rate:,.0f} records/s", flush=True)
            times = failover_times(store, TOPICS[3], failovers, rng) if failovers else []
        finally:
            store.stop()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {"rates": rates, "failovers": times, "records": records, "size": size,
            "partitions": partitions}


def report(result: dict) -> str:
    rf3, rf1 = (statistics.median(result["rates"][f]) for f in (3, 1))
    lines = [
        f"acks=all produce, {result['records']} records of {result['size']} B, "
        f"{result['partitions']} partitions, ember's idempotent producer, 3 brokers on one "
        f"machine (load average {os.getloadavg()[0]:.1f} at the end)",
        "",
        "| replication factor | median records/s | runs |",
        "| --- | --- | --- |",
        f"| 3 (min.insync.replicas 2) | {rf3:,.0f} | "
        f"{', '.join(f'{r:,.0f}' for r in result['rates'][3])} |",
        f"| 1 | {rf1:,.0f} | {', '.join(f'{r:,.0f}' for r in result['rates'][1])} |",
        "",
        f"RF 3 / RF 1 = {rf3 / rf1:.2f} (goal >= 0.5: {'met' if rf3 / rf1 >= 0.5 else 'missed'})",
    ]
    times = result["failovers"]
    if times:
        p50, p99 = statistics.median(times), _percentile(times, 0.99)
        lines += ["", f"failover (leader SIGKILL: last acknowledgement before it to the "
                      f"first of a record sent after it), {len(times)} trials: p50 {p50:.2f} s, "
                      f"p99 {p99:.2f} s, "
                      f"max {max(times):.2f} s (goal p99 <= 5 s: "
                      f"{'met' if p99 <= 5 else 'missed'})"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.replication",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--failovers", type=int, default=20)
    parser.add_argument("--out", help="also write the report to this file")
    args = parser.parse_args(argv)
    text = report(run(args.records, args.size, args.partitions, args.repeat, args.failovers))
    print(text)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
