"""The field schema of the served kinds: one description, from which everything else is derived.

Each kind module (`minik8s.api.kinds.*`) describes its types once, in a compact OpenAPI notation,
with `define`. Derived from that one description, and from nothing else:
- the OpenAPI v3 documents kubectl reads (`minik8s.api.server.openapi`),
- the strategic-merge keys of lists (`merge_keys`: strategic merge patch and server-side apply),
- the fields strict validation knows (`minik8s.api.strictfields`),
- the type check every write passes first (`minik8s.api.validation.conform`).

Notation: a type is a dict of field name → expression. Expressions: `str int bool num time` scalars,
`intstr` (int-or-string), `quantity` (a resource quantity: a string such as "500m", or a number),
`bytes` (base64 text), `map` (string → string), `map:quantity`, `map:bytes`, `obj` (free-form: not
described further), `[T]` a list, `[T/key]` a list merged by `key`, `[T/]` a list merged as a set; a
capitalised name refers to another type, looked up in the package of the type using it, then in
core/v1, then in meta/v1. Pure: no I/O; kind modules fill the registry when `minik8s.api.kinds` is
imported (every `ResourceType` comes from there, so the registry is full before anyone reads it).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import NamedTuple

META = "io.k8s.apimachinery.pkg.apis.meta.v1"
CORE = "io.k8s.api.core.v1"

Fields = dict[str, str]

ATOMS = frozenset({"str", "int", "bool", "num", "time", "intstr", "quantity", "bytes", "obj", "map",
                   "map:quantity", "map:bytes"})
MAPS = {"map": "str", "map:quantity": "quantity", "map:bytes": "bytes"}  # map type → its values' type
_LIST = re.compile(r"^\[(?P<item>[^/\]]+)(?P<merge>/(?P<key>\w*))?\]$")
_MAX_DEPTH = 32  # no described type nests deeper; a guard against a type that refers to itself

_TYPES: dict[str, dict[str, Fields]] = {}


class ListType(NamedTuple):
    """A parsed `[T]`, `[T/key]` or `[T/]` expression."""

    item: str
    merged: bool  # Kubernetes merges it in strategic merge patches (`patchStrategy: merge`)
    key: str  # the merge key; "" for a merged list of values


def define(package: str, types: dict[str, Fields]) -> None:
    """Add the named types of `package` (`io.k8s.api.core.v1`); a name may be defined only once."""
    known = _TYPES.setdefault(package, {})
    for name, fields in types.items():
        if name in known and known[name] != fields:
            raise ValueError(f"schema: {package}.{name} is defined twice, differently")
        known[name] = dict(fields)
    _caches_clear()


def package_of(group: str, version: str) -> str:
    """The schema package of a group-version: `io.k8s.api.apps.v1`; other domains reversed."""
    if not group:
        return f"io.k8s.api.core.{version}"
    if "." not in group or group.endswith(".k8s.io"):
        return f"io.k8s.api.{group.split('.')[0]}.{version}"
    return ".".join(reversed(group.split("."))) + f".{version}"


def packages() -> Iterator[tuple[str, dict[str, Fields]]]:
    """Every package and its named types."""
    return iter(_TYPES.items())


def parse_list(expr: str) -> ListType | None:
    """The parts of a list expression; None when `expr` is not one."""
    match = _LIST.match(expr)
    if match is None:
        return None
    return ListType(match["item"], bool(match["merge"]), match["key"] or "")


def lookup(name: str, package: str) -> tuple[Fields, str] | None:
    """The fields of type `name` as used from `package`, and the package it is in; None if not described."""
    for candidate in (package, CORE, META):
        fields = _TYPES.get(candidate, {}).get(name)
        if fields is not None:
            return fields, candidate
    return None


def qualified(name: str, package: str) -> str:
    """`io.k8s.api.core.v1.PodSpec`: where `name`, used from `package`, is defined (KeyError if nowhere)."""
    found = lookup(name, package)
    if found is None:
        raise KeyError(f"schema: type {name!r} (used in {package}) is not described")
    return f"{found[1]}.{name}"


@functools.cache
def kind_fields(group: str, version: str, kind: str) -> tuple[Fields, str]:
    """The top-level fields of `kind` (apiVersion, kind, metadata and its own) and its package.

    A kind that is not described has a free-form `spec` and `status`.
    """
    package = package_of(group, version)
    found = lookup(kind, package)
    own = found[0] if found is not None else {"spec": "obj", "status": "obj"}
    return {"apiVersion": "str", "kind": "str", "metadata": "ObjectMeta", **own}, package


@functools.cache
def merge_keys(group: str, version: str, kind: str) -> dict[str, str]:
    """Field path (list indexes left out: `spec.containers.ports`) → merge key ("" for a merged
    list of values) of every list of `kind` that strategic merge merges; other lists are replaced."""
    fields, package = kind_fields(group, version, kind)
    keys: dict[str, str] = {}
    _collect_merge_keys(fields, package, "", keys, 0)
    return keys


def _collect_merge_keys(fields: Fields, package: str, path: str, keys: dict[str, str], depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise ValueError(f"schema: {path} nests deeper than {_MAX_DEPTH} types")
    for name, expr in fields.items():
        sub = f"{path}.{name}" if path else name
        listed = parse_list(expr)
        if listed is not None:
            if listed.merged:
                keys[sub] = listed.key
            expr = listed.item
        if expr not in ATOMS and (found := lookup(expr, package)) is not None:
            _collect_merge_keys(found[0], found[1], sub, keys, depth + 1)


def _caches_clear() -> None:
    kind_fields.cache_clear()
    merge_keys.cache_clear()
