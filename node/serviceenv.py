"""Service environment variables, as the kubelet injects them into every container (pure).

Kubernetes' `pkg/kubelet/envvars/envvars.go` and the kubelet's `getServiceEnvVarMap`: the Services
of the pod's namespace (only when `enableServiceLinks` is not false) and the `kubernetes` Service of
`default` (always), those with a cluster IP (not headless, not ExternalName), each giving

    <SVC>_SERVICE_HOST=<clusterIP>          <SVC>_SERVICE_PORT=<first port>
    <SVC>_SERVICE_PORT_<NAME>=<port>        (each named port)
    <SVC>_PORT=<proto>://<clusterIP>:<first port>
    <SVC>_PORT_<port>_<PROTO>=<proto>://<clusterIP>:<port>
    <SVC>_PORT_<port>_<PROTO>_PROTO=<proto>, ..._PORT=<port>, ..._ADDR=<clusterIP>

where `<SVC>` is the Service's name upper-cased with `-` as `_`. The container's own `env` and
`envFrom` win over these, and its `$(VAR)` references may name them (`envvars.resolve_env`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

Obj = dict[str, Any]

MASTER_SERVICES = ("kubernetes",)  # in `default`: every pod sees them


def _variable_name(text: str) -> str:
    """`makeEnvVariableName`: upper case, `-` as `_`."""
    return text.replace("-", "_").upper()


def _cluster_ip(service: Obj) -> str | None:
    """The Service's cluster IP when it has one (`IsServiceIPSet`) and it is an address."""
    ip = (service.get("spec") or {}).get("clusterIP")
    if not isinstance(ip, str) or ip in ("", "None"):
        return None
    try:
        return str(ipaddress.ip_address(ip))
    except ValueError:
        return None


def _host_port(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def variables_of(service: Obj) -> dict[str, str]:
    """One Service's variables (`FromServices` for one Service); {} without a cluster IP or ports."""
    ip = _cluster_ip(service)
    ports = [p for p in (service.get("spec") or {}).get("ports") or []
             if isinstance(p, dict) and isinstance(p.get("port"), int) and not isinstance(p.get("port"), bool)]
    name = (service.get("metadata") or {}).get("name")
    if ip is None or not ports or not isinstance(name, str) or not name:
        return {}
    prefix = _variable_name(name)
    out = {f"{prefix}_SERVICE_HOST": ip, f"{prefix}_SERVICE_PORT": str(ports[0]["port"])}
    for port in ports:
        if isinstance(port.get("name"), str) and port["name"]:
            out[f"{prefix}_SERVICE_PORT_{_variable_name(port['name'])}"] = str(port["port"])
    for i, port in enumerate(ports):
        protocol = port.get("protocol") if isinstance(port.get("protocol"), str) and port.get("protocol") else "TCP"
        url = f"{protocol.lower()}://{_host_port(ip, port['port'])}"
        if i == 0:
            out[f"{prefix}_PORT"] = url
        port_prefix = f"{prefix}_PORT_{port['port']}_{protocol.upper()}"
        out[port_prefix] = url
        out[f"{port_prefix}_PROTO"] = protocol.lower()
        out[f"{port_prefix}_PORT"] = str(port["port"])
        out[f"{port_prefix}_ADDR"] = ip
    return out


def service_env(services: Iterable[Obj], namespace: str, *, enable_service_links: bool = True) -> dict[str, str]:
    """The Service variables of a pod in `namespace` (`getServiceEnvVarMap` + `FromServices`)."""
    chosen: dict[str, Obj] = {}
    for service in services:
        meta = service.get("metadata") or {}
        name, svc_namespace = meta.get("name"), meta.get("namespace")
        if _cluster_ip(service) is None or not isinstance(name, str):
            continue
        if svc_namespace == "default" and name in MASTER_SERVICES:
            chosen.setdefault(name, service)
        elif svc_namespace == namespace and enable_service_links:
            chosen[name] = service
    env: dict[str, str] = {}
    for name in sorted(chosen):
        env.update(variables_of(chosen[name]))
    return env


@runtime_checkable
class ServiceSource(Protocol):
    """Where the kubelet's Services come from (its informer cache)."""

    def services(self) -> list[Obj] | None:
        """Every Service; None while the cache has not been filled once."""
        ...
