"""Unit tests of unknown-field detection for fieldValidation=Strict."""

from __future__ import annotations

import pytest

from minik8s.api.kinds import resolve
from minik8s.api.strictfields import unknown_fields


@pytest.mark.parametrize(("kind", "obj", "expected"), [
    pytest.param("pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                          "spec": {"containers": [{"name": "c", "image": "i", "imagePullPolicyy": "Always"}]}},
                 ["spec.containers[0].imagePullPolicyy"], id="typo-in-container"),
    pytest.param("deployments", {"metadata": {"name": "d", "lables": {}}, "spec": {"replicas": 1, "template": {
        "spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80, "prot": "TCP"}]}]}}}},
                 ["metadata.lables", "spec.template.spec.containers[0].ports[0].prot"], id="nested-typos"),
    # issue 8: every nested type is described now (probes, affinity), so their typos are found too
    pytest.param("pods", {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i",
                  "livenessProbe": {"anything": {"goes": 1}}}], "affinity": {"x": 1}}},
                 ["spec.containers[0].livenessProbe.anything", "spec.affinity.x"], id="nested-described"),
    pytest.param("pods", {"metadata": {"name": "p", "labels": {"any": "x"}}, "spec": {"containers": [
        {"name": "c", "image": "i"}], "volumes": [{"name": "v", "cephfs": {"anything": {"goes": 1}}}]}}, [],
                 id="free-form-ok"),
    pytest.param("configmaps", {"metadata": {"name": "c"}, "data": {"a": "b"}, "extra": 1}, ["extra"], id="top"),
    pytest.param("services", {"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80, "targetport": 8080}]}},
                 ["spec.ports[0].targetport"], id="service-port"),
])
def test_strictfields_reports_unknown_paths(kind: str, obj: dict, expected: list[str]) -> None:
    """Unknown fields are reported with Kubernetes-style paths; undescribed structures are accepted."""
    assert unknown_fields(resolve(kind), obj) == expected
