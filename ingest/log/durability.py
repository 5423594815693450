"""The log store's file layer: positional writes, fsync, and a test-only
record of what each fsync made durable.

Every write and fsync of a segment or index file goes through here, so that
one place knows what is on disk for sure. Checkpoint and metadata files are not
written here: they go through ``ember.engine.io.fileio`` (tmp, fsync, rename,
fsync dir), which makes them whole or absent by construction.

Power-loss simulation (tests only). With ``EMBER_TRACK_FSYNC=<journal file>``
in the environment, or after :func:`track_fsyncs`, every :func:`fsync` appends
``<size>\\t<path>`` to the journal, where size is the file's length just before
the fsync began (so bytes a concurrent writer adds during the fsync are not
counted as durable), and :func:`note_created` appends ``0\\t<path>``. The
journal is written without fsync: SIGKILL keeps the page cache, which is all a
simulated power loss needs. :func:`simulate_power_loss` then cuts every file
the journal names back to its last durable size, optionally appending garbage
where bytes were lost - what a disk may hold after the power goes out (LazyFS
semantics without FUSE). Files the journal never saw (atomically written
checkpoints) are left alone. When tracking is off, :func:`fsync` costs one
comparison over ``os.fsync``.

An fsync failure is never retried here or by callers: after a failed fsync the
kernel may have dropped the dirty pages, so a later success proves nothing.

Thread-safety: safe from any thread (a journal record is one ``O_APPEND`` write).
"""

from __future__ import annotations

import os

_journal_fd: int | None = None


def track_fsyncs(journal_path: str | os.PathLike | None) -> None:
    """Start recording durable sizes into ``journal_path``; ``None`` stops."""
    global _journal_fd
    if _journal_fd is not None:
        os.close(_journal_fd)
        _journal_fd = None
    if journal_path is not None:
        _journal_fd = os.open(journal_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


def _record(size: int, path: str) -> None:
    os.write(_journal_fd, f"{size}\t{os.path.abspath(path)}\n".encode())


def fsync(fd: int, path: str) -> None:
    """``os.fsync(fd)``; with tracking on, also journal ``path``'s durable size."""
    if _journal_fd is None:
        os.fsync(fd)
        return
    size = os.fstat(fd).st_size
    os.fsync(fd)
    _record(size, path)


def note_created(path: str) -> None:
    """A new file exists; until its first fsync nothing in it is durable."""
    if _journal_fd is not None:
        _record(0, path)


def pwrite_all(fd: int, data, position: int) -> None:
    """Write all of ``data`` at ``position`` (``os.pwrite`` may write less)."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, position)
        view = view[written:]
        position += written


def durable_sizes(journal_path: str | os.PathLike) -> dict[str, int]:
    """The last durable size journaled for each path."""
    sizes: dict[str, int] = {}
    with open(journal_path, "rb") as journal:
        for line in journal:
            if not line.endswith(b"\n"):
                break  # a record cut by the kill: the fsync it belongs to may not have returned
            size, path = line[:-1].decode().split("\t", 1)
            sizes[path] = int(size)
    return sizes


def simulate_power_loss(journal_path: str | os.PathLike, garbage: bytes = b"",
                        under: str | os.PathLike | None = None) -> list[tuple[str, int, int]]:
    """Cut each journaled file back to its last durable size.

    Where bytes were lost, up to ``len(garbage)`` bytes of ``garbage`` (no more
    than were lost) are written after the durable prefix. Returns
    ``(path, size_before, durable_size)`` for every file that lost bytes.
    Files that no longer exist are skipped; with ``under``, so are files
    outside that directory (one machine of several losing its power).
    """
    prefix = None if under is None else os.path.join(os.path.abspath(under), "")
    cut = []
    for path, durable in durable_sizes(journal_path).items():
        if prefix is not None and not os.path.abspath(path).startswith(prefix):
            continue
        try:
            before = os.path.getsize(path)
        except FileNotFoundError:
            continue
        if before <= durable:
            continue
        with open(path, "r+b") as handle:
            handle.truncate(durable)
            handle.seek(durable)
            handle.write(garbage[:before - durable])
        cut.append((path, before, durable))
    return cut


if os.environ.get("EMBER_TRACK_FSYNC"):
    track_fsyncs(os.environ["EMBER_TRACK_FSYNC"])
