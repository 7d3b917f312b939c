"""From a Pod object to runtime configs: commands, env, limits, volumes (pure functions).

The kubelet resolves everything Kubernetes resolves before a container starts: `command` +
`args`, `env` with the common `fieldRef`s, cpu/memory limits, and volumes (`emptyDir` as a
directory per pod, `hostPath` as is) turned into host-path mounts.
"""

from __future__ import annotations

import os
from typing import Any

from minik8s.api.quantity import parse_quantity

from .runtime.base import ContainerConfig, Mount

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


def volume_dirs(pod: Obj, pods_dir: str, problems: dict[str, str] | None = None) -> dict[str, str]:
    """Host directory of every emptyDir/hostPath volume of the pod (emptyDirs are created).

    A volume whose directory cannot be made (or whose path is not a usable string) is left out
    and, when `problems` is given, the reason is put there under the volume's name.
    """
    dirs: dict[str, str] = {}
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        name = volume.get("name")
        try:
            if "hostPath" in volume:
                path = (volume.get("hostPath") or {}).get("path")
                if path:
                    if (volume["hostPath"].get("type") or "") in ("DirectoryOrCreate", ""):
                        os.makedirs(path, exist_ok=True)
                    dirs[name] = path
            else:  # emptyDir (and anything unsupported) is a fresh directory that lives as long as the pod
                path = os.path.join(pods_dir, pod["metadata"]["uid"], "volumes", name)
                os.makedirs(path, exist_ok=True)
                dirs[name] = path
        except (OSError, ValueError, TypeError) as exc:
            if problems is not None:
                problems[str(name)] = f"volume {name!r}: {exc}"
    return dirs


def mount_problem(container: Obj, volume_problems: dict[str, str]) -> str | None:
    """Why one of the container's volume mounts cannot be set up (None: all fine)."""
    for mount in container.get("volumeMounts") or []:
        problem = volume_problems.get(str(mount.get("name")))
        if problem is not None:
            return problem
    return None


def _env(container: Obj, pod: Obj, pod_ip: str | None) -> dict[str, str]:
    meta = pod["metadata"]
    fields = {"metadata.name": meta.get("name"), "metadata.namespace": meta.get("namespace"),
              "metadata.uid": meta.get("uid"), "spec.nodeName": (pod.get("spec") or {}).get("nodeName"),
              "status.podIP": pod_ip, "spec.serviceAccountName": (pod.get("spec") or {}).get("serviceAccountName")}
    env: dict[str, str] = {"HOSTNAME": meta.get("name", "")}
    for item in container.get("env") or []:
        value = item.get("value")
        field_ref = ((item.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
        if field_ref:
            value = fields.get(field_ref) or ""
        env[item["name"]] = "" if value is None else str(value)
    return env


def _limits(container: Obj) -> tuple[int | None, int | None]:
    limits = (container.get("resources") or {}).get("limits") or {}
    cpu = int(parse_quantity(limits["cpu"]) * 1000) if "cpu" in limits else None
    memory = int(parse_quantity(limits["memory"])) if "memory" in limits else None
    return cpu, memory


def container_config(pod: Obj, container: Obj, *, attempt: int, volumes: dict[str, str], pod_ip: str | None,
                     log_path: str | None) -> ContainerConfig:
    """The runtime config of one attempt of one container."""
    cpu, memory = _limits(container)
    mounts = [Mount(volumes[m["name"]], m["mountPath"], bool(m.get("readOnly")))
              for m in container.get("volumeMounts") or [] if m.get("name") in volumes]
    return ContainerConfig(
        name=container["name"], image=container.get("image", ""),
        command=[*(container.get("command") or []), *(container.get("args") or [])],
        env=_env(container, pod, pod_ip), working_dir=container.get("workingDir"), mounts=mounts,
        cpu_limit_millis=cpu, memory_limit_bytes=memory,
        labels={**pod_labels(pod), CONTAINER_NAME: container["name"], ATTEMPT: str(attempt)},
        log_path=log_path,
    )
