"""Fixtures shared by the whole suite.

Every test is checked for leaks: after it, no new child process may still be
running, no new listening socket may remain open in this process, no new
``ember-*`` temporary directory may remain, and no Context may remain active.
Fixtures own what they start and stop it in their teardown.
"""

from __future__ import annotations

import glob
import os
import tempfile

import psutil
import pytest

import ember
from ember.driver.context import Context
from tests.waiting import wait_for


def _children() -> dict[int, psutil.Process]:
    found = {}
    for process in psutil.Process().children(recursive=True):
        try:
            if process.status() != psutil.STATUS_ZOMBIE:
                found[process.pid] = process
        except psutil.NoSuchProcess:
            pass
    return found


def _listeners() -> set[tuple]:
    return {(c.laddr.ip, c.laddr.port) for c in psutil.Process().net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN}


def _ember_dirs() -> set[str]:
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "ember-*")))


@pytest.fixture(scope="session", autouse=True)
def private_tempdir(tmp_path_factory):
    """Give this test session its own temporary directory, inherited by the
    processes it starts, so the leak check sees only what this session made
    (other ember processes on the machine use the shared one)."""
    directory = str(tmp_path_factory.mktemp("tmp"))
    saved_env, saved_tempdir = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"], tempfile.tempdir = directory, directory
    yield directory
    tempfile.tempdir = saved_tempdir
    if saved_env is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = saved_env


@pytest.fixture(autouse=True)
def no_leaks():
    children, listeners, dirs = set(_children()), _listeners(), _ember_dirs()
    active = Context._active_spark_context
    yield
    stray = Context._active_spark_context
    if stray is not None and stray is not active:
        stray.stop()
        pytest.fail(f"the test left a Context running: {stray!r}")
    try:
        wait_for(lambda: not set(_children()) - children,
                 timeout=5, what="the test's child processes to exit")
    except AssertionError:
        pass  # the check below names what is left, and kills it
    leaked = {pid: process for pid, process in _children().items() if pid not in children}
    if leaked:
        commands = {pid: process.cmdline() for pid, process in leaked.items()}
        for process in leaked.values():
            process.kill()
        pytest.fail(f"the test left child processes running: {commands}")
    assert _listeners() <= listeners, f"listening sockets left open: {_listeners() - listeners}"
    assert _ember_dirs() <= dirs, f"temporary directories left: {_ember_dirs() - dirs}"


@pytest.fixture(scope="module")
def sc():
    """A local[2] cluster shared by the tests of one module."""
    context = ember.Context("local[2]", appName="ember-tests")
    pids = set(context._cluster.pids().values())
    yield context
    context.stop()
    assert not [pid for pid in pids if psutil.pid_exists(pid)
                and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE], "workers outlived stop()"
