"""A pytest plugin for testing code that uses ember: fixtures ``sc`` and ``log_store``.

Opt in with ``pytest -p ember.testing`` or ``pytest_plugins = ["ember.testing"]``
in the top-level ``conftest.py``.

- ``sc``: one Context for the whole test session (starting workers takes a
  fraction of a second, too much to pay per test), stopped at the end of the
  session. Its master is ``local[2]`` unless the ini option ``ember_master``
  or the command-line option ``--ember-master`` says otherwise (the command
  line wins); the ini option ``ember_conf`` adds settings, one ``KEY=VALUE``
  a line. Tests share it, so a test that changes its state (job groups,
  local properties, cached RDDs) should undo that.
- ``log_store``: a log store broker serving a fresh directory under the
  test's ``tmp_path``; stopped (clean shutdown) at the end of the test.

Owns nothing else: it must not know the project's own test suite (whose
``tests/conftest.py`` has fixtures of the same names, per module).
"""

from __future__ import annotations

import pytest

DEFAULT_MASTER = "local[2]"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ember", "ember: fixtures sc and log_store")
    group.addoption("--ember-master", default=None, metavar="URL",
                    help=f"master URL of the sc fixture's Context (default: the ember_master "
                         f"ini option, else {DEFAULT_MASTER})")
    parser.addini("ember_master", f"master URL of the sc fixture (default: {DEFAULT_MASTER})",
                  default=DEFAULT_MASTER)
    parser.addini("ember_conf", "settings of the sc fixture's Context, one KEY=VALUE a line",
                  type="linelist", default=[])


def _settings(config: pytest.Config) -> list[tuple[str, str]]:
    pairs = []
    for line in config.getini("ember_conf"):
        key, separator, value = line.partition("=")
        if not separator or not key.strip():
            raise pytest.UsageError(f"ember_conf: {line!r} is not KEY=VALUE")
        pairs.append((key.strip(), value.strip()))
    return pairs


def pytest_configure(config: pytest.Config) -> None:
    _settings(config)  # a malformed line stops the run before any test, as a usage error


def _conf(config: pytest.Config):
    from ember.driver.conf import Conf

    conf = Conf().setAppName("pytest").setAll(_settings(config))
    return conf.setMaster(config.getoption("ember_master") or config.getini("ember_master"))


@pytest.fixture(scope="session")
def sc(pytestconfig: pytest.Config):
    """A Context shared by every test of the session, stopped at its end."""
    from ember.driver.context import Context

    context = Context(conf=_conf(pytestconfig))
    try:
        yield context
    finally:
        context.stop()


@pytest.fixture
def log_store(tmp_path):
    """A log store broker on a fresh directory, stopped when the test ends."""
    from ember.ingest.client.store import LogStore

    store = LogStore.start(tmp_path / "log")
    try:
        yield store
    finally:
        store.stop()
