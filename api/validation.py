"""Validation of API objects before they reach the store.

The store accepts any JSON, while controllers, the scheduler and nodes trust what they read; so
every write passes `validate` first. It checks the metadata every kind has, the type of every field
the kind's schema describes (`minik8s.api.schema`), and asks the kind's strategy (`rt.strategy`)
for the rest; every problem becomes a Kubernetes field error (`minik8s.api.fields.Causes`) and one
422 `InvalidError` lists them all, worded the way kubectl users know. Any JSON is acceptable input:
a wrong type anywhere becomes a cause, never a Python exception.

Call it on the prepared object (after `minik8s.api.objects` applied defaults), with `old` on
updates, so immutable fields are compared like for like.

Before that, every body a write carries passes `conform` (the registry calls it on creates,
updates and the result of every patch; the API server on apply configurations, `Scale`, `Binding`
and `DeleteOptions` bodies): the type of every field the schema describes is checked there, null
for a field means absent, as when kube-apiserver decodes a body into its Go types. Defaulting,
strategic merge, server-side apply, tables and the registry read objects only after it, so they
may trust those types.
"""

from __future__ import annotations

import binascii
import base64
import copy
import datetime
import re
from typing import TYPE_CHECKING, Any

from minik8s.api import schema
from minik8s.api.errors import BadRequestError, invalid
from minik8s.api.fields import Causes
from minik8s.api.names import DNS_LABEL, label_key_problems

if TYPE_CHECKING:
    from minik8s.api.kinds import ResourceType


def _get(obj: Any, *keys: str) -> Any:
    """The value at `keys` inside nested dicts, None where the path breaks."""
    for key in keys:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


# --- metadata ------------------------------------------------------------------------------------

def _metadata(c: Causes, rt: ResourceType, obj: dict[str, Any]) -> None:
    meta = c.object("metadata", obj.get("metadata"), required=True)
    if meta is None:
        return
    rule = rt.strategy.name_rule
    c.name("metadata.name", meta.get("name"), rule)
    if not meta.get("name") and not meta.get("generateName"):
        c.required("metadata.name", "name or generateName is required")
    generate = c.string("metadata.generateName", meta.get("generateName"))
    if generate:  # a random suffix will follow: check it as Kubernetes' maskTrailingDash does
        c.name("metadata.generateName", generate[:-1] + "a" if len(generate) > 1 and generate[-1] == "-"
               else generate, rule)
    c.name("metadata.namespace", meta.get("namespace"), DNS_LABEL)
    c.labels("metadata.labels", meta.get("labels"))
    annotations = c.string_map("metadata.annotations", meta.get("annotations"))
    for key in annotations:
        for problem in label_key_problems(key.lower()):
            c.invalid("metadata.annotations", key, problem)
    if sum(len(k) + len(v) for k, v in annotations.items()) > 256 * 1024:
        c.too_long("metadata.annotations", 256 * 1024)
    for key in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp"):
        c.string(f"metadata.{key}", meta.get(key))
    c.integer("metadata.generation", meta.get("generation"), minimum=0)
    for p, ref in c.objects("metadata.ownerReferences", meta.get("ownerReferences")):
        for key in ("apiVersion", "kind", "name", "uid"):
            c.string(f"{p}.{key}", ref.get(key), required=True)
        c.boolean(f"{p}.controller", ref.get("controller"))


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
          "bool": "a boolean", "num": "a number", "quantity": "a quantity (a string such as \"500m\" or a number)",
          "bytes": "a base64-encoded string"}


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
    """One walk of a value against the field schema (`minik8s.api.schema`): every described
    field must hold its type (integers in their int32/int64 range, times in RFC 3339), as decoding
    into the Kubernetes Go types requires. With `drop_nulls`, a described field set to null is
    removed in place: decoding leaves a null field at its zero value, which is not written back.
    Paths in `reported` (already reported by a hand-written check) are skipped with what is below."""

    def __init__(self, c: Causes, reported: set[str], *, drop_nulls: bool) -> None:
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
        elif (listed := schema.parse_list(expr)) is not None:
            if not isinstance(value, list):
                c.invalid(path, value, "must be a list")
                return
            for index, child in enumerate(value):
                self.value(child, listed.item, name, package, f"{path}[{index}]")
        elif not isinstance(value, dict):
            c.invalid(path, value, "must be an object")
        elif expr in schema.MAPS:
            for key, child in value.items():
                self.value(child, schema.MAPS[expr], key, package, f"{path}[{key}]")
        elif expr != "obj" and (struct := schema.lookup(expr, package)) is not None:
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
        fits = {"str": isinstance(value, str), "time": isinstance(value, str), "bytes": isinstance(value, str),
                "bool": isinstance(value, bool),
                "num": isinstance(value, (int, float)) and not isinstance(value, bool),
                "quantity": isinstance(value, (str, int, float)) and not isinstance(value, bool)}.get(expr, False)
        if not fits:
            self.c.invalid(path, value, f"must be {_NOUNS[expr]}")
        elif expr == "time" and not _is_rfc3339(value):
            self.c.invalid(path, value, _TIME_MESSAGE)
        elif expr == "bytes" and (problem := _base64_problem(value)):
            self.c.invalid(path, "<value omitted>", problem)


def _base64_problem(text: str) -> str | None:
    """Why `text` is not standard base64 (what a `[]byte` field holds in JSON), or None."""
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        return f"illegal base64 data: {exc}"
    return None


def _types(c: Causes, rt: ResourceType, obj: dict[str, Any]) -> None:
    """Report every described field holding the wrong type (1.5 or 1e30 for an integer, a list for
    an object) or an integer outside int32/int64, as the Kubernetes types would refuse to decode it;
    paths already reported are skipped."""
    fields, package = schema.kind_fields(rt.group, rt.version, rt.kind)
    _Typing(c, c.paths(), drop_nulls=False).fields(obj, fields, package, "")


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
    c = Causes()
    out = copy.deepcopy(obj) if isinstance(obj, dict) else None
    if out is None:
        c.invalid("<root>", obj, "must be an object")
    else:
        fields, package = schema.kind_fields(group, version, kind)
        _Typing(c, set(), drop_nulls=True).fields(out, fields, package, "")
    if c and options:
        raise BadRequestError(f"{kind} cannot be decoded: " + "; ".join(f"{path}: {message}"
                                                                         for path, _, message in c.causes[:20]))
    if c or out is None:
        name = _get(out, "metadata", "name")
        raise invalid(kind, name if isinstance(name, str) else None, c.causes)
    return out


def validate(rt: ResourceType, obj: dict[str, Any], *, old: dict[str, Any] | None = None,
             status: bool = False) -> None:
    """Raise one InvalidError (422) listing every problem of `obj`; `old` is the stored object on
    updates; `status` for a write to the status subresource (the kind's status strategy)."""
    c = Causes()
    if not isinstance(obj, dict):
        c.invalid("<root>", obj, "must be an object")
    else:
        _metadata(c, rt, obj)
        (rt.strategy.status if status else rt.strategy).validate(c, obj, old)
        _types(c, rt, obj)
    if c:
        name = _get(obj, "metadata", "name")
        raise invalid(rt.kind, name if isinstance(name, str) else None, c.causes)


