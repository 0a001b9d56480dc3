"""User names and e-mail addresses (spec §5.2)."""
from __future__ import annotations

import base64
import hashlib
import re

USERNAME_RE = re.compile(r"[A-Za-z0-9._-]{1,32}")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_EMAIL = 255


def username_from_account(account: str) -> str:
    """The user name every client derives from an account string (e-mail)."""
    lowered = account.lower()
    if re.fullmatch(r"[A-Za-z0-9._-]+", lowered):
        return lowered
    digest = hashlib.sha1(lowered.encode("utf-8")).digest()
    return base64.b32encode(digest).decode("ascii").lower()


def valid_username(name: str) -> bool:
    """What a stored user name can be; anything else names no account (and is never sent to a database)."""
    return USERNAME_RE.fullmatch(name) is not None


def valid_email(address: str) -> bool:
    return len(address) <= MAX_EMAIL and bool(EMAIL_RE.match(address))
