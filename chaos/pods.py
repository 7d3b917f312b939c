"""The pod chaos run: pods churn on a `minik8s up` cluster while node agents, links and masters fail.

`run_pod_chaos(PodRunSettings(...))` starts `minik8s up --masters M --nodes N` (process runtime,
short node timers so that a fault held a few seconds gets a node NotReady and its Deployment
pods evicted) in a new directory, then for `duration` seconds:

- `PodChurn`: `clients` threads, each with its own client failing over across the masters,
  create and delete bare pods (at most `live_pods` each; they tolerate the unreachable taint
  forever, so no eviction removes them; some deletes are forced, gracePeriodSeconds 0, so the API
  forgets a pod its node may still run) and scale the Deployment `web` between `replicas`; every
  operation is recorded as a `history.Op` (times in seconds since the run began; a write with
  no answer has the outcome "unknown");
- `pod_observer.Observer`: every 0.25 s, what actually runs on each node (the pod UIDs whose
  containers have processes in the node's cgroups, read from the machine); and, from a watch of
  the API's pods, every pod's `spec.nodeName`;
- `pod_faults.PodFaultSchedule`: agent kills, agent pauses, link cuts and master kills, each held
  `hold` seconds and healed.

Then everything is healed and, within `converge_timeout`, the cluster must reach the state the
history leaves (`pod_checks`): the Deployment's pods all Running and Ready, the bare pods that
should exist running, the deleted ones gone, and no process left of any pod that is not running in
the API. The report is `run.Report` (settings, seed, fault timeline, operation counts, each
checker's verdict with examples, the history).
"""

from __future__ import annotations

import itertools
import json
import random
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from minik8s.api import errors
from minik8s.api.client import ApiClient

from .history import Op
from .pod_checks import Check, check_bare_pods, check_deployment, check_exclusive, check_runtime
from .pod_faults import POD_NEMESES, PodFaultSchedule, UpCluster
from .pod_observer import Observer
from .run import Report
from .upcluster import UpProcess

NAMESPACE = "churn"
DEPLOYMENT = "web"
BARE_LABEL = ("chaos", "bare")
OP_TIMEOUT = 5.0  # seconds a client waits for one answer (then the outcome is unknown)
KINDS = (("create", 45), ("delete", 35), ("scale", 20))
FORCE_DELETES = 0.3  # the share of deletes with gracePeriodSeconds 0
SLEEP = ["sleep", "3600"]

Obj = dict[str, Any]


@dataclass
class PodRunSettings:
    duration: float = 60.0
    seed: int = 1
    masters: int = 3
    nodes: int = 3
    clients: int = 3
    live_pods: int = 4  # bare pods a client keeps at most
    replicas: tuple[int, int] = (2, 6)  # the Deployment is scaled within this (it starts at the low end)
    nemeses: tuple[str, ...] = tuple(POD_NEMESES)
    hold: tuple[float, float] = (1.0, 5.0)
    gap: tuple[float, float] = (0.5, 1.5)
    grace: float = 3.0  # `up --node-monitor-grace-period`
    eviction: float = 1.0  # `up --pod-eviction-timeout`
    converge_timeout: float = 60.0
    root: Path | None = None  # the cluster's data and logs (a new temp dir by default)
    keep: bool = False  # keep the directory afterwards (always kept when a checker fails)


def bare_pod(name: str) -> Obj:
    """A sleeping pod that tolerates its node's unreachability forever (never evicted)."""
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": {BARE_LABEL[0]: BARE_LABEL[1]}},
            "spec": {"terminationGracePeriodSeconds": 1,
                     "tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                                      "effect": "NoExecute"}],
                     "containers": [{"name": "sleep", "image": "sleep", "command": SLEEP}]}}


def deployment(replicas: int) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": DEPLOYMENT, "namespace": NAMESPACE},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": DEPLOYMENT}},
                     "template": {"metadata": {"labels": {"app": DEPLOYMENT}},
                                  "spec": {"terminationGracePeriodSeconds": 1,
                                           "containers": [{"name": "sleep", "image": "sleep", "command": SLEEP}]}}}}


class PodChurn:
    """Clients creating and deleting bare pods and scaling the Deployment (see the module docstring)."""

    def __init__(self, cluster: UpCluster, *, clients: int, seed: int, live_pods: int, replicas: tuple[int, int],
                 clock: Callable[[], float], think: tuple[float, float] = (0.1, 0.5), max_ops: int = 10_000) -> None:
        self.cluster, self.clients, self.seed, self.live_pods = cluster, clients, seed, live_pods
        self.replicas, self.clock, self.think, self.max_ops = replicas, clock, think, max_ops
        self.history: list[Op] = []
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for process in range(self.clients):
            thread = threading.Thread(target=self._run, args=(process,), name=f"churn-{process}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def stop(self, timeout: float = OP_TIMEOUT * 3) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)

    def _run(self, process: int) -> None:
        rng = random.Random(self.seed * 1000 + process)
        servers = self.cluster.client.servers
        servers = servers[process % len(servers):] + servers[:process % len(servers)]
        client = ApiClient(servers, token=self.cluster.token, ca_file=self.cluster.ca_file, timeout=OP_TIMEOUT)
        mine: list[str] = []  # this client's bare pods, created (acknowledged) and not deleted
        try:
            for n in range(self.max_ops):
                if self._stop.is_set():
                    return
                kind = rng.choices([k for k, _ in KINDS], [w for _, w in KINDS])[0]
                if kind == "create" and len(mine) >= self.live_pods:
                    kind = "delete"
                if kind == "delete" and not mine:
                    kind = "create"
                if kind == "create":
                    name = f"bare-p{process}-{n}"
                    if self._one(process, "create", name, None, lambda: client.create(bare_pod(name))) == "ok":
                        mine.append(name)
                elif kind == "delete":
                    name = mine.pop(rng.randrange(len(mine)))
                    # a forced delete removes the pod from the API at once, whether or not its node can stop it
                    grace = 0 if rng.random() < FORCE_DELETES else None
                    outcome = self._one(process, "delete", name, None if grace is None else "grace=0",
                                        lambda: client.delete("pods", name, namespace=NAMESPACE,
                                                              grace_period_seconds=grace))
                    if outcome == "fail-retry":
                        mine.append(name)
                else:
                    replicas = rng.randint(*self.replicas)
                    self._one(process, "update", f"deployment/{DEPLOYMENT}", str(replicas),
                              lambda: client.scale("deployments", DEPLOYMENT, namespace=NAMESPACE, replicas=replicas))
                self._stop.wait(rng.uniform(*self.think))
        finally:
            client.close()

    def _one(self, process: int, kind: str, key: str, value: str | None, call: Callable[[], Obj]) -> str:
        """Run one operation and record it; its outcome ("fail-retry": refused before it was applied)."""
        invoke = self.clock()
        outcome, error, version = "ok", None, None
        try:
            answer = call()
            version = ((answer or {}).get("metadata") or {}).get("resourceVersion")
        except (errors.NotFoundError, errors.AlreadyExistsError, errors.ConflictError) as exc:
            outcome, error = "fail", type(exc).__name__.removesuffix("Error")
        except (errors.ServiceUnavailableError, errors.TooManyRequestsError) as exc:
            # every master refused it before proposing (503, 429) or never got it: not applied anywhere
            outcome, error = "fail", type(exc).__name__
        except errors.ApiError as exc:  # no answer (it may have been received), or a 5xx
            outcome, error = "unknown", type(exc).__name__
        with self._lock:
            self.history.append(Op(id=next(self._ids), process=process, key=key, kind=kind, value=value,
                                   expect_version=None, invoke=invoke,
                                   complete=None if outcome == "unknown" else self.clock(), outcome=outcome,
                                   result_version=version, error=error))
        refused = outcome == "fail" and error in ("ServiceUnavailableError", "TooManyRequestsError")
        return "fail-retry" if refused else outcome


# -- the run ------------------------------------------------------------------------------------


@dataclass
class PodReport(Report):
    """`run.Report` and what the run saw happen to the cluster (NotReady nodes, evicted pods)."""

    observed: dict[str, int] = field(default_factory=dict)

    def text(self) -> str:
        lines = super().text().splitlines()
        seen = "observed: " + ", ".join(f"{k} {v}" for k, v in self.observed.items())
        return "\n".join([*lines[:2], seen, *lines[2:]])


def disruptions(client: ApiClient) -> dict[str, int]:
    """How often the node lifecycle controller marked a node NotReady and evicted a pod (its Events)."""
    found = {"NodeNotReady": 0, "TaintManagerEviction": 0}
    try:
        events = client.list("events")["items"]
    except errors.ApiError:
        return {}
    for event in events:
        if event.get("reason") in found:
            found[event["reason"]] += int(event.get("count") or 1)
    return found


def run_pod_chaos(settings: PodRunSettings) -> PodReport:
    """Run once (see the module docstring)."""
    started = time.monotonic()
    clock = lambda: time.monotonic() - started  # noqa: E731 - the history and the timeline share this origin
    root = settings.root or Path(tempfile.mkdtemp(prefix="minik8s-pod-chaos-"))
    up = UpProcess(root / "cluster", "--masters", str(settings.masters), "--nodes", str(settings.nodes),
                   "--node-monitor-grace-period", str(settings.grace), "--pod-eviction-timeout", str(settings.eviction))
    report: PodReport | None = None
    cluster: UpCluster | None = None
    try:
        cluster = UpCluster(up.root, up.state)
        cluster.client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        cluster.client.create(deployment(settings.replicas[0]))
        observer = Observer(cluster, clock=clock)
        churn = PodChurn(cluster, clients=settings.clients, seed=settings.seed, live_pods=settings.live_pods,
                         replicas=settings.replicas, clock=clock)
        schedule = PodFaultSchedule(cluster, settings.seed, names=settings.nemeses, hold=settings.hold,
                                    gap=settings.gap, started=started)
        observer.start()
        churn.start()
        nemesis_error: list[BaseException] = []

        def nemesis() -> None:
            try:
                schedule.run(time.monotonic() + settings.duration)
            except BaseException as exc:  # noqa: BLE001 - reported with the run
                nemesis_error.append(exc)

        thread = threading.Thread(target=nemesis, name="pod-nemesis", daemon=True)
        thread.start()
        thread.join(settings.duration + 120)
        churn.stop()
        cluster.heal_all()
        (root / "history.json").write_text(json.dumps([asdict(op) for op in churn.history]))
        checks = converge(cluster, observer, churn.history, initial=settings.replicas[0],
                          timeout=settings.converge_timeout, clock=clock)
        observer.stop()
        checks = {"exclusive": check_exclusive(observer.samples, observer.bindings), **checks}
        if nemesis_error:
            checks["nemesis"] = {"verdict": "error", "summary": repr(nemesis_error[0])}
        if observer.error is not None:
            checks["observer"] = {"verdict": "error", "summary": f"sampling stopped: {observer.error!r}"}
        report = PodReport(settings=_settings_json(settings), timeline=[f.to_json() for f in schedule.timeline],
                           operations=counts(churn.history), checks=checks, root=str(root),
                           elapsed=time.monotonic() - started, history=[asdict(op) for op in churn.history],
                           observed=disruptions(cluster.client))
        return report
    finally:
        if cluster is not None:
            cluster.heal_all()  # a paused agent could not stop
            cluster.close()
        up.stop()
        if report is not None and report.ok and not settings.keep and settings.root is None:
            shutil.rmtree(root, ignore_errors=True)


def converge(cluster: UpCluster, observer: Observer, history: list[Op], *, initial: int, timeout: float,
             clock: Callable[[], float]) -> dict[str, Check]:
    """Evaluate the end-state checkers until all pass or `timeout` passes; their last verdicts."""
    since = clock()
    deadline = time.monotonic() + timeout
    checks: dict[str, Check] = {}
    while True:
        try:
            pods = cluster.client.list("pods")["items"]
            try:
                deploy: Obj | None = cluster.client.get("deployments", DEPLOYMENT, namespace=NAMESPACE)
            except errors.NotFoundError:
                deploy = None
            ours = [p for p in pods if p["metadata"]["namespace"] == NAMESPACE]
            bare = [p for p in ours if (p["metadata"].get("labels") or {}).get(BARE_LABEL[0]) == BARE_LABEL[1]]
            checks = {"deployment": check_deployment(deploy, ours, history, app=DEPLOYMENT, initial=initial),
                      "bare-pods": check_bare_pods(bare, history),
                      "runtime": check_runtime(pods, observer.sample())}
        except errors.ApiError as exc:
            checks = checks or {"converge": {"verdict": "violation", "summary": f"could not read the cluster: {exc}"}}
        if checks and all(c["verdict"] == "ok" for c in checks.values()) or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    took = f"converged {clock() - since:.1f} s after healing" if all(c["verdict"] == "ok" for c in checks.values()) \
        else f"not converged {timeout:.0f} s after healing"
    return {name: {**check, "summary": f"{check['summary']} ({took})"} for name, check in checks.items()}


def counts(history: list[Op]) -> dict[str, int]:
    """Operations by kind and outcome (`scale` for the Deployment's)."""
    found: dict[str, int] = {"total": len(history)}
    for op in history:
        name = f"{'scale' if op.key.startswith('deployment/') else op.kind} {op.outcome}"
        found[name] = found.get(name, 0) + 1
    return dict(sorted(found.items()))


def _settings_json(settings: PodRunSettings) -> dict[str, Any]:
    return asdict(settings) | {"root": str(settings.root) if settings.root else None}
