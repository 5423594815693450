"""Sizes written the way settings and flags write them (``512m``, ``2g``).

Shared by the driver's settings and a worker's command line, so both read a
size the same way. Pure functions; must not know any setting.
"""

from __future__ import annotations

import re

_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024 ** 2, "mb": 1024 ** 2,
               "g": 1024 ** 3, "gb": 1024 ** 3, "t": 1024 ** 4, "tb": 1024 ** 4}


def parse_size(text: str) -> int:
    """Bytes from '512m', '2g', '1048576'. A bad size raises ValueError whose
    message is what was expected."""
    match = re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]*)\s*", str(text))
    if not match or match.group(2).lower() not in _SIZE_UNITS:
        raise ValueError("a size such as 512m, 2g or 1048576 (bytes)")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2).lower()]
