"""Weave error numbers and the HTTP errors that carry them.

One class per kind of answer; handlers raise them and the application turns
them into responses (:meth:`HTTPError.response`).  Bodies follow spec §1.5:
a Weave errno is sent as a bare JSON integer; 503s carry Retry-After and
X-Weave-Backoff with integer seconds.
"""
from __future__ import annotations

import enum
import json

from webob import Response


class WeaveErrno(enum.IntEnum):
    """Weave response codes (spec §1.5), the body of a 400."""

    ILLEGAL_METHOD = 1
    INVALID_CAPTCHA = 2
    INVALID_USERNAME = 3
    CANNOT_OVERWRITE = 4
    USERID_MISMATCH = 5
    JSON_PARSE_FAILURE = 6
    MISSING_PASSWORD = 7
    INVALID_WBO = 8
    WEAK_PASSWORD = 9
    INVALID_RESET_CODE = 10
    UNSUPPORTED_FUNCTION = 11
    NO_EMAIL = 12
    INVALID_COLLECTION = 13
    OVER_QUOTA = 14
    EMAIL_MISMATCH = 15


class HTTPError(Exception):
    """An error answer.  ``body`` is text; ``content_type`` says what it is."""

    status = 500
    content_type = "text/plain"

    def __init__(self, body: str = "", headers: dict[str, str] | None = None):
        super().__init__(body or self.__class__.__name__)
        self.body = body
        self.headers = dict(headers or {})

    def response(self) -> Response:
        resp = Response(status=self.status, body=self.body.encode("utf-8"),
                        content_type=self.content_type, charset="utf-8" if self.content_type.startswith("text/") else None)
        for name, value in self.headers.items():
            resp.headers[name] = value
        return resp


class WeaveError(HTTPError):
    """400 whose body is a Weave errno as a bare JSON integer, e.g. ``14``."""

    status = 400
    content_type = "application/json"

    def __init__(self, errno: WeaveErrno):
        super().__init__(str(int(errno)))
        self.errno = WeaveErrno(errno)


class BadParameter(HTTPError):
    """400 without a Weave code: a query parameter or header has a bad value."""

    status = 400


class Unauthorized(HTTPError):
    """401.  ``challenge`` adds WWW-Authenticate (only when no credentials were sent)."""

    status = 401

    def __init__(self, body: str = "Unauthorized", challenge: bool = False):
        super().__init__(body, {"WWW-Authenticate": 'Basic realm="Sync"'} if challenge else None)


class NotFound(HTTPError):
    """404: no route, no such item, no such user."""

    status = 404

    def __init__(self, body: str = "Not Found"):
        super().__init__(body)


class PayloadTooLarge(HTTPError):
    """413: a body over the route's limit, refused before it is read.

    The spec's clients never send one: the limits sit above every valid body, so
    this only answers abuse."""

    status = 413

    def __init__(self, limit: int):
        super().__init__(f"request body over {limit} bytes")


class MethodNotAllowed(HTTPError):
    """405: the path exists but not for this method; lists the ones that do."""

    status = 405

    def __init__(self, allowed):
        super().__init__("Method Not Allowed", {"Allow": ", ".join(sorted(allowed))})


class PreconditionFailed(HTTPError):
    """412: the collection changed after X-If-Unmodified-Since."""

    status = 412

    def __init__(self, body: str = "Precondition Failed"):
        super().__init__(body)


class ServiceUnavailable(HTTPError):
    """503 with Retry-After and X-Weave-Backoff, for any backend failure.

    The body is a JSON string naming the problem (and a crash id when one
    was logged), as the reference server sent.
    """

    status = 503
    content_type = "application/json"

    def __init__(self, message: str, retry_after: int):
        super().__init__(json.dumps(message),
                         {"Retry-After": str(int(retry_after)), "X-Weave-Backoff": str(int(retry_after))})


class Throttled(ServiceUnavailable):
    """503 for an attempt refused by an abuse limit (ratelimit.py): clients retry a
    503 later, where a 401 would tell them their password is wrong."""

    def __init__(self, retry_after: int):
        super().__init__("server issue: too many attempts, retry later", retry_after)


class InternalError(HTTPError):
    """500 for an unexpected exception; the body names the logged crash id."""

    status = 500
    content_type = "application/json"

    def __init__(self, crash_id: str):
        super().__init__(json.dumps(f"application error: crash id {crash_id}"))


class NodeUnavailable(HTTPError):
    """503 for an operator-set node state (spec §3.14): a plain-text reason such as
    ``server issue: database marked as down``, Retry-After and X-Weave-Backoff."""

    status = 503

    def __init__(self, reason: str, retry_after: int):
        super().__init__(reason, {"Retry-After": str(int(retry_after)), "X-Weave-Backoff": str(int(retry_after))})


class Overloaded(ServiceUnavailable):
    """503 for a request refused because the worker is saturated (admission control)."""

    def __init__(self, retry_after: int):
        super().__init__("server issue: too busy, retry later", retry_after)
