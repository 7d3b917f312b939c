"""`kubectl describe` text: the sections every kind shares, and the helpers kinds describe with.

kubectl's describers (`k8s.io/kubectl/pkg/describe`) print an object's metadata, a section per
kind, then the events about the object. Each kind's own section is part of its strategy
(`minik8s.api.kinds.*`, `Strategy.describe`); they write into `Lines` (indentation levels and
tab-separated cells) with the helpers here, and the CLI aligns the cells like kubectl's tab writer.
Pure: no I/O.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from minik8s.api.tables import age, dig
from minik8s.api.timefmt import parse_time

if TYPE_CHECKING:
    from minik8s.api.kinds import ResourceType

Obj = dict[str, Any]


def format_time(value: str | None) -> str:
    """A timestamp the way `kubectl describe` shows it (RFC 1123 with numeric zone, local time)."""
    when = parse_time(value)
    return when.astimezone().strftime("%a, %d %b %Y %H:%M:%S %z") if when else "<unset>"


class Lines:
    """Collects describe lines: indentation level plus tab-separated cells."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, level: int, *cells: Any) -> None:
        self.lines.append("  " * level + "\t".join(str(c) for c in cells))

    def mapping(self, level: int, title: str, values: dict[str, Any] | None, sep: str = "=") -> None:
        """`Labels:  a=b` with further pairs aligned underneath; `<none>` when empty."""
        items = sorted((values or {}).items())
        if not items:
            self.add(level, f"{title}:", "<none>")
            return
        for index, (key, value) in enumerate(items):
            self.add(level, f"{title}:" if index == 0 else "", f"{key}{sep}{value}")


def _words(key: str) -> list[str]:
    """`matchLabels` -> [`match`, `Labels`]."""
    words, word = [], ""
    for char in key:
        if char.isupper() and word and not word[-1].isupper():
            words.append(word)
            word = ""
        word += char
    words.append(word)
    return words


def title(key: str) -> str:
    """`matchLabels` -> `Match Labels`, as kubectl's generic describer prints field names."""
    return " ".join(w[:1].upper() + w[1:] for w in _words(key))


def describe_fields(out: Lines, level: int, value: dict[str, Any]) -> None:
    """kubectl's generic describer: nested fields with titled keys."""
    for key, item in value.items():
        if isinstance(item, dict):
            out.add(level, f"{title(key)}:")
            describe_fields(out, level + 1, item)
        elif isinstance(item, list) and any(isinstance(i, dict) for i in item):
            out.add(level, f"{title(key)}:")
            for entry in item:
                if isinstance(entry, dict):
                    describe_fields(out, level + 1, entry)
                else:
                    out.add(level + 1, entry)
        elif isinstance(item, list):
            out.add(level, f"{title(key)}:", ", ".join(map(str, item)) or "<none>")
        else:
            out.add(level, f"{title(key)}:", item)


def describe_generic(out: Lines, obj: Obj) -> None:
    """Every field but apiVersion, kind and metadata, for kinds without a describer of their own."""
    describe_fields(out, 0, {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")})


def _describe_events(out: Lines, events: list[Obj], now: datetime) -> None:
    if not events:
        out.add(0, "Events:", "<none>")
        return
    out.add(0, "Events:")
    out.add(1, "Type", "Reason", "Age", "From", "Message")
    out.add(1, "----", "------", "----", "----", "-------")
    for ev in sorted(events, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or ""):
        first = age(ev.get("firstTimestamp") or ev.get("eventTime"), now)
        interval = first
        if (ev.get("count") or 0) > 1:
            interval = f"{age(ev.get('lastTimestamp'), now)} (x{ev['count']} over {first})"
        source = dig(ev, "source", "component") or ev.get("reportingController", "")
        out.add(1, ev.get("type", ""), ev.get("reason", ""), interval, source, str(ev.get("message", "")).strip())


def describe_lines(rt: ResourceType, obj: Obj, events: list[Obj], *, now: datetime | None = None) -> list[str]:
    """The lines of `kubectl describe`: metadata, the kind's own section, then the object's events
    (cells separated by tabs, to be aligned by the caller)."""
    out = Lines()
    meta = obj.get("metadata") or {}
    out.add(0, "Name:", meta.get("name", ""))
    if rt.namespaced:
        out.add(0, "Namespace:", meta.get("namespace", ""))
    out.add(0, "CreationTimestamp:", format_time(meta.get("creationTimestamp")))
    out.mapping(0, "Labels", meta.get("labels"))
    out.mapping(0, "Annotations", meta.get("annotations"), sep=": ")
    rt.strategy.describe(out, obj)
    _describe_events(out, events, now or datetime.now(timezone.utc))
    return out.lines
