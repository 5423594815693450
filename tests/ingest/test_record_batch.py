"""RecordBatch v2: round trips, CRC-32C and truncation detection, header scans,
codecs, and agreement with an independent implementation (kafka-python's)."""

import random
import struct

import pytest
from crc32c import crc32c

from ember.engine.errors import CorruptRecordError
from ember.ingest.log.record_batch import (
    HEADER_SIZE, MAGIC, NO_PRODUCER_ID, SimpleRecord, check_batch, decode_batch,
    encode_batch, iter_records, parse_header, scan_batches, validate_batch, with_base_offset,
)
from ember.ingest.log import compression

TS = 1_700_000_000_000


def roundtrip(records, **kwargs):
    data = encode_batch(records, **kwargs)
    header, decoded = decode_batch(data)
    assert header.size == len(data)
    return header, decoded


def test_round_trip_keeps_keys_values_headers_and_timestamps():
    records = [
        SimpleRecord(b"k1", b"v1"),
        SimpleRecord(None, b"no key"),
        SimpleRecord(b"no value", None),
        SimpleRecord(None, None),
        SimpleRecord(b"", b""),
        SimpleRecord(b"h", b"with headers", [("trace", b"abc"), ("empty", b""), ("null", None),
                                             ("ünïcode", b"\x00\xff")]),
        SimpleRecord(b"t", b"own timestamp", (), TS - 5_000),
    ]
    header, decoded = roundtrip(records, base_offset=42, timestamp=TS)
    assert [r.offset for r in decoded] == list(range(42, 42 + len(records)))
    for original, got in zip(records, decoded):
        assert (got.key, got.value) == (original.key, original.value)
        assert list(got.headers) == list(original.headers)
        assert got.timestamp == (original.timestamp if original.timestamp is not None else TS)
    assert header.first_timestamp == TS
    assert header.max_timestamp == max(r.timestamp for r in decoded)
    assert header.record_count == len(records)
    assert header.last_offset == 42 + len(records) - 1


def test_round_trip_of_large_values():
    big = bytes(random.Random(1).getrandbits(8) for _ in range(1 << 16)) * 32  # 2 MiB
    _, decoded = roundtrip([SimpleRecord(b"big", big), SimpleRecord(None, b"after")])
    assert decoded[0].value == big
    assert decoded[1].value == b"after"


def test_producer_fields_round_trip():
    header, _ = roundtrip([SimpleRecord(None, b"x")] * 3, producer_id=77, producer_epoch=2,
                          base_sequence=1000, timestamp=TS)
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (77, 2, 1000)
    assert header.magic == MAGIC


def test_non_idempotent_batches_carry_no_producer():
    header, _ = roundtrip([SimpleRecord(None, b"x")], timestamp=TS)
    assert header.producer_id == NO_PRODUCER_ID


def test_stamping_a_base_offset_keeps_the_crc_valid():
    data = encode_batch([SimpleRecord(None, b"a"), SimpleRecord(None, b"b")], timestamp=TS)
    header, decoded = decode_batch(with_base_offset(data, 1_000_000))
    assert header.base_offset == 1_000_000
    assert [r.offset for r in decoded] == [1_000_000, 1_000_001]


def test_every_flipped_byte_but_the_stamped_fields_is_detected():
    # Base offset (0-7) and partition leader epoch (12-15) are stamped by the
    # log after the producer computed the CRC, so the CRC leaves them out.
    data = encode_batch([SimpleRecord(b"key", b"value", [("h", b"v")])], timestamp=TS)
    for position in [*range(8, 12), *range(16, len(data))]:
        damaged = bytearray(data)
        damaged[position] ^= 0x01
        with pytest.raises(CorruptRecordError):
            decode_batch(bytes(damaged))


def test_every_truncation_is_detected_as_corruption():
    data = encode_batch([SimpleRecord(b"key", b"value" * 10)] * 4, timestamp=TS)
    for cut in range(len(data)):
        with pytest.raises(CorruptRecordError, match="truncated"):
            decode_batch(data[:cut])


def recrc(body: bytearray) -> bytes:
    """Rewrite length and CRC so a hand-made malformation passes the checksum."""
    struct.pack_into(">i", body, 8, len(body) - 12)
    struct.pack_into(">I", body, 17, crc32c(bytes(body[21:])))
    return bytes(body)


@pytest.mark.parametrize("cut", [1, 5, 12, 20])
def test_records_cut_short_under_a_valid_crc_raise_corrupt_record(cut):
    data = bytearray(encode_batch([SimpleRecord(b"key", b"value")] * 2, timestamp=TS))
    with pytest.raises(CorruptRecordError):
        decode_batch(recrc(data[:-cut]))


def test_negative_lengths_under_a_valid_crc_raise_corrupt_record():
    data = bytearray(encode_batch([SimpleRecord(b"key", b"value")], timestamp=TS))
    data[HEADER_SIZE + 4] = 13  # the key length: zigzag varint of -7
    with pytest.raises(CorruptRecordError, match="negative key length"):
        decode_batch(recrc(data))


def test_random_garbage_only_ever_raises_corrupt_record():
    rng = random.Random(7)
    valid = encode_batch([SimpleRecord(b"k", b"v" * 30, [("h", b"x")])] * 3, timestamp=TS)
    for _ in range(2000):
        if rng.random() < 0.5:
            data = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 200)))
        else:  # valid framing, scrambled records, recomputed CRC
            body = bytearray(valid)
            for _ in range(rng.randint(1, 6)):
                body[rng.randrange(HEADER_SIZE, len(body))] = rng.getrandbits(8)
            data = recrc(body)
        try:
            decode_batch(data)
        except CorruptRecordError:
            pass


def test_header_parse_needs_only_the_header_bytes():
    data = encode_batch([SimpleRecord(None, b"x" * 1000)], base_offset=5, timestamp=TS)
    header = parse_header(data[:HEADER_SIZE])
    assert (header.base_offset, header.size, header.max_timestamp) == (5, len(data), TS)
    with pytest.raises(CorruptRecordError, match="truncated batch header"):
        parse_header(data[:HEADER_SIZE - 1])


@pytest.mark.parametrize("field_offset, value, message", [
    (16, 9, "magic 9"),
    (8, 3, "length 3"),
    (57, 0, "record count 0"),
])
def test_header_parse_rejects_impossible_fields(field_offset, value, message):
    data = bytearray(encode_batch([SimpleRecord(None, b"x")], timestamp=TS))
    fmt = ">b" if field_offset == 16 else ">i"
    struct.pack_into(fmt, data, field_offset, value)
    with pytest.raises(CorruptRecordError, match=message):
        parse_header(data)


def test_scan_batches_walks_consecutive_batches_and_stops_at_a_partial_one():
    batches = [encode_batch([SimpleRecord(None, b"%d" % i)] * (i + 1), base_offset=10 * i,
                            timestamp=TS) for i in range(4)]
    data = b"".join(batches)
    positions = [sum(map(len, batches[:i])) for i in range(4)]
    assert [(p, h.base_offset) for p, h in scan_batches(data)] == \
        list(zip(positions, [0, 10, 20, 30]))
    assert [p for p, _ in scan_batches(data[:-1])] == positions[:3]
    assert [p for p, _ in scan_batches(data[:-1], verify=False)] == positions  # header present


def test_iter_records_decodes_every_batch_of_a_read():
    batches = [encode_batch([SimpleRecord(None, b"%d-%d" % (i, j)) for j in range(3)],
                            base_offset=3 * i, timestamp=TS) for i in range(5)]
    records = list(iter_records(b"".join(batches)))
    assert [r.offset for r in records] == list(range(15))
    assert [r.value for r in records] == [b"%d-%d" % (i, j) for i in range(5) for j in range(3)]


def test_check_batch_verifies_the_crc():
    data = bytearray(encode_batch([SimpleRecord(None, b"payload")], timestamp=TS))
    assert check_batch(data).record_count == 1
    data[-1] ^= 0x10
    with pytest.raises(CorruptRecordError, match="CRC mismatch"):
        check_batch(data)


@pytest.mark.parametrize("records, error, message", [
    ([], ValueError, "at least one record"),
    ([SimpleRecord("text", b"v")], TypeError, "record 0: key must be bytes"),
    ([SimpleRecord(None, 5)], TypeError, "record 0: value must be bytes"),
    ([SimpleRecord(None, b"v", [("h", "text")])], TypeError, "header 'h' value must be bytes"),
    ([(b"k", b"v")], TypeError, r"record 0: expected SimpleRecord"),
    ([SimpleRecord(None, b"v", [("lonely",)])], TypeError, r"a header must be a \(str, bytes\)"),
    ([SimpleRecord(None, b"v", [(5, b"x")])], TypeError, "header name must be str"),
    ([SimpleRecord(None, b"v", (), 1 << 63)], ValueError, "cannot encode"),
])
def test_encoding_bad_records_names_the_record_and_the_problem(records, error, message):
    with pytest.raises(error, match=message):
        encode_batch(records, timestamp=TS)


# --- v2 specifics: leader epoch, codecs, validation, another implementation ---------

def test_stamping_the_leader_epoch_keeps_the_crc_valid():
    data = encode_batch([SimpleRecord(None, b"a")], timestamp=TS)
    header, _ = decode_batch(with_base_offset(data, 7, 12))
    assert (header.base_offset, header.partition_leader_epoch) == (7, 12)


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compressed_batches_round_trip_and_validate(codec):
    records = [SimpleRecord(b"k%d" % i, b"value %d " % i * 20, [("h", b"%d" % i)])
               for i in range(300)]
    data = encode_batch(records, timestamp=TS, compression_type=compression.codec_for(codec))
    assert len(data) < sum(len(r.value) for r in records) / 3
    header = validate_batch(data)
    assert header.compression == compression.codec_for(codec)
    _, decoded = decode_batch(data)
    assert [(r.key, r.value, r.headers) for r in decoded] == \
        [(r.key, r.value, tuple(r.headers)) for r in records]


def test_a_compressed_block_that_expands_past_the_limit_is_refused():
    data = encode_batch([SimpleRecord(None, bytes(1 << 20))], timestamp=TS,
                        compression_type=compression.ZSTD)
    assert len(data) < 1 << 12
    with pytest.raises(CorruptRecordError, match="expands past"):
        validate_batch(data, limit=1 << 16)


def test_snappy_reads_raw_blocks_as_librdkafka_writes_them():
    import cramjam
    plain = encode_batch([SimpleRecord(b"k", b"v" * 100)] * 5, timestamp=TS)
    block = bytes(cramjam.snappy.compress_raw(plain[HEADER_SIZE:]))
    body = bytearray(plain[:HEADER_SIZE] + block)
    struct.pack_into(">h", body, 21, compression.SNAPPY)
    decoded = list(iter_records(recrc(body)))
    assert [r.value for r in decoded] == [b"v" * 100] * 5


def test_validation_refuses_a_record_count_the_records_do_not_have():
    data = bytearray(encode_batch([SimpleRecord(None, b"x")] * 3, timestamp=TS))
    struct.pack_into(">i", data, 23, 3)   # last offset delta
    struct.pack_into(">i", data, 57, 4)   # record count
    with pytest.raises(CorruptRecordError, match="holds 3 records"):
        validate_batch(recrc(data))


@pytest.mark.parametrize("codec", [0, 1, 2, 3, 4])
def test_kafka_python_reads_what_ember_writes_and_the_other_way_round(codec):
    from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder

    records = [SimpleRecord(b"k%d" % i if i % 3 else None, b"v%d" % i * (i + 1),
                            [("h", b"%d" % i)] if i % 2 else (), TS + i) for i in range(50)]
    ours = encode_batch(records, producer_id=5, producer_epoch=1, base_sequence=10,
                        compression_type=codec)
    theirs = DefaultRecordBatch(bytes(ours))
    assert theirs.validate_crc()
    assert [(r.key, r.value, list(r.headers), r.timestamp) for r in theirs] == \
        [(r.key, r.value, list(r.headers), r.timestamp) for r in records]

    builder = DefaultRecordBatchBuilder(magic=2, compression_type=codec, is_transactional=False,
                                        producer_id=5, producer_epoch=1, base_sequence=10,
                                        batch_size=1 << 20)
    for i, r in enumerate(records):
        builder.append(i, timestamp=r.timestamp, key=r.key, value=r.value,
                       headers=list(r.headers))
    built = bytes(builder.build())
    header = validate_batch(built)
    assert (header.producer_id, header.base_sequence, header.compression) == (5, 10, codec)
    assert [(r.key, r.value, list(r.headers), r.timestamp) for r in iter_records(built)] == \
        [(r.key, r.value, list(r.headers), r.timestamp) for r in records]
