"""The kubelet: makes the pods bound to this node run, and reports their status.

Level-triggered like the controllers (it reuses `controllers.base.Controller`: an informer on
the pods with `spec.nodeName=<node>`, a work queue, workers): `reconcile(ns/name)` compares the
pod with what the runtime has (found by labels, so a restarted agent adopts running containers)
and acts: create the sandbox, start missing containers, restart exited ones per `restartPolicy`
with exponential back-off (CrashLoopBackOff), stop everything with the grace period when the pod
is being deleted and then remove the object. Live pods are looked at again every second (the
runtime's state is polled, like the kubelet's PLEG relist).
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from minik8s.api import errors
from minik8s.api.client import ApiClient
from minik8s.controllers.base import Controller, Result

from . import podspec
from .podstatus import compute_status
from .runtime.base import ContainerState, ContainerStatus, Runtime, RuntimeError_, SandboxConfig, SandboxStatus

log = logging.getLogger(__name__)

Obj = dict[str, Any]
# Allocates a pod's network: (pod uid) -> SandboxConfig network fields, or None to let the runtime do it.
NetworkPlan = Callable[[str], dict[str, Any] | None]


@dataclass(frozen=True)
class KubeletSettings:
    node_name: str
    data_dir: str
    node_ip: str | None = None
    backoff_initial: float = 10.0  # CrashLoopBackOff: 10 s doubling up to 300 s, as in Kubernetes
    backoff_max: float = 300.0
    resync_seconds: float = 1.0
    workers: int = 8


class Kubelet(Controller):
    """Runs this node's pods through a `Runtime`."""

    def __init__(self, client: ApiClient, runtime: Runtime, settings: KubeletSettings, *,
                 network: NetworkPlan | None = None, release_network: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(client, name="kubelet", workers=settings.workers)
        self.runtime = runtime
        self.settings = settings
        self.network = network
        self.release_network = release_network
        self.wall = clock
        self._backoff: dict[tuple[str, str], tuple[float, float]] = {}  # (uid, container) -> (until, delay)
        self._lock = threading.Lock()
        self.pods_dir = os.path.join(settings.data_dir, "pods")

    def setup(self) -> None:
        self.pods = self.watch("pods", field_selector=f"spec.nodeName={self.settings.node_name}")

    # ---- reconcile -------------------------------------------------------------------------

    def reconcile(self, key: str) -> Result | None:
        pod = self.pods.get(key)
        if pod is None:
            self._kill_orphans(key)
            return None
        if pod["metadata"].get("deletionTimestamp"):
            self._terminate(pod)
            return None
        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed") and not self._sandbox(pod):
            return None
        return self._sync(pod)

    def _own_sandboxes(self) -> list[SandboxStatus]:
        """The runtime's sandboxes that belong to this node."""
        return [s for s in self.runtime.list_sandboxes() if s.labels.get(podspec.NODE) == self.settings.node_name]

    def _sandbox(self, pod: Obj) -> SandboxStatus | None:
        uid = pod["metadata"]["uid"]
        found = [s for s in self._own_sandboxes() if s.labels.get(podspec.POD_UID) == uid]
        return max(found, key=lambda s: s.created_at) if found else None

    def _sync(self, pod: Obj) -> Result | None:
        uid = pod["metadata"]["uid"]
        sandbox = self._sandbox(pod) or self._create_sandbox(pod)
        attempts = self._attempts(sandbox.id)
        volumes = podspec.volume_dirs(pod, self.pods_dir)
        waiting: dict[str, tuple[str, str]] = {}
        for container in pod["spec"].get("containers") or []:
            name = container["name"]
            history = attempts.get(name, [])
            latest = history[-1] if history else None
            if latest is None:
                self._start(pod, sandbox, container, 0, volumes, waiting)
            elif latest.state == ContainerState.EXITED and self._should_restart(pod, latest):
                until, delay = self._backoff.get((uid, name), (0.0, 0.0))
                if self.wall() < until:
                    waiting[name] = ("CrashLoopBackOff", f"back-off {delay:.0f}s restarting failed container={name} "
                                                         f"pod={pod['metadata']['name']}_{pod['metadata'].get('namespace')}({uid})")
                    continue
                self._bump_backoff(uid, name, latest)
                self._start(pod, sandbox, container, int(latest.labels.get(podspec.ATTEMPT, "0")) + 1, volumes, waiting)
                for old in history[:-1]:  # keep only the previous attempt (for `logs --previous`)
                    self.runtime.remove_container(old.id)
        status = compute_status(pod, sandbox, self._attempts(sandbox.id), waiting, now=self.wall(),
                                host_ip=self.settings.node_ip)
        self._write_status(pod, status)
        if status["phase"] in ("Succeeded", "Failed"):
            return None
        return Result(requeue_after=self.settings.resync_seconds)

    def _create_sandbox(self, pod: Obj) -> SandboxStatus:
        meta = pod["metadata"]
        net = self.network(meta["uid"]) if self.network else None
        config = SandboxConfig(pod_uid=meta["uid"], pod_name=meta["name"], namespace=meta.get("namespace", "default"),
                               hostname=(pod["spec"].get("hostname") or meta["name"])[:63],
                               labels=podspec.pod_labels(pod), **(net or {}))
        sandbox_id = self.runtime.run_pod_sandbox(config)
        log.info("pod %s/%s: sandbox %s created", meta.get("namespace"), meta["name"], sandbox_id[:12])
        return next(s for s in self.runtime.list_sandboxes() if s.id == sandbox_id)

    def _attempts(self, sandbox_id: str) -> dict[str, list[ContainerStatus]]:
        """Each container's attempts, oldest first."""
        out: dict[str, list[ContainerStatus]] = {}
        for c in self.runtime.list_containers(sandbox_id):
            out.setdefault(c.labels.get(podspec.CONTAINER_NAME, c.name), []).append(c)
        for history in out.values():
            history.sort(key=lambda c: int(c.labels.get(podspec.ATTEMPT, "0")))
        return out

    def _start(self, pod: Obj, sandbox: SandboxStatus, container: Obj, attempt: int, volumes: dict[str, str],
               waiting: dict[str, tuple[str, str]]) -> None:
        logs_dir = os.path.join(self.pods_dir, pod["metadata"]["uid"], "logs")
        os.makedirs(logs_dir, exist_ok=True)
        config = podspec.container_config(pod, container, attempt=attempt, volumes=volumes, pod_ip=sandbox.ip,
                                          log_path=os.path.join(logs_dir, f"{container['name']}-{attempt}.log"))
        try:
            container_id = self.runtime.create_container(sandbox.id, config)
            self.runtime.start_container(container_id)
        except RuntimeError_ as exc:
            log.warning("pod %s: container %s failed to start: %s", pod["metadata"]["name"], container["name"], exc)
            waiting[container["name"]] = ("CreateContainerError", str(exc))

    @staticmethod
    def _should_restart(pod: Obj, latest: ContainerStatus) -> bool:
        policy = pod["spec"].get("restartPolicy", "Always")
        return policy == "Always" or (policy == "OnFailure" and latest.exit_code != 0)

    def _bump_backoff(self, uid: str, name: str, latest: ContainerStatus) -> None:
        """Next restart waits twice as long, unless the container had run for 10 minutes."""
        _, delay = self._backoff.get((uid, name), (0.0, 0.0))
        ran = (latest.finished_at or 0) - (latest.started_at or 0)
        delay = self.settings.backoff_initial if delay == 0 or ran > 600 else min(delay * 2, self.settings.backoff_max)
        self._backoff[(uid, name)] = (self.wall() + delay, delay)

    def _write_status(self, pod: Obj, status: Obj) -> None:
        if status == pod.get("status"):
            return
        updated = {**pod, "status": status}
        self.client.update_status(updated)

    # ---- deletion ---------------------------------------------------------------------------

    def _terminate(self, pod: Obj) -> None:
        """Graceful deletion: SIGTERM every container, SIGKILL after the grace period, then remove the pod."""
        meta = pod["metadata"]
        grace = meta.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
        sandbox = self._sandbox(pod)
        if sandbox is not None:
            running = [c for c in self.runtime.list_containers(sandbox.id) if c.state == ContainerState.RUNNING]
            stoppers = [threading.Thread(target=self.runtime.stop_container, args=(c.id, float(grace)))
                        for c in running]
            for thread in stoppers:
                thread.start()
            for thread in stoppers:
                thread.join()
            self._remove_sandbox(sandbox.id, meta["uid"])
        try:
            self.client.delete("pods", meta["name"], namespace=meta.get("namespace"), grace_period_seconds=0)
        except errors.NotFoundError:
            pass
        log.info("pod %s/%s: terminated and removed", meta.get("namespace"), meta["name"])

    def _remove_sandbox(self, sandbox_id: str, uid: str) -> None:
        self.runtime.stop_pod_sandbox(sandbox_id)
        self.runtime.remove_pod_sandbox(sandbox_id)
        if self.release_network is not None:
            self.release_network(uid)
        shutil.rmtree(os.path.join(self.pods_dir, uid), ignore_errors=True)
        with self._lock:
            for key in [k for k in self._backoff if k[0] == uid]:
                del self._backoff[key]

    def _kill_orphans(self, key: str) -> None:
        """The pod object is gone (force-deleted or moved): remove what still runs for it here."""
        namespace, _, name = key.partition("/")
        for sandbox in self._own_sandboxes():
            labels = sandbox.labels
            if labels.get(podspec.POD_NAME) == name and labels.get(podspec.POD_NAMESPACE) == namespace:
                log.info("pod %s: gone from the API, removing sandbox %s", key, sandbox.id[:12])
                self._remove_sandbox(sandbox.id, labels.get(podspec.POD_UID, ""))

    def remove_unknown_sandboxes(self) -> None:
        """After the first sync: sandboxes of pods this node no longer has (e.g. deleted while down)."""
        known = {p["metadata"]["uid"] for p in self.pods.list()}
        for sandbox in self._own_sandboxes():
            uid = sandbox.labels.get(podspec.POD_UID)
            if uid and uid not in known:
                self._remove_sandbox(sandbox.id, uid)
