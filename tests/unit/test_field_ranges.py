"""Validation of integer fields (int32/int64, no floats), addresses and ports, and unknown-field dropping."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from minik8s.api.errors import InvalidError
from minik8s.api.kinds import resolve
from minik8s.api.strictfields import drop_unknown_fields
from minik8s.api.validation import validate

POD = {"metadata": {"name": "p", "namespace": "default"},
       "spec": {"containers": [{"name": "c", "image": "busybox", "ports": [{"containerPort": 80}]}]}}
DEPLOY = {"metadata": {"name": "d"}, "spec": {
    "replicas": 1, "selector": {"matchLabels": {"app": "d"}},
    "template": {"metadata": {"labels": {"app": "d"}}, "spec": copy.deepcopy(POD["spec"])}}}
NODE = {"metadata": {"name": "n1"}, "spec": {"podCIDR": "10.244.1.0/24"}, "status": {
    "addresses": [{"type": "InternalIP", "address": "10.0.0.7"}, {"type": "Hostname", "address": "n1"}],
    "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}}


def causes(kind: str, obj: dict[str, Any]) -> dict[str, str]:
    """field -> message of every cause validate reports ({} when valid)."""
    try:
        validate(resolve(kind), obj)
    except InvalidError as err:
        return {c["field"]: c["message"] for c in err.causes}
    return {}


def with_value(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    obj = copy.deepcopy(base)
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    target: Any = obj
    for key in parents:
        target = target[key]
    target[last] = value
    return obj


def test_the_bases_are_valid() -> None:
    assert causes("pods", POD) == {} and causes("deployments", DEPLOY) == {} and causes("nodes", NODE) == {}


@pytest.mark.parametrize(("kind", "base", "path", "value", "message"), [
    ("pods", POD, "spec.terminationGracePeriodSeconds", 1e30, "must be an integer"),
    ("pods", POD, "spec.terminationGracePeriodSeconds", 2**63, "must be a 64-bit integer"),
    ("pods", POD, "spec.activeDeadlineSeconds", 1.5, "must be an integer"),
    ("deployments", DEPLOY, "spec.replicas", 1e20, "must be an integer"),
    ("deployments", DEPLOY, "spec.replicas", 2**31, "must be a 32-bit integer"),
    ("deployments", DEPLOY, "spec.replicas", 3.0, "must be an integer"),
    ("deployments", DEPLOY, "spec.minReadySeconds", -(2**31) - 1, "must be"),
    ("deployments", DEPLOY, "spec.template.spec.containers.0.ports.0.containerPort", 2.5, "must be an integer"),
    # fields no hand-written check covers: found through the API schema
    ("pods", POD, "spec.priority", 2**31, "must be a 32-bit integer"),
    ("pods", POD, "spec.securityContext", {"runAsUser": 2**63}, "must be a 64-bit integer"),
    ("pods", POD, "spec.tolerations", [{"key": "k", "tolerationSeconds": 1e30}], "must be an integer"),
    ("pods", POD, "spec.containers.0.livenessProbe", {"periodSeconds": 2**40}, "must be a 32-bit integer"),
    ("deployments", DEPLOY, "spec.strategy", {"rollingUpdate": {"maxSurge": 2**32}}, "must be a 32-bit integer"),
    ("deployments", DEPLOY, "status", {"replicas": 0.5}, "must be an integer"),
    ("pods", POD, "metadata.generation", 2**64, "must be a 64-bit integer"),
])
def test_integer_fields_refuse_floats_and_out_of_range_values(kind: str, base: dict[str, Any], path: str,
                                                             value: Any, message: str) -> None:
    found = causes(kind, with_value(base, path, value))
    assert found, f"{path}={value!r} was accepted"
    assert any(message in text for text in found.values()), found
    assert len(found) == 1, f"one cause per field, got {found}"


@pytest.mark.parametrize(("path", "value"), [
    ("spec.terminationGracePeriodSeconds", 2**63 - 1),
    ("spec.priority", -(2**31)),
    ("spec.containers.0.resources", {"limits": {"cpu": 0.5, "memory": 2**40}}),  # quantities may be any number
])
def test_integer_fields_accept_their_whole_range(path: str, value: Any) -> None:
    assert causes("pods", with_value(POD, path, value)) == {}


@pytest.mark.parametrize(("path", "value", "field"), [
    ("status.addresses.0.address", "198.51.100.7:10250/x?y=", "status.addresses[0].address"),
    ("status.addresses.0.address", "localhost", "status.addresses[0].address"),
    ("status.addresses.0.address", "fe80::1%eth0", "status.addresses[0].address"),
    ("status.addresses.1.address", "evil.example:80/", "status.addresses[1].address"),
    ("status.addresses.0", {"type": "ExternalIP", "address": "1.2.3"}, "status.addresses[0].address"),
    ("status.daemonEndpoints.kubeletEndpoint.Port", 0, "status.daemonEndpoints.kubeletEndpoint.Port"),
    ("status.daemonEndpoints.kubeletEndpoint.Port", 65536, "status.daemonEndpoints.kubeletEndpoint.Port"),
    ("status.daemonEndpoints.kubeletEndpoint.Port", "10250", "status.daemonEndpoints.kubeletEndpoint.Port"),
    ("spec.podCIDR", "10.244.1.0", "spec.podCIDR"),
])
def test_node_addresses_are_ips_and_the_kubelet_port_a_port(path: str, value: Any, field: str) -> None:
    assert field in causes("nodes", with_value(NODE, path, value))


def test_node_ipv6_address_is_fine() -> None:
    assert causes("nodes", with_value(NODE, "status.addresses.0.address", "2001:db8::7")) == {}


@pytest.mark.parametrize(("kind", "obj", "field"), [
    ("pods", with_value(POD, "spec.containers.0.ports.0.hostPort", 70000), "spec.containers[0].ports[0].hostPort"),
    ("pods", with_value(POD, "spec.containers.0.ports.0.hostIP", "0.0.0.0:1"), "spec.containers[0].ports[0].hostIP"),
    ("pods", with_value(POD, "status", {"podIP": "10.0.0.1/8"}), "status.podIP"),
    ("pods", with_value(POD, "status", {"podIPs": [{"ip": "x"}]}), "status.podIPs[0].ip"),
    ("services", {"metadata": {"name": "s"}, "spec": {"ports": [{"port": 0}]}}, "spec.ports[0].port"),
    ("services", {"metadata": {"name": "s"}, "spec": {"clusterIP": "1.2.3.4:5", "ports": [{"port": 80}]}},
     "spec.clusterIP"),
    ("services", {"metadata": {"name": "s"}, "spec": {"externalIPs": ["a"], "ports": [{"port": 80}]}},
     "spec.externalIPs[0]"),
    ("endpoints", {"metadata": {"name": "e"}, "subsets": [{"addresses": [{"ip": "h:1"}]}]}, "subsets[0].addresses[0].ip"),
])
def test_addresses_and_ports_elsewhere(kind: str, obj: dict[str, Any], field: str) -> None:
    assert field in causes(kind, obj)


def test_unknown_fields_are_dropped_at_every_described_depth() -> None:
    obj = with_value(DEPLOY, "extra", {"x": 1})
    obj["metadata"]["lables"] = {}
    obj["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    # issue 8: probes (and every other nested type) are described now, so their unknown fields go too
    obj["spec"]["template"]["spec"]["containers"][0]["livenessProbe"] = {"anything": 1, "periodSeconds": 5}
    # a free-form field (a volume source the schema leaves open) keeps whatever it holds
    obj["spec"]["template"]["spec"]["volumes"] = [{"name": "v", "gitRepo": {"anything": 1}}]
    dropped = drop_unknown_fields(resolve("deployments"), obj)
    assert sorted(dropped) == ["extra", "metadata.lables", "spec.template.spec.containers[0].imagePullPolicyy",
                               "spec.template.spec.containers[0].livenessProbe.anything"]
    assert "extra" not in obj and "lables" not in obj["metadata"]
    assert "imagePullPolicyy" not in obj["spec"]["template"]["spec"]["containers"][0]
    assert obj["spec"]["template"]["spec"]["containers"][0]["livenessProbe"] == {"periodSeconds": 5}
    assert obj["spec"]["template"]["spec"]["volumes"][0]["gitRepo"] == {"anything": 1}
    node = with_value(NODE, "status.addresses.0.bogus", 1)
    assert drop_unknown_fields(resolve("nodes"), node) == ["status.addresses[0].bogus"]
    assert drop_unknown_fields(resolve("nodes"), copy.deepcopy(NODE)) == []
