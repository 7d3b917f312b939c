"""PATCH semantics: strategic merge as Kubernetes' strategicpatch, apply, JSON and merge patches."""

from __future__ import annotations

import json
from typing import Any

import pytest

from minik8s.api import errors
from minik8s.api.server.patching import (
    APPLY, JSON_PATCH, MERGE, STRATEGIC, apply_patch,
)

Obj = dict[str, Any]


def obj(kind: str, api_version: str = "v1", metadata: Obj | None = None, **fields: Any) -> Obj:
    """An object of `kind` named x with the given top-level fields."""
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata or {"name": "x"}, **fields}


def pod(**spec: Any) -> Obj:
    """A Pod with the given spec fields."""
    return obj("Pod", spec=spec)


def deployment(replicas: int = 1, labels: Obj | None = None, **pod_spec: Any) -> Obj:
    """A Deployment whose pod template has the given spec fields."""
    return obj("Deployment", "apps/v1", {"name": "x", "labels": labels or {"app": "x"}},
               spec={"replicas": replicas, "template": {"metadata": {"labels": {"app": "x"}}, "spec": pod_spec}})


def c(name: str, **fields: Any) -> Obj:
    """A container."""
    return {"name": name, **fields}


def directive_keys(value: Any) -> list[str]:
    """Every `$...` key anywhere in `value`."""
    if isinstance(value, dict):
        return [k for k in value if k.startswith("$")] + [d for v in value.values() for d in directive_keys(v)]
    if isinstance(value, list):
        return [d for v in value for d in directive_keys(v)]
    return []


LAST_APPLIED = {"kubectl.kubernetes.io/last-applied-configuration": "{}"}


@pytest.mark.parametrize(("live", "patch", "expected"), [
    # ---- merge keys, by field path ----
    pytest.param(pod(containers=[c("a", image="1")]), {"spec": {"containers": [c("c", image="x")]}},
                 pod(containers=[c("c", image="x"), c("a", image="1")]), id="kubectl-patch-adds-container-first"),
    pytest.param(pod(containers=[c("a", image="1", tty=True), c("b")]), {"spec": {"containers": [c("a", image="2")]}},
                 pod(containers=[c("a", image="2", tty=True), c("b")]), id="containers-merge-by-name"),
    pytest.param(pod(initContainers=[c("i", image="1", args=["x"])]), {"spec": {"initContainers": [c("i", image="2")]}},
                 pod(initContainers=[c("i", image="2", args=["x"])]), id="init-containers-merge-by-name"),
    pytest.param(pod(containers=[c("a", ports=[{"containerPort": 80, "name": "http"}])]),
                 {"spec": {"containers": [c("a", ports=[{"containerPort": 80, "protocol": "TCP"},
                                                         {"containerPort": 443}])]}},
                 pod(containers=[c("a", ports=[{"containerPort": 80, "name": "http", "protocol": "TCP"},
                                               {"containerPort": 443}])]), id="container-ports-merge-by-containerPort"),
    pytest.param(pod(containers=[c("a", env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])]),
                 {"spec": {"containers": [c("a", env=[{"name": "B", "value": "3"}])]}},
                 pod(containers=[c("a", env=[{"name": "A", "value": "1"}, {"name": "B", "value": "3"}])]),
                 id="env-merge-by-name"),
    pytest.param(pod(containers=[c("a", volumeMounts=[{"mountPath": "/d", "name": "v"}])]),
                 {"spec": {"containers": [c("a", volumeMounts=[{"mountPath": "/d", "readOnly": True}])]}},
                 pod(containers=[c("a", volumeMounts=[{"mountPath": "/d", "name": "v", "readOnly": True}])]),
                 id="volume-mounts-merge-by-mountPath"),
    pytest.param(pod(volumes=[{"name": "v", "emptyDir": {}}, {"name": "w", "emptyDir": {}}]),
                 {"spec": {"volumes": [{"name": "w", "emptyDir": {"medium": "Memory"}}]}},
                 pod(volumes=[{"name": "v", "emptyDir": {}}, {"name": "w", "emptyDir": {"medium": "Memory"}}]),
                 id="volumes-merge-by-name"),
    pytest.param(pod(imagePullSecrets=[{"name": "r1"}]), {"spec": {"imagePullSecrets": [{"name": "r2"}]}},
                 pod(imagePullSecrets=[{"name": "r2"}, {"name": "r1"}]), id="image-pull-secrets-merge-by-name"),
    pytest.param(pod(tolerations=[{"key": "a", "effect": "NoSchedule"}]),
                 {"spec": {"tolerations": [{"key": "b", "effect": "NoSchedule"}]}},
                 pod(tolerations=[{"key": "b", "effect": "NoSchedule"}]), id="tolerations-are-replaced"),
    pytest.param(pod(readinessGates=[{"conditionType": "a"}]), {"spec": {"readinessGates": [{"conditionType": "b"}]}},
                 pod(readinessGates=[{"conditionType": "b"}]), id="readiness-gates-are-replaced"),
    pytest.param(obj("Pod", status={"conditions": [{"type": "Ready", "status": "False"}, {"type": "Initialized"}]}),
                 {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
                 obj("Pod", status={"conditions": [{"type": "Ready", "status": "True"}, {"type": "Initialized"}]}),
                 id="status-conditions-merge-by-type"),
    pytest.param(obj("Service", spec={"ports": [{"port": 80, "targetPort": 8080}]}),
                 {"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 443}]}},
                 obj("Service", spec={"ports": [{"port": 80, "targetPort": 9090}, {"port": 443}]}),
                 id="service-ports-merge-by-port"),
    pytest.param(obj("Service", spec={"ports": [{"port": 80, "containerPort": 1}]}),
                 {"spec": {"ports": [{"port": 81, "containerPort": 1}]}},
                 obj("Service", spec={"ports": [{"port": 81, "containerPort": 1}, {"port": 80, "containerPort": 1}]}),
                 id="service-ports-key-is-port-not-containerPort"),
    pytest.param(obj("Pod", metadata={"name": "x", "finalizers": ["a", "b"]}), {"metadata": {"finalizers": ["b", "c"]}},
                 obj("Pod", metadata={"name": "x", "finalizers": ["a", "b", "c"]}), id="finalizers-union-keeps-order"),
    pytest.param(obj("ConfigMap", metadata={"name": "x", "finalizers": ["a", "b"]}),
                 {"metadata": {"finalizers": ["c"]}},
                 obj("ConfigMap", metadata={"name": "x", "finalizers": ["c", "a", "b"]}),
                 id="finalizers-new-value-first"),
    pytest.param(obj("ConfigMap", metadata={"name": "x", "ownerReferences": [{"uid": "1", "name": "o"}]}),
                 {"metadata": {"ownerReferences": [{"uid": "1", "controller": True}, {"uid": "2", "name": "p"}]}},
                 obj("ConfigMap", metadata={"name": "x", "ownerReferences": [
                     {"uid": "1", "name": "o", "controller": True}, {"uid": "2", "name": "p"}]}),
                 id="owner-references-merge-by-uid"),
    pytest.param(obj("Endpoints", subsets=[{"addresses": [{"ip": "1.1.1.1"}], "ports": [{"port": 80}]}]),
                 {"subsets": [{"addresses": [{"ip": "2.2.2.2"}], "ports": [{"port": 80}]}]},
                 obj("Endpoints", subsets=[{"addresses": [{"ip": "2.2.2.2"}], "ports": [{"port": 80}]}]),
                 id="endpoints-subsets-are-replaced"),
    pytest.param(obj("Node", spec={"podCIDRs": ["10.0.0.0/24"], "taints": [{"key": "a", "effect": "NoSchedule"}]},
                     status={"addresses": [{"type": "InternalIP", "address": "1"}], "conditions": [{"type": "Ready"}]}),
                 {"spec": {"podCIDRs": ["10.0.1.0/24"], "taints": [{"key": "b", "effect": "NoSchedule"}]},
                  "status": {"addresses": [{"type": "InternalIP", "address": "2"}]}},
                 obj("Node", spec={"podCIDRs": ["10.0.1.0/24", "10.0.0.0/24"],
                                   "taints": [{"key": "b", "effect": "NoSchedule"}]},
                     status={"addresses": [{"type": "InternalIP", "address": "2"}], "conditions": [{"type": "Ready"}]}),
                 id="node-lists"),
    pytest.param(obj("Namespace", metadata={"name": "x", "finalizers": ["a"]}, spec={"finalizers": ["kubernetes"]}),
                 {"metadata": {"finalizers": ["b"]}, "spec": {"finalizers": ["other"]}},
                 obj("Namespace", metadata={"name": "x", "finalizers": ["b", "a"]}, spec={"finalizers": ["other"]}),
                 id="namespace-spec-finalizers-replaced-metadata-finalizers-merged"),
    pytest.param(deployment(containers=[c("a", image="1", env=[{"name": "A"}])]),
                 {"spec": {"template": {"spec": {"containers": [c("a", env=[{"name": "B"}])]}}}},
                 deployment(containers=[c("a", image="1", env=[{"name": "B"}, {"name": "A"}])]),
                 id="deployment-template-containers-and-env-merge"),
    pytest.param(obj("ReplicaSet", "apps/v1", spec={"template": {"spec": {"containers": [c("a"), c("b")],
                                                                           "volumes": [{"name": "v"}]}}}),
                 {"spec": {"template": {"spec": {"containers": [c("b", image="2")], "volumes": [{"name": "w"}]}}}},
                 obj("ReplicaSet", "apps/v1", spec={"template": {"spec": {"containers": [c("a"), c("b", image="2")],
                                                                          "volumes": [{"name": "w"}, {"name": "v"}]}}}),
                 id="replicaset-template-merges"),
    pytest.param(obj("Deployment", "apps/v1", spec={"containers": [c("a")]}),
                 {"spec": {"containers": [c("b")]}},
                 obj("Deployment", "apps/v1", spec={"containers": [c("b")]}),
                 id="containers-outside-pod-spec-replaced"),
    pytest.param(obj("HorizontalPodAutoscaler", "autoscaling/v2",
                     spec={"metrics": [{"type": "Resource"}]}, status={"conditions": [{"type": "AbleToScale"}]}),
                 {"spec": {"metrics": [{"type": "Pods"}]}, "status": {"conditions": [{"type": "ScalingActive"}]}},
                 obj("HorizontalPodAutoscaler", "autoscaling/v2", spec={"metrics": [{"type": "Pods"}]},
                     status={"conditions": [{"type": "ScalingActive"}, {"type": "AbleToScale"}]}),
                 id="hpa-metrics-replaced-conditions-merged"),
    pytest.param(obj("Ingress", "networking.k8s.io/v1", spec={"rules": [{"host": "a"}], "tls": [{"hosts": ["a"]}]}),
                 {"spec": {"rules": [{"host": "b"}]}},
                 obj("Ingress", "networking.k8s.io/v1", spec={"rules": [{"host": "b"}], "tls": [{"hosts": ["a"]}]}),
                 id="ingress-rules-replaced"),
    pytest.param(obj("Lease", "coordination.k8s.io/v1", spec={"holderIdentity": "a", "leaseDurationSeconds": 40}),
                 {"spec": {"holderIdentity": "b"}},
                 obj("Lease", "coordination.k8s.io/v1", spec={"holderIdentity": "b", "leaseDurationSeconds": 40}),
                 id="lease-fields-merge"),
    # ---- directives ----
    pytest.param(pod(containers=[c("a"), c("b"), c("d")]),
                 {"spec": {"containers": [{"$patch": "delete", "name": "b"}]}},
                 pod(containers=[c("a"), c("d")]), id="patch-delete-list-element"),
    pytest.param(pod(securityContext={"runAsUser": 1}, containers=[c("a")]),
                 {"spec": {"securityContext": {"$patch": "delete"}}}, pod(containers=[c("a")]), id="patch-delete-map"),
    pytest.param(obj("ConfigMap", data={"a": "1", "b": "2"}), {"data": {"$patch": "replace", "c": "3"}},
                 obj("ConfigMap", data={"c": "3"}), id="patch-replace-map"),
    pytest.param(pod(containers=[c("a", image="1"), c("b")]),
                 {"spec": {"containers": [c("a", image="2"), {"$patch": "replace"}]}},
                 pod(containers=[c("a", image="2")]), id="patch-replace-list"),
    pytest.param(obj("ConfigMap", data={"a": "1"}), {"data": {"$patch": "merge", "b": "2"}},
                 obj("ConfigMap", data={"a": "1", "b": "2"}), id="patch-merge-map-is-default"),
    pytest.param(pod(containers=[c("a"), c("b"), c("c")]),
                 {"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}]}},
                 pod(containers=[c("c"), c("a"), c("b")]), id="set-element-order-reorders"),
    pytest.param(pod(containers=[c("a"), c("b"), c("s")]),
                 {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
                           "containers": [c("b", image="2")]}},
                 pod(containers=[c("b", image="2"), c("a"), c("s")]), id="set-element-order-server-only-after"),
    pytest.param(pod(containers=[c("a"), c("s"), c("b")]),
                 {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
                           "containers": [c("b", image="2")]}},
                 pod(containers=[c("s"), c("b", image="2"), c("a")]),
                 id="set-element-order-server-only-before-later-live-item"),
    pytest.param(pod(containers=[c("s"), c("a"), c("b")]),
                 {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}},
                 pod(containers=[c("s"), c("b"), c("a")]), id="set-element-order-server-only-keeps-live-position"),
    pytest.param(pod(containers=[c("a")]),
                 {"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "n"}], "containers": [c("n")]}},
                 pod(containers=[c("a"), c("n")]), id="set-element-order-places-new-item"),
    pytest.param(pod(), {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
                                  "containers": [c("b"), c("a")]}},
                 pod(containers=[c("b"), c("a")]), id="set-element-order-on-absent-list"),
    pytest.param(obj("Pod", metadata={"name": "x", "finalizers": ["a", "b"]}),
                 {"metadata": {"$setElementOrder/finalizers": ["c", "b", "a"], "finalizers": ["c"]}},
                 obj("Pod", metadata={"name": "x", "finalizers": ["c", "b", "a"]}),
                 id="set-element-order-primitive-list"),
    pytest.param(obj("Pod", metadata={"name": "x", "finalizers": ["a", "b", "c"]}),
                 {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"],
                               "$setElementOrder/finalizers": ["a", "c"]}},
                 obj("Pod", metadata={"name": "x", "finalizers": ["a", "c"]}), id="delete-from-primitive-list"),
    pytest.param(obj("Pod", metadata={"name": "x"}), {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}},
                 obj("Pod", metadata={"name": "x"}), id="delete-from-absent-primitive-list"),
    pytest.param(deployment(),
                 {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None}}},
                 deployment() | {"spec": deployment()["spec"] | {"strategy": {"type": "Recreate"}}},
                 id="retain-keys-on-absent-map"),
    pytest.param(obj("Deployment", "apps/v1", spec={"strategy": {
                     "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}, "extra": 1}}),
                 {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None}}},
                 obj("Deployment", "apps/v1", spec={"strategy": {"type": "Recreate"}}),
                 id="retain-keys-drops-unlisted"),
    pytest.param(pod(volumes=[{"name": "v", "emptyDir": {}}]),
                 {"spec": {"$setElementOrder/volumes": [{"name": "v"}],
                           "volumes": [{"$retainKeys": ["configMap", "name"], "configMap": {"name": "cm"},
                                        "emptyDir": None, "name": "v"}]}},
                 pod(volumes=[{"name": "v", "configMap": {"name": "cm"}}]), id="retain-keys-in-volume"),
    pytest.param(obj("ConfigMap", metadata={"name": "x", "labels": {"a": "1", "b": "2"}}, data={"k": "v"}),
                 {"metadata": {"labels": {"a": None}}, "data": None},
                 obj("ConfigMap", metadata={"name": "x", "labels": {"b": "2"}}), id="null-deletes-key"),
    pytest.param(pod(containers=[c("a")]),
                 {"spec": {"initContainers": [c("i", env=[{"$patch": "delete", "name": "X"}, {"name": "Y"}],
                                                **{"$setElementOrder/ports": [{"containerPort": 1}]},
                                                ports=[{"containerPort": 1}])]}},
                 pod(containers=[c("a")], initContainers=[c("i", env=[{"name": "Y"}], ports=[{"containerPort": 1}])]),
                 id="directives-in-added-values-do-not-leak"),
    pytest.param(pod(tolerations=[{"key": "a"}]), {"spec": {"tolerations": [{"key": "b"}, {"$patch": "replace"}]}},
                 pod(tolerations=[{"key": "b"}]), id="directive-elements-dropped-from-replaced-list"),
    # ---- what `kubectl apply` sends for an edited Deployment ----
    pytest.param(deployment(containers=[c("a", image="1"), c("b", image="1")]),
                 {"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "a"}],
                                                 "containers": [{"$patch": "delete", "name": "b"}]}}}},
                 deployment(containers=[c("a", image="1")]), id="kubectl-apply-removes-container"),
    pytest.param(deployment(containers=[c("a", image="1")]),
                 {"metadata": {"annotations": LAST_APPLIED}, "spec": {"replicas": 3}},
                 deployment(3, containers=[c("a", image="1")]) | {
                     "metadata": {"name": "x", "labels": {"app": "x"}, "annotations": LAST_APPLIED}},
                 id="kubectl-apply-changes-replicas"),
    pytest.param(deployment(containers=[c("a")]), {"metadata": {"labels": {"tier": "web"}}},
                 deployment(labels={"app": "x", "tier": "web"}, containers=[c("a")]), id="kubectl-apply-adds-label"),
    pytest.param(deployment(labels={"app": "x", "tier": "web"}, containers=[c("a")]),
                 {"metadata": {"labels": {"tier": None}}}, deployment(containers=[c("a")]),
                 id="kubectl-apply-removes-label"),
    pytest.param(deployment(containers=[c("a", image="1"), c("b", image="1")]),
                 {"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
                                                 "containers": [{"image": "2", "name": "b"}]}}}},
                 deployment(containers=[c("a", image="1"), c("b", image="2")]), id="kubectl-apply-changes-image"),
    pytest.param(deployment(containers=[c("a", env=[{"name": "X", "value": "1"}])]),
                 {"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "a"}], "containers": [
                     {"$setElementOrder/env": [{"name": "X"}, {"name": "Y"}], "env": [{"name": "Y", "value": "2"}],
                      "name": "a"}]}}}},
                 deployment(containers=[c("a", env=[{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}])]),
                 id="kubectl-apply-adds-env-var"),
    pytest.param(deployment(containers=[c("a")]),
                 {"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
                                                 "containers": [c("b", image="2")]}}}},
                 deployment(containers=[c("a"), c("b", image="2")]), id="kubectl-apply-adds-container-last"),
])
def test_strategic_merge(live: Obj, patch: Obj, expected: Obj) -> None:
    """A strategic merge patch gives what Kubernetes gives, with no directive left behind."""
    result = apply_patch(live, patch, STRATEGIC)
    assert result == expected
    assert directive_keys(result) == []


def test_strategic_merge_leaves_inputs_alone() -> None:
    """Neither the live object nor the patch is modified."""
    live = pod(containers=[c("a"), c("b")])
    patch = {"spec": {"$setElementOrder/containers": [{"name": "a"}],
                      "containers": [{"$patch": "delete", "name": "b"}]}}
    live_before, patch_before = json.dumps(live), json.dumps(patch)
    apply_patch(live, patch, STRATEGIC)
    assert (json.dumps(live), json.dumps(patch)) == (live_before, patch_before)


@pytest.mark.parametrize(("content_type", "patch", "error"), [
    pytest.param("application/xml", {}, errors.UnsupportedMediaTypeError, id="unknown-patch-type"),
    pytest.param(STRATEGIC, [], errors.BadRequestError, id="strategic-patch-not-an-object"),
    pytest.param(APPLY, "x", errors.BadRequestError, id="apply-not-an-object"),
    pytest.param(STRATEGIC, {"spec": {"containers": [{"image": "x"}]}}, errors.BadRequestError,
                 id="element-without-merge-key"),
    pytest.param(STRATEGIC, {"spec": {"containers": [{"$patch": "delete"}]}}, errors.BadRequestError,
                 id="delete-without-merge-key"),
    pytest.param(STRATEGIC, {"spec": {"containers": ["a"]}}, errors.BadRequestError, id="merge-list-of-scalars"),
    pytest.param(STRATEGIC, {"metadata": {"finalizers": [{"a": 1}]}}, errors.BadRequestError,
                 id="primitive-merge-list-of-objects"),
    pytest.param(STRATEGIC, {"spec": {"$patch": "bogus"}}, errors.BadRequestError, id="unknown-map-directive"),
    pytest.param(STRATEGIC, {"spec": {"containers": [{"$patch": "bogus", "name": "a"}]}}, errors.BadRequestError,
                 id="unknown-list-directive"),
    pytest.param(STRATEGIC, {"spec": {"$retainKeys": ["a"], "b": 1}}, errors.BadRequestError,
                 id="retain-keys-missing-patched-key"),
    pytest.param(STRATEGIC, {"spec": {"$retainKeys": "a"}}, errors.BadRequestError, id="retain-keys-not-a-list"),
    pytest.param(STRATEGIC, {"spec": {"$setElementOrder/containers": "a"}}, errors.BadRequestError,
                 id="set-element-order-not-a-list"),
    pytest.param(STRATEGIC, {"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}, errors.BadRequestError,
                 id="delete-from-primitive-list-not-a-list"),
    pytest.param(STRATEGIC, {"$patch": "delete"}, errors.InvalidError, id="deleting-the-whole-object"),
    pytest.param(JSON_PATCH, {"op": "add"}, errors.BadRequestError, id="json-patch-not-a-list"),
    pytest.param(JSON_PATCH, [{"op": "test", "path": "/kind", "value": "Service"}], errors.InvalidError,
                 id="json-patch-failed-test"),
    pytest.param(JSON_PATCH, [{"op": "remove", "path": "/spec/missing"}], errors.InvalidError,
                 id="json-patch-missing-path"),
])
def test_bad_patches(content_type: str, patch: Any, error: type[errors.ApiError]) -> None:
    """Bad patches fail with the Kubernetes status code."""
    with pytest.raises(error):
        apply_patch(pod(containers=[c("a")]), patch, content_type)


@pytest.mark.parametrize(("live", "content_type", "patch", "expected"), [
    pytest.param(pod(containers=[c("a"), c("b")], nodeName="n"), MERGE,
                 {"spec": {"containers": [c("c")], "nodeName": None}}, pod(containers=[c("c")]),
                 id="merge-patch-replaces-lists-null-deletes"),
    pytest.param(obj("ConfigMap", data={"a": "1"}), MERGE, {"data": {"$patch": "replace"}},
                 obj("ConfigMap", data={"a": "1", "$patch": "replace"}), id="merge-patch-has-no-directives"),
    pytest.param(pod(containers=[c("a", image="1")]), JSON_PATCH,
                 [{"op": "replace", "path": "/spec/containers/0/image", "value": "2"},
                  {"op": "add", "path": "/metadata/labels", "value": {"a": "b"}}],
                 obj("Pod", metadata={"name": "x", "labels": {"a": "b"}}, spec={"containers": [c("a", image="2")]}),
                 id="json-patch"),
])
def test_other_patch_types(live: Obj, content_type: str, patch: Any, expected: Obj) -> None:
    """JSON merge patch follows RFC 7386 and JSON patch RFC 6902."""
    assert apply_patch(live, patch, content_type) == expected


def without_managed_fields(o: Obj) -> Obj:
    """`o` without `metadata.managedFields`."""
    return o | {"metadata": {k: v for k, v in o["metadata"].items() if k != "managedFields"}}


@pytest.mark.parametrize(("live", "first", "second", "expected"), [
    pytest.param(deployment(labels={"app": "x", "team": "t"}, containers=[c("a")]),
                 deployment(labels={"app": "x", "tier": "web"}, containers=[c("a")]),
                 deployment(containers=[c("a")]),
                 deployment(labels={"app": "x", "team": "t"}, containers=[c("a")]),
                 id="removed-label-pruned-others-kept"),
    pytest.param(deployment(containers=[c("a", image="1", imagePullPolicy="Always")]),
                 deployment(containers=[c("a", image="1"), c("b", image="1")]),
                 deployment(containers=[c("a", image="2")]),
                 deployment(containers=[c("a", image="2", imagePullPolicy="Always")]),
                 id="removed-container-pruned-server-fields-kept"),
    pytest.param(deployment(containers=[c("a", env=[{"name": "X", "value": "1"}])]),
                 deployment(containers=[c("a", env=[{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}])]),
                 deployment(containers=[c("a", env=[{"name": "X", "value": "1"}])]),
                 deployment(containers=[c("a", env=[{"name": "X", "value": "1"}])]),
                 id="removed-env-var-pruned"),
    pytest.param(obj("Pod", metadata={"name": "x", "finalizers": ["server"]}),
                 obj("Pod", metadata={"name": "x", "finalizers": ["mine", "other"]}),
                 obj("Pod", metadata={"name": "x", "finalizers": ["mine"]}),
                 obj("Pod", metadata={"name": "x", "finalizers": ["mine", "server"]}),
                 id="removed-finalizer-pruned"),
    pytest.param(deployment(5, containers=[c("a")]),
                 deployment(2, containers=[c("a")]) | {"spec": deployment()["spec"] | {"paused": True}},
                 deployment(2, containers=[c("a")]),
                 deployment(2, containers=[c("a")]),
                 id="removed-spec-field-pruned"),
])
def test_server_side_apply_prunes_what_the_manager_applied(live: Obj, first: Obj, second: Obj, expected: Obj) -> None:
    """Applying again without a field the same manager applied before removes it."""
    once = apply_patch(live, first, APPLY, field_manager="kubectl")
    twice = apply_patch(once, second, APPLY, field_manager="kubectl")
    assert without_managed_fields(twice) == expected
    [entry] = twice["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"], entry["fieldsType"]) == ("kubectl", "Apply", "FieldsV1")
    assert "f:metadata" in entry["fieldsV1"]


def test_server_side_apply_merges_like_strategic_merge() -> None:
    """Apply merges lists by merge key and keeps fields it does not mention."""
    live = deployment(containers=[c("a", image="1", imagePullPolicy="Always"), c("sidecar")])
    applied = deployment(containers=[c("a", image="2")])
    assert apply_patch(live, applied, APPLY) == deployment(
        containers=[c("a", image="2", imagePullPolicy="Always"), c("sidecar")])


def test_server_side_apply_without_manager_keeps_removed_fields() -> None:
    """Without a field manager nothing is pruned and nothing is recorded."""
    live = deployment(labels={"app": "x", "tier": "web"}, containers=[c("a")])
    assert apply_patch(live, deployment(containers=[c("a")]), APPLY) == live


def test_server_side_apply_managers_prune_only_their_own_fields() -> None:
    """A field applied by another manager survives this manager dropping the same field."""
    live = deployment(containers=[c("a")])
    mine = apply_patch(live, deployment(labels={"app": "x", "a": "1"}, containers=[c("a")]), APPLY, field_manager="me")
    theirs = apply_patch(mine, deployment(labels={"app": "x", "b": "2"}, containers=[c("a")]), APPLY,
                         field_manager="them")
    result = apply_patch(theirs, deployment(containers=[c("a")]), APPLY, field_manager="me")
    assert result["metadata"]["labels"] == {"app": "x", "b": "2"}


