"""Kubernetes resource quantities (`500m`, `64Mi`, `1e3`) as numbers.

Pod resources, node capacity, the scheduler's fit check, metrics and the HPA controller all read
quantities; this is their one parser. `milli_value` is exact (decimal arithmetic), as the HPA's
integer arithmetic needs. Pure.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_CEILING, Decimal, InvalidOperation

_QUANTITY = re.compile(
    r"(?P<number>[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+))"
    r"(?:[eE](?P<exponent>[+-]?[0-9]+)|(?P<suffix>[KMGTPE]i|[numkMGTPE]))?")
QUANTITY_MESSAGE = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
_SUFFIXES: dict[str, float] = {
    "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50, "Ei": 2.0**60,
}


def parse_quantity(text: str | int | float) -> float:
    """A Kubernetes quantity as a number: cpu in cores ("500m" → 0.5), memory in bytes ("64Mi").

    Raises ValueError when `text` is not a finite quantity.
    """
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise ValueError(QUANTITY_MESSAGE)
    try:
        value = _parse_text(text) if isinstance(text, str) else float(text)
    except OverflowError:
        raise ValueError(QUANTITY_MESSAGE) from None
    if not math.isfinite(value):
        raise ValueError(QUANTITY_MESSAGE)
    return value


def _parse_text(text: str) -> float:
    match = _QUANTITY.fullmatch(text)
    if match is None:
        raise ValueError(QUANTITY_MESSAGE)
    number = float(match["number"])
    if match["exponent"] is not None:
        return number * 10.0 ** int(match["exponent"])
    return number * _SUFFIXES.get(match["suffix"] or "", 1.0)


_DECIMAL_SUFFIXES: dict[str, Decimal] = {
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "k": Decimal("1e3"), "M": Decimal("1e6"),
    "G": Decimal("1e9"), "T": Decimal("1e12"), "P": Decimal("1e15"), "E": Decimal("1e18"),
    "Ki": Decimal(2**10), "Mi": Decimal(2**20), "Gi": Decimal(2**30), "Ti": Decimal(2**40), "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}


def milli_value(text: str | int) -> int:
    """Kubernetes' `Quantity.MilliValue()`: the quantity in thousandths, exact and rounded up
    (`250m` → 250, `0.1` → 100, `1Ki` → 1024000, `1234567n` → 2). ValueError when not a quantity."""
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        raise ValueError(QUANTITY_MESSAGE)
    match = _QUANTITY.fullmatch(str(text))
    if match is None:
        raise ValueError(QUANTITY_MESSAGE)
    try:
        number = Decimal(match["number"])
        if match["exponent"] is not None:
            number = number.scaleb(int(match["exponent"]))
        else:
            number *= _DECIMAL_SUFFIXES.get(match["suffix"] or "", Decimal(1))
        return int((number * 1000).to_integral_value(rounding=ROUND_CEILING))
    except (InvalidOperation, OverflowError):
        raise ValueError(QUANTITY_MESSAGE) from None


def format_milli(value: int) -> str:
    """Kubernetes' `NewMilliQuantity(value, DecimalSI).String()`: thousandths in canonical decimal form
    (`500` → `500m`, `2000` → `2`, `104857600000` → `104857600`, `3000000` → `3k`)."""
    if value == 0:
        return "0"
    sign, magnitude = ("-" if value < 0 else ""), abs(value)
    for exponent, suffix in ((21, "E"), (18, "P"), (15, "T"), (12, "G"), (9, "M"), (6, "k"), (3, "")):
        if magnitude % 10**exponent == 0:
            return f"{sign}{magnitude // 10**exponent}{suffix}"
    return f"{sign}{magnitude}m"
