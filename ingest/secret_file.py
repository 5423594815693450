"""The log store's secret at rest: the cluster-wide secret file format of
``engine.wire.secret_file`` (hex on one line, mode 0600), under the name the log
store's modules import it by.

Thread-safety: pure functions over the file system; safe from any thread.
"""

from __future__ import annotations

from ember.engine.wire.secret_file import (  # noqa: F401 - re-exported
    MIN_SECRET_BYTES,
    coerce_secret,
    read_secret_file,
    write_secret_file,
)
