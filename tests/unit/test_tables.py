"""Unit tests of the server-side printing: column definitions, cells, Tables, Accept negotiation, watch events."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from minik8s.api import kinds, tables
from minik8s.api.kinds.pod import pod_status

NOW = datetime(2024, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
KUBECTL_ACCEPT = ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,"
                  "application/json")


def ago(seconds: float) -> str:
    return (NOW - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": "default", "uid": f"uid-{name}", "resourceVersion": "42",
            "creationTimestamp": ago(300), "labels": {"app": "web"}, **extra}


TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}}

# One realistic object per served resource, keyed by `key(rt)`.
FIXTURES: dict[str, dict[str, Any]] = {
    "namespaces": {"apiVersion": "v1", "kind": "Namespace", "metadata": meta("prod"), "status": {"phase": "Active"}},
    "pods": {
        "apiVersion": "v1", "kind": "Pod", "metadata": meta("web-1"),
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "nginx:1.25"}]},
        "status": {"phase": "Running", "podIP": "10.1.0.7", "podIPs": [{"ip": "10.1.0.7"}],
                   "conditions": [{"type": "Ready", "status": "True"}],
                   "containerStatuses": [{"name": "c", "ready": True, "restartCount": 3,
                                          "state": {"running": {"startedAt": ago(60)}},
                                          "lastState": {"terminated": {"finishedAt": ago(300)}}}]},
    },
    "services": {
        "apiVersion": "v1", "kind": "Service", "metadata": meta("web"),
        "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                 "selector": {"app": "web"}, "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}]},
    },
    "endpoints": {
        "apiVersion": "v1", "kind": "Endpoints", "metadata": meta("web"),
        "subsets": [{"addresses": [{"ip": "10.1.0.7"}], "ports": [{"port": 8080}]}],
    },
    "nodes": {
        "apiVersion": "v1", "kind": "Node", "metadata": meta("n1", namespace=None),
        "status": {"conditions": [{"type": "Ready", "status": "True"}],
                   "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
                   "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Debian GNU/Linux 12",
                                "kernelVersion": "6.1.0", "containerRuntimeVersion": "minik8s://0.1"}},
    },
    "events": {
        "apiVersion": "v1", "kind": "Event", "metadata": meta("web-1.17a"), "type": "Normal", "reason": "Started",
        "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": "default"}, "count": 2,
        "firstTimestamp": ago(120), "lastTimestamp": ago(60), "message": "Started container c",
        "source": {"component": "kubelet", "host": "n1"},
    },
    "configmaps": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("cfg"), "data": {"a": "1", "b": "2"}},
    "endpointslices": {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": meta("web-abc12"),
                       "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                       "endpoints": [{"addresses": ["10.1.0.7"], "conditions": {"ready": True}}]},
    "ingressclasses": {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
                       "metadata": meta("nginx", namespace=None), "spec": {"controller": "minik8s.io/ingress-nginx"}},
    "secrets": {"apiVersion": "v1", "kind": "Secret", "metadata": meta("creds"), "type": "Opaque",
                "data": {"user": "YWRtaW4=", "password": "aHVudGVyMg=="}},
    "replicasets": {
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": meta("web-abc"),
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": TEMPLATE},
        "status": {"replicas": 3, "readyReplicas": 2},
    },
    "deployments": {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("web"),
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": TEMPLATE},
        "status": {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
    },
    "horizontalpodautoscalers": {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": meta("web"),
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                 "minReplicas": 1, "maxReplicas": 5,
                 "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                     "type": "Utilization", "averageUtilization": 80}}}]},
        "status": {"currentReplicas": 3},
    },
    "leases": {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta("n1"),
               "spec": {"holderIdentity": "n1", "leaseDurationSeconds": 40}},
    "ingresses": {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta("web"),
        "spec": {"ingressClassName": "nginx", "rules": [{"host": "web.example"}]},
    },
    "horizontalpodautoscalers.autoscaling/v1": {
        "apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": meta("web"),
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                 "minReplicas": 1, "maxReplicas": 5, "targetCPUUtilizationPercentage": 80},
        "status": {"currentReplicas": 3, "desiredReplicas": 3, "currentCPUUtilizationPercentage": 42},
    },
    "nodes.metrics.k8s.io/v1beta1": {
        "apiVersion": "metrics.k8s.io/v1beta1", "kind": "NodeMetrics", "metadata": meta("n1", namespace=None),
        "timestamp": ago(5), "window": "15s", "usage": {"cpu": "1500m", "memory": "2Gi"},
    },
    "functions": {
        "apiVersion": "minik8s.io/v1", "kind": "Function", "metadata": meta("resize"),
        "spec": {"source": {"inline": "def handle(p):\n    return p\n"}, "handler": "main:handle",
                 "containerConcurrency": 4, "timeoutSeconds": 60,
                 "scale": {"minScale": 1, "maxScale": 5, "idleSeconds": 60, "stableWindowSeconds": 60}},
        "status": {"readyInstances": 2, "desiredInstances": 3},
    },
    "workflows": {
        "apiVersion": "minik8s.io/v1", "kind": "Workflow", "metadata": meta("pipeline"),
        "spec": {"definition": {"StartAt": "Go", "States": {"Go": {"Type": "Pass", "Next": "End"},
                                                              "End": {"Type": "Succeed"}}}, "maxSteps": 100},
    },
    "workflowruns": {
        "apiVersion": "minik8s.io/v1", "kind": "WorkflowRun", "metadata": meta("pipeline-x7k2p"),
        "spec": {"workflowRef": {"name": "pipeline"}, "input": "{}"},
        "status": {"phase": "Running", "steps": 3},
    },
    "gpujobs": {
        "apiVersion": "minik8s.io/v1", "kind": "GpuJob", "metadata": meta("matmul"),
        "spec": {"cluster": {"host": "login", "port": 22, "user": "me", "credentialsSecret": "slurm-login"},
                 "run": "./matmul", "resources": {"gpus": 1}},
        "status": {"phase": "Succeeded", "jobId": "42", "nodeList": "gpu-01", "exitCode": 0},
    },
    "pods.metrics.k8s.io/v1beta1": {
        "apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetrics", "metadata": meta("web-1"),
        "timestamp": ago(5), "window": "15s", "containers": [
            {"name": "c", "usage": {"cpu": "250m", "memory": "64Mi"}},
            {"name": "d", "usage": {"cpu": "1500000n", "memory": "1024Ki"}}],
    },
}


def key(rt: kinds.ResourceType) -> str:
    """A resource's key in these tables: its plural, or `plural.group/version` for resources that
    share a plural with another (metrics) or are another version of a stored one."""
    return rt.plural if rt.stored and rt.conversion is None else f"{rt.plural}.{rt.api_version}"


COLUMN_NAMES = {
    "pods": ["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"],
    "nodes": ["Name", "Status", "Roles", "Age", "Version", "Internal-IP", "External-IP", "OS-Image",
              "Kernel-Version", "Container-Runtime"],
    "deployments": ["Name", "Ready", "Up-to-date", "Available", "Age", "Containers", "Images", "Selector"],
    "replicasets": ["Name", "Desired", "Current", "Ready", "Age", "Containers", "Images", "Selector"],
    "services": ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "Selector"],
    "namespaces": ["Name", "Status", "Age"],
    "endpoints": ["Name", "Endpoints", "Age"],
    "configmaps": ["Name", "Data", "Age"],
    "secrets": ["Name", "Type", "Data", "Age"],
    "endpointslices": ["Name", "AddressType", "Ports", "Endpoints", "Age"],
    "ingressclasses": ["Name", "Controller", "Parameters", "Age"],
    "events": ["Last Seen", "Type", "Reason", "Object", "Subobject", "Source", "Message", "First Seen", "Count",
               "Name"],
    "leases": ["Name", "Holder", "Age"],
    "horizontalpodautoscalers": ["Name", "Reference", "Targets", "MinPods", "MaxPods", "Replicas", "Age"],
    "ingresses": ["Name", "Class", "Hosts", "Address", "Ports", "Age"],
    "horizontalpodautoscalers.autoscaling/v1": ["Name", "Reference", "Targets", "MinPods", "MaxPods", "Replicas",
                                                "Age"],
    "nodes.metrics.k8s.io/v1beta1": ["Name", "CPU", "Memory", "Window"],
    "pods.metrics.k8s.io/v1beta1": ["Name", "CPU", "Memory", "Window"],
    "functions": ["Name", "Ready", "Min", "Max", "Concurrency", "Age"],
    "workflows": ["Name", "States", "Start", "Age"],
    "workflowruns": ["Name", "Workflow", "Phase", "Steps", "Age"],
    "gpujobs": ["Name", "Phase", "Job ID", "Nodes", "Exit", "Age"],
}

RESOURCE_IDS = [key(rt) for rt in kinds.RESOURCES]


def test_fixtures_cover_every_served_resource() -> None:
    """The per-kind expectations below cover exactly the served resources."""
    assert set(FIXTURES) == set(COLUMN_NAMES) == set(RESOURCE_IDS)


# -- column definitions ------------------------------------------------------------------------


@pytest.mark.parametrize("rt", kinds.RESOURCES, ids=RESOURCE_IDS)
def test_every_resource_has_kubernetes_columns(rt: kinds.ResourceType) -> None:
    """Each served resource has Kubernetes' own TableColumnDefinitions, all five fields set."""
    columns = tables.columns_for(rt)
    assert [c["name"] for c in columns] == COLUMN_NAMES[key(rt)]
    for column in columns:
        assert set(column) == {"name", "type", "format", "description", "priority"}
        assert column["type"] in ("string", "integer") and column["description"]
    assert [c["name"] for c in columns if c["format"] == "name"] == ["Name"]


@pytest.mark.parametrize(("resource", "narrow"), [
    ("pods", ["Name", "Ready", "Status", "Restarts", "Age"]),
    ("nodes", ["Name", "Status", "Roles", "Age", "Version"]),
    ("deployments", ["Name", "Ready", "Up-to-date", "Available", "Age"]),
    ("services", ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age"]),
    ("events", ["Last Seen", "Type", "Reason", "Object", "Message"]),
    ("hpa", COLUMN_NAMES["horizontalpodautoscalers"]),
])
def test_wide_only_columns_have_priority_one(resource: str, narrow: list[str]) -> None:
    """Without `wide` only priority-0 columns remain; the others are priority 1."""
    rt = kinds.resolve(resource)
    assert [c["name"] for c in tables.columns_for(rt, wide=False)] == narrow
    assert all(c["priority"] == (0 if c["name"] in narrow else 1) for c in tables.columns_for(rt))


def test_columns_are_copies() -> None:
    """Callers may modify the returned definitions without changing later answers."""
    rt = kinds.resolve("pods")
    tables.columns_for(rt)[0]["name"] = "changed"
    assert tables.columns_for(rt)[0]["name"] == "Name"


# -- cells -------------------------------------------------------------------------------------


@pytest.mark.parametrize("rt", kinds.RESOURCES, ids=RESOURCE_IDS)
def test_cells_align_with_columns(rt: kinds.ResourceType) -> None:
    """A realistic object of every kind yields one JSON scalar cell per column, ages as strings."""
    cells = tables.cells_for(rt, FIXTURES[key(rt)], now=NOW)
    columns = tables.columns_for(rt)
    assert len(cells) == len(columns)
    assert all(isinstance(cell, (str, int)) for cell in cells)
    ages = [cell for cell, col in zip(cells, columns) if col["name"] == "Age"]
    assert ages in ([], ["5m"])


@pytest.mark.parametrize(("resource", "expected"), [
    ("pods", ["web-1", "1/1", "Running", "3 (5m ago)", "5m", "10.1.0.7", "n1", "<none>", "<none>"]),
    ("replicasets", ["web-abc", 3, 3, 2, "5m", "c", "nginx:1.25", "app=web"]),
    ("deployments", ["web", "2/3", 3, 2, "5m", "c", "nginx:1.25", "app=web"]),
    ("configmaps", ["cfg", 2, "5m"]),
    ("events", ["60s", "Normal", "Started", "pod/web-1", "", "kubelet, n1", "Started container c", "2m", 2,
                "web-1.17a"]),
    ("horizontalpodautoscalers", ["web", "Deployment/web", "cpu: <unknown>/80%", "1", 5, 3, "5m"]),
    ("horizontalpodautoscalers.autoscaling/v1", ["web", "Deployment/web", "cpu: 42%/80%", "1", 5, 3, "5m"]),
    ("nodes.metrics.k8s.io/v1beta1", ["n1", "1500m", "2Gi", "15s"]),
    ("pods.metrics.k8s.io/v1beta1", ["web-1", "251500u", "65Mi", "15s"]),
    ("functions", ["resize", "2/3", 1, 5, 4, "5m"]),
    ("workflows", ["pipeline", 2, "Go", "5m"]),
    ("workflowruns", ["pipeline-x7k2p", "pipeline", "Running", 3, "5m"]),
    ("gpujobs", ["matmul", "Succeeded", "42", "gpu-01", 0, "5m"]),
])
def test_cells_have_kubernetes_value_types(resource: str, expected: list[Any]) -> None:
    """Counts Kubernetes sends as int64 are integers; restarts are text with the last restart's age."""
    rt = next(rt for rt in kinds.RESOURCES if key(rt) == resource)
    assert tables.cells_for(rt, FIXTURES[resource], now=NOW) == expected


def test_pod_restarts_without_restart_time_is_plain_count() -> None:
    """RESTARTS is just the count when no container has a last termination time."""
    pod = json.loads(json.dumps(FIXTURES["pods"]))
    del pod["status"]["containerStatuses"][0]["lastState"]
    assert tables.cells_for(kinds.resolve("pods"), pod, now=NOW)[3] == "3"
    assert pod_status(pod) == "Running"


# -- Table ---------------------------------------------------------------------------------------


def test_table_rows_carry_partial_object_metadata_by_default() -> None:
    """The default includeObject=Metadata embeds each object's metadata as PartialObjectMetadata."""
    rt = kinds.resolve("pods")
    pod = FIXTURES["pods"]
    result = tables.table(rt, [pod], resource_version="77", now=NOW.timestamp())
    assert {k: result[k] for k in ("kind", "apiVersion", "metadata")} == {
        "kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": "77"}}
    assert result["columnDefinitions"] == tables.columns_for(rt)
    assert result["rows"] == [{
        "cells": tables.cells_for(rt, pod, now=NOW),
        "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": pod["metadata"]},
    }]
    assert json.loads(json.dumps(result)) == result


def test_table_include_object_and_none() -> None:
    """includeObject=Object embeds the full typed object; None leaves the object out."""
    rt = kinds.resolve("cm")
    bare = {k: v for k, v in FIXTURES["configmaps"].items() if k not in ("apiVersion", "kind")}
    full = tables.table(rt, [bare], resource_version="1", include_object="Object", now=NOW.timestamp())
    assert full["rows"][0]["object"] == FIXTURES["configmaps"]
    none = tables.table(rt, [bare], resource_version="1", include_object="None", now=NOW.timestamp())
    assert none["rows"] == [{"cells": ["cfg", 2, "5m"]}]


def test_table_empty_list_and_v1beta1() -> None:
    """An empty list still has its columns; v1beta1 Tables name their own version everywhere."""
    rt = kinds.resolve("deploy")
    empty = tables.table(rt, [], resource_version="9")
    assert empty["rows"] == [] and len(empty["columnDefinitions"]) == 8
    beta = tables.table(rt, [FIXTURES["deployments"]], resource_version="9", version="v1beta1")
    assert beta["apiVersion"] == beta["rows"][0]["object"]["apiVersion"] == "meta.k8s.io/v1beta1"


def test_table_rejects_unknown_include_object() -> None:
    """kube-apiserver answers 400 for an unknown includeObject value."""
    with pytest.raises(ValueError, match="includeObject"):
        tables.table(kinds.resolve("pods"), [], resource_version="1", include_object="Everything")


# -- Accept negotiation ------------------------------------------------------------------------


@pytest.mark.parametrize(("accept", "version"), [
    pytest.param(KUBECTL_ACCEPT, "v1", id="kubectl"),
    pytest.param("application/json;as=Table;v=v1beta1;g=meta.k8s.io, application/json", "v1beta1", id="v1beta1"),
    pytest.param("application/json ; as=Table ; g=meta.k8s.io ; v=v1", "v1", id="spaces-any-param-order"),
    pytest.param("application/json;as=Table;v=v2;g=meta.k8s.io,application/json;as=Table;v=v1;g=meta.k8s.io",
                 "v1", id="skips-unknown-version"),
    pytest.param("application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json", None,
                 id="other-conversion"),
    pytest.param("application/json, application/json;as=Table;v=v1;g=meta.k8s.io", None, id="plain-preferred"),
    pytest.param("application/json;q=0.5, application/json;as=Table;v=v1;g=meta.k8s.io", "v1", id="by-quality"),
    pytest.param("application/json;as=Table;v=v1;g=meta.k8s.io;q=0, application/json", None, id="refused"),
    pytest.param("application/json;as=Table;v=v1;g=example.com", None, id="wrong-group"),
    pytest.param("application/json", None, id="plain"),
    pytest.param("", None, id="empty"),
    pytest.param(None, None, id="missing"),
])
def test_accept_negotiation(accept: str | None, version: str | None) -> None:
    """A Table is served when the most preferred acceptable range asks for a meta.k8s.io Table."""
    assert tables.table_version(accept) == version
    assert tables.wants_table(accept) is (version is not None)


# -- watch events --------------------------------------------------------------------------------


def test_watch_events_send_columns_only_first() -> None:
    """Each event is a one-row Table at the object's version; only the first carries the columns."""
    rt = kinds.resolve("pods")
    pod = FIXTURES["pods"]
    first = tables.table_event(rt, "ADDED", pod, include_object="Metadata", first=True, now=NOW.timestamp())
    later = tables.table_event(rt, "MODIFIED", pod, include_object="Metadata", first=False, now=NOW.timestamp())
    assert first["type"] == "ADDED" and later["type"] == "MODIFIED"
    assert first["object"]["kind"] == later["object"]["kind"] == "Table"
    assert first["object"]["metadata"] == {"resourceVersion": "42"}
    assert first["object"]["columnDefinitions"] == tables.columns_for(rt)
    assert later["object"]["columnDefinitions"] == []
    assert first["object"]["rows"] == later["object"]["rows"] == tables.table(
        rt, [pod], resource_version="42", now=NOW.timestamp())["rows"]


def test_watch_error_and_bookmark_events() -> None:
    """ERROR events keep their Status; BOOKMARKs become row-less Tables carrying the resourceVersion."""
    rt = kinds.resolve("pods")
    status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 410, "reason": "Expired"}
    assert tables.table_event(rt, "ERROR", status, first=True) == {"type": "ERROR", "object": status}
    bookmark = {"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": "90"}}
    event = tables.table_event(rt, "BOOKMARK", bookmark, first=False)
    assert event["object"]["rows"] == [] and event["object"]["metadata"] == {"resourceVersion": "90"}
