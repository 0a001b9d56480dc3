"""Single items: PUT, GET, DELETE, validation and TTL (spec §2, §3.6, §3.7, §3.10)."""
import json

import pytest

from syncstorage.wire.wbo import MAX_PAYLOAD_BYTES



def test_put_returns_its_timestamp_byte_for_byte(testapp, root):
    res = testapp.put(f"{root}/storage/bookmarks/abc", '{"payload": "x"}', content_type="text/plain")
    assert res.status_int == 200
    assert res.body.decode() == res.headers["X-Weave-Timestamp"]
    assert res.content_type == "application/json"
    stored = testapp.get(f"{root}/storage/bookmarks/abc").json
    assert stored["modified"] == float(res.body)


def test_get_returns_exactly_the_fields_that_were_set(testapp, root):
    testapp.put(f"{root}/storage/c/a", json.dumps({"payload": "p", "sortindex": "9999.1", "ttl": 3600,
                                                  "parentid": 12, "modified": 5, "unknown": "ignored"}))
    res = testapp.get(f"{root}/storage/c/a")
    body = res.json
    assert set(body) == {"id", "modified", "payload", "sortindex", "parentid"}
    assert (body["id"], body["payload"], body["sortindex"], body["parentid"]) == ("a", "p", 9999, "12")
    assert body["modified"] != 5
    # the raw text has exactly two decimals
    raw = res.text.split('"modified": ')[1].split(",")[0].rstrip("}")
    assert len(raw.split(".")[1]) == 2


def test_get_of_missing_item_is_404(testapp, root):
    testapp.get(f"{root}/storage/c/nothing", status=404)
    testapp.put(f"{root}/storage/c/a", '{"payload": "x"}')
    testapp.get(f"{root}/storage/c/nothing", status=404)
    testapp.get(f"{root}/storage/c/{'x' * 65}", status=404)


def test_url_id_wins_over_body_id(testapp, root):
    testapp.put(f"{root}/storage/c/url-id", '{"id": "body-id", "payload": "x"}')
    assert testapp.get(f"{root}/storage/c").json == ["url-id"]


def test_ids_with_odd_characters_round_trip(testapp, root):
    for item_id in ("{a1b2c3d4-0000-1111-2222-333344445555}", "a#b", "tilde~", "q?x"):
        quoted = item_id.replace("#", "%23").replace("?", "%3F")
        testapp.put(f"{root}/storage/passwords/{quoted}", '{"payload": "x"}')
        assert testapp.get(f"{root}/storage/passwords/{quoted}").json["id"] == item_id


@pytest.mark.parametrize("body,errno", [
    ("not json", 6), ("", 6), ("{bad", 6), ("NaN", 6),
    ('"notawbo"', 8), ("42", 8), ("[]", 8), ("null", 8), ('{"payload": ["array"]}', 8),
    ('{"payload": "x", "unknown": {"nested": 1}}', 8), ('{"payload": 42}', 8),
    ('{"payload": "x", "sortindex": 1000000000}', 8), ('{"payload": "x", "sortindex": "FAIL"}', 8),
    ('{"payload": "x", "ttl": -1}', 8), ('{"payload": "x", "ttl": 31537000}', 8), ('{"payload": "x", "ttl": "1.5"}', 8),
    ('{"payload": "x", "id": "' + "i" * 65 + '"}', 8), ('{"payload": "x", "parentid": "' + "p" * 65 + '"}', 8),
    ('{"sortindex": 1}', 8),  # no payload and no existing record
])
def test_put_validation_errors(testapp, root, body, errno):
    res = testapp.put(f"{root}/storage/c/a", body, status=400)
    assert res.body == str(errno).encode() and res.content_type == "application/json"
    testapp.get(f"{root}/storage/c/a", status=404)


def test_put_of_too_long_url_id_is_invalid(testapp, root):
    assert testapp.put(f"{root}/storage/c/{'x' * 65}", '{"payload": "x"}', status=400).body == b"8"


def test_payload_size_limit_is_in_bytes(testapp, root):
    testapp.put(f"{root}/storage/c/ok", json.dumps({"payload": "x" * MAX_PAYLOAD_BYTES}))
    res = testapp.put(f"{root}/storage/c/big", json.dumps({"payload": "x" * (MAX_PAYLOAD_BYTES + 1)}), status=400)
    assert res.body == b"8"
    res = testapp.put(f"{root}/storage/c/big", json.dumps({"payload": "é" * (MAX_PAYLOAD_BYTES // 2 + 1)},
                                                          ensure_ascii=False).encode("utf-8"), status=400)
    assert res.body == b"8"


def test_bad_put_does_not_touch_the_stored_record(testapp, root):
    testapp.put(f"{root}/storage/c/a", '{"payload": "keep me", "sortindex": 3}')
    testapp.put(f"{root}/storage/c/a", '{"payload": "x", "sortindex": "FAIL"}', status=400)
    testapp.put(f"{root}/storage/c/a", "garbage", status=400)
    body = testapp.get(f"{root}/storage/c/a").json
    assert (body["payload"], body["sortindex"]) == ("keep me", 3)


def test_metadata_only_put_updates_an_existing_record(testapp, root):
    first = testapp.put(f"{root}/storage/c/a", '{"payload": "p", "sortindex": 1}').body
    testapp.put(f"{root}/storage/c/a", '{"sortindex": 7}')
    body = testapp.get(f"{root}/storage/c/a").json
    assert (body["payload"], body["sortindex"], body["modified"]) == ("p", 7, float(first))


def test_put_with_payload_replaces_the_record(testapp, root):
    testapp.put(f"{root}/storage/c/a", '{"payload": "p", "sortindex": 1, "parentid": "x"}')
    testapp.put(f"{root}/storage/c/a", '{"payload": "q"}')
    assert set(testapp.get(f"{root}/storage/c/a").json) == {"id", "modified", "payload"}


def test_empty_payload_is_valid(testapp, root):
    testapp.put(f"{root}/storage/c/a", '{"payload": ""}')
    assert testapp.get(f"{root}/storage/c/a").json["payload"] == ""


def test_numeric_ids_become_strings(testapp, root):
    testapp.post(f"{root}/storage/c", '[{"id": 12, "payload": "x"}]')
    assert testapp.get(f"{root}/storage/c").json == ["12"]


def test_long_collection_name_is_400_13(testapp, root):
    assert testapp.put(f"{root}/storage/{'c' * 33}/a", '{"payload": "x"}', status=400).body == b"13"
    assert testapp.get(f"{root}/storage/{'c' * 33}", status=400).body == b"13"
    testapp.put(f"{root}/storage/{'c' * 32}/a", '{"payload": "x"}')


def test_delete_item(testapp, root):
    testapp.put(f"{root}/storage/c/a", '{"payload": "x"}')
    testapp.put(f"{root}/storage/c/b", '{"payload": "x"}')
    res = testapp.delete(f"{root}/storage/c/a")
    assert res.body.decode() == res.headers["X-Weave-Timestamp"]
    testapp.get(f"{root}/storage/c/a", status=404)
    assert testapp.get(f"{root}/storage/c").json == ["b"]
    assert testapp.delete(f"{root}/storage/c/never-existed").status_int == 200
    assert testapp.delete(f"{root}/storage/nothing/never-existed").status_int == 200


def test_ttl_zero_is_invisible_at_once(testapp, root):
    testapp.put(f"{root}/storage/c/a", '{"payload": "x", "ttl": 0}')
    testapp.get(f"{root}/storage/c/a", status=404)
    assert testapp.get(f"{root}/storage/c").json == []
    assert testapp.get(f"{root}/info/collection_counts").json == {}


def test_ttl_expiry_and_overwrite(make_testapp, make_user):
    now = [1700000000.0]  # the server's clock, moved by the test: no waiting, no race with a slow box
    testapp = make_testapp(clock=lambda: now[0])
    root = f"/1.1/{make_user(testapp).username}"
    testapp.put(f"{root}/storage/c/a", '{"payload": "x", "ttl": 2, "sortindex": 5}')
    testapp.put(f"{root}/storage/c/b", '{"payload": "keep"}')
    now[0] += 1.99  # expiry has whole-second resolution: visible until the second after
    assert testapp.get(f"{root}/storage/c/a").json["payload"] == "x"
    now[0] += 1.0
    testapp.get(f"{root}/storage/c/a", status=404)
    assert testapp.get(f"{root}/storage/c").json == ["b"]
    assert testapp.get(f"{root}/info/collection_counts").json == {"c": 1}
    testapp.put(f"{root}/storage/c/a", '{"sortindex": 1}', status=400)  # expired = absent
    testapp.put(f"{root}/storage/c/a", '{"payload": "again"}')
    assert set(testapp.get(f"{root}/storage/c/a").json) == {"id", "modified", "payload"}
