"""Password hashing and verification (spec §5.3).

New passwords are stored as ``{SSCRYPT}`` + base64(scrypt(password, salt) ||
salt) with scrypt N=16384, r=8, p=1, a 64-byte digest and an 8-byte salt:
the format the reference server wrote, so its user tables import as they are.
``{SSHA-256}`` and ``{SSHA}`` rows from older servers still verify;
:func:`needs_upgrade` tells the caller to rehash them after a good login.
Comparisons are constant-time.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import unicodedata


SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_LEN = 16384, 8, 1, 64
SALT_BYTES = 8
CURRENT_SCHEME = "{SSCRYPT}"
MIN_PASSWORD_BYTES = 8


def _scrypt(password: bytes, salt: bytes) -> bytes:
    return hashlib.scrypt(password, salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=SCRYPT_LEN)


def _sha256(password: bytes, salt: bytes) -> bytes:
    return hashlib.sha256(password + salt).digest()


def _sha1(password: bytes, salt: bytes) -> bytes:
    return hashlib.sha1(password + salt).digest()


# scheme prefix -> digest function(password, salt)
SCHEMES = {"{SSCRYPT}": _scrypt, "{SSHA-256}": _sha256, "{SSHA}": _sha1}


def has_control_characters(text: str) -> bool:
    """Control characters (NUL, newlines, ...) or lone surrogates: never part of a password or name."""
    if text.isprintable():  # the common case, in C
        return False
    return any(unicodedata.category(ch) in ("Cc", "Cs") for ch in text)


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    digest = _scrypt(password.encode("utf-8"), salt)
    return CURRENT_SCHEME + base64.b64encode(digest + salt).decode("ascii")


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored`` in any known scheme."""
    for prefix, digest_fn in SCHEMES.items():
        if stored.startswith(prefix):
            break
    else:
        return False
    try:
        raw = base64.b64decode(stored[len(prefix):], validate=True)
    except (binascii.Error, ValueError):
        return False
    if len(raw) <= SALT_BYTES:
        return False
    digest, salt = raw[:-SALT_BYTES], raw[-SALT_BYTES:]
    return hmac.compare_digest(digest_fn(password.encode("utf-8"), salt), digest)


def needs_upgrade(stored: str) -> bool:
    return not stored.startswith(CURRENT_SCHEME)


def strong_enough(password: str, username: str) -> bool:
    """At least 8 UTF-8 bytes, no control characters, and not the user name (reference
    ``valid_password``).  Control characters are refused because scrypt's HMAC pads its
    key with NULs: ``"secret\\0"`` would otherwise be the same password as ``"secret"``."""
    if has_control_characters(password):
        return False
    if len(password.encode("utf-8")) < MIN_PASSWORD_BYTES:
        return False
    return password.strip().lower() != username.strip().lower()
