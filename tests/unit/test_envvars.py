"""A container's environment: envFrom, env, valueFrom and `$(VAR)` as the kubelet resolves them."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from minik8s.node.downward import PodRuntimeInfo, field_value, format_map, resource_value
from minik8s.node.envvars import ConfigError, resolve_env

Obj = dict[str, Any]
INFO = PodRuntimeInfo(pod_ip="10.244.1.7", host_ip="10.200.0.10", allocatable={"cpu": "4", "memory": "8Gi"})


class Source:
    """ConfigMaps and Secrets in memory, counting lookups."""

    def __init__(self, config_maps: dict[str, Obj] | None = None, secrets: dict[str, Obj] | None = None) -> None:
        self.config_maps = config_maps or {}
        self.secrets = secrets or {}
        self.lookups = 0

    def config_map(self, namespace: str, name: str) -> Obj | None:
        self.lookups += 1
        return self.config_maps.get(f"{namespace}/{name}")

    def secret(self, namespace: str, name: str) -> Obj | None:
        self.lookups += 1
        return self.secrets.get(f"{namespace}/{name}")


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _pod(container: Obj, **meta: Any) -> Obj:
    return {"metadata": {"name": "web", "namespace": "shop", "uid": "u-1", "labels": {"app": "web", "tier": "fe"},
                         "annotations": {"note": "a \"quoted\" value"}, **meta},
            "spec": {"nodeName": "node-0", "serviceAccountName": "default", "containers": [container]}}


SOURCE = Source(config_maps={"shop/cfg": {"data": {"LEVEL": "debug", "bad-key!": "x", "1ST": "y", "COLOR": "red"}}},
                secrets={"shop/creds": {"data": {"USER": _b64("admin"), "PASSWORD": _b64("s3cr3t")}}})


def test_resolve_env_dependent_variables_example() -> None:
    """Kubernetes' "define interdependent environment variables" example gives its documented values."""
    container = {"name": "c", "env": [
        {"name": "SERVICE_PORT", "value": "80"}, {"name": "SERVICE_IP", "value": "172.17.0.1"},
        {"name": "UNCHANGED_REFERENCE", "value": "$(PROTOCOL)://$(SERVICE_IP):$(SERVICE_PORT)"},
        {"name": "PROTOCOL", "value": "https"},
        {"name": "SERVICE_ADDRESS", "value": "$(PROTOCOL)://$(SERVICE_IP):$(SERVICE_PORT)"},
        {"name": "ESCAPED_REFERENCE", "value": "$$(PROTOCOL)://$(SERVICE_IP):$(SERVICE_PORT)"}]}
    env = resolve_env(_pod(container), container, Source(), INFO).env
    assert env["UNCHANGED_REFERENCE"] == "$(PROTOCOL)://172.17.0.1:80"
    assert env["SERVICE_ADDRESS"] == "https://172.17.0.1:80"
    assert env["ESCAPED_REFERENCE"] == "$(PROTOCOL)://172.17.0.1:80"


def test_resolve_env_from_sources_with_prefix_and_override() -> None:
    """envFrom first (prefixed, invalid names skipped with one warning each), env overrides and can refer."""
    container = {"name": "c",
                 "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"}, {"secretRef": {"name": "creds"}},
                             {"configMapRef": {"name": "cfg"}}],
                 "env": [{"name": "COLOR", "value": "blue"}, {"name": "WHO", "value": "$(USER)@$(CFG_LEVEL)"}]}
    result = resolve_env(_pod(container), container, SOURCE, INFO)
    assert result.env["CFG_LEVEL"] == "debug" and result.env["CFG_1ST"] == "y"  # valid once prefixed
    assert result.env["USER"] == "admin" and result.env["PASSWORD"] == "s3cr3t"
    assert result.env["COLOR"] == "blue" and result.env["WHO"] == "admin@debug"
    assert "bad-key!" not in result.env and "1ST" not in result.env
    assert result.warnings == [
        "Keys [CFG_bad-key!] from the EnvFrom configMap shop/cfg were skipped since they are considered invalid "
        "environment variable names.",
        "Keys [1ST, bad-key!] from the EnvFrom configMap shop/cfg were skipped since they are considered invalid "
        "environment variable names."]


def test_resolve_env_value_from_every_source() -> None:
    """configMapKeyRef, secretKeyRef, fieldRef and resourceFieldRef (with divisor) give the kubelet's values."""
    container = {"name": "c", "resources": {"limits": {"memory": "64Mi"}, "requests": {"cpu": "250m"}}, "env": [
        {"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "LEVEL"}}},
        {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "PASSWORD"}}},
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}},
        {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
        {"name": "NOTE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['note']"}}},
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
        {"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "POD_IPS", "valueFrom": {"fieldRef": {"fieldPath": "status.podIPs"}}},
        {"name": "MEM_MI", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
        {"name": "CPU_M", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1m"}}},
        {"name": "CPU_LIMIT", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
        {"name": "CPU_CORES", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu"}}}]}
    env = resolve_env(_pod(container), container, SOURCE, INFO).env
    assert env == {"LEVEL": "debug", "PW": "s3cr3t", "POD": "web", "NS": "shop", "UID": "u-1", "APP": "web",
                   "NOTE": 'a "quoted" value', "NODE": "node-0", "SA": "default", "HOST_IP": "10.200.0.10",
                   "POD_IP": "10.244.1.7", "POD_IPS": "10.244.1.7", "MEM_MI": "64", "CPU_M": "250",
                   "CPU_LIMIT": "4", "CPU_CORES": "1"}  # no cpu limit: the node's; 250m rounds up to 1 core


@pytest.mark.parametrize(("ref", "message"), [
    pytest.param({"configMapKeyRef": {"name": "nope", "key": "k"}}, 'configmap "nope" not found', id="configmap"),
    pytest.param({"secretKeyRef": {"name": "nope", "key": "k"}}, 'secret "nope" not found', id="secret"),
    pytest.param({"configMapKeyRef": {"name": "cfg", "key": "MISSING"}},
                 "couldn't find key MISSING in ConfigMap shop/cfg", id="configmap-key"),
    pytest.param({"secretKeyRef": {"name": "creds", "key": "MISSING"}},
                 "couldn't find key MISSING in Secret shop/creds", id="secret-key"),
    pytest.param({"fieldRef": {"fieldPath": "spec.containers"}}, 'field label not supported: "spec.containers"',
                 id="field"),
])
def test_resolve_env_missing_sources_say_what_is_missing(ref: Obj, message: str) -> None:
    """A missing ConfigMap, Secret or key fails with Kubernetes' message (names only, never values)."""
    container = {"name": "c", "env": [{"name": "X", "valueFrom": ref}]}
    with pytest.raises(ConfigError) as raised:
        resolve_env(_pod(container), container, SOURCE, INFO)
    assert str(raised.value) == message
    assert "s3cr3t" not in str(raised.value) and "admin" not in str(raised.value)


def test_resolve_env_optional_sources_are_left_out() -> None:
    """Optional references to missing objects or keys leave the variable (or the whole source) out."""
    container = {"name": "c", "envFrom": [{"secretRef": {"name": "nope", "optional": True}}], "env": [
        {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k", "optional": True}}},
        {"name": "B", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "MISSING", "optional": True}}},
        {"name": "C", "value": "$(A)-$(B)"}, {"name": "D"}]}
    source = Source(secrets=SOURCE.secrets)
    assert resolve_env(_pod(container), container, source, INFO).env == {"C": "$(A)-$(B)", "D": ""}


def test_resolve_env_looks_each_source_up_once() -> None:
    """One lookup per object per resolution, however many keys come from it."""
    source = Source(config_maps=SOURCE.config_maps)
    container = {"name": "c", "envFrom": [{"configMapRef": {"name": "cfg"}}], "env": [
        {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "LEVEL"}}},
        {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "COLOR"}}}]}
    resolve_env(_pod(container), container, source, INFO)
    assert source.lookups == 1


def test_downward_maps_and_resources() -> None:
    """Labels as sorted key="value" lines; memory and cpu divided and rounded up."""
    pod = _pod({"name": "c"})
    assert format_map({"tier": "fe", "app": "web"}) == 'app="web"\ntier="fe"'
    assert field_value(pod, "metadata.labels", INFO, whole_maps=True) == 'app="web"\ntier="fe"'
    assert field_value(pod, "metadata.annotations", INFO, whole_maps=True) == 'note="a \\"quoted\\" value"'
    assert field_value(pod, "metadata.labels['missing']", INFO) == ""
    container = {"resources": {"limits": {"cpu": "700m", "memory": "100M"}}}
    assert resource_value(container, "limits.cpu", "1m", INFO) == "700"
    assert resource_value(container, "limits.cpu", None, INFO) == "1"
    assert resource_value(container, "limits.memory", "1Mi", INFO) == "96"  # 100e6 / 2**20 = 95.4
    assert resource_value({}, "limits.memory", "1Gi", INFO) == "8"  # the node's allocatable
    assert resource_value({}, "requests.memory", None, INFO) == "0"
