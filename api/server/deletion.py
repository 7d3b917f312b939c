"""What a DELETE does to an object, decided before anything is written.

The API server never carries out a cascade: like kube-apiserver's generic store
(`rest.BeforeDelete`, `deletionFinalizersForGarbageCollection`, `markAsDeleting`) it only decides,
from the object, its kind's strategy and the `DeleteOptions`, whether to

- keep the object as it is (a graceful deletion already in progress that the request cannot shorten),
- mark it (set `deletionTimestamp`, and `deletionGracePeriodSeconds` for graceful kinds, and add the
  garbage collector's `orphan` or `foregroundDeletion` finalizer), leaving the rest to whoever
  handles the mark (the node agent for pods, the garbage collector for dependents, the namespace
  controller for a namespace's content), or
- remove it now.

`finished` says when a marked object may go: every finalizer gone and no grace period left to wait.
The registry removes such an object on the write that made it so. Everything here is pure.
"""

from __future__ import annotations

import copy
import enum
from dataclasses import dataclass
from typing import Any

from minik8s.api.kinds import Strategy
from minik8s.api.ownership import FOREGROUND_FINALIZER, ORPHAN_FINALIZER
from minik8s.api.kinds.strategy import bump_generation
from minik8s.api.timefmt import format_time, parse_time

Obj = dict[str, Any]

ORPHAN = ORPHAN_FINALIZER  # the garbage collector orphans the dependents first
FOREGROUND = FOREGROUND_FINALIZER  # the dependents go first


class Action(enum.Enum):
    """What the registry does with the object."""

    KEEP = "keep"  # nothing to write: answer with the object as stored
    MARK = "mark"  # store `DeletePlan.object` (marked for deletion); someone else finishes
    NOW = "now"  # remove it from the store


@dataclass(frozen=True)
class DeletePlan:
    """The outcome of `plan_delete`: the action and, for MARK, the object to store."""

    action: Action
    object: Obj | None = None


def propagation_policy(options: Obj) -> str | None:
    """The policy the options ask for: `Orphan`, `Background`, `Foreground`, or None (the object's own
    finalizers, else the kind's default, decide). The deprecated `orphanDependents` maps to Orphan
    (true) or Background (false)."""
    orphan = options.get("orphanDependents")
    if orphan is not None:
        return "Orphan" if orphan else "Background"
    return options.get("propagationPolicy")


def gc_finalizers(finalizers: list[str], options: Obj) -> list[str]:
    """The finalizers `finalizers` should have after a DELETE with `options`.

    An explicit policy wins: Orphan adds `orphan`, Foreground adds `foregroundDeletion`, and each
    removes the other; Background removes both. Without one, a finalizer the object already has
    stays. Every kind here defaults to Background (no finalizer). The list is returned unchanged
    (the same order) when the set does not change.
    """
    policy = propagation_policy(options)
    if policy == "Orphan":
        orphan, foreground = True, False
    elif policy == "Foreground":
        orphan, foreground = False, True
    elif policy == "Background":
        orphan = foreground = False
    else:
        orphan, foreground = ORPHAN in finalizers, FOREGROUND in finalizers
    wanted = [f for f in finalizers if f not in (ORPHAN, FOREGROUND)]
    wanted += [ORPHAN] * orphan + [FOREGROUND] * foreground
    return finalizers if set(wanted) == set(finalizers) else wanted


def plan_delete(strategy: Strategy, obj: Obj, options: Obj, *, now: float) -> DeletePlan:
    """What a DELETE with `options` does to `obj` (as stored) at epoch time `now`.

    A graceful kind (a pod bound to a node) is marked with its grace period; a graceful deletion
    in progress only ever gets shorter, and a request that cannot shorten it changes nothing (not
    even the finalizers). An object left
    with finalizers, or with something else holding it (a namespace's `spec.finalizers`), is marked
    as deleting by its strategy. Anything else is removed now.
    """
    out = copy.deepcopy(obj)
    meta = out["metadata"]
    grace = options.get("gracePeriodSeconds")
    if grace is not None and grace < 0:
        grace = 1  # as kube-apiserver: a negative grace period means one second
    graceful = False
    current = meta.get("deletionGracePeriodSeconds")
    if meta.get("deletionTimestamp"):
        if isinstance(current, int) and current > 0:  # a graceful deletion is in progress
            if grace is None or grace >= current:
                return DeletePlan(Action.KEEP)
            started = parse_time(meta["deletionTimestamp"])
            deadline = (started.timestamp() if started else now + current) - current + grace
            meta["deletionTimestamp"] = format_time(deadline)
            meta["deletionGracePeriodSeconds"] = grace
            graceful = True
    elif strategy.graceful_deletion(obj):
        period = strategy.default_grace_period(obj) if grace is None else grace
        if period > 0:
            meta["deletionTimestamp"] = format_time(now + period)
            meta["deletionGracePeriodSeconds"] = period
            bump_generation(meta)
            graceful = True
    finalizers = gc_finalizers(list(meta.get("finalizers") or []), options)
    if finalizers:
        meta["finalizers"] = finalizers
    else:
        meta.pop("finalizers", None)
    held = bool(finalizers) or strategy.pending_finalization(out)
    if graceful:
        if meta["deletionGracePeriodSeconds"] == 0 and not held:
            return DeletePlan(Action.NOW)
        return DeletePlan(Action.MARK, out)
    if not held:
        return DeletePlan(Action.NOW)
    strategy.mark_deleting(out, now=now)
    return DeletePlan(Action.KEEP) if out == obj else DeletePlan(Action.MARK, out)


def finished(strategy: Strategy, obj: Obj) -> bool:
    """Whether `obj`, marked for deletion, may be removed now: no finalizer is left, nothing else
    holds it, and no grace period is running (kube-apiserver's `ShouldDeleteDuringUpdate`)."""
    meta = obj.get("metadata") or {}
    if not meta.get("deletionTimestamp") or meta.get("finalizers") or strategy.pending_finalization(obj):
        return False
    return meta.get("deletionGracePeriodSeconds") in (None, 0)

