"""info/collections, collection_counts, collection_usage, quota (spec §3.1-§3.4, §3.13)."""
import json

import pytest


def test_info_collections_lists_collection_timestamps(testapp, root):
    assert testapp.get(f"{root}/info/collections").json == {}
    a = testapp.put(f"{root}/storage/bookmarks/a", '{"payload": "x"}').body.decode()
    b = testapp.put(f"{root}/storage/meta/global", '{"payload": "x"}').body.decode()
    res = testapp.get(f"{root}/info/collections")
    assert res.json == {"bookmarks": float(a), "meta": float(b)}
    assert res.headers["X-Weave-Records"] == "2"
    assert f'"bookmarks": {a}' in res.text  # two decimals, as a number


def test_read_your_writes_for_crypto_keys(testapp, root):
    ts = testapp.put(f"{root}/storage/crypto/keys", '{"payload": "k"}').body
    assert testapp.get(f"{root}/info/collections").json["crypto"] >= float(ts)


def test_counts_and_usage(testapp, root):
    testapp.post(f"{root}/storage/col2", json.dumps([{"id": "a", "payload": "x" * 3}, {"id": "b", "payload": "y" * 500}]))
    testapp.put(f"{root}/storage/other/a", '{"payload": "z", "ttl": 0}')
    res = testapp.get(f"{root}/info/collection_counts")
    assert res.json == {"col2": 2} and res.headers["X-Weave-Records"] == "1"
    assert testapp.get(f"{root}/info/collection_usage").json == {"col2": 0.4912109375}


def test_quota_usage_without_quota(testapp, root):
    assert testapp.get(f"{root}/info/quota").json == [0, None]
    testapp.put(f"{root}/storage/c/a", json.dumps({"payload": "x" * 500}))
    assert testapp.get(f"{root}/info/quota").json == [0.48828125, None]
    res = testapp.put(f"{root}/storage/c/b", '{"payload": "x"}')
    assert "X-Weave-Quota-Remaining" not in res.headers


@pytest.fixture
def quota_app(make_testapp, make_user):
    def build(quota_kb):
        app = make_testapp(storage__quota_kb=quota_kb)
        return app, f"/1.1/{make_user(app).username}"
    return build


def test_over_quota_is_400_14_and_writes_nothing(quota_app):
    app, root = quota_app(1)
    app.put(f"{root}/storage/c/a", json.dumps({"payload": "x" * 1100}))
    res = app.put(f"{root}/storage/c/b", '{"payload": "x"}', status=400)
    assert res.body == b"14" and res.content_type == "application/json"
    res = app.post(f"{root}/storage/c", '[{"id": "c", "payload": "x"}]', status=400)
    assert res.body == b"14"
    assert app.get(f"{root}/storage/c").json == ["a"]
    assert app.get(f"{root}/info/quota").json == [1100 / 1024, 1]
    app.delete(f"{root}/storage/c/a")  # deletes are never blocked
    app.put(f"{root}/storage/c/b", '{"payload": "x"}')


def test_quota_remaining_header(quota_app):
    app, root = quota_app(2000)
    res = app.put(f"{root}/storage/c/a", '{"payload": "xx"}')
    assert "X-Weave-Quota-Remaining" not in res.headers  # 2000 KB left, above 1024
    app, root = quota_app(1000)
    app.put(f"{root}/storage/c/a", json.dumps({"payload": "x" * 2048}))
    res = app.post(f"{root}/storage/c", '[{"id": "b", "payload": "y"}]')
    assert int(res.headers["X-Weave-Quota-Remaining"]) == 998  # measured before the write, integer part
