"""Collections: GET parameters and formats, POST batches, DELETE (spec §3.5, §3.8, §3.9, §3.11)."""
import json
import struct

import pytest

from .helpers import wait_for_next_tick


def post(testapp, url, items, **kw):
    return testapp.post(url, json.dumps(items), content_type="text/plain", **kw)


@pytest.fixture
def filled(testapp, root):
    """Four items written at four distinct times: a(10), b(30), c(20), d(no sortindex)."""
    stamps = {}
    for item in ({"id": "a", "payload": "pa", "sortindex": 10, "parentid": "p"},
                 {"id": "b", "payload": "pb", "sortindex": 30, "predecessorid": "q"},
                 {"id": "c", "payload": "pc", "sortindex": 20},
                 {"id": "d", "payload": "pd"}):
        wait_for_next_tick()
        stamps[item["id"]] = post(testapp, f"{root}/storage/c", [item]).json["modified"]
    return stamps


def ids(testapp, root, query="", **kw):
    return testapp.get(f"{root}/storage/c{query}", **kw).json


def test_unknown_collection_is_empty_not_404(testapp, root):
    res = testapp.get(f"{root}/storage/nothing")
    assert res.json == [] and res.headers["X-Weave-Records"] == "0"


def test_ids_and_full(testapp, root, filled):
    res = testapp.get(f"{root}/storage/c?sort=oldest")
    assert res.json == ["a", "b", "c", "d"] and res.headers["X-Weave-Records"] == "4"
    full = testapp.get(f"{root}/storage/c?full=1&sort=oldest").json
    assert [r["payload"] for r in full] == ["pa", "pb", "pc", "pd"]
    assert full[0] == {"id": "a", "modified": filled["a"], "payload": "pa", "sortindex": 10, "parentid": "p"}
    assert testapp.get(f"{root}/storage/c?full=0&sort=oldest").json == full  # non-empty means full
    assert testapp.get(f"{root}/storage/c?full=&sort=oldest").json == ["a", "b", "c", "d"]


def test_selection_parameters(testapp, root, filled):
    assert sorted(ids(testapp, root, "?ids=a,c,zz")) == ["a", "c"]
    assert ids(testapp, root, "?ids=zz,yy") == []
    assert ids(testapp, root, "?parentid=p") == ["a"]
    assert ids(testapp, root, "?predecessorid=q") == ["b"]
    assert sorted(ids(testapp, root, f"?newer={filled['b']}")) == ["c", "d"]  # strict
    assert ids(testapp, root, f"?older={filled['b']}") == ["a"]
    assert sorted(ids(testapp, root, f"?newer={filled['a']}&older={filled['d']}")) == ["b", "c"]
    assert ids(testapp, root, "?index_above=20") == ["b"]
    assert ids(testapp, root, "?index_below=20") == ["a"]
    assert ids(testapp, root, "?index_above=10&index_below=30") == ["c"]
    assert sorted(ids(testapp, root, "?unknown=1&v=2")) == ["a", "b", "c", "d"]


def test_newer_accepts_javascript_numbers(testapp, root, filled):
    # Python's float repr, like JavaScript's, drops trailing zeros (1300000000.1)
    assert sorted(ids(testapp, root, f"?newer={filled['b']!r}")) == ["c", "d"]
    assert sorted(ids(testapp, root, f"?newer={filled['b']:.3f}")) == ["c", "d"]
    assert sorted(ids(testapp, root, f"?newer={int(filled['a']) - 1}")) == ["a", "b", "c", "d"]


def test_newer_with_timestamp_of_a_post_excludes_it(testapp, root):
    first = post(testapp, f"{root}/storage/c", [{"id": "x", "payload": "1"}]).json["modified"]
    wait_for_next_tick()
    post(testapp, f"{root}/storage/c", [{"id": "y", "payload": "2"}])
    assert ids(testapp, root, f"?newer={first}") == ["y"]


def test_sort_limit_offset(testapp, root, filled):
    assert ids(testapp, root, "?sort=oldest") == ["a", "b", "c", "d"]
    assert ids(testapp, root, "?sort=newest") == ["d", "c", "b", "a"]
    assert ids(testapp, root, "?sort=index") == ["b", "c", "a", "d"]
    assert sorted(ids(testapp, root, "?sort=bogus")) == ["a", "b", "c", "d"]
    res = testapp.get(f"{root}/storage/c?sort=oldest&limit=2")
    assert res.json == ["a", "b"] and res.headers["X-Weave-Records"] == "2"
    assert ids(testapp, root, "?sort=oldest&limit=3&offset=2") == ["c", "d"]
    assert ids(testapp, root, "?sort=oldest&limit=0") == ["a", "b", "c", "d"]
    assert ids(testapp, root, "?sort=oldest&limit=-1") == ["a", "b", "c", "d"]
    assert ids(testapp, root, "?sort=oldest&offset=2") == ["a", "b", "c", "d"]
    assert ids(testapp, root, "?sort=oldest&limit=1&limit=3") == ["a", "b", "c"]  # last value wins


@pytest.mark.parametrize("param", ["older=abc", "newer=1e", "newer=", "index_above=x", "index_below=nan",
                                   "limit=1.5", "limit=x", "offset=x"])
def test_bad_parameter_values_are_400(testapp, root, param):
    testapp.get(f"{root}/storage/c?{param}", status=400)


def test_newlines_format(testapp, root, filled):
    res = testapp.get(f"{root}/storage/c?full=1&sort=oldest", headers={"Accept": "application/newlines"})
    assert res.content_type == "application/newlines"
    lines = res.body.split(b"\n")
    assert lines[-1] == b"" and len(lines) == 5  # every line, the last too, ends with LF
    assert [json.loads(line)["id"] for line in lines[:-1]] == ["a", "b", "c", "d"]
    res = testapp.get(f"{root}/storage/c?ids=a,b&sort=oldest", headers={"Accept": "application/newlines"})
    assert res.body == b'"a"\n"b"\n'
    empty = testapp.get(f"{root}/storage/none", headers={"Accept": "application/newlines"})
    assert empty.body == b"" and empty.headers["X-Weave-Records"] == "0"


def test_whoisi_format(testapp, root):
    post(testapp, f"{root}/storage/c", [{"id": "0", "payload": "x"}, {"id": "1", "payload": "y"}])
    res = testapp.get(f"{root}/storage/c?sort=oldest&ids=0,1", headers={"Accept": "application/whoisi"})
    assert res.content_type == "application/whoisi"
    assert sorted([res.body[0:7], res.body[7:14]]) == [bytes.fromhex("00000003 22 30 22"),
                                                       bytes.fromhex("00000003 22 31 22")]
    full = testapp.get(f"{root}/storage/c?full=1&ids=0", headers={"Accept": "application/whoisi"}).body
    (size,) = struct.unpack(">I", full[:4])
    assert len(full) == 4 + size and json.loads(full[4:])["id"] == "0"


@pytest.mark.parametrize("accept,expected", [
    ("application/xxx", "application/json"), ("*/*", "application/json"), (None, "application/json"),
    ("application/newlines, */*", "application/newlines"), ("application/whoisi, application/newlines",
                                                            "application/whoisi")])
def test_accept_negotiation(testapp, root, accept, expected):
    headers = {"Accept": accept} if accept else {}
    assert testapp.get(f"{root}/storage/c", headers=headers).content_type == expected


def test_info_collections_is_always_json(testapp, root):
    res = testapp.get(f"{root}/info/collections", headers={"Accept": "application/newlines"})
    assert res.content_type == "application/json"


# -- POST ----------------------------------------------------------------------
def test_post_reports_success_and_failures(testapp, root):
    res = post(testapp, f"{root}/storage/c", [
        {"id": "good", "payload": "x"}, {"id": "bad", "payload": "x", "sortindex": "FAIL"},
        {"payload": "no id"}, "not an object", {"id": "nested", "payload": {"a": 1}},
        {"id": "ghost", "sortindex": 3}])
    body = res.json
    assert body["success"] == ["good"]
    assert body["failed"] == {"bad": ["invalid sortindex"], "": ["invalid wbo"], "ghost": ["missing payload"]}
    assert body["modified"] == float(res.headers["X-Weave-Timestamp"])
    assert '"modified": ' + res.headers["X-Weave-Timestamp"] in res.text
    assert ids(testapp, root) == ["good"]


def test_post_batch_count_limit(testapp, root):
    body = post(testapp, f"{root}/storage/c", [{"id": str(i), "payload": "x"} for i in range(105)]).json
    assert len(body["success"]) == 100
    assert body["failed"] == {str(i): ["retry wbo"] for i in range(100, 105)}
    assert testapp.get(f"{root}/info/collection_counts").json == {"c": 100}


def test_post_batch_byte_limit(testapp, root):
    body = post(testapp, f"{root}/storage/c", [{"id": str(i), "payload": "x" * 215040} for i in range(5)]).json
    assert body["success"] == ["0", "1", "2", "3"] and body["failed"] == {"4": ["retry bytes"]}


def test_post_of_seventy_small_items(testapp, root):
    body = post(testapp, f"{root}/storage/c", [{"id": str(i), "payload": "x"} for i in range(70)]).json
    assert len(body["success"]) == 70 and body["failed"] == {}


def test_post_empty_list_creates_nothing(testapp, root):
    body = post(testapp, f"{root}/storage/c", []).json
    assert body["success"] == [] and body["failed"] == {}
    assert testapp.get(f"{root}/info/collections").json == {}


@pytest.mark.parametrize("body,errno", [("not json", b"6"), ('"notalist"', b"8"), ("42", b"8"), ("null", b"8"),
                                        ('{"payload": "no id"}', b"8"), ('{"id": "a/b", "payload": "x"}', b"8")])
def test_post_whole_body_errors(testapp, root, body, errno):
    assert testapp.post(f"{root}/storage/c", body, status=400).body == errno


def test_post_of_single_object_is_a_put(testapp, root):
    res = testapp.post(f"{root}/storage/c", '{"id": "solo", "payload": "x"}')
    assert res.body.decode() == res.headers["X-Weave-Timestamp"]
    assert ids(testapp, root) == ["solo"]


def test_put_on_collection_behaves_as_post(testapp, root):
    res = testapp.put(f"{root}/storage/c", json.dumps([{"id": "a", "payload": "x"}]))
    assert res.json["success"] == ["a"]


def test_later_duplicate_in_a_post_wins(testapp, root):
    post(testapp, f"{root}/storage/c", [{"id": "a", "payload": "first"}, {"id": "a", "payload": "second"}])
    assert testapp.get(f"{root}/storage/c/a").json["payload"] == "second"


# -- DELETE --------------------------------------------------------------------
def test_delete_collection(testapp, root, filled):
    res = testapp.delete(f"{root}/storage/c")
    assert res.body.decode() == res.headers["X-Weave-Timestamp"]
    assert ids(testapp, root) == []
    assert testapp.get(f"{root}/info/collections").json == {}
    assert testapp.delete(f"{root}/storage/never").status_int == 200


@pytest.mark.parametrize("query,left", [
    ("?ids=a,c", ["b", "d"]), ("?parentid=p", ["b", "c", "d"]), ("?predecessorid=q", ["a", "c", "d"]),
    ("?index_above=10", ["a", "d"]), ("?index_below=30", ["b", "d"]), ("?sort=newest&limit=2", ["a", "b"]),
    ("?sort=index&limit=1", ["a", "c", "d"]), ("?full=1&ids=a", ["b", "c", "d"]),
])
def test_delete_collection_with_selection(testapp, root, filled, query, left):
    testapp.delete(f"{root}/storage/c{query}")
    assert sorted(ids(testapp, root)) == left


def test_delete_collection_with_times(testapp, root, filled):
    testapp.delete(f"{root}/storage/c?older={filled['b']}")
    assert sorted(ids(testapp, root)) == ["b", "c", "d"]
    testapp.delete(f"{root}/storage/c?newer={filled['c']}")
    assert sorted(ids(testapp, root)) == ["b", "c"]


def test_delete_with_offset_is_400(testapp, root, filled):
    testapp.delete(f"{root}/storage/c?limit=1&offset=1", status=400)
    assert len(ids(testapp, root)) == 4


def test_delete_storage_needs_confirmation(testapp, root, filled):
    assert testapp.delete(f"{root}/storage", status=400).body == b"4"
    assert len(ids(testapp, root)) == 4
    res = testapp.delete(f"{root}/storage", headers={"X-Confirm-Delete": "1"})
    assert res.body.decode() == res.headers["X-Weave-Timestamp"]
    assert testapp.get(f"{root}/info/collections").json == {}
    testapp.get(f"{root}/storage/c/a", status=404)
    assert testapp.delete(f"{root}/storage/", headers={"X-Confirm-Delete": ""}).status_int == 200


# -- X-If-Unmodified-Since ------------------------------------------------------
def test_if_unmodified_since(testapp, root, filled):
    newest = filled["d"]
    older = f"{newest - 1:.2f}"
    h = {"X-If-Unmodified-Since": older}
    testapp.put(f"{root}/storage/c/x", '{"payload": "x"}', headers=h, status=412)
    post(testapp, f"{root}/storage/c", [{"id": "x", "payload": "x"}], headers=h, status=412)
    testapp.delete(f"{root}/storage/c", headers=h, status=412)
    testapp.delete(f"{root}/storage/c/a", headers=h, status=412)
    assert len(ids(testapp, root)) == 4
    # 412 wins over a body error
    testapp.put(f"{root}/storage/c/x", "not json", headers=h, status=412)
    # equal: proceed; unknown collection: proceed; GET ignores it
    testapp.put(f"{root}/storage/c/x", '{"payload": "x"}', headers={"X-If-Unmodified-Since": f"{newest:.2f}"})
    testapp.put(f"{root}/storage/other/x", '{"payload": "x"}', headers={"X-If-Unmodified-Since": "1.00"})
    testapp.get(f"{root}/storage/c", headers=h)


def test_bad_if_unmodified_since_is_400(testapp, root):
    testapp.put(f"{root}/storage/c/x", '{"payload": "x"}', headers={"X-If-Unmodified-Since": "yesterday"},
                status=400)
