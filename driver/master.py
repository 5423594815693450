"""Master URLs: where a Context runs its workers.

Accepted forms: ``local`` (one worker), ``local[N]`` (N workers), ``local[*]``
(one per CPU), ``local[N,F]`` / ``local[*,F]`` (F = attempts per task),
``local-cluster[N,C,M]`` (Spark's test cluster: N workers of C task slots and
M MiB of memory each), and
``ember://HOST:PORT`` (a driver that binds HOST:PORT and waits for workers
started elsewhere with ``ember worker --driver HOST:PORT``; port 0 picks a
free port, which the Context records as ``spark.driver.port``).

Unlike Spark's in-process local mode, ember's local mode is a real cluster of
worker processes, so a failing task is retried (``spark.task.maxFailures``,
default 4) exactly as on a cluster; ``local[N,F]`` sets F explicitly.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

ACCEPTED = ("local, local[N], local[*], local[N,F], local[*,F], local-cluster[N,C,M], "
            "ember://HOST:PORT")


@dataclass(frozen=True)
class MasterSpec:
    kind: str  # "local" or "ember"
    workers: int = 0
    max_failures: int | None = None
    host: str = ""
    port: int = 0
    cores: int | None = None  # task slots per worker (local-cluster)
    memory: int | None = None  # bytes per worker (local-cluster)


def parse_master(url: str) -> MasterSpec:
    if not isinstance(url, str):
        raise ValueError(f"Invalid master URL {url!r}: expected a string; accepted forms: {ACCEPTED}")
    text = url.strip()
    if text == "local":
        return MasterSpec("local", 1)
    match = re.fullmatch(r"local\[\s*(\*|\d+)\s*(?:,\s*(\d+)\s*)?\]", text)
    if match:
        workers = (os.cpu_count() or 1) if match.group(1) == "*" else int(match.group(1))
        if workers < 1:
            raise ValueError(f"Invalid master URL {url!r}: the number of workers must be at least 1; "
                             f"accepted forms: {ACCEPTED}")
        failures = int(match.group(2)) if match.group(2) is not None else None
        if failures is not None and failures < 1:
            raise ValueError(f"Invalid master URL {url!r}: the attempts per task must be at least 1; "
                             f"accepted forms: {ACCEPTED}")
        return MasterSpec("local", workers, failures)
    match = re.fullmatch(r"local-cluster\[\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\]", text)
    if match:
        workers, cores, mebibytes = (int(group) for group in match.groups())
        if min(workers, cores, mebibytes) < 1:
            raise ValueError(f"Invalid master URL {url!r}: workers, cores and memory (MiB) must "
                             f"each be at least 1; accepted forms: {ACCEPTED}")
        return MasterSpec("local", workers, cores=cores, memory=mebibytes << 20)
    match = re.fullmatch(r"ember://([^:/\s]+):(\d{1,5})", text)
    if match and 0 <= int(match.group(2)) < 65536:
        return MasterSpec("ember", host=match.group(1), port=int(match.group(2)))
    raise ValueError(f"Invalid master URL {url!r}; accepted forms: {ACCEPTED}")
