"""Where input and output files live: local paths, or fsspec URLs.

Owns the naming of files and the few operations ember's readers and writers
need on them: list the files a path names, a file's size, open one to read
(decompressed by its extension, ``ember.engine.io.codecs``), and, for
writers, make, test, remove and rename in an output directory.

* A local path (or a ``file:`` URL) goes straight to ``os``: nothing to
  install, and the output commit keeps its fsyncs (``fileio.atomic_writer``).
* Any other URL (``s3://``, ``gs://``, ``http(s)://``, ``memory://``, ...)
  goes through fsspec, imported only when such a path appears (ember's
  ``etl`` extra installs it, with ``s3fs`` for S3). Credentials and endpoints
  come from fsspec's own configuration (``~/.config/fsspec/*.json`` or the
  ``FSSPEC_<PROTOCOL>`` environment variables), which worker processes
  inherit from the driver's environment. Names handed to tasks keep their
  protocol, so a worker opens what the driver listed.

Listing rules (the same for both): a path is a file, a directory (its files
whose names do not start with ``_`` or ``.``), a glob, or a comma-separated
list of those, in a stable order; a missing one is a FileNotFoundError
naming it.

Must not know: splits, records, formats, the commit protocol's policy.
"""

from __future__ import annotations

import glob
import os
from typing import Any, BinaryIO

from ember.engine.io import codecs

REMOTE_BLOCK_SIZE = 4 * 2**20  # read-ahead of one remote file: bounded, whatever the library's default


def is_remote(path: str) -> bool:
    """True for a URL with a scheme other than ``file:``."""
    scheme, separator, _ = path.partition("://")
    return bool(separator) and scheme.lower() != "file" and "/" not in scheme


def local_path(path: str) -> str:
    """An absolute local path from a path or a ``file:`` URL."""
    if path.startswith("file://"):
        path = path[len("file://"):]
    elif path.startswith("file:"):
        path = path[len("file:"):]
    return os.path.abspath(os.path.expanduser(path))


def remote(url: str) -> tuple[Any, str]:
    """(fsspec filesystem, path within it) for a URL."""
    try:
        import fsspec.core
    except ImportError as error:
        raise ImportError(f"{url}: remote paths need the 'fsspec' package (pip install fsspec, "
                          f"or ember's 'etl' extra)") from error
    return fsspec.core.url_to_fs(url)


def _hidden(name: str) -> bool:
    return os.path.basename(name.rstrip("/")).startswith(("_", "."))


def _visible_local(directory: str) -> list[str]:
    return sorted(os.path.join(directory, name) for name in os.listdir(directory)
                  if not _hidden(name) and os.path.isfile(os.path.join(directory, name)))


def _list_local(part: str) -> list[str]:
    part = local_path(part)
    if glob.has_magic(part):
        matches = sorted(glob.glob(part))
        if not matches:
            raise FileNotFoundError(f"Input pattern {part} matches 0 files")
        files: list[str] = []
        for match in matches:
            files.extend(_visible_local(match) if os.path.isdir(match) else [match])
        return files
    if os.path.isdir(part):
        return _visible_local(part)
    if os.path.isfile(part):
        return [part]
    raise FileNotFoundError(f"Input path does not exist: {part}")


def _list_remote(url: str) -> list[str]:
    fs, path = remote(url)
    fs.invalidate_cache()  # a listing cached before a write would hide its files

    def files_in(directory: str) -> list[str]:
        return sorted(entry["name"] for entry in fs.ls(directory, detail=True)
                      if entry["type"] == "file" and not _hidden(entry["name"]))

    if glob.has_magic(path):
        matches = sorted(fs.glob(path))
        if not matches:
            raise FileNotFoundError(f"Input pattern {url} matches 0 files")
        found: list[str] = []
        for match in matches:
            found.extend(files_in(match) if fs.isdir(match) else [match])
    elif fs.isdir(path):
        found = files_in(path)
    elif fs.isfile(path):
        found = [path]
    else:
        raise FileNotFoundError(f"Input path does not exist: {url}")
    return [fs.unstrip_protocol(name) for name in found]


def list_files(path: str) -> list[str]:
    """Every file named by ``path`` (see the module docstring), in a stable order."""
    if not isinstance(path, str) or not path.strip():
        raise ValueError(f"path must be a non-empty string, got {path!r}")
    files: list[str] = []
    for part in path.split(","):
        part = part.strip()
        files.extend(_list_remote(part) if is_remote(part) else _list_local(part))
    return files


def file_sizes(files: list[str]) -> list[int]:
    sizes = []
    for name in files:
        if is_remote(name):
            fs, path = remote(name)
            sizes.append(int(fs.size(path) or 0))
        else:
            sizes.append(os.path.getsize(name))
    return sizes


def open_raw(name: str) -> BinaryIO:
    """``name``'s bytes as stored (seekable), to read."""
    if is_remote(name):
        fs, path = remote(name)
        return fs.open(path, "rb", block_size=REMOTE_BLOCK_SIZE)
    return open(local_path(name), "rb")


class _Decompressed:
    """A decompressing reader that also closes the raw stream beneath it."""

    def __init__(self, raw: BinaryIO, stream: BinaryIO):
        self._raw = raw
        self._stream = stream
        self.read = stream.read
        self.readline = stream.readline

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            self._raw.close()

    def __enter__(self) -> "_Decompressed":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __iter__(self):
        return iter(self._stream)


def open_input(name: str) -> BinaryIO:
    """``name``'s content to read, decompressed by its extension."""
    codec = codecs.codec_of(name)
    raw = open_raw(name)
    if codec is None:
        return raw
    try:
        return _Decompressed(raw, codecs.decompressing(raw, codec))  # type: ignore[return-value]
    except BaseException:
        raw.close()
        raise


def uri(name: str) -> str:
    """How a file is named in records (``wholeTextFiles``' keys): a ``file:``
    URI for a local file, the URL itself for a remote one."""
    return name if is_remote(name) else "file:" + name


# --- output directories ------------------------------------------------------------

def output_location(path: str) -> str:
    """An output directory as it is kept: absolute local path, or the URL."""
    if not isinstance(path, str) or not path.strip():
        raise ValueError(f"output path must be a non-empty string, got {path!r}")
    return path.rstrip("/") if is_remote(path) else local_path(path)


def join(directory: str, name: str) -> str:
    return f"{directory}/{name}" if is_remote(directory) else os.path.join(directory, name)


def exists(path: str) -> bool:
    if is_remote(path):
        fs, inner = remote(path)
        fs.invalidate_cache()
        return fs.exists(inner)
    return os.path.exists(path)


def makedirs(path: str) -> None:
    if is_remote(path):
        fs, inner = remote(path)
        fs.makedirs(inner, exist_ok=True)
    else:
        os.makedirs(path, exist_ok=True)


def remove_tree(path: str) -> None:
    if is_remote(path):
        fs, inner = remote(path)
        if fs.exists(inner):
            fs.rm(inner, recursive=True)
        fs.invalidate_cache()
    else:
        import shutil

        shutil.rmtree(path, ignore_errors=False) if os.path.isdir(path) else os.unlink(path)


def names_in(directory: str) -> list[str]:
    """The names (not paths) of the files directly in an output directory."""
    if is_remote(directory):
        fs, inner = remote(directory)
        fs.invalidate_cache()
        if not fs.exists(inner):
            return []
        return [entry.rstrip("/").rsplit("/", 1)[-1] for entry in fs.ls(inner, detail=False)]
    return os.listdir(directory) if os.path.isdir(directory) else []


def remove(path: str) -> None:
    """Remove one file; a file already gone is fine (another cleaner won)."""
    try:
        if is_remote(path):
            fs, inner = remote(path)
            fs.rm(inner)
        else:
            os.unlink(path)
    except FileNotFoundError:
        pass


def open_remote_output(path: str) -> BinaryIO:
    fs, inner = remote(path)
    return fs.open(inner, "wb")


def rename_remote(source: str, target: str) -> None:
    fs, inner_source = remote(source)
    _, inner_target = remote(target)
    fs.mv(inner_source, inner_target)
