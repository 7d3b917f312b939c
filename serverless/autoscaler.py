"""The function autoscaler: Knative's KPA over the concurrency the node routers measure.

Runs under the controller-manager Lease. Every `scrape_interval` it reads `GET /functionstats` of
every Ready node agent (the kubelet token; the URL built from the parsed Node) and sums, per
function, the average calls held or in flight over that interval; each function's `kpa.Decider`
records the sum. Every `decide_interval` it decides the instance count (`kpa.Decider.decide` with
the target from `containerConcurrency` / `scale.target`), bounds it to `[minScale, maxScale]` and
writes it to the Deployment's `scale` when it differs.

Scale to zero: the count goes to 0 only when the KPA wants 0, `minScale` is 0 and no router saw a
call of the function for `idleSeconds` (counted from the autoscaler's start, so a new leader waits
the full idle time). A Deployment that a router woke from zero counts as a call, so the autoscaler
never undoes a wake-up. An instance being removed finishes its calls (its grace period is longer
than a call may take, and routers stop sending it calls once it is being deleted).

Node answers are hostile input: at most `MAX_STATS_BYTES` are read, and only well-typed, finite,
non-negative figures of known functions count.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import requests

from minik8s.api import errors
from minik8s.api.client import ApiClient
from minik8s.api.decoding import loads_finite
from minik8s.api.informer import Informer, object_key
from minik8s.api.kinds.function import FUNCTION_LABEL
from minik8s.api.nodeendpoint import kubelet_url, node_ready
from minik8s.api.reconcile import Controller, Result

from .kpa import Decider, target_per_pod
from .router import deployment_name

log = logging.getLogger(__name__)

Obj = dict[str, Any]
TICK = "@tick"
MAX_STATS_BYTES = 1 << 20
DEFAULT_IDLE_SECONDS = 60
DEFAULT_STABLE_SECONDS = 60


@dataclass
class Observed:
    """One scrape's sum over the routers for one function."""

    concurrency: float = 0.0
    requests: int = 0
    busy: int = 0
    instances: int = 0


class FunctionAutoscaler(Controller):
    """Scales each Function's Deployment by the KPA rule (see the module docstring)."""

    _functions: Informer
    _deployments: Informer
    _nodes: Informer

    def __init__(self, client: ApiClient, kubelet_token: str | None, *, scrape_interval: float = 1.0,
                 decide_interval: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(client, name="function-autoscaler", workers=1)
        self.kubelet_token = kubelet_token
        self.scrape_interval = scrape_interval
        self.decide_interval = decide_interval
        self.clock = clock
        self.session = requests.Session()
        self.session.trust_env = False
        self._pool = ThreadPoolExecutor(8, thread_name_prefix="function-stats")

    def setup(self) -> None:
        self._functions = self.watch("functions", key=lambda _obj: None)
        self._deployments = self.watch("deployments", label_selector=FUNCTION_LABEL, key=lambda _obj: None)
        self._nodes = self.watch("nodes", key=lambda _obj: None, batch_window=0.5)
        self._deciders: dict[str, Decider] = {}
        self._last_active: dict[str, float] = {}
        self._replicas_seen: dict[str, int] = {}
        self._last_decision = 0.0
        self.enqueue(TICK)

    def reconcile(self, key: str) -> Result | None:
        if key != TICK or not self.kubelet_token:
            return None
        now = self.clock()
        functions = self._functions.list()
        if not functions:  # nothing to scale: no node is asked every second for nothing
            self._deciders.clear()
            self._last_active.clear()
            return Result(requeue_after=self.scrape_interval)
        observed = self.scrape()
        decide = now - self._last_decision >= self.decide_interval
        if decide:
            self._last_decision = now
        for function in functions:
            fkey = object_key(function)
            if function["metadata"].get("deletionTimestamp"):
                continue
            self._observe(fkey, function, observed.get(fkey, Observed()), now)
            if decide:
                self._decide(fkey, function, observed.get(fkey, Observed()), now)
        for gone in set(self._deciders) - {object_key(f) for f in functions}:
            self._deciders.pop(gone, None)
            self._last_active.pop(gone, None)
        return Result(requeue_after=self.scrape_interval)

    # ---- reading the routers -----------------------------------------------------------------

    def scrape(self) -> dict[str, Observed]:
        """The routers' figures summed per function key (`ns/name`)."""
        urls = []
        for node in self._nodes.list():
            if node_ready(node):
                try:
                    urls.append(kubelet_url(node))
                except errors.ApiError:
                    continue
        total: dict[str, Observed] = {}
        for entries in self._pool.map(self._read, urls):
            for entry in entries:
                into = total.setdefault(f"{entry['namespace']}/{entry['name']}", Observed())
                into.concurrency += entry["concurrency"]
                into.requests += entry["requests"]
                into.busy += entry["busy"]
                into.instances = max(into.instances, entry["instances"])
        return total

    def _read(self, base: str) -> list[Obj]:
        try:
            answer = self.session.get(f"{base}/functionstats", timeout=(1.0, 1.0), stream=True, allow_redirects=False,
                                      headers={"Authorization": f"Bearer {self.kubelet_token}"})
            try:
                data = answer.raw.read(MAX_STATS_BYTES + 1, decode_content=True)
            finally:
                answer.close()
            if answer.status_code != 200 or len(data) > MAX_STATS_BYTES:
                return []
            entries = loads_finite(data).get("functions")
        except (requests.RequestException, ValueError, AttributeError):
            return []
        return [e for e in entries if _well_formed(e)] if isinstance(entries, list) else []

    # ---- deciding ----------------------------------------------------------------------------

    def _observe(self, key: str, function: Obj, seen: Observed, now: float) -> None:
        deployment = self._deployments.get(f"{key.split('/')[0]}/{deployment_name(function['metadata']['name'])}")
        replicas = ((deployment or {}).get("spec") or {}).get("replicas") or 0
        woken = replicas > 0 and self._replicas_seen.get(key, replicas) == 0
        self._replicas_seen[key] = replicas
        if seen.requests or seen.busy or woken:
            self._last_active[key] = now
        else:
            self._last_active.setdefault(key, now)
        decider = self._deciders.get(key)
        if decider is None:
            stable = int(_scale(function).get("stableWindowSeconds") or DEFAULT_STABLE_SECONDS)
            decider = self._deciders[key] = Decider(stable_seconds=stable)
            ready = ((deployment or {}).get("status") or {}).get("readyReplicas") or 0
            decider.adopt(now, ready)
        decider.record(now, seen.concurrency)

    def _decide(self, key: str, function: Obj, seen: Observed, now: float) -> None:
        name, namespace = function["metadata"]["name"], function["metadata"].get("namespace", "default")
        deployment = self._deployments.get(f"{namespace}/{deployment_name(name)}")
        if deployment is None:
            return
        current = (deployment.get("spec") or {}).get("replicas") or 0
        ready = max(((deployment.get("status") or {}).get("readyReplicas") or 0), seen.instances)
        spec, scale = function.get("spec") or {}, _scale(function)
        target = target_per_pod(int(spec.get("containerConcurrency") or 0), scale.get("target"))
        desired = self._deciders[key].decide(now, ready, target)
        low = int(scale.get("minScale") or 0)
        high = max(low, int(scale.get("maxScale") or 10))
        desired = min(max(desired, low), high)
        if desired == 0 and current > 0:
            idle = now - self._last_active.get(key, now) >= int(scale.get("idleSeconds") or DEFAULT_IDLE_SECONDS)
            if not idle:
                desired = 1
        if desired == current or (current == 0 and desired > 0 and not seen.busy):
            return  # waking from zero is the routers' job, on a call
        try:
            self.client.scale("deployments", deployment_name(name), namespace=namespace, replicas=desired)
        except errors.ApiError as exc:
            log.warning("function %s: could not scale to %d: %s", key, desired, exc.message)
            return
        log.info("function %s: %d -> %d instance(s) (observed concurrency %.2f, target %.2f per instance)",
                 key, current, desired, seen.concurrency, target)


def _scale(function: Obj) -> Obj:
    scale = (function.get("spec") or {}).get("scale")
    return scale if isinstance(scale, dict) else {}



def _well_formed(entry: Any) -> bool:
    """A router's figures for one function: names as strings, counts as finite non-negative numbers."""
    if not isinstance(entry, dict):
        return False
    if not all(isinstance(entry.get(k), str) and 0 < len(entry[k]) <= 253 for k in ("namespace", "name")):
        return False
    numbers = [entry.get(k) for k in ("concurrency", "requests", "busy", "instances")]
    return all(isinstance(n, (int, float)) and not isinstance(n, bool) and math.isfinite(n) and 0 <= n <= 1e9
               for n in numbers) and all(isinstance(entry[k], int) for k in ("requests", "busy", "instances"))
