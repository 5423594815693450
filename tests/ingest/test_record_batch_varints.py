"""The batch decoder reads varints of every width alike: records whose
lengths, offset deltas and timestamp deltas take one, two, three or more
bytes decode to what a plain reading of Kafka's record layout gives."""

from __future__ import annotations

import random

import pytest

from ember.ingest.log.record_batch import (SimpleRecord, Record, check_batch, decode_batch,
                                           encode_batch, records_block)


def reference_decode(batch: bytes) -> list[Record]:
    """Kafka's record layout read field by field, one varint routine."""
    header = check_batch(batch)
    block = records_block(batch, 0, header)

    def varint(p):
        shift = result = 0
        while True:
            byte = block[p]
            p += 1
            result |= (byte & 0x7F) << shift
            if byte < 0x80:
                return (result >> 1) ^ -(result & 1), p
            shift += 7

    records, p = [], 0
    while p < len(block):
        _, p = varint(p)
        p += 1
        ts_delta, p = varint(p)
        delta, p = varint(p)
        fields = []
        for _ in range(2):
            n, p = varint(p)
            fields.append(None if n < 0 else block[p:p + n])
            p += max(n, 0)
        count, p = varint(p)
        headers = []
        for _ in range(count):
            n, p = varint(p)
            name = block[p:p + n].decode()
            p += n
            n, p = varint(p)
            headers.append((name, None if n < 0 else block[p:p + n]))
            p += max(n, 0)
        records.append(Record(header.base_offset + delta, header.first_timestamp + ts_delta,
                              fields[0], fields[1], tuple(headers)))
    return records


# Lengths at the edges of one-, two- and three-byte zigzag varints.
EDGES = [0, 1, 62, 63, 64, 65, 8190, 8191, 8192, 8193, 70_000]


@pytest.mark.parametrize("seed", range(4))
def test_decoding_equals_a_plain_reading_of_the_layout(seed):
    rng = random.Random(seed)
    records = []
    for i in range(300):
        key = None if rng.random() < 0.3 else bytes(rng.choice(EDGES[:7]))
        value = None if rng.random() < 0.05 else b"v" * rng.choice(EDGES)
        headers = [("h", b"x" * rng.choice(EDGES[:6]))] if rng.random() < 0.1 else []
        records.append(SimpleRecord(key, value, headers, 1_700_000_000_000 + rng.choice(EDGES)))
    batch = encode_batch(records, base_offset=rng.randrange(1 << 40),
                         timestamp=1_700_000_000_000)
    _, decoded = decode_batch(batch)
    assert decoded == reference_decode(batch)
    assert [r.value for r in decoded] == [r.value for r in records]
