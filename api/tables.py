"""kubectl's server-side printing: `meta.k8s.io/v1` Table columns and cells per resource.

Kubernetes answers `kubectl get` with a Table (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`)
built by the printers in `pkg/printers/internalversion/printers.go`: per resource, column
definitions (`priority 1`: shown by kubectl only with `-o wide`; the server always sends every
column) and a function computing every cell of one object. This module reproduces them, plus the
Table and watch-event envelopes, so the API server and the CLI (which lays the same cells out for
its own `get`) share one implementation. Cells are what Kubernetes sends: mostly strings such as
`5m` for ages and `3 (5m ago)` for pod restarts, integers where Kubernetes sends `int64` cells.
Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from minik8s.api.kinds import ResourceType
from minik8s.api.timefmt import parse_time

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


def _name(obj: Obj) -> str:
    return dig(obj, "metadata", "name", default="")


def _age(obj: Obj, now: datetime) -> str:
    return age(dig(obj, "metadata", "creationTimestamp"), now)


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


def _replicaset_cells(rs: Obj, now: datetime) -> list[Any]:
    spec = rs.get("spec") or {}
    containers, images = _containers(dig(spec, "template", "spec"))
    return [
        _name(rs), spec.get("replicas", 1), dig(rs, "status", "replicas", default=0),
        dig(rs, "status", "readyReplicas", default=0), _age(rs, now),
        containers, images, format_label_selector(spec.get("selector")),
    ]


def _deployment_cells(deploy: Obj, now: datetime) -> list[Any]:
    spec, status = deploy.get("spec") or {}, deploy.get("status") or {}
    containers, images = _containers(dig(spec, "template", "spec"))
    return [
        _name(deploy), f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
        status.get("updatedReplicas", 0), status.get("availableReplicas", 0),
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


def _configmap_cells(cm: Obj, now: datetime) -> list[Any]:
    data = len(cm.get("data") or {}) + len(cm.get("binaryData") or {})
    return [_name(cm), data, _age(cm, now)]


def _event_cells(ev: Obj, now: datetime) -> list[Any]:
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
        str(ev.get("message", "")).strip(), first, count, dig(ev, "metadata", "name", default=""),
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


def _hpa_cells(hpa: Obj, now: datetime) -> list[Any]:
    spec = hpa.get("spec") or {}
    metrics, statuses = spec.get("metrics") or [], dig(hpa, "status", "currentMetrics", default=[])
    targets = [_hpa_metric(m, statuses[i] if i < len(statuses) else None) for i, m in enumerate(metrics)]
    ref = spec.get("scaleTargetRef") or {}
    min_pods = spec.get("minReplicas")
    return [
        _name(hpa), f"{ref.get('kind', '')}/{ref.get('name', '')}",
        _join_more(targets, len(targets), 2, ", ") or "<none>",
        "<unset>" if min_pods is None else str(min_pods), spec.get("maxReplicas", 0),
        dig(hpa, "status", "currentReplicas", default=0), _age(hpa, now),
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
# Column definitions (metav1.TableColumnDefinition)
# --------------------------------------------------------------------------------------------

_NAME_DOC = ("Name must be unique within a namespace. Is required when creating resources, although some "
             "resources may allow a client to request the generation of an appropriate name automatically. "
             "Name is primarily intended for creation idempotence and configuration definition. Cannot be "
             "updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names")
_AGE_DOC = ("CreationTimestamp is a timestamp representing the server time when this object was created. It is "
            "not guaranteed to be set in happens-before order across separate operations. Clients may not set "
            "this value. It is represented in RFC3339 form and is in UTC.")


def _column(name: str, description: str, *, type_: str = "string", priority: int = 0, format_: str = "") -> Column:
    """One `TableColumnDefinition`; `format` "name" marks the object's name (printed `kind/name` when kinds mix)."""
    return {"name": name, "type": type_, "format": format_, "description": description, "priority": priority}


def _wide(name: str, description: str) -> Column:
    return _column(name, description, priority=1)


_NAME = _column("Name", _NAME_DOC, format_="name")
_AGE = _column("Age", _AGE_DOC)
_TEMPLATE_WIDE = (
    _wide("Containers", "Names of each container in the template."),
    _wide("Images", "Images referenced by each container in the template."),
    _wide("Selector", "Label query over pods that should match the replicas count."),
)

CellFunction = Callable[[Obj, datetime], list[Any]]

_TABLES: dict[str, tuple[tuple[Column, ...], CellFunction]] = {
    "pods": ((
        _NAME,
        _column("Ready", "The aggregate readiness state of this pod for accepting traffic."),
        _column("Status", "The aggregate status of the containers in this pod."),
        _column("Restarts", "The number of times the containers in this pod have been restarted and when the "
                            "last container in this pod has restarted."),
        _AGE,
        _wide("IP", "podIP address allocated to the pod. Routable at least within the cluster."),
        _wide("Node", "NodeName indicates in which node this pod is scheduled."),
        _wide("Nominated Node", "nominatedNodeName is set when this pod preempts other pods on the node."),
        _wide("Readiness Gates", "If specified, all readiness gates will be evaluated for pod readiness."),
    ), _pod_cells),
    "nodes": ((
        _NAME,
        _column("Status", "The status of the node"),
        _column("Roles", "The roles of the node"),
        _AGE,
        _column("Version", "Kubelet Version reported by the node."),
        _wide("Internal-IP", "List of addresses reachable to the node."),
        _wide("External-IP", "List of addresses reachable to the node."),
        _wide("OS-Image", "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy))."),
        _wide("Kernel-Version", "Kernel Version reported by the node from 'uname -r'."),
        _wide("Container-Runtime", "ContainerRuntime Version reported by the node through runtime remote API."),
    ), _node_cells),
    "namespaces": ((_NAME, _column("Status", "The status of the namespace"), _AGE), _namespace_cells),
    "services": ((
        _NAME,
        _column("Type", "type determines how the Service is exposed."),
        _column("Cluster-IP", "clusterIP is the IP address of the service."),
        _column("External-IP", "externalIPs is a list of IP addresses for which nodes in the cluster will also "
                               "accept traffic for this service."),
        _column("Port(s)", "The list of ports that are exposed by this service."),
        _AGE,
        _wide("Selector", "Route service traffic to pods with label keys and values matching this selector."),
    ), _service_cells),
    "replicasets.apps": ((
        _NAME,
        _column("Desired", "Replicas is the number of desired pods.", type_="integer"),
        _column("Current", "Replicas is the most recently observed number of non-terminating pods.",
                type_="integer"),
        _column("Ready", "The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition.",
                type_="integer"),
        _AGE,
        *_TEMPLATE_WIDE,
    ), _replicaset_cells),
    "deployments.apps": ((
        _NAME,
        _column("Ready", "Number of the pod with ready state"),
        _column("Up-to-date", "Total number of non-terminating pods targeted by this deployment that have the "
                              "desired template spec."),
        _column("Available", "Total number of available non-terminating pods targeted by this deployment."),
        _AGE,
        *_TEMPLATE_WIDE,
    ), _deployment_cells),
    "endpoints": ((
        _NAME, _column("Endpoints", "The set of all endpoints is the union of all subsets."), _AGE,
    ), _endpoints_cells),
    "configmaps": ((_NAME, _column("Data", "Data contains the configuration data."), _AGE), _configmap_cells),
    "events": ((
        _column("Last Seen", "The time at which the most recent occurrence of this event was recorded."),
        _column("Type", "Type of this event (Normal, Warning), new types could be added in the future"),
        _column("Reason", "This should be a short, machine understandable string that gives the reason for the "
                          "transition into the object's current status."),
        _column("Object", "The object that this event is about."),
        _wide("Subobject", "If referring to a piece of an object instead of an entire object, this string "
                           "should contain a valid JSON/Go field access statement."),
        _wide("Source", "The component reporting this event."),
        _column("Message", "A human-readable description of the status of this operation."),
        _wide("First Seen", "The time at which the event was first recorded."),
        _wide("Count", "The number of times this event has occurred."),
        _column("Name", _NAME_DOC, priority=1, format_="name"),
    ), _event_cells),
    "leases.coordination.k8s.io": ((
        _NAME, _column("Holder", "holderIdentity contains the identity of the holder of a current lease."), _AGE,
    ), _lease_cells),
    "horizontalpodautoscalers.autoscaling": ((
        _NAME,
        _column("Reference", "scaleTargetRef points to the target resource to scale."),
        _column("Targets", "metrics contains the specifications for which to use to calculate the desired "
                           "replica count."),
        _column("MinPods", "minReplicas is the lower limit for the number of replicas."),
        _column("MaxPods", "maxReplicas is the upper limit for the number of replicas."),
        _column("Replicas", "currentReplicas is current number of replicas of pods managed by this autoscaler."),
        _AGE,
    ), _hpa_cells),
    "ingresses.networking.k8s.io": ((
        _NAME,
        _column("Class", "The name of the IngressClass resource that should be used for additional configuration"),
        _column("Hosts", "Hosts that incoming requests are matched against before the ingress rule"),
        _column("Address", "Address is a list containing ingress points for the load-balancer"),
        _column("Ports", "Ports of TLS configurations that open"),
        _AGE,
    ), _ingress_cells),
}
_DEFAULT_TABLE: tuple[tuple[Column, ...], CellFunction] = ((_NAME, _AGE), _default_cells)


def columns_for(rt: ResourceType, wide: bool = True) -> list[Column]:
    """The resource's `TableColumnDefinition`s: all of them (what the server sends), or with
    `wide=False` only those kubectl shows without `-o wide` (priority 0)."""
    columns = _TABLES.get(rt.group_plural, _DEFAULT_TABLE)[0]
    return [dict(c) for c in columns if wide or c["priority"] == 0]


def cells_for(rt: ResourceType, obj: Obj, *, now: datetime | None = None) -> list[Any]:
    """Every cell of one object's row (strings and integers), aligned with `columns_for(rt)`."""
    return _TABLES.get(rt.group_plural, _DEFAULT_TABLE)[1](obj, now or datetime.now(timezone.utc))


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
