"""Reader and writer options: Spark's names (matched case-insensitively, as
Spark's ``CaseInsensitiveMap`` does), their defaults, and their values given
as Python values or as Spark's strings (``"true"``, ``"4"``).

Each format declares the options it takes; an option it does not take is a
ValueError naming it and listing the accepted ones, so a misspelt option
never silently does nothing.

Must not know: what an option does.
"""

from __future__ import annotations

from typing import Any


def as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "false"):
        return text == "true"
    raise ValueError(f"option {name} must be true or false, got {value!r}")


def as_int(name: str, value: Any) -> int:
    try:
        if isinstance(value, bool):
            raise ValueError
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"option {name} must be an integer, got {value!r}") from None


class Options:
    """The options given to one read or write, by lower-cased name."""

    def __init__(self, method: str, accepted: dict[str, Any], given: dict[str, Any]):
        self.method = method
        self.names = {name.lower(): name for name in accepted}
        self.defaults = {name.lower(): default for name, default in accepted.items()}
        self.values: dict[str, Any] = {}
        for name, value in given.items():
            if value is None:
                continue
            key = str(name).lower()
            if key not in self.names:
                raise ValueError(f"{method}: unknown option {name!r}; accepted: "
                                 f"{', '.join(sorted(self.names.values()))}")
            self.values[key] = value

    def get(self, name: str) -> Any:
        key = name.lower()
        return self.values.get(key, self.defaults[key])

    def bool(self, name: str) -> bool:
        return as_bool(self.names[name.lower()], self.get(name))

    def int(self, name: str) -> int:
        return as_int(self.names[name.lower()], self.get(name))

    def str(self, name: str) -> Any:
        value = self.get(name)
        return None if value is None else str(value)
