"""Pods: the kind's schema, defaults, validation, table, `describe` and deletion rules.

A pod bound to a node is deleted gracefully: the API server only marks it (`deletionTimestamp`),
its node stops the containers within the grace period and then removes it.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from minik8s.api import schema
from minik8s.api.describe import Lines, format_time
from minik8s.api.fields import Causes
from minik8s.api.quantity import parse_quantity
from minik8s.api.tables import (
    AGE_COLUMN, NAME_COLUMN, age_cell, column, condition_true, dig, human_duration, name_cell, parse_time,
    wide_column,
)

from .defaulting import child, dicts
from .podspec import RESTART_POLICIES, default_pod_spec, describe_containers, validate_pod_spec
from .resource import ResourceType
from .strategy import Strategy

# "true": on the process runtime, start a `python3 SCRIPT` container by forking a pre-imported
# interpreter (minik8s.node.runtime.python_zygote) rather than exec'ing one; a hint, ignored elsewhere.
PYTHON_ZYGOTE_ANNOTATION = "minik8s.io/python-zygote"

Obj = dict[str, Any]

schema.define(schema.CORE, {
    "Pod": {"spec": "PodSpec", "status": "PodStatus"},
    "PodStatus": {"phase": "str", "conditions": "[Condition/type]", "message": "str", "reason": "str",
                  "nominatedNodeName": "str", "hostIP": "str", "podIP": "str", "podIPs": "[PodIP/ip]",
                  "hostIPs": "[HostIP/ip]", "startTime": "time", "initContainerStatuses": "[ContainerStatus]",
                  "containerStatuses": "[ContainerStatus]", "ephemeralContainerStatuses": "[ContainerStatus]",
                  "qosClass": "str", "allocatedResources": "map:quantity", "extendedResourceClaimStatus": "obj",
                  "nodeAllocatableResourceClaimStatuses": "[obj]", "observedGeneration": "int", "resize": "str",
                  "resourceClaimStatuses": "[PodResourceClaimStatus/name]", "resources": "ResourceRequirements",
                  "volumeHealth": "[obj]"},
    "PodIP": {"ip": "str"},
    "HostIP": {"ip": "str"},
    "PodResourceClaimStatus": {"name": "str", "resourceClaimName": "str"},
    "ContainerStatus": {"name": "str", "state": "ContainerState", "lastState": "ContainerState", "ready": "bool",
                        "restartCount": "int", "image": "str", "imageID": "str", "containerID": "str",
                        "started": "bool", "allocatedResources": "map:quantity", "allocatedResourcesStatus": "[obj]",
                        "resources": "ResourceRequirements", "stopSignal": "str", "user": "obj",
                        "volumeMounts": "[VolumeMountStatus]"},
    "ContainerState": {"waiting": "ContainerStateWaiting", "running": "ContainerStateRunning",
                       "terminated": "ContainerStateTerminated"},
    "ContainerStateWaiting": {"reason": "str", "message": "str"},
    "ContainerStateRunning": {"startedAt": "time"},
    "ContainerStateTerminated": {"exitCode": "int", "signal": "int", "reason": "str", "message": "str",
                                 "startedAt": "time", "finishedAt": "time", "containerID": "str"},
    "VolumeMountStatus": {"mountPath": "str", "name": "str", "readOnly": "bool", "recursiveReadOnly": "str",
                          "volumeStatus": "obj"},
    "Binding": {"target": "ObjectReference"},
})

_UPDATE_MESSAGE = (
    "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,"
    "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations)")


class PodStrategy(Strategy):
    """Pods (`pkg/registry/core/pod/strategy.go`)."""

    generation = True
    columns = (
        NAME_COLUMN,
        column("Ready", "The aggregate readiness state of this pod for accepting traffic."),
        column("Status", "The aggregate status of the containers in this pod."),
        column("Restarts", "The number of times the containers in this pod have been restarted and when the "
                           "last container in this pod has restarted."),
        AGE_COLUMN,
        wide_column("IP", "podIP address allocated to the pod. Routable at least within the cluster."),
        wide_column("Node", "NodeName indicates in which node this pod is scheduled."),
        wide_column("Nominated Node", "nominatedNodeName is set when this pod preempts other pods on the node."),
        wide_column("Readiness Gates", "If specified, all readiness gates will be evaluated for pod readiness."),
    )
    selectable_fields = {field: tuple(field.split(".")) for field in (
        "spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName", "spec.hostNetwork",
        "status.phase", "status.podIP", "status.nominatedNodeName")}

    def default(self, obj: Obj, now: str) -> None:
        if (spec := child(obj, "spec")) is not None:
            default_pod_spec(spec)

    def initial_status(self, obj: Obj) -> Obj:
        return {"phase": "Pending", "qosClass": qos_class(obj.get("spec"))}

    def validate(self, c: Causes, obj: Obj, old: Obj | None) -> None:
        if (spec := c.object("spec", obj.get("spec"), required=True)) is not None:
            validate_pod_spec(c, "spec", spec, RESTART_POLICIES)
            old_spec = dig(old, "spec")
            if isinstance(old_spec, dict) and _masked_spec(spec, old_spec) != old_spec:
                c.forbidden("spec", _UPDATE_MESSAGE)
        status = c.object("status", obj.get("status")) or {}
        for field in ("podIP", "hostIP"):
            c.ip(f"status.{field}", status.get(field))
        for field in ("podIPs", "hostIPs"):
            for p, item in c.objects(f"status.{field}", status.get(field)):
                c.ip(f"{p}.ip", item.get("ip"), required=True)

    def graceful_deletion(self, obj: Obj) -> bool:
        return bool(dig(obj, "spec", "nodeName"))

    def default_grace_period(self, obj: Obj) -> int:
        grace = dig(obj, "spec", "terminationGracePeriodSeconds")
        return grace if isinstance(grace, int) and not isinstance(grace, bool) else 30

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        reason, ready, total, restarts, last_restart = _summary(obj)
        restarts_text = str(restarts)
        if restarts and last_restart is not None:
            restarts_text = f"{restarts} ({human_duration((now - last_restart).total_seconds())} ago)"
        ips = dig(obj, "status", "podIPs", default=[])
        ip = (ips[0].get("ip") if ips else None) or dig(obj, "status", "podIP") or "<none>"
        gates = dig(obj, "spec", "readinessGates", default=[])
        gates_text = "<none>"
        if gates:
            true = sum(condition_true(obj, g.get("conditionType", "")) for g in gates)
            gates_text = f"{true}/{len(gates)}"
        return [
            name_cell(obj), f"{ready}/{total}", reason, restarts_text, age_cell(obj, now),
            ip, dig(obj, "spec", "nodeName") or "<none>", dig(obj, "status", "nominatedNodeName") or "<none>",
            gates_text,
        ]

    def describe(self, out: Lines, obj: Obj) -> None:
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        node = spec.get("nodeName")
        out.add(0, "Node:", f"{node}/{status['hostIP']}" if node and status.get("hostIP") else node or "<none>")
        if status.get("startTime"):
            out.add(0, "Start Time:", format_time(status["startTime"]))
        shown = pod_status(obj) if dig(obj, "metadata", "deletionTimestamp") else status.get("phase", "")
        out.add(0, "Status:", shown)
        if status.get("reason"):
            out.add(0, "Reason:", status["reason"])
        if status.get("message"):
            out.add(0, "Message:", status["message"])
        out.add(0, "IP:", status.get("podIP") or dig(status, "podIPs", 0, "ip", default=""))
        owner = next((o for o in dig(obj, "metadata", "ownerReferences", default=[]) if o.get("controller")), None)
        if owner:
            out.add(0, "Controlled By:", f"{owner.get('kind')}/{owner.get('name')}")
        if spec.get("initContainers"):
            describe_containers(out, 0, spec["initContainers"], status.get("initContainerStatuses") or [],
                                title="Init Containers")
        describe_containers(out, 0, spec.get("containers") or [], status.get("containerStatuses") or [])
        conditions = status.get("conditions") or []
        if conditions:
            out.add(0, "Conditions:")
            out.add(1, "Type", "Status")
            for cond in conditions:
                out.add(1, cond.get("type", ""), cond.get("status", ""))
        out.mapping(0, "Node-Selectors", spec.get("nodeSelector"))


RESOURCE = ResourceType("", "v1", "pods", "Pod", True, ("po",), ("all",), ("status", "log", "binding"),
                        strategy=PodStrategy())


# ---- updates ------------------------------------------------------------------------------------

def _masked_spec(new: Obj, old: Obj) -> Obj:
    """`new` with the fields a pod update may change set back to their `old` values."""
    masked = dict(new)
    for field in ("containers", "initContainers"):
        new_list, old_list = new.get(field), old.get(field)
        if isinstance(new_list, list) and isinstance(old_list, list) and len(new_list) == len(old_list):
            masked[field] = [_with_key(n, o, "image") for n, o in zip(new_list, old_list)]
    masked = _with_key(masked, old, "activeDeadlineSeconds")
    added, before = new.get("tolerations"), old.get("tolerations") or []
    if isinstance(added, list) and isinstance(before, list) and all(t in added for t in before):
        masked = _with_key(masked, old, "tolerations")
    return masked


def _with_key(target: Any, source: Any, key: str) -> Any:
    """A copy of the `target` dict whose `key` is as in `source` (absent when absent there)."""
    if not isinstance(target, dict) or not isinstance(source, dict):
        return target
    result = {k: v for k, v in target.items() if k != key}
    if key in source:
        result[key] = source[key]
    return result


# ---- QoS class ----------------------------------------------------------------------------------

def qos_class(spec: Any) -> str:
    """Kubernetes' QoS class: BestEffort without cpu/memory requests or limits, Guaranteed when every
    container limits both and requests equal limits, else Burstable."""
    containers = dicts(spec.get("containers")) + dicts(spec.get("initContainers")) if isinstance(spec, dict) else []
    requests: Counter[str] = Counter()
    limits: Counter[str] = Counter()
    guaranteed = True
    for container in containers:
        resources = container.get("resources") if isinstance(container.get("resources"), dict) else {}
        requests.update(_qos_quantities(resources.get("requests")))
        container_limits = _qos_quantities(resources.get("limits"))
        limits.update(container_limits)
        guaranteed = guaranteed and set(container_limits) == {"cpu", "memory"}
    if not requests and not limits:
        return "BestEffort"
    return "Guaranteed" if guaranteed and requests == limits else "Burstable"


def _qos_quantities(resource_list: Any) -> dict[str, float]:
    """The positive cpu and memory quantities of a resource list (unparsable ones are skipped)."""
    found: dict[str, float] = {}
    for name in ("cpu", "memory"):
        try:
            quantity = parse_quantity(resource_list[name]) if isinstance(resource_list, dict) else 0.0
        except (KeyError, ValueError):
            continue
        if quantity > 0:
            found[name] = quantity
    return found


# ---- the STATUS column --------------------------------------------------------------------------

def _is_restartable_init(container: Obj | None) -> bool:
    return bool(container) and container.get("restartPolicy") == "Always"


def _later(current: datetime | None, candidate: str | None) -> datetime | None:
    when = parse_time(candidate)
    if when is None or (current is not None and current >= when):
        return current
    return when


def pod_status(pod: Obj) -> str:
    """The STATUS column of `kubectl get pods` (kubectl's `printPod` reason rules)."""
    return _summary(pod)[0]


def _summary(pod: Obj) -> tuple[str, int, int, int, datetime | None]:
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
    if not initializing or condition_true(pod, "Initialized"):
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
            reason = "Running" if condition_true(pod, "Ready") else "NotReady"
    if dig(pod, "metadata", "deletionTimestamp"):
        if status.get("reason") == "NodeLost":
            reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            reason = "Terminating"
    return reason, ready, total, restarts, last_restart
