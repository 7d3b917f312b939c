"""The Ingress status controller's decisions: which Ingresses are ours and which addresses they get."""

from __future__ import annotations

from typing import Any

import pytest

from minik8s.api.kinds.ingressclass import class_of
from minik8s.controllers.ingress_status import builtin_ingress_classes, node_addresses, wanted_status

Obj = dict[str, Any]


def node(name: str, ip: str, ready: str = "True") -> Obj:
    return {"metadata": {"name": name}, "status": {
        "conditions": [{"type": "Ready", "status": ready}],
        "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}]}}


def test_node_addresses_are_ready_internal_ips_in_numeric_order() -> None:
    """Ready nodes' InternalIPs, sorted as numbers, without repeats; NotReady and malformed nodes skipped."""
    nodes = [node("c", "10.200.0.12"), node("a", "10.200.0.9"), node("b", "10.200.0.10", ready="False"),
             node("d", "10.200.0.9"), {"metadata": {"name": "x"}, "status": "junk"}, {"status": {"addresses": 5}},
             {"status": {"conditions": 7}}]
    assert node_addresses(nodes) == ["10.200.0.9", "10.200.0.12"]


@pytest.mark.parametrize(("spec", "annotations", "ours"), [
    pytest.param({"ingressClassName": "nginx"}, {}, True, id="nginx"),
    pytest.param({"ingressClassName": "nginx-example"}, {}, True, id="docs-class"),
    pytest.param({}, {}, True, id="no-class-gets-the-default"),
    pytest.param({"ingressClassName": "other"}, {}, False, id="another-class"),
    pytest.param({}, {"kubernetes.io/ingress.class": "other"}, False, id="annotation-other"),
])
def test_wanted_status_only_for_our_ingresses(spec: Obj, annotations: Obj, ours: bool) -> None:
    """With the built-in classes (and another controller's), our Ingresses get the node addresses and
    the others None (left alone)."""
    classes = [*builtin_ingress_classes(), {"metadata": {"name": "other"}, "spec": {"controller": "example.com/x"}}]
    ingress = {"metadata": {"name": "i", "namespace": "default", "annotations": annotations}, "spec": spec}
    wanted = wanted_status(ingress, classes, [node("a", "10.0.0.2"), node("b", "10.0.0.1")])
    assert wanted == ([{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}] if ours else None)


def test_builtin_classes_have_one_default() -> None:
    """`nginx` is the only default among the built-in classes, so class-less Ingresses resolve to it."""
    classes = builtin_ingress_classes()
    assert [c["metadata"]["name"] for c in classes] == ["nginx", "nginx-example"]
    chosen = class_of({"metadata": {"name": "i"}, "spec": {}}, classes)
    assert chosen is not None and chosen["metadata"]["name"] == "nginx"
