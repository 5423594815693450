"""Crash-safe file writes, shared by every part of ember that persists state.

Owns one policy: a file that other code reads back after a crash is written
to a temporary name in the same directory, fsynced, renamed over the final
name, and the directory fsynced. A reader then sees the old content or the new
content, never a torn mix. Used for log-store checkpoints and metadata, shuffle
outputs (data + index), and committed task output.

An ``fsync`` failure is never retried: after a failed fsync the kernel may have
dropped the dirty pages, so a retry that succeeds proves nothing. The error
propagates and the caller must treat the directory as failed.

This module must not know what the bytes mean.
"""

from __future__ import annotations

import os
import secrets
from contextlib import contextmanager
from typing import BinaryIO, Callable, Iterator


def fsync_dir(path: str | os.PathLike) -> None:
    """Make a directory's entries (creations, renames, unlinks) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_name(path: str | os.PathLike) -> str:
    """A unique temporary name beside ``path``; same directory, so the final
    rename is atomic (same filesystem). Starts with '.' and ends with '.tmp' so
    recovery code can recognise and remove leftovers."""
    directory, name = os.path.split(os.fspath(path))
    return os.path.join(directory, f".{name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")


def is_temp_name(name: str) -> bool:
    return name.startswith(".") and name.endswith(".tmp")


@contextmanager
def atomic_writer(path: str | os.PathLike, *, durable: bool = True, mode: int = 0o644,
                  before_publish: Callable[[], None] | None = None) -> Iterator[BinaryIO]:
    """Open a temporary file to write; on a clean exit, publish it as ``path``.

    With ``durable`` (the default) the file is fsynced before the rename and
    the directory after it. Shuffle files pass ``durable=False``: they need
    atomic visibility (a reader never sees half a file) but not durability,
    since a lost shuffle file is recomputed from lineage.

    ``before_publish`` runs once the data is written (and fsynced), just
    before the rename: an exception from it (an output commit refused) aborts
    the write like any other.

    On an exception the temporary file is removed and ``path`` is untouched.
    """
    final = os.fspath(path)
    tmp = temp_name(final)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        if before_publish is not None:
            before_publish()
        os.replace(tmp, final)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if durable:
        fsync_dir(os.path.dirname(final) or ".")


def atomic_write(path: str | os.PathLike, data: bytes, *, durable: bool = True,
                 mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` atomically (see :func:`atomic_writer`)."""
    with atomic_writer(path, durable=durable, mode=mode) as handle:
        handle.write(data)
