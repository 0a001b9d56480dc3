"""Routing precedence, API prefixes, authentication and common headers (spec §1, §5)."""
import base64
import re

import pytest

from ..conftest import PASSWORD

TS_RE = re.compile(r"^\d+\.\d\d$")


@pytest.mark.parametrize("prefix", ["1.0", "1", "1.1"])
def test_all_three_prefixes_answer_identically(testapp, user, prefix):
    testapp.put(f"/{prefix}/{user.username}/storage/c/a", '{"payload": "x"}')
    res = testapp.get(f"/{prefix}/{user.username}/storage/c?full=1")
    assert res.json[0]["id"] == "a" and res.json[0]["payload"] == "x"
    assert testapp.get(f"/{prefix}/{user.username}/info/collections").json.keys() == {"c"}


@pytest.mark.parametrize("path", ["/2.0/{u}/info/collections", "/1.1/{u}/info/nothing", "/1.1/{u}/storagex",
                                  "/1.1/{u}/storage/c/a/b", "/1.1/b@d/info/collections", "/nowhere",
                                  "/1.1/{u}/storage/b%21d"])
def test_unknown_paths_are_404_even_without_credentials(testapp, user, path):
    testapp.authorization = None
    testapp.get(path.format(u=user.username), status=404)


@pytest.mark.parametrize("method,path", [
    ("POST", "/1.1/{u}/storage/c/a"), ("PUT", "/1.1/{u}/info/collections"), ("GET", "/1.1/{u}/storage"),
    ("POST", "/1.1/{u}/storage"), ("DELETE", "/1.1/{u}/info/quota"), ("HEAD", "/1.1/{u}/info/collections"),
])
def test_wrong_method_is_405_before_authentication(testapp, user, method, path):
    testapp.authorization = None
    res = testapp.request(path.format(u=user.username), method=method, status=405)
    assert "Allow" in res.headers


def test_trailing_slashes_are_ignored(testapp, user, root):
    testapp.put(f"{root}/storage/bookmarks/x/", '{"payload": "p"}')
    assert testapp.get(f"{root}/storage/bookmarks/").json == ["x"]
    assert testapp.get(f"{root}/info/collections/").json.keys() == {"bookmarks"}


def test_missing_credentials_get_a_challenge(testapp, user, root):
    testapp.authorization = None
    res = testapp.get(f"{root}/info/collections", status=401)
    assert res.headers["WWW-Authenticate"] == 'Basic realm="Sync"'


@pytest.mark.parametrize("header", [
    "Bearer abc", "Basic !!!notbase64", "Basic " + base64.b64encode(b"no-colon").decode(),
    "Basic " + base64.b64encode(b"name:\xff\xfe").decode(),
])
def test_malformed_credentials_are_401_without_challenge(testapp, user, root, header):
    testapp.authorization = None
    res = testapp.get(f"{root}/info/collections", headers={"Authorization": header}, status=401)
    assert "WWW-Authenticate" not in res.headers


def test_wrong_password_and_wrong_user_are_401(testapp, user, make_user, root):
    testapp.authorization = ("Basic", (user.username, "wrong password"))
    testapp.get(f"{root}/info/collections", status=401)
    other = make_user(testapp)  # logs in as the other account
    testapp.get(f"{root}/info/collections", status=401)
    testapp.authorization = ("Basic", (user.username.upper(), PASSWORD))
    testapp.get(f"{root}/info/collections", status=401)
    assert other.username != user.username


def test_password_may_contain_colons(testapp, make_user):
    account = make_user(testapp, password="pass:word:with:colons")
    testapp.get(f"/1.1/{account.username}/info/collections")


def test_users_cannot_touch_each_other(testapp, make_user):
    alice = make_user(testapp)
    testapp.put(f"/1.1/{alice.username}/storage/c/secret", '{"payload": "alice"}')
    bob = make_user(testapp)
    testapp.get(f"/1.1/{alice.username}/storage/c/secret", status=401)
    testapp.delete(f"/1.1/{alice.username}/storage", headers={"X-Confirm-Delete": "1"}, status=401)
    assert testapp.get(f"/1.1/{bob.username}/storage/c").json == []


def test_timestamp_header_on_every_response(testapp, user, root):
    for res in (testapp.get(f"{root}/info/collections"),
                testapp.get(f"{root}/storage/c/missing", status=404),
                testapp.get("/nowhere", status=404),
                testapp.post(f"{root}/storage/c/a", status=405)):
        assert TS_RE.match(res.headers["X-Weave-Timestamp"])


def test_heartbeat(testapp):
    res = testapp.get("/__heartbeat__")
    assert res.status_int == 200 and res.body == b"" and res.content_type == "text/plain"


def test_query_parameters_are_ignored_where_unused(testapp, user, root):
    testapp.get(f"{root}/info/collections?client=FxHome&v=1.1b2")
