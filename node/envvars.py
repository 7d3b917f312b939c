"""A container's environment from its `envFrom` and `env`, resolved as the kubelet does (pure).

Kubernetes' `makeEnvironmentVariables`: `envFrom` sources first (ConfigMaps and Secrets, each key
with the source's `prefix`; keys that are not valid variable names are skipped and reported in
one warning per source), then `env` in order, which overrides them: a `value` has its `$(VAR)`
references expanded with the variables defined so far; a `valueFrom` takes a ConfigMap or
Secret key, a pod field or a container resource. A missing ConfigMap, Secret or key fails the
whole resolution with Kubernetes' message (`configmap "x" not found`, `couldn't find key k in
ConfigMap ns/x`) unless the reference is `optional`, so the container waits with
`CreateContainerConfigError` until it appears. Messages name objects and keys, never values.

Last come the Service variables (`serviceenv`), which `$(VAR)` references may name but which never
override the container's own. ConfigMaps, Secrets and Services come from a `ConfigSource` (the
kubelet's informer caches), so this module never talks to the API.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from .downward import DownwardError, PodRuntimeInfo, field_value, resource_value
from .expansion import expand, mapping_for
from .serviceenv import ServiceSource, service_env

__all__ = ["ConfigError", "ConfigSource", "EnvResult", "decode_secret", "is_env_var_name", "resolve_env"]

Obj = dict[str, Any]
_ENV_VAR_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")


class ConfigError(Exception):
    """The container cannot be configured yet (missing ConfigMap, Secret or key, bad field): the message says why."""


class ConfigSource(Protocol):
    """Where ConfigMaps and Secrets are looked up (None: there is no such object)."""

    def config_map(self, namespace: str, name: str) -> Obj | None: ...

    def secret(self, namespace: str, name: str) -> Obj | None: ...


@dataclass
class EnvResult:
    """The resolved environment, in declaration order, and warnings to record as events."""

    env: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def is_env_var_name(name: str) -> bool:
    """Kubernetes' `IsEnvVarName`: letters, digits, `-`, `.`, `_`, not starting with a digit."""
    return _ENV_VAR_NAME.fullmatch(name) is not None


def decode_secret(secret: Obj) -> dict[str, str]:
    """A Secret's `data` decoded (bytes that are not UTF-8 survive as surrogate escapes)."""
    out: dict[str, str] = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            out[key] = base64.b64decode(value or "", validate=True).decode("utf-8", "surrogateescape")
        except (binascii.Error, ValueError, TypeError):
            continue  # the API server validates data; a broken value is left out, never logged
    return out


class _Lookups:
    """ConfigMaps and Secrets of one pod's namespace, each fetched once per resolution."""

    def __init__(self, source: ConfigSource, namespace: str) -> None:
        self._source = source
        self._namespace = namespace
        self._config_maps: dict[str, dict[str, str] | None] = {}
        self._secrets: dict[str, dict[str, str] | None] = {}

    def config_map(self, name: str, *, optional: bool) -> dict[str, str] | None:
        if name not in self._config_maps:
            found = self._source.config_map(self._namespace, name)
            self._config_maps[name] = None if found is None else {k: str(v) for k, v in
                                                                   (found.get("data") or {}).items()}
        data = self._config_maps[name]
        if data is None and not optional:
            raise ConfigError(f'configmap "{name}" not found')
        return data

    def secret(self, name: str, *, optional: bool) -> dict[str, str] | None:
        if name not in self._secrets:
            found = self._source.secret(self._namespace, name)
            self._secrets[name] = None if found is None else decode_secret(found)
        data = self._secrets[name]
        if data is None and not optional:
            raise ConfigError(f'secret "{name}" not found')
        return data


def resolve_env(pod: Obj, container: Obj, source: ConfigSource, info: PodRuntimeInfo) -> EnvResult:
    """The environment of `container` (see the module docstring); raises ConfigError when it cannot be built."""
    namespace = (pod.get("metadata") or {}).get("namespace") or "default"
    services = source.services() if isinstance(source, ServiceSource) else []
    if services is None:
        raise ConfigError("services have not yet been read at least once, cannot construct envvars")
    links = (pod.get("spec") or {}).get("enableServiceLinks") is not False
    from_services = service_env(services, namespace, enable_service_links=links)
    lookups = _Lookups(source, namespace)
    result = EnvResult()
    env = result.env
    for env_from in container.get("envFrom") or []:
        prefix = env_from.get("prefix") or ""
        if (ref := env_from.get("configMapRef")) is not None:
            kind, data = "configMap", lookups.config_map(ref.get("name", ""), optional=bool(ref.get("optional")))
        elif (ref := env_from.get("secretRef")) is not None:
            kind, data = "secret", lookups.secret(ref.get("name", ""), optional=bool(ref.get("optional")))
        else:
            continue
        if data is None:
            continue
        invalid = []
        for key, value in data.items():
            if not is_env_var_name(prefix + key):
                invalid.append(prefix + key)
                continue
            env[prefix + key] = value
        if invalid:
            result.warnings.append(f"Keys [{', '.join(sorted(invalid))}] from the EnvFrom {kind} "
                                   f"{namespace}/{ref.get('name', '')} were skipped since they are considered "
                                   f"invalid environment variable names.")
    mapping = mapping_for(env, from_services)  # sees every variable as soon as it is defined
    for item in container.get("env") or []:
        name = item.get("name", "")
        value = item.get("value")
        if value:
            env[name] = expand(value, mapping)
            continue
        source_ref = item.get("valueFrom")
        if not source_ref:
            env[name] = ""
            continue
        resolved = _value_from(pod, container, source_ref, lookups, info)
        if resolved is not None:
            env[name] = resolved
    for name, value in from_services.items():  # the container's own variables win
        env.setdefault(name, value)
    return result


def _value_from(pod: Obj, container: Obj, ref: Obj, lookups: _Lookups, info: PodRuntimeInfo) -> str | None:
    """One `valueFrom` (None: an optional source that is missing, so the variable is left out)."""
    namespace = (pod.get("metadata") or {}).get("namespace") or "default"
    try:
        if (field_ref := ref.get("fieldRef")) is not None:
            return field_value(pod, field_ref.get("fieldPath", ""), info)
        if (resource_ref := ref.get("resourceFieldRef")) is not None:
            target = container
            if resource_ref.get("containerName"):
                target = _container_named(pod, resource_ref["containerName"])
            return resource_value(target, resource_ref.get("resource", ""), resource_ref.get("divisor"), info)
    except DownwardError as exc:
        raise ConfigError(str(exc)) from None
    for kind, key_ref, fetch in (("ConfigMap", ref.get("configMapKeyRef"), lookups.config_map),
                                 ("Secret", ref.get("secretKeyRef"), lookups.secret)):
        if key_ref is None:
            continue
        optional = bool(key_ref.get("optional"))
        name, key = key_ref.get("name", ""), key_ref.get("key", "")
        data = fetch(name, optional=optional)
        if data is None:
            return None
        if key not in data:
            if optional:
                return None
            raise ConfigError(f"couldn't find key {key} in {kind} {namespace}/{name}")
        return data[key]
    return ""


def _container_named(pod: Obj, name: str) -> Obj:
    spec = pod.get("spec") or {}
    for container in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        if container.get("name") == name:
            return container
    raise ConfigError(f"container {name!r} not found in the pod (resourceFieldRef.containerName)")
