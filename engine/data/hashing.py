"""Partitioning hash that is the same in every process.

Owns ``portable_hash``: the default partition function of every shuffle. A key
must land in the same reduce partition whichever worker hashed it, so the hash
of a ``str`` or ``bytes`` key must not depend on ``PYTHONHASHSEED`` (CPython
randomises both per process). They are hashed with CRC-32 of their bytes;
``int``/``float``/``bool``/``None`` use CPython's own hash, which is already
seed-free, and tuples combine their members. Other types fall back to their
own ``__hash__``; for those the driver pins ``PYTHONHASHSEED`` in every worker
it spawns, so workers still agree with each other.

Integer keys partition exactly as in PySpark (``hash(k) % n``).
"""

from __future__ import annotations

import sys
from zlib import crc32

_MASK = sys.maxsize


def portable_hash(x) -> int:
    """A hash of ``x`` that is equal in every process, whatever its hash seed.

    >>> portable_hash(None)
    0
    >>> portable_hash(7)
    7
    >>> portable_hash("spark") == portable_hash("spark")
    True
    """
    kind = type(x)
    if kind is str:
        return crc32(x.encode("utf-8", "surrogatepass"))
    if kind is int or kind is float or kind is bool:
        return hash(x)
    if x is None:
        return 0
    if kind is tuple:
        # Mixes members in order, so (a, b) and (b, a) differ.
        h = 0x345678
        for item in x:
            h ^= portable_hash(item)
            h = (h * 1000003) & _MASK
        h ^= len(x)
        return -2 if h == -1 else h
    if kind is bytes or kind is bytearray:
        return crc32(x)
    return hash(x)
