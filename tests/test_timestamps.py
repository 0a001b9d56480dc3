import pytest

from syncstorage.timestamps import now_centis, parse_centis, render, to_seconds


@pytest.mark.parametrize("text,rendered", [
    ("1300000000.125", "1300000000.12"), ("1300000000.135", "1300000000.14"), ("1300000000.1", "1300000000.10"),
    ("1300000000", "1300000000.00"), (" 1.005 ", "1.00"), ("1e3", "1000.00"), ("-1.5", "-1.50"),
])
def test_parse_rounds_half_even_and_render_has_two_decimals(text, rendered):
    assert render(parse_centis(text)) == rendered


@pytest.mark.parametrize("text", ["", "abc", "nan", "inf", "-Infinity", "1.2.3", "1e400", "0x10"])
def test_parse_rejects_non_numbers(text):
    with pytest.raises(ValueError):
        parse_centis(text)


def test_now_rounds_the_clock_half_even():
    assert now_centis(lambda: 1300000000.125) == 130000000012
    assert now_centis(lambda: 1300000000.135) == 130000000014
    assert now_centis(lambda: 1300000000.0) == 130000000000


def test_seconds_floor():
    assert to_seconds(130000000099) == 1300000000
