"""The URL space (spec §1.1): every route, its role and its handlers.

A server answers the routes of its ``[node] role`` (and ``ops`` always); the
others are 404 like any unknown path.  Handlers take ``(services, call)``.
"""
from __future__ import annotations

from typing import Callable

from routes import Mapper

from syncstorage.web.views import ops, pages, storage as storage_views, users as user_views
from syncstorage.wire.wbo import NAME

API = r"1\.0|1|1\.1"
USER_API = r"1\.0|1"

# name, path template, role (ops = every role), {method: handler(services, call) -> Response}
ROUTES: tuple[tuple[str, str, str, dict[str, Callable]], ...] = (
    ("heartbeat", "/__heartbeat__", "ops", {"GET": ops.heartbeat}),
    ("metrics", "/__metrics__", "ops", {"GET": ops.metrics_view}),
    ("lbheartbeat", "/__lbheartbeat__", "ops", {"GET": ops.lbheartbeat}),
    ("version", "/__version__", "ops", {"GET": ops.version}),
    ("info_collections", "/{api}/{username}/info/collections", "storage",
     {"GET": storage_views.info_collections}),
    ("info_counts", "/{api}/{username}/info/collection_counts", "storage",
     {"GET": storage_views.info_collection_counts}),
    ("info_quota", "/{api}/{username}/info/quota", "storage", {"GET": storage_views.info_quota}),
    ("info_usage", "/{api}/{username}/info/collection_usage", "storage",
     {"GET": storage_views.info_collection_usage}),
    ("storage", "/{api}/{username}/storage", "storage", {"DELETE": storage_views.delete_storage}),
    ("collection", "/{api}/{username}/storage/{collection}", "storage", {
        "GET": storage_views.get_collection, "POST": storage_views.post_collection,
        "PUT": storage_views.post_collection, "DELETE": storage_views.delete_collection}),
    ("item", "/{api}/{username}/storage/{collection}/{item}", "storage", {
        "GET": storage_views.get_item, "PUT": storage_views.put_item, "DELETE": storage_views.delete_item}),
    ("user", "/user/{uapi}/{username}", "users", {
        "GET": user_views.user_exists, "PUT": user_views.create_user, "DELETE": user_views.delete_user}),
    ("user_node", "/user/{uapi}/{username}/node/weave", "users", {"GET": user_views.node}),
    ("user_reset", "/user/{uapi}/{username}/password_reset", "users", {
        "GET": user_views.request_password_reset, "DELETE": user_views.clear_password_reset}),
    ("user_password", "/user/{uapi}/{username}/password", "users", {"POST": user_views.change_password}),
    ("user_email", "/user/{uapi}/{username}/email", "users", {"POST": user_views.change_email}),
    ("captcha_html", "/misc/{uapi}/captcha_html", "users", {"GET": pages.captcha_html, "POST": pages.captcha_html}),
    ("reset_page", "/weave-password-reset", "users", {"GET": pages.reset_form, "POST": pages.reset_submit}),
)
ROLES = {name: role for name, _path, role, _methods in ROUTES}
HANDLERS = {name: methods for name, _path, _role, methods in ROUTES}

REQUIREMENTS = {"api": API, "uapi": USER_API, "username": NAME, "collection": NAME, "item": r"[^/]+"}


def serves(role: str, route_role: str) -> bool:
    """Whether a server configured as ``role`` answers routes of ``route_role``."""
    return route_role == "ops" or role in ("both", route_role)


def build_mapper(role: str = "both") -> Mapper:
    """The routes this role answers; the others are 404 like any unknown path."""
    mapper = Mapper(explicit=True)
    mapper.minimization = False
    for name, path, route_role, _methods in ROUTES:
        if serves(role, route_role):
            mapper.connect(name, path, requirements=REQUIREMENTS, route=name)
    return mapper
