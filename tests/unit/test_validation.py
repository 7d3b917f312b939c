"""Validation: every problem reported with Kubernetes field paths and wording, never a crash."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minik8s.api.errors import InvalidError
from minik8s.api.kinds import RESOURCES, resolve
from minik8s.api.quantity import parse_quantity
from minik8s.api.validation import validate

CONTAINER = {
    "name": "app", "image": "nginx:1.25", "ports": [{"containerPort": 80, "name": "http"}],
    "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "128Mi"}},
    "env": [{"name": "MODE", "value": "prod"}], "volumeMounts": [{"name": "data", "mountPath": "/data"}],
}
POD_SPEC = {"containers": [CONTAINER], "volumes": [{"name": "data", "emptyDir": {}}], "restartPolicy": "Always"}
TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": POD_SPEC}
VALID: dict[str, dict[str, Any]] = {
    "Pod": {"metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}}, "spec": POD_SPEC},
    "ReplicaSet": {"metadata": {"name": "web"},
                   "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": TEMPLATE}},
    "Deployment": {"metadata": {"name": "web"}, "spec": {
        "replicas": 3, "selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]},
        "template": TEMPLATE,
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}}}},
    "Service": {"metadata": {"name": "web"}, "spec": {
        "selector": {"app": "web"}, "type": "NodePort",
        "ports": [{"name": "http", "port": 80, "targetPort": "http", "nodePort": 30080},
                  {"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"}]}},
    "Namespace": {"metadata": {"name": "team-a"}},
    "Node": {"metadata": {"name": "node-a.example.com"}},
    "ConfigMap": {"metadata": {"name": "settings"}, "data": {"app.properties": "a=b", "MODE": "prod"}},
    "Secret": {"metadata": {"name": "creds"}, "type": "Opaque", "data": {"password": "aHVudGVyMg=="}},
    "EndpointSlice": {"metadata": {"name": "web-abc12", "labels": {"kubernetes.io/service-name": "web"}},
                      "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                      "endpoints": [{"addresses": ["10.1.0.7"], "conditions": {"ready": True}, "nodeName": "n1"}]},
    "IngressClass": {"metadata": {"name": "nginx"}, "spec": {"controller": "minik8s.io/ingress-nginx"}},
    "Event": {"metadata": {"name": "web.1"}, "involvedObject": {"kind": "Pod", "name": "web"}, "count": 1},
    "Lease": {"metadata": {"name": "node-a"}, "spec": {"holderIdentity": "node-a", "leaseDurationSeconds": 40}},
    "HorizontalPodAutoscaler": {"metadata": {"name": "web"}, "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 1, "maxReplicas": 5}},
    "Ingress": {"metadata": {"name": "web"}, "spec": {"rules": [{"host": "example.com", "http": {"paths": [
        {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}},
        {"path": "/api", "pathType": "Exact", "backend": {"service": {"name": "api", "port": {"name": "http"}}}},
    ]}}]}},
    "Endpoints": {"metadata": {"name": "web"},
                  "subsets": [{"addresses": [{"ip": "10.0.0.5"}], "ports": [{"port": 80, "name": "http"}]}]},
    "Function": {"metadata": {"name": "resize"}, "spec": {
        "source": {"inline": "def handle(params):\n    return params\n"}, "handler": "main:handle",
        "env": [{"name": "MODE", "value": "prod"}], "resources": {"requests": {"cpu": "100m"}},
        "containerConcurrency": 4, "scale": {"minScale": 0, "maxScale": 5, "target": 3}}},
    "Workflow": {"metadata": {"name": "pipeline"}, "spec": {"maxSteps": 50, "definition": {
        "StartAt": "Resize", "States": {
            "Resize": {"Type": "Task", "Resource": "function:resize", "Next": "Big?"},
            "Big?": {"Type": "Choice", "Choices": [{"Variable": "$.width", "NumericGreaterThan": 100,
                                                    "Next": "Done"}], "Default": "Resize"},
            "Done": {"Type": "Succeed"}}}}},
    "WorkflowRun": {"metadata": {"name": "pipeline-1"}, "spec": {"workflowRef": {"name": "pipeline"},
                                                               "input": "{\"width\": 10}"}},
    "GpuJob": {"metadata": {"name": "matmul"}, "spec": {
        "cluster": {"host": "login.example", "port": 22, "user": "me", "credentialsSecret": "slurm-login"},
        "sources": {"inline": {"matmul.cu": "int main() { return 0; }\n"}}, "build": "nvcc -o matmul matmul.cu",
        "run": "./matmul 256", "resources": {"partition": "debug", "gpus": 1, "memory": "256M", "time": "00:05:00"},
        "sbatchOptions": ["--exclusive", "--qos=normal"], "artifacts": ["*.csv"]}},
}
DELETE = object()


def changed(kind: str, path: str, value: Any) -> dict[str, Any]:
    """A copy of the valid object of `kind` with the value at dotted `path` replaced (or DELETEd)."""
    obj = copy.deepcopy(VALID[kind])
    *parents, last = [int(part) if part.isdigit() else part for part in path.split(".")]
    target = obj
    for key in parents:
        target = target[key]
    if value is DELETE:
        del target[last]
    else:
        target[last] = value
    return obj


def causes(kind: str, obj: Any, old: Any = None) -> list[tuple[str, str, str]]:
    """The (field, reason, message) causes validation reports, [] when the object is valid."""
    try:
        validate(resolve(kind), obj, old=old)
    except InvalidError as err:
        return [(c["field"], c["reason"], c["message"]) for c in err.causes]
    return []


@pytest.mark.parametrize("kind", [pytest.param(kind, id=kind) for kind in VALID])
def test_validate_accepts_valid_objects(kind: str) -> None:
    """A well-formed object of every kind passes."""
    assert causes(kind, VALID[kind]) == []


def test_validate_covers_every_served_kind() -> None:
    """The valid fixtures cover every stored resource in the table (metrics are never written)."""
    assert set(VALID) == {rt.kind for rt in RESOURCES if rt.stored}


def test_validate_accepts_generate_name_without_name() -> None:
    """generateName stands in for name; its trailing dash is fine."""
    assert causes("Pod", changed("Pod", "metadata", {"generateName": "web-"})) == []


SUBDOMAIN_MESSAGE = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
              "and must start and end with an alphanumeric character")


@pytest.mark.parametrize(("kind", "path", "value", "field", "reason", "message"), [
    pytest.param("Pod", "metadata.name", "Foo_bar", "metadata.name", "FieldValueInvalid",
                 f'Invalid value: "Foo_bar": {SUBDOMAIN_MESSAGE}', id="pod-name-subdomain"),
    pytest.param("Pod", "metadata.name", "x" * 254, "metadata.name", "FieldValueInvalid",
                 f'Invalid value: "{"x" * 254}": must be no more than 253 characters', id="pod-name-too-long"),
    pytest.param("Pod", "metadata.name", DELETE, "metadata.name", "FieldValueRequired",
                 "Required value: name or generateName is required", id="name-required"),
    pytest.param("Pod", "metadata", "x", "metadata", "FieldValueInvalid", 'Invalid value: "x": must be an object',
                 id="metadata-not-object"),
    pytest.param("Pod", "metadata", DELETE, "metadata", "FieldValueRequired", "Required value", id="metadata-missing"),
    pytest.param("Pod", "metadata.namespace", "Bad_ns", "metadata.namespace", "FieldValueInvalid",
                 'Invalid value: "Bad_ns": a lowercase RFC 1123 label', id="namespace-label"),
    pytest.param("Pod", "metadata.labels", {"a b": "x"}, "metadata.labels", "FieldValueInvalid",
                 'Invalid value: "a b": name part must consist of alphanumeric characters', id="label-key"),
    pytest.param("Pod", "metadata.labels", {"a": "v" * 64}, "metadata.labels", "FieldValueInvalid",
                 f'Invalid value: "{"v" * 64}": must be no more than 63 characters', id="label-value-length"),
    pytest.param("Pod", "metadata.labels", {"a": "-x"}, "metadata.labels", "FieldValueInvalid",
                 'Invalid value: "-x": a valid label must be an empty string', id="label-value-syntax"),
    pytest.param("Pod", "metadata.labels", {"a": 1}, "metadata.labels[a]", "FieldValueInvalid",
                 "Invalid value: 1: must be a string", id="label-value-type"),
    pytest.param("Pod", "metadata.annotations", {"note": ["x"]}, "metadata.annotations[note]", "FieldValueInvalid",
                 'Invalid value: ["x"]: must be a string', id="annotation-value-type"),
    pytest.param("Pod", "metadata.annotations", {"n": "x" * 262144}, "metadata.annotations", "FieldValueTooLong",
                 "Too long: must have at most 262144 bytes", id="annotations-size"),
    pytest.param("Pod", "spec", DELETE, "spec", "FieldValueRequired", "Required value", id="pod-spec-missing"),
    pytest.param("Pod", "spec.containers", [], "spec.containers", "FieldValueRequired", "Required value",
                 id="containers-empty"),
    pytest.param("Pod", "spec.containers", {"name": "x"}, "spec.containers", "FieldValueInvalid",
                 'Invalid value: {"name": "x"}: must be a list', id="containers-not-list"),
    pytest.param("Pod", "spec.containers.0.name", DELETE, "spec.containers[0].name", "FieldValueRequired",
                 "Required value", id="container-name-required"),
    pytest.param("Pod", "spec.containers.0.name", "App", "spec.containers[0].name", "FieldValueInvalid",
                 'Invalid value: "App": a lowercase RFC 1123 label', id="container-name-label"),
    pytest.param("Pod", "spec.containers", [CONTAINER, CONTAINER], "spec.containers[1].name",
                 "FieldValueDuplicate", 'Duplicate value: "app"', id="container-name-unique"),
    pytest.param("Pod", "spec.containers.0.image", DELETE, "spec.containers[0].image", "FieldValueRequired",
                 "Required value", id="image-required"),
    pytest.param("Pod", "spec.containers.0.image", 5, "spec.containers[0].image", "FieldValueInvalid",
                 "Invalid value: 5: must be a string", id="image-type"),
    pytest.param("Pod", "spec.containers.0.ports.0.containerPort", 0, "spec.containers[0].ports[0].containerPort",
                 "FieldValueInvalid", "Invalid value: 0: must be between 1 and 65535, inclusive", id="port-range"),
    pytest.param("Pod", "spec.containers.0.ports.0.protocol", "HTTP", "spec.containers[0].ports[0].protocol",
                 "FieldValueNotSupported", 'Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"',
                 id="port-protocol"),
    pytest.param("Pod", "spec.containers.0.resources.limits.cpu", "lots",
                 "spec.containers[0].resources.limits[cpu]", "FieldValueInvalid",
                 'Invalid value: "lots": quantities must match the regular expression', id="quantity-syntax"),
    pytest.param("Pod", "spec.containers.0.resources.requests.memory", "1Gi",
                 "spec.containers[0].resources.requests[memory]", "FieldValueInvalid",
                 'Invalid value: "1Gi": must be less than or equal to memory limit of 128Mi', id="request-over-limit"),
    pytest.param("Pod", "spec.restartPolicy", "Sometimes", "spec.restartPolicy", "FieldValueNotSupported",
                 'Unsupported value: "Sometimes": supported values: "Always", "Never", "OnFailure"',
                 id="restart-policy"),
    pytest.param("Pod", "spec.containers.0.env.0", {"value": "x"}, "spec.containers[0].env[0].name",
                 "FieldValueRequired", "Required value", id="env-name"),
    pytest.param("Pod", "spec.volumes", [{"name": "data"}, {"name": "data"}], "spec.volumes[1].name",
                 "FieldValueDuplicate", 'Duplicate value: "data"', id="volume-name-unique"),
    pytest.param("Pod", "spec.containers.0.volumeMounts.0.name", "logs", "spec.containers[0].volumeMounts[0].name",
                 "FieldValueNotFound", 'Not found: "logs"', id="mount-unknown-volume"),
    pytest.param("Pod", "spec.nodeSelector", {"disk": True}, "spec.nodeSelector[disk]", "FieldValueInvalid",
                 "Invalid value: true: must be a string", id="node-selector"),
    pytest.param("Pod", "spec.terminationGracePeriodSeconds", -1, "spec.terminationGracePeriodSeconds",
                 "FieldValueInvalid", "Invalid value: -1: must be greater than or equal to 0", id="grace-period"),
    pytest.param("Namespace", "metadata.name", "a.b", "metadata.name", "FieldValueInvalid",
                 'Invalid value: "a.b": a lowercase RFC 1123 label', id="namespace-name-label"),
    pytest.param("Service", "metadata.name", "1web", "metadata.name", "FieldValueInvalid",
                 'Invalid value: "1web": a DNS-1035 label', id="service-name-dns1035"),
    pytest.param("ReplicaSet", "spec.replicas", -1, "spec.replicas", "FieldValueInvalid",
                 "Invalid value: -1: must be greater than or equal to 0", id="replicas-negative"),
    pytest.param("ReplicaSet", "spec.replicas", "three", "spec.replicas", "FieldValueInvalid",
                 'Invalid value: "three": must be an integer', id="replicas-string"),
    pytest.param("ReplicaSet", "spec.replicas", True, "spec.replicas", "FieldValueInvalid",
                 "Invalid value: true: must be an integer", id="replicas-boolean"),
    pytest.param("ReplicaSet", "spec.selector", DELETE, "spec.selector", "FieldValueRequired", "Required value",
                 id="selector-required"),
    pytest.param("ReplicaSet", "spec.selector", {}, "spec.selector", "FieldValueInvalid",
                 "Invalid value: {}: empty selector is invalid for replicaset", id="selector-empty"),
    pytest.param("ReplicaSet", "spec.template.metadata.labels", {"app": "db"}, "spec.template.metadata.labels",
                 "FieldValueInvalid", 'Invalid value: {"app": "db"}: `selector` does not match template `labels`',
                 id="template-labels-match-selector"),
    pytest.param("ReplicaSet", "spec.template.spec.restartPolicy", "Never", "spec.template.spec.restartPolicy",
                 "FieldValueNotSupported", 'Unsupported value: "Never": supported values: "Always"',
                 id="template-restart-policy"),
    pytest.param("ReplicaSet", "spec.selector.matchExpressions", [{"key": "app", "operator": "Gt"}],
                 "spec.selector.matchExpressions[0].operator", "FieldValueNotSupported",
                 'Unsupported value: "Gt": supported values: "DoesNotExist", "Exists", "In", "NotIn"',
                 id="selector-operator"),
    pytest.param("Deployment", "spec.selector.matchExpressions.0.values", [],
                 "spec.selector.matchExpressions[0].values", "FieldValueRequired",
                 "Required value: must be specified when `operator` is 'In' or 'NotIn'",
                 id="selector-in-without-values"),
    pytest.param("Deployment", "spec.template.spec.containers.0.image", DELETE,
                 "spec.template.spec.containers[0].image", "FieldValueRequired", "Required value",
                 id="template-spec-prefix"),
    pytest.param("Deployment", "spec.strategy.type", "BlueGreen", "spec.strategy.type", "FieldValueNotSupported",
                 'Unsupported value: "BlueGreen": supported values: "Recreate", "RollingUpdate"', id="strategy-type"),
    pytest.param("Deployment", "spec.strategy.rollingUpdate.maxSurge", "lots",
                 "spec.strategy.rollingUpdate.maxSurge", "FieldValueInvalid",
                 'Invalid value: "lots": a valid percent string', id="max-surge-percent"),
    pytest.param("Deployment", "spec.strategy.rollingUpdate", {"maxSurge": "0%", "maxUnavailable": 0},
                 "spec.strategy.rollingUpdate.maxUnavailable", "FieldValueInvalid",
                 "Invalid value: 0: may not be 0 when `maxSurge` is 0", id="surge-and-unavailable-zero"),
    pytest.param("Service", "spec.ports", DELETE, "spec.ports", "FieldValueRequired", "Required value",
                 id="service-ports-required"),
    pytest.param("Service", "spec.ports.0.port", 0, "spec.ports[0].port", "FieldValueInvalid",
                 "Invalid value: 0: must be between 1 and 65535, inclusive", id="service-port-range"),
    pytest.param("Service", "spec.ports.0.port", DELETE, "spec.ports[0].port", "FieldValueRequired",
                 "Required value", id="service-port-required"),
    pytest.param("Service", "spec.ports.0.nodePort", 70000, "spec.ports[0].nodePort", "FieldValueInvalid",
                 "Invalid value: 70000: must be between 1 and 65535, inclusive", id="node-port-range"),
    pytest.param("Service", "spec.type", "ClusterIP", "spec.ports[0].nodePort", "FieldValueForbidden",
                 "Forbidden: may not be used when `type` is 'ClusterIP'", id="node-port-needs-node-port-type"),
    pytest.param("Service", "spec.type", "Headless", "spec.type", "FieldValueNotSupported",
                 'Unsupported value: "Headless": supported values: "ClusterIP", "ExternalName", "LoadBalancer", '
                 '"NodePort"', id="service-type"),
    pytest.param("Service", "spec.ports.1.name", DELETE, "spec.ports[1].name", "FieldValueRequired",
                 "Required value", id="port-name-required-when-several"),
    pytest.param("Service", "spec.ports.1.name", "http", "spec.ports[1].name", "FieldValueDuplicate",
                 'Duplicate value: "http"', id="port-name-unique"),
    pytest.param("Service", "spec.ports.0.targetPort", "web_port", "spec.ports[0].targetPort", "FieldValueInvalid",
                 'Invalid value: "web_port": must contain only alpha-numeric characters', id="target-port-name"),
    pytest.param("Service", "spec.ports.0.protocol", "ICMP", "spec.ports[0].protocol", "FieldValueNotSupported",
                 'Unsupported value: "ICMP"', id="service-protocol"),
    pytest.param("ConfigMap", "data", {"key": 1}, "data[key]", "FieldValueInvalid",
                 "Invalid value: 1: must be a string", id="configmap-data-value"),
    pytest.param("ConfigMap", "data", {"a b": "x"}, "data[a b]", "FieldValueInvalid",
                 'Invalid value: "a b": a valid config key', id="configmap-key"),
    pytest.param("Event", "involvedObject", DELETE, "involvedObject", "FieldValueRequired", "Required value",
                 id="event-involved-object"),
    pytest.param("Lease", "spec.holderIdentity", 5, "spec.holderIdentity", "FieldValueInvalid",
                 "Invalid value: 5: must be a string", id="lease-holder"),
    pytest.param("Lease", "spec.leaseDurationSeconds", "40", "spec.leaseDurationSeconds", "FieldValueInvalid",
                 'Invalid value: "40": must be an integer', id="lease-duration"),
    pytest.param("HorizontalPodAutoscaler", "spec.scaleTargetRef.name", DELETE, "spec.scaleTargetRef.name",
                 "FieldValueRequired", "Required value", id="hpa-target-name"),
    pytest.param("HorizontalPodAutoscaler", "spec", {"scaleTargetRef": {"kind": "Deployment", "name": "web"},
                                                     "maxReplicas": 0}, "spec.maxReplicas", "FieldValueInvalid",
                 "Invalid value: 0: must be greater than or equal to 1", id="hpa-max"),
    pytest.param("HorizontalPodAutoscaler", "spec.minReplicas", 6, "spec.maxReplicas", "FieldValueInvalid",
                 "Invalid value: 5: must be greater than or equal to `minReplicas`", id="hpa-min-over-max"),
    pytest.param("Ingress", "spec.rules.0.http.paths.0.pathType", "Regex", "spec.rules[0].http.paths[0].pathType",
                 "FieldValueNotSupported", 'Unsupported value: "Regex": supported values: "Exact", '
                 '"ImplementationSpecific", "Prefix"', id="ingress-path-type"),
    pytest.param("Ingress", "spec.rules.0.http.paths.0.backend.service.name", DELETE,
                 "spec.rules[0].http.paths[0].backend.service.name", "FieldValueRequired", "Required value",
                 id="ingress-service-name"),
    pytest.param("Ingress", "spec.rules.0.http.paths.0.backend.service.port", {},
                 "spec.rules[0].http.paths[0].backend", "FieldValueRequired",
                 "Required value: port name or number is required", id="ingress-port-required"),
    pytest.param("Ingress", "spec.rules.0.http.paths.0.backend.service.port", {"number": 80, "name": "http"},
                 "spec.rules[0].http.paths[0].backend", "FieldValueInvalid",
                 'Invalid value: "": cannot set both port name & port number', id="ingress-port-both"),
    pytest.param("Ingress", "spec.rules.0.http.paths.0.path", "api", "spec.rules[0].http.paths[0].path",
                 "FieldValueInvalid", 'Invalid value: "api": must be an absolute path', id="ingress-path-absolute"),
    pytest.param("Ingress", "spec.rules.0.http.paths.0.pathType", DELETE, "spec.rules[0].http.paths[0].pathType",
                 "FieldValueRequired", "Required value: pathType must be specified", id="ingress-path-type-required"),
    pytest.param("Ingress", "spec.rules.0.http.paths.0.path", "/a//b", "spec.rules[0].http.paths[0].path",
                 "FieldValueInvalid", "Invalid value: \"/a//b\": must not contain '//'", id="ingress-path-double-slash"),
    pytest.param("Ingress", "spec.rules.0.http.paths.0.path", "/a/..", "spec.rules[0].http.paths[0].path",
                 "FieldValueInvalid", "Invalid value: \"/a/..\": cannot end with '/..'", id="ingress-path-dot-dot"),
    pytest.param("Ingress", "spec.rules.0.http.paths.0.path", "/a%2Fb", "spec.rules[0].http.paths[0].path",
                 "FieldValueInvalid", "Invalid value: \"/a%2Fb\": must not contain '%2F'", id="ingress-path-encoded"),
    pytest.param("Ingress", "spec.rules.0.host", "10.0.0.1", "spec.rules[0].host", "FieldValueInvalid",
                 'Invalid value: "10.0.0.1": must be a DNS name, not an IP address', id="ingress-host-ip"),
    pytest.param("Ingress", "spec.rules.0.host", "Foo.com", "spec.rules[0].host", "FieldValueInvalid",
                 'Invalid value: "Foo.com": a lowercase RFC 1123 subdomain', id="ingress-host-case"),
    pytest.param("Ingress", "spec.rules.0.host", "a.*.foo.com", "spec.rules[0].host", "FieldValueInvalid",
                 'Invalid value: "a.*.foo.com": a wildcard DNS-1123 subdomain must start with', id="ingress-wildcard"),
    pytest.param("Ingress", "spec.rules.0.host", "foo.com;\n", "spec.rules[0].host", "FieldValueInvalid",
                 'Invalid value: "foo.com;\\n": a lowercase RFC 1123 subdomain', id="ingress-host-injection"),
    pytest.param("Ingress", "spec.rules.0.http.paths", [], "spec.rules[0].http.paths", "FieldValueRequired",
                 "Required value", id="ingress-paths-required"),
    pytest.param("Ingress", "spec.rules", [], "spec", "FieldValueInvalid",
                 "Invalid value: []: either `defaultBackend` or `rules` must be specified", id="ingress-empty"),
    pytest.param("Ingress", "spec.rules.0.http.paths.0.backend", {}, "spec.rules[0].http.paths[0].backend",
                 "FieldValueInvalid", 'Invalid value: "": resource or service backend is required',
                 id="ingress-backend-empty"),
    pytest.param("Ingress", "spec.rules.0.http.paths.0.backend.resource", {"kind": "Bucket", "name": "b"},
                 "spec.rules[0].http.paths[0].backend", "FieldValueInvalid",
                 'Invalid value: "": cannot set both resource and service backends', id="ingress-backend-both"),
    pytest.param("Ingress", "spec.rules.0.http.paths.0.backend.service.port", {"number": 0},
                 "spec.rules[0].http.paths[0].backend", "FieldValueRequired",
                 "Required value: port name or number is required", id="ingress-port-zero"),
    pytest.param("Ingress", "spec.rules.0.http.paths.0.backend.service.port", {"number": 70000},
                 "spec.rules[0].http.paths[0].backend.service.port.number", "FieldValueInvalid",
                 "Invalid value: 70000: must be between 1 and 65535, inclusive", id="ingress-port-range"),
    pytest.param("Ingress", "spec.ingressClassName", "Nginx", "spec.ingressClassName", "FieldValueInvalid",
                 'Invalid value: "Nginx": a lowercase RFC 1123 subdomain', id="ingress-class-name"),
    pytest.param("Ingress", "spec.tls", [{"hosts": ["*.*.x"], "secretName": "tls"}], "spec.tls[0].hosts[0]",
                 "FieldValueInvalid", 'Invalid value: "*.*.x": a wildcard DNS-1123', id="ingress-tls-host"),
    pytest.param("Ingress", "status", {"loadBalancer": {"ingress": [{"ip": "10.0.0.300"}]}},
                 "status.loadBalancer.ingress[0].ip", "FieldValueInvalid", 'Invalid value: "10.0.0.300"',
                 id="ingress-status-ip"),
    pytest.param("IngressClass", "spec.controller", "nginx", "spec.controller", "FieldValueInvalid",
                 'Invalid value: "nginx": must be a domain-prefixed path', id="ingressclass-controller"),
    pytest.param("IngressClass", "spec.parameters", {"kind": "Conf", "name": "a/b", "scope": "Cluster"},
                 "spec.parameters.name", "FieldValueInvalid", "Invalid value: \"a/b\": may not contain '/'",
                 id="ingressclass-parameters-name"),
    pytest.param("IngressClass", "spec.parameters", {"kind": "Conf", "name": "c", "scope": "Cluster",
                                                     "namespace": "x"},
                 "spec.parameters.namespace", "FieldValueForbidden", "Forbidden: `parameters.scope` is set to 'Cluster'",
                 id="ingressclass-parameters-cluster"),
    pytest.param("IngressClass", "spec.parameters", {"kind": "Conf", "name": "c", "scope": "Namespace"},
                 "spec.parameters.namespace", "FieldValueRequired",
                 "Required value: `parameters.scope` is set to 'Namespace'", id="ingressclass-parameters-namespace"),
    pytest.param("Endpoints", "subsets", "x", "subsets", "FieldValueInvalid", 'Invalid value: "x": must be a list',
                 id="endpoints-subsets"),
])
def test_validate_reports_field_error(kind: str, path: str, value: Any, field: str, reason: str,
                                      message: str) -> None:
    """One bad field gives exactly one cause at its Kubernetes path, worded like Kubernetes."""
    found = causes(kind, changed(kind, path, value))
    assert len(found) == 1, found
    assert found[0][:2] == (field, reason)
    assert found[0][2].startswith(message), found[0][2]


def test_validate_lists_every_problem_in_one_error() -> None:
    """All causes are collected into one 422 whose message names the object and each field."""
    pod = changed("Pod", "spec.containers.0", {"name": "Bad_Name", "ports": [{"containerPort": 70000}]})
    pod["metadata"]["labels"] = {"app": "-"}
    with pytest.raises(InvalidError) as caught:
        validate(resolve("Pod"), pod)
    err = caught.value
    assert (err.code, err.kind, err.name) == (422, "Pod", "web")
    assert [c["field"] for c in err.causes] == [
        "metadata.labels", "spec.containers[0].name", "spec.containers[0].image",
        "spec.containers[0].ports[0].containerPort",
    ]
    assert err.message.startswith('Pod "web" is invalid: metadata.labels: Invalid value: "-"')
    assert err.to_status()["details"]["causes"] == err.causes


def test_validate_rejects_non_object() -> None:
    """A body that is not an object is a 422 too, not a crash."""
    assert causes("Pod", ["not", "an", "object"]) == [
        ("<root>", "FieldValueInvalid", 'Invalid value: ["not", "an", "object"]: must be an object')]


@pytest.mark.parametrize("kind", [pytest.param("ReplicaSet", id="replicaset"),
                                  pytest.param("Deployment", id="deployment")])
def test_validate_update_selector_is_immutable(kind: str) -> None:
    """A workload's selector may not change on update, even when the template follows it."""
    new = changed(kind, "spec.selector", {"matchLabels": {"app": "web", "tier": "front"}})
    new["spec"]["template"]["metadata"]["labels"]["tier"] = "front"
    [(field, reason, message)] = causes(kind, new, old=VALID[kind])
    assert (field, reason) == ("spec.selector", "FieldValueInvalid")
    assert message.endswith("field is immutable")
    assert causes(kind, changed(kind, "spec.replicas", 9), old=VALID[kind]) == []


@pytest.mark.parametrize(("path", "value", "allowed"), [
    pytest.param("spec.containers.0.image", "nginx:1.26", True, id="image"),
    pytest.param("spec.activeDeadlineSeconds", 60, True, id="active-deadline"),
    pytest.param("spec.tolerations", [{"key": "k", "operator": "Exists"}], True, id="add-toleration"),
    pytest.param("spec.restartPolicy", "Never", False, id="restart-policy"),
    pytest.param("spec.containers.0.ports", [], False, id="ports"),
    pytest.param("spec.nodeName", "node-b", False, id="node-name"),
])
def test_validate_pod_update_only_changes_allowed_fields(path: str, value: Any, allowed: bool) -> None:
    """A pod's spec is immutable except images, the active deadline and added tolerations."""
    found = causes("Pod", changed("Pod", path, value), old=VALID["Pod"])
    expected = [] if allowed else [("spec", "FieldValueForbidden", "Forbidden: pod updates may not change fields "
                                    "other than `spec.containers[*].image`,`spec.initContainers[*].image`,"
                                    "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing "
                                    "tolerations)")]
    assert found == expected


def test_validate_pod_update_may_not_remove_tolerations() -> None:
    """Tolerations may be added but not removed."""
    old = changed("Pod", "spec.tolerations", [{"key": "k", "operator": "Exists"}])
    assert causes("Pod", VALID["Pod"], old=old)[0][:2] == ("spec", "FieldValueForbidden")


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("500m", 0.5, id="millicores"),
    pytest.param("1", 1.0, id="cores"),
    pytest.param("0.5", 0.5, id="fraction"),
    pytest.param(".5", 0.5, id="leading-dot"),
    pytest.param(2, 2.0, id="int"),
    pytest.param(0.25, 0.25, id="float"),
    pytest.param("64Mi", 64 * 2**20, id="mebibytes"),
    pytest.param("1Gi", 2**30, id="gibibytes"),
    pytest.param("1Ki", 1024, id="kibibytes"),
    pytest.param("1G", 1e9, id="gigabytes"),
    pytest.param("1k", 1e3, id="kilo"),
    pytest.param("128974848", 128974848, id="bytes"),
    pytest.param("1e3", 1e3, id="exponent"),
    pytest.param("1E3", 1e3, id="exponent-capital"),
    pytest.param("2E", 2e18, id="exa"),
    pytest.param("100n", 1e-7, id="nano"),
])
def test_parse_quantity_converts_to_base_units(text: str | int | float, expected: float) -> None:
    """Quantities become cores or bytes."""
    assert parse_quantity(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", [
    pytest.param("", id="empty"), pytest.param("abc", id="word"), pytest.param("1 Gi", id="space"),
    pytest.param("1gi", id="lowercase-binary"), pytest.param("1.2.3", id="two-dots"),
    pytest.param("Mi", id="no-number"),
    pytest.param("1e999", id="overflow"), pytest.param(True, id="boolean"), pytest.param(None, id="none"),
    pytest.param(float("nan"), id="nan"), pytest.param(10**400, id="huge-int"), pytest.param([1], id="list"),
])
def test_parse_quantity_rejects_non_quantities(text: Any) -> None:
    """Anything else is a ValueError with Kubernetes' message."""
    with pytest.raises(ValueError, match="quantities must match"):
        parse_quantity(text)


# Random JSON, with keys and strings the validator looks for so that deep paths get exercised.
WORDS = ["metadata", "name", "generateName", "namespace", "labels", "annotations", "spec", "containers",
         "initContainers", "image", "ports", "containerPort", "protocol", "resources", "limits", "requests", "cpu",
         "memory", "env", "volumes", "volumeMounts", "restartPolicy", "nodeSelector", "replicas", "selector",
         "matchLabels", "matchExpressions", "key", "operator", "values", "template", "strategy", "type",
         "rollingUpdate", "maxSurge", "maxUnavailable", "port", "targetPort", "nodePort", "rules", "http", "paths",
         "path", "pathType", "backend", "service", "number", "scaleTargetRef", "maxReplicas", "minReplicas",
         "subsets", "addresses", "data", "involvedObject", "tolerations", "ownerReferences", "In", "Exists",
         "TCP", "500m", "25%", "Always", "RollingUpdate", "Prefix", "app", "web", "a/b", "-", ""]
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8) | st.sampled_from(WORDS)
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.sampled_from(WORDS) | st.text(max_size=4), inner, max_size=5),
                    max_leaves=25)


def paths_of(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside nested dicts and lists."""
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    return [prefix] + [p for key, child in children for p in paths_of(child, (*prefix, key))]


@st.composite
def mutated_valid_objects(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A valid object of some kind with one value somewhere inside replaced by random JSON."""
    kind = draw(st.sampled_from(sorted(VALID)))
    obj = copy.deepcopy(VALID[kind])
    *parents, last = draw(st.sampled_from(paths_of(obj)[1:]))
    target = obj
    for key in parents:
        target = target[key]
    target[last] = draw(JSON)
    return kind, obj


def assert_only_invalid(kind: str, obj: Any, old: Any = None) -> None:
    try:
        validate(resolve(kind), obj, old=old)
    except InvalidError:
        pass


@settings(max_examples=400, deadline=None)
@given(kind=st.sampled_from([rt.kind for rt in RESOURCES]), obj=JSON, old=st.none() | JSON)
def test_validate_random_json_only_raises_invalid(kind: str, obj: Any, old: Any) -> None:
    """Whatever JSON arrives, validation either passes or raises InvalidError."""
    assert_only_invalid(kind, obj, old)


@settings(max_examples=600, deadline=None)
@given(case=mutated_valid_objects(), use_old=st.booleans())
def test_validate_mutated_objects_only_raise_invalid(case: tuple[str, dict[str, Any]], use_old: bool) -> None:
    """A valid object with any part replaced by random JSON never crashes validation, updates included."""
    kind, obj = case
    assert_only_invalid(kind, obj, VALID[kind] if use_old else None)
    assert_only_invalid(kind, VALID[kind], obj if use_old else None)


def test_validate_ingress_accepts_upstream_shapes() -> None:
    """Wildcard hosts, a default backend alone, resource backends and ImplementationSpecific without a
    path are all valid, as kube-apiserver has them."""
    backend = {"service": {"name": "web", "port": {"number": 80}}}
    ingress = {"metadata": {"name": "web"}, "spec": {
        "ingressClassName": "nginx", "defaultBackend": backend, "tls": [{"hosts": ["*.foo.com"], "secretName": "t"}],
        "rules": [{"host": "*.foo.com", "http": {"paths": [
            {"pathType": "ImplementationSpecific", "backend": backend},
            {"path": "/b", "pathType": "Prefix", "backend": {"resource": {"apiGroup": "k8s.example.com",
                                                                          "kind": "Bucket", "name": "static"}}}]}},
                  {"host": "bar.foo.com"}]}}
    assert causes("Ingress", ingress) == []
    assert causes("Ingress", {"metadata": {"name": "d"}, "spec": {"defaultBackend": backend}}) == []


def test_validate_ingress_class_annotation_must_match_on_create() -> None:
    """`kubernetes.io/ingress.class` and `spec.ingressClassName` disagreeing is refused on create only."""
    ingress = changed("Ingress", "spec.ingressClassName", "nginx")
    ingress["metadata"]["annotations"] = {"kubernetes.io/ingress.class": "other"}
    [(field, reason, _)] = causes("Ingress", ingress)
    assert (field, reason) == ("metadata.annotations.kubernetes.io/ingress.class", "FieldValueInvalid")
    assert causes("Ingress", ingress, old=VALID["Ingress"]) == []


def test_ingressclass_parameters_scope_defaults_to_cluster() -> None:
    """An IngressClass's `parameters.scope` defaults to Cluster (networking/v1 defaults)."""
    from minik8s.api.kinds.ingressclass import RESOURCE

    obj = {"spec": {"controller": "minik8s.io/ingress-nginx", "parameters": {"kind": "Conf", "name": "c"}}}
    RESOURCE.strategy.default(obj, "2026-01-01T00:00:00Z")
    assert obj["spec"]["parameters"]["scope"] == "Cluster"
