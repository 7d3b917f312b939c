"""Adoption and release: which objects a controller owns (Kubernetes' `controller_ref_manager.go`).

A ReplicaSet owns the pods whose controller `ownerReference` names it; a Deployment owns
ReplicaSets the same way. `claim` walks the candidate objects of the owner's namespace:

- controlled by another owner: ignored;
- controlled by this owner and matching its selector: claimed;
- controlled by this owner but no longer matching: released (its reference removed), unless
  the owner is being deleted;
- an orphan that matches, is not being deleted, while the owner is not being deleted: adopted
  (a controller reference with `blockOwnerDeletion` added), after a fresh read of the owner
  confirms it still exists and is not being deleted (`can_adopt`, asked at most once).

Adoption and release are JSON patches that first `test` the object's uid and resourceVersion,
so two controllers can never both adopt one object: the loser's patch fails and is retried on a
fresher cache (`patch_owner_refs` turns that failure into a `ConflictError`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from minik8s.api import errors
from minik8s.api.client import ApiClient
from minik8s.api.informer import Informer
from minik8s.api.kinds import ResourceType
from minik8s.api.selectors import LabelSelector, label_selector_from_dict
from minik8s.api.workloads import controller_ref, new_controller_ref

Obj = dict[str, Any]


def claim(owner: Obj, selector: LabelSelector, objects: list[Obj], *, adopt: Callable[[Obj], None],
          release: Callable[[Obj], None], can_adopt: Callable[[], None]) -> tuple[list[Obj], list[Exception]]:
    """The objects `owner` owns after adopting and releasing as the rules above say, and the errors
    met on the way (an object whose adoption or release failed is not claimed)."""
    owner_meta = owner.get("metadata") or {}
    owner_deleting = bool(owner_meta.get("deletionTimestamp"))
    claimed: list[Obj] = []
    problems: list[Exception] = []
    adoption_checked: list[bool] = []

    def checked_adopt(obj: Obj) -> None:
        if not adoption_checked:
            can_adopt()
            adoption_checked.append(True)
        adopt(obj)

    for obj in objects:
        meta = obj.get("metadata") or {}
        matches = selector.matches(meta.get("labels")) and meta.get("namespace") == owner_meta.get("namespace")
        ref = controller_ref(obj)
        try:
            if ref is not None:
                if ref.get("uid") != owner_meta.get("uid"):
                    continue
                if matches:
                    claimed.append(obj)
                elif not owner_deleting:
                    release(obj)
                continue
            if owner_deleting or not matches or meta.get("deletionTimestamp"):
                continue
            checked_adopt(obj)
            claimed.append(obj)
        except errors.NotFoundError:
            continue  # gone meanwhile: nothing to own
        except Exception as exc:  # reported; the owner is synced again later
            problems.append(exc)
    return claimed, problems


def adopt_patch(obj: Obj, owner: Obj) -> list[Obj]:
    """A JSON patch making `owner` the controller of `obj`, valid only on the version of `obj` given."""
    refs = [*((obj.get("metadata") or {}).get("ownerReferences") or []), new_controller_ref(owner)]
    return [*_preconditions(obj), {"op": "add", "path": "/metadata/ownerReferences", "value": refs}]


def release_patch(obj: Obj, owner_uid: str) -> list[Obj]:
    """A JSON patch removing the reference to `owner_uid` from `obj`, valid only on this version of `obj`."""
    refs = [r for r in (obj.get("metadata") or {}).get("ownerReferences") or [] if r.get("uid") != owner_uid]
    return [*_preconditions(obj), {"op": "add", "path": "/metadata/ownerReferences", "value": refs}]


def _preconditions(obj: Obj) -> list[Obj]:
    meta = obj.get("metadata") or {}
    return [{"op": "test", "path": "/metadata/uid", "value": meta.get("uid")},
            {"op": "test", "path": "/metadata/resourceVersion", "value": meta.get("resourceVersion")}]


def patch_owner_refs(client: ApiClient, rt: ResourceType, obj: Obj, patch: list[Obj]) -> Obj:
    """Send an `adopt_patch`/`release_patch`; a failed precondition is a `ConflictError` (retry later)."""
    meta = obj.get("metadata") or {}
    try:
        return client.patch(rt, meta["name"], patch, namespace=meta.get("namespace"), patch_type="json")
    except errors.InvalidError as exc:
        raise errors.ConflictError(f"{rt.kind} {meta.get('namespace')}/{meta.get('name')} changed "
                                   f"while its owner references were updated: {exc.message}") from exc


def check_owner_fresh(client: ApiClient, rt: ResourceType, owner: Obj) -> None:
    """Raise unless a fresh read shows `owner` still exists with the same uid and is not being
    deleted (Kubernetes' `RecheckDeletionTimestamp`)."""
    meta = owner.get("metadata") or {}
    fresh = client.get(rt, meta["name"], namespace=meta.get("namespace"))
    fresh_meta = fresh.get("metadata") or {}
    if fresh_meta.get("uid") != meta.get("uid"):
        raise errors.ConflictError(f"original {rt.kind} {meta.get('namespace')}/{meta.get('name')} is gone: "
                                   f"got uid {fresh_meta.get('uid')}, wanted {meta.get('uid')}")
    if fresh_meta.get("deletionTimestamp"):
        raise errors.ConflictError(f"{rt.kind} {meta.get('namespace')}/{meta.get('name')} has just been deleted "
                                   f"at {fresh_meta['deletionTimestamp']}")


def selector_of(owner: Obj) -> LabelSelector | None:
    """The owner's `spec.selector`; None when it is missing, empty or invalid (it then selects nothing)."""
    try:
        selector = label_selector_from_dict((owner.get("spec") or {}).get("selector") or {})
    except errors.ApiError:
        return None
    return selector if selector.requirements else None


def cached_owner_key(owners: Informer, owner_kind: str, obj: Obj, ref: Obj | None) -> str | None:
    """The cache key of the owner (of kind `owner_kind`, in `obj`'s namespace) the controller
    reference `ref` names, when that owner is cached with the same uid; else None."""
    if ref is None or ref.get("kind") != owner_kind or not str(ref.get("apiVersion", "")).startswith("apps/"):
        return None
    key = f"{(obj.get('metadata') or {}).get('namespace')}/{ref.get('name')}"
    owner = owners.get(key)
    return key if owner is not None and owner["metadata"].get("uid") == ref.get("uid") else None


def selecting_owners(owners: Informer, obj: Obj) -> Iterator[Obj]:
    """The cached owners in `obj`'s namespace whose selector matches its labels (an orphan's
    candidates for adoption)."""
    meta = obj.get("metadata") or {}
    for owner in owners.list():
        selector = selector_of(owner)
        if owner["metadata"].get("namespace") == meta.get("namespace") and selector is not None \
                and selector.matches(meta.get("labels")):
            yield owner
