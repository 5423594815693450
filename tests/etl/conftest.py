"""Fixtures of the etl suite: a real PostgreSQL server and a real S3-API server
(moto's standalone server), each a process owned and stopped by its fixture."""

from __future__ import annotations

import functools
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from ember.etl import sql, testing
from sqlhelpers import _pg_connect, _sqlite_connect


@pytest.fixture(scope="module")
def postgres():
    pytest.importorskip("psycopg")
    try:
        testing.bin_dir()
    except testing.PostgresUnavailable as error:
        pytest.skip(str(error))
    with testing.postgres_server() as server:
        yield server


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def s3_server():
    """moto's S3 server on 127.0.0.1; fsspec's configuration (FSSPEC_S3, which
    worker processes inherit) points s3:// at it."""
    pytest.importorskip("s3fs")
    pytest.importorskip("moto.server")
    import fsspec.config

    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                                "-p", str(port)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    endpoint = f"http://127.0.0.1:{port}"
    settings = {"endpoint_url": endpoint, "key": "testing", "secret": "testing",
                "use_listings_cache": False}
    saved = os.environ.get("FSSPEC_S3")
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto's S3 server did not start")
                time.sleep(0.1)
        os.environ["FSSPEC_S3"] = json.dumps(settings)
        fsspec.config.conf["s3"] = dict(settings)
        yield endpoint
    finally:
        fsspec.config.conf.pop("s3", None)
        if saved is None:
            os.environ.pop("FSSPEC_S3", None)
        else:
            os.environ["FSSPEC_S3"] = saved
        import s3fs

        s3fs.S3FileSystem.clear_instance_cache()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path, postgres):
    """A connect function for an empty database of each kind (the module's
    PostgreSQL server is started before the first test's leak snapshot)."""
    if request.param == "sqlite":
        yield functools.partial(_sqlite_connect, str(tmp_path / "db.sqlite"))
        return
    server = postgres
    with server.connect(autocommit=True) as connection:
        for table in ("items", "target", sql.MARKERS):
            connection.execute(f"DROP TABLE IF EXISTS {table}")
    yield functools.partial(_pg_connect, server.dsn)
