"""Operational endpoints: health."""
from __future__ import annotations

from webob import Response

from .. import metrics
from ..errors import NotFound


def heartbeat(app, call) -> Response:
    """200 with an empty body when the databases answer (spec §1.1); a backend
    failure propagates and becomes 503 + Retry-After."""
    app.storage.check()
    app.userdb.check()
    return Response(body=b"", content_type="text/plain", charset=None)


def metrics_view(app, call) -> Response:
    """Prometheus exposition of every metric, for trusted addresses only."""
    if not metrics.trusted(call.req.remote_addr, app.settings.metrics.trusted):
        raise NotFound()
    body, content_type = metrics.render()
    resp = Response(body=body, charset=None)
    resp.headers["Content-Type"] = content_type
    return resp
