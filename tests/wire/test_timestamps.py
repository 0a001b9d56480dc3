import pytest

from syncstorage.wire.timestamps import now_centis, parse_centis, render, to_seconds


@pytest.mark.parametrize("text,rendered", [
    ("1300000000.125", "1300000000.12"), ("1300000000.135", "1300000000.14"), ("1300000000.1", "1300000000.10"),
    ("1300000000", "1300000000.00"), (" 1.005 ", "1.00"), ("1e3", "1000.00"), ("-1.5", "-1.50"),
    ("0.05", "0.05"), ("-0.05", "-0.05"), ("-1234.56", "-1234.56"), ("0", "0.00"),
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


def test_now_agrees_with_decimal_rounding_of_the_clock():
    """The digit-based rounding gives what Decimal gives, ties and odd inputs included."""
    import decimal
    import random

    rng = random.Random(7)
    clocks = [1e22, -1.125, 0.005, 0.015, 5.0, 1300000000.005, 1300000000.0051, 1300000000.0149999]
    clocks += [rng.randrange(10**12, 10**13) / 10**rng.randrange(0, 5) for _ in range(5000)]
    clocks += [rng.uniform(1e9, 2e9) for _ in range(5000)]
    for clock in clocks:
        expected = int(decimal.Decimal(repr(clock)).quantize(decimal.Decimal("0.01"),
                                                             rounding=decimal.ROUND_HALF_EVEN) * 100)
        assert now_centis(lambda: clock) == expected, clock


def test_seconds_floor():
    assert to_seconds(130000000099) == 1300000000
