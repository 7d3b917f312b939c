"""Owner references and deletion finalizers: the vocabulary the API server and the controllers share.

An object names its owners in `metadata.ownerReferences` (apiVersion, kind, name, uid; `controller`,
`blockOwnerDeletion`). On DELETE the API server only marks the owner: the `orphan` finalizer
(propagationPolicy Orphan) or `foregroundDeletion` (Foreground) and a `deletionTimestamp`; the
garbage collector then orphans or deletes the dependents and removes the finalizer. A namespace
being deleted keeps `kubernetes` in `spec.finalizers` until the namespace controller has emptied it.

The helpers here read and rewrite objects without changing their arguments (informer caches are
shared) and accept any JSON: what is not a well-formed reference or finalizer is skipped.
"""

from __future__ import annotations

import copy
from typing import Any

Obj = dict[str, Any]

ORPHAN_FINALIZER = "orphan"  # metav1.FinalizerOrphanDependents
FOREGROUND_FINALIZER = "foregroundDeletion"  # metav1.FinalizerDeleteDependents
NAMESPACE_FINALIZER = "kubernetes"  # in a Namespace's spec.finalizers: its content is not yet removed

_REFERENCE_FIELDS = ("apiVersion", "kind", "name", "uid")


def owner_references(obj: Obj) -> list[Obj]:
    """`obj`'s well-formed owner references (each names apiVersion, kind, name and uid as strings)."""
    refs = (obj.get("metadata") or {}).get("ownerReferences")
    if not isinstance(refs, list):
        return []
    return [ref for ref in refs if isinstance(ref, dict)
            and all(isinstance(ref.get(f), str) and ref.get(f) for f in _REFERENCE_FIELDS)]


def finalizers(obj: Obj) -> list[str]:
    """`obj`'s `metadata.finalizers` (strings only)."""
    found = (obj.get("metadata") or {}).get("finalizers")
    return [f for f in found if isinstance(f, str)] if isinstance(found, list) else []


def is_deleting(obj: Obj) -> bool:
    """Whether `obj` is marked for deletion (`metadata.deletionTimestamp` set)."""
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def without_owner(obj: Obj, uids: set[str]) -> Obj:
    """A copy of `obj` without the owner references to `uids` (no `ownerReferences` key when none is left)."""
    out = copy.deepcopy(obj)
    meta = out["metadata"]
    refs = [ref for ref in meta.get("ownerReferences") or [] if not (isinstance(ref, dict) and ref.get("uid") in uids)]
    if refs:
        meta["ownerReferences"] = refs
    else:
        meta.pop("ownerReferences", None)
    return out


def without_finalizer(obj: Obj, name: str) -> Obj:
    """A copy of `obj` without `name` in `metadata.finalizers` (no key when none is left)."""
    out = copy.deepcopy(obj)
    meta = out["metadata"]
    remaining = [f for f in meta.get("finalizers") or [] if f != name]
    if remaining:
        meta["finalizers"] = remaining
    else:
        meta.pop("finalizers", None)
    return out
