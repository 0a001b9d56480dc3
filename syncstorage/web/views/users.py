"""User API 1.0 handlers (spec §6): accounts, passwords, e-mail, node lookup.

Plain-text bodies are exact: no quotes, no trailing newline.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlencode

from webob import Response

from syncstorage.services.accounts import delete_account
from syncstorage.web import inputs
from syncstorage.web.rules import authenticate, authenticated
from syncstorage.wire.errors import NotFound, Throttled, WeaveErrno, WeaveError
from syncstorage.gate.passwords import hash_password, strong_enough
from syncstorage.users.nodes import configured_node_url, normalise_node_url
from syncstorage.users.names import username_from_account, valid_email, valid_username
from syncstorage.users.sql import UserExists

RESET_CODE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def text_response(body: str) -> Response:
    return Response(body=body.encode("utf-8"), content_type="text/plain", charset="utf-8")


def _captcha_ok(services, call, challenge: str | None, response: str | None) -> bool:
    """True when captcha is off, the shared secret was presented, or the answer verifies."""
    if not services.captcha.enabled:
        return True
    secret = services.settings.users.shared_secret
    presented = call.req.headers.get("X-Weave-Secret")
    if secret and presented is not None and hmac.compare_digest(presented.encode(), secret.encode()):
        return True
    return services.captcha.verify(challenge, response, call.client)


def _body(services, call) -> bytes:
    """A User API body: small (an e-mail, a password, a captcha answer), bounded before it is read."""
    return inputs.read_body(call.req, services.settings.users.max_body_bytes)


def user_exists(services, call) -> Response:
    return text_response("1" if services.userdb.get_user(call.match["username"]) else "0")


def create_user(services, call) -> Response:
    """Account creation with the ordered checks of spec §6."""
    username = call.match["username"]
    if services.userdb.get_user(username) is not None:
        raise WeaveError(WeaveErrno.CANNOT_OVERWRITE)
    try:
        data = inputs.parse_json(_body(services, call))
    except ValueError:
        raise WeaveError(WeaveErrno.JSON_PARSE_FAILURE) from None
    if not isinstance(data, dict):
        data = {}
    email = data.get("email")
    if not isinstance(email, str) or not valid_email(email):
        raise WeaveError(WeaveErrno.NO_EMAIL)
    if services.settings.users.strict_usernames:
        if username_from_account(email) != username:
            raise WeaveError(WeaveErrno.EMAIL_MISMATCH)
    elif not valid_username(username):
        raise WeaveError(WeaveErrno.INVALID_USERNAME)
    password = data.get("password")
    if not isinstance(password, str) or not password:
        raise WeaveError(WeaveErrno.MISSING_PASSWORD)
    if not strong_enough(password, username):
        raise WeaveError(WeaveErrno.WEAK_PASSWORD)
    if not _captcha_ok(services, call, data.get("captcha-challenge"), data.get("captcha-response")):
        raise WeaveError(WeaveErrno.INVALID_CAPTCHA)
    try:
        services.userdb.create_user(username, email, hash_password(password))
    except UserExists:
        raise WeaveError(WeaveErrno.CANNOT_OVERWRITE) from None
    return text_response(username)


@authenticated
def delete_user(services, call) -> Response:
    """Delete the account and everything it stored (on its node's database)."""
    delete_account(services, call.user)
    return text_response("1")


def node(services, call) -> Response:
    """The storage node of an existing user (credentials, if any, are ignored).

    With nodes in the nodes table, the user's assigned node, assigned now if it
    has none or its node is downed (``null`` when no node has room); without,
    the single node of ``[node] url``.
    """
    user = services.userdb.get_user(call.match["username"])
    if user is None:
        raise NotFound("no such user")
    if services.nodes.any():
        current = services.nodes.by_id(user.nodeid)
        if current is None or current.downed:
            current = services.userdb.assign_node(user)
        return text_response(current.url if current is not None else "null")
    if not services.settings.node.url.strip():
        return text_response("null")
    # 'auto': a single node answers with the address the client used
    return text_response(configured_node_url(services.settings.node.url) or normalise_node_url(call.req.host_url))


# -- passwords -------------------------------------------------------------------
def new_reset_code() -> str:
    return "-".join("".join(secrets.choice(RESET_CODE_ALPHABET) for _ in range(4)) for _ in range(4))


def reset_code_hash(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode("utf-8")).hexdigest()


def reset_code_matches(user, code: str, now: float) -> bool:
    if not user.reset_code_hash or not user.reset_expires or user.reset_expires < now:
        return False
    return hmac.compare_digest(reset_code_hash(code), user.reset_code_hash)


def reset_link(services, username: str, code: str) -> str | None:
    """The reset page's URL for a mail, from ``[users] public_url`` only: a link built
    from the request's Host header would send the code to whoever sent the request."""
    base = services.settings.users.public_url.strip().rstrip("/")
    if not base:
        return None
    return base + "/weave-password-reset?" + urlencode({"username": username, "key": code})


def request_password_reset(services, call) -> Response:
    """Mail a reset code to the account's address (spec §6, password_reset)."""
    params = inputs.query_params(call.req)
    if not _captcha_ok(services, call, params.get("captcha-challenge"), params.get("captcha-response")):
        raise WeaveError(WeaveErrno.INVALID_CAPTCHA)
    user = services.userdb.get_user(call.match["username"])
    if user is None:
        raise WeaveError(WeaveErrno.INVALID_USERNAME)
    if not user.email:
        raise WeaveError(WeaveErrno.NO_EMAIL)
    wait = services.reset_limits.mail_refused(user.username, call.client)
    if wait is not None:
        raise Throttled(wait)
    services.reset_limits.record_mail(user.username, call.client)
    code = new_reset_code()
    services.userdb.set_reset_code(user, reset_code_hash(code),
                              int(services.clock()) + services.settings.users.reset_code_ttl)
    link = reset_link(services, user.username, code)
    hours = services.settings.users.reset_code_ttl // 3600
    where = f"To choose a new password, open:\n{link}" if link else \
        "Enter it, with a new password, where you asked for the reset."
    services.mailer.send(user.email, "Resetting your Firefox Sync password",
                    f"Someone (hopefully you) asked to reset the Firefox Sync password of {user.username}.\n\n"
                    f"Your reset code is {code}. {where}\n\n"
                    f"The code is valid for {hours} hours. If you did not ask for this, ignore this message.\n")
    return text_response("success")


def check_reset_code(services, call, user, code: str) -> bool:
    """Whether ``code`` is the user's live reset code; Throttled (503) once too many
    wrong codes came for the account or from the client's address."""
    wait = services.reset_limits.code_refused(user.username, call.client)
    if wait is not None:
        raise Throttled(wait)
    if reset_code_matches(user, code, services.clock()):
        return True
    services.reset_limits.record_code_failure(user.username, call.client)
    return False


@authenticated
def clear_password_reset(services, call) -> Response:
    user = call.user
    params = inputs.query_params(call.req)
    if not _captcha_ok(services, call, params.get("captcha-challenge"), params.get("captcha-response")):
        raise WeaveError(WeaveErrno.INVALID_CAPTCHA)
    services.userdb.set_reset_code(user, None, None)
    return text_response("success")


def change_password(services, call) -> Response:
    """New password from the body, proven by Basic auth or by a reset code."""
    code = call.req.headers.get("X-Weave-Password-Reset")
    if code is not None:
        user = services.userdb.get_user(call.match["username"])
        if user is None:
            raise NotFound("no such user")
        if not check_reset_code(services, call, user, code):
            raise WeaveError(WeaveErrno.INVALID_RESET_CODE)
    else:
        user = authenticate(services, call)
    try:
        password = _body(services, call).decode("utf-8")
    except UnicodeDecodeError:
        raise WeaveError(WeaveErrno.WEAK_PASSWORD) from None
    if not strong_enough(password, user.username):
        raise WeaveError(WeaveErrno.WEAK_PASSWORD)
    services.userdb.set_password(user, hash_password(password))
    return text_response("success")


@authenticated
def change_email(services, call) -> Response:
    user = call.user
    try:
        email = _body(services, call).decode("utf-8").strip()
    except UnicodeDecodeError:
        raise WeaveError(WeaveErrno.NO_EMAIL) from None
    if not valid_email(email):
        raise WeaveError(WeaveErrno.NO_EMAIL)
    services.userdb.set_email(user, email)
    return text_response(email)


