"""Unit tests of the Service environment variables the kubelet injects (`pkg/kubelet/envvars`)."""

from __future__ import annotations

from typing import Any

import pytest

from minik8s.node.downward import PodRuntimeInfo
from minik8s.node.envvars import ConfigError, resolve_env
from minik8s.node.serviceenv import service_env, variables_of


def svc(name: str, namespace: str, ip: str, *ports: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace},
            "spec": {"clusterIP": ip, "ports": list(ports) or [{"port": 80, "protocol": "TCP"}]}}


KUBERNETES = svc("kubernetes", "default", "10.96.0.1", {"name": "https", "port": 443, "protocol": "TCP"})


def test_variables_like_the_kubelet() -> None:
    redis = svc("redis-primary", "app", "10.0.0.11", {"port": 6379, "protocol": "TCP"},
                {"name": "metrics", "port": 9121, "protocol": "UDP"})
    assert variables_of(redis) == {
        "REDIS_PRIMARY_SERVICE_HOST": "10.0.0.11",
        "REDIS_PRIMARY_SERVICE_PORT": "6379",
        "REDIS_PRIMARY_SERVICE_PORT_METRICS": "9121",
        "REDIS_PRIMARY_PORT": "tcp://10.0.0.11:6379",
        "REDIS_PRIMARY_PORT_6379_TCP": "tcp://10.0.0.11:6379",
        "REDIS_PRIMARY_PORT_6379_TCP_PROTO": "tcp",
        "REDIS_PRIMARY_PORT_6379_TCP_PORT": "6379",
        "REDIS_PRIMARY_PORT_6379_TCP_ADDR": "10.0.0.11",
        "REDIS_PRIMARY_PORT_9121_UDP": "udp://10.0.0.11:9121",
        "REDIS_PRIMARY_PORT_9121_UDP_PROTO": "udp",
        "REDIS_PRIMARY_PORT_9121_UDP_PORT": "9121",
        "REDIS_PRIMARY_PORT_9121_UDP_ADDR": "10.0.0.11",
    }
    assert variables_of(KUBERNETES)["KUBERNETES_SERVICE_PORT_HTTPS"] == "443"


def test_which_services_a_pod_sees() -> None:
    services = [KUBERNETES, svc("web", "app", "10.96.1.1"), svc("other", "elsewhere", "10.96.1.2"),
                svc("headless", "app", "None"), {"metadata": {"name": "ext", "namespace": "app"},
                                                 "spec": {"type": "ExternalName", "externalName": "x.example"}}]
    env = service_env(services, "app")
    assert env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1" and env["KUBERNETES_SERVICE_PORT"] == "443"
    assert env["WEB_SERVICE_HOST"] == "10.96.1.1"
    assert not any(k.startswith(("OTHER_", "HEADLESS_", "EXT_")) for k in env)
    only_master = service_env(services, "app", enable_service_links=False)
    assert {k.split("_")[0] for k in only_master} == {"KUBERNETES"}


class Source:
    def __init__(self, services: list[dict[str, Any]] | None) -> None:
        self._services = services

    def config_map(self, namespace: str, name: str) -> None:
        return None

    def secret(self, namespace: str, name: str) -> None:
        return None

    def services(self) -> list[dict[str, Any]] | None:
        return self._services


def _pod(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": "app", "uid": "u"}, "spec": spec}


def test_user_env_wins_and_may_reference_service_variables() -> None:
    container = {"name": "c", "env": [{"name": "WEB_SERVICE_HOST", "value": "mine"},
                                      {"name": "URL", "value": "http://$(KUBERNETES_SERVICE_HOST):443"}]}
    env = resolve_env(_pod(), container, Source([KUBERNETES, svc("web", "app", "10.96.1.1")]),
                      PodRuntimeInfo()).env
    assert env["WEB_SERVICE_HOST"] == "mine" and env["URL"] == "http://10.96.0.1:443"
    assert env["WEB_SERVICE_PORT"] == "80"
    assert list(env)[:2] == ["WEB_SERVICE_HOST", "URL"]  # the container's own first
    no_links = resolve_env(_pod(enableServiceLinks=False), {"name": "c"},
                           Source([KUBERNETES, svc("web", "app", "10.96.1.1")]), PodRuntimeInfo()).env
    assert "WEB_SERVICE_HOST" not in no_links and no_links["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"


def test_unsynced_services_wait() -> None:
    with pytest.raises(ConfigError, match="services have not yet been read"):
        resolve_env(_pod(), {"name": "c"}, Source(None), PodRuntimeInfo())
