"""PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902), strategic merge, apply.

Strategic merge and server-side apply are approximated by a merge patch whose lists are merged
by their Kubernetes merge keys (containers by `name`, ports by `containerPort`, ...).
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch

from minik8s.api import errors

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"

# Kubernetes patchMergeKey of the list fields we serve.
_MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "volumes": "name", "env": "name", "volumeMounts": "mountPath",
    "ports": "containerPort", "imagePullSecrets": "name", "tolerations": "key", "conditions": "type",
}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge(target: Any, patch: Any, field: str | None = None) -> Any:
    """Merge like `merge_patch`, but lists with a merge key merge element-wise by that key."""
    if isinstance(patch, list):
        key = _MERGE_KEYS.get(field or "")
        if key is None or not isinstance(target, list):
            return [e for e in copy.deepcopy(patch) if not (isinstance(e, dict) and "$patch" in e)]
        return _merge_list(target, patch, key)
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: v for k, v in copy.deepcopy(patch).items() if k != "$patch"}
    result = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if name.startswith("$"):
            continue
        if value is None:
            result.pop(name, None)
        else:
            result[name] = strategic_merge(result.get(name), value, name)
    return result


def _merge_list(target: list[Any], patch: list[Any], key: str) -> list[Any]:
    merged = [copy.deepcopy(e) for e in target]
    index = {e.get(key): i for i, e in enumerate(merged) if isinstance(e, dict)}
    removed: set[Any] = set()
    for element in patch:
        if not isinstance(element, dict):
            continue
        if element.get("$patch") == "delete":
            removed.add(element.get(key))
            continue
        position = index.get(element.get(key))
        if position is None:
            index[element.get(key)] = len(merged)
            merged.append(strategic_merge({}, element))
        else:
            merged[position] = strategic_merge(merged[position], element)
    return [e for e in merged if not (isinstance(e, dict) and e.get(key) in removed)]


def apply_patch(obj: dict[str, Any], patch: Any, content_type: str) -> dict[str, Any]:
    """The patched copy of `obj`; 415 for an unknown patch type, 422/400 for a bad patch."""
    if content_type == JSON_PATCH:
        if not isinstance(patch, list):
            raise errors.BadRequestError("a JSON patch must be a list of operations")
        try:
            result = jsonpatch.apply_patch(obj, patch)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            raise errors.InvalidError(f"the JSON patch could not be applied: {exc}") from exc
    elif content_type in (MERGE, STRATEGIC, APPLY):
        if not isinstance(patch, dict):
            raise errors.BadRequestError("a merge patch must be an object")
        result = merge_patch(obj, patch) if content_type == MERGE else strategic_merge(obj, patch)
    else:
        raise errors.UnsupportedMediaTypeError(f"unsupported patch type {content_type!r}; use {MERGE}, "
                                               f"{STRATEGIC}, {JSON_PATCH} or {APPLY}")
    if not isinstance(result, dict):
        raise errors.InvalidError("the patch must leave an object")
    return result
