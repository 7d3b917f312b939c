"""Shared by the workload tests: a 3-master + 3-node `minik8s up`, workload manifests, and a pod sampler.

The sampler lists a workload's pods every 100 ms in a thread of its own and remembers the most
pods and the fewest available pods it saw, counting like Kubernetes does: a pod being deleted
(`deletionTimestamp`) or finished no longer counts, an available pod is a Ready one
(`minReadySeconds` is 0 in these tests).
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

from minik8s.api.client import ApiClient
from minik8s.chaos.upcluster import UpProcess

Obj = dict[str, Any]
NAMESPACE = "default"
GRACE, EVICTION = 4.0, 6.0
SLEEP = ["sleep", "3600"]


class Up3(UpProcess):
    """`minik8s up --masters 3 --nodes 3` with short node timers (grace 4 s, eviction 6 s)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, "--masters", "3", "--nodes", "3", "--node-monitor-grace-period", str(GRACE),
                         "--pod-eviction-timeout", str(EVICTION))


def template(app: str, image: str, command: list[str] | None = None) -> Obj:
    """A pod template whose container runs `command` on the node (process runtime: the image is a label)."""
    return {"metadata": {"labels": {"app": app}},
            "spec": {"terminationGracePeriodSeconds": 2,
                     "containers": [{"name": "app", "image": image, "command": command or SLEEP}]}}


def replicaset(name: str, replicas: int, image: str = "busybox:1") -> Obj:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": template(name, image)}}


def deployment(name: str, replicas: int, image: str = "busybox:1", *, surge: Any = 2, unavailable: Any = 1,
               command: list[str] | None = None, deadline: int | None = None) -> Obj:
    spec: Obj = {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}},
                 "template": template(name, image, command)}
    if deadline is not None:
        spec["progressDeadlineSeconds"] = deadline
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": spec}


def is_ready(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def active_pods(client: ApiClient, app: str) -> list[Obj]:
    """The app's pods that are neither being deleted nor finished."""
    pods = client.list("pods", namespace=NAMESPACE, label_selector=f"app={app}")["items"]
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")
            and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]


def running_ready(client: ApiClient, app: str) -> list[Obj]:
    """Active pods that run and are Ready."""
    return [p for p in active_pods(client, app) if p["status"].get("phase") == "Running" and is_ready(p)]


class Sampler:
    """Every `interval` seconds: how many active pods the app has, and how many of them are Ready."""

    def __init__(self, client: ApiClient, app: str, *, interval: float = 0.1) -> None:
        self._client = client.copy(timeout=5)
        self._app = app
        self._interval = interval
        self.samples: list[tuple[float, int, int]] = []  # (time, active pods, available pods)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"sampler-{app}")

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                pods = active_pods(self._client, self._app)
            except Exception:  # a master may be down for a moment: skip the sample
                pods = None
            if pods is not None:
                self.samples.append((time.monotonic(), len(pods), sum(1 for p in pods if is_ready(p))))
            self._stop.wait(self._interval)

    @property
    def most_pods(self) -> int:
        return max(n for _, n, _ in self.samples)

    @property
    def fewest_available(self) -> int:
        return min(a for _, _, a in self.samples)


def minik8s(*args: str) -> list[str]:
    """The `minik8s` command line."""
    return [sys.executable, "-m", "minik8s.cli.main", *args]
