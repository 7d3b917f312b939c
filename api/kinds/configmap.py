"""ConfigMaps: configuration data, keys checked like Kubernetes."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from minik8s.api import schema
from minik8s.api.describe import Lines
from minik8s.api.fields import Causes
from minik8s.api.names import CONFIG_KEY
from minik8s.api.tables import AGE_COLUMN, NAME_COLUMN, age_cell, column, name_cell

from .resource import ResourceType
from .strategy import Strategy

Obj = dict[str, Any]

schema.define(schema.CORE, {
    "ConfigMap": {"immutable": "bool", "data": "map", "binaryData": "map:bytes"},
})


class ConfigMapStrategy(Strategy):
    """ConfigMaps (`pkg/registry/core/configmap/strategy.go`)."""

    columns = (NAME_COLUMN, column("Data", "Data contains the configuration data."), AGE_COLUMN)

    def validate(self, c: Causes, obj: Obj, old: Obj | None) -> None:
        for field in ("data", "binaryData"):
            for key in c.string_map(field, obj.get(field)):
                for problem in CONFIG_KEY.problems(key):
                    c.invalid(f"{field}[{key}]", key, problem)

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        data = len(obj.get("data") or {}) + len(obj.get("binaryData") or {})
        return [name_cell(obj), data, age_cell(obj, now)]

    def describe(self, out: Lines, obj: Obj) -> None:
        out.add(0, "")
        out.add(0, "Data")
        out.add(0, "====")
        for key, value in sorted((obj.get("data") or {}).items()):
            out.add(0, f"{key}:")
            out.add(0, "----")
            out.lines.extend(str(value).rstrip("\n").split("\n"))
            out.add(0, "")
        out.add(0, "")
        out.add(0, "BinaryData")
        out.add(0, "====")
        for key, value in sorted((obj.get("binaryData") or {}).items()):
            out.add(0, f"{key}: {len(base64.b64decode(value))} bytes")
        out.add(0, "")


RESOURCE = ResourceType("", "v1", "configmaps", "ConfigMap", True, ("cm",), strategy=ConfigMapStrategy())
