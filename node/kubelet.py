"""The kubelet: makes the pods bound to this node run, and reports their status.

Level-triggered like the controllers (it is a `minik8s.api.reconcile.Controller`: informers on
the pods with `spec.nodeName=<node>` and on the ConfigMaps and Secrets they use, a work queue,
workers): `reconcile(ns/name)` compares the pod with what the runtime has (found by labels, so a
restarted agent adopts running containers) and acts, as the kubelet's `SyncPod` does:

1. create the sandbox; set up the volumes (`volumes`: ConfigMap/Secret/downward API contents are
   refreshed on every sync, so a change reaches the files within a second or two of the watch
   event); a volume that cannot be set up (a missing ConfigMap) holds every container back with a
   `FailedMount` event;
2. decide (`podactions`): the next init container, in order, each to completion; then the app
   containers; restarts per `restartPolicy` with exponential back-off (CrashLoopBackOff, a
   `BackOff` event); a container whose liveness or startup probe failed is killed
   (`Killing`: "Container web failed liveness probe, will be restarted") and restarted;
3. start what is due (`containers`: image, env, create, start, postStart, with their events);
4. write the status (`podstatus`), with readiness from the probes (`probes`, which run on their
   own threads and ask for a sync whenever a result changes).

Deletion stops every container with its preStop hook and the grace period (`Killing`), removes
the sandbox and then the object. Live pods are looked at again every second (the runtime's state
is polled, like the kubelet's PLEG relist).

A container that cannot start says why: `state.waiting` gets a reason and a message and a Warning
event `Failed` ("Error: ...") is recorded — `CreateContainerConfigError` (missing ConfigMap,
Secret or key, no command on a runtime that does not use images, a NUL byte ...), `ErrImagePull`/
`ImagePullBackOff`/`ErrImageNeverPull`, `CreateContainerError`, `RunContainerError` (the attempt
stays as a terminated container with reason StartError), `PostStartHookError`. Every later
attempt waits for the container's back-off (`backoff.RestartBackoff`: 10 s doubling to 5 min,
reset after 10 min of running).
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from minik8s.api import errors
from minik8s.api.client import ApiClient
from minik8s.api.events import EventRecorder
from minik8s.api.reconcile import Controller, Result

from . import podspec
from .backoff import RestartBackoff
from .containers import CONFIG_ERROR, ContainerRunner
from .dns.podconf import PodDnsFiles
from .downward import PodRuntimeInfo
from .handlers import HandlerRunner, format_pod
from .images import ImageManager
from .podactions import compute_actions, should_restart
from .podstatus import compute_status
from .probes import ContainerView, ProbeManager, ProbeState
from .runtime.base import ContainerState, ContainerStatus, Runtime, RuntimeError_, SandboxConfig, SandboxStatus
from .volumes import PodVolumes

log = logging.getLogger(__name__)

Obj = dict[str, Any]
# Allocates a pod's network: (pod uid) -> SandboxConfig network fields, or None to let the runtime do it.
NetworkPlan = Callable[[str], dict[str, Any] | None]

CRASH_LOOP = "CrashLoopBackOff"
BACKOFF_RESET_AFTER = 600.0  # seconds of running after which a container's back-off starts over
REPEAT_WARNING_AFTER = 60.0  # a FailedMount that persists is reported again this often
CONFIG_ERROR_REPEAT = 10.0  # and a CreateContainerConfigError (retried on every sync) this often
# A sync that starts containers looks at them again this much later before it reports them, as
# the kubelet reports what its next relist saw: a container that exits at once is reported exited,
# never Running (and Ready) in between, which would complete a crashing Deployment's rollout. Not
# needed when each started container has a readiness probe: Ready waits for the probe anyway, and
# the pod's IP is out 0.1 s sooner (a function's cold start waits for it).
STARTED_SETTLE_SECONDS = 0.1


@dataclass(frozen=True)
class KubeletSettings:
    """The kubelet's node, directories, timings and thread counts."""

    node_name: str
    data_dir: str
    node_ip: str | None = None
    backoff_initial: float = 10.0  # CrashLoopBackOff: 10 s doubling up to 300 s, as in Kubernetes
    backoff_max: float = 300.0
    resync_seconds: float = 1.0
    workers: int = 8
    probe_workers: int = 4  # threads that run probes (each probe is bounded by its timeoutSeconds)
    allocatable: Mapping[str, str] = field(default_factory=dict)  # the node's, for the downward API
    cluster_dns: tuple[str, ...] = ()  # what ClusterFirst pods get as nameserver (none: the node's resolv.conf)
    cluster_domain: str = "cluster.local"
    resolv_conf: str = "/etc/resolv.conf"  # the node's, for dnsPolicy Default and the host search domains


class _InformerSource:
    """ConfigMaps, Secrets and Services from the kubelet's informer caches (`envvars.ConfigSource`)."""

    def __init__(self, kubelet: Kubelet) -> None:
        self._kubelet = kubelet

    def config_map(self, namespace: str, name: str) -> Obj | None:
        return self._kubelet.config_maps.get(f"{namespace}/{name}")

    def secret(self, namespace: str, name: str) -> Obj | None:
        return self._kubelet.secrets.get(f"{namespace}/{name}")

    def services(self) -> list[Obj] | None:
        informer = self._kubelet.services
        return informer.list() if informer.has_synced() else None


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
        self._reported: dict[tuple[str, str], tuple[Any, float]] = {}  # warnings not to repeat each sync
        self._lock = threading.Lock()
        self.events = EventRecorder(client, component="kubelet", host=settings.node_name, workers=2)
        self.pods_dir = os.path.join(settings.data_dir, "pods")
        self.volumes = PodVolumes(self.pods_dir)
        handlers = HandlerRunner(runtime)
        self.probes = ProbeManager(handlers, on_change=self.enqueue, workers=settings.probe_workers,
                                   record_event=lambda pod, name, reason, message:
                                   self._record(pod, name, "Warning", reason, message))
        self.source = _InformerSource(self)
        self.containers = ContainerRunner(
            runtime, handlers=handlers, source=self.source, record=self._record, pods_dir=self.pods_dir,
            dns=PodDnsFiles(self.pods_dir, cluster_dns=list(settings.cluster_dns), domain=settings.cluster_domain,
                            host_resolv_conf=settings.resolv_conf),
            images=ImageManager(runtime, self._record, secrets=self.source.secret,
                                backoff_initial=settings.backoff_initial))

    def setup(self) -> None:
        self.pods = self.watch("pods", field_selector=f"spec.nodeName={self.settings.node_name}")
        self.config_maps = self.watch("configmaps", key=lambda _: None)
        self.secrets = self.watch("secrets", key=lambda _: None)
        self.services = self.watch("services", key=lambda _: None)  # env vars, read when a container starts
        for informer in (self.config_maps, self.secrets):  # a change syncs the pods of its namespace at once
            informer.add_handler(on_add=self._namespace_changed, on_update=lambda _old, new: self._namespace_changed(new),
                                 on_delete=self._namespace_changed)

    def _namespace_changed(self, obj: Obj) -> None:
        namespace = (obj.get("metadata") or {}).get("namespace")
        for pod in self.pods.list():
            if pod["metadata"].get("namespace") == namespace:
                self.enqueue(f"{namespace}/{pod['metadata']['name']}")

    def start(self) -> None:
        """Start the informers, the workers, the probe threads and the event senders."""
        self.events.start()
        self.probes.start()
        super().start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the workers, the probes and (after sending what is queued) the events."""
        super().stop(timeout)
        self.probes.stop()
        self.events.stop(timeout=2)

    # ---- events ------------------------------------------------------------------------------

    def _record(self, pod: Obj, container: str, event_type: str, reason: str, message: str) -> None:
        """An event about one container of `pod` (`spec.containers{c}` or `spec.initContainers{c}`), or about
        the pod itself when `container` is empty."""
        inits = {c.get("name") for c in (pod.get("spec") or {}).get("initContainers") or []}
        field = "initContainers" if container in inits else "containers"
        self.events.record(pod, reason=reason, message=message, event_type=event_type,
                           field_path=f"spec.{field}{{{container}}}" if container else None)

    def _once(self, key: tuple[str, str], value: Any, repeat_after: float | None = None) -> bool:
        """Whether a warning about `key` saying `value` should be recorded now (not on every sync)."""
        now = self.wall()
        with self._lock:
            previous = self._reported.get(key)
            if previous is not None and previous[0] == value and (
                    repeat_after is None or now - previous[1] < repeat_after):
                return False
            self._reported[key] = (value, now)
            return True

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
        spec = pod["spec"]
        sandbox = self._sandbox(pod) or self._create_sandbox(pod)
        info = PodRuntimeInfo(pod_ip=sandbox.ip, host_ip=self.settings.node_ip, allocatable=self.settings.allocatable)
        volumes, volume_problems = self.volumes.setup(pod, self.source, info)
        for name, problem in volume_problems.items():
            if self._once((uid, f"volume:{name}"), problem, REPEAT_WARNING_AFTER):
                log.warning("pod %s/%s: volume %s: %s", pod["metadata"].get("namespace"), pod["metadata"]["name"],
                            name, problem)
                self.events.record(pod, reason="FailedMount", event_type="Warning",
                                   message=f'MountVolume.SetUp failed for volume "{name}" : {problem}')
        attempts = self._attempts(sandbox.id)
        states = self._probe_states(pod, attempts)
        kills = {name: state.kill.value.lower() for name, state in states.items() if state.kill}
        actions = compute_actions(pod, attempts, kills)
        if actions.kill:
            self._kill_for_probes(pod, sandbox, attempts, actions.kill)
            attempts = self._attempts(sandbox.id)
            actions = compute_actions(pod, attempts)
        waiting: dict[str, tuple[str, str]] = {}
        started = False
        specs = {c["name"]: c for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]}
        if not volume_problems:  # as the kubelet: no container starts before every volume is there
            for name in actions.start:
                reason = self._start(pod, sandbox, specs[name], attempts.get(name, []), volumes, info,
                                     init=not actions.init_done)
                if reason is None:
                    started = True
                else:
                    waiting[name] = reason
            if actions.start:
                if started and not _readiness_gated(specs, actions.start):
                    time.sleep(STARTED_SETTLE_SECONDS)
                attempts = self._attempts(sandbox.id)
        self.probes.update_pod(pod, self._views(pod, attempts), sandbox.ip)  # before reading them: new workers
        states = self._probe_states(pod, attempts)
        status = compute_status(pod, sandbox, attempts, waiting, now=self.wall(), host_ip=self.settings.node_ip,
                                probes=states, initialized=actions.init_done or None)
        self._write_status(pod, status)
        if status["phase"] in ("Succeeded", "Failed"):
            self.probes.remove_pod(uid)
            return None
        return Result(requeue_after=self.settings.resync_seconds)

    @staticmethod
    def _views(pod: Obj, attempts: Mapping[str, list[ContainerStatus]]) -> dict[str, ContainerView]:
        """The latest attempt of each app container, as the probes see it."""
        views = {}
        for container in pod["spec"].get("containers") or []:
            history = attempts.get(container["name"]) or []
            if history:
                latest = history[-1]
                views[container["name"]] = ContainerView(
                    container_id=latest.id, running=latest.state is ContainerState.RUNNING,
                    terminated=latest.state is ContainerState.EXITED, started_at=latest.started_at)
        return views

    def _probe_states(self, pod: Obj, attempts: Mapping[str, list[ContainerStatus]]) -> dict[str, ProbeState]:
        uid = pod["metadata"]["uid"]
        return {name: self.probes.state(uid, name, view) for name, view in self._views(pod, attempts).items()}

    def _kill_for_probes(self, pod: Obj, sandbox: SandboxStatus, attempts: Mapping[str, list[ContainerStatus]],
                         kills: Mapping[str, str]) -> None:
        """Kill (in parallel) the containers whose liveness or startup probe failed."""
        specs = {c["name"]: c for c in pod["spec"].get("containers") or []}
        threads = []
        for name, message in kills.items():
            container, latest = specs[name], attempts[name][-1]
            probe = container.get("livenessProbe" if "liveness" in message else "startupProbe") or {}
            grace = probe.get("terminationGracePeriodSeconds")
            if not isinstance(grace, int) or isinstance(grace, bool):
                grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
            threads.append(threading.Thread(target=self.containers.kill, args=(pod, container, latest),
                                            kwargs={"message": message, "grace": float(grace),
                                                    "pod_ip": sandbox.ip}, name=f"kill-{name}"))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _start(self, pod: Obj, sandbox: SandboxStatus, container: Obj, history: list[ContainerStatus],
               volumes: Mapping[str, Any], info: PodRuntimeInfo, *, init: bool) -> tuple[str, str] | None:
        """Start the next attempt of `container` unless its back-off holds it: None when it runs, else why not."""
        uid, name = pod["metadata"]["uid"], container["name"]
        key = (uid, name)
        latest = history[-1] if history else None
        if latest is not None and latest.state == ContainerState.CREATED:
            # Created but never started (the agent stopped between the two calls): start it afresh.
            self.runtime.remove_container(latest.id)
            history, attempt = history[:-1], _attempt_of(latest)
        else:
            attempt = _attempt_of(latest) + 1 if latest is not None else 0
        previous = history[-1] if history else None
        retry = previous is not None or key in self._failures
        if retry:  # wait for the back-off
            with self._lock:
                remaining = self._backoff.remaining(key, self.wall())
                until = self._backoff.until(key)
            if remaining > 0:
                if self._once(key, until):
                    self._record(pod, name, "Warning", "BackOff",
                                 f"Back-off restarting failed container {name} in pod {format_pod(pod)}")
                return self._failures.get(key) or self._crash_loop(pod, name)
        image_waiting = self.containers.image(pod, container)
        if image_waiting is not None:  # pulls have their own back-off
            return image_waiting
        if retry:
            with self._lock:
                ran = (previous.finished_at - previous.started_at
                       if previous is not None and previous.finished_at and previous.started_at else 0.0)
                self._backoff.attempt(key, self.wall(), ran_for=ran)
        failure = self.containers.start(pod, sandbox, container, attempt=attempt, volumes=volumes, info=info)
        for old in history:  # keep only the previous attempt (for `logs --previous`)
            if old is not previous:
                self.runtime.remove_container(old.id)
        if failure is None:
            self._failures.pop(key, None)
            return None
        if failure[0] == CONFIG_ERROR:  # waits for an object or a fix, not for a back-off: retried every sync
            self._failures.pop(key, None)
            if self._once((uid, f"config:{name}"), failure[1], CONFIG_ERROR_REPEAT):
                log.warning("pod %s/%s: container %s: %s: %s", pod["metadata"].get("namespace"),
                            pod["metadata"]["name"], name, CONFIG_ERROR, failure[1])
                self._record(pod, name, "Warning", "Failed", f"Error: {failure[1]}")
            return failure
        self._failures[key] = failure
        made = self._attempts(sandbox.id).get(name, [])
        policy = pod["spec"].get("restartPolicy", "Always")
        restarts = policy != "Never" if init else bool(made) and should_restart(policy, made[-1])
        if made and made[-1].state == ContainerState.EXITED and not restarts:
            return None  # a failed attempt that is never retried is terminated, not waiting
        return failure

    def _crash_loop(self, pod: Obj, name: str) -> tuple[str, str]:
        delay = self._backoff.delay((pod["metadata"]["uid"], name))
        return CRASH_LOOP, f"back-off {delay:.0f}s restarting failed container={name} pod={format_pod(pod)}"

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
            history.sort(key=_attempt_of)
        return out

    def _write_status(self, pod: Obj, status: Obj) -> None:
        if _without_nulls(status) == _without_nulls(pod.get("status")):  # the server stores no null fields
            return
        updated = {**pod, "status": status}
        self.client.update_status(updated)

    # ---- deletion ---------------------------------------------------------------------------

    def _terminate(self, pod: Obj) -> None:
        """Graceful deletion: each running container is killed (preStop, SIGTERM, SIGKILL after the grace
        period), then the sandbox and the pod are removed."""
        meta = pod["metadata"]
        self.probes.remove_pod(meta["uid"])
        grace = meta.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
        sandbox = self._sandbox(pod)
        if sandbox is not None:
            specs = {c["name"]: c for c in [*(pod["spec"].get("initContainers") or []),
                                            *(pod["spec"].get("containers") or [])]}
            running = [c for c in self.runtime.list_containers(sandbox.id) if c.state == ContainerState.RUNNING]
            stoppers = []
            for status in running:
                name = status.labels.get(podspec.CONTAINER_NAME, status.name)
                container = specs.get(name, {"name": name})
                stoppers.append(threading.Thread(
                    target=self.containers.kill, args=(pod, container, status),
                    kwargs={"message": f"Stopping container {name}", "grace": float(grace), "pod_ip": sandbox.ip},
                    name=f"stop-{name}"))
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
        self.probes.remove_pod(uid)
        self.runtime.stop_pod_sandbox(sandbox_id)
        self.runtime.remove_pod_sandbox(sandbox_id)
        if self.release_network is not None:
            self.release_network(uid)
        self.volumes.remove(uid)
        shutil.rmtree(os.path.join(self.pods_dir, uid), ignore_errors=True)
        self.containers.images.forget(uid)
        with self._lock:
            self._backoff.forget_if(lambda key: key[0] == uid)
            for table in (self._failures, self._reported):
                for key in [k for k in table if k[0] == uid]:
                    del table[key]
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


def _readiness_gated(specs: Mapping[str, Obj], started: list[str]) -> bool:
    """Whether every container just started has a readiness probe that its Ready waits for (init
    containers cannot have one)."""
    return all(bool((specs.get(name) or {}).get("readinessProbe")) for name in started)


def _without_nulls(value: Any) -> Any:
    """`value` with every null field of its objects left out, as the API server stores it."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _attempt_of(container: ContainerStatus | None) -> int:
    try:
        return int(container.labels.get(podspec.ATTEMPT, "0")) if container is not None else 0
    except ValueError:
        return 0
