"""PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902), strategic merge, apply.

Strategic merge follows `k8s.io/apimachinery/pkg/util/strategicpatch`. Lists merge element-wise
only at the field paths where the Kubernetes types declare `patchStrategy: merge` (the merge keys
of the object's kind, from its schema: `minik8s.api.schema`; paths skip list indexes, so
`spec.containers.ports` is every container's ports): by their `patchMergeKey`, or as a set of values
for primitive lists such as `metadata.finalizers`. Every other
list is replaced. Directives: `$patch: replace|delete|merge` on a map or as a list element,
`$setElementOrder/<list>`, `$retainKeys`, `$deleteFromPrimitiveList/<list>`, and null deleting a key.
Merged lists are ordered as Kubernetes orders them: the patch's items in patch (or
`$setElementOrder`) order, interleaved with the live-only items by their live position, so an item
added without `$setElementOrder` (as by `kubectl patch`) comes first. Deliberate differences:
`$patch: delete` on a map removes the key (Kubernetes leaves an empty map, which the typed round trip
usually drops), `$patch: merge` is accepted as the default (Kubernetes rejects it), directives
inside values that are added rather than merged are applied against nothing instead of being stored
verbatim, and a patch list is not checked against its `$setElementOrder` list.

Server-side apply (`application/apply-patch+yaml`) merges the applied configuration like a strategic
merge patch and records the fields each manager applied in `metadata.managedFields`
(`managedfields`); fields a manager applied before and no longer applies are pruned (leaf by leaf,
list items by merge key) before merging. Conflicts between managers are not detected.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import jsonpatch

from minik8s.api import errors
from minik8s.api import schema as field_schema
from minik8s.api.timefmt import now_time

from . import managedfields

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"

# Field path (no list indexes) -> patchMergeKey of the lists Kubernetes merges ("" for a merged list of
# primitives), derived from the schema of the object's kind (`schema_of`).
_Schema = dict[str, str]

_ORDER = "$setElementOrder/"
_DELETE_FROM = "$deleteFromPrimitiveList/"


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


def strategic_merge(obj: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any] | None:
    """`obj` patched by a strategic merge `patch` (the merge keys of `obj`'s kind); None if deleted."""
    return _merge_map(copy.deepcopy(obj), copy.deepcopy(patch), "", schema_of(obj))


def server_side_apply(live: dict[str, Any], applied: dict[str, Any], field_manager: str | None) -> dict[str, Any]:
    """`live` with the `applied` configuration merged in, pruning what `field_manager` applied last time."""
    schema = schema_of(live if live.get("kind") else applied)
    applied = {k: v for k, v in applied.items()}
    applied_meta = {k: v for k, v in (applied.get("metadata") or {}).items() if k != "managedFields"}
    applied["metadata"] = applied_meta
    result = copy.deepcopy(live)
    if field_manager:
        _prune(result, managedfields.applied_by(live.get("metadata") or {}, field_manager, schema), applied, "",
               schema)
    result = _merge_map(result, copy.deepcopy(applied), "", schema) or {}
    if field_manager:
        now = now_time()
        api_version = str(applied.get("apiVersion") or live.get("apiVersion") or "")
        managedfields.record_apply(result.setdefault("metadata", {}), field_manager, api_version, applied,
                                   schema, now)
    return result


def schema_of(obj: dict[str, Any]) -> _Schema:
    """The merge keys of the kind `obj` says it is (`apiVersion`, `kind`); metadata's alone when unknown."""
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        api_version, kind = "v1", "Unknown"
    group, _, version = api_version.rpartition("/")
    return field_schema.merge_keys(group, version, kind)


def apply_patch(obj: dict[str, Any], patch: Any, content_type: str,
                field_manager: str | None = None) -> dict[str, Any]:
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
        if content_type == MERGE:
            result = merge_patch(obj, patch)
        elif content_type == STRATEGIC:
            result = strategic_merge(obj, patch)
        else:
            result = server_side_apply(obj, patch, field_manager)
    else:
        raise errors.UnsupportedMediaTypeError(f"unsupported patch type {content_type!r}; use {MERGE}, "
                                               f"{STRATEGIC}, {JSON_PATCH} or {APPLY}")
    if not isinstance(result, dict):
        raise errors.InvalidError("the patch must leave an object")
    return result


# ---- strategic merge -----------------------------------------------------------------------------

def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _bad(message: str) -> errors.BadRequestError:
    return errors.BadRequestError(f"invalid strategic merge patch: {message}")


def _merge_value(original: Any, patch: Any, path: str, schema: _Schema) -> Any:
    """`patch` merged onto `original` (absent: None); None when a `$patch: delete` removes it."""
    if isinstance(patch, dict):
        return _merge_map(original if isinstance(original, dict) else None, patch, path, schema)
    if isinstance(patch, list):
        return _merge_list(original if isinstance(original, list) else None, patch, path, schema)
    return patch


def _merge_map(original: dict[str, Any] | None, patch: dict[str, Any], path: str,
               schema: _Schema) -> dict[str, Any] | None:
    """Kubernetes' `mergeMap`, changing `original` in place; None for `$patch: delete`."""
    directive = patch.pop("$patch", "merge")
    if directive == "delete":
        return None
    if directive == "replace":
        original = None
    elif directive != "merge":
        raise _bad(f"unknown $patch directive {directive!r} at {path or 'the top level'}")
    result = original if original is not None else {}
    _retain_keys(result, patch)
    for directive_key in [k for k in patch if k.startswith(_ORDER)]:
        _set_element_order(result, patch, directive_key, path, schema)
    for name, value in patch.items():
        if name.startswith(_DELETE_FROM):
            field = name[len(_DELETE_FROM):]
            if not isinstance(value, list):
                raise _bad(f"{name} must be a list")
            if isinstance(result.get(field), list):
                result[field] = [v for v in result[field] if v not in value]
        elif not name.startswith("$"):
            merged = None if value is None else _merge_value(result.get(name), value, _join(path, name), schema)
            if merged is None:
                result.pop(name, None)
            else:
                result[name] = merged
    return result


def _retain_keys(result: dict[str, Any], patch: dict[str, Any]) -> None:
    """`$retainKeys`: drop the keys of `result` it does not list (every key the patch sets must be listed)."""
    if "$retainKeys" not in patch:
        return
    retain = patch.pop("$retainKeys")
    if not isinstance(retain, list):
        raise _bad("$retainKeys must be a list")
    unlisted = sorted(k for k, v in patch.items() if v is not None and not k.startswith("$") and k not in retain)
    if unlisted:
        raise _bad(f"{', '.join(unlisted)} not listed in $retainKeys")
    for key in [k for k in result if k not in retain]:
        del result[key]


def _set_element_order(result: dict[str, Any], patch: dict[str, Any], directive_key: str, path: str,
                       schema: _Schema) -> None:
    """Merge the list `$setElementOrder/<field>` names (if patched) and put it in that order."""
    order = patch.pop(directive_key)
    field = directive_key[len(_ORDER):]
    if not isinstance(order, list):
        raise _bad(f"{directive_key} must be a list")
    live = result.get(field) if isinstance(result.get(field), list) else None
    if field in patch:
        value = patch.pop(field)
        if not isinstance(value, list):
            raise _bad(f"{field} must be a list to go with {directive_key}")
        merged = _merge_list(live, value, _join(path, field), schema)
    elif live is not None:
        merged = live
    else:
        return
    key = schema.get(_join(path, field))
    if key is not None:
        ident = _identity(key)
        merged = _order(merged, [ident(e) for e in order], [ident(e) for e in live or []], ident)
    result[field] = merged


def _merge_list(original: list[Any] | None, patch: list[Any], path: str, schema: _Schema) -> list[Any]:
    """Kubernetes' `mergeSlice` for the list at `path`: replaced, merged as a set, or merged by key."""
    key = schema.get(path)
    if key is None:  # no merge strategy: the patch replaces the list
        return [_merge_value(None, e, path, schema) for e in patch
                if not (isinstance(e, dict) and e.get("$patch") in ("delete", "replace"))]
    original = original or []
    if key == "":
        if any(isinstance(v, (dict, list)) for v in patch):
            raise _bad(f"{path} must be a list of values")
        merged: list[Any] = []
        for value in original + patch:
            if value not in merged:
                merged.append(value)
        return _order(merged, patch, original, _identity(key))
    if not all(isinstance(e, dict) for e in patch):
        raise _bad(f"{path} must be a list of objects")
    ident = _identity(key)
    items = []
    for element in patch:
        directive = element.get("$patch", "merge")
        if directive == "replace":  # the list becomes the patch's other elements
            original, items = [], [e for e in patch if e.get("$patch", "merge") == "merge"]
            break
        if key not in element:
            raise _bad(f"{path}: element {element} lacks the merge key {key!r}")
        if directive == "delete":
            original = [e for e in original if ident(e) != element[key]]
        elif directive == "merge":
            items.append(element)
        else:
            raise _bad(f"unknown $patch directive {directive!r} in {path}")
    merged = list(original)
    for element in items:
        match = next((i for i, e in enumerate(merged) if isinstance(e, dict) and e.get(key) == element.get(key)),
                     None)
        if match is None:
            merged.append(_merge_map(None, element, path, schema))
        else:
            merged[match] = _merge_map(merged[match], element, path, schema)
    return _order(merged, [ident(e) for e in items], [ident(e) for e in original], ident)


def _identity(key: str) -> Callable[[Any], Any]:
    """How list items are told apart: by merge key, or by value for a primitive list."""
    if key == "":
        return lambda value: value
    return lambda element: element.get(key) if isinstance(element, dict) else None


def _order(merged: list[Any], patch_order: list[Any], live_order: list[Any], ident: Callable[[Any], Any]) -> list[Any]:
    """Kubernetes' `normalizeElementOrder`: patch items in patch order, live-only items in live order,
    the latter placed before a patch item that comes after them in the live list."""
    def position(order: list[Any], item: Any) -> int | None:
        return order.index(ident(item)) if ident(item) in order else None

    patched = sorted((e for e in merged if ident(e) in patch_order), key=lambda e: patch_order.index(ident(e)))
    live_only = sorted((e for e in merged if ident(e) not in patch_order),  # unknown ones last
                       key=lambda e: live_order.index(ident(e)) if ident(e) in live_order else len(live_order))
    result: list[Any] = []
    while patched and live_only:
        left, right = position(live_order, live_only[0]), position(live_order, patched[0])
        result.append(live_only.pop(0) if left is not None and right is not None and left < right else patched.pop(0))
    return result + live_only + patched


# ---- server-side apply ---------------------------------------------------------------------------

def _prune(live: dict[str, Any], last: dict[str, Any], applied: dict[str, Any], path: str, schema: _Schema) -> None:
    """Remove from `live` what the `last` applied configuration set and `applied` no longer sets."""
    for name, old in last.items():
        if name not in live:
            continue
        new, current, sub = applied.get(name), live[name], _join(path, name)
        if isinstance(old, dict) and isinstance(current, dict):
            _prune(current, old, new if isinstance(new, dict) else {}, sub, schema)
        elif isinstance(old, list) and isinstance(current, list) and sub in schema:
            live[name] = _prune_list(current, old, new if isinstance(new, list) else [], sub, schema)
        elif name not in applied:
            del live[name]
            continue
        if name not in applied and not live[name]:
            del live[name]


def _prune_list(live: list[Any], last: list[Any], applied: list[Any], path: str, schema: _Schema) -> list[Any]:
    if schema[path] == "":
        return [v for v in live if v in applied or v not in last]
    ident = _identity(schema[path])

    def key(element: Any) -> str:  # merge key values as JSON: any JSON value may be one, hashable or not
        return json.dumps(ident(element), sort_keys=True)

    old = {key(e): e for e in last if isinstance(e, dict)}
    new = {key(e): e for e in applied if isinstance(e, dict)}
    kept = []
    for element in live:
        if isinstance(element, dict) and key(element) in old:
            if key(element) not in new:
                continue
            _prune(element, old[key(element)], new[key(element)], path, schema)
        kept.append(element)
    return kept
