"""`metadata.managedFields` for server-side apply: which fields each apply manager set.

Each manager's last apply is recorded as a Kubernetes `FieldsV1` set (`{"f:spec": {"f:replicas":
{}}}`; list items by merge key `k:{"name":"web"}`, merged primitive lists by value `v:"x"`). On
the next apply by the same manager, fields in that set that the new configuration no longer sets
are removed. Ownership conflicts between managers are not detected (every apply forces).

An apply that changes nothing but its manager's entry `time` is not written at all
(`unchanged_apply`), as in Kubernetes: the object keeps its resourceVersion, so re-applying the
same manifest, from `minik8s apply` or `kubectl apply --server-side`, is a no-op.
"""

from __future__ import annotations

import json
from typing import Any

Schema = dict[str, str]  # field path (no list indexes) -> merge key ("" for a merged primitive list)
LEAF = True  # marks an owned scalar, or a map/list owned as a whole, in a skeleton


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def to_fieldset(config: dict[str, Any], schema: Schema, path: str = "") -> dict[str, Any]:
    """The FieldsV1 set of the fields `config` sets."""
    out: dict[str, Any] = {}
    for name, value in config.items():
        sub = _join(path, name)
        if isinstance(value, dict) and value:
            out[f"f:{name}"] = to_fieldset(value, schema, sub)
        elif isinstance(value, list) and sub in schema:
            key = schema[sub]
            items: dict[str, Any] = {}
            for element in value:
                if key == "":
                    items[f"v:{json.dumps(element, sort_keys=True)}"] = {}
                elif isinstance(element, dict) and key in element:
                    items[f"k:{json.dumps({key: element[key]})}"] = to_fieldset(element, schema, sub)
            out[f"f:{name}"] = items
        else:
            out[f"f:{name}"] = {}
    return out


def to_skeleton(fieldset: dict[str, Any], schema: Schema, path: str = "") -> dict[str, Any]:
    """A configuration-shaped view of a FieldsV1 set: owned leaves are `LEAF`, keyed items dicts."""
    out: dict[str, Any] = {}
    for entry, sub_set in fieldset.items():
        if not entry.startswith("f:"):
            continue
        name = entry[2:]
        sub = _join(path, name)
        if sub in schema and isinstance(sub_set, dict) and sub_set:
            out[name] = _list_skeleton(sub_set, schema, sub)
        elif isinstance(sub_set, dict) and sub_set:
            out[name] = to_skeleton(sub_set, schema, sub)
        else:
            out[name] = LEAF
    return out


def _list_skeleton(items: dict[str, Any], schema: Schema, path: str) -> list[Any]:
    """The items a FieldsV1 list set names; entries that do not parse are skipped (clients can write
    `managedFields` with a patch, and kube-apiserver ignores managed fields it cannot decode)."""
    elements: list[Any] = []
    for entry, sub_set in items.items():
        if entry.startswith("v:") and (value := _json(entry[2:])) is not _BAD:
            elements.append(value)
        elif entry.startswith("k:") and isinstance(element := _json(entry[2:]), dict):
            below = to_skeleton(sub_set, schema, path) if isinstance(sub_set, dict) else {}
            element.update({k: v for k, v in below.items() if k not in element})
            elements.append(element)
    return elements


_BAD = object()


def _json(text: str) -> Any:
    """The JSON value of `text`, `_BAD` when it is not JSON."""
    try:
        return json.loads(text)
    except ValueError:
        return _BAD


def applied_by(metadata: dict[str, Any], manager: str, schema: Schema) -> dict[str, Any]:
    """What `manager` set with its last apply, as a skeleton (empty when it never applied)."""
    for entry in metadata.get("managedFields") or []:
        if isinstance(entry, dict) and entry.get("manager") == manager and entry.get("operation") == "Apply":
            fields = entry.get("fieldsV1")
            return to_skeleton(fields, schema) if isinstance(fields, dict) else {}
    return {}


def record_apply(metadata: dict[str, Any], manager: str, api_version: str, config: dict[str, Any],
                 schema: Schema, now: str) -> None:
    """Replace `manager`'s Apply entry with the fields `config` sets."""
    entries = [e for e in metadata.get("managedFields") or []
               if not (isinstance(e, dict) and e.get("manager") == manager and e.get("operation") == "Apply")]
    fields = {k: v for k, v in config.items() if k not in ("apiVersion", "kind")}
    entries.append({"manager": manager, "operation": "Apply", "apiVersion": api_version, "time": now,
                    "fieldsType": "FieldsV1", "fieldsV1": to_fieldset(fields, schema)})
    metadata["managedFields"] = entries


def unchanged_apply(live: dict[str, Any], applied: dict[str, Any], manager: str) -> bool:
    """True when the result of `manager`'s apply differs from `live` in nothing but the `time` of
    that manager's Apply entry: the apply changed nothing and is not to be written."""
    return _without_apply_time(live, manager) == _without_apply_time(applied, manager)


def _without_apply_time(obj: dict[str, Any], manager: str) -> dict[str, Any]:
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("managedFields"), list):
        return obj
    entries = [{k: v for k, v in e.items() if k != "time"}
               if isinstance(e, dict) and e.get("manager") == manager and e.get("operation") == "Apply" else e
               for e in metadata["managedFields"]]
    return {**obj, "metadata": {**metadata, "managedFields": entries}}
