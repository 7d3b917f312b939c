"""Secrets: sensitive data, base64 in `data`, written in clear through `stringData`.

As in Kubernetes (`pkg/registry/core/secret/strategy.go`, `ValidateSecret`): `stringData` is merged
into `data` on every write and never stored; keys are config keys; the decoded data may not exceed
1 MiB; `type` (default `Opaque`) is immutable and the well-known types require their keys; an
`immutable` Secret's data and type never change again. Values are never printed: `get` shows how
many keys there are, `describe` how many bytes each holds.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from minik8s.api import schema
from minik8s.api.describe import Lines
from minik8s.api.fields import Causes
from minik8s.api.names import CONFIG_KEY
from minik8s.api.tables import AGE_COLUMN, NAME_COLUMN, age_cell, column, dig, name_cell

from .defaulting import default
from .resource import ResourceType
from .strategy import Strategy

Obj = dict[str, Any]

MAX_SECRET_BYTES = 1024 * 1024  # the decoded size of all values together (Kubernetes' MaxSecretSize)
# The keys each well-known type requires (`ValidateSecret`); any one of the listed keys for basic-auth.
_REQUIRED_KEYS = {
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
}

schema.define(schema.CORE, {
    "Secret": {"data": "map:bytes", "stringData": "map", "type": "str", "immutable": "bool"},
})


class SecretStrategy(Strategy):
    """Secrets (`pkg/registry/core/secret/strategy.go`)."""

    columns = (
        NAME_COLUMN,
        column("Type", "The type of the secret"),
        column("Data", "The number of entries in the secret", type_="integer"),
        AGE_COLUMN,
    )
    selectable_fields = {"type": ("type",)}

    def default(self, obj: Obj, now: str) -> None:
        default(obj, "type", "Opaque")

    def prepare_create(self, obj: Obj) -> None:
        _merge_string_data(obj)

    def prepare_update(self, new: Obj, old: Obj) -> None:
        _merge_string_data(new)

    def validate(self, c: Causes, obj: Obj, old: Obj | None) -> None:
        data = c.object("data", obj.get("data")) or {}
        size = 0
        for key, value in data.items():
            for problem in CONFIG_KEY.problems(key):
                c.invalid(f"data[{key}]", key, problem)
            size += len(_decoded(value))
        if size > MAX_SECRET_BYTES:
            c.too_long("data", MAX_SECRET_BYTES)
        kind = c.string("type", obj.get("type"), required=True)
        for key in _REQUIRED_KEYS.get(kind or "", ()):
            if key not in data:
                c.required(f"data[{key}]")
        if kind == "kubernetes.io/basic-auth" and not {"username", "password"} & set(data):
            c.required("data[username]", "either username or password is required")
        if kind == "kubernetes.io/dockerconfigjson" and ".dockerconfigjson" in data:
            try:
                json.loads(_decoded(data[".dockerconfigjson"]))
            except ValueError as exc:
                c.invalid("data[.dockerconfigjson]", "<secret contents redacted>", str(exc))
        if kind == "kubernetes.io/service-account-token" and not dig(
                obj, "metadata", "annotations", "kubernetes.io/service-account.name"):
            c.required("metadata.annotations[kubernetes.io/service-account.name]")
        if isinstance(old, dict):
            _validate_update(c, obj, old)

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return [name_cell(obj), obj.get("type", ""), len(obj.get("data") or {}), age_cell(obj, now)]

    def describe(self, out: Lines, obj: Obj) -> None:
        out.add(0, "")
        out.add(0, "Type:", obj.get("type", ""))
        out.add(0, "")
        out.add(0, "Data")
        out.add(0, "====")
        for key, value in sorted((obj.get("data") or {}).items()):
            out.add(0, f"{key}:", f"{len(_decoded(value))} bytes")


RESOURCE = ResourceType("", "v1", "secrets", "Secret", True, strategy=SecretStrategy())


def _merge_string_data(obj: Obj) -> None:
    """`stringData` is write-only: its values overwrite `data`'s, base64-encoded, and it is dropped."""
    string_data = obj.pop("stringData", None)
    if not isinstance(string_data, dict) or not string_data:
        return
    data = obj.get("data") if isinstance(obj.get("data"), dict) else {}
    for key, value in string_data.items():
        if isinstance(value, str):
            data[key] = base64.b64encode(value.encode()).decode()
    obj["data"] = data


def _decoded(value: Any) -> bytes:
    """The bytes a base64 value holds (the typed pass has checked it; b"" for anything else)."""
    try:
        return base64.b64decode(value, validate=True) if isinstance(value, str) else b""
    except (binascii.Error, ValueError):
        return b""


def _validate_update(c: Causes, obj: Obj, old: Obj) -> None:
    if obj.get("type") != old.get("type"):
        c.immutable("type", obj.get("type"))
    if old.get("immutable") is True:
        if obj.get("immutable") is not True:
            c.forbidden("immutable", "field is immutable when `immutable` is set")
        if obj.get("data") != old.get("data"):
            c.forbidden("data", "field is immutable when `immutable` is set")
