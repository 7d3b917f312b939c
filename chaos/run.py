"""One chaos run: masters, workloads, seeded nemeses, then every checker, and a report.

`run_chaos(RunSettings(...))` starts `masters` masters in a new directory (`MasterSet`), the register
workload (`clients` clients on `keys` ConfigMaps) and the watch workload, runs the nemesis schedule
for `duration` seconds, heals everything, waits until the masters are ready, and then:

- lets the watchers catch up to the final revision, reads every key's final value, and asks each
  member for its store digest until all members report the same digest at the same revision
  (convergence);
- checks the register history for linearizability (per key), the watch logs against the
  committed history (ordered, unique, gapless, agreeing, accurate), and durability (no
  acknowledged write lost, none applied twice, no phantom value).

The report (`Report.to_json()`, `Report.text()`) has the settings and seed, the fault timeline, the
operation counts, and the verdict of each checker with its examples (for a linearizability
violation, the minimal failing sub-history). The same seed gives the same faults in the same order
and the same operation mix; timing (how the operations interleave with the faults) differs.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from minik8s.api import errors
from minik8s.api.client import ApiClient

from . import durability, linearizability, watchcheck
from .history import Op, to_json
from .masters import MasterSet
from .nemesis import DISK_NEMESES, NEMESES, NETWORK_NEMESES, Schedule
from .resolve import resolve_unknowns, unexplained_deletes
from .workload import NAMESPACE, RegisterWorkload, WatchWorkload, ensure_namespace, key_name

CONVERGE_TIMEOUT = 60.0
HISTORY_IN_REPORT = 20_000  # operations a report carries (a longer one stays in ROOT/history.json)


@dataclass
class RunSettings:
    duration: float = 60.0
    seed: int = 1
    masters: int = 3
    clients: int = 6
    keys: int = 3
    watchers: int = 2
    nemeses: tuple[str, ...] = tuple(NEMESES)
    hold: tuple[float, float] = (0.5, 2.0)
    gap: tuple[float, float] = (0.5, 1.5)
    failpoints: tuple[str, ...] = ()  # deliberate defects in the masters (the self-test)
    root: Path | None = None  # where the masters' data and logs go (a new temp dir by default)
    keep: bool = False  # keep the directory afterwards (always kept when a checker fails)
    checker_budget: float | None = None  # seconds for the linearizability search (default: max(30, duration / 2))


@dataclass
class Report:
    settings: dict[str, Any]
    timeline: list[dict[str, Any]]
    operations: dict[str, int]
    checks: dict[str, dict[str, Any]]
    root: str
    elapsed: float
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.get("verdict") == "ok" for check in self.checks.values())

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"ok": self.ok}

    def text(self) -> str:
        injected = sum(1 for f in self.timeline if f["action"] == "inject")
        lines = [f"chaos run: seed {self.settings['seed']}, {self.settings['duration']:.0f} s, "
                 f"{self.settings['masters']} masters, {injected} faults injected, {self.elapsed:.0f} s in all",
                 "operations: " + ", ".join(f"{k} {v}" for k, v in self.operations.items()), "", "fault timeline:"]
        lines += [f"  {f['at']:8.2f}s  {f['action']:<9} {f['nemesis']:<15} {f['detail']}" for f in self.timeline]
        lines += ["", "checks:"]
        for name, check in self.checks.items():
            lines.append(f"  {name:<18} {check.get('verdict', '?'):<10} {check.get('summary', '')}")
            for example in check.get("examples", [])[:5]:
                lines.append(f"      {example}")
        lines += ["", f"verdict: {'OK' if self.ok else 'FAILED'} (data and logs: {self.root})"]
        return "\n".join(lines)


def run_chaos(settings: RunSettings) -> Report:
    """Run once (see the module docstring)."""
    started = time.monotonic()
    root = settings.root or Path(tempfile.mkdtemp(prefix="minik8s-chaos-"))
    env = {"MINIK8S_FAILPOINTS": ",".join(settings.failpoints)} if settings.failpoints else {}
    masters = MasterSet(root / "cluster", settings.masters, env=env,
                        network=any(name in NETWORK_NEMESES for name in settings.nemeses),
                        lazy_disks=any(name in DISK_NEMESES for name in settings.nemeses))
    report: Report | None = None
    try:
        masters.start()
        masters.wait_ready(timeout=60)
        admin = ApiClient(masters.urls, token=masters.token, timeout=10)
        ensure_namespace(admin)
        registers = RegisterWorkload(masters.urls, masters.token, clients=settings.clients, keys=settings.keys,
                                     seed=settings.seed)
        watches = WatchWorkload(masters.urls, masters.token, watchers=settings.watchers, seed=settings.seed)
        watches.start()
        registers.start()
        schedule = Schedule(masters, settings.seed, names=settings.nemeses, hold=settings.hold, gap=settings.gap)
        stop_at = time.monotonic() + settings.duration
        nemesis_error: list[BaseException] = []

        def nemesis() -> None:
            try:
                schedule.run(stop_at)
            except BaseException as exc:  # noqa: BLE001 - reported with the run
                nemesis_error.append(exc)

        thread = threading.Thread(target=nemesis, name="nemesis", daemon=True)
        thread.start()
        thread.join(settings.duration + 120)
        registers.stop()
        for index in range(len(masters.members)):  # heal whatever is left
            masters.resume(index)
        if masters.net is not None:
            masters.net.heal()
        # the raw history first: a checker that runs long (or a crash) does not lose the run
        (root / "history.json").write_text(to_json(registers.history))
        try:
            masters.start()
            masters.wait_ready(timeout=60)
        except RuntimeError as exc:  # a member that cannot come back is the run's finding, not a crash
            watches.stop()
            checks = {"recovery": {"verdict": "violation", "summary": "the masters did not recover after healing",
                                   "examples": str(exc).splitlines()[:40]}}
        else:
            final, final_revision = final_state(admin, settings.keys)
            wait_watchers(watches, final_revision)
            watches.stop()
            convergence = check_convergence(masters)
            budget = settings.checker_budget or max(30.0, settings.duration / 2)
            checks = check_history(registers.history, watches, final, convergence, budget)
        if nemesis_error:
            checks["nemesis"] = {"verdict": "error", "summary": repr(nemesis_error[0])}
        admin.close()
        report = Report(settings=_settings_json(settings), timeline=[f.to_json() for f in schedule.timeline],
                        operations=_counts(registers.history), checks=checks, root=str(root),
                        elapsed=time.monotonic() - started,
                        history=[_op_json(op) for op in registers.history]
                        if len(registers.history) <= HISTORY_IN_REPORT else [])
        return report
    finally:
        masters.stop()
        if report is not None and report.ok and not settings.keep and settings.root is None:
            shutil.rmtree(root, ignore_errors=True)


def _settings_json(settings: RunSettings) -> dict[str, Any]:
    data = asdict(settings)
    data["root"] = str(settings.root) if settings.root else None
    return data


def _op_json(op: Op) -> dict[str, Any]:
    return asdict(op)


def _counts(history: list[Op]) -> dict[str, int]:
    counts: dict[str, int] = {"total": len(history)}
    for op in history:
        counts[f"{op.kind} {op.outcome}"] = counts.get(f"{op.kind} {op.outcome}", 0) + 1
    return dict(sorted(counts.items()))


def final_state(client: ApiClient, keys: int) -> tuple[dict[str, tuple[str, int] | None], int]:
    """Every key's final value and revision (None: absent), and the namespace's list revision."""
    deadline = time.monotonic() + CONVERGE_TIMEOUT
    while True:
        try:
            listing = client.list("configmaps", namespace=NAMESPACE)
            break
        except errors.ApiError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    found = {item["metadata"]["name"]: ((item.get("data") or {}).get("v"), int(item["metadata"]["resourceVersion"]))
             for item in listing["items"]}
    final = {key_name(i): found.get(key_name(i)) for i in range(keys)}
    return final, int(listing["metadata"]["resourceVersion"])


def wait_watchers(watches: WatchWorkload, revision: int, timeout: float = 30.0) -> None:
    """Give the watchers time to receive everything up to `revision` (their last resume counts too)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = []
        for log in watches.logs:
            revisions = [getattr(e, "revision", None) or getattr(e, "from_revision", 0) for e in log.entries]
            seen.append(max(revisions, default=0))
        if all(r >= revision for r in seen):
            return
        time.sleep(0.2)


def check_convergence(masters: MasterSet) -> dict[str, Any]:
    """Ask every member for its store digest until all agree at one revision (or time runs out)."""
    deadline = time.monotonic() + CONVERGE_TIMEOUT
    last: list[Any] = []
    while time.monotonic() < deadline:
        stores = [(masters.status(i, digest=True) or {}).get("store") for i in range(len(masters.members))]
        last = stores
        if all(stores) and len({(s["digest"], s["revision"]) for s in stores}) == 1:
            return {"verdict": "ok", "summary": f"{len(stores)} members: digest {stores[0]['digest'][:16]} at "
                                                f"revision {stores[0]['revision']}"}
        time.sleep(0.5)
    return {"verdict": "violation", "summary": "members did not converge within "
                                               f"{CONVERGE_TIMEOUT:.0f} s", "examples": [json.dumps(last)]}


def check_history(history: list[Op], watches: WatchWorkload, final: dict[str, tuple[str, int] | None],
                  convergence: dict[str, Any], budget: float) -> dict[str, dict[str, Any]]:
    """Every checker's verdict, summary and examples."""
    seen = _watched(watches)
    # creates and updates with no answer that the watches saw are part of the committed history the
    # watches are checked against; deletes with no answer make their key's unexplained DELETED
    # events uncertain
    settled, happened, dropped = resolve_unknowns(history, seen)
    committed = watchcheck.committed_from_ops(settled)
    watch = watchcheck.check_watches(watches.logs, committed,
                                     uncertain_values=watchcheck.uncertain_values_from_ops(history),
                                     uncertain_revisions=unexplained_deletes(history, seen))
    settled_note = "unknown outcomes kept (the watches are not known complete)"
    checked = history
    if watch.ok and _never_relisted(watches):
        checked = settled
        settled_note = f"{happened} unknown-outcome writes seen by the watches, {dropped} never happened"
    lin = linearizability.check(checked, budget_seconds=budget)
    lin_examples = []
    for result in lin.violations():
        lin_examples.append(f"key {result.key}: minimal failing sub-history ({len(result.minimal)} ops)"
                            f"{'' if result.shrunk else ', not fully shrunk'}:")
        lin_examples += [f"  {op.describe()}" for op in result.minimal]
    durable = durability.check_durability(history, final, seen)
    return {
        "linearizability": {"verdict": lin.verdict, "summary": f"{lin.ops} ops on {len(lin.keys)} keys in "
                                                               f"{lin.elapsed:.2f} s; {settled_note}",
                            "examples": lin_examples},
        "watch": _report_of(watch, f"{watch.events_checked} events of {watch.watchers} watchers"),
        "durability": _report_of(durable, f"{durable.writes_checked} acknowledged writes on "
                                          f"{durable.keys_checked} keys"),
        "convergence": convergence,
    }


def _never_relisted(watches: WatchWorkload) -> bool:
    """Whether every watcher listed only once, at its start (so together they saw every change)."""
    return all(sum(1 for e in log.entries if isinstance(e, watchcheck.Resume) and e.relisted) <= 1
               for log in watches.logs)


def _watched(watches: WatchWorkload) -> list[watchcheck.CommittedChange]:
    """What the watchers saw, as changes (each revision once): durability's view of what was applied."""
    seen: dict[int, watchcheck.CommittedChange] = {}
    for log in watches.logs:
        for entry in log.entries:
            if isinstance(entry, watchcheck.WatchEvent) and entry.type != watchcheck.BOOKMARK:
                seen.setdefault(entry.revision, watchcheck.CommittedChange(entry.revision, entry.key, entry.type,
                                                                           entry.value))
    return [seen[r] for r in sorted(seen)]


def _report_of(report: Any, summary: str) -> dict[str, Any]:
    """A watch or durability report as the run's check entry: the failed checks named, with examples."""
    failed = [check for check in report.checks() if not check.ok]
    examples = []
    for check in failed:
        examples += [f"{check.name}: {json.dumps(example, default=str)}" for example in check.examples[:5]]
    names = ", ".join(check.name for check in failed)
    return {"verdict": "ok" if report.ok else "violation",
            "summary": summary + (f"; failed: {names}" if failed else ""), "examples": examples,
            "detail": report.to_json()}
