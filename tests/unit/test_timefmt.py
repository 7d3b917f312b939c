"""Unit tests of the one home of Kubernetes timestamp formats (`minik8s.api.timefmt`)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from minik8s.api import timefmt

MOMENT = datetime(2026, 11, 26, 23, 0, 0, 123456, tzinfo=timezone.utc).timestamp()


def test_timefmt_time_and_micro_time_are_utc_with_z() -> None:
    """`Time` has whole seconds, `MicroTime` six fraction digits; both end in Z."""
    assert timefmt.format_time(MOMENT) == "2026-11-26T23:00:00Z"
    assert timefmt.format_micro_time(MOMENT) == "2026-11-26T23:00:00.123456Z"


@pytest.mark.parametrize(("seconds", "expected"), [
    pytest.param(-5.0, "1970-01-01T00:00:00Z", id="before-epoch"),
    pytest.param(1e15, "9999-12-31T23:59:59Z", id="after-year-9999"),
])
def test_timefmt_clamps_to_what_rfc3339_can_write(seconds: float, expected: str) -> None:
    """Moments outside 1970..9999 are written as the nearest one inside (never an exception)."""
    assert timefmt.format_time(seconds) == expected


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("2026-11-26T23:00:00Z", MOMENT - 0.123456, id="time"),
    pytest.param("2026-11-26T23:00:00.123456Z", MOMENT, id="micro-time"),
    pytest.param("2026-11-27T00:00:00+01:00", MOMENT - 0.123456, id="offset"),
    pytest.param("2026-11-26T23:00:00", MOMENT - 0.123456, id="no-zone-is-utc"),
])
def test_timefmt_parse_time_reads_both_formats(text: str, expected: float) -> None:
    """parse_time gives an aware datetime for Time, MicroTime and explicit offsets."""
    parsed = timefmt.parse_time(text)
    assert parsed is not None and parsed.tzinfo is not None
    assert parsed.timestamp() == pytest.approx(expected)


@pytest.mark.parametrize("text", [None, "", "yesterday", "2026-13-01T00:00:00Z"])
def test_timefmt_parse_time_missing_or_malformed_is_none(text: str | None) -> None:
    """Nothing to parse, or nonsense, is None rather than an exception."""
    assert timefmt.parse_time(text) is None


def test_timefmt_round_trip() -> None:
    """What format_micro_time writes, parse_time reads back to the same instant."""
    parsed = timefmt.parse_time(timefmt.format_micro_time(MOMENT))
    assert parsed is not None and parsed.timestamp() == pytest.approx(MOMENT)
