"""Unknown fields: reported for `fieldValidation=Strict` (kubectl's default since 1.27), dropped otherwise.

kube-apiserver never stores a field its types do not have: with `Strict` the write is rejected
naming the field, with `Warn` (the default) the field is dropped and named in a `Warning` header,
with `Ignore` it is dropped silently. `unknown_fields` finds them, `drop_unknown_fields` removes them.
Only structures whose field list is written out here are checked (object metadata, pod specs and
containers, workload and service specs, and each kind's top level); anything below them that is
not described (probes, affinity, volume sources, ...) is accepted as is, so a valid object is
never rejected. Paths are reported like Kubernetes: `spec.containers[0].imagePullPolicyy`.
"""

from __future__ import annotations

from typing import Any

from minik8s.api.kinds import ResourceType

# A structure: field -> its structure name ("" = not checked below), "[X]" = list of X.
_S = dict[str, str]

_META: _S = {k: "" for k in (
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation", "creationTimestamp",
    "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences", "finalizers",
    "managedFields")}
_CONTAINER: _S = {k: "" for k in (
    "name", "image", "command", "args", "workingDir", "envFrom", "lifecycle", "livenessProbe", "readinessProbe",
    "startupProbe", "terminationMessagePath", "terminationMessagePolicy", "imagePullPolicy", "securityContext",
    "stdin", "stdinOnce", "tty", "resizePolicy", "restartPolicy", "volumeDevices")} | {
    "ports": "[port]", "env": "[env]", "volumeMounts": "[mount]", "resources": "resources"}
_POD_SPEC: _S = {k: "" for k in (
    "volumes", "restartPolicy", "terminationGracePeriodSeconds", "activeDeadlineSeconds", "dnsPolicy",
    "nodeSelector", "serviceAccountName", "serviceAccount", "automountServiceAccountToken", "nodeName",
    "hostNetwork", "hostPID", "hostIPC", "shareProcessNamespace", "securityContext", "imagePullSecrets",
    "hostname", "subdomain", "affinity", "schedulerName", "tolerations", "hostAliases", "priorityClassName",
    "priority", "dnsConfig", "readinessGates", "runtimeClassName", "enableServiceLinks", "preemptionPolicy",
    "overhead", "topologySpreadConstraints", "setHostnameAsFQDN", "os", "hostUsers", "schedulingGates",
    "resourceClaims", "ephemeralContainers")} | {"containers": "[container]", "initContainers": "[container]"}
_STRUCTS: dict[str, _S] = {
    "metadata": _META,
    "container": _CONTAINER,
    "port": {k: "" for k in ("name", "hostPort", "containerPort", "protocol", "hostIP")},
    "env": {k: "" for k in ("name", "value", "valueFrom")},
    "mount": {k: "" for k in ("name", "readOnly", "recursiveReadOnly", "mountPath", "subPath", "mountPropagation",
                              "subPathExpr")},
    "resources": {k: "" for k in ("limits", "requests", "claims")},
    "podSpec": _POD_SPEC,
    "template": {"metadata": "metadata", "spec": "podSpec"},
    "workloadSpec": {k: "" for k in ("replicas", "selector", "minReadySeconds", "strategy", "revisionHistoryLimit",
                                     "paused", "progressDeadlineSeconds")} | {"template": "template"},
    "serviceSpec": {k: "" for k in (
        "selector", "clusterIP", "clusterIPs", "type", "externalIPs", "sessionAffinity", "loadBalancerIP",
        "loadBalancerSourceRanges", "externalName", "externalTrafficPolicy", "healthCheckNodePort",
        "publishNotReadyAddresses", "sessionAffinityConfig", "ipFamilies", "ipFamilyPolicy",
        "allocateLoadBalancerNodePorts", "loadBalancerClass", "internalTrafficPolicy", "trafficDistribution")} | {
        "ports": "[servicePort]"},
    "servicePort": {k: "" for k in ("name", "protocol", "appProtocol", "port", "targetPort", "nodePort")},
    "nodeSpec": {k: "" for k in ("podCIDR", "podCIDRs", "providerID", "unschedulable", "taints", "configSource",
                                 "externalID")},
    "nodeStatus": {k: "" for k in ("capacity", "allocatable", "phase", "conditions", "nodeInfo", "images",
                                   "volumesInUse", "volumesAttached", "config", "runtimeHandlers", "features")} | {
        "addresses": "[nodeAddress]", "daemonEndpoints": "daemonEndpoints"},
    "nodeAddress": {"type": "", "address": ""},
    "daemonEndpoints": {"kubeletEndpoint": "daemonEndpoint"},
    "daemonEndpoint": {"Port": ""},
}
_COMMON: _S = {"apiVersion": "", "kind": "", "metadata": "metadata"}
_TOP: dict[str, _S] = {
    "Pod": _COMMON | {"spec": "podSpec", "status": ""},
    "ReplicaSet": _COMMON | {"spec": "workloadSpec", "status": ""},
    "Deployment": _COMMON | {"spec": "workloadSpec", "status": ""},
    "Service": _COMMON | {"spec": "serviceSpec", "status": ""},
    "ConfigMap": _COMMON | {"data": "", "binaryData": "", "immutable": ""},
    "Namespace": _COMMON | {"spec": "", "status": ""},
    "Node": _COMMON | {"spec": "nodeSpec", "status": "nodeStatus"},
    "Endpoints": _COMMON | {"subsets": ""},
    "Lease": _COMMON | {"spec": ""},
    "HorizontalPodAutoscaler": _COMMON | {"spec": "", "status": ""},
    "Ingress": _COMMON | {"spec": "", "status": ""},
    "Event": _COMMON | {k: "" for k in (
        "involvedObject", "reason", "message", "source", "firstTimestamp", "lastTimestamp", "count", "type",
        "eventTime", "series", "action", "related", "reportingComponent", "reportingInstance")},
}


def unknown_fields(rt: ResourceType, obj: dict[str, Any]) -> list[str]:
    """Paths of fields `obj` sets that its kind does not have (only where the structure is described)."""
    return [path for path, _, _ in _unknown(rt, obj)]


def drop_unknown_fields(rt: ResourceType, obj: dict[str, Any]) -> list[str]:
    """Remove the fields `unknown_fields` reports from `obj` (in place); their paths."""
    found = _unknown(rt, obj)
    for _, parent, name in found:
        parent.pop(name, None)
    return [path for path, _, _ in found]


def _unknown(rt: ResourceType, obj: dict[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    """(path, the dict holding it, its key) of every unknown field."""
    top = _TOP.get(rt.kind)
    if top is None:
        return []
    found: list[tuple[str, dict[str, Any], str]] = []
    _walk(obj, top, "", found)
    return found


def _walk(value: Any, struct: _S, path: str, found: list[tuple[str, dict[str, Any], str]]) -> None:
    if not isinstance(value, dict):
        return
    for name, child in value.items():
        sub = f"{path}.{name}" if path else name
        if name not in struct:
            found.append((sub, value, name))
            continue
        kind = struct[name]
        if kind.startswith("["):  # a list of structures; anything else there is a type error, not unknown
            for index, item in enumerate(child if isinstance(child, list) else []):
                _walk(item, _STRUCTS[kind[1:-1]], f"{sub}[{index}]", found)
        elif kind:
            _walk(child, _STRUCTS[kind], sub, found)
