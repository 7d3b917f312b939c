"""Validation of API objects before they reach the store.

The store accepts any JSON, while controllers, the scheduler and nodes trust what they read; so
every write passes `validate` first. It walks the object, collects *every* problem as a
Kubernetes field error (path, reason, message) and raises one 422 `InvalidError` listing them,
worded the way kubectl users know. Any JSON is acceptable input: a wrong type anywhere becomes a
cause, never a Python exception.

Call it on the prepared object (after `minik8s.api.objects` applied defaults), with `old` on
updates, so immutable fields are compared like for like.

Before that, every body a write carries passes `conform` (the registry calls it on creates,
updates and the result of every patch; the API server on apply configurations, `Scale`, `Binding`
and `DeleteOptions` bodies): the type of every field the one field schema describes
(`minik8s.api.server.openapi`) is checked there, null for a field means absent, as when
kube-apiserver decodes a body into its Go types. Defaulting, strategic merge, server-side apply,
tables and the registry read objects only after it, so they may trust those types.
"""

from __future__ import annotations

import copy
import datetime
import functools
import ipaddress
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import Any

from minik8s.api.errors import BadRequestError, invalid
from minik8s.api.kinds import ResourceType
from minik8s.api.selectors import (
    DNS_SUBDOMAIN, EXPRESSION_OPERATORS, LABEL_VALUE, LabelSelector, NameRule, label_key_problems,
    label_selector_from_dict,
)

Cause = tuple[str, str, str]  # (field path, reason type, message)

PROTOCOLS = ("TCP", "UDP", "SCTP")
RESTART_POLICIES = ("Always", "OnFailure", "Never")
DNS_POLICIES = ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")
SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
PATH_TYPES = ("Exact", "Prefix", "ImplementationSpecific")

DNS_LABEL = NameRule(re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"), 63, (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
    "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"))
DNS1035_LABEL = NameRule(re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?"), 63, (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
    "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"))
PORT_NAME = NameRule(re.compile(r"(?=.*[a-z])(?!.*--)[a-z0-9]([-a-z0-9]*[a-z0-9])?"), 15, (
    "must contain only alpha-numeric characters (a-z, 0-9) and hyphens (-), at least one letter (a-z), no "
    "consecutive hyphens, and must not begin or end with a hyphen"))
CONFIG_KEY = NameRule(re.compile(r"[-._a-zA-Z0-9]+"), 253, (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or "
    "'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"))
HOST_NAME = NameRule(re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"), 253, (
    "a host name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character"))
_NAME_RULES = {"Namespace": DNS_LABEL, "Service": DNS1035_LABEL}

_POD_UPDATE_MESSAGE = (
    "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,"
    "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations)")
_PERCENT_MESSAGE = (
    "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex "
    "used for validation is '[0-9]+%')")

_QUANTITY = re.compile(
    r"(?P<number>[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+))"
    r"(?:[eE](?P<exponent>[+-]?[0-9]+)|(?P<suffix>[KMGTPE]i|[numkMGTPE]))?")
_QUANTITY_MESSAGE = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
_SUFFIXES: dict[str, float] = {
    "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50, "Ei": 2.0**60,
}


def parse_quantity(text: str | int | float) -> float:
    """A Kubernetes quantity as a number: cpu in cores ("500m" → 0.5), memory in bytes ("64Mi").

    Raises ValueError when `text` is not a finite quantity.
    """
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise ValueError(_QUANTITY_MESSAGE)
    try:
        value = _parse_quantity_text(text) if isinstance(text, str) else float(text)
    except OverflowError:
        raise ValueError(_QUANTITY_MESSAGE) from None
    if not math.isfinite(value):
        raise ValueError(_QUANTITY_MESSAGE)
    return value


def _parse_quantity_text(text: str) -> float:
    match = _QUANTITY.fullmatch(text)
    if match is None:
        raise ValueError(_QUANTITY_MESSAGE)
    number = float(match["number"])
    if match["exponent"] is not None:
        return number * 10.0 ** int(match["exponent"])
    return number * _SUFFIXES.get(match["suffix"] or "", 1.0)


# --- collecting causes ---------------------------------------------------------------------------

def _show(value: Any) -> str:
    """A value as the messages show it: JSON (`"Foo_bar"`, `-1`, `{"a": "b"}`)."""
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError, RecursionError):
        return repr(value)


class _Causes:
    """Collects field errors; each method records one cause in Kubernetes' wording."""

    def __init__(self) -> None:
        self.items: list[Cause] = []

    def required(self, path: str, detail: str = "") -> None:
        self._add(path, "FieldValueRequired", "Required value", detail)

    def invalid(self, path: str, value: Any, detail: str) -> None:
        self._add(path, "FieldValueInvalid", f"Invalid value: {_show(value)}", detail)

    def not_supported(self, path: str, value: Any, supported: Iterable[str]) -> None:
        listed = ", ".join(f'"{s}"' for s in sorted(supported))
        self._add(path, "FieldValueNotSupported", f"Unsupported value: {_show(value)}", f"supported values: {listed}")

    def too_long(self, path: str, limit: int) -> None:
        self._add(path, "FieldValueTooLong", "Too long", f"must have at most {limit} bytes")

    def forbidden(self, path: str, detail: str) -> None:
        self._add(path, "FieldValueForbidden", "Forbidden", detail)

    def duplicate(self, path: str, value: Any) -> None:
        self._add(path, "FieldValueDuplicate", f"Duplicate value: {_show(value)}")

    def not_found(self, path: str, value: Any) -> None:
        self._add(path, "FieldValueNotFound", f"Not found: {_show(value)}")

    def _add(self, path: str, reason: str, summary: str, detail: str = "") -> None:
        self.items.append((path, reason, f"{summary}: {detail}" if detail else summary))


# --- typed readers: report a wrong type, return None (or nothing to iterate) ---------------------

def _get(obj: Any, *keys: str) -> Any:
    """The value at `keys` inside nested dicts, None where the path breaks."""
    for key in keys:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def _typed(c: _Causes, path: str, value: Any, kind: type, noun: str, *, required: bool = False) -> Any:
    """`value` when it is a `kind`; None, reported, when it is not or is missing (or empty) but required."""
    if value is None or (required and value in ("", [])):
        if required:
            c.required(path)
        return None
    if isinstance(value, bool) != (kind is bool) or not isinstance(value, kind):
        c.invalid(path, value, f"must be {noun}")
        return None
    return value


def _dict(c: _Causes, path: str, value: Any, *, required: bool = False) -> dict[str, Any] | None:
    return _typed(c, path, value, dict, "an object", required=required)


def _list(c: _Causes, path: str, value: Any, *, required: bool = False) -> list[Any]:
    return _typed(c, path, value, list, "a list", required=required) or []


def _str(c: _Causes, path: str, value: Any, *, required: bool = False) -> str | None:
    return _typed(c, path, value, str, "a string", required=required)


def _bool(c: _Causes, path: str, value: Any) -> None:
    _typed(c, path, value, bool, "a boolean")


def _int(c: _Causes, path: str, value: Any, *, minimum: int | None = None, maximum: int | None = None,
         required: bool = False) -> int | None:
    """An integer (None when missing or not one), reported when outside [minimum, maximum]."""
    number = _typed(c, path, value, int, "an integer", required=required)
    if number is not None and minimum is not None and maximum is not None and not minimum <= number <= maximum:
        c.invalid(path, number, f"must be between {minimum} and {maximum}, inclusive")
    elif number is not None and minimum is not None and number < minimum:
        c.invalid(path, number, f"must be greater than or equal to {minimum}")
    return number


def _items(c: _Causes, path: str, value: Any, *, required: bool = False) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, item) for each object in a list, reporting the items that are not objects."""
    for i, item in enumerate(_list(c, path, value, required=required)):
        if (checked := _dict(c, f"{path}[{i}]", item, required=True)) is not None:
            yield f"{path}[{i}]", checked


def _str_list(c: _Causes, path: str, value: Any) -> list[str]:
    return [s for i, item in enumerate(_list(c, path, value)) if (s := _str(c, f"{path}[{i}]", item)) is not None]


def _str_map(c: _Causes, path: str, value: Any) -> dict[str, str]:
    mapping = _dict(c, path, value) or {}
    return {key: s for key, item in mapping.items() if (s := _str(c, f"{path}[{key}]", item)) is not None}


def _choice(c: _Causes, path: str, value: Any, allowed: Iterable[str], *, required: bool = False) -> str | None:
    text = _str(c, path, value, required=required)
    if text is not None and text not in allowed:
        c.not_supported(path, text, allowed)
        return None
    return text


def _name(c: _Causes, path: str, value: Any, rule: NameRule, *, required: bool = False,
          seen: set[str] | None = None) -> str | None:
    """A string following `rule` (and not in `seen`, when given, which it joins)."""
    name = _str(c, path, value, required=required)
    for problem in rule.problems(name) if name else ():
        c.invalid(path, name, problem)
    if name and seen is not None:
        if name in seen:
            c.duplicate(path, name)
        seen.add(name)
    return name


# --- metadata ------------------------------------------------------------------------------------

def _metadata(c: _Causes, rt: ResourceType, obj: dict[str, Any]) -> None:
    meta = _dict(c, "metadata", obj.get("metadata"), required=True)
    if meta is None:
        return
    rule = _NAME_RULES.get(rt.kind, DNS_SUBDOMAIN)
    _name(c, "metadata.name", meta.get("name"), rule)
    if not meta.get("name") and not meta.get("generateName"):
        c.required("metadata.name", "name or generateName is required")
    generate = _str(c, "metadata.generateName", meta.get("generateName"))
    if generate:  # a random suffix will follow: check it as Kubernetes' maskTrailingDash does
        _name(c, "metadata.generateName", generate[:-1] + "a" if len(generate) > 1 and generate[-1] == "-"
              else generate, rule)
    _name(c, "metadata.namespace", meta.get("namespace"), DNS_LABEL)
    _labels(c, "metadata.labels", meta.get("labels"))
    annotations = _str_map(c, "metadata.annotations", meta.get("annotations"))
    for key in annotations:
        for problem in label_key_problems(key.lower()):
            c.invalid("metadata.annotations", key, problem)
    if sum(len(k) + len(v) for k, v in annotations.items()) > 256 * 1024:
        c.too_long("metadata.annotations", 256 * 1024)
    for key in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp"):
        _str(c, f"metadata.{key}", meta.get(key))
    _int(c, "metadata.generation", meta.get("generation"), minimum=0)
    for p, ref in _items(c, "metadata.ownerReferences", meta.get("ownerReferences")):
        for key in ("apiVersion", "kind", "name", "uid"):
            _str(c, f"{p}.{key}", ref.get(key), required=True)
        _bool(c, f"{p}.controller", ref.get("controller"))


def _labels(c: _Causes, path: str, value: Any) -> None:
    for key, text in _str_map(c, path, value).items():
        for problem in label_key_problems(key):
            c.invalid(path, key, problem)
        for problem in LABEL_VALUE.problems(text):
            c.invalid(path, text, problem)


# --- pods ----------------------------------------------------------------------------------------

def _pod(c: _Causes, spec: dict[str, Any], old_spec: Any) -> None:
    _pod_spec(c, "spec", spec, RESTART_POLICIES)
    if isinstance(old_spec, dict) and _masked_pod_spec(spec, old_spec) != old_spec:
        c.forbidden("spec", _POD_UPDATE_MESSAGE)


def _pod_status(c: _Causes, obj: dict[str, Any]) -> None:
    status = _dict(c, "status", obj.get("status")) or {}
    for field in ("podIP", "hostIP"):
        _ip(c, f"status.{field}", status.get(field))
    for field in ("podIPs", "hostIPs"):
        for p, item in _items(c, f"status.{field}", status.get(field)):
            _ip(c, f"{p}.ip", item.get("ip"), required=True)


def _masked_pod_spec(new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    """`new` with the fields a pod update may change set back to their `old` values."""
    masked = dict(new)
    for field in ("containers", "initContainers"):
        new_list, old_list = new.get(field), old.get(field)
        if isinstance(new_list, list) and isinstance(old_list, list) and len(new_list) == len(old_list):
            masked[field] = [_with_key(n, o, "image") for n, o in zip(new_list, old_list)]
    masked = _with_key(masked, old, "activeDeadlineSeconds")
    added, before = new.get("tolerations"), old.get("tolerations") or []
    if isinstance(added, list) and isinstance(before, list) and all(t in added for t in before):
        masked = _with_key(masked, old, "tolerations")
    return masked


def _with_key(target: Any, source: Any, key: str) -> Any:
    """A copy of the `target` dict whose `key` is as in `source` (absent when absent there)."""
    if not isinstance(target, dict) or not isinstance(source, dict):
        return target
    result = {k: v for k, v in target.items() if k != key}
    if key in source:
        result[key] = source[key]
    return result


def _pod_spec(c: _Causes, path: str, spec: dict[str, Any], restart_policies: Iterable[str]) -> None:
    volumes: set[str] = set()
    for p, volume in _items(c, f"{path}.volumes", spec.get("volumes")):
        _name(c, f"{p}.name", volume.get("name"), DNS_LABEL, required=True, seen=volumes)
    names: set[str] = set()
    for p, container in _items(c, f"{path}.containers", spec.get("containers"), required=True):
        _container(c, p, container, volumes, names)
    for p, container in _items(c, f"{path}.initContainers", spec.get("initContainers")):
        _container(c, p, container, volumes, names)
    _choice(c, f"{path}.restartPolicy", spec.get("restartPolicy"), restart_policies)
    _choice(c, f"{path}.dnsPolicy", spec.get("dnsPolicy"), DNS_POLICIES)
    _str_map(c, f"{path}.nodeSelector", spec.get("nodeSelector"))
    _int(c, f"{path}.terminationGracePeriodSeconds", spec.get("terminationGracePeriodSeconds"), minimum=0)
    _int(c, f"{path}.activeDeadlineSeconds", spec.get("activeDeadlineSeconds"), minimum=1)
    _name(c, f"{path}.nodeName", spec.get("nodeName"), DNS_SUBDOMAIN)
    _str(c, f"{path}.schedulerName", spec.get("schedulerName"))
    for p, toleration in _items(c, f"{path}.tolerations", spec.get("tolerations")):
        _choice(c, f"{p}.operator", toleration.get("operator"), ("Equal", "Exists"))
        _choice(c, f"{p}.effect", toleration.get("effect"), ("NoSchedule", "PreferNoSchedule", "NoExecute"))


def _container(c: _Causes, path: str, container: dict[str, Any], volumes: set[str], names: set[str]) -> None:
    _name(c, f"{path}.name", container.get("name"), DNS_LABEL, required=True, seen=names)
    _str(c, f"{path}.image", container.get("image"), required=True)
    _choice(c, f"{path}.imagePullPolicy", container.get("imagePullPolicy"), ("Always", "IfNotPresent", "Never"))
    _str_list(c, f"{path}.command", container.get("command"))
    _str_list(c, f"{path}.args", container.get("args"))
    for p, port in _items(c, f"{path}.ports", container.get("ports")):
        _int(c, f"{p}.containerPort", port.get("containerPort"), minimum=1, maximum=65535, required=True)
        _int(c, f"{p}.hostPort", port.get("hostPort"), minimum=1, maximum=65535)
        _choice(c, f"{p}.protocol", port.get("protocol"), PROTOCOLS)
        _name(c, f"{p}.name", port.get("name"), PORT_NAME)
        _ip(c, f"{p}.hostIP", port.get("hostIP"))
    for p, env in _items(c, f"{path}.env", container.get("env")):
        _str(c, f"{p}.name", env.get("name"), required=True)
        _str(c, f"{p}.value", env.get("value"))
        _dict(c, f"{p}.valueFrom", env.get("valueFrom"))
    _resources(c, f"{path}.resources", container.get("resources"))
    for p, mount in _items(c, f"{path}.volumeMounts", container.get("volumeMounts")):
        volume = _str(c, f"{p}.name", mount.get("name"), required=True)
        if volume and volume not in volumes:
            c.not_found(f"{p}.name", volume)
        _str(c, f"{p}.mountPath", mount.get("mountPath"), required=True)
        _bool(c, f"{p}.readOnly", mount.get("readOnly"))


def _resources(c: _Causes, path: str, value: Any) -> None:
    resources = _dict(c, path, value) or {}
    limits = _quantities(c, f"{path}.limits", resources.get("limits"))
    requests = _quantities(c, f"{path}.requests", resources.get("requests"))
    for name, (raw, request) in requests.items():
        if name in limits and request > limits[name][1]:
            limit = limits[name][0]
            c.invalid(f"{path}.requests[{name}]", raw, f"must be less than or equal to {name} limit of {limit}")


def _quantities(c: _Causes, path: str, value: Any) -> dict[str, tuple[Any, float]]:
    """The valid quantities of a resource list, as name → (as written, parsed)."""
    parsed: dict[str, tuple[Any, float]] = {}
    for name, raw in (_dict(c, path, value) or {}).items():
        try:
            quantity = parse_quantity(raw)
        except ValueError as err:
            c.invalid(f"{path}[{name}]", raw, str(err))
            continue
        if quantity < 0:
            c.invalid(f"{path}[{name}]", raw, "must be greater than or equal to 0")
        parsed[name] = (raw, quantity)
    return parsed


# --- workloads -----------------------------------------------------------------------------------

def _deployment(c: _Causes, spec: dict[str, Any], old_spec: Any) -> None:
    _workload(c, spec, old_spec, kind="deployment")
    strategy = _dict(c, "spec.strategy", spec.get("strategy")) or {}
    kind = _choice(c, "spec.strategy.type", strategy.get("type"), ("Recreate", "RollingUpdate"))
    rolling = _dict(c, "spec.strategy.rollingUpdate", strategy.get("rollingUpdate"))
    if rolling is not None and kind == "Recreate":
        c.forbidden("spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'")
    elif rolling is not None:
        surge = _int_or_percent(c, "spec.strategy.rollingUpdate.maxSurge", rolling.get("maxSurge"))
        unavailable = _int_or_percent(c, "spec.strategy.rollingUpdate.maxUnavailable", rolling.get("maxUnavailable"))
        if surge == 0 and unavailable == 0:
            c.invalid("spec.strategy.rollingUpdate.maxUnavailable", rolling.get("maxUnavailable"),
                      "may not be 0 when `maxSurge` is 0")
    _int(c, "spec.revisionHistoryLimit", spec.get("revisionHistoryLimit"), minimum=0)
    _int(c, "spec.progressDeadlineSeconds", spec.get("progressDeadlineSeconds"), minimum=1)
    _bool(c, "spec.paused", spec.get("paused"))


def _int_or_percent(c: _Causes, path: str, value: Any) -> int | None:
    """An int ≥ 0 or a percent string like "25%": its number, None when missing or bad."""
    if not isinstance(value, str):
        return _int(c, path, value, minimum=0)
    if re.fullmatch(r"[0-9]+%", value):
        return int(value[:-1])
    c.invalid(path, value, _PERCENT_MESSAGE)
    return None


def _workload(c: _Causes, spec: dict[str, Any], old_spec: Any, *, kind: str) -> None:
    """Checks shared by ReplicaSet and Deployment."""
    _int(c, "spec.replicas", spec.get("replicas"), minimum=0)
    _int(c, "spec.minReadySeconds", spec.get("minReadySeconds"), minimum=0)
    selector = _selector(c, "spec.selector", spec.get("selector"), kind)
    if isinstance(old_spec, dict) and old_spec.get("selector") != spec.get("selector"):
        c.invalid("spec.selector", spec.get("selector"), "field is immutable")
    template = _dict(c, "spec.template", spec.get("template"), required=True)
    if template is None:
        return
    _dict(c, "spec.template.metadata", template.get("metadata"))
    labels = _get(template, "metadata", "labels")
    _labels(c, "spec.template.metadata.labels", labels)
    if selector is not None and not selector.matches(labels if isinstance(labels, dict) else {}):
        c.invalid("spec.template.metadata.labels", labels, "`selector` does not match template `labels`")
    if (template_spec := _dict(c, "spec.template.spec", template.get("spec"), required=True)) is not None:
        _pod_spec(c, "spec.template.spec", template_spec, ("Always",))


def _selector(c: _Causes, path: str, value: Any, kind: str) -> LabelSelector | None:
    """Report a bad selector object; the parsed selector when it is valid and not empty."""
    selector = _dict(c, path, value, required=True)
    if selector is None:
        return None
    reported = len(c.items)
    _labels(c, f"{path}.matchLabels", selector.get("matchLabels"))
    for p, expression in _items(c, f"{path}.matchExpressions", selector.get("matchExpressions")):
        key = _str(c, f"{p}.key", expression.get("key"), required=True)
        for problem in label_key_problems(key) if key else ():
            c.invalid(f"{p}.key", key, problem)
        operator = _choice(c, f"{p}.operator", expression.get("operator"), EXPRESSION_OPERATORS, required=True)
        values = _str_list(c, f"{p}.values", expression.get("values"))
        if operator in ("In", "NotIn") and not values:
            c.required(f"{p}.values", "must be specified when `operator` is 'In' or 'NotIn'")
        if operator in ("Exists", "DoesNotExist") and values:
            c.forbidden(f"{p}.values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'")
    try:
        parsed = label_selector_from_dict(selector)
    except BadRequestError as err:
        if len(c.items) == reported:  # whatever the checks above missed
            c.invalid(path, selector, err.message)
        return None
    if not parsed.requirements:
        c.invalid(path, selector, f"empty selector is invalid for {kind}")
        return None
    return parsed


# --- services and networking ---------------------------------------------------------------------

def _service(c: _Causes, spec: dict[str, Any], old_spec: Any) -> None:
    kind = _choice(c, "spec.type", spec.get("type", "ClusterIP"), SERVICE_TYPES)
    cluster_ip = _str(c, "spec.clusterIP", spec.get("clusterIP"))
    if cluster_ip != "None":
        _ip(c, "spec.clusterIP", cluster_ip)
    for i, ip in enumerate(_str_list(c, "spec.clusterIPs", spec.get("clusterIPs"))):
        if ip != "None":
            _ip(c, f"spec.clusterIPs[{i}]", ip)
    for i, ip in enumerate(_str_list(c, "spec.externalIPs", spec.get("externalIPs"))):
        _ip(c, f"spec.externalIPs[{i}]", ip, required=True)
    ports = spec.get("ports")
    several = isinstance(ports, list) and len(ports) > 1
    names: set[str] = set()
    headless = kind == "ExternalName" or cluster_ip == "None"
    for p, port in _items(c, "spec.ports", ports, required=not headless):
        _name(c, f"{p}.name", port.get("name"), DNS_LABEL, required=several, seen=names)
        _int(c, f"{p}.port", port.get("port"), minimum=1, maximum=65535, required=True)
        _choice(c, f"{p}.protocol", port.get("protocol"), PROTOCOLS)
        target = port.get("targetPort")
        if isinstance(target, str):
            _name(c, f"{p}.targetPort", target, PORT_NAME)
        else:
            _int(c, f"{p}.targetPort", target, minimum=1, maximum=65535)
        node_port = _int(c, f"{p}.nodePort", port.get("nodePort"), minimum=30000, maximum=32767)
        if node_port is not None and kind in ("ClusterIP", "ExternalName"):
            c.forbidden(f"{p}.nodePort", f"may not be used when `type` is '{kind}'")
    _labels(c, "spec.selector", spec.get("selector"))
    _choice(c, "spec.sessionAffinity", spec.get("sessionAffinity"), ("ClientIP", "None"))
    _str(c, "spec.externalName", spec.get("externalName"), required=kind == "ExternalName")


def _ingress(c: _Causes, spec: dict[str, Any], old_spec: Any) -> None:
    _str(c, "spec.ingressClassName", spec.get("ingressClassName"))
    if spec.get("defaultBackend") is not None:
        _ingress_backend(c, "spec.defaultBackend", spec.get("defaultBackend"))
    for p, rule in _items(c, "spec.rules", spec.get("rules")):
        _str(c, f"{p}.host", rule.get("host"))
        if (http := _dict(c, f"{p}.http", rule.get("http"))) is None:
            continue
        for q, item in _items(c, f"{p}.http.paths", http.get("paths"), required=True):
            path_type = _choice(c, f"{q}.pathType", item.get("pathType"), PATH_TYPES, required=True)
            path = _str(c, f"{q}.path", item.get("path"))
            if path is not None and path_type in ("Exact", "Prefix") and not path.startswith("/"):
                c.invalid(f"{q}.path", path, "must be an absolute path")
            _ingress_backend(c, f"{q}.backend", item.get("backend"))


def _ingress_backend(c: _Causes, path: str, value: Any) -> None:
    backend = _dict(c, path, value, required=True)
    service = _dict(c, f"{path}.service", backend.get("service"), required=True) if backend is not None else None
    if service is None:
        return
    _name(c, f"{path}.service.name", service.get("name"), DNS1035_LABEL, required=True)
    port = _dict(c, f"{path}.service.port", service.get("port"), required=True)
    if port is None:
        return
    number, name = port.get("number"), port.get("name")
    if number is None and not name:
        c.required(f"{path}.service.port", "port name or number is required")
    elif number is not None and name:
        c.invalid(f"{path}.service.port.name", name, "cannot set both port name & port number")
    else:
        _int(c, f"{path}.service.port.number", number, minimum=1, maximum=65535)
        _name(c, f"{path}.service.port.name", name, PORT_NAME)


def _hpa(c: _Causes, spec: dict[str, Any], old_spec: Any) -> None:
    target = _dict(c, "spec.scaleTargetRef", spec.get("scaleTargetRef"), required=True)
    if target is not None:
        _str(c, "spec.scaleTargetRef.kind", target.get("kind"), required=True)
        _str(c, "spec.scaleTargetRef.name", target.get("name"), required=True)
    maximum = _int(c, "spec.maxReplicas", spec.get("maxReplicas"), minimum=1, required=True)
    minimum = _int(c, "spec.minReplicas", spec.get("minReplicas"), minimum=1)
    if minimum is not None and maximum is not None and minimum > maximum:
        c.invalid("spec.minReplicas", minimum, "must be less than or equal to maxReplicas")
    _list(c, "spec.metrics", spec.get("metrics"))


# --- kinds without a required spec ---------------------------------------------------------------

def _endpoints(c: _Causes, obj: dict[str, Any]) -> None:
    for p, subset in _items(c, "subsets", obj.get("subsets")):
        for field in ("addresses", "notReadyAddresses"):
            for q, address in _items(c, f"{p}.{field}", subset.get(field)):
                _ip(c, f"{q}.ip", address.get("ip"), required=True)
        for q, port in _items(c, f"{p}.ports", subset.get("ports")):
            _int(c, f"{q}.port", port.get("port"), minimum=1, maximum=65535, required=True)


def _configmap(c: _Causes, obj: dict[str, Any]) -> None:
    for field in ("data", "binaryData"):
        for key in _str_map(c, field, obj.get(field)):
            for problem in CONFIG_KEY.problems(key):
                c.invalid(f"{field}[{key}]", key, problem)


def _event(c: _Causes, obj: dict[str, Any]) -> None:
    _dict(c, "involvedObject", obj.get("involvedObject"), required=True)
    _int(c, "count", obj.get("count"), minimum=0)


def _lease(c: _Causes, obj: dict[str, Any]) -> None:
    spec = _dict(c, "spec", obj.get("spec")) or {}
    _str(c, "spec.holderIdentity", spec.get("holderIdentity"))
    _int(c, "spec.leaseDurationSeconds", spec.get("leaseDurationSeconds"), minimum=1)


def _node(c: _Causes, obj: dict[str, Any]) -> None:
    """What others dial: addresses are IPs (or host names) and the kubelet port is a port."""
    spec = _dict(c, "spec", obj.get("spec")) or {}
    _cidr(c, "spec.podCIDR", spec.get("podCIDR"))
    for i, cidr in enumerate(_str_list(c, "spec.podCIDRs", spec.get("podCIDRs"))):
        _cidr(c, f"spec.podCIDRs[{i}]", cidr)
    status = _dict(c, "status", obj.get("status")) or {}
    for p, address in _items(c, "status.addresses", status.get("addresses")):
        kind = _str(c, f"{p}.type", address.get("type"), required=True)
        if kind in ("InternalIP", "ExternalIP"):
            _ip(c, f"{p}.address", address.get("address"), required=True)
        elif kind in ("Hostname", "InternalDNS", "ExternalDNS"):
            _name(c, f"{p}.address", address.get("address"), HOST_NAME, required=True)
        else:
            _str(c, f"{p}.address", address.get("address"), required=True)
    endpoints = _dict(c, "status.daemonEndpoints", status.get("daemonEndpoints")) or {}
    kubelet = _dict(c, "status.daemonEndpoints.kubeletEndpoint", endpoints.get("kubeletEndpoint")) or {}
    _int(c, "status.daemonEndpoints.kubeletEndpoint.Port", kubelet.get("Port"), minimum=1, maximum=65535)


# --- addresses -----------------------------------------------------------------------------------

def _ip(c: _Causes, path: str, value: Any, *, required: bool = False) -> None:
    """An IPv4 or IPv6 address (no zone, no port) when set; the empty string counts as unset."""
    text = _str(c, path, value, required=required)
    if not text:
        return
    try:
        ipaddress.ip_address(text if "%" not in text else "%")
    except ValueError:
        c.invalid(path, text, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")


def _cidr(c: _Causes, path: str, value: Any) -> None:
    """A network in CIDR notation (`10.244.1.0/24`) when set."""
    text = _str(c, path, value)
    if not text:
        return
    try:
        ipaddress.ip_network(text if "%" not in text and "/" in text else "%", strict=False)
    except ValueError:
        c.invalid(path, text, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)")


# --- types: every field the API schema describes --------------------------------------------------

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
# The integer fields Kubernetes declares int64 (by name, wherever they occur); all others are int32.
_INT64_FIELDS = frozenset({
    "generation", "observedGeneration", "deletionGracePeriodSeconds", "remainingItemCount",
    "terminationGracePeriodSeconds", "activeDeadlineSeconds", "runAsUser", "runAsGroup", "fsGroup",
    "supplementalGroups", "tolerationSeconds", "gracePeriodSeconds", "expirationSeconds", "sizeBytes", "seconds",
})
_RFC3339 = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]+)?"
                      r"(?:[Zz]|[+-]([0-9]{2}):([0-9]{2}))")
_TIME_MESSAGE = "must be a timestamp in RFC 3339 format (e.g. 2006-01-02T15:04:05Z)"
_NOUNS = {"str": "a string", "time": "a string", "int": "an integer", "intstr": "an integer or a string",
          "bool": "a boolean", "num": "a number", "quantity": "a quantity (a string such as \"500m\" or a number)"}


@functools.cache
def _schema() -> tuple[dict[str, dict[str, dict[str, str]]], Callable[[str, str], str]]:
    """The field types of the served kinds (`minik8s.api.server.openapi`, imported late: it imports us)."""
    from minik8s.api.server import openapi
    return openapi._TYPES, openapi.package_of


def _struct(name: str, package: str) -> tuple[dict[str, str], str] | None:
    """The fields of schema `name` used in `package` and the package it is in (as openapi resolves it)."""
    types, _ = _schema()
    for candidate in (package, "io.k8s.api.core.v1", "io.k8s.apimachinery.pkg.apis.meta.v1"):
        if name in types.get(candidate, {}):
            return types[candidate][name], candidate
    return None


def _kind_fields(group: str, version: str, kind: str) -> tuple[dict[str, str], str]:
    """The top-level fields of `kind` (as its OpenAPI schema lists them) and its schema package."""
    types, package_of = _schema()
    package = package_of(group, version)
    described = _struct(kind, package)
    fields = described[0] if described is not None else {"spec": "obj", "status": "obj"}
    return {"apiVersion": "str", "kind": "str", "metadata": "ObjectMeta", **fields}, package


def _is_rfc3339(text: str) -> bool:
    """`text` is a timestamp Go's `time.Parse(time.RFC3339, ...)` accepts (metav1.Time, MicroTime)."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        return False
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    offset_hours, offset_minutes = (int(part or 0) for part in match.groups()[6:])
    if hour > 23 or minute > 59 or second > 59 or offset_hours > 23 or offset_minutes > 59:
        return False
    try:
        datetime.date(year, month, day)
    except ValueError:
        return False
    return True


class _Typing:
    """One walk of a value against the field schema (`minik8s.api.server.openapi`): every described
    field must hold its type (integers in their int32/int64 range, times in RFC 3339), as decoding
    into the Kubernetes Go types requires. With `drop_nulls`, a described field set to null is
    removed in place: decoding leaves a null field at its zero value, which is not written back.
    Paths in `reported` (already reported by a hand-written check) are skipped with what is below."""

    def __init__(self, c: _Causes, reported: set[str], *, drop_nulls: bool) -> None:
        self.c = c
        self.reported = reported
        self.drop_nulls = drop_nulls

    def fields(self, value: dict[str, Any], fields: dict[str, str], package: str, path: str) -> None:
        for name, expr in fields.items():
            if name not in value:
                continue
            if value[name] is None:
                if self.drop_nulls:
                    del value[name]
                continue
            self.value(value[name], expr, name, package, f"{path}.{name}" if path else name)

    def value(self, value: Any, expr: str, name: str, package: str, path: str) -> None:
        if path in self.reported:
            return
        c = self.c
        if expr in _NOUNS:
            self._atom(value, expr, name, path)
        elif expr.startswith("["):
            if not isinstance(value, list):
                c.invalid(path, value, "must be a list")
                return
            item = expr[1:-1].split("/")[0]
            for index, child in enumerate(value):
                self.value(child, item, name, package, f"{path}[{index}]")
        elif not isinstance(value, dict):
            c.invalid(path, value, "must be an object")
        elif expr in ("map", "map:quantity"):
            for key, child in value.items():
                self.value(child, "str" if expr == "map" else "quantity", key, package, f"{path}[{key}]")
        elif expr != "obj" and (struct := _struct(expr, package)) is not None:
            self.fields(value, struct[0], struct[1], path)

    def _atom(self, value: Any, expr: str, name: str, path: str) -> None:
        if expr == "intstr" and isinstance(value, str):
            return
        if expr in ("int", "intstr") and isinstance(value, int) and not isinstance(value, bool):
            low, high = INT64 if name in _INT64_FIELDS else INT32
            if not low <= value <= high:
                self.c.invalid(path, value, f"must be a {64 if high == INT64[1] else 32}-bit integer (between {low} "
                               f"and {high}, inclusive)")
            return
        fits = {"str": isinstance(value, str), "time": isinstance(value, str), "bool": isinstance(value, bool),
                "num": isinstance(value, (int, float)) and not isinstance(value, bool),
                "quantity": isinstance(value, (str, int, float)) and not isinstance(value, bool)}.get(expr, False)
        if not fits:
            self.c.invalid(path, value, f"must be {_NOUNS[expr]}")
        elif expr == "time" and not _is_rfc3339(value):
            self.c.invalid(path, value, _TIME_MESSAGE)


def _types(c: _Causes, rt: ResourceType, obj: dict[str, Any]) -> None:
    """Report every described field holding the wrong type (1.5 or 1e30 for an integer, a list for
    an object) or an integer outside int32/int64, as the Kubernetes types would refuse to decode it;
    paths already reported are skipped."""
    fields, package = _kind_fields(rt.group, rt.version, rt.kind)
    _Typing(c, {path for path, _, _ in c.items}, drop_nulls=False).fields(obj, fields, package, "")


def conform(rt: ResourceType, obj: Any) -> dict[str, Any]:
    """`obj` shaped as its kind's types, as kube-apiserver decodes a body into its Go structs; the
    first step of every write, before defaulting, strategic merge, apply, validation or the registry
    read the object, so each of them may trust the type of every described field.

    A described field set to null is absent (dropped from the copy returned); a field of the wrong
    type raises one InvalidError (422) naming every such field. Undescribed fields are left as they
    are (unknown ones are `minik8s.api.strictfields`' business).
    """
    return conform_kind(rt.group, rt.version, rt.kind, obj)


def conform_kind(group: str, version: str, kind: str, obj: Any, *, options: bool = False) -> dict[str, Any]:
    """`conform` for any kind the schema describes, subresource bodies too (`Scale`, `Binding`).
    With `options` (`DeleteOptions`: request options, not an object to store) a wrong type is a 400
    BadRequestError, as kube-apiserver answers a body it cannot decode."""
    c = _Causes()
    out = copy.deepcopy(obj) if isinstance(obj, dict) else None
    if out is None:
        c.invalid("<root>", obj, "must be an object")
    else:
        fields, package = _kind_fields(group, version, kind)
        _Typing(c, set(), drop_nulls=True).fields(out, fields, package, "")
    if c.items and options:
        raise BadRequestError(f"{kind} cannot be decoded: " + "; ".join(f"{path}: {message}"
                                                                         for path, _, message in c.items[:20]))
    if c.items or out is None:
        name = _get(out, "metadata", "name")
        raise invalid(kind, name if isinstance(name, str) else None, c.items)
    return out


_SPEC_CHECKS: dict[str, Callable[[_Causes, dict[str, Any], Any], None]] = {
    "Pod": _pod, "ReplicaSet": partial(_workload, kind="replicaset"), "Deployment": _deployment, "Service": _service,
    "Ingress": _ingress, "HorizontalPodAutoscaler": _hpa,
}
_OBJECT_CHECKS: dict[str, Callable[[_Causes, dict[str, Any]], None]] = {
    "Endpoints": _endpoints, "ConfigMap": _configmap, "Event": _event, "Lease": _lease, "Node": _node,
    "Pod": _pod_status,
}


def validate(rt: ResourceType, obj: dict[str, Any], *, old: dict[str, Any] | None = None) -> None:
    """Raise one InvalidError (422) listing every problem of `obj`; `old` is the stored object on updates."""
    c = _Causes()
    if not isinstance(obj, dict):
        c.invalid("<root>", obj, "must be an object")
    else:
        _metadata(c, rt, obj)
        if rt.kind in _SPEC_CHECKS and (spec := _dict(c, "spec", obj.get("spec"), required=True)) is not None:
            _SPEC_CHECKS[rt.kind](c, spec, _get(old, "spec"))
        if rt.kind in _OBJECT_CHECKS:
            _OBJECT_CHECKS[rt.kind](c, obj)
        _types(c, rt, obj)
    if c.items:
        name = _get(obj, "metadata", "name")
        raise invalid(rt.kind, name if isinstance(name, str) else None, c.items)
