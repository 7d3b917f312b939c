"""Kubernetes resource quantities (`500m`, `64Mi`, `1e3`) as numbers.

Pod resources, node capacity, the scheduler's fit check and (later) metrics all read quantities;
this is their one parser. Pure.
"""

from __future__ import annotations

import math
import re

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
