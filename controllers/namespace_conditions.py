"""The status conditions of a terminating namespace, as Kubernetes' namespace controller sets them.

Mirrors `pkg/controller/namespace/deletion/status_condition_utils.go`: one pass of the deletion
produces a `DeletionReport`; every one of the five condition types is then set, True with what
went wrong or what remains, or False with its "all is well" reason and message. A condition's
`lastTransitionTime` changes only when its status does. Pure functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]

DISCOVERY_FAILURE = "NamespaceDeletionDiscoveryFailure"
GROUP_VERSION_PARSING_FAILURE = "NamespaceDeletionGroupVersionParsingFailure"
CONTENT_FAILURE = "NamespaceDeletionContentFailure"
CONTENT_REMAINING = "NamespaceContentRemaining"
FINALIZERS_REMAINING = "NamespaceFinalizersRemaining"

CONDITION_TYPES = (DISCOVERY_FAILURE, GROUP_VERSION_PARSING_FAILURE, CONTENT_FAILURE, CONTENT_REMAINING,
                   FINALIZERS_REMAINING)

# (reason, message) of each condition type when nothing is wrong
_OK: dict[str, tuple[str, str]] = {
    DISCOVERY_FAILURE: ("ResourcesDiscovered", "All resources successfully discovered"),
    GROUP_VERSION_PARSING_FAILURE: ("ParsedGroupVersions", "All legacy kube types successfully parsed"),
    CONTENT_FAILURE: ("ContentDeleted", "All content successfully deleted, may be waiting on finalization"),
    CONTENT_REMAINING: ("ContentRemoved", "All content successfully removed"),
    FINALIZERS_REMAINING: ("ContentRemoved", "All content successfully removed"),
}


@dataclass
class DeletionReport:
    """What one pass over a terminating namespace found."""

    discovery_failures: dict[str, str] = field(default_factory=dict)  # group-version -> error
    parse_errors: list[str] = field(default_factory=list)
    content_errors: list[str] = field(default_factory=list)
    remaining: dict[str, int] = field(default_factory=dict)  # "<resource>.<group>" -> objects left
    finalizers_remaining: dict[str, int] = field(default_factory=dict)  # finalizer -> objects it holds

    @property
    def failed(self) -> bool:
        """Whether anything went wrong (as opposed to content still going away)."""
        return bool(self.discovery_failures or self.parse_errors or self.content_errors)


def failure_conditions(report: DeletionReport) -> dict[str, tuple[str, str]]:
    """The condition types that are True for `report`, each with its (reason, message)."""
    found: dict[str, tuple[str, str]] = {}
    if report.discovery_failures:
        groups = sorted(f"{gv}: {err}" for gv, err in report.discovery_failures.items())
        found[DISCOVERY_FAILURE] = ("DiscoveryFailed", f"Discovery failed for some groups, {len(groups)} failing: "
                                    f"unable to retrieve the complete list of server APIs: {', '.join(groups)}")
    if report.parse_errors:
        found[GROUP_VERSION_PARSING_FAILURE] = ("GroupVersionParsingFailed", report.parse_errors[0])
    if report.content_errors:
        errors = sorted(report.content_errors)
        found[CONTENT_FAILURE] = ("ContentDeletionFailed", f"Failed to delete all resource types, {len(errors)} "
                                  f"remaining: {', '.join(errors)}")
    remaining = sorted(f"{resource} has {n} resource instances" for resource, n in report.remaining.items() if n)
    if remaining:
        found[CONTENT_REMAINING] = ("SomeResourcesRemain", f"Some resources are remaining: {', '.join(remaining)}")
    held = sorted(f"{name} in {n} resource instances" for name, n in report.finalizers_remaining.items() if n)
    if held:
        found[FINALIZERS_REMAINING] = ("SomeFinalizerRemain", f"Some finalizers are remaining: {', '.join(held)}")
    return found


def updated_conditions(existing: list[Obj], report: DeletionReport, *, now: str) -> list[Obj] | None:
    """`existing` conditions with all five types set for `report` (others kept), or None when
    nothing changed. `now` (RFC 3339) stamps conditions that are new or changed status."""
    failing = failure_conditions(report)
    out = [dict(c) for c in existing if isinstance(c, dict)]
    changed = False
    for kind in CONDITION_TYPES:
        status = "True" if kind in failing else "False"
        reason, message = failing.get(kind) or _OK[kind]
        current = next((c for c in out if c.get("type") == kind), None)
        if current is None:
            out.append({"type": kind, "status": status, "lastTransitionTime": now, "reason": reason,
                        "message": message})
            changed = True
        elif (current.get("status"), current.get("reason"), current.get("message")) != (status, reason, message):
            if current.get("status") != status:
                current["lastTransitionTime"] = now
            current.update(status=status, reason=reason, message=message)
            changed = True
    return out if changed else None
