"""From a Pod object to runtime configs: labels, command, env, limits, mounts (pure functions).

The kubelet resolves everything Kubernetes resolves before a container starts: the environment
(`envvars`), the volumes (`volumes`), then here `command` + `args` with their `$(VAR)`
references expanded against that environment, cpu/memory limits, and mounts of the volumes'
host directories (read-only where the volume or the mount says so; `subPath` mounts a part).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from minik8s.api.kinds.pod import PYTHON_ZYGOTE_ANNOTATION
from minik8s.api.quantity import parse_quantity

from .expansion import expand_all
from .runtime import python_zygote
from .runtime.base import ContainerConfig, Mount
from .volumes import HostVolume

POD_UID = "minik8s.io/pod-uid"
POD_NAME = "minik8s.io/pod-name"
POD_NAMESPACE = "minik8s.io/namespace"
NODE = "minik8s.io/node"  # several node agents may share one Docker engine
CONTAINER_NAME = "minik8s.io/container-name"
ATTEMPT = "minik8s.io/attempt"

Obj = dict[str, Any]


def pod_labels(pod: Obj) -> dict[str, str]:
    """Runtime labels that tie a sandbox or container back to its pod (for adoption after restart)."""
    meta = pod["metadata"]
    return {POD_UID: meta["uid"], POD_NAME: meta["name"], POD_NAMESPACE: meta.get("namespace", "default"),
            NODE: (pod.get("spec") or {}).get("nodeName") or ""}


def _limits(container: Obj) -> tuple[int | None, int | None]:
    limits = (container.get("resources") or {}).get("limits") or {}
    cpu = int(parse_quantity(limits["cpu"]) * 1000) if "cpu" in limits else None
    memory = int(parse_quantity(limits["memory"])) if "memory" in limits else None
    return cpu, memory


def _mounts(container: Obj, volumes: Mapping[str, HostVolume]) -> list[Mount]:
    mounts = []
    for mount in container.get("volumeMounts") or []:
        volume = volumes.get(mount.get("name"))
        if volume is None:
            continue
        sub_path = mount.get("subPath") or ""
        if sub_path.startswith("/") or ".." in sub_path.split("/"):
            raise ValueError(f"volume mount {mount.get('name')!r}: subPath {sub_path!r} must be a relative path "
                             f"without '..'")
        source = os.path.join(volume.path, sub_path) if sub_path else volume.path
        mounts.append(Mount(source, mount["mountPath"], bool(mount.get("readOnly")) or volume.read_only))
    return mounts


def _hints(pod: Obj) -> dict[str, str]:
    """Runtime hints the pod's annotations give (labels a runtime that does not know them ignores)."""
    annotations = pod["metadata"].get("annotations") or {}
    return {python_zygote.LABEL: "true"} if annotations.get(PYTHON_ZYGOTE_ANNOTATION) == "true" else {}


def container_config(pod: Obj, container: Obj, *, attempt: int, env: Mapping[str, str],
                     volumes: Mapping[str, HostVolume], log_path: str | None) -> ContainerConfig:
    """The runtime config of one attempt of one container, with its resolved environment `env`."""
    cpu, memory = _limits(container)
    environment = {"HOSTNAME": pod["metadata"].get("name", ""), **env}
    return ContainerConfig(
        name=container["name"], image=container.get("image", ""),
        command=[*expand_all(container.get("command") or [], environment),
                 *expand_all(container.get("args") or [], environment)],
        env=environment, working_dir=container.get("workingDir"), mounts=_mounts(container, volumes),
        cpu_limit_millis=cpu, memory_limit_bytes=memory,
        labels={**pod_labels(pod), CONTAINER_NAME: container["name"], ATTEMPT: str(attempt), **_hints(pod)},
        log_path=log_path,
    )
