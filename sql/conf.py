"""``spark.conf``: a session's runtime settings (PySpark's ``RuntimeConfig``).

A session reads a key from its own settings first (those set with
``spark.conf.set`` or given to the builder once the Context ran), then from
its Context's configuration. Settings the Context was started with (the
master, the application's name, every setting ember declares) cannot be
changed at run time; ``set`` refuses them by name, as Spark does.

Must not know: RDDs.
"""

from __future__ import annotations

from typing import Any

from ember.driver.conf import SETTINGS
from ember.engine.errors import ConfigError, NoSuchElementError

_NO_DEFAULT = object()
_STATIC = {"spark.master", "spark.app.name", "spark.home", "spark.submit.pyFiles"}


def conf_text(value: Any) -> str:
    """A setting's text, as PySpark stores it (booleans lowercased)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


class RuntimeConfig:
    def __init__(self, context: Any, overrides: dict[str, str] | None = None):
        self._context = context
        self._overrides: dict[str, str] = dict(overrides or {})

    def isModifiable(self, key: str) -> bool:
        """Whether ``key`` may be changed while the session runs."""
        return key not in _STATIC and key not in SETTINGS and not key.startswith("spark.executor")

    def set(self, key: str, value: Any) -> None:
        if not isinstance(key, str) or not key:
            raise ConfigError(f"spark.conf.set: the key must be a non-empty string, got {key!r}")
        if not self.isModifiable(key):
            raise ConfigError(f"Cannot modify the value of a Spark config: {key} (it is fixed "
                              f"when the Context starts: set it on the builder or in SparkConf)")
        self._overrides[key] = conf_text(value)

    def unset(self, key: str) -> None:
        if not self.isModifiable(key):
            raise ConfigError(f"Cannot modify the value of a Spark config: {key}")
        self._overrides.pop(key, None)

    def get(self, key: str, default: Any = _NO_DEFAULT) -> str | None:
        """The value of ``key``: the session's, else the Context's, else
        ``default``; NoSuchElementError when there is none."""
        if key in self._overrides:
            return self._overrides[key]
        value = self._context.getConf().get(key)
        if value is not None:
            return value
        if default is not _NO_DEFAULT:
            return default
        raise NoSuchElementError(f"spark.conf.get: the setting {key!r} is not set (give a "
                                 f"default: spark.conf.get(key, default))")

    @property
    def getAll(self) -> dict[str, str]:
        """Every setting, the session's over the Context's."""
        return {**dict(self._context.getConf().getAll()), **self._overrides}

    def _copy(self) -> "RuntimeConfig":
        return RuntimeConfig(self._context, self._overrides)
