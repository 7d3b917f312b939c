"""Starting and killing one container attempt the way the kubelet does, with its events and hooks.

`start` is the kubelet's `startContainer`: make sure the image is there (`images`), resolve the
environment (`envvars`: ConfigMaps, Secrets, downward API, `$(VAR)`), build the runtime config,
create (`Created`: "Created container: web"), start (`Started`: "Started container web"), then
run the `postStart` hook; a hook that fails records `FailedPostStartHook` (without its output,
which may hold secrets) and kills the container. Whatever stops the container from running is
returned as (waiting reason, message) — `CreateContainerConfigError`, `ErrImagePull`,
`CreateContainerError`, `RunContainerError`, `PostStartHookError` — and recorded as a Warning
event `Failed` ("Error: ...") where the kubelet records one.

`kill` is `killContainer`: `Killing` with the reason, the `preStop` hook within the grace period
(a failure records `FailedPreStopHook`), then SIGTERM with what is left of the grace period (at
least 2 s after a hook, as Kubernetes gives), SIGKILL after it.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from minik8s.api.events import truncate_message

from . import podspec
from .downward import PodRuntimeInfo
from .envvars import ConfigError, ConfigSource, resolve_env
from .handlers import HandlerRunner, Target
from .images import ImageManager
from .dns.podconf import PodDnsFiles
from .runtime.base import (ContainerStatus, Mount, ImageNotPresentError, Runtime, RuntimeError_, SandboxStatus,
                           config_problem, no_command_problem)
from .volumes import HostVolume

__all__ = ["CONFIG_ERROR", "CREATE_ERROR", "POST_START_ERROR", "RUN_ERROR", "ContainerRunner", "Recorder"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
# (pod, container name, event type, reason, message)
Recorder = Callable[[Obj, str, str, str, str], None]

CONFIG_ERROR = "CreateContainerConfigError"
CREATE_ERROR = "CreateContainerError"
RUN_ERROR = "RunContainerError"
IMAGE_NOT_PRESENT = "ErrImageNeverPull"
POST_START_ERROR = "PostStartHookError"
POST_START_TIMEOUT = 300.0  # the kubelet gives exec hooks no limit; a hung hook must not hold the pod for ever
RESOLV_CONF = "/etc/resolv.conf"
MIN_GRACE_AFTER_HOOK = 2.0  # Kubernetes' minimumGracePeriodInSeconds


class ContainerRunner:
    """Starts and kills container attempts through a runtime (see the module docstring)."""

    def __init__(self, runtime: Runtime, *, handlers: HandlerRunner, images: ImageManager, source: ConfigSource,
                 record: Recorder, pods_dir: str, dns: PodDnsFiles | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.runtime = runtime
        self.handlers = handlers
        self.images = images
        self.source = source
        self.record = record
        self.pods_dir = pods_dir
        self.dns = dns
        self.clock = clock

    def image(self, pod: Obj, container: Obj) -> tuple[str, str] | None:
        """Make sure the container's image is on the node: None, or why it waits (ErrImagePull, ...)."""
        waiting = self.images.ensure(pod, container)
        if waiting is not None and waiting[0] != "ImagePullBackOff":
            self.record(pod, container["name"], "Warning", "Failed", f"Error: {waiting[0]}")
        return waiting

    def start(self, pod: Obj, sandbox: SandboxStatus, container: Obj, *, attempt: int,
              volumes: Mapping[str, HostVolume], info: PodRuntimeInfo) -> tuple[str, str] | None:
        """Create and start one attempt of `container` (its image must be there): None when it runs, else
        (waiting reason, message)."""
        name = container["name"]
        logs_dir = os.path.join(self.pods_dir, pod["metadata"]["uid"], "logs")
        os.makedirs(logs_dir, exist_ok=True)
        capabilities = self.runtime.capabilities()
        try:
            resolved = resolve_env(pod, container, self.source, info)
            for warning in resolved.warnings:
                self.record(pod, name, "Warning", "InvalidEnvironmentVariableNames", warning)
            config = podspec.container_config(pod, container, attempt=attempt, env=resolved.env, volumes=volumes,
                                              log_path=os.path.join(logs_dir, f"{name}-{attempt}.log"))
            if self.dns is not None:  # the kubelet's /etc/resolv.conf bind mount (volumes may still mount over it)
                config = dataclasses.replace(config, mounts=[
                    Mount(self.dns.path_for(pod), RESOLV_CONF, read_only=True), *config.mounts])
            problem = (None if container.get("command") else
                       no_command_problem(config.name, config.image, capabilities))  # args alone: no program
            problem = problem or config_problem(config, capabilities)
        except ConfigError as exc:
            problem = str(exc)
        except (ValueError, TypeError, KeyError, OSError) as exc:
            problem = f"container {name!r} cannot be configured: {exc}"
        if problem is not None:
            return self._failed(pod, name, CONFIG_ERROR, problem)
        try:
            container_id = self.runtime.create_container(sandbox.id, config)
        except ImageNotPresentError as exc:
            return self._failed(pod, name, IMAGE_NOT_PRESENT, str(exc))
        except RuntimeError_ as exc:
            return self._failed(pod, name, CREATE_ERROR, str(exc))
        self.record(pod, name, "Normal", "Created", f"Created container: {name}")
        try:
            self.runtime.start_container(container_id)
        except RuntimeError_ as exc:
            message = str(exc)
            if not capabilities.isolates_filesystem:
                message += (f" (the {capabilities.name} runtime runs the container's command on the node's own "
                            f"filesystem; the image {config.image!r} is not used)")
            return self._failed(pod, name, RUN_ERROR, message)
        self.record(pod, name, "Normal", "Started", f"Started container {name}")
        hook = (container.get("lifecycle") or {}).get("postStart")
        if hook:
            target = Target(pod=pod, container=container, container_id=container_id, pod_ip=sandbox.ip)
            failure = self.handlers.hook(hook, target, POST_START_TIMEOUT)
            if failure is not None:
                log.warning("pod %s/%s: postStart hook of %s failed", pod["metadata"].get("namespace"),
                            pod["metadata"]["name"], name)
                self.record(pod, name, "Warning", "FailedPostStartHook", "PostStartHook failed")
                status = self.runtime.container_status(container_id)
                self.kill(pod, container, status, message="FailedPostStartHook", grace=_pod_grace(pod),
                          pod_ip=sandbox.ip)
                return POST_START_ERROR, truncate_message(failure)
        return None

    def _failed(self, pod: Obj, name: str, reason: str, message: str) -> tuple[str, str]:
        """Why the container cannot run; the `Failed` event of a config error is left to the caller, which
        retries those on every sync (nothing was forked) and reports them less often."""
        message = truncate_message(message)
        if reason != CONFIG_ERROR:
            log.warning("pod %s/%s: container %s cannot start (%s): %s", pod["metadata"].get("namespace"),
                        pod["metadata"]["name"], name, reason, message)
            self.record(pod, name, "Warning", "Failed", f"Error: {message}")
        return reason, message

    def kill(self, pod: Obj, container: Obj, status: ContainerStatus, *, message: str, grace: float,
             pod_ip: str | None) -> None:
        """Stop a running attempt: `Killing`, preStop within `grace` seconds, SIGTERM, SIGKILL after the rest."""
        name = container.get("name", status.name)
        self.record(pod, name, "Normal", "Killing", message)
        hook = (container.get("lifecycle") or {}).get("preStop")
        if hook and grace > 0:
            started = self.clock()
            target = Target(pod=pod, container=container, container_id=status.id, pod_ip=pod_ip)
            self._pre_stop(pod, name, hook, target, grace)
            grace = max(grace - (self.clock() - started), MIN_GRACE_AFTER_HOOK)
        try:
            self.runtime.stop_container(status.id, grace)
        except RuntimeError_ as exc:
            log.warning("pod %s/%s: stopping container %s: %s", pod["metadata"].get("namespace"),
                        pod["metadata"]["name"], name, exc)

    def _pre_stop(self, pod: Obj, name: str, hook: Obj, target: Target, grace: float) -> None:
        """Run the preStop hook, waiting for it at most `grace` seconds (it may go on: it is not waited for)."""
        failure: list[str] = []

        def run() -> None:
            try:
                if (message := self.handlers.hook(hook, target, grace)) is not None:
                    failure.append(message)
            except Exception as exc:  # noqa: BLE001 - a hook must never take the kubelet down
                failure.append(repr(exc))

        thread = threading.Thread(target=run, name=f"prestop-{name}", daemon=True)
        thread.start()
        thread.join(grace)
        if thread.is_alive():
            log.info("pod %s/%s: preStop hook of %s did not complete in the grace period",
                     pod["metadata"].get("namespace"), pod["metadata"]["name"], name)
        elif failure:
            log.warning("pod %s/%s: preStop hook of %s failed", pod["metadata"].get("namespace"),
                        pod["metadata"]["name"], name)
            self.record(pod, name, "Warning", "FailedPreStopHook", "PreStopHook failed")


def _pod_grace(pod: Obj) -> float:
    grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
    return float(grace) if isinstance(grace, int) and not isinstance(grace, bool) else 30.0
