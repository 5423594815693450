"""Extra sections of the status page, contributed by other packages.

A package with something to show on a Context's status page (streaming's
batches, a log store's topics) registers a section once, at import:

    from ember.driver.ui_sections import register_section, table

    def collect(context):            # on a request thread: read, never block long
        state = getattr(context, "_streaming", None)
        if state is None:
            return None              # nothing to show for this Context: no section
        return {"batches": [[b.time, b.records] for b in state.recent()]}

    def render(data):                # data is what collect returned
        return table(["batch time", "records"], data["batches"], empty="No batches yet.")

    register_section("streaming", "Streaming", collect, render)

``collect(context)`` returns plain, JSON-able data (or None: the section is
left out); it becomes the report's entry under the section's key, so the
JSON API (``/api/status``) carries it too. ``render(data)`` returns an HTML
fragment shown under the section's title on the overview page; it must
escape every text it did not write itself (``table`` and ``escape`` do).
A section whose collect or render raises is shown as unavailable with the
error, and the rest of the page is unharmed. Sections appear in the order
they were registered.

Also here: the small HTML helpers the page and its sections share
(``escape``, ``Raw``, ``table``).

Thread-safety: register and unregister may be called from any thread; the
page reads a copy of the registry per request.
"""

from __future__ import annotations

import html
import threading
from dataclasses import dataclass
from typing import Any, Callable

# Keys of the report that sections may not take.
RESERVED = frozenset({"application", "jobs", "stages", "workers", "storage", "graph", "stage",
                      "tasks", "generated", "running", "sections", "sectionErrors"})


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    collect: Callable[[Any], Any]
    render: Callable[[Any], str]


_sections: dict[str, Section] = {}
_lock = threading.Lock()


def register_section(key: str, title: str, collect: Callable[[Any], Any],
                     render: Callable[[Any], str]) -> None:
    """Add (or replace) the section ``key`` of every Context's status page."""
    if not isinstance(key, str) or not key.isidentifier():
        raise ValueError(f"register_section: key must be an identifier such as 'streaming', "
                         f"got {key!r}")
    if key in RESERVED:
        raise ValueError(f"register_section: key {key!r} is one of the page's own entries "
                         f"({', '.join(sorted(RESERVED))}); choose another")
    if not callable(collect) or not callable(render):
        raise TypeError(f"register_section({key!r}): collect and render must be callables, got "
                        f"{type(collect).__name__} and {type(render).__name__}")
    with _lock:
        _sections[key] = Section(key, str(title), collect, render)


def unregister_section(key: str) -> None:
    with _lock:
        _sections.pop(key, None)


def sections() -> list[Section]:
    with _lock:
        return list(_sections.values())


# --- HTML helpers ----------------------------------------------------------------


class Raw:
    """HTML made by the page or a section, from escaped parts: ``table``
    puts it in a cell as it is."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text


def escape(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def cell(value: Any) -> str:
    return value.text if isinstance(value, Raw) else escape(value)


def table(headers: list[str], rows: list[list], empty: str = "None.",
          row_attributes: list[str] | None = None, css: str = "") -> str:
    """A table; with no rows, one row saying ``empty``. ``row_attributes``:
    raw attributes for each row's ``<tr>`` (made here, from escaped parts)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    if not rows:
        body = f"<tr class='empty'><td colspan='{len(headers)}'>{escape(empty)}</td></tr>"
    else:
        attributes = row_attributes or [""] * len(rows)
        body = "".join(f"<tr{(' ' + extra) if extra else ''}>"
                       + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>"
                       for row, extra in zip(rows, attributes))
    klass = f" class='{escape(css)}'" if css else ""
    return f"<table{klass}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
