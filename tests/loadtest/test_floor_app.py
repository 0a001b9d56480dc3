"""The stack floor of loadtest.ceilings answers like a cached info/collections, from memcached when given one."""
import base64

import pytest
import webtest

from loadtest.floor_app import make_floor_app

AUTH = {"Authorization": "Basic " + base64.b64encode(b"someone:secret").decode()}


@pytest.mark.parametrize("cached", [False, True], ids=["no cache", "memcached"])
def test_floor_answers_info_collections(cached, request):
    servers = [request.getfixturevalue("memcached").address] if cached else []
    app = webtest.TestApp(make_floor_app(servers))
    for _ in range(2):  # with memcached: the first request stores the entries, the second reads them
        res = app.get("/1.1/someone/info/collections", headers=AUTH)
        assert res.content_type == "application/json" and res.headers["X-Weave-Timestamp"]
    stamps = res.json
    assert stamps == ({"bookmarks": 1764000000.12, "history": 1764000000.13, "tabs": 1764000000.14} if cached
                      else {"bookmarks": 1764000000.12})
    app.get("/no/such/path", headers=AUTH, status=404)
