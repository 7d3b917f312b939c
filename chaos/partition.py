"""Scenario: the leader cut off from the other masters, alone in the minority (issue 14, item 4).

`run_leader_partition(root)` starts three masters in network namespaces of their own
(`MasterSet(network=True)`), runs the register workload through every master and watchers that
move between masters, then drops all traffic between the leader and the two others
(`MasterNet.partition`). While the cut holds, a second register workload talks to the old
leader only, with a client timeout longer than the masters' 10 s write timeout, so that each of
its operations ends with the old leader's own answer. Then the minority's clients stop, the
network heals, and everything is checked:

- `minority writes`: no write sent to the old leader during the cut was acknowledged;
- `minority reads`: its reads that claim to be linearizable (no `resourceVersion`) were refused
  or answered; the answered ones are in the history, so `linearizability` says whether they were
  correct;
- the run's checkers over the whole history (both workloads): linearizability, watch,
  durability, and convergence (every member's store digest equal at one revision after healing).

A new leader must be elected on the majority side while the cut holds (`election` says when).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from minik8s.api.client import ApiClient

from .history import Op
from .masters import MasterSet
from .node_failure import poll_until
from .run import check_convergence, check_history, final_state, wait_watchers
from .workload import OP_TIMEOUT, RegisterWorkload, WatchWorkload, ensure_namespace

MINORITY_TIMEOUT = 15.0  # seconds a minority client waits: longer than the masters' write timeout (10 s)


def run_leader_partition(root: Path, *, hold: float = 12.0, seed: int = 1, keys: int = 3,
                         budget: float = 30.0) -> dict[str, Any]:
    """Run the scenario (see the module docstring) and return its report: timeline and checks."""
    started = time.monotonic()
    timeline: list[dict[str, Any]] = []

    def note(what: str) -> None:
        timeline.append({"at": round(time.monotonic() - started, 3), "what": what})

    masters = MasterSet(root, 3, network=True)
    try:
        masters.start()
        masters.wait_ready(timeout=60)
        admin = ApiClient(masters.urls, token=masters.token, timeout=10)
        ensure_namespace(admin)
        watches = WatchWorkload(masters.urls, masters.token, watchers=3, seed=seed)
        everywhere = RegisterWorkload(masters.urls, masters.token, clients=3, keys=keys, seed=seed)
        watches.start()
        everywhere.start()
        if not poll_until(lambda: sum(op.outcome == "ok" and op.kind != "read" for op in everywhere.history) >= 10,
                          30):
            raise RuntimeError("the workload made no progress before the partition")
        leader = masters.leader_index()
        if leader is None:
            raise RuntimeError("no leader before the partition")
        others = [i for i in range(3) if i != leader]
        masters.net.partition([{leader}, set(others)])  # type: ignore[union-attr]
        cut_at = time.monotonic()
        note(f"partition [{masters.members[leader].name}] | "
             f"[{' '.join(masters.members[i].name for i in others)}]: the leader alone")
        minority = RegisterWorkload([masters.members[leader].url], masters.token, clients=6, keys=keys,
                                    seed=seed + 1, first_process=100, op_timeout=MINORITY_TIMEOUT)
        minority.start()
        poll_until(lambda: _new_leader(masters, others) is not None, 30)
        elected = _new_leader(masters, others)
        if elected is None:
            raise RuntimeError("no leader elected on the majority side")
        note(f"{masters.members[elected].name} leads the majority ({time.monotonic() - cut_at:.2f} s after the cut)")
        time.sleep(max(0.0, hold - (time.monotonic() - cut_at)))  # the fault itself lasts this long
        minority.stop()  # its answers all come while the cut holds
        note("the minority's clients stopped")
        masters.net.heal()  # type: ignore[union-attr]
        note("heal the network")
        masters.wait_ready(timeout=60)
        time.sleep(2.0)  # some traffic after healing, through every master
        everywhere.stop()
        history = [dataclasses.replace(op, id=i) for i, op in enumerate(everywhere.history + minority.history)]
        final, revision = final_state(admin, keys)
        wait_watchers(watches, revision)
        watches.stop()
        convergence = check_convergence(masters)
        checks = {"minority writes": _minority_writes(minority.history),
                  "minority reads": _minority_reads(minority)}
        checks |= check_history(history, watches, final, convergence, budget)
        admin.close()
        return {"leader": masters.members[leader].name, "elected": masters.members[elected].name,
                "timeline": timeline, "operations": len(history), "minority operations": len(minority.history),
                "checks": checks, "ok": all(c["verdict"] == "ok" for c in checks.values()),
                "elapsed": round(time.monotonic() - started, 1)}
    finally:
        masters.stop()


def _new_leader(masters: MasterSet, candidates: list[int]) -> int | None:
    for index in candidates:
        status = masters.status(index, timeout=OP_TIMEOUT)
        if status and status.get("role") == "leader":
            return index
    return None


def _minority_writes(history: list[Op]) -> dict[str, Any]:
    writes = [op for op in history if op.kind != "read"]
    acked = [op for op in writes if op.outcome == "ok"]
    outcomes: dict[str, int] = {}
    for op in writes:
        label = f"{op.outcome} ({op.error})" if op.error else op.outcome
        outcomes[label] = outcomes.get(label, 0) + 1
    return {"verdict": "ok" if not acked and writes else "violation",
            "summary": f"{len(writes)} writes sent to the old leader: " + ", ".join(f"{k} {v}" for k, v in
                                                                                 sorted(outcomes.items())),
            "examples": [op.describe() for op in acked[:5]]}


def _minority_reads(minority: RegisterWorkload) -> dict[str, Any]:
    answered = sum(1 for op in minority.history if op.kind == "read")
    refused = dict(minority.unanswered_reads)
    return {"verdict": "ok" if answered or refused else "violation",
            "summary": f"{answered} linearizable reads answered by the old leader (checked with the history), "
                       f"refused or unanswered: " + (", ".join(f"{k} {v}" for k, v in sorted(refused.items()))
                                                      or "none")}
