"""Operational endpoints: health."""
from __future__ import annotations

import json
import os
import subprocess
from functools import lru_cache
from pathlib import Path

from webob import Response

from .. import __version__, metrics
from ..errors import NotFound, Overloaded


def heartbeat(app, call) -> Response:
    """200 with an empty body when the databases answer (spec §1.1); a backend
    failure propagates and becomes 503 + Retry-After."""
    if app.storage is not None:
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


def lbheartbeat(app, call) -> Response:
    """For the load balancer: 200 while this worker can take requests, 503 when saturated."""
    if app.admission.saturated:
        raise Overloaded(app.settings.overload.shed_retry_after)
    return Response(body=b"{}", content_type="application/json", charset=None)


@lru_cache(maxsize=1)
def source_commit() -> str:
    """The deployed commit: $SYNCSTORAGE_COMMIT, else the checkout's HEAD, else 'unknown'."""
    if os.environ.get("SYNCSTORAGE_COMMIT"):
        return os.environ["SYNCSTORAGE_COMMIT"]
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True,
                              text=True, timeout=5, check=True).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def version(app, call) -> Response:
    body = json.dumps({"name": "syncstorage", "version": __version__, "commit": source_commit()})
    return Response(body=body.encode(), content_type="application/json", charset=None)
