"""SASL for the Kafka listener: SCRAM-SHA-256, SCRAM-SHA-512 (RFC 5802,
RFC 7677) and PLAIN (RFC 4616), and the users file they check against.

Users file (``<log dir>/kafka-users.json``, mode 0600, replaced atomically)::

    {"version": 1, "users": {NAME: {"SCRAM-SHA-256": {"salt": B64,
        "iterations": 4096, "stored_key": B64, "server_key": B64},
        "SCRAM-SHA-512": {...}}}}

Only what SCRAM requires is stored: a random salt per user and mechanism,
StoredKey = H(HMAC(SaltedPassword, "Client Key")) and ServerKey =
HMAC(SaltedPassword, "Server Key"); never the password. PLAIN is checked by
deriving StoredKey from the password sent and the SCRAM-SHA-256 salt. The
broker rereads the file when it changed, so ``ember logstore users add``
takes effect at the next login. An unknown user gets a made-up salt and
fails at the proof, as a known user with a wrong password does (no user
enumeration).

What it must not know: sockets and the Kafka messages around the tokens.

Thread-safety: a ``UserStore`` is thread-safe; a ``ScramServer`` or
``PlainServer`` belongs to one connection.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading

from ember.engine.errors import AuthenticationError, ConfigError
from ember.engine.io.fileio import atomic_write

USERS_FILE = "kafka-users.json"
SCRAM_MECHANISMS = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}
MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN")
ITERATIONS = 4096  # Kafka's default and minimum


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def scram_credential(password: str, digest: str, *, salt: bytes | None = None,
                     iterations: int = ITERATIONS) -> dict:
    salt = secrets.token_bytes(32) if salt is None else salt
    salted = hashlib.pbkdf2_hmac(digest, password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", digest).digest()
    return {"salt": _b64(salt), "iterations": iterations,
            "stored_key": _b64(hashlib.new(digest, client_key).digest()),
            "server_key": _b64(hmac.new(salted, b"Server Key", digest).digest())}


class UserStore:
    def __init__(self, directory: str):
        self.path = os.path.join(directory, USERS_FILE)
        self._lock = threading.Lock()
        self._stamp: tuple | None = None
        self._users: dict = {}

    def _load(self) -> dict:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return {}
        stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        with self._lock:
            if stamp != self._stamp:
                with open(self.path, "rb") as handle:
                    self._users = json.loads(handle.read())["users"]
                self._stamp = stamp
            return self._users

    def names(self) -> list[str]:
        return sorted(self._load())

    def credential(self, user: str, mechanism: str) -> dict | None:
        return self._load().get(user, {}).get(mechanism)

    def add(self, user: str, password: str) -> None:
        if not user or "," in user or "=" in user:
            raise ConfigError(f"user name {user!r}: expected a non-empty name without ',' or '='")
        if not password:
            raise ConfigError(f"user {user!r}: the password is empty")
        users = dict(self._load())
        users[user] = {mechanism: scram_credential(password, digest)
                       for mechanism, digest in SCRAM_MECHANISMS.items()}
        self._write(users)

    def remove(self, user: str) -> bool:
        users = dict(self._load())
        if users.pop(user, None) is None:
            return False
        self._write(users)
        return True

    def _write(self, users: dict) -> None:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        atomic_write(self.path, json.dumps({"version": 1, "users": users}).encode())
        os.chmod(self.path, 0o600)


def _attributes(message: str) -> dict[str, str]:
    out = {}
    for part in message.split(","):
        if len(part) < 2 or part[1] != "=":
            raise AuthenticationError(f"malformed SCRAM message part {part[:40]!r}")
        out[part[0]] = part[2:]
    return out


class ScramServer:
    """One SCRAM exchange: ``step(client bytes) -> (server bytes, done)``;
    ``user`` is set once it succeeded. Raises AuthenticationError."""

    def __init__(self, mechanism: str, users: UserStore):
        self.mechanism = mechanism
        self.digest = SCRAM_MECHANISMS[mechanism]
        self.users = users
        self.user: str | None = None
        self._state = "first"

    def step(self, data: bytes) -> tuple[bytes, bool]:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise AuthenticationError("a SCRAM message is not UTF-8") from None
        if self._state == "first":
            return self._first(text), False
        if self._state == "final":
            return self._final(text), True
        raise AuthenticationError("SCRAM exchange already finished")

    def _first(self, text: str) -> bytes:
        parts = text.split(",", 2)
        if len(parts) != 3 or parts[0] not in ("n", "y") or parts[0] == "p":
            raise AuthenticationError("SCRAM client-first-message: channel binding is not "
                                      "supported; expected the 'n,,' header")
        self._gs2 = parts[0] + "," + parts[1] + ","
        self._client_first_bare = parts[2]
        attrs = _attributes(parts[2])
        if "n" not in attrs or "r" not in attrs:
            raise AuthenticationError("SCRAM client-first-message lacks the user or nonce")
        self._name = attrs["n"].replace("=2C", ",").replace("=3D", "=")
        credential = self.users.credential(self._name, self.mechanism)
        if credential is None:  # go on with made-up values: fail at the proof
            credential = scram_credential(secrets.token_hex(16), self.digest)
            credential["stored_key"] = _b64(secrets.token_bytes(len(hashlib.new(self.digest).digest())))
        self._credential = credential
        self._nonce = attrs["r"] + secrets.token_urlsafe(24)
        self._server_first = (f"r={self._nonce},s={credential['salt']},"
                              f"i={credential['iterations']}")
        self._state = "final"
        return self._server_first.encode()

    def _final(self, text: str) -> bytes:
        self._state = "done"
        without_proof, _, proof_part = text.rpartition(",p=")
        attrs = _attributes(without_proof)
        # Kafka's brokers accept a nonce that ends with the server's (rather
        # than equals it), and librdkafka before 2.1 sends the client nonce twice.
        if not attrs.get("r", "").endswith(self._nonce):
            raise AuthenticationError("SCRAM client-final-message: nonce mismatch")
        if base64.b64decode(attrs.get("c", "")) != self._gs2.encode():
            raise AuthenticationError("SCRAM client-final-message: channel binding mismatch")
        auth_message = f"{self._client_first_bare},{self._server_first},{without_proof}".encode()
        stored_key = base64.b64decode(self._credential["stored_key"])
        try:
            proof = base64.b64decode(proof_part, validate=True)
        except ValueError:
            raise AuthenticationError("SCRAM client proof is not base64") from None
        signature = hmac.new(stored_key, auth_message, self.digest).digest()
        if len(proof) != len(signature):
            raise AuthenticationError(f"authentication failed for user {self._name!r}: "
                                      f"invalid credentials with {self.mechanism}")
        client_key = bytes(a ^ b for a, b in zip(proof, signature))
        if not hmac.compare_digest(hashlib.new(self.digest, client_key).digest(), stored_key):
            raise AuthenticationError(f"authentication failed for user {self._name!r}: "
                                      f"invalid credentials with {self.mechanism}")
        server_key = base64.b64decode(self._credential["server_key"])
        self.user = self._name
        return b"v=" + base64.b64encode(hmac.new(server_key, auth_message, self.digest).digest())


class PlainServer:
    """PLAIN: one message ``authzid NUL user NUL password``."""

    mechanism = "PLAIN"

    def __init__(self, users: UserStore):
        self.users = users
        self.user: str | None = None

    def step(self, data: bytes) -> tuple[bytes, bool]:
        parts = data.split(b"\x00")
        if len(parts) != 3:
            raise AuthenticationError("malformed PLAIN message: expected authzid NUL user NUL "
                                      "password")
        try:
            authzid, name, password = (part.decode("utf-8") for part in parts)
        except UnicodeDecodeError:
            raise AuthenticationError("a PLAIN message is not UTF-8") from None
        if authzid and authzid != name:
            raise AuthenticationError(f"PLAIN: user {name!r} may not act as {authzid!r}")
        credential = self.users.credential(name, "SCRAM-SHA-256")
        ok = False
        if credential is not None:
            derived = scram_credential(password, "sha256",
                                       salt=base64.b64decode(credential["salt"]),
                                       iterations=credential["iterations"])
            ok = hmac.compare_digest(derived["stored_key"], credential["stored_key"])
        if not ok:
            raise AuthenticationError(f"authentication failed for user {name!r}: invalid "
                                      f"credentials with PLAIN")
        self.user = name
        return b"", True


def server_for(mechanism: str, users: UserStore):
    if mechanism in SCRAM_MECHANISMS:
        return ScramServer(mechanism, users)
    if mechanism == "PLAIN":
        return PlainServer(users)
    raise KeyError(mechanism)
