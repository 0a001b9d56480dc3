"""Password hashing and verification (spec §5.3).

New passwords are stored as ``{SSCRYPT}`` + base64(scrypt(password, salt) ||
salt) with scrypt N=16384, r=8, p=1, a 64-byte digest and an 8-byte salt:
the format the reference server wrote, so its user tables import as they are.
``{SSHA-256}`` and ``{SSHA}`` rows from older servers still verify, and so do
the schemes of the Sync 1.1 servers accounts are imported from (services/imports):
``{WEAVE-MINIMAL}`` (weave-minimal's 16 hex digits of SHA-1 over its fixed salt
and the password), ``{MD5}`` (FSyncMS: unsalted MD5, hex) and ``{BCRYPT}``
(FSyncMS with bcrypt on: a crypt(3) ``$2a$`` string).  Those are weak, which is
why :func:`needs_upgrade` tells the caller to rehash every legacy hash with the
current KDF after the first good login.  Comparisons are constant-time.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
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

# weave-minimal's salt: the Python source text r'\x14Q...' (backslashes and all), not bytes
WEAVE_MINIMAL_SALT = r"\x14Q\xd4JbDk\x1bN\x84J\xd0\x05\x8a\x1b\x8b\xa6&V\x1b\xc5\x91\x97\xc4"
BCRYPT_MAX_BYTES = 72  # crypt(3) reads no further; bcrypt >= 5 refuses longer input instead


def _weave_minimal(password: str) -> str:
    return hashlib.sha1((WEAVE_MINIMAL_SALT + password).encode("utf-8")).hexdigest()[:16]


def _md5(password: str) -> str:
    return hashlib.md5(password.encode("utf-8")).hexdigest()


def _bcrypt_matches(password: str, stored: str) -> bool:
    import bcrypt  # only imported accounts need it

    try:
        return bcrypt.checkpw(password.encode("utf-8")[:BCRYPT_MAX_BYTES], stored.encode("ascii"))
    except (ValueError, UnicodeEncodeError):  # not a bcrypt string
        return False


# scheme prefix -> (pattern of what follows it, hex digest function(password)) of the imported schemes
HEX_SCHEMES = {"{WEAVE-MINIMAL}": (re.compile(r"[0-9a-f]{16}"), _weave_minimal),
               "{MD5}": (re.compile(r"[0-9a-f]{32}"), _md5)}
BCRYPT_SCHEME = "{BCRYPT}"
BCRYPT_RE = re.compile(r"\$2[abxy]?\$[0-9]{2}\$[./A-Za-z0-9]{53}")


def legacy_hash(scheme: str, value: str) -> str | None:
    """The stored form of a hash imported from another server (``scheme`` one of
    ``{WEAVE-MINIMAL}``, ``{MD5}``, ``{BCRYPT}``), or None if ``value`` is not one."""
    value = value.strip()
    if scheme in HEX_SCHEMES:
        value = value.lower()
        return scheme + value if HEX_SCHEMES[scheme][0].fullmatch(value) else None
    if scheme == BCRYPT_SCHEME:
        return scheme + value if BCRYPT_RE.fullmatch(value) else None
    raise ValueError(f"unknown password scheme {scheme}")


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
    for prefix, (pattern, hex_fn) in HEX_SCHEMES.items():
        if stored.startswith(prefix):
            value = stored[len(prefix):]
            return pattern.fullmatch(value) is not None and hmac.compare_digest(hex_fn(password), value)
    if stored.startswith(BCRYPT_SCHEME):
        value = stored[len(BCRYPT_SCHEME):]
        return BCRYPT_RE.fullmatch(value) is not None and _bcrypt_matches(password, value)
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
