"""A throwaway PostgreSQL server for tests and tutorials: ``postgres_server()``.

Starts Debian's (or any) PostgreSQL binaries found by ``pg_config
--bindir``, ``/usr/lib/postgresql/*/bin`` or ``PATH``: ``initdb`` into a
fresh temporary directory (trust authentication, no fsync: it is thrown
away), then ``postgres`` listening on 127.0.0.1 at a free port with its unix
socket inside that directory. As root (PostgreSQL refuses to run as root)
both run as the ``postgres`` system user the package creates. The context
manager yields a ``PostgresServer`` (``dsn``, ``port``, ``connect()``) and,
on exit, stops the server by its PID (SIGINT: fast shutdown; SIGKILL after
a deadline) and removes the directory.

Owns nothing else; must not know the tests that use it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import Iterator


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def bin_dir() -> str:
    try:
        found = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                               timeout=10).stdout.strip()
        if found and os.path.exists(os.path.join(found, "initdb")):
            return found
    except (OSError, subprocess.SubprocessError):
        pass
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                        key=lambda path: int(path.split("/")[4]) if path.split("/")[4].isdigit()
                        else 0)
    if candidates:
        return os.path.dirname(candidates[-1])
    initdb = shutil.which("initdb")
    if initdb:
        return os.path.dirname(initdb)
    raise PostgresUnavailable("PostgreSQL's initdb was not found (Debian: apt-get install "
                              "postgresql)")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    def __init__(self, directory: str, port: int, process: subprocess.Popen):
        self.directory = directory
        self.port = port
        self.process = process
        self.user = "postgres"
        self.dsn = f"host=127.0.0.1 port={port} user=postgres dbname=postgres"

    @property
    def pid(self) -> int:
        return self.process.pid

    def connect(self, **kwargs):
        import psycopg

        return psycopg.connect(self.dsn, **kwargs)


def _run_as(user: str | None) -> dict:
    return {"user": user} if user else {}


@contextlib.contextmanager
def postgres_server(startup_timeout: float = 60.0) -> Iterator[PostgresServer]:
    binaries = bin_dir()
    run_as = "postgres" if os.geteuid() == 0 else None
    # The server's user must reach its directory: as root, a private TMPDIR
    # (0700, root's) would not do, so the world-traversable /tmp is used.
    root = tempfile.mkdtemp(prefix="pg-", dir="/tmp" if run_as else None)
    data = os.path.join(root, "data")
    process = None
    try:
        if run_as:
            import pwd

            entry = pwd.getpwnam(run_as)
            os.chown(root, entry.pw_uid, entry.pw_gid)
        subprocess.run([os.path.join(binaries, "initdb"), "-D", data, "-U", "postgres",
                        "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"],
                       check=True, capture_output=True, timeout=120, cwd=root, **_run_as(run_as))
        port = _free_port()
        with open(os.path.join(root, "log"), "wb") as log:
            process = subprocess.Popen(
                [os.path.join(binaries, "postgres"), "-D", data, "-p", str(port),
                 "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={root}",
                 "-c", "fsync=off", "-c", "max_connections=50", "-c", "shared_buffers=16MB"],
                stdout=subprocess.DEVNULL, stderr=log, cwd=root, start_new_session=True,
                **_run_as(run_as))
        server = PostgresServer(root, port, process)
        deadline = time.monotonic() + startup_timeout
        while True:
            if process.poll() is not None:
                with open(os.path.join(root, "log"), "rb") as log:
                    raise RuntimeError(f"postgres exited with {process.returncode}: "
                                       f"{log.read()[-2000:].decode('utf-8', 'replace')}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    pass
                with server.connect(connect_timeout=5) as connection:
                    connection.execute("SELECT 1")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield server
    finally:
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)  # fast shutdown: ends sessions, no wait
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)
