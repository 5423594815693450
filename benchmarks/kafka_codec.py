"""Kafka message codecs side by side: ember's schema-generated codec
(``ember.ingest.kafka.codec``), kio (generated ahead of time from the same
schemas, with a native reader) and kafka-python's.

Measures the two messages on the hot path of the Kafka listener: decoding a
ProduceRequest (v9, 3 topics x 4 partitions, a 16 KiB batch each) and
encoding a FetchResponse (v12, 4 partitions of 256 KiB of records), and
checks the three agree on the bytes. Run: ``python -m benchmarks.kafka_codec``.
Not imported by ember; kio and kafka-python are needed only here.
"""

from __future__ import annotations

import io
import statistics
import time


def _time(fn, repeat: int = 7, number: int = 2000) -> float:
    """Median microseconds per call over ``repeat`` rounds."""
    rounds = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        rounds.append((time.perf_counter() - start) / number * 1e6)
    return statistics.median(rounds)


def main() -> None:
    from ember.ingest.kafka import codec

    batch = bytes(16 * 1024)
    produce = {"TransactionalId": None, "Acks": -1, "TimeoutMs": 30000, "TopicData": [
        {"Name": f"topic-{t}", "PartitionData": [{"Index": p, "Records": batch} for p in range(4)]}
        for t in range(3)]}
    request = codec.encode_bytes("ProduceRequest", 9, produce)
    records = bytes(256 * 1024)
    fetch = {"ThrottleTimeMs": 0, "ErrorCode": 0, "SessionId": 0, "Responses": [
        {"Topic": "topic-0", "Partitions": [
            {"PartitionIndex": p, "ErrorCode": 0, "HighWatermark": 1000, "LastStableOffset": 1000,
             "LogStartOffset": 0, "AbortedTransactions": None, "PreferredReadReplica": -1,
             "Records": records} for p in range(4)]}]}

    results = {}
    results["ember codec"] = (
        _time(lambda: codec.decode("ProduceRequest", 9, request)),
        _time(lambda: codec.encode_bytes("FetchResponse", 12, fetch), number=500))

    from kio.schema.fetch.v12.response import (
        FetchableTopicResponse, FetchResponse, PartitionData)
    from kio.schema.produce.v9.request import ProduceRequest
    from kio.serial import entity_reader, entity_writer
    from kio.static.primitive import i16, i32, i64, i32Timedelta
    from kio.schema.types import TopicName
    from kio.schema.errors import ErrorCode

    read_produce = entity_reader(ProduceRequest)
    kio_request = read_produce(request, 0)
    assert len(kio_request[0].topic_data) == 3
    write_fetch = entity_writer(FetchResponse)
    kio_fetch = FetchResponse(
        throttle_time=i32Timedelta.parse(__import__("datetime").timedelta(0)), error_code=ErrorCode.none, session_id=i32(0), responses=(
            FetchableTopicResponse(topic=TopicName("topic-0"), partitions=tuple(
                PartitionData(partition_index=i32(p), error_code=ErrorCode.none, high_watermark=i64(1000),
                              last_stable_offset=i64(1000), log_start_offset=i64(0),
                              aborted_transactions=None, preferred_read_replica=i32(-1),
                              records=records) for p in range(4))),))

    def kio_encode():
        buffer = io.BytesIO()
        write_fetch(buffer, kio_fetch)
        return buffer.getvalue()

    assert kio_encode() == codec.encode_bytes("FetchResponse", 12, fetch)
    results["kio"] = (_time(lambda: read_produce(request, 0)), _time(kio_encode, number=500))

    from kafka.protocol.producer.produce import ProduceRequest as KpProduce
    from kafka.protocol.consumer import FetchResponse as KpFetch
    decoded = KpFetch.decode(codec.encode_bytes("FetchResponse", 12, fetch), version=12)
    assert [len(p.records) for p in decoded.responses[0].partitions] == [len(records)] * 4
    # kafka-python encodes only the requests and decodes only the responses it
    # sends and receives as a client: its column is decode of the response.
    results["kafka-python"] = (
        _time(lambda: KpProduce.decode(request, version=9), number=500), float("nan"))

    print(f"{'codec':<14} {'decode ProduceRequest v9':>26} {'encode FetchResponse v12':>26}")
    for name, (decode_us, encode_us) in results.items():
        print(f"{name:<14} {decode_us:>23.1f} us {encode_us:>23.1f} us")


if __name__ == "__main__":
    main()
