"""Turning each engine's raw result into a comparable, JSON-sized answer.

Answers are compared after a JSON round trip (the child writes them, the
parent reads them), so they are built from plain ints, floats, strings, lists
and dicts. Floats compare with a relative tolerance: engines sum partial
results in different orders.
"""

from __future__ import annotations

import hashlib
import math

REL_TOL = 1e-9
ABS_TOL = 1e-9


def digest(items) -> str:
    """Order-independent digest of a collection of plain-Python tuples."""
    return hashlib.sha256(repr(sorted(items)).encode()).hexdigest()[:24]


def keyed_totals(pairs) -> dict:
    """Answer for a (key, count) result such as word counts."""
    pairs = [(key, int(value)) for key, value in pairs]
    top = sorted(pairs, key=lambda kv: (-kv[1], kv[0]))[:5]
    return {
        "keys": len(pairs),
        "total": sum(value for _, value in pairs),
        "top": [list(kv) for kv in top],
        "digest": digest(pairs),
    }


def same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return (isinstance(a, (int, float)) and isinstance(b, (int, float))
                and math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b
