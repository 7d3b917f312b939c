"""Server-side preparation: identity, timestamps, defaults, generation and status, fixed before proposing."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minik8s.api.errors import InvalidError
from minik8s.api.kinds import RESOURCES, ResourceType, resolve
from minik8s.api.objects import prepare_create, prepare_status_update, prepare_update
from minik8s.api.validation import validate

NOW = "2026-11-26T22:49:57Z"
LATER = "2026-11-26T23:00:00Z"
POD = {"metadata": {"name": "web"},
       "spec": {"containers": [{"name": "app", "image": "nginx", "ports": [{"containerPort": 80}]}]}}
TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": copy.deepcopy(POD["spec"])}
DEPLOYMENT = {"metadata": {"name": "web"}, "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": TEMPLATE}}
SERVICE = {"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}


def create(kind: str, obj: dict[str, Any], namespace: str | None = "default", **overrides: str) -> dict[str, Any]:
    """prepare_create with fixed clock, uid and suffix."""
    args = {"now": NOW, "uid": "uid-1", "name_suffix": "x7k2p"} | overrides
    return prepare_create(resolve(kind), obj, namespace=namespace, **args)


def test_prepare_create_stamps_identity_and_drops_server_fields() -> None:
    """kind, apiVersion, uid, creationTimestamp and generation are set; resourceVersion and managedFields go."""
    obj = copy.deepcopy(POD)
    obj["apiVersion"], obj["kind"] = "wrong", "Wrong"
    obj["metadata"] |= {"resourceVersion": "7", "managedFields": [{}], "uid": "client", "generation": 9,
                        "deletionTimestamp": NOW}
    pod = create("Pod", obj)
    assert (pod["apiVersion"], pod["kind"]) == ("v1", "Pod")
    assert list(pod)[:2] == ["apiVersion", "kind"]
    assert pod["metadata"] == {"name": "web", "namespace": "default", "uid": "uid-1", "creationTimestamp": NOW,
                               "generation": 1}


def test_prepare_create_does_not_modify_its_input() -> None:
    """The result is a deep copy."""
    obj = copy.deepcopy(DEPLOYMENT)
    create("Deployment", obj)
    assert obj == DEPLOYMENT


@pytest.mark.parametrize(("kind", "given", "namespace", "expected"), [
    pytest.param("Pod", None, "team-a", "team-a", id="from-url"),
    pytest.param("Pod", "team-b", "team-a", "team-a", id="url-wins"),
    pytest.param("Pod", "team-b", None, "team-b", id="from-object"),
    pytest.param("Pod", None, None, "default", id="default"),
    pytest.param("Node", "team-b", None, None, id="cluster-scoped-has-none"),
])
def test_prepare_create_sets_namespace_for_namespaced_kinds(kind: str, given: str | None, namespace: str | None,
                                                             expected: str | None) -> None:
    """Namespaced objects always get one; cluster-scoped objects never keep one."""
    obj = {"metadata": {"name": "n1", **({"namespace": given} if given else {})}}
    assert create(kind, obj, namespace).get("metadata", {}).get("namespace") == expected


@pytest.mark.parametrize(("metadata", "expected"), [
    pytest.param({"generateName": "web-"}, "web-x7k2p", id="generated"),
    pytest.param({"generateName": "web-", "name": ""}, "web-x7k2p", id="empty-name"),
    pytest.param({"generateName": "web-", "name": "given"}, "given", id="name-wins"),
    pytest.param({"generateName": "a" * 70}, "a" * 58 + "x7k2p", id="long-prefix-trimmed"),
])
def test_prepare_create_generates_names(metadata: dict[str, str], expected: str) -> None:
    """A missing name comes from generateName plus the suffix, kept within 63 characters."""
    assert create("ConfigMap", {"metadata": metadata})["metadata"]["name"] == expected


@pytest.mark.parametrize(("kind", "generation"), [
    pytest.param("Pod", 1, id="pod"), pytest.param("Deployment", 1, id="deployment"),
    pytest.param("ConfigMap", None, id="configmap"), pytest.param("Event", None, id="event"),
])
def test_prepare_create_sets_generation_for_kinds_with_spec(kind: str, generation: int | None) -> None:
    """generation starts at 1 where there is a spec, and is absent elsewhere."""
    obj = {"metadata": {"name": "n1", "generation": 5}}
    assert create(kind, obj)["metadata"].get("generation") == generation


def test_prepare_create_defaults_pods_like_kubernetes() -> None:
    """Pod spec, container and port defaults, and a Pending status."""
    pod = create("Pod", POD)
    spec, container = pod["spec"], pod["spec"]["containers"][0]
    assert {k: spec[k] for k in ("restartPolicy", "terminationGracePeriodSeconds", "dnsPolicy", "schedulerName")} == {
        "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
        "schedulerName": "default-scheduler"}
    assert container["imagePullPolicy"] == "Always"  # "nginx" is nginx:latest
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert container["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert pod["status"] == {"phase": "Pending", "qosClass": "BestEffort"}


def test_prepare_create_defaults_probes_hooks_and_volume_modes() -> None:
    """Probe timings, httpGet scheme and path (probes and hooks) and API-data volume modes, as Kubernetes sets them."""
    obj = copy.deepcopy(POD)
    obj["spec"]["volumes"] = [{"name": "cfg", "configMap": {"name": "c"}}, {"name": "s", "secret": {
        "secretName": "s", "defaultMode": 0o400}}]
    obj["spec"]["containers"][0] |= {"livenessProbe": {"httpGet": {"port": 80}, "periodSeconds": 5},
                                     "lifecycle": {"preStop": {"httpGet": {"port": 80, "path": "/stop"}}}}
    pod = create("Pod", obj)
    container = pod["spec"]["containers"][0]
    assert container["livenessProbe"] == {"httpGet": {"port": 80, "scheme": "HTTP", "path": "/"}, "periodSeconds": 5,
                                          "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3}
    assert container["lifecycle"]["preStop"]["httpGet"] == {"port": 80, "path": "/stop", "scheme": "HTTP"}
    assert [v.get("configMap", v.get("secret"))["defaultMode"] for v in pod["spec"]["volumes"]] == [0o644, 0o400]


def test_prepare_create_keeps_given_values_over_defaults() -> None:
    """Defaults only fill what is missing or null."""
    obj = copy.deepcopy(POD)
    obj["spec"] |= {"restartPolicy": "Never", "dnsPolicy": None}
    obj["spec"]["containers"][0]["imagePullPolicy"] = "Never"
    pod = create("Pod", obj)
    assert (pod["spec"]["restartPolicy"], pod["spec"]["dnsPolicy"]) == ("Never", "ClusterFirst")
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == "Never"


@pytest.mark.parametrize(("image", "policy"), [
    pytest.param("nginx", "Always", id="no-tag"),
    pytest.param("nginx:latest", "Always", id="latest"),
    pytest.param("nginx:1.22", "IfNotPresent", id="tag"),
    pytest.param("10.200.3.1:5000/app", "Always", id="registry-port-no-tag"),
    pytest.param("10.200.3.1:5000/app:1", "IfNotPresent", id="registry-port-tag"),
    pytest.param("nginx@sha256:" + "a" * 64, "IfNotPresent", id="digest"),
    pytest.param("nginx:latest@sha256:" + "a" * 64, "Always", id="latest-and-digest"),
])
def test_prepare_create_defaults_the_pull_policy_by_tag(image: str, policy: str) -> None:
    """imagePullPolicy defaults like Kubernetes: Always for `:latest` or no tag (and no digest), else IfNotPresent;
    templates too."""
    obj = copy.deepcopy(POD)
    obj["spec"]["containers"][0]["image"] = image
    assert create("Pod", obj)["spec"]["containers"][0]["imagePullPolicy"] == policy
    deployment = copy.deepcopy(DEPLOYMENT)
    deployment["spec"]["template"]["spec"]["containers"][0]["image"] = image
    assert create("Deployment", deployment)["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == policy


def test_prepare_create_replaces_client_status() -> None:
    """A new object starts with the server's status, whatever the client sent; Nodes keep theirs."""
    obj = copy.deepcopy(POD) | {"status": {"phase": "Running"}}
    assert create("Pod", obj)["status"]["phase"] == "Pending"
    assert create("Deployment", DEPLOYMENT | {"status": {"replicas": 5}})["status"] == {}
    node = {"metadata": {"name": "node-a"}, "status": {"capacity": {"cpu": "4"}}}
    assert create("Node", node, None)["status"] == {"capacity": {"cpu": "4"}}


def resources(requests: dict[str, str] | None, limits: dict[str, str] | None) -> dict[str, Any]:
    return {k: v for k, v in (("requests", requests), ("limits", limits)) if v is not None}


@pytest.mark.parametrize(("containers", "expected"), [
    pytest.param([{}], "BestEffort", id="nothing"),
    pytest.param([resources({"ephemeral-storage": "1Gi"}, None)], "BestEffort", id="other-resources-only"),
    pytest.param([resources({"cpu": "100m"}, None)], "Burstable", id="requests-only"),
    pytest.param([resources(None, {"cpu": "1", "memory": "1Gi"})], "Guaranteed", id="limits-default-requests"),
    pytest.param([resources({"cpu": "1", "memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"})], "Guaranteed",
                 id="requests-equal-limits"),
    pytest.param([resources({"cpu": "500m", "memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"})], "Burstable",
                 id="requests-below-limits"),
    pytest.param([resources(None, {"cpu": "1"})], "Burstable", id="cpu-limit-only"),
    pytest.param([resources(None, {"cpu": "1", "memory": "1Gi"}), {}], "Burstable", id="one-container-unlimited"),
    pytest.param([resources(None, {"cpu": "lots", "memory": "1Gi"})], "Burstable", id="unparsable-quantity"),
])
def test_prepare_create_computes_qos_class(containers: list[dict[str, Any]], expected: str) -> None:
    """The QoS class follows Kubernetes' rules over cpu and memory."""
    spec = {"containers": [{"name": f"c{i}", "image": "i", "resources": r} for i, r in enumerate(containers)]}
    assert create("Pod", {"metadata": {"name": "p"}, "spec": spec})["status"]["qosClass"] == expected


def test_prepare_create_defaults_requests_from_limits() -> None:
    """A container with limits and no requests requests its limits."""
    spec = {"containers": [{"name": "c", "image": "i", "resources": {"limits": {"cpu": "1"}, "requests": {}}}]}
    pod = create("Pod", {"metadata": {"name": "p"}, "spec": spec})
    assert pod["spec"]["containers"][0]["resources"]["requests"] == {"cpu": "1"}


def test_prepare_create_defaults_workloads() -> None:
    """Deployments get replicas, strategy, history and deadline defaults, and pod defaults in the template."""
    spec = create("Deployment", DEPLOYMENT)["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}
    assert (spec["revisionHistoryLimit"], spec["progressDeadlineSeconds"]) == (10, 600)
    assert spec["template"]["spec"]["restartPolicy"] == "Always"
    assert "status" not in spec["template"]
    recreate = copy.deepcopy(DEPLOYMENT)
    recreate["spec"]["strategy"] = {"type": "Recreate"}
    assert create("Deployment", recreate)["spec"]["strategy"] == {"type": "Recreate"}
    replicaset = create("ReplicaSet", DEPLOYMENT)["spec"]
    assert replicaset["replicas"] == 1 and "strategy" not in replicaset


def test_prepare_create_defaults_services() -> None:
    """Services default to ClusterIP, no session affinity, TCP and targetPort = port."""
    spec = create("Service", SERVICE)["spec"]
    assert (spec["type"], spec["sessionAffinity"]) == ("ClusterIP", "None")
    assert spec["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]


def test_prepare_create_defaults_namespaces_and_events() -> None:
    """Namespaces carry the kubernetes finalizer and are Active; events count once from now."""
    namespace = create("Namespace", {"metadata": {"name": "team-a"}}, None)
    assert (namespace["spec"], namespace["status"]) == ({"finalizers": ["kubernetes"]}, {"phase": "Active"})
    event = create("Event", {"metadata": {"name": "e"}, "involvedObject": {"kind": "Pod", "name": "web"}})
    assert (event["count"], event["firstTimestamp"], event["lastTimestamp"]) == (1, NOW, NOW)


@pytest.mark.parametrize(("kind", "obj"), [
    pytest.param("Pod", POD, id="pod"), pytest.param("Deployment", DEPLOYMENT, id="deployment"),
    pytest.param("ReplicaSet", DEPLOYMENT, id="replicaset"), pytest.param("Service", SERVICE, id="service"),
    pytest.param("Namespace", {"metadata": {"name": "team-a"}}, id="namespace"),
    pytest.param("Event", {"metadata": {"generateName": "web-"}, "involvedObject": {"kind": "Pod"}}, id="event"),
])
def test_prepare_create_output_is_valid(kind: str, obj: dict[str, Any]) -> None:
    """Defaults never make a valid object invalid."""
    validate(resolve(kind), create(kind, obj))


def test_prepare_update_carries_identity_from_old() -> None:
    """uid, creationTimestamp, name, namespace and deletion stamps cannot be changed by an update."""
    old = create("ConfigMap", {"metadata": {"generateName": "c-"}, "data": {"a": "1"}})
    old["metadata"] |= {"resourceVersion": "4", "deletionTimestamp": LATER}
    new = {"metadata": {"name": "other", "namespace": "x", "uid": "forged", "resourceVersion": "4",
                        "managedFields": [], "labels": {"a": "b"}}, "data": {"a": "2"}}
    updated = prepare_update(resolve("ConfigMap"), new, old, now=LATER)
    assert updated["metadata"] == {
        "name": "c-x7k2p", "namespace": "default", "uid": "uid-1", "creationTimestamp": NOW, "generateName": "c-",
        "deletionTimestamp": LATER, "resourceVersion": "4", "labels": {"a": "b"}}
    assert (updated["kind"], updated["data"]) == ("ConfigMap", {"a": "2"})


@pytest.mark.parametrize(("change", "generation"), [
    pytest.param({"spec": {"replicas": 3}}, 2, id="spec-changed"),
    pytest.param({"metadata": {"labels": {"new": "label"}}}, 1, id="metadata-only"),
    pytest.param({}, 1, id="unchanged-after-defaults"),
])
def test_prepare_update_bumps_generation_only_when_spec_changes(change: dict[str, Any], generation: int) -> None:
    """generation counts spec changes; omitted defaults are not a change."""
    old = create("Deployment", DEPLOYMENT)
    new = copy.deepcopy(DEPLOYMENT)
    new["metadata"] |= change.get("metadata", {})
    new["spec"] |= change.get("spec", {})
    assert prepare_update(resolve("Deployment"), new, old, now=LATER)["metadata"]["generation"] == generation


def test_prepare_update_keeps_status_for_status_subresource_kinds() -> None:
    """Writes to the main resource cannot change a status that has its own subresource."""
    old = create("Deployment", DEPLOYMENT) | {"status": {"replicas": 1}}
    new = copy.deepcopy(DEPLOYMENT) | {"status": {"replicas": 99}}
    assert prepare_update(resolve("Deployment"), new, old, now=LATER)["status"] == {"replicas": 1}
    lease = {"metadata": {"name": "l"}, "spec": {"holderIdentity": "a"}, "status": {"x": 1}}
    assert prepare_update(resolve("Lease"), lease, create("Lease", lease), now=LATER)["status"] == {"x": 1}


def test_prepare_update_keeps_service_allocations() -> None:
    """An update that leaves out the cluster IP or node ports keeps the allocated ones."""
    old = create("Service", SERVICE)
    old["spec"] |= {"type": "NodePort", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"]}
    old["spec"]["ports"][0]["nodePort"] = 30080
    new = copy.deepcopy(SERVICE)
    new["spec"]["type"] = "NodePort"
    spec = prepare_update(resolve("Service"), new, old, now=LATER)["spec"]
    assert (spec["clusterIP"], spec["clusterIPs"]) == ("10.96.0.10", ["10.96.0.10"])
    assert spec["ports"][0]["nodePort"] == 30080
    spec = prepare_update(resolve("Service"), copy.deepcopy(SERVICE), old, now=LATER)["spec"]
    assert "nodePort" not in spec["ports"][0]


def test_prepare_update_output_passes_update_validation() -> None:
    """Re-sending a prepared pod with a new image is a valid update."""
    old = create("Pod", POD)
    new = copy.deepcopy(old)  # as read back, imagePullPolicy included (a new default would be a change)
    new["spec"]["containers"][0]["image"] = "nginx:1.26"
    validate(resolve("Pod"), prepare_update(resolve("Pod"), new, old, now=LATER), old=old)


def test_prepare_status_update_takes_only_status() -> None:
    """A status write changes status alone; the client's resourceVersion stays as its precondition."""
    old = create("Pod", POD)
    old["metadata"]["resourceVersion"] = "9"
    new = copy.deepcopy(old)
    new["spec"]["nodeName"], new["metadata"]["labels"] = "node-b", {"x": "y"}
    new["status"], new["metadata"]["resourceVersion"] = {"phase": "Running"}, "8"
    updated = prepare_status_update(resolve("Pod"), new, old)
    assert updated == old | {"status": {"phase": "Running"}, "metadata": old["metadata"] | {"resourceVersion": "8"}}
    del new["metadata"]["resourceVersion"]
    assert "resourceVersion" not in prepare_status_update(resolve("Pod"), new, old)["metadata"]


WORDS = ["metadata", "name", "generateName", "namespace", "generation", "spec", "status", "containers",
         "initContainers", "ports", "port", "protocol", "resources", "limits", "requests", "cpu", "memory", "template",
         "strategy", "type", "rollingUpdate", "replicas", "clusterIP", "nodePort", "RollingUpdate", "NodePort", "1"]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.sampled_from(WORDS),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(WORDS), inner, max_size=5),
    max_leaves=25)
OBJECTS = st.dictionaries(st.sampled_from(WORDS), JSON, max_size=5)


def validate_or_invalid(rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None = None) -> None:
    try:
        validate(rt, obj, old=old)
    except InvalidError:
        pass


@settings(max_examples=300, deadline=None)
@given(rt=st.sampled_from(RESOURCES), obj=OBJECTS, old=OBJECTS)
def test_prepare_random_objects_never_crash(rt: ResourceType, obj: dict[str, Any], old: dict[str, Any]) -> None:
    """Any JSON object can be prepared for create, update and status update, and the result validated."""
    created = prepare_create(rt, obj, namespace="default", now=NOW, uid="u", name_suffix="abcde")
    validate_or_invalid(rt, created)
    validate_or_invalid(rt, prepare_update(rt, obj, old, now=LATER), old)
    validate_or_invalid(rt, prepare_status_update(rt, obj, old), old)
