"""Server timestamps (spec §1.3).

Internally a timestamp is an integer number of hundredths of a second
("centiseconds").  The wire form always has exactly two decimals.  Rounding is
half-even on the decimal representation, as the reference server did.
"""
from __future__ import annotations

import decimal
import time

_CENT = decimal.Decimal("0.01")
_CONTEXT = decimal.Context(prec=40, rounding=decimal.ROUND_HALF_EVEN, traps=[decimal.InvalidOperation])
# Values outside this range cannot be meaningful timestamps and would only
# overflow BIGINT comparisons; they are rejected like any unparseable value.
_LIMIT = decimal.Decimal(10) ** 15


def now_centis(clock=time.time) -> int:
    """The current time, rounded half-even to 0.01 s, in centiseconds.

    Same result as rounding ``Decimal(repr(clock()))``, done on the digits of
    the repr because it runs once per request.
    """
    text = repr(clock())
    whole, dot, frac = text.partition(".")
    if not dot or not whole.isdigit() or not frac.isdigit():  # exponent, sign, inf: the general path
        return _to_centis(decimal.Decimal(text))
    centis = int(whole + frac[:2].ljust(2, "0"))
    rest = frac[2:].rstrip("0")
    if rest > "5" or (rest == "5" and centis % 2):  # above half, or a tie with an odd last digit
        centis += 1
    return centis


def parse_centis(text: str) -> int:
    """A client-supplied decimal timestamp in centiseconds; ValueError if it is not one."""
    try:
        value = decimal.Decimal(text.strip(), context=_CONTEXT)
    except (decimal.InvalidOperation, AttributeError, TypeError):
        raise ValueError(f"not a decimal timestamp: {text!r}") from None
    if not value.is_finite() or abs(value) >= _LIMIT:
        raise ValueError(f"not a decimal timestamp: {text!r}")
    return _to_centis(value)


def _to_centis(value: decimal.Decimal) -> int:
    return int(value.quantize(_CENT, context=_CONTEXT) * 100)


def render(centis: int) -> str:
    """``1300000000.10`` style: exactly two decimals, no exponent."""
    if centis >= 0:  # every timestamp the server makes: one C call
        return "%d.%02d" % divmod(centis, 100)
    return "-%d.%02d" % divmod(-centis, 100)


def to_seconds(centis: int) -> int:
    """Whole seconds (floor), the resolution of TTL expiry."""
    return centis // 100
