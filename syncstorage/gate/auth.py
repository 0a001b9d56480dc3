"""HTTP Basic authentication (spec §5.1) with a cache of verified credentials.

The password KDF is slow on purpose, so it must not run on every request.
:class:`VerifiedCredentials` remembers keyed digests of (user name, password,
stored hash) that verified.  Because the stored hash is part of the key and
the user record is read fresh for every request, a password change (new hash)
invalidates every worker's entries at once.
"""
from __future__ import annotations

import base64
import binascii
import collections
import hashlib
import hmac
import os
import threading
from typing import NamedTuple

from syncstorage.wire.errors import Throttled, Unauthorized
from syncstorage.infra.memcache import fail_open
from syncstorage.gate.passwords import has_control_characters, hash_password, needs_upgrade, verify_password
from syncstorage.gate.ratelimit import FailedLogins
from syncstorage.users.sql import User, UserDB


class Credentials(NamedTuple):
    username: str
    password: str


def parse_basic(header: str | None) -> Credentials | None:
    """Credentials from an Authorization header; None when absent; 401 when malformed."""
    if not header:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        raise Unauthorized("unsupported authentication scheme")
    try:
        raw = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise Unauthorized("malformed Basic credentials") from None
    name, sep, password = raw.partition(b":")
    if not sep:
        raise Unauthorized("malformed Basic credentials")
    try:
        credentials = Credentials(name.decode("utf-8"), password.decode("utf-8"))
    except UnicodeDecodeError:
        raise Unauthorized("credentials are not UTF-8") from None
    # No stored password holds one (passwords.strong_enough), and a trailing NUL
    # would otherwise verify like the password without it.
    if has_control_characters(credentials.username) or has_control_characters(credentials.password):
        raise Unauthorized("control characters in credentials")
    return credentials


class VerifiedCredentials:
    """A bounded LRU set of credentials that passed the KDF, per process."""

    def __init__(self, size: int = 10000):
        self.size = size
        self._secret = os.urandom(32)  # entries mean nothing outside this process
        self._entries: collections.OrderedDict[bytes, None] = collections.OrderedDict()
        self._lock = threading.Lock()

    def _key(self, username: str, password: str, stored_hash: str) -> bytes:
        message = "\0".join((username, password, stored_hash)).encode("utf-8")
        # Keyed BLAKE2b is a MAC in its own right (hashlib's "Keyed hashing"), and a fifth
        # of HMAC-SHA256's time; the key lives and dies with the process, as do the entries.
        return hashlib.blake2b(message, key=self._secret, digest_size=32).digest()

    def contains(self, username: str, password: str, stored_hash: str) -> bool:
        key = self._key(username, password, stored_hash)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return True
        return False

    def add(self, username: str, password: str, stored_hash: str) -> None:
        if self.size <= 0:
            return
        key = self._key(username, password, stored_hash)
        with self._lock:
            self._entries[key] = None
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


class SharedVerifiedCredentials:
    """Verified credentials recorded in memcached, so that the KDF runs once per
    credential change for all workers, not once per worker.

    Keys are HMAC-SHA256(secret, user name, password, stored hash): without the
    configured secret they reveal nothing, and a password change (a new stored
    hash) voids them.  The value is that digest again, and only that value counts:
    a reply meant for another key (a connection out of step) proves nothing.  Any
    memcached failure just means "not known here".
    """

    def __init__(self, client, secret: str, ttl: int = 86400):
        self.client = client
        self._secret = secret.encode("utf-8")
        self.ttl = ttl

    def _digest(self, username: str, password: str, stored_hash: str) -> str:
        message = "\0".join((username, password, stored_hash)).encode("utf-8")
        return hmac.digest(self._secret, message, "sha256").hex()

    def contains(self, username: str, password: str, stored_hash: str) -> bool:
        digest = self._digest(username, password, stored_hash)
        value = fail_open(self.client, "get", self.client.key("cred:" + digest))
        return isinstance(value, str) and hmac.compare_digest(value, digest)

    def add(self, username: str, password: str, stored_hash: str) -> None:
        digest = self._digest(username, password, stored_hash)
        fail_open(self.client, "set", self.client.key("cred:" + digest), digest, self.ttl)


class Authenticator:
    """Checks a request's Basic credentials against the user database."""

    def __init__(self, userdb: UserDB, cache: VerifiedCredentials | None = None,
                 shared: SharedVerifiedCredentials | None = None, failures: FailedLogins | None = None):
        self.userdb = userdb
        self.cache = cache if cache is not None else VerifiedCredentials()
        self.shared = shared
        self.failures = failures

    def authenticate(self, authorization: str | None, url_username: str, address: str | None = None) -> User:
        """The account named in the URL, if the header proves it; else 401."""
        credentials = parse_basic(authorization)
        if credentials is None:
            raise Unauthorized("credentials required", challenge=True)
        if credentials.username != url_username:
            raise Unauthorized("user name does not match the URL")
        user = self.userdb.get_user(credentials.username)
        if user is None or not user.active or not self.check_password(user, credentials.password, address):
            if self.failures is not None:
                self.failures.record_failure(credentials.username, address)
            raise Unauthorized("invalid credentials")
        return user

    def check_password(self, user: User, password: str, address: str | None = None) -> bool:
        """Whether ``password`` is the user's; Throttled (503) instead of running the KDF
        when a failed-login limit applies (ratelimit.py)."""
        if self.cache.contains(user.username, password, user.password_hash):
            return True
        if self.shared is not None and self.shared.contains(user.username, password, user.password_hash):
            self.cache.add(user.username, password, user.password_hash)
            return True
        if self.failures is not None:
            wait = self.failures.refused(user.username, address)
            if wait is not None:
                raise Throttled(wait)
        if not verify_password(password, user.password_hash):
            return False
        if self.failures is not None:
            self.failures.record_success(user.username, address)
        stored = user.password_hash
        if needs_upgrade(stored):
            upgraded = hash_password(password)
            if self.userdb.upgrade_password_hash(user, stored, upgraded):
                stored = upgraded
        self.cache.add(user.username, password, stored)
        if self.shared is not None:
            self.shared.add(user.username, password, stored)
        return True
