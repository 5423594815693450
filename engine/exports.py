"""A package's public names loaded on first use (PEP 562).

``ember``, ``ember.ingest`` and ``ember.streaming`` list their public names
and the modules that define them; ``lazy_exports`` makes the package's
``__getattr__`` and ``__dir__`` from that table, so importing the package
imports none of those modules until a name is asked for (a worker that
unpickles a task does not pay for the driver or the log store's clients).

Imports only the standard library.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_exports(package: str, exports: dict[str, str],
                 namespace: dict[str, Any]) -> tuple[Callable[[str], Any], Callable[[], list]]:
    """``(__getattr__, __dir__)`` for ``package``, whose name ``exports[name]``
    is defined in that module; a name, once loaded, is kept in the package's
    ``namespace`` (its globals) so it is looked up only once."""
    def __getattr__(name: str) -> Any:
        module_name = exports.get(name)
        if module_name is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module_name), name)
        namespace[name] = value
        return value

    def __dir__() -> list:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
