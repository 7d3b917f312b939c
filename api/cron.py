"""Cron schedules of Functions and Workflows: the expression check and the firing arithmetic, in UTC.

What Kubernetes' CronJob accepts (robfig/cron's standard parser): five fields (minute, hour, day of
month, month, day of week) made of numbers, `*`, `?`, ranges `a-b`, steps `/n`, lists `a,b` and
month / weekday names (`jan`, `mon`), or one of `@yearly @annually @monthly @weekly @daily
@midnight @hourly`. croniter evaluates them; its extensions (a seconds field, `L`, `#`, hashed `H`)
and `TZ=`/`CRON_TZ=` prefixes are refused, so a schedule means the same here as on a CronJob. Times
are UTC: there is no time zone field.

The firing rule is CronJob's (`mostRecentScheduleTime`): of the times in `(earliest, now]` only the
most recent fires, so a controller that was down for a while fires once, not once per missed time;
`earliest` is the last scheduled time (or the creation time), moved up to `now - startingDeadline`
when a deadline is set.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone

from croniter import CroniterError, croniter

DESCRIPTORS = frozenset({"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"})
_NAMES = frozenset({"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
                    "sun", "mon", "tue", "wed", "thu", "fri", "sat"})
_TOKEN = re.compile(r"\d+|\*|\?|[A-Za-z]{3}")
FIELDS = ("minute", "hour", "day of month", "month", "day of week")


def schedule_problem(expression: str) -> str | None:
    """Why `expression` is not a standard cron schedule we can run, or None when it is one."""
    text = expression.strip()
    if not text:
        return "must be a cron expression such as `*/5 * * * *` or `@hourly`"
    if text.startswith("@"):
        return None if text.lower() in DESCRIPTORS else (
            f"unknown descriptor {text!r}: use one of {', '.join(sorted(DESCRIPTORS))} or five fields")
    fields = text.split()
    if len(fields) != 5:
        return (f"must have 5 fields (minute hour day-of-month month day-of-week), not {len(fields)}; "
                "seconds fields and time zone prefixes are not supported (schedules are UTC)")
    for name, value in zip(FIELDS, fields):
        for token in re.split(r"[,/-]", value):
            if not _TOKEN.fullmatch(token) or (token.isalpha() and token.lower() not in _NAMES):
                return f"the {name} field {value!r} is not a cron field (numbers, *, ranges a-b, steps /n, lists a,b)"
    try:
        croniter(text, datetime(2000, 1, 1, tzinfo=timezone.utc)).get_next(float)
    except CroniterError as exc:  # out of range, a zero step, or a date that never comes (Feb 30)
        return f"is not a valid schedule: {exc}"
    return None


def next_time(expression: str, after: float) -> float:
    """The first scheduled time strictly after `after` (Unix seconds)."""
    return croniter(expression.strip(), _utc(after)).get_next(float)


def most_recent_time(expression: str, earliest: float, now: float) -> float | None:
    """The latest scheduled time in `(earliest, now]`, or None when none falls in it."""
    if earliest >= now:
        return None
    # croniter's get_prev is strictly before its base; scheduled times are whole minutes, so a base
    # one second past `now` (rounded down) includes a time that is exactly `now`
    latest = croniter(expression.strip(), _utc(math.floor(now) + 1)).get_prev(float)
    return latest if earliest < latest <= now else None


def due_time(expression: str, *, last: float | None, created: float, now: float,
             starting_deadline: int | None = None) -> float | None:
    """The scheduled time that should fire now, or None (CronJob's rule, see the module docstring)."""
    earliest = last if last is not None else created
    if starting_deadline is not None:
        earliest = max(earliest, now - starting_deadline)
    return most_recent_time(expression, earliest, now)


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)
