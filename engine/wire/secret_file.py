"""A cluster's secret at rest: a file readable by its owner only.

Shared by every process that must prove it belongs to a cluster: a driver
with an ``ember://`` master and the workers that join it, and the log store's
brokers and clients. The file holds the secret as hex text on one line, mode
0600 (or stricter), written with ``engine.io.fileio`` so it is whole or absent.
A file readable by group or others, missing, or not holding at least 16 bytes
of hex is a :class:`SecretFileError` naming the file and the problem; the
secret itself never appears in a message.

Thread-safety: pure functions over the file system; safe from any thread.
"""

from __future__ import annotations

import os
import stat

from ember.engine.errors import SecretFileError
from ember.engine.io.fileio import atomic_write
from ember.engine.wire.transport import SECRET_BYTES

MIN_SECRET_BYTES = 16


def write_secret_file(path: str | os.PathLike, secret: bytes) -> None:
    atomic_write(path, secret.hex().encode() + b"\n", mode=0o600)


def read_secret_file(path: str | os.PathLike) -> bytes:
    path = os.fspath(path)
    try:
        info = os.stat(path)
        with open(path, "rb") as handle:
            text = handle.read(4 * SECRET_BYTES + 64)
    except FileNotFoundError:
        raise SecretFileError(f"secret file {path} does not exist") from None
    except OSError as error:
        raise SecretFileError(f"secret file {path} cannot be read: {error.strerror}") from None
    if stat.S_IMODE(info.st_mode) & 0o077:
        raise SecretFileError(f"secret file {path} has mode {stat.S_IMODE(info.st_mode):04o}; "
                              f"it must be readable by its owner only (chmod 600)")
    try:
        secret = bytes.fromhex(text.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        secret = b""
    if len(secret) < MIN_SECRET_BYTES:
        raise SecretFileError(f"secret file {path} does not hold a secret: expected at least "
                              f"{MIN_SECRET_BYTES} bytes written as hex on one line")
    return secret


def coerce_secret(secret: bytes | str | None, secret_file: str | os.PathLike | None) -> bytes:
    """The secret given directly (bytes, or its hex text) or through a file."""
    if secret is not None and secret_file is not None:
        raise ValueError("give either secret or secret_file, not both")
    if secret_file is not None:
        return read_secret_file(secret_file)
    if isinstance(secret, str):
        try:
            secret = bytes.fromhex(secret)
        except ValueError:
            raise SecretFileError("a secret given as text must be hex") from None
    if not isinstance(secret, (bytes, bytearray)) or len(secret) < MIN_SECRET_BYTES:
        raise SecretFileError(f"the log store's secret must be at least {MIN_SECRET_BYTES} "
                              f"bytes (or a secret_file), got "
                              f"{type(secret).__name__ if not isinstance(secret, bytes) else 'too few bytes'}")
    return bytes(secret)
