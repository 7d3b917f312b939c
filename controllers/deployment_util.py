"""Deployment arithmetic and bookkeeping (pure): Kubernetes' `pkg/controller/deployment/util`.

- surge and unavailability: `maxSurge` rounds *up* and `maxUnavailable` rounds *down* from a
  percentage of `spec.replicas` (`GetScaledValueFromIntOrPercent`); when both resolve to 0,
  one pod may be unavailable (`ResolveFenceposts`);
- which ReplicaSet is new (the oldest whose template equals the Deployment's, ignoring the
  hash) and which are old; replica counts summed over ReplicaSets;
- the annotations a Deployment keeps on its ReplicaSets: `revision` (and `revision-history`
  when an old ReplicaSet becomes new again), `desired-replicas` and `max-replicas`, and the
  Deployment's own annotations copied to the new ReplicaSet;
- proportional scaling: how a scaling event during a rollout (or while paused) is shared among
  the active ReplicaSets (`GetReplicaSetProportion`);
- the orders Kubernetes sorts ReplicaSets in.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from typing import Any

from minik8s.api.timefmt import parse_time
from minik8s.api.workloads import (
    ANNOTATIONS_NOT_COPIED, DESIRED_REPLICAS_ANNOTATION, MAX_REPLICAS_ANNOTATION, REVISION_ANNOTATION,
    REVISION_HISTORY_ANNOTATION, equal_ignoring_hash, revision,
)

Obj = dict[str, Any]

MAX_REVISION_HISTORY_CHARS = 2000  # longest revision-history annotation (Kubernetes' maxRevHistoryLengthInChars)
NO_PROGRESS_DEADLINE = 2**31 - 1  # progressDeadlineSeconds meaning "never" (math.MaxInt32)

# -- replicas and the rolling-update fenceposts ---------------------------------------------------


def spec_replicas(obj: Obj | None) -> int:
    """`spec.replicas` (1 when unset, as the API defaults it; 0 for no object)."""
    if obj is None:
        return 0
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def scaled_value(value: int | str | None, total: int, *, round_up: bool) -> int:
    """An int-or-percent (`3`, `"25%"`) as a number of pods out of `total` (Kubernetes'
    `GetScaledValueFromIntOrPercent`); ValueError for a string that is not a percentage."""
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.endswith("%") and value[:-1].isdigit():
        exact = int(value[:-1]) * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    raise ValueError(f"invalid value for IntOrString: {value!r} is not an integer or a percentage")


def resolve_fenceposts(max_surge: int | str | None, max_unavailable: int | str | None, desired: int) -> tuple[int, int]:
    """(surge, unavailable) for `desired` replicas; 0 and 0 become 0 and 1."""
    surge = scaled_value(0 if max_surge is None else max_surge, desired, round_up=True)
    unavailable = scaled_value(0 if max_unavailable is None else max_unavailable, desired, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def is_rolling_update(d: Obj) -> bool:
    """The Deployment's strategy is RollingUpdate (the default)."""
    return ((d.get("spec") or {}).get("strategy") or {}).get("type", "RollingUpdate") == "RollingUpdate"


def _rolling(d: Obj) -> Obj:
    return (((d.get("spec") or {}).get("strategy") or {}).get("rollingUpdate")) or {}


def max_surge(d: Obj) -> int:
    """How many pods above `spec.replicas` a rolling update may run (0 for Recreate)."""
    if not is_rolling_update(d):
        return 0
    rolling = _rolling(d)
    return resolve_fenceposts(rolling.get("maxSurge", "25%"), rolling.get("maxUnavailable", "25%"),
                              spec_replicas(d))[0]


def max_unavailable(d: Obj) -> int:
    """How many of `spec.replicas` may be unavailable during a rolling update (0 for Recreate or 0 replicas)."""
    replicas = spec_replicas(d)
    if not is_rolling_update(d) or replicas == 0:
        return 0
    rolling = _rolling(d)
    unavailable = resolve_fenceposts(rolling.get("maxSurge", "25%"), rolling.get("maxUnavailable", "25%"),
                                     replicas)[1]
    return min(unavailable, replicas)


# -- counting over ReplicaSets ------------------------------------------------------------------


def replica_count(rss: Iterable[Obj | None]) -> int:
    """The sum of `spec.replicas` (Kubernetes' `GetReplicaCountForReplicaSets`)."""
    return sum(spec_replicas(rs) for rs in rss if rs is not None)


def status_count(rss: Iterable[Obj | None], field: str) -> int:
    """The sum of a `status` count (`replicas`, `readyReplicas`, `availableReplicas`)."""
    return sum(int((rs.get("status") or {}).get(field) or 0) for rs in rss if rs is not None)


def active(rss: Iterable[Obj | None]) -> list[Obj]:
    """The ReplicaSets with `spec.replicas` > 0 (`FilterActiveReplicaSets`)."""
    return [rs for rs in rss if rs is not None and spec_replicas(rs) > 0]


# -- orders ---------------------------------------------------------------------------------------


def _created(rs: Obj) -> float:
    stamp = parse_time((rs.get("metadata") or {}).get("creationTimestamp"))
    return stamp.timestamp() if stamp else 0.0


def _name(rs: Obj) -> str:
    return str((rs.get("metadata") or {}).get("name") or "")


def by_creation(rss: Iterable[Obj]) -> list[Obj]:
    """Oldest first, then by name (`ReplicaSetsByCreationTimestamp`)."""
    return sorted(rss, key=lambda rs: (_created(rs), _name(rs)))


def by_size_older(rss: Iterable[Obj]) -> list[Obj]:
    """Largest first; among equals the older first (`ReplicaSetsBySizeOlder`: who scales down first)."""
    return sorted(by_creation(rss), key=lambda rs: -spec_replicas(rs))


def by_size_newer(rss: Iterable[Obj]) -> list[Obj]:
    """Largest first; among equals the newer first (`ReplicaSetsBySizeNewer`: who scales up first)."""
    return sorted(list(reversed(by_creation(rss))), key=lambda rs: -spec_replicas(rs))


def by_revision(rss: Iterable[Obj]) -> list[Obj]:
    """Lowest revision first, then oldest (`ReplicaSetsByRevision`: who is cleaned up first)."""
    def compare(a: Obj, b: Obj) -> int:
        ra, rb = revision(a) or 0, revision(b) or 0
        if ra != rb:
            return -1 if ra < rb else 1
        ka, kb = (_created(a), _name(a)), (_created(b), _name(b))
        return (ka > kb) - (ka < kb)
    return sorted(rss, key=functools.cmp_to_key(compare))


# -- new and old ReplicaSets, revisions -----------------------------------------------------------


def find_new_rs(d: Obj, rss: list[Obj]) -> Obj | None:
    """The oldest ReplicaSet whose template equals the Deployment's (ignoring the hash), or None."""
    template = (d.get("spec") or {}).get("template")
    return next((rs for rs in by_creation(rss) if equal_ignoring_hash((rs.get("spec") or {}).get("template"),
                                                                        template)), None)


def find_old_rss(d: Obj, rss: list[Obj]) -> tuple[list[Obj], list[Obj]]:
    """(old ReplicaSets with replicas, all old ReplicaSets): everything but the new one."""
    new = find_new_rs(d, rss)
    new_uid = (new or {}).get("metadata", {}).get("uid")
    every = [rs for rs in rss if new is None or rs["metadata"].get("uid") != new_uid]
    return [rs for rs in every if spec_replicas(rs) != 0], every


def max_revision(rss: Iterable[Obj]) -> int:
    """The highest revision among `rss` (malformed ones skipped)."""
    return max((r for rs in rss if (r := revision(rs)) is not None), default=0)


def annotations_of(obj: Obj) -> dict[str, str]:
    """The object's annotations (a fresh dict)."""
    return dict((obj.get("metadata") or {}).get("annotations") or {})


def set_new_rs_annotations(d: Obj, rs: Obj, new_revision: int, *, exists: bool) -> bool:
    """Bring the new ReplicaSet `rs` (changed in place) up to date: the Deployment's annotations,
    the revision (raised to `new_revision`, the old one appended to `revision-history`), and for a
    ReplicaSet about to be created the replica annotations; whether anything changed
    (Kubernetes' `SetNewReplicaSetAnnotations`)."""
    annotations = annotations_of(rs)
    changed = False
    for key, value in annotations_of(d).items():
        if key not in ANNOTATIONS_NOT_COPIED and annotations.get(key) != value:
            annotations[key] = value
            changed = True
    old_text = annotations.get(REVISION_ANNOTATION)
    try:
        old_revision = int(old_text) if old_text else 0
    except ValueError:
        return False
    if old_revision < new_revision:
        annotations[REVISION_ANNOTATION] = str(new_revision)
        changed = True
        if old_text is not None:
            annotations[REVISION_HISTORY_ANNOTATION] = _append_history(
                annotations.get(REVISION_HISTORY_ANNOTATION, ""), old_text)
    rs.setdefault("metadata", {})["annotations"] = annotations
    if not exists and set_replicas_annotations(rs, spec_replicas(d), spec_replicas(d) + max_surge(d)):
        changed = True
    return changed


def _append_history(history: str, old: str) -> str:
    """`history,old`, dropping the oldest entries to stay within `MAX_REVISION_HISTORY_CHARS`."""
    if not history:
        return old
    entries = history.split(",")
    total = len(history) + len(old) + 1
    start = 0
    while total > MAX_REVISION_HISTORY_CHARS and start < len(entries):
        total -= len(entries[start]) + 1
        start += 1
    if total > MAX_REVISION_HISTORY_CHARS:
        return history
    return ",".join([*entries[start:], old])


def set_replicas_annotations(rs: Obj, desired: int, maximum: int) -> bool:
    """Set `desired-replicas` and `max-replicas` on `rs` (in place); whether they changed."""
    annotations = annotations_of(rs)
    wanted = {DESIRED_REPLICAS_ANNOTATION: str(desired), MAX_REPLICAS_ANNOTATION: str(maximum)}
    if all(annotations.get(k) == v for k, v in wanted.items()):
        return False
    rs.setdefault("metadata", {})["annotations"] = {**annotations, **wanted}
    return True


def replicas_annotations_need_update(rs: Obj, desired: int, maximum: int) -> bool:
    """Whether `desired-replicas`/`max-replicas` differ from these values."""
    annotations = annotations_of(rs)
    return (annotations.get(DESIRED_REPLICAS_ANNOTATION) != str(desired)
            or annotations.get(MAX_REPLICAS_ANNOTATION) != str(maximum))


def _int_annotation(rs: Obj, key: str) -> int | None:
    try:
        return int(annotations_of(rs)[key])
    except (KeyError, ValueError):
        return None


def desired_replicas(rs: Obj) -> int | None:
    """The `desired-replicas` annotation, or None."""
    return _int_annotation(rs, DESIRED_REPLICAS_ANNOTATION)


# -- scaling events -------------------------------------------------------------------------------


def find_active_or_latest(new_rs: Obj | None, old_rss: list[Obj]) -> Obj | None:
    """The only active ReplicaSet, or the newest when none is active; None when several are."""
    if new_rs is None and not old_rss:
        return None
    newest_first = list(reversed(by_creation(old_rss)))
    live = active([*newest_first, new_rs])
    if not live:
        return new_rs if new_rs is not None else newest_first[0]
    return live[0] if len(live) == 1 else None


def is_saturated(d: Obj, rs: Obj | None) -> bool:
    """The new ReplicaSet runs all `spec.replicas`, all available, for the current size."""
    if rs is None:
        return False
    replicas = spec_replicas(d)
    return (spec_replicas(rs) == replicas and desired_replicas(rs) == replicas
            and int((rs.get("status") or {}).get("availableReplicas") or 0) == replicas)


def replica_set_proportion(rs: Obj, d: Obj, to_add: int, added: int) -> int:
    """How many of the `to_add` replicas (negative: to remove) `rs` takes, `added` being handed out
    already (Kubernetes' `GetReplicaSetProportion`)."""
    if spec_replicas(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    fraction = _fraction(rs, d)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def _fraction(rs: Obj, d: Obj) -> int:
    """`rs`'s share of the Deployment's new size, from the size it had at `max-replicas`."""
    if spec_replicas(d) == 0:
        return -spec_replicas(rs)
    deployment_replicas = spec_replicas(d) + max_surge(d)
    annotated = _int_annotation(rs, MAX_REPLICAS_ANNOTATION)
    if annotated is None:
        annotated = int((d.get("status") or {}).get("replicas") or 0)
    if annotated == 0:
        return 0
    new_size = spec_replicas(rs) * deployment_replicas / annotated
    return _round_half_away(new_size) - spec_replicas(rs)


def _round_half_away(value: float) -> int:
    """Go's `math.Round`: halves away from zero."""
    return int(math.floor(value + 0.5)) if value >= 0 else -int(math.floor(-value + 0.5))


def proportional_sizes(d: Obj, new_rs: Obj | None, old_rss: list[Obj]) -> list[tuple[Obj, int]]:
    """The size every active ReplicaSet gets when a rolling Deployment is scaled while several are
    active (Kubernetes' `scale`): the change shared in proportion, leftovers to the first."""
    rss = active([*old_rss, new_rs])
    allowed = spec_replicas(d) + max_surge(d) if spec_replicas(d) > 0 else 0
    to_add = allowed - replica_count(rss)
    ordered = by_size_newer(rss) if to_add > 0 else by_size_older(rss) if to_add < 0 else rss
    sizes: list[list[Any]] = []
    added = 0
    for rs in ordered:
        proportion = replica_set_proportion(rs, d, to_add, added) if to_add else 0
        sizes.append([rs, spec_replicas(rs) + proportion])
        added += proportion
    if sizes and to_add:
        sizes[0][1] = max(0, sizes[0][1] + to_add - added)
    return [(rs, size) for rs, size in sizes]


def has_progress_deadline(d: Obj) -> bool:
    """`progressDeadlineSeconds` is set and not "never"."""
    deadline = (d.get("spec") or {}).get("progressDeadlineSeconds")
    return deadline is not None and deadline != NO_PROGRESS_DEADLINE
