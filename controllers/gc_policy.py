"""The garbage collector's decisions, as pure functions of objects and what is known of their owners.

Kubernetes' garbage collector (`pkg/controller/garbagecollector/garbagecollector.go`,
`attemptToDeleteItem` and `classifyReferences`) sorts a dependent's owner references into three:

- **solid**: the owner exists and is not waiting for its dependents (or its kind is not served
  here, so nothing can be known about it: such owners are left alone);
- **dangling**: no object of that apiVersion/kind/name has the reference's uid any more;
- **waiting**: the owner exists, is being deleted, and has the `foregroundDeletion` finalizer.

An owner being deleted with the `orphan` finalizer is **orphaning**: its dependents drop their
references to it (Kubernetes' owner does that for its dependents; here each dependent does it for
itself, so the work spreads over the collector's workers), and the owner loses the finalizer once
no dependent references it. Then, for the rest:

- no references: nothing;
- some solid: keep the object, but drop the dangling and waiting references;
- none solid, some waiting, and the object has dependents itself: delete it Foreground, so the
  cascade goes on below it while its owner waits;
- otherwise delete it, with the policy its own finalizers ask for (`orphan`: Orphan,
  `foregroundDeletion`: Foreground), else Background.

An owner being deleted with `foregroundDeletion` keeps the finalizer until no dependent with
`blockOwnerDeletion: true` is left. The controller (`garbage_collector.py`) does the I/O around these.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from minik8s.api.ownership import FOREGROUND_FINALIZER, ORPHAN_FINALIZER, finalizers, owner_references

Obj = dict[str, Any]


class OwnerState(enum.Enum):
    """What is known of the owner one reference names."""

    PRESENT = "present"  # exists (with that uid) and is not waiting for its dependents
    ABSENT = "absent"  # verified gone: no object with that uid under that apiVersion/kind/name
    WAITING = "waiting"  # exists, being deleted with `foregroundDeletion`: its dependents go first
    ORPHANING = "orphaning"  # exists, being deleted with `orphan`: its dependents let go of it
    UNKNOWN_KIND = "unknown-kind"  # minik8s does not serve the kind: left alone


class Verb(enum.Enum):
    """What to do with a dependent."""

    NOTHING = "nothing"
    REMOVE_REFERENCES = "remove-references"
    DELETE = "delete"


@dataclass(frozen=True)
class Decision:
    """The outcome of `decide`: the verb, the uids of the references to remove, or the policy to delete with."""

    verb: Verb
    uids: frozenset[str] = field(default_factory=frozenset)
    policy: str | None = None


NOTHING = Decision(Verb.NOTHING)


def state_of(owner: Obj) -> OwnerState:
    """PRESENT, ORPHANING or WAITING for an owner that exists."""
    if not (owner.get("metadata") or {}).get("deletionTimestamp"):
        return OwnerState.PRESENT
    found = finalizers(owner)
    if ORPHAN_FINALIZER in found:
        return OwnerState.ORPHANING
    return OwnerState.WAITING if FOREGROUND_FINALIZER in found else OwnerState.PRESENT


def deletion_policy(obj: Obj) -> str:
    """The propagation policy to delete `obj` with: what its own finalizers ask for, else Background."""
    found = finalizers(obj)
    if ORPHAN_FINALIZER in found:
        return "Orphan"
    if FOREGROUND_FINALIZER in found:
        return "Foreground"
    return "Background"


def decide(obj: Obj, states: dict[str, OwnerState], *, has_dependents: bool) -> Decision:
    """What to do with `obj` (not being deleted) given the state of each owner uid it references."""
    refs = owner_references(obj)
    if not refs:
        return NOTHING
    by_state: dict[OwnerState, set[str]] = {state: set() for state in OwnerState}
    for ref in refs:
        by_state[states.get(ref["uid"], OwnerState.PRESENT)].add(ref["uid"])
    if by_state[OwnerState.ORPHANING]:  # first let go of those; the rest is decided on the next look
        return Decision(Verb.REMOVE_REFERENCES, frozenset(by_state[OwnerState.ORPHANING]))
    solid = by_state[OwnerState.PRESENT] | by_state[OwnerState.UNKNOWN_KIND]
    gone = by_state[OwnerState.ABSENT] | by_state[OwnerState.WAITING]
    if solid:
        return Decision(Verb.REMOVE_REFERENCES, frozenset(gone)) if gone else NOTHING
    if by_state[OwnerState.WAITING] and has_dependents:
        return Decision(Verb.DELETE, policy="Foreground")
    return Decision(Verb.DELETE, policy=deletion_policy(obj))


def finalizer_to_drop(owner: Obj, dependents: list[Obj]) -> str | None:
    """The finalizer the collector removes from `owner` (being deleted), given the objects that
    reference it: `orphan` once none is left, `foregroundDeletion` once none blocks; else None."""
    found = finalizers(owner)
    if ORPHAN_FINALIZER in found:
        return None if dependents else ORPHAN_FINALIZER
    if FOREGROUND_FINALIZER in found:
        uid = (owner.get("metadata") or {}).get("uid") or ""
        return None if blocking(dependents, uid) else FOREGROUND_FINALIZER
    return None


def reference_to(dependent: Obj, owner_uid: str) -> Obj | None:
    """`dependent`'s owner reference to `owner_uid`, or None."""
    return next((ref for ref in owner_references(dependent) if ref["uid"] == owner_uid), None)


def blocking(dependents: list[Obj], owner_uid: str) -> list[Obj]:
    """The dependents that hold a foreground deletion of `owner_uid` (`blockOwnerDeletion: true`)."""
    return [d for d in dependents if ((reference_to(d, owner_uid) or {}).get("blockOwnerDeletion") is True)]


def references_owner(dependent: Obj, owner: Obj) -> bool:
    """Whether `dependent` references `owner` in a way that resolves to it: same uid and name, and,
    for a namespaced dependent of a namespaced owner, the same namespace (a cluster-scoped
    dependent can only have cluster-scoped owners)."""
    owner_meta = owner.get("metadata") or {}
    ref = reference_to(dependent, owner_meta.get("uid") or "")
    if ref is None or ref["name"] != owner_meta.get("name"):
        return False
    owner_ns = owner_meta.get("namespace")
    return owner_ns is None or owner_ns == (dependent.get("metadata") or {}).get("namespace")
