"""The WSGI application: a thin pipeline over the services (services/root.py).

Every request: queue time (from our proxy only) -> admission control (503 at
once past the bound, X-Weave-Backoff under pressure) -> the operator's node
state -> routing (no matching path: 404; path but not the method: 405) -> the
handler, which authenticates (401) before it validates anything
(rules.authenticated).  Every response carries X-Weave-Timestamp.  A backend
failure becomes 503 with Retry-After and X-Weave-Backoff; any other exception
becomes 500 with a crash id that is also logged.  One JSON line per request
and the request metrics close it.
"""
from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from webob import Request, Response

from syncstorage.gate import nodestatus
from syncstorage.gate.overload import BACKOFF_SENT, SHED
from syncstorage.infra.config import Settings, load_settings
from syncstorage.infra.dbengine import BackendError
from syncstorage.infra.logs import log_request
from syncstorage.infra.memcache import clear_prefetched
from syncstorage.infra.metrics import observe_queue, observe_request
from syncstorage.services.root import Services, build_services
from syncstorage.web.call import Call
from syncstorage.web.routes import HANDLERS, ROLES, build_mapper
from syncstorage.web.rules import own_node
from syncstorage.wire import timestamps
from syncstorage.wire.errors import (HTTPError, InternalError, MethodNotAllowed, NodeUnavailable, NotFound,
                                     Overloaded, ServiceUnavailable)

log = logging.getLogger("syncstorage")

STATUS_EXEMPT = frozenset({"/__metrics__", "/__version__"})  # operators keep their view during an incident
NEVER_SHED = frozenset({"/__heartbeat__", "/__lbheartbeat__", "/__version__", "/__metrics__"})


class SyncApp:
    """The Sync server as one WSGI callable over ``services``."""

    def __init__(self, services: Services):
        self.services = services
        self.mapper = build_mapper(services.settings.node.role)

    def __call__(self, environ: dict[str, Any], start_response):
        s = self.services
        started = time.perf_counter()
        # Only our proxy's clock counts: anyone else could claim a long wait and so
        # raise everyone's X-Weave-Backoff.
        request_start = environ.get("HTTP_X_REQUEST_START")
        waited = observe_queue(request_start, time.time()) \
            if request_start and s.addresses.is_proxy(environ.get("REMOTE_ADDR")) else None
        if waited is not None:
            s.signals.observe_queue(waited)
        # The undecoded path: enough for the checks below and for logs, and it
        # cannot fail (decoding is dispatch's job, which answers 404 for non-UTF-8).
        raw_path = environ.get("PATH_INFO", "")
        req = Request(environ)
        call = Call(req=req, ts=timestamps.now_centis(s.clock), match={}, client=s.addresses.of(environ))
        admitted = False
        crash_id = None
        try:
            if raw_path not in NEVER_SHED:
                if s.admission.too_late(waited) or not s.admission.enter():
                    SHED.inc()
                    raise Overloaded(s.settings.overload.shed_retry_after)
                admitted = True
                backoff = s.admission.backoff(s.admission.in_flight)
                if backoff is not None:
                    BACKOFF_SENT.inc()
                    call.headers["X-Weave-Backoff"] = str(backoff)
            self.apply_node_status(call, raw_path)
            response = self.dispatch(call)
        except HTTPError as error:
            response = error.response()
        except BackendError as error:
            crash_id = uuid.uuid4().hex
            log.error("backend unavailable (crash id %s) on %s %r: %s", crash_id, req.method, raw_path, error)
            response = ServiceUnavailable(f"server issue: backend unavailable (crash id {crash_id})",
                                          s.settings.storage.retry_after).response()
        except Exception:
            crash_id = uuid.uuid4().hex
            log.exception("unexpected error (crash id %s) on %s %r", crash_id, req.method, raw_path)
            response = InternalError(crash_id).response()
        finally:
            clear_prefetched()
            if admitted:
                s.admission.leave()
        if call.headers:
            response.headers.update(call.headers)
        # Only here is X-Weave-Timestamp set, so it goes straight onto the list; the
        # headers view would compare every header's lower-cased name first.
        headerlist = response.headerlist
        headerlist.append(("X-Weave-Timestamp", timestamps.render(call.ts)))
        backoff = None  # for the log line: ours, or the error response's
        for name, value in headerlist:
            if name == "X-Weave-Backoff":  # the one spelling this server writes
                backoff = value
        seconds = time.perf_counter() - started
        route = call.route or "unmatched"
        status = response.status_code
        observe_request(route, req.method, status, seconds)
        errno = response.text if status == 400 and response.content_type == "application/json" else None
        log_request(method=req.method, route=route, status=status, seconds=seconds,
                    userid=call.user.userid if call.user else None, errno=errno,
                    backoff=backoff, crash_id=crash_id)
        return response(environ, start_response)

    def apply_node_status(self, call: Call, raw_path: str) -> None:
        """Refuse (503) or slow down (X-Weave-Backoff) per the operator's node state
        and, on a checking node, the backoff its row of the nodes table asks for."""
        if raw_path in STATUS_EXEMPT:
            return
        s = self.services
        if s.node_status is not None:
            effect = nodestatus.parse(s.node_status.get(), s.settings.storage.retry_after)
            if effect.refuse:
                raise NodeUnavailable(effect.refuse, s.settings.storage.retry_after)
            if effect.backoff is not None:
                call.add_backoff(effect.backoff)
        if s.checks_node:
            own = own_node(s, call)
            if own is not None and own.backoff > 0:
                call.add_backoff(own.backoff)

    def dispatch(self, call: Call) -> Response:
        req = call.req
        try:
            path = req.path_info
        except UnicodeDecodeError:
            raise NotFound("path is not UTF-8") from None
        path = path.rstrip("/") or "/"
        match = self.mapper.match(path)
        if match is None:
            raise NotFound()
        call.route = match.pop("route")
        call.role = ROLES[call.route]
        call.match = match
        methods = HANDLERS[call.route]
        handler = methods.get(req.method)
        if handler is None:
            raise MethodNotAllowed(methods)
        return handler(self.services, call)


def make_app(settings: Settings | None = None, **parts: Any) -> SyncApp:
    """The application over services built from ``settings``; ``parts`` replace the
    services of those names (see services.root.build_services)."""
    return SyncApp(build_services(settings or load_settings(), **parts))


def paste_app_factory(global_conf: dict, **local_conf: Any) -> SyncApp:
    """PasteDeploy entry point (``use = egg:syncstorage``): settings from the same ini file."""
    from syncstorage.infra.logs import configure_logging

    configure_logging()
    return make_app(load_settings(global_conf.get("__file__")))
