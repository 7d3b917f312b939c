"""The kubelet: makes the pods bound to this node run, and reports their status.

Level-triggered like the controllers (it is a `minik8s.api.reconcile.Controller`: an informer on
the pods with `spec.nodeName=<node>`, a work queue, workers): `reconcile(ns/name)` compares the
pod with what the runtime has (found by labels, so a restarted agent adopts running containers)
and acts: create the sandbox, start missing containers, restart exited ones per `restartPolicy`
with exponential back-off (CrashLoopBackOff), stop everything with the grace period when the pod
is being deleted and then remove the object. Live pods are looked at again every second (the
runtime's state is polled, like the kubelet's PLEG relist).

A container that cannot start says why, as the kubelet does: `state.waiting` gets a reason and a
message, and a Warning event `Failed` ("Error: ...") is recorded on the pod —

- `CreateContainerConfigError`: known before anything is created or forked (no command on a
  runtime that does not use images, a NUL byte in the command, args or env, a volume that cannot
  be made; see `runtime.base.config_problem`);
- `ErrImageNeverPull`: the image is not on the node (docker; there is no registry);
- `CreateContainerError`: the runtime could not create it;
- `RunContainerError`: it could not be started (program not found, permission denied, bad
  working dir); the attempt stays as a terminated container with reason StartError.

Every later attempt, after an exit or after such a failure, waits for the container's back-off
(`backoff.RestartBackoff`: 10 s doubling to 5 min, reset after 10 min of running).
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
from minik8s.api.events import EventRecorder, container_field_path, truncate_message
from minik8s.api.reconcile import Controller, Result

from . import podspec
from .backoff import RestartBackoff
from .podstatus import compute_status
from .runtime.base import (ContainerState, ContainerStatus, ImageNotPresentError, Runtime, RuntimeError_,
                           SandboxConfig, SandboxStatus, config_problem, no_command_problem)

log = logging.getLogger(__name__)

Obj = dict[str, Any]
# Allocates a pod's network: (pod uid) -> SandboxConfig network fields, or None to let the runtime do it.
NetworkPlan = Callable[[str], dict[str, Any] | None]

CONFIG_ERROR = "CreateContainerConfigError"
CREATE_ERROR = "CreateContainerError"
RUN_ERROR = "RunContainerError"
IMAGE_NOT_PRESENT = "ErrImageNeverPull"
CRASH_LOOP = "CrashLoopBackOff"
BACKOFF_RESET_AFTER = 600.0  # seconds of running after which a container's back-off starts over


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
        # (pod uid, container) -> restart back-off, and why the last attempt could not start it
        self._backoff = RestartBackoff(initial=settings.backoff_initial, cap=settings.backoff_max,
                                       reset_after=BACKOFF_RESET_AFTER)
        self._failures: dict[tuple[str, str], tuple[str, str]] = {}
        self._lock = threading.Lock()
        self.events = EventRecorder(client, component="kubelet", host=settings.node_name)
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
        volume_problems: dict[str, str] = {}
        volumes = podspec.volume_dirs(pod, self.pods_dir, volume_problems)
        waiting: dict[str, tuple[str, str]] = {}
        for container in pod["spec"].get("containers") or []:
            name = container["name"]
            key = (uid, name)
            history = attempts.get(name, [])
            latest = history[-1] if history else None
            if latest is not None and latest.state == ContainerState.CREATED:
                # Created but never started (the agent stopped between the two calls): start it afresh.
                self.runtime.remove_container(latest.id)
                history, attempt = history[:-1], _attempt_of(latest)
                previous = history[-1] if history else None
            elif latest is None:
                attempt, previous = 0, None
            elif latest.state == ContainerState.EXITED and self._should_restart(pod, latest):
                attempt, previous = _attempt_of(latest) + 1, latest
            else:
                continue
            if previous is not None or key in self._failures:  # a retry: wait for the back-off
                with self._lock:
                    if self._backoff.remaining(key, self.wall()) > 0:
                        waiting[name] = self._failures.get(key) or self._crash_loop(pod, name)
                        continue
                    ran = (previous.finished_at - previous.started_at
                           if previous is not None and previous.finished_at and previous.started_at else 0.0)
                    self._backoff.attempt(key, self.wall(), ran_for=ran)
            failure = self._start(pod, sandbox, container, attempt, volumes, volume_problems)
            for old in history:  # keep only the previous attempt (for `logs --previous`)
                if old is not previous:
                    self.runtime.remove_container(old.id)
            if failure is None:
                self._failures.pop(key, None)
                continue
            self._failures[key] = failure
            self.events.record(pod, reason="Failed", message=f"Error: {failure[1]}", event_type="Warning",
                               field_path=container_field_path(name))
            made = self._attempts(sandbox.id).get(name, [])
            if not (made and made[-1].state == ContainerState.EXITED and not self._should_restart(pod, made[-1])):
                waiting[name] = failure  # (a Never pod's failed attempt is terminated, not waiting)
        status = compute_status(pod, sandbox, self._attempts(sandbox.id), waiting, now=self.wall(),
                                host_ip=self.settings.node_ip)
        self._write_status(pod, status)
        if status["phase"] in ("Succeeded", "Failed"):
            return None
        return Result(requeue_after=self.settings.resync_seconds)

    def _crash_loop(self, pod: Obj, name: str) -> tuple[str, str]:
        meta = pod["metadata"]
        delay = self._backoff.delay((meta["uid"], name))
        return CRASH_LOOP, (f"back-off {delay:.0f}s restarting failed container={name} "
                            f"pod={meta['name']}_{meta.get('namespace')}({meta['uid']})")

    def _create_sandbox(self, pod: Obj) -> SandboxStatus:
        meta = pod["metadata"]
        net = self.network(meta["uid"]) if self.network else None
        config = SandboxConfig(pod_uid=meta["uid"], pod_name=meta["name"], namespace=meta.get("namespace", "default"),
                               hostname=(pod["spec"].get("hostname") or meta["name"])[:63],
                               labels=podspec.pod_labels(pod), **(net or {}))
        try:
            sandbox_id = self.runtime.run_pod_sandbox(config)
        except RuntimeError_ as exc:  # retried with the queue's back-off; say why meanwhile
            self.events.record(pod, reason="FailedCreatePodSandBox", message=f"Failed to create pod sandbox: {exc}",
                               event_type="Warning")
            raise
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
               volume_problems: dict[str, str]) -> tuple[str, str] | None:
        """Create and start one attempt of `container`: None when it runs, else (waiting reason, message)."""
        logs_dir = os.path.join(self.pods_dir, pod["metadata"]["uid"], "logs")
        os.makedirs(logs_dir, exist_ok=True)
        capabilities = self.runtime.capabilities()
        try:
            config = podspec.container_config(pod, container, attempt=attempt, volumes=volumes, pod_ip=sandbox.ip,
                                              log_path=os.path.join(logs_dir, f"{container['name']}-{attempt}.log"))
            problem = (None if container.get("command") else
                       no_command_problem(config.name, config.image, capabilities))  # args alone: no program
            problem = (problem or podspec.mount_problem(container, volume_problems)
                       or config_problem(config, capabilities))
        except (ValueError, TypeError, KeyError) as exc:
            problem = f"container {container.get('name')!r} cannot be configured: {exc}"
        if problem is not None:
            return self._failed(pod, container, CONFIG_ERROR, problem)
        try:
            container_id = self.runtime.create_container(sandbox.id, config)
        except ImageNotPresentError as exc:
            return self._failed(pod, container, IMAGE_NOT_PRESENT, str(exc))
        except RuntimeError_ as exc:
            return self._failed(pod, container, CREATE_ERROR, str(exc))
        try:
            self.runtime.start_container(container_id)
        except RuntimeError_ as exc:
            message = str(exc)
            if not capabilities.isolates_filesystem:
                message += (f" (the {capabilities.name} runtime runs the container's command on the node's own "
                            f"filesystem; the image {config.image!r} is not used)")
            return self._failed(pod, container, RUN_ERROR, message)
        return None

    def _failed(self, pod: Obj, container: Obj, reason: str, message: str) -> tuple[str, str]:
        log.warning("pod %s/%s: container %s cannot start (%s): %s", pod["metadata"].get("namespace"),
                    pod["metadata"]["name"], container.get("name"), reason, message)
        return reason, truncate_message(message)

    @staticmethod
    def _should_restart(pod: Obj, latest: ContainerStatus) -> bool:
        policy = pod["spec"].get("restartPolicy", "Always")
        return policy == "Always" or (policy == "OnFailure" and latest.exit_code != 0)

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
            self._backoff.forget_if(lambda key: key[0] == uid)
            for key in [k for k in self._failures if k[0] == uid]:
                del self._failures[key]
        self.events.forget(uid)

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


def _attempt_of(container: ContainerStatus) -> int:
    try:
        return int(container.labels.get(podspec.ATTEMPT, "0"))
    except ValueError:
        return 0
