"""Operational endpoints: health."""
from __future__ import annotations

from webob import Response


def heartbeat(app, call) -> Response:
    """200 with an empty body when the databases answer (spec §1.1); a backend
    failure propagates and becomes 503 + Retry-After."""
    app.storage.check()
    app.userdb.check()
    return Response(body=b"", content_type="text/plain", charset=None)
