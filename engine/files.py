"""Files shipped to the workers with ``addFile``, ``addPyFile`` and ``addArchive``.

The driver copies each file into one directory of its Context (archives are
unpacked there into a directory named after them); the workers of a local
cluster read that directory directly. ``SparkFiles.get(name)`` gives a file's
path, on the driver or in a task. Python files are made importable on every
worker: the directory is on their ``sys.path`` from the start, and a ``.zip``
or ``.egg`` is put on it when added.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import tarfile
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
        raise ValueError(f"addArchive: an archive named {name!r} was already added")
    if source.endswith((".zip", ".jar")):
        with zipfile.ZipFile(source) as archive:
            archive.extractall(target)
    else:
        with tarfile.open(source) as archive:
            if hasattr(tarfile, "data_filter"):  # refuses members that escape the target
                archive.extractall(target, filter="data")
            else:
                archive.extractall(target)
    return name
