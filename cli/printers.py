"""kubectl-identical output for the CLI: tables, `-o name|yaml|json`, and `describe` text.

Columns and cells come from `minik8s.api.tables` (kubectl's server-side printers, shared with the
API server's `meta.k8s.io/v1` Table answers); this module picks the columns shown (`priority 1` only
with `-o wide`) and lays them out like kubectl's tab writer (Go `text/tabwriter`: minimum cell
width 6, padding 3, widths remembered across flushes for `get --watch`).
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any

import yaml

from minik8s.api.kinds import ResourceType
from minik8s.api.tables import (
    age,
    cells_for,
    columns_for,
    dig,
    format_label_selector,
    format_labels,
    pod_status,
)
from minik8s.api.timefmt import parse_time

Obj = dict[str, Any]

# --------------------------------------------------------------------------------------------
# Names, headers and rows
# --------------------------------------------------------------------------------------------


def kind_name(rt: ResourceType) -> str:
    """How kubectl names a resource type in output: `pod`, `deployment.apps`."""
    return f"{rt.singular}.{rt.group}" if rt.group else rt.singular


def names(rt: ResourceType, objects: Iterable[Obj]) -> list[str]:
    """`-o name` lines: `pod/x`, `deployment.apps/y`."""
    return [f"{kind_name(rt)}/{dig(obj, 'metadata', 'name', default='')}" for obj in objects]


def headers_for(rt: ResourceType, wide: bool = False) -> list[str]:
    """Column headers as kubectl prints them (`NAME`, `NOMINATED NODE`, ...)."""
    return [c["name"].upper() for c in columns_for(rt, wide)]


def rows_for(rt: ResourceType, obj: Obj, wide: bool = False, *, now: datetime | None = None) -> list[str]:
    """The cells kubectl prints for one object (wide columns only with `wide`), as text."""
    cells = cells_for(rt, obj, now=now)
    return [str(cell) for cell, col in zip(cells, columns_for(rt)) if wide or col["priority"] == 0]


# --------------------------------------------------------------------------------------------
# Layout: Go's text/tabwriter as kubectl configures it
# --------------------------------------------------------------------------------------------


class TabWriter:
    """Go `text/tabwriter` semantics: tab-terminated cells aligned per column block.

    A column block is a run of consecutive lines that have a tab-terminated cell in that column;
    its width is the widest cell plus `padding` (at least `minwidth`). The last cell of a line is
    never padded. With `remember`, widths never shrink between calls (kubectl's watch output).
    """

    def __init__(self, *, minwidth: int, padding: int, remember: bool = False) -> None:
        self._minwidth = minwidth
        self._padding = padding
        self._remembered: list[int] | None = [] if remember else None

    def format(self, lines: list[str]) -> list[str]:
        """The aligned lines (input lines use `\\t` between cells, no newlines)."""
        cells = [line.split("\t") for line in lines]
        widths: list[list[int]] = [[] for _ in cells]
        self._assign(cells, widths, 0, 0, len(cells))
        return ["".join(cell.ljust(w) for cell, w in zip(row, ws)) + row[-1]
                for row, ws in zip(cells, widths)]

    def _assign(self, cells: list[list[str]], widths: list[list[int]], column: int, start: int, end: int) -> None:
        line = start
        while line < end:
            if column >= len(cells[line]) - 1:
                line += 1
                continue
            block = line
            width = self._minwidth
            while line < end and column < len(cells[line]) - 1:
                width = max(width, len(cells[line][column]) + self._padding)
                line += 1
            width = self._remember(column, width)
            for row in range(block, line):
                widths[row].append(width)
            self._assign(cells, widths, column + 1, block, line)

    def _remember(self, column: int, width: int) -> int:
        if self._remembered is None:
            return width
        if column >= len(self._remembered):
            self._remembered.extend([0] * (column + 1 - len(self._remembered)))
        self._remembered[column] = max(self._remembered[column], width)
        return self._remembered[column]


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


def format_rows(rows: list[list[str]]) -> list[str]:
    """Rows of cells laid out like a kubectl table (first row: headers)."""
    return TabWriter(minwidth=6, padding=3).format(["\t".join(row) for row in rows])


def no_resources_message(namespace: str | None) -> str:
    """kubectl's message for an empty result (namespaced query vs cluster-wide)."""
    return f"No resources found in {namespace} namespace." if namespace else "No resources found"


class TablePrinter:
    """Prints one resource type's table; call `print` again for rows that arrive later (watch)."""

    def __init__(self, rt: ResourceType, *, wide: bool = False, show_namespace: bool = False,
                 show_kind: bool = False, no_headers: bool = False) -> None:
        self._rt = rt
        self._wide = wide
        self._show_namespace = show_namespace and rt.namespaced
        self._show_kind = show_kind
        self._headers_due = not no_headers
        self._writer = TabWriter(minwidth=6, padding=3, remember=True)

    def lines(self, objects: Iterable[Obj], *, now: datetime | None = None) -> list[str]:
        """The next lines to print: headers first time, then one row per object."""
        rows = [self._row(obj, now) for obj in objects]
        if self._headers_due:
            rows.insert(0, (["NAMESPACE"] if self._show_namespace else []) + headers_for(self._rt, self._wide))
            self._headers_due = False
        return self._writer.format(["\t".join(row) for row in rows])

    def print(self, objects: Iterable[Obj], *, now: datetime | None = None) -> None:
        for line in self.lines(objects, now=now):
            print(line, flush=True)

    def _row(self, obj: Obj, now: datetime | None) -> list[str]:
        cells = rows_for(self._rt, obj, self._wide, now=now)
        if self._show_kind:
            shown = columns_for(self._rt, self._wide)
            cells = [f"{kind_name(self._rt)}/{cell}" if col["format"] == "name" else cell
                     for cell, col in zip(cells, shown)]
        if self._show_namespace:
            cells.insert(0, dig(obj, "metadata", "namespace", default=""))
        return cells


def print_table(rt: ResourceType, objects: list[Obj], *, wide: bool = False, show_namespace: bool = False,
                show_kind: bool = False, no_headers: bool = False, namespace: str | None = None,
                now: datetime | None = None) -> None:
    """Print a kubectl table, or kubectl's "No resources found" to stderr when `objects` is empty.

    `namespace` is the namespace queried (None for all namespaces or cluster-scoped resources).
    """
    if not objects:
        print(no_resources_message(namespace), file=sys.stderr)
        return
    TablePrinter(rt, wide=wide, show_namespace=show_namespace, show_kind=show_kind,
                 no_headers=no_headers).print(objects, now=now)


# --------------------------------------------------------------------------------------------
# YAML and JSON
# --------------------------------------------------------------------------------------------


def with_type(rt: ResourceType, obj: Obj) -> Obj:
    """The object with `apiVersion` and `kind` first (list items may come without them)."""
    rest = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    return {"apiVersion": obj.get("apiVersion") or rt.api_version, "kind": obj.get("kind") or rt.kind, **rest}


def as_list(items: list[Obj]) -> Obj:
    """kubectl's wrapper for several objects: a `v1` `List`."""
    return {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}}


class _KubectlDumper(yaml.SafeDumper):
    """Scalars styled as kubectl prints them: multi-line strings as `|` blocks, other strings
    that need quoting in double quotes (`"8"`)."""

    def choose_scalar_style(self) -> str:
        style = super().choose_scalar_style()
        if style != "'":
            return style
        if "\n" in self.event.value and self.analysis.allow_block and not self.flow_level:
            return "|"
        return '"'


def to_yaml(obj: Obj) -> str:
    """YAML like `kubectl -o yaml`: keys sorted, block style, long strings not folded."""
    return yaml.dump(obj, Dumper=_KubectlDumper, sort_keys=True, default_flow_style=False, allow_unicode=True,
                     width=1 << 30)


def to_json(obj: Obj) -> str:
    """JSON like `kubectl -o json`: four-space indent, field order kept."""
    return json.dumps(obj, indent=4, ensure_ascii=False)


# --------------------------------------------------------------------------------------------
# describe
# --------------------------------------------------------------------------------------------


def format_time(value: str | None) -> str:
    """A timestamp the way `kubectl describe` shows it (RFC 1123 with numeric zone, local time)."""
    when = parse_time(value)
    return when.astimezone().strftime("%a, %d %b %Y %H:%M:%S %z") if when else "<unset>"


class _Lines:
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


def _describe_container_state(out: _Lines, level: int, title: str, state: Obj | None) -> None:
    """`State:` / `Last State:` of a container with the details of that state."""
    state = state or {}
    if "running" in state:
        out.add(level, f"{title}:", "Running")
        out.add(level + 1, "Started:", format_time(dig(state, "running", "startedAt")))
    elif "terminated" in state:
        term = state["terminated"] or {}
        out.add(level, f"{title}:", "Terminated")
        out.add(level + 1, "Reason:", term.get("reason", ""))
        out.add(level + 1, "Exit Code:", term.get("exitCode", 0))
        out.add(level + 1, "Started:", format_time(term.get("startedAt")))
        out.add(level + 1, "Finished:", format_time(term.get("finishedAt")))
    elif "waiting" in state:
        out.add(level, f"{title}:", "Waiting")
        out.add(level + 1, "Reason:", dig(state, "waiting", "reason", default=""))
    elif title == "State":
        out.add(level, f"{title}:", "Waiting")


def _describe_containers(out: _Lines, level: int, containers: list[Obj], statuses: list[Obj] | None) -> None:
    """The `Containers:` section; `statuses` is None for a pod template (no runtime state)."""
    by_name = {s.get("name"): s for s in statuses or []}
    out.add(level, "Containers:")
    for container in containers:
        out.add(level + 1, f"{container.get('name', '')}:")
        out.add(level + 2, "Image:", container.get("image", ""))
        ports = [f"{p.get('containerPort')}/{p.get('protocol', 'TCP')}" for p in container.get("ports") or []]
        out.add(level + 2, "Port:" if len(ports) < 2 else "Ports:", ", ".join(ports) or "<none>")
        if container.get("command"):
            out.add(level + 2, "Command:", " ".join(container["command"]))
        if container.get("args"):
            out.add(level + 2, "Args:", " ".join(container["args"]))
        if statuses is not None:
            status = by_name.get(container.get("name"), {})
            _describe_container_state(out, level + 2, "State", status.get("state"))
            _describe_container_state(out, level + 2, "Last State", status.get("lastState"))
            out.add(level + 2, "Ready:", bool(status.get("ready")))
            out.add(level + 2, "Restart Count:", status.get("restartCount", 0))
        env = container.get("env") or []
        if not env:
            out.add(level + 2, "Environment:", "<none>")
            continue
        out.add(level + 2, "Environment:")
        for var in env:
            out.add(level + 3, f"{var.get('name', '')}:", var.get("value", "<set from a source>"))


def _describe_pod(out: _Lines, pod: Obj) -> None:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    node = spec.get("nodeName")
    out.add(0, "Node:", f"{node}/{status['hostIP']}" if node and status.get("hostIP") else node or "<none>")
    if status.get("startTime"):
        out.add(0, "Start Time:", format_time(status["startTime"]))
    shown = pod_status(pod) if dig(pod, "metadata", "deletionTimestamp") else status.get("phase", "")
    out.add(0, "Status:", shown)
    if status.get("reason"):
        out.add(0, "Reason:", status["reason"])
    if status.get("message"):
        out.add(0, "Message:", status["message"])
    out.add(0, "IP:", status.get("podIP") or dig(status, "podIPs", 0, "ip", default=""))
    owner = next((o for o in dig(pod, "metadata", "ownerReferences", default=[]) if o.get("controller")), None)
    if owner:
        out.add(0, "Controlled By:", f"{owner.get('kind')}/{owner.get('name')}")
    _describe_containers(out, 0, spec.get("containers") or [], status.get("containerStatuses") or [])
    conditions = status.get("conditions") or []
    if conditions:
        out.add(0, "Conditions:")
        out.add(1, "Type", "Status")
        for cond in conditions:
            out.add(1, cond.get("type", ""), cond.get("status", ""))
    out.mapping(0, "Node-Selectors", spec.get("nodeSelector"))


def _describe_workload(out: _Lines, obj: Obj) -> None:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    out.add(0, "Selector:", format_label_selector(spec.get("selector")))
    if obj.get("kind") == "Deployment":
        unavailable = status.get("unavailableReplicas", 0)
        out.add(0, "Replicas:", f"{spec.get('replicas', 1)} desired | {status.get('updatedReplicas', 0)} updated | "
                f"{status.get('replicas', 0)} total | {status.get('availableReplicas', 0)} available | "
                f"{unavailable} unavailable")
        out.add(0, "StrategyType:", dig(spec, "strategy", "type", default="RollingUpdate"))
    else:
        out.add(0, "Replicas:", f"{status.get('replicas', 0)} current / {spec.get('replicas', 1)} desired")
    out.add(0, "Pod Template:")
    out.mapping(1, "Labels", dig(spec, "template", "metadata", "labels"))
    _describe_containers(out, 1, dig(spec, "template", "spec", "containers", default=[]), None)
    conditions = status.get("conditions") or []
    if conditions:
        out.add(0, "Conditions:")
        out.add(1, "Type", "Status", "Reason")
        out.add(1, "----", "------", "------")
    for cond in conditions:
        out.add(1, cond.get("type", ""), cond.get("status", ""), cond.get("reason", ""))


def _describe_service(out: _Lines, svc: Obj) -> None:
    spec = svc.get("spec") or {}
    out.add(0, "Selector:", format_labels(spec.get("selector")))
    out.add(0, "Type:", spec.get("type", "ClusterIP"))
    out.add(0, "IP:", spec.get("clusterIP") or "<none>")
    for port in spec.get("ports") or []:
        name, protocol = port.get("name") or "<unset>", port.get("protocol", "TCP")
        out.add(0, "Port:", name, f"{port.get('port')}/{protocol}")
        out.add(0, "TargetPort:", f"{port.get('targetPort', port.get('port'))}/{protocol}")
        if port.get("nodePort"):
            out.add(0, "NodePort:", name, f"{port['nodePort']}/{protocol}")


def _describe_node(out: _Lines, node: Obj) -> None:
    status = node.get("status") or {}
    out.add(0, "Unschedulable:", bool(dig(node, "spec", "unschedulable")))
    conditions = status.get("conditions") or []
    out.add(0, "Conditions:")
    out.add(1, "Type", "Status", "LastHeartbeatTime", "Reason", "Message")
    out.add(1, "----", "------", "-----------------", "------", "-------")
    for cond in conditions:
        out.add(1, cond.get("type", ""), cond.get("status", ""), format_time(cond.get("lastHeartbeatTime")),
                cond.get("reason", ""), cond.get("message", ""))
    out.add(0, "Addresses:")
    for address in status.get("addresses") or []:
        out.add(1, f"{address.get('type')}:", address.get("address", ""))
    for title, key in (("Capacity", "capacity"), ("Allocatable", "allocatable")):
        out.add(0, f"{title}:")
        for name, value in sorted((status.get(key) or {}).items()):
            out.add(1, f"{name}:", value)
    out.add(0, "PodCIDR:", dig(node, "spec", "podCIDR", default=""))


def _describe_configmap(out: _Lines, cm: Obj) -> None:
    out.add(0, "")
    out.add(0, "Data")
    out.add(0, "====")
    for key, value in sorted((cm.get("data") or {}).items()):
        out.add(0, f"{key}:")
        out.add(0, "----")
        out.lines.extend(str(value).rstrip("\n").split("\n"))
        out.add(0, "")
    out.add(0, "")
    out.add(0, "BinaryData")
    out.add(0, "====")
    for key, value in sorted((cm.get("binaryData") or {}).items()):
        out.add(0, f"{key}: {len(base64.b64decode(value))} bytes")
    out.add(0, "")


def _title(key: str) -> str:
    """`matchLabels` -> `Match Labels`, as kubectl's generic describer prints field names."""
    words, word = [], ""
    for char in key:
        if char.isupper() and word and not word[-1].isupper():
            words.append(word)
            word = ""
        word += char
    words.append(word)
    return " ".join(w[:1].upper() + w[1:] for w in words)


def _describe_fields(out: _Lines, level: int, value: Any) -> None:
    """kubectl's generic describer: nested fields with titled keys."""
    for key, item in value.items():
        if isinstance(item, dict):
            out.add(level, f"{_title(key)}:")
            _describe_fields(out, level + 1, item)
        elif isinstance(item, list) and any(isinstance(i, dict) for i in item):
            out.add(level, f"{_title(key)}:")
            for entry in item:
                if isinstance(entry, dict):
                    _describe_fields(out, level + 1, entry)
                else:
                    out.add(level + 1, entry)
        elif isinstance(item, list):
            out.add(level, f"{_title(key)}:", ", ".join(map(str, item)) or "<none>")
        else:
            out.add(level, f"{_title(key)}:", item)


def _describe_generic(out: _Lines, obj: Obj) -> None:
    _describe_fields(out, 0, {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")})


_DESCRIBERS: dict[str, Callable[[_Lines, Obj], None]] = {
    "pods": _describe_pod,
    "deployments.apps": _describe_workload,
    "replicasets.apps": _describe_workload,
    "services": _describe_service,
    "nodes": _describe_node,
    "configmaps": _describe_configmap,
}


def _describe_events(out: _Lines, events: list[Obj], now: datetime) -> None:
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


def describe(rt: ResourceType, obj: Obj, events: list[Obj], *, now: datetime | None = None) -> str:
    """kubectl-like `describe` text: metadata, kind-specific fields, then the object's events."""
    out = _Lines()
    meta = obj.get("metadata") or {}
    out.add(0, "Name:", meta.get("name", ""))
    if rt.namespaced:
        out.add(0, "Namespace:", meta.get("namespace", ""))
    out.add(0, "CreationTimestamp:", format_time(meta.get("creationTimestamp")))
    out.mapping(0, "Labels", meta.get("labels"))
    out.mapping(0, "Annotations", meta.get("annotations"), sep=": ")
    _DESCRIBERS.get(rt.group_plural, _describe_generic)(out, obj)
    _describe_events(out, events, now or datetime.now(timezone.utc))
    return "\n".join(TabWriter(minwidth=0, padding=2).format(out.lines))
