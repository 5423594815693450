"""Files shipped to the workers with ``addFile``, ``addPyFile`` and ``addArchive``.

The driver copies each file into one directory of its Context (archives are
unpacked there into a directory named after them); the workers of a local
cluster read that directory directly. A worker on another host shares no disk
with the driver: each entry of the directory reaches it as bytes over its
authenticated driver connection (``pack_entry`` on the driver, a plain tar;
``unpack_entry`` into the worker's own files directory, refusing any member
that would land outside the entry). ``SparkFiles.get(name)`` gives a file's
path, on the driver or in a task. Python files are made importable on every
worker: the directory is on their ``sys.path`` from the start, and a ``.zip``
or ``.egg`` is put on it when added.
"""

from __future__ import annotations

import filecmp
import io
import os
import shutil
import tarfile
import tempfile
import zipfile

PACKAGE_EXTENSIONS = (".zip", ".egg", ".jar")
_ARCHIVES = (".zip", ".jar", ".tar.gz", ".tgz", ".tar")


class SparkFiles:
    """Where files added with ``addFile`` are, on the driver and in tasks.

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "lookup.txt")
    >>> with open(path, "w") as f:
    ...     _ = f.write("42")
    >>> sc.addFile(path)
    >>> sc.parallelize([1], 1).map(lambda _: open(SparkFiles.get("lookup.txt")).read()).collect()
    ['42']
    """

    _root_directory: str | None = None

    @classmethod
    def get(cls, filename: str) -> str:
        return os.path.join(cls.getRootDirectory(), filename)

    @classmethod
    def getRootDirectory(cls) -> str:
        if cls._root_directory is None:
            raise RuntimeError("SparkFiles is available only with an active Context or in a task")
        return cls._root_directory


def _local_path(path: str, method: str) -> str:
    if "://" in path and not path.startswith("file://"):
        raise ValueError(f"{method}: only local files can be added, got {path!r}")
    local = os.path.abspath(os.path.expanduser(path[len("file://"):] if path.startswith("file://") else path))
    if not os.path.exists(local):
        raise FileNotFoundError(f"{method}: {local} does not exist")
    return local


def add_file(directory: str, path: str, recursive: bool, method: str = "addFile") -> str:
    """Copy a file (or, with ``recursive``, a directory) into ``directory``;
    returns its name there. Adding the same name twice is allowed only for
    identical content."""
    source = _local_path(path, method)
    name = os.path.basename(source.rstrip(os.sep))
    target = os.path.join(directory, name)
    if os.path.isdir(source):
        if not recursive:
            raise ValueError(f"{method}: {source} is a directory and recursive is not turned on")
        if os.path.exists(target):
            raise ValueError(f"{method}: a file or directory named {name!r} was already added")
        shutil.copytree(source, target)
        return name
    if os.path.exists(target):
        if filecmp.cmp(source, target, shallow=False):
            return name
        raise ValueError(f"{method}: a different file named {name!r} was already added")
    shutil.copy2(source, target)
    return name


def add_archive(directory: str, path: str) -> str:
    """Unpack an archive into ``directory/<name>``; ``path#alias`` names it alias."""
    path, _, alias = path.partition("#")
    source = _local_path(path, "addArchive")
    if not source.endswith(_ARCHIVES):
        raise ValueError(f"addArchive: {source} is not an archive (accepted: {', '.join(_ARCHIVES)})")
    name = alias or os.path.basename(source)
    target = os.path.join(directory, name)
    if os.path.exists(target):
        # As for add_file: the same archive again is a no-op (PySpark ignores
        # a path added twice); a different one under a taken name is refused.
        with tempfile.TemporaryDirectory() as scratch:
            again = os.path.join(scratch, name)
            _unpack(source, again)
            if _same_tree(again, target):
                return name
        raise ValueError(f"addArchive: a different archive named {name!r} was already added")
    _unpack(source, target)
    return name


def _unpack(source: str, target: str) -> None:
    if source.endswith((".zip", ".jar")):
        with zipfile.ZipFile(source) as archive:
            archive.extractall(target)
    else:
        with tarfile.open(source) as archive:
            if hasattr(tarfile, "data_filter"):  # refuses members that escape the target
                archive.extractall(target, filter="data")
            else:
                archive.extractall(target)


def _same_tree(left: str, right: str) -> bool:
    """Whether two directories hold the same names with the same bytes."""
    compared = filecmp.dircmp(left, right, ignore=[])
    if compared.left_only or compared.right_only or compared.common_funny or compared.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(left, right, compared.common_files, shallow=False)
    if mismatch or errors:
        return False
    return all(_same_tree(os.path.join(left, sub), os.path.join(right, sub))
               for sub in compared.common_dirs)


def _check_name(name: str) -> None:
    if not name or name in (".", "..") or "/" in name or os.sep in name or "\0" in name:
        raise ValueError(f"a shipped file's name must be a plain file name, got {name!r}")


def pack_entry(directory: str, name: str) -> bytes:
    """The entry ``name`` of ``directory`` (a file or a whole directory), as
    an uncompressed tar whose members all start with ``name``."""
    _check_name(name)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", dereference=True) as archive:
        archive.add(os.path.join(directory, name), arcname=name)
    return buffer.getvalue()


def unpack_entry(directory: str, name: str, data: bytes) -> str:
    """Unpack what ``pack_entry`` made into ``directory``; returns the entry's
    path. A member outside ``name``, a link, or a device is refused."""
    _check_name(name)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
        members = archive.getmembers()
        for member in members:
            inside = member.name == name or member.name.startswith(name + "/")
            if not inside or ".." in member.name.split("/") or not (member.isfile() or member.isdir()):
                raise ValueError(f"shipped file {name!r}: refusing member {member.name!r}")
        if hasattr(tarfile, "data_filter"):
            archive.extractall(directory, members=members, filter="data")
        else:
            archive.extractall(directory, members=members)
    return os.path.join(directory, name)
