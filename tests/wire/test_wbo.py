import pytest

from syncstorage.wire.wbo import InvalidWBO, WBO, parse_wbo, valid_id


def test_full_record():
    wbo = parse_wbo({"id": "a", "payload": "p", "sortindex": 5, "ttl": 10, "parentid": "x", "predecessorid": 7,
                     "modified": 123, "unknown": True})
    assert wbo == WBO(id="a", payload="p", sortindex=5, ttl=10, parentid="x", predecessorid="7")


@pytest.mark.parametrize("sortindex,expected", [("9999.1", 9999), (5.5, 5), (-5.5, -5), ("12", 12),
                                                (999999999, 999999999), (-999999999, -999999999)])
def test_sortindex_conversion(sortindex, expected):
    assert parse_wbo({"id": "a", "sortindex": sortindex}).sortindex == expected


@pytest.mark.parametrize("ttl,expected", [("3600", 3600), (1.9, 1), (0, 0), (31536000, 31536000)])
def test_ttl_conversion(ttl, expected):
    assert parse_wbo({"id": "a", "ttl": ttl}).ttl == expected


@pytest.mark.parametrize("data,message", [
    ({"id": "x" * 65}, "invalid id"), ({"id": "a/b"}, "invalid id"), ({"id": ""}, "invalid id"),
    ({"id": "tab\there"}, "invalid id"), ({"id": "é"}, "invalid id"), ({"id": True}, "invalid id"),
    ({"payload": "no id"}, "invalid id"),
    ({"id": "a", "parentid": "p" * 65}, "invalid parentid"), ({"id": "a", "predecessorid": "q" * 65}, "invalid predecessorid"),
    ({"id": "a", "ttl": -1}, "invalid ttl"), ({"id": "a", "ttl": 31536001}, "invalid ttl"),
    ({"id": "a", "ttl": "1.5"}, "invalid ttl"), ({"id": "a", "ttl": True}, "invalid ttl"),
    ({"id": "a", "sortindex": 1000000000}, "invalid sortindex"), ({"id": "a", "sortindex": "FAIL"}, "invalid sortindex"),
    ({"id": "a", "sortindex": "nan"}, "invalid sortindex"),
    ({"id": "a", "payload": 42}, "payload not a string"), ({"id": "a", "payload": "x" * 262145}, "payload too large"),
    ({"id": "a", "payload": "é" * 131073}, "payload too large"),
    ({"id": "a", "x": [1]}, "invalid wbo"), ({"id": "a", "x": {}}, "invalid wbo"), ("string", "invalid wbo"),
    ([1], "invalid wbo"), (None, "invalid wbo"),
])
def test_failures_carry_the_spec_message(data, message):
    with pytest.raises(InvalidWBO) as info:
        parse_wbo(data)
    assert str(info.value) == message


def test_checks_run_in_spec_order():
    with pytest.raises(InvalidWBO, match="invalid id"):
        parse_wbo({"id": "x" * 65, "ttl": -1, "sortindex": "x", "payload": 1})
    with pytest.raises(InvalidWBO, match="invalid ttl"):
        parse_wbo({"id": "a", "ttl": -1, "sortindex": "x", "payload": 1})
    with pytest.raises(InvalidWBO, match="invalid sortindex"):
        parse_wbo({"id": "a", "sortindex": "x", "payload": 1})


def test_null_is_absent_and_url_id_wins():
    wbo = parse_wbo({"id": "body", "payload": None, "sortindex": None}, url_id="url")
    assert wbo == WBO(id="url")
    assert parse_wbo({"payload": "x"}, url_id="u").id == "u"
    assert parse_wbo({"id": 12, "payload": ""}).id == "12"


def test_payload_limit_is_bytes():
    assert parse_wbo({"id": "a", "payload": "x" * 262144}).payload_size == 262144
    assert parse_wbo({"id": "a", "payload": "é" * 131072}).payload_size == 262144


def test_valid_id():
    assert valid_id("{a1b2-c3}") and valid_id("a" * 64) and valid_id("sp ace")
    assert not valid_id("a" * 65) and not valid_id("") and not valid_id(None) and not valid_id("a/b")


def test_valid_id_is_printable_ascii_without_slash_for_every_character():
    for code in range(0x250):
        ch = chr(code)
        assert valid_id("a" + ch) == (" " <= ch <= "~" and ch != "/"), hex(code)


def test_payload_size_counts_utf8_bytes():
    assert WBO(id="a", payload="abc").payload_size == 3 and WBO(id="a", payload="é✓").payload_size == 5
    assert WBO(id="a").payload_size == 0
