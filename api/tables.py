"""kubectl's server-side printing: `meta.k8s.io/v1` Table columns and cells per resource.

Kubernetes answers `kubectl get` with a Table (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`)
built by the printers in `pkg/printers/internalversion/printers.go`: per resource, column
definitions (`priority 1`: shown by kubectl only with `-o wide`; the server always sends every
column) and a function computing every cell of one object. This module reproduces them, plus the
Table and watch-event envelopes, so the API server and the CLI (which lays the same cells out for
its own `get`) share one implementation. Cells are what Kubernetes sends: mostly strings such as
`5m` for ages and `3 (5m ago)` for pod restarts, integers where Kubernetes sends `int64` cells.
Each kind's columns and cells are part of its strategy (`minik8s.api.kinds.*`); the helpers they
share and the Table envelopes live here. Pure functions, no I/O.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from minik8s.api.timefmt import parse_time

if TYPE_CHECKING:
    from minik8s.api.kinds import ResourceType

Obj = dict[str, Any]
Column = dict[str, Any]

# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def dig(obj: Any, *path: str | int, default: Any = None) -> Any:
    """`obj[path0][path1]...`, or `default` when any step is missing or null."""
    for step in path:
        try:
            obj = obj[step]
        except (KeyError, IndexError, TypeError):
            return default
        if obj is None:
            return default
    return obj


def human_duration(seconds: float) -> str:
    """kubectl's `duration.HumanDuration`: `5s`, `3m2s`, `10m`, `3h5m`, `3d4h`, `45d`, `2y`."""
    secs = int(seconds)
    if secs < -1:
        return "<invalid>"
    if secs < 0:
        return "0s"
    if secs < 120:
        return f"{secs}s"
    minutes = secs // 60
    if minutes < 10:
        return f"{minutes}m{secs % 60}s" if secs % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = secs // 3600
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        years, days = hours // 24 // 365, hours // 24 % 365
        return f"{years}y{days}d" if days else f"{years}y"
    return f"{hours // 24 // 365}y"


def age(timestamp: str | None, now: datetime) -> str:
    """kubectl's `translateTimestampSince`: the time since `timestamp`, `<unknown>` when unset."""
    when = parse_time(timestamp)
    if when is None:
        return "<unknown>"
    return human_duration((now - when).total_seconds())


def format_labels(labels: dict[str, str] | None) -> str:
    """`labels.FormatLabels`: sorted `k=v` joined by commas, `<none>` when empty."""
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items())) or "<none>"


def format_label_selector(selector: Obj | None) -> str:
    """`metav1.FormatLabelSelector`: requirements sorted by key, `<none>` when empty."""
    selector = selector or {}
    parts = [(key, f"{key}={value}") for key, value in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key", ""), expr.get("operator", ""), sorted(expr.get("values") or [])
        text = {
            "In": f"{key} in ({','.join(values)})",
            "NotIn": f"{key} notin ({','.join(values)})",
            "Exists": key,
            "DoesNotExist": f"!{key}",
        }.get(op, f"{key} {op} ({','.join(values)})")
        parts.append((key, text))
    return ",".join(text for _, text in sorted(parts)) or "<none>"


def container_cells(template_spec: Obj | None) -> tuple[str, str]:
    """`layoutContainerCells`: comma-joined container names and images."""
    containers = dig(template_spec, "containers", default=[])
    return (",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers))


def lb_ingress(status: Obj | None) -> str:
    """Load-balancer ingress points (IP, else hostname), as services and ingresses print them."""
    points = {i.get("ip") or i.get("hostname") for i in dig(status, "loadBalancer", "ingress", default=[])}
    return ",".join(sorted(p for p in points if p))


def join_more(items: list[str], count: int, maximum: int, sep: str) -> str:
    """kubectl's `a,b,c + N more...` shortening."""
    text = sep.join(items[:maximum])
    return f"{text} + {count - maximum} more..." if count > maximum else text


def condition_true(obj: Obj, cond_type: str) -> bool:
    """Whether `status.conditions` has `cond_type` with status True."""
    return any(c.get("type") == cond_type and c.get("status") == "True"
               for c in dig(obj, "status", "conditions", default=[]))


# --------------------------------------------------------------------------------------------
# Column definitions (metav1.TableColumnDefinition)
# --------------------------------------------------------------------------------------------

NAME_DOC = ("Name must be unique within a namespace. Is required when creating resources, although some "
            "resources may allow a client to request the generation of an appropriate name automatically. "
            "Name is primarily intended for creation idempotence and configuration definition. Cannot be "
            "updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names")
_AGE_DOC = ("CreationTimestamp is a timestamp representing the server time when this object was created. It is "
            "not guaranteed to be set in happens-before order across separate operations. Clients may not set "
            "this value. It is represented in RFC3339 form and is in UTC.")


def column(name: str, description: str, *, type_: str = "string", priority: int = 0, format_: str = "") -> Column:
    """One `TableColumnDefinition`; `format` "name" marks the object's name (printed `kind/name` when kinds mix)."""
    return {"name": name, "type": type_, "format": format_, "description": description, "priority": priority}


def wide_column(name: str, description: str) -> Column:
    """A column kubectl shows only with `-o wide` (priority 1)."""
    return column(name, description, priority=1)


NAME_COLUMN = column("Name", NAME_DOC, format_="name")
AGE_COLUMN = column("Age", _AGE_DOC)


def name_cell(obj: Obj) -> str:
    """The NAME cell."""
    return dig(obj, "metadata", "name", default="")


def age_cell(obj: Obj, now: datetime) -> str:
    """The AGE cell: time since `metadata.creationTimestamp`."""
    return age(dig(obj, "metadata", "creationTimestamp"), now)


def columns_for(rt: ResourceType, wide: bool = True) -> list[Column]:
    """The resource's `TableColumnDefinition`s: all of them (what the server sends), or with
    `wide=False` only those kubectl shows without `-o wide` (priority 0)."""
    return [dict(c) for c in rt.strategy.columns if wide or c["priority"] == 0]


def cells_for(rt: ResourceType, obj: Obj, *, now: datetime | None = None) -> list[Any]:
    """Every cell of one object's row (strings and integers), aligned with `columns_for(rt)`."""
    return rt.strategy.cells(obj, now or datetime.now(timezone.utc))


# --------------------------------------------------------------------------------------------
# Content negotiation
# --------------------------------------------------------------------------------------------

TABLE_GROUP = "meta.k8s.io"
TABLE_VERSIONS = ("v1", "v1beta1")
_JSON_TYPES = ("application/json", "application/*", "*/*")


def _media_ranges(accept: str) -> list[tuple[str, dict[str, str]]]:
    """The Accept header's media ranges, most preferred first (by `q`, then header order),
    without those refused with `q=0`."""
    ranges: list[tuple[float, int, str, dict[str, str]]] = []
    for index, clause in enumerate(accept.split(",")):
        media_type, *params = (part.strip() for part in clause.split(";"))
        options: dict[str, str] = {}
        for param in params:
            key, _, value = param.partition("=")
            options[key.strip().lower()] = value.strip().strip('"')
        try:
            quality = float(options.pop("q", "1"))
        except ValueError:
            quality = 1.0
        if media_type and quality > 0:
            ranges.append((-quality, index, media_type.lower(), options))
    return [(media_type, options) for _, _, media_type, options in sorted(ranges)]


def table_version(accept: str | None) -> str | None:
    """The `meta.k8s.io` version of the Table the client prefers (`v1` or `v1beta1`), or None when its
    most preferred acceptable answer is the plain object or list.

    Like kube-apiserver, a range asking for a conversion this server cannot do (another `as=`, group
    or version) is skipped; a JSON range without `as=` ends the search.
    """
    for media_type, options in _media_ranges(accept or ""):
        if media_type not in _JSON_TYPES:
            continue
        if "as" not in options:
            return None
        if options["as"] == "Table" and options.get("g") == TABLE_GROUP and options.get("v") in TABLE_VERSIONS:
            return options["v"]
    return None


def wants_table(accept: str | None) -> bool:
    """Whether the Accept header asks for a `meta.k8s.io` Table (kubectl get does)."""
    return table_version(accept) is not None


# --------------------------------------------------------------------------------------------
# Tables and watch events
# --------------------------------------------------------------------------------------------

INCLUDE_OBJECT = ("None", "Metadata", "Object")


def _row_object(rt: ResourceType, obj: Obj, include_object: str, version: str) -> Obj | None:
    """`rows[].object` for `?includeObject=`: the full object, its metadata as PartialObjectMetadata, or none."""
    if include_object == "Object":
        return {"apiVersion": rt.api_version, "kind": rt.kind, **obj}
    if include_object == "Metadata":
        return {"kind": "PartialObjectMetadata", "apiVersion": f"{TABLE_GROUP}/{version}",
                "metadata": dict(obj.get("metadata") or {})}
    return None


def _row(rt: ResourceType, obj: Obj, include_object: str, version: str, now: datetime) -> Obj:
    row: Obj = {"cells": cells_for(rt, obj, now=now)}
    embedded = _row_object(rt, obj, include_object, version)
    if embedded is not None:
        row["object"] = embedded
    return row


def table(rt: ResourceType, objects: list[Obj], *, resource_version: str, include_object: str = "Metadata",
          now: float | None = None, version: str = "v1") -> Obj:
    """A `meta.k8s.io` Table of `objects` with every column, as kube-apiserver answers a list or get.

    `include_object` is the `includeObject` query parameter (`None`, `Metadata` (the default),
    `Object`); `now` is the clock reading (epoch seconds) ages are computed from; `version` is the
    Table version negotiated by `table_version`. Raises ValueError for an unknown `include_object`
    (kube-apiserver answers 400 Bad Request).
    """
    if include_object not in INCLUDE_OBJECT:
        raise ValueError(f'unrecognized includeObject value: "{include_object}"')
    moment = datetime.now(timezone.utc) if now is None else datetime.fromtimestamp(now, timezone.utc)
    return {
        "kind": "Table",
        "apiVersion": f"{TABLE_GROUP}/{version}",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": columns_for(rt),
        "rows": [_row(rt, obj, include_object, version, moment) for obj in objects],
    }


def table_event(rt: ResourceType, event_type: str, obj: Obj, *, include_object: str = "Metadata", first: bool,
                now: float | None = None, version: str = "v1") -> Obj:
    """One watch event for a client that asked for Tables: `{"type", "object": Table}`.

    Like kube-apiserver, the Table holds the event's object as its one row (none for a BOOKMARK)
    and its resourceVersion; column definitions come only with the `first` event of the stream
    (an empty list afterwards). ERROR events keep their Status object.
    """
    if event_type == "ERROR":
        return {"type": event_type, "object": obj}
    rows = [] if event_type == "BOOKMARK" else [obj]
    resource_version = dig(obj, "metadata", "resourceVersion", default="")
    shaped = table(rt, rows, resource_version=resource_version, include_object=include_object, now=now,
                   version=version)
    if not first:
        shaped["columnDefinitions"] = []
    return {"type": event_type, "object": shaped}
