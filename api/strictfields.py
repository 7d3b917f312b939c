"""Unknown fields: reported for `fieldValidation=Strict` (kubectl's default since 1.27), dropped otherwise.

kube-apiserver never stores a field its types do not have: with `Strict` the write is rejected
naming the field, with `Warn` (the default) the field is dropped and named in a `Warning` header,
with `Ignore` it is dropped silently. `unknown_fields` finds them, `drop_unknown_fields` removes them.
The known fields are those of the kind's schema (`minik8s.api.schema`), at every depth it
describes; below a free-form field (`obj`, the values of a map) anything is accepted. Paths are
reported like Kubernetes: `spec.containers[0].imagePullPolicyy`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from minik8s.api import schema

if TYPE_CHECKING:
    from minik8s.api.kinds import ResourceType

_Found = list[tuple[str, dict[str, Any], str]]  # (path, the dict holding the field, its key)


def unknown_fields(rt: ResourceType, obj: dict[str, Any]) -> list[str]:
    """Paths of fields `obj` sets that its kind does not have."""
    return [path for path, _, _ in _unknown(rt, obj)]


def drop_unknown_fields(rt: ResourceType, obj: dict[str, Any]) -> list[str]:
    """Remove the fields `unknown_fields` reports from `obj` (in place); their paths."""
    found = _unknown(rt, obj)
    for _, parent, name in found:
        parent.pop(name, None)
    return [path for path, _, _ in found]


def _unknown(rt: ResourceType, obj: dict[str, Any]) -> _Found:
    fields, package = schema.kind_fields(rt.group, rt.version, rt.kind)
    found: _Found = []
    _walk(obj, fields, package, "", found)
    return found


def _walk(value: Any, fields: schema.Fields, package: str, path: str, found: _Found) -> None:
    if not isinstance(value, dict):
        return  # a type error, reported by validation; not an unknown field
    for name, child in value.items():
        sub = f"{path}.{name}" if path else name
        expr = fields.get(name)
        if expr is None:
            found.append((sub, value, name))
            continue
        listed = schema.parse_list(expr)
        item = listed.item if listed is not None else expr
        if item in schema.ATOMS or (described := schema.lookup(item, package)) is None:
            continue
        if listed is None:
            _walk(child, described[0], described[1], sub, found)
        else:
            for index, element in enumerate(child if isinstance(child, list) else []):
                _walk(element, described[0], described[1], f"{sub}[{index}]", found)
