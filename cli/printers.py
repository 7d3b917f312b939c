"""kubectl-identical output for the CLI: tables, `-o name|yaml|json`, and `describe` text.

Tables follow kubectl's server-side printers (`pkg/printers/internalversion/printers.go`): each
resource has column definitions (`priority 1` = only with `-o wide`) and a pure function computing
every cell of one object, so the API server can reuse `columns_for` and `cells_for` to answer
`meta.k8s.io/v1` Table requests. Layout reproduces kubectl's tab writer (Go `text/tabwriter`:
minimum cell width 6, padding 3, widths remembered across flushes for `get --watch`).
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import yaml

from minik8s.api.kinds import ResourceType

Obj = dict[str, Any]

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


def parse_time(value: str | None) -> datetime | None:
    """An RFC 3339 timestamp as an aware datetime (None when missing or malformed)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


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


def _name(obj: Obj) -> str:
    return dig(obj, "metadata", "name", default="")


def _age(obj: Obj, now: datetime) -> str:
    return age(dig(obj, "metadata", "creationTimestamp"), now)


def kind_name(rt: ResourceType) -> str:
    """How kubectl names a resource type in output: `pod`, `deployment.apps`."""
    return f"{rt.singular}.{rt.group}" if rt.group else rt.singular


def names(rt: ResourceType, objects: Iterable[Obj]) -> list[str]:
    """`-o name` lines: `pod/x`, `deployment.apps/y`."""
    return [f"{kind_name(rt)}/{_name(obj)}" for obj in objects]


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


def _containers(template_spec: Obj | None) -> tuple[str, str]:
    """`layoutContainerCells`: comma-joined container names and images."""
    containers = dig(template_spec, "containers", default=[])
    return (",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers))


def _lb_ingress(status: Obj | None) -> str:
    """Load-balancer ingress points (IP, else hostname), as services and ingresses print them."""
    points = {i.get("ip") or i.get("hostname") for i in dig(status, "loadBalancer", "ingress", default=[])}
    return ",".join(sorted(p for p in points if p))


# --------------------------------------------------------------------------------------------
# Cells of one object, per resource
# --------------------------------------------------------------------------------------------


def _is_restartable_init(container: Obj | None) -> bool:
    return bool(container) and container.get("restartPolicy") == "Always"


def _condition_true(obj: Obj, cond_type: str) -> bool:
    return any(c.get("type") == cond_type and c.get("status") == "True"
               for c in dig(obj, "status", "conditions", default=[]))


def _later(current: datetime | None, candidate: str | None) -> datetime | None:
    when = parse_time(candidate)
    if when is None or (current is not None and current >= when):
        return current
    return when


def pod_status(pod: Obj) -> str:
    """The STATUS column of `kubectl get pods` (kubectl's `printPod` reason rules)."""
    return _pod_summary(pod)[0]


def _pod_summary(pod: Obj) -> tuple[str, int, int, int, datetime | None]:
    """(reason, ready containers, total containers, restarts, last restart time) like `printPod`."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    phase = status.get("phase", "")
    reason = status.get("reason") or phase
    if any(c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated"
           for c in status.get("conditions") or []):
        reason = "SchedulingGated"
    init_specs = {c.get("name"): c for c in spec.get("initContainers") or []}
    total = len(spec.get("containers") or []) + sum(map(_is_restartable_init, init_specs.values()))
    ready = restarts = sidecar_restarts = 0
    last_restart: datetime | None = None
    last_sidecar_restart: datetime | None = None
    initializing = False
    init_statuses = status.get("initContainerStatuses") or []
    for index, cs in enumerate(init_statuses):
        restarts += cs.get("restartCount", 0)
        finished = dig(cs, "lastState", "terminated", "finishedAt")
        last_restart = _later(last_restart, finished)
        sidecar = _is_restartable_init(init_specs.get(cs.get("name")))
        if sidecar:
            sidecar_restarts += cs.get("restartCount", 0)
            last_sidecar_restart = _later(last_sidecar_restart, finished)
        terminated, waiting = dig(cs, "state", "terminated"), dig(cs, "state", "waiting")
        if terminated is not None and terminated.get("exitCode", 0) == 0:
            continue
        if sidecar and cs.get("started"):
            ready += bool(cs.get("ready"))
            continue
        initializing = True
        if terminated is not None:
            if terminated.get("reason"):
                reason = "Init:" + terminated["reason"]
            elif terminated.get("signal"):
                reason = f"Init:Signal:{terminated['signal']}"
            else:
                reason = f"Init:ExitCode:{terminated.get('exitCode', 0)}"
        elif waiting is not None and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{index}/{len(spec.get('initContainers') or [])}"
        break
    if not initializing or _condition_true(pod, "Initialized"):
        restarts, last_restart = sidecar_restarts, last_sidecar_restart
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            restarts += cs.get("restartCount", 0)
            last_restart = _later(last_restart, dig(cs, "lastState", "terminated", "finishedAt"))
            waiting, terminated = dig(cs, "state", "waiting"), dig(cs, "state", "terminated")
            if waiting is not None and waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated is not None and terminated.get("reason"):
                reason = terminated["reason"]
            elif terminated is not None:
                signal = terminated.get("signal")
                reason = f"Signal:{signal}" if signal else f"ExitCode:{terminated.get('exitCode', 0)}"
            elif cs.get("ready") and dig(cs, "state", "running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(pod, "Ready") else "NotReady"
    if dig(pod, "metadata", "deletionTimestamp"):
        if status.get("reason") == "NodeLost":
            reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            reason = "Terminating"
    return reason, ready, total, restarts, last_restart


def _pod_cells(pod: Obj, now: datetime) -> list[str]:
    reason, ready, total, restarts, last_restart = _pod_summary(pod)
    restarts_text = str(restarts)
    if restarts and last_restart is not None:
        restarts_text = f"{restarts} ({human_duration((now - last_restart).total_seconds())} ago)"
    ips = dig(pod, "status", "podIPs", default=[])
    ip = (ips[0].get("ip") if ips else None) or dig(pod, "status", "podIP") or "<none>"
    gates = dig(pod, "spec", "readinessGates", default=[])
    gates_text = "<none>"
    if gates:
        true = sum(_condition_true(pod, g.get("conditionType", "")) for g in gates)
        gates_text = f"{true}/{len(gates)}"
    return [
        _name(pod), f"{ready}/{total}", reason, restarts_text,
        _age(pod, now),
        ip, dig(pod, "spec", "nodeName") or "<none>", dig(pod, "status", "nominatedNodeName") or "<none>",
        gates_text,
    ]


def _node_cells(node: Obj, now: datetime) -> list[str]:
    ready = next((c for c in dig(node, "status", "conditions", default=[]) if c.get("type") == "Ready"), None)
    status = ["Unknown" if ready is None else "Ready" if ready.get("status") == "True" else "NotReady"]
    if dig(node, "spec", "unschedulable"):
        status.append("SchedulingDisabled")
    roles: set[str] = set()
    for key, value in dig(node, "metadata", "labels", default={}).items():
        if key.startswith("node-role.kubernetes.io/") and key.removeprefix("node-role.kubernetes.io/"):
            roles.add(key.removeprefix("node-role.kubernetes.io/"))
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    info = dig(node, "status", "nodeInfo", default={})
    addresses = dig(node, "status", "addresses", default=[])

    def address(kind: str) -> str:
        return next((a.get("address", "") for a in addresses if a.get("type") == kind), "<none>")

    return [
        _name(node), ",".join(status), ",".join(sorted(roles)) or "<none>",
        _age(node, now), info.get("kubeletVersion", ""),
        address("InternalIP"), address("ExternalIP"), info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>", info.get("containerRuntimeVersion") or "<unknown>",
    ]


def _namespace_cells(ns: Obj, now: datetime) -> list[str]:
    return [_name(ns), dig(ns, "status", "phase", default=""),
            _age(ns, now)]


def _service_external_ip(svc: Obj) -> str:
    spec = svc.get("spec") or {}
    kind, external = spec.get("type", "ClusterIP"), spec.get("externalIPs") or []
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if kind == "LoadBalancer":
        lb = _lb_ingress(svc.get("status"))
        return ",".join([*(lb.split(",") if lb else []), *external]) or "<pending>"
    if kind == "ExternalName":
        return spec.get("externalName", "")
    return "<unknown>"


def _service_cells(svc: Obj, now: datetime) -> list[str]:
    spec = svc.get("spec") or {}
    cluster_ip = (spec.get("clusterIPs") or [spec.get("clusterIP")])[0] or "<none>"
    ports = []
    for port in spec.get("ports") or []:
        node_port = f":{port['nodePort']}" if port.get("nodePort") else ""
        ports.append(f"{port.get('port')}{node_port}/{port.get('protocol', 'TCP')}")
    return [
        _name(svc), spec.get("type", "ClusterIP"), cluster_ip, _service_external_ip(svc),
        ",".join(ports) or "<none>", _age(svc, now),
        format_labels(spec.get("selector")),
    ]


def _replicaset_cells(rs: Obj, now: datetime) -> list[str]:
    spec = rs.get("spec") or {}
    containers, images = _containers(dig(spec, "template", "spec"))
    return [
        _name(rs), str(spec.get("replicas", 1)), str(dig(rs, "status", "replicas", default=0)),
        str(dig(rs, "status", "readyReplicas", default=0)), _age(rs, now),
        containers, images, format_label_selector(spec.get("selector")),
    ]


def _deployment_cells(deploy: Obj, now: datetime) -> list[str]:
    spec, status = deploy.get("spec") or {}, deploy.get("status") or {}
    containers, images = _containers(dig(spec, "template", "spec"))
    return [
        _name(deploy), f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
        str(status.get("updatedReplicas", 0)), str(status.get("availableReplicas", 0)),
        _age(deploy, now), containers, images,
        format_label_selector(spec.get("selector")),
    ]


def _join_more(items: list[str], count: int, maximum: int, sep: str) -> str:
    """kubectl's `a,b,c + N more...` shortening."""
    text = sep.join(items[:maximum])
    return f"{text} + {count - maximum} more..." if count > maximum else text


def format_endpoints(ep: Obj) -> str:
    """`formatEndpoints`: up to three `ip:port` pairs, then `+ N more...`; `<none>` when empty."""
    subsets = ep.get("subsets") or []
    if not subsets:
        return "<none>"
    pairs: list[str] = []
    for subset in subsets:
        ips = [a.get("ip", "") for a in subset.get("addresses") or []]
        ports = subset.get("ports") or []
        if not ports:
            pairs.extend(ips)
        for port in ports:
            pairs.extend(f"[{ip}]:{port.get('port')}" if ":" in ip else f"{ip}:{port.get('port')}" for ip in ips)
    return _join_more(pairs, len(pairs), 3, ",")


def _endpoints_cells(ep: Obj, now: datetime) -> list[str]:
    return [_name(ep), format_endpoints(ep), _age(ep, now)]


def _configmap_cells(cm: Obj, now: datetime) -> list[str]:
    data = len(cm.get("data") or {}) + len(cm.get("binaryData") or {})
    return [_name(cm), str(data), _age(cm, now)]


def _event_cells(ev: Obj, now: datetime) -> list[str]:
    first = (age(ev.get("firstTimestamp"), now) if ev.get("firstTimestamp")
             else age(ev.get("eventTime"), now))
    last = age(ev.get("lastTimestamp"), now) if ev.get("lastTimestamp") else first
    count = ev.get("count") or 1
    if ev.get("series"):
        last = age(dig(ev, "series", "lastObservedTime"), now)
        count = dig(ev, "series", "count", default=count)
    involved = ev.get("involvedObject") or {}
    target = str(involved.get("kind", "")).lower()
    if involved.get("name"):
        target = f"{target}/{involved['name']}"
    component = dig(ev, "source", "component") or ev.get("reportingController", "")
    host = dig(ev, "source", "host") or ev.get("reportingInstance", "")
    source = f"{component}, {host}" if host else component
    return [
        last, ev.get("type", ""), ev.get("reason", ""), target, involved.get("fieldPath", ""), source,
        str(ev.get("message", "")).strip(), first, str(count), dig(ev, "metadata", "name", default=""),
    ]


def _lease_cells(lease: Obj, now: datetime) -> list[str]:
    return [_name(lease), dig(lease, "spec", "holderIdentity", default=""),
            _age(lease, now)]


_METRIC_KEYS = {"Resource": "resource", "ContainerResource": "containerResource", "Pods": "pods",
                "Object": "object", "External": "external"}


def _hpa_metric(spec: Obj, status: Obj | None) -> str:
    """One TARGETS entry of `formatHPAMetrics`, e.g. `cpu: 42%/80%` or `<unknown>/100 (avg)`."""
    key = _METRIC_KEYS.get(spec.get("type", ""))
    if key is None:
        return "<unknown type>"
    source, target = spec.get(key) or {}, dig(spec, key, "target", default={})
    current = dig(status, key, "current", default={})
    if key in ("resource", "containerResource"):
        name = source.get("name", "")
        if target.get("averageValue") is not None:
            return f"{name}: {current.get('averageValue', '<unknown>')}/{target['averageValue']}"
        used = current.get("averageUtilization")
        wanted = target.get("averageUtilization")
        return (f"{name}: {'<unknown>' if used is None else f'{used}%'}/"
                f"{'<auto>' if wanted is None else f'{wanted}%'}")
    if key == "pods":
        return f"{current.get('averageValue', '<unknown>')}/{target.get('averageValue')}"
    if target.get("averageValue") is not None:
        return f"{current.get('averageValue', '<unknown>')}/{target['averageValue']} (avg)"
    return f"{current.get('value', '<unknown>')}/{target.get('value')}"


def _hpa_cells(hpa: Obj, now: datetime) -> list[str]:
    spec = hpa.get("spec") or {}
    metrics, statuses = spec.get("metrics") or [], dig(hpa, "status", "currentMetrics", default=[])
    targets = [_hpa_metric(m, statuses[i] if i < len(statuses) else None) for i, m in enumerate(metrics)]
    ref = spec.get("scaleTargetRef") or {}
    min_pods = spec.get("minReplicas")
    return [
        _name(hpa), f"{ref.get('kind', '')}/{ref.get('name', '')}",
        _join_more(targets, len(targets), 2, ", ") or "<none>",
        "<unset>" if min_pods is None else str(min_pods), str(spec.get("maxReplicas", 0)),
        str(dig(hpa, "status", "currentReplicas", default=0)), _age(hpa, now),
    ]


def _ingress_cells(ing: Obj, now: datetime) -> list[str]:
    spec = ing.get("spec") or {}
    rules = spec.get("rules") or []
    hosts: list[str] = []
    more = False
    for rule in rules:  # kubectl's formatHosts: the first three hosts, then "+ N more..."
        more = more or len(hosts) == 3
        if not more and rule.get("host"):
            hosts.append(rule["host"])
    hosts_text = ",".join(hosts) or "*"
    if more:
        hosts_text += f" + {len(rules) - 3} more..."
    return [
        _name(ing), spec.get("ingressClassName") or "<none>", hosts_text, _lb_ingress(ing.get("status")),
        "80, 443" if spec.get("tls") else "80", _age(ing, now),
    ]


def _default_cells(obj: Obj, now: datetime) -> list[str]:
    return [_name(obj), _age(obj, now)]


# --------------------------------------------------------------------------------------------
# Column definitions
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """A Table column like `metav1.TableColumnDefinition` (header = name upper-cased)."""

    name: str
    type: str = "string"
    priority: int = 0  # 1: shown only with -o wide
    format: str = ""  # "name": the object's name, printed `kind/name` when kinds are mixed


_NAME = Column("Name", format="name")
_AGE = Column("Age")
_TEMPLATE_WIDE = (Column("Containers", priority=1), Column("Images", priority=1), Column("Selector", priority=1))

CellFunction = Callable[[Obj, datetime], list[str]]

_TABLES: dict[str, tuple[tuple[Column, ...], CellFunction]] = {
    "pods": ((_NAME, Column("Ready"), Column("Status"), Column("Restarts"), _AGE, Column("IP", priority=1),
              Column("Node", priority=1), Column("Nominated Node", priority=1),
              Column("Readiness Gates", priority=1)), _pod_cells),
    "nodes": ((_NAME, Column("Status"), Column("Roles"), _AGE, Column("Version"),
               Column("Internal-IP", priority=1), Column("External-IP", priority=1), Column("OS-Image", priority=1),
               Column("Kernel-Version", priority=1), Column("Container-Runtime", priority=1)), _node_cells),
    "namespaces": ((_NAME, Column("Status"), _AGE), _namespace_cells),
    "services": ((_NAME, Column("Type"), Column("Cluster-IP"), Column("External-IP"), Column("Port(s)"), _AGE,
                  Column("Selector", priority=1)), _service_cells),
    "replicasets.apps": ((_NAME, Column("Desired", "integer"), Column("Current", "integer"),
                          Column("Ready", "integer"), _AGE, *_TEMPLATE_WIDE), _replicaset_cells),
    "deployments.apps": ((_NAME, Column("Ready"), Column("Up-to-date", "integer"), Column("Available", "integer"),
                          _AGE, *_TEMPLATE_WIDE), _deployment_cells),
    "endpoints": ((_NAME, Column("Endpoints"), _AGE), _endpoints_cells),
    "configmaps": ((_NAME, Column("Data", "integer"), _AGE), _configmap_cells),
    "events": ((Column("Last Seen"), Column("Type"), Column("Reason"), Column("Object"),
                Column("Subobject", priority=1), Column("Source", priority=1), Column("Message"),
                Column("First Seen", priority=1), Column("Count", priority=1),
                Column("Name", priority=1, format="name")), _event_cells),
    "leases.coordination.k8s.io": ((_NAME, Column("Holder"), _AGE), _lease_cells),
    "horizontalpodautoscalers.autoscaling": ((_NAME, Column("Reference"), Column("Targets"), Column("MinPods"),
                                              Column("MaxPods", "integer"), Column("Replicas", "integer"), _AGE),
                                             _hpa_cells),
    "ingresses.networking.k8s.io": ((_NAME, Column("Class"), Column("Hosts"), Column("Address"), Column("Ports"),
                                     _AGE), _ingress_cells),
}
_DEFAULT_TABLE: tuple[tuple[Column, ...], CellFunction] = ((_NAME, _AGE), _default_cells)


def columns_for(rt: ResourceType) -> tuple[Column, ...]:
    """Every column of the resource's table (wide ones included), for Table responses."""
    return _TABLES.get(rt.group_plural, _DEFAULT_TABLE)[0]


def cells_for(rt: ResourceType, obj: Obj, *, now: datetime | None = None) -> list[str]:
    """Every cell of one object's row, aligned with `columns_for`."""
    return _TABLES.get(rt.group_plural, _DEFAULT_TABLE)[1](obj, now or datetime.now(timezone.utc))


def headers_for(rt: ResourceType, wide: bool = False) -> list[str]:
    """Column headers as kubectl prints them (`NAME`, `NOMINATED NODE`, ...)."""
    return [c.name.upper() for c in columns_for(rt) if wide or c.priority == 0]


def rows_for(rt: ResourceType, obj: Obj, wide: bool = False, *, now: datetime | None = None) -> list[str]:
    """The cells kubectl prints for one object (wide columns only with `wide`)."""
    cells = cells_for(rt, obj, now=now)
    return [cell for cell, col in zip(cells, columns_for(rt)) if wide or col.priority == 0]


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
            shown = [c for c in columns_for(self._rt) if self._wide or c.priority == 0]
            cells = [f"{kind_name(self._rt)}/{cell}" if col.format == "name" else cell
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
