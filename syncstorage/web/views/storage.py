"""Storage API handlers (spec §3): info/*, collections, items.

Each handler authenticates first (rules.authenticated), then validates in the order the spec gives,
then calls the storage backend.  Handlers take ``(services, call)`` and return a
WebOb Response; errors are raised (errors.py).
"""
from __future__ import annotations

import math

from webob import Response

from syncstorage.web import inputs
from syncstorage.wire import formats, timestamps
from syncstorage.wire.errors import BadParameter, NotFound, PreconditionFailed, Unauthorized, WeaveErrno, WeaveError
from syncstorage.storage.base import SORTS, CollectionChanged, ItemQuery, StorageConflict, UserRetired
from syncstorage.web.rules import authenticated
from syncstorage.wire.wbo import InvalidWBO, is_scalar, parse_wbo, scalar_to_str, valid_id

MAX_COLLECTION_NAME = 32
QUOTA_WARNING_KB = 1024
MAX_COUNT = 2**31 - 1  # limit/offset values are clamped to a count every database accepts


# -- helpers -------------------------------------------------------------------
def json_response(body: str, **headers: str) -> Response:
    """A JSON body with ``headers``, which must be ones a new response does not carry."""
    resp = Response(body=body.encode("utf-8"), content_type=formats.JSON, charset=None)
    # Straight onto the list: none of these is there yet, and the headers view's
    # case-insensitive replacement cost a cached request 3 % of its CPU.
    resp.headerlist.extend(headers.items())
    return resp


def _user_and_collection(call) -> tuple[int, str]:
    """The authenticated user's id and the URL's collection name (400 ``13`` past 32 characters)."""
    collection = call.match["collection"]
    if len(collection) > MAX_COLLECTION_NAME:
        raise WeaveError(WeaveErrno.INVALID_COLLECTION)
    return call.user.userid, collection


def _params(call):
    return inputs.query_params(call.req)


def _timestamp_param(value: str, name: str) -> int:
    try:
        return timestamps.parse_centis(value)
    except ValueError:
        raise BadParameter(f"invalid value for {name}") from None


def _float_param(value: str, name: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise BadParameter(f"invalid value for {name}") from None
    if not math.isfinite(number):
        raise BadParameter(f"invalid value for {name}")
    return number


def _int_param(value: str, name: str) -> int:
    """An integer count (limit, offset); beyond any table's size means the same as the
    largest count a database accepts, so it is clamped rather than overflowing SQL."""
    try:
        number = int(value)
    except ValueError:
        raise BadParameter(f"invalid value for {name}") from None
    return max(-MAX_COUNT, min(number, MAX_COUNT))


def item_query(call, for_delete: bool = False) -> ItemQuery:
    """The selection parameters of spec §3.5.1 (and §3.9 for DELETE)."""
    params = _params(call)
    query = ItemQuery()
    if "ids" in params:
        query.ids = params["ids"].split(",")
    for name in ("parentid", "predecessorid"):
        if name in params:
            setattr(query, name, params[name])
    for name in ("older", "newer"):
        if name in params:
            setattr(query, name, _timestamp_param(params[name], name))
    for name in ("index_above", "index_below"):
        if name in params:
            setattr(query, name, _float_param(params[name], name))
    if "limit" in params:
        query.limit = _int_param(params["limit"], "limit")
    if "offset" in params:
        if for_delete:
            raise BadParameter("offset is not supported on DELETE")
        query.offset = _int_param(params["offset"], "offset")
    if params.get("sort") in SORTS:
        query.sort = params["sort"]
    return query


def _if_unmodified_since(call) -> int | None:
    value = call.req.headers.get("X-If-Unmodified-Since")
    if value is None:
        return None
    return _timestamp_param(value, "X-If-Unmodified-Since")


def _check_unmodified(services, call, userid: int, collection: str, since: int | None) -> None:
    """Early 412 so that it wins over body errors (spec §3.7/§3.8 order);
    the write re-checks under the collection lock."""
    if since is None:
        return
    current = services.storage.get_collection_timestamp(userid, collection)
    if current is not None and current > since:
        raise PreconditionFailed()


def _quota_remaining_kb(services, call, userid: int) -> float | None:
    """Remaining quota before this write; 400 ``14`` when exhausted; None without quota."""
    quota_kb = services.settings.storage.quota_kb
    if quota_kb <= 0:
        return None
    remaining = quota_kb - services.storage.get_total_size(userid, call.ts) / 1024
    if remaining <= 0:
        raise WeaveError(WeaveErrno.OVER_QUOTA)
    return remaining


def _quota_header(call, remaining: float | None) -> None:
    if remaining is not None and remaining <= QUOTA_WARNING_KB:
        # An integer: clients parse it with integer parsers (spec [A14]).
        call.headers["X-Weave-Quota-Remaining"] = str(int(remaining))


def _parse_json_body(services, call):
    body = inputs.read_body(call.req, services.settings.storage.max_body_bytes)
    try:
        return inputs.parse_json(body)
    except ValueError:
        raise WeaveError(WeaveErrno.JSON_PARSE_FAILURE) from None


def _write(services, call, userid, collection, items, since):
    try:
        result = services.storage.set_items(userid, collection, items, call.ts, since)
    except CollectionChanged:
        raise PreconditionFailed() from None
    except StorageConflict:
        raise WeaveError(WeaveErrno.CANNOT_OVERWRITE) from None
    except UserRetired:
        raise Unauthorized("the account was deleted") from None
    call.ts = max(call.ts, result.modified)
    return result


# -- info/* --------------------------------------------------------------------
@authenticated
def info_collections(services, call) -> Response:
    user = call.user
    stamps = services.storage.get_collection_timestamps(user.userid)
    return json_response(formats.timestamps_json(stamps), **{"X-Weave-Records": str(len(stamps))})


@authenticated
def info_collection_counts(services, call) -> Response:
    user = call.user
    counts = services.storage.get_collection_counts(user.userid, call.ts)
    return json_response(formats.dumps(counts), **{"X-Weave-Records": str(len(counts))})


@authenticated
def info_quota(services, call) -> Response:
    user = call.user
    used = services.storage.get_total_size(user.userid, call.ts) / 1024
    quota = services.settings.storage.quota_kb or None
    return json_response(formats.dumps([used, quota]))


@authenticated
def info_collection_usage(services, call) -> Response:
    user = call.user
    usage = services.storage.get_collection_usage(user.userid, call.ts)
    return json_response(formats.dumps({name: size / 1024 for name, size in usage.items()}))


# -- collections -----------------------------------------------------------------
@authenticated
def get_collection(services, call) -> Response:
    userid, collection = _user_and_collection(call)
    query = item_query(call)
    full = bool(_params(call).get("full"))
    items = services.storage.get_items(userid, collection, query, call.ts, full)
    rendered = formats.records_json(items) if full else formats.ids_json(items)
    media_type = formats.choose_media_type(call.req.headers.get("Accept"))
    resp = Response(body=formats.render_items(rendered, media_type), content_type=media_type, charset=None)
    resp.headers["X-Weave-Records"] = str(len(rendered))
    return resp


def _failure(element, error: InvalidWBO) -> tuple[str, str]:
    """Where a refused element of a POST is reported in ``failed``: under its id when it
    has one, else under the empty id."""
    if not isinstance(element, dict) or not all(is_scalar(v) for v in element.values()):
        return "", "invalid wbo"
    if element.get("id") is None:
        return "", "invalid id"
    raw_id = scalar_to_str(element["id"])
    return (raw_id if raw_id is not None else str(element["id"])), str(error)


@authenticated
def post_collection(services, call) -> Response:
    """POST (or PUT) a list of records; a single object is a PUT of that item."""
    userid, collection = _user_and_collection(call)
    since = _if_unmodified_since(call)
    _check_unmodified(services, call, userid, collection, since)
    data = _parse_json_body(services, call)
    if isinstance(data, dict):
        item_id = scalar_to_str(data.get("id"))
        if item_id is None or "/" in item_id:
            raise WeaveError(WeaveErrno.INVALID_WBO)
        return _put(services, call, userid, collection, item_id, data, since)
    if not isinstance(data, list):
        raise WeaveError(WeaveErrno.INVALID_WBO)

    limits = services.settings.storage
    accepted, failed = [], {}
    total_bytes = 0
    for index, element in enumerate(data):
        try:
            wbo = parse_wbo(element)
        except InvalidWBO as error:
            key, reason = _failure(element, error)
            failed[key] = [reason]
            continue
        if index >= limits.batch_max_count:
            failed[wbo.id] = ["retry wbo"]
            continue
        total_bytes += wbo.payload_size
        if total_bytes >= limits.batch_max_bytes:
            failed[wbo.id] = ["retry bytes"]
            continue
        accepted.append(wbo)

    remaining = _quota_remaining_kb(services, call, userid)
    missing = set()
    if accepted:
        missing = set(_write(services, call, userid, collection, accepted, since).missing)
        for item_id in missing:
            failed[item_id] = ["missing payload"]
    _quota_header(call, remaining)
    success = [wbo.id for wbo in accepted if wbo.id not in missing]
    return json_response(formats.post_result_json(call.ts, success, failed))


@authenticated
def delete_collection(services, call) -> Response:
    userid, collection = _user_and_collection(call)
    query = item_query(call, for_delete=True)
    since = _if_unmodified_since(call)
    try:
        services.storage.delete_items(userid, collection, query, call.ts, since)
    except CollectionChanged:
        raise PreconditionFailed() from None
    return json_response(timestamps.render(call.ts))


@authenticated
def delete_storage(services, call) -> Response:
    user = call.user
    if "X-Confirm-Delete" not in call.req.headers:
        raise WeaveError(WeaveErrno.CANNOT_OVERWRITE)
    services.storage.delete_storage(user.userid)
    return json_response(timestamps.render(call.ts))


# -- items -------------------------------------------------------------------------
@authenticated
def get_item(services, call) -> Response:
    userid, collection = _user_and_collection(call)
    item_id = call.match["item"]
    record = services.storage.get_item(userid, collection, item_id, call.ts) if valid_id(item_id) else None
    if record is None:
        raise NotFound()
    return json_response(formats.record_json(record))


@authenticated
def put_item(services, call) -> Response:
    userid, collection = _user_and_collection(call)
    since = _if_unmodified_since(call)
    return _put(services, call, userid, collection, call.match["item"], None, since, check_first=True)


def _put(services, call, userid, collection, item_id, data, since, check_first=False) -> Response:
    """PUT of one record (spec §3.7): quota, 412, JSON, WBO rules, then the write."""
    remaining = _quota_remaining_kb(services, call, userid)
    if check_first:
        _check_unmodified(services, call, userid, collection, since)
        data = _parse_json_body(services, call)
    try:
        wbo = parse_wbo(data, url_id=item_id)
    except InvalidWBO:
        raise WeaveError(WeaveErrno.INVALID_WBO) from None
    if not valid_id(item_id):
        raise WeaveError(WeaveErrno.INVALID_WBO)
    if _write(services, call, userid, collection, [wbo], since).missing:
        raise WeaveError(WeaveErrno.INVALID_WBO)
    _quota_header(call, remaining)
    return json_response(timestamps.render(call.ts))


@authenticated
def delete_item(services, call) -> Response:
    userid, collection = _user_and_collection(call)
    since = _if_unmodified_since(call)
    item_id = call.match["item"]
    try:
        services.storage.delete_items(userid, collection, ItemQuery(ids=[item_id]), call.ts, since)
    except CollectionChanged:
        raise PreconditionFailed() from None
    return json_response(timestamps.render(call.ts))
