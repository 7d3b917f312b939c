"""Checkers of the pod chaos run: pods never run twice, and the cluster converges after healing.

Pure functions over what the run observed, so each is tested on synthetic data:

- a `RuntimeSample` is what actually ran on each node at one moment: the UIDs of the pods whose
  containers had processes in the node's cgroups (read from the machine, not from the API);
- `bindings` is every pod UID's `spec.nodeName` as the API showed it (a set: it must never change);
- the history is the churn workload's `chaos.history.Op` list: creates and deletes of bare pods
  (key = pod name, names never reused) and scales of the Deployment (kind "update", key
  `deployment/<name>`, value = the replicas asked for).

Checkers, each returning a report entry (`verdict` ok|violation, `summary`, `examples`):

- `check_exclusive`: no pod UID runs on two nodes in the same sample, none runs on a node other
  than the one it is bound to, and no pod is ever bound to two nodes;
- `check_deployment`: the Deployment's `spec.replicas` is a value a scale may have left last, it
  has exactly that many active pods, all Running and Ready, none terminating, and its status says so;
- `check_bare_pods`: each bare pod whose create was acknowledged and that was never deleted exists
  and runs (none vanished), each deleted one is gone, and no bare pod exists that nobody created;
- `check_runtime`: each running pod of the API runs on its node, and nothing else runs on any node
  (no leftover processes of a deleted pod).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .history import Op

Obj = dict[str, Any]
Check = dict[str, Any]
EXAMPLES = 10  # examples a report entry keeps per checker
PRESENT, ABSENT, EITHER = "present", "absent", "either"


@dataclass(frozen=True)
class RuntimeSample:
    """What ran on each node at `at` (seconds since the run began): node -> {pod uid: "namespace/name"}."""

    at: float
    running: Mapping[str, Mapping[str, str]]


def _entry(violations: list[str], summary: str) -> Check:
    return {"verdict": "violation" if violations else "ok",
            "summary": summary + (f"; {len(violations)} violation(s)" if violations else ""),
            "examples": violations[:EXAMPLES]}


def check_exclusive(samples: Iterable[RuntimeSample], bindings: Mapping[str, set[str]]) -> Check:
    """No pod on two nodes in one sample, none on a node it is not bound to, none bound to two nodes."""
    violations = [f"pod uid {uid} bound to {sorted(nodes)}" for uid, nodes in bindings.items() if len(nodes) > 1]
    count, seen, unverified = 0, set(), set()
    for sample in samples:
        count += 1
        where: dict[str, list[str]] = {}
        for node, pods in sample.running.items():
            for uid, name in pods.items():
                where.setdefault(uid, []).append(node)
                seen.add(uid)
                bound = bindings.get(uid)
                if not bound:
                    unverified.add(uid)
                elif node not in bound:
                    violations.append(f"at {sample.at:.2f}s pod {name} ({uid}) runs on {node}, bound to "
                                      f"{'/'.join(sorted(bound))}")
        for uid, nodes in where.items():
            if len(nodes) > 1:
                name = next(pods[uid] for pods in sample.running.values() if uid in pods)
                violations.append(f"at {sample.at:.2f}s pod {name} ({uid}) runs on {len(nodes)} nodes: "
                                  f"{', '.join(sorted(nodes))}")
    return _entry(violations, f"{count} samples of what runs on each node, {len(seen)} pods seen running"
                              f" ({len(unverified)} never seen bound in the API)")


# -- what the history leaves --------------------------------------------------------------------


def bare_pod_expectations(history: Iterable[Op]) -> tuple[dict[str, str], list[str]]:
    """Each bare pod's expected end (present, absent, either) and the pods that vanished.

    A pod is absent once a delete of it was acknowledged; either when a delete or its create got
    no answer; present when its create was acknowledged and it was never deleted. A delete answered
    NotFound for a pod whose create was acknowledged, and that no earlier delete may have removed,
    is a pod that vanished.
    """
    by_name: dict[str, list[Op]] = {}
    for op in history:
        if op.kind in ("create", "delete") and not op.key.startswith("deployment/"):
            by_name.setdefault(op.key, []).append(op)
    expected, vanished = {}, []
    for name, ops in by_name.items():
        ops.sort(key=lambda op: op.invoke)
        created = any(op.kind == "create" and op.outcome == "ok" for op in ops)
        maybe_created = any(op.kind == "create" and op.outcome == "unknown" for op in ops)
        deleted = any(op.kind == "delete" and op.outcome == "ok" for op in ops)
        maybe_deleted = False
        for op in ops:
            if op.kind != "delete":
                continue
            if op.outcome == "fail" and op.error == "NotFound":
                deleted = True
                if created and not maybe_deleted:
                    vanished.append(f"{name}: created (acknowledged), never deleted, then NotFound "
                                    f"({op.describe()})")
            maybe_deleted = maybe_deleted or op.outcome == "unknown"
        expected[name] = (ABSENT if deleted else EITHER if maybe_deleted or (maybe_created and not created)
                          else PRESENT if created else ABSENT)
    return expected, vanished


def replica_candidates(history: Iterable[Op], deployment: str, initial: int) -> set[int]:
    """The replica counts the Deployment may hold after the history: those of the scales (answered
    or not) that no acknowledged scale sent after their answer overwrote; the initial count if no
    scale was acknowledged."""
    scales = [op for op in history if op.kind == "update" and op.key == f"deployment/{deployment}"
              and op.outcome in ("ok", "unknown") and op.value is not None]
    acked = [op for op in scales if op.outcome == "ok"]
    candidates = {int(op.value) for op in scales  # type: ignore[arg-type]
                  if op.complete is None or not any(later.invoke > op.complete for later in acked)}
    return candidates if acked else candidates | {initial}


# -- the state after healing --------------------------------------------------------------------


def terminating(pod: Obj) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp"))


def running_ready(pod: Obj) -> bool:
    """Phase Running and the Ready condition True."""
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def _pod_line(pod: Obj) -> str:
    status = pod.get("status") or {}
    return (f"{pod['metadata']['name']} on {pod['spec'].get('nodeName') or '(unbound)'}: phase "
            f"{status.get('phase')}, {'ready' if running_ready(pod) else 'not ready'}"
            f"{', terminating' if terminating(pod) else ''}")


def check_deployment(deployment: Obj | None, pods: Iterable[Obj], history: Iterable[Op], *, app: str,
                     initial: int) -> Check:
    """The Deployment has exactly `spec.replicas` pods, all Running and Ready, and says so (see module doc)."""
    if deployment is None:
        return _entry([f"Deployment {app} is gone"], "no Deployment")
    want = int(deployment["spec"].get("replicas", 1))
    violations = []
    candidates = replica_candidates(history, app, initial)
    if want not in candidates:
        violations.append(f"spec.replicas is {want}, not one a scale may have left last: {sorted(candidates)}")
    own = [p for p in pods if (p["metadata"].get("labels") or {}).get("app") == app]
    active = [p for p in own if not terminating(p) and (p.get("status") or {}).get("phase") not in
              ("Succeeded", "Failed")]
    ready = [p for p in active if running_ready(p)]
    if len(active) != want or len(ready) != want:
        violations.append(f"{len(active)} active pods, {len(ready)} Running and Ready, want {want}: "
                          + "; ".join(_pod_line(p) for p in own))
    violations += [f"pod still terminating: {_pod_line(p)}" for p in own if terminating(p)]
    status = deployment.get("status") or {}
    if status.get("observedGeneration") != deployment["metadata"].get("generation"):
        violations.append(f"status.observedGeneration {status.get('observedGeneration')} != generation "
                          f"{deployment['metadata'].get('generation')}")
    for field in ("replicas", "readyReplicas"):
        if status.get(field, 0) != want:
            violations.append(f"status.{field} is {status.get(field, 0)}, want {want}")
    return _entry(violations, f"spec.replicas {want}: {len(ready)} pods Running and Ready "
                              f"({len(candidates)} value(s) the scales may have left)")


def check_bare_pods(pods: Iterable[Obj], history: Iterable[Op]) -> Check:
    """Bare pods: acknowledged and never deleted ones run, deleted ones are gone (see module doc)."""
    expected, violations = bare_pod_expectations(history)
    live = {p["metadata"]["name"]: p for p in pods}
    counts = {PRESENT: 0, ABSENT: 0, EITHER: 0}
    for name, expectation in sorted(expected.items()):
        counts[expectation] += 1
        pod = live.pop(name, None)
        if expectation == ABSENT and pod is not None:
            violations.append(f"{name}: should be gone (deleted, or its create refused), but {_pod_line(pod)}")
        elif expectation == PRESENT and pod is None:
            violations.append(f"{name}: created and never deleted, but gone")
        elif pod is not None and (terminating(pod) or not running_ready(pod)):
            violations.append(f"{name}: expected {expectation}, but {_pod_line(pod)}")
    violations += [f"{name}: exists, but no client created it" for name in sorted(live)]
    return _entry(violations, f"{counts[PRESENT]} bare pods expected running, {counts[ABSENT]} gone, "
                              f"{counts[EITHER]} either (an operation without an answer)")


def check_runtime(pods: Iterable[Obj], sample: RuntimeSample) -> Check:
    """Every running, not terminating API pod runs on its node; nothing else runs anywhere."""
    wanted = {p["metadata"]["uid"]: (p["spec"].get("nodeName"), f"{p['metadata']['namespace']}/"
                                     f"{p['metadata']['name']}")
              for p in pods if not terminating(p) and (p.get("status") or {}).get("phase") == "Running"}
    violations = []
    for uid, (node, name) in sorted(wanted.items(), key=lambda item: item[1][1]):
        if uid not in sample.running.get(node or "", {}):
            violations.append(f"pod {name} ({uid}) is Running on {node} in the API, but no process of it runs there")
    leftovers = 0
    for node, running in sorted(sample.running.items()):
        for uid, name in sorted(running.items()):
            if uid not in wanted:
                leftovers += 1
                violations.append(f"pod {name} ({uid}) still has processes on {node}, "
                                  f"but is no Running pod in the API")
    return _entry(violations, f"{len(wanted)} pods Running in the API, "
                              f"{sum(len(r) for r in sample.running.values())} running on the nodes, "
                              f"{leftovers} leftover")
