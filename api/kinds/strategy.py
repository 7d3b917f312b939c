"""The strategy of a kind: everything minik8s knows about it, in one place.

Modelled on Kubernetes' registry strategies (`pkg/registry/core/pod/strategy.go`): one object per
kind holds its defaults, its validation on create and update, how a write prepares the stored
object, its table columns and cells, its `describe` section, whether a PUT may create it, how a
deletion marks it (graceful, or waiting for finalizers), and which fields a field selector may
name. The generic code (the registry, `minik8s.api.objects`, `minik8s.api.validation`,
`minik8s.api.tables`, `minik8s.api.describe`) asks the strategy of the `ResourceType` at hand and
knows no kind by name.

`StatusStrategy` is the strategy of the `status` subresource: it embeds the kind's strategy and
changes only how an update is prepared (status from the request, everything else as stored).
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from minik8s.api.describe import Lines, describe_generic
from minik8s.api.fields import Causes
from minik8s.api.names import DNS_SUBDOMAIN, NameRule
from minik8s.api.tables import AGE_COLUMN, NAME_COLUMN, Column, age_cell, name_cell
from minik8s.api.timefmt import format_time, parse_time

Obj = dict[str, Any]

# Field selectors every kind supports, and where each is read from in the object.
OBJECT_META_FIELDS: dict[str, tuple[str, ...]] = {
    "metadata.name": ("metadata", "name"), "metadata.namespace": ("metadata", "namespace"),
}


class Strategy:
    """The behaviour of one kind. Subclasses override what differs from these defaults."""

    name_rule: NameRule = DNS_SUBDOMAIN  # what `metadata.name` must look like
    generation: bool = False  # keep `metadata.generation` (kinds with a spec): +1 when the spec changes
    create_on_update: bool = False  # a PUT of a missing object creates it (Kubernetes' AllowCreateOnUpdate)
    columns: tuple[Column, ...] = (NAME_COLUMN, AGE_COLUMN)
    # field selectors beyond `metadata.name` and `metadata.namespace`: selector field -> path in the object
    selectable_fields: dict[str, tuple[str, ...]] = {}

    # ---- writes ------------------------------------------------------------------------------

    def default(self, obj: Obj, now: str) -> None:
        """Fill in what Kubernetes defaults (in place); `obj` holds any JSON below its top level."""

    def prepare_create(self, obj: Obj) -> None:
        """Kind-specific changes a create makes to the defaulted object before it is validated."""

    def prepare_update(self, new: Obj, old: Obj) -> None:
        """Kind-specific changes an update makes to the defaulted `new` (`old` is what is stored)."""

    def initial_status(self, obj: Obj) -> Obj:
        """The status a new object starts with (kinds with a `status` subresource)."""
        return {}

    def validate(self, c: Causes, obj: Obj, old: Obj | None) -> None:
        """Report what is wrong with `obj` beyond metadata and field types; `old` is the stored
        object on updates (for immutable fields)."""

    # ---- deletion ------------------------------------------------------------------------------

    def delete_forbidden(self, obj: Obj) -> str | None:
        """Why `obj` may never be deleted, or None."""
        return None

    def graceful_deletion(self, obj: Obj) -> bool:
        """Whether deleting `obj` only marks it (someone else removes it once stopped), as pods bound
        to a node are removed by that node."""
        return False

    def default_grace_period(self, obj: Obj) -> int:
        """The grace period of a graceful deletion that did not ask for one."""
        return 0

    def pending_finalization(self, obj: Obj) -> bool:
        """Whether something besides `metadata.finalizers` still holds `obj` once it is marked for
        deletion (a namespace's `spec.finalizers`)."""
        return False

    def mark_deleting(self, obj: Obj, *, now: float) -> None:
        """Mark `obj` (in place) as being deleted, for a deletion that waits for finalizers rather
        than a grace period (kube-apiserver's `markAsDeleting`): `deletionTimestamp` now unless an
        earlier one is set, `deletionGracePeriodSeconds` 0, `generation` one up on the first mark."""
        meta = obj["metadata"]
        existing = parse_time(meta.get("deletionTimestamp"))
        if existing is None:
            bump_generation(meta)
        if existing is None or existing.timestamp() > now:
            meta["deletionTimestamp"] = format_time(now)
        meta["deletionGracePeriodSeconds"] = 0

    # ---- reading -------------------------------------------------------------------------------

    def field_paths(self) -> dict[str, tuple[str, ...]]:
        """Every field a field selector may name for this kind, and where it is in the object."""
        return {**OBJECT_META_FIELDS, **self.selectable_fields}

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        """The cells of `obj`'s table row, aligned with `columns`."""
        return [name_cell(obj), age_cell(obj, now)]

    def describe(self, out: Lines, obj: Obj) -> None:
        """The kind's own `kubectl describe` section (after the metadata, before the events)."""
        describe_generic(out, obj)

    @property
    def status(self) -> StatusStrategy:
        """The strategy of writes to the `status` subresource."""
        return StatusStrategy(self)

    def subresource_writes(self) -> dict[str, StatusStrategy]:
        """The subresources a PUT or PATCH writes part of the object through, each with its
        strategy (which parts it takes from the request)."""
        return {"status": self.status}


class StatusStrategy:
    """Writes to `/status`: the status comes from the request, everything else stays as stored;
    validation is the kind's own."""

    def __init__(self, main: Strategy) -> None:
        self.main = main

    def prepare_update(self, new: Obj, old: Obj) -> Obj:
        """The object to store: `old` with `new`'s status and the client's resourceVersion precondition."""
        out = copy.deepcopy(old)
        _copy_key(out, new, "status")
        if out.get("metadata") is None:
            out["metadata"] = {}
        new_meta = new.get("metadata")
        if isinstance(out["metadata"], dict):
            _copy_key(out["metadata"], new_meta if isinstance(new_meta, dict) else {}, "resourceVersion")
        return out

    def validate(self, c: Causes, obj: Obj, old: Obj | None) -> None:
        self.main.validate(c, obj, old)


def bump_generation(meta: Obj) -> None:
    """`metadata.generation` one up, where the kind keeps one (a positive integer)."""
    generation = meta.get("generation")
    if isinstance(generation, int) and not isinstance(generation, bool) and generation > 0:
        meta["generation"] = generation + 1


def copy_path(target: Obj, source: Obj, path: tuple[str, ...]) -> None:
    """Make the field at `path` in `target` a copy of the one in `source` (absent when `source` has
    none), creating the objects on the way; a step that is not an object in `target` is replaced."""
    value: Any = source
    for step in path:
        value = value.get(step) if isinstance(value, dict) else None
    holder = target
    for step in path[:-1]:
        if not isinstance(holder.get(step), dict):
            if value is None:
                return
            holder[step] = {}
        holder = holder[step]
    if value is None:
        holder.pop(path[-1], None)
    else:
        holder[path[-1]] = copy.deepcopy(value)


def _copy_key(target: Obj, source: Obj, key: str) -> None:
    """Make `target[key]` a copy of `source[key]`, or absent when `source` has none."""
    if key in source:
        target[key] = copy.deepcopy(source[key])
    else:
        target.pop(key, None)
