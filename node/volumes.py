"""A pod's volumes as host directories: emptyDir, hostPath, and the API-data volumes kept up to date.

Every volume becomes one directory on the node that the runtimes bind-mount into the containers
that mount it (in the container's own mount namespace on the process runtime, as a Docker bind
mount on Docker):

- `emptyDir` (and kinds this node does not implement): `<pods dir>/<uid>/volumes/<name>`, made
  empty when the pod starts and removed with it;
- `hostPath`: the path itself (created for `DirectoryOrCreate`/`FileOrCreate` and the default);
- `configMap`, `secret`, `downwardAPI`, `projected`: `<pods dir>/<uid>/volumes/<name>`, filled by
  the `AtomicWriter` (`..data` symlink swap) with one file per key or item, modes from `mode` /
  `defaultMode` (0644 by default), always mounted read-only. `setup` is called on every sync of
  the pod, so a changed ConfigMap or Secret reaches the files within a sync; an unchanged payload
  touches nothing.

As in Kubernetes (`MakePayload` of each volume plugin), a missing ConfigMap or Secret is an error
unless the volume is `optional` (then it is empty), and so is an `items` key it does not have.
A volume that cannot be set up is reported (`problems`) and the previous contents, if any, stay.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import shutil
import threading
from dataclasses import dataclass
from typing import Any

from .atomic_writer import AtomicWriter, FileProjection
from .downward import DownwardError, PodRuntimeInfo, field_value, resource_value
from .envvars import ConfigSource

__all__ = ["API_DATA_KINDS", "HostVolume", "PodVolumes", "VolumeError", "payload_for"]

Obj = dict[str, Any]
API_DATA_KINDS = ("configMap", "secret", "downwardAPI", "projected")
DEFAULT_MODE = 0o644


class VolumeError(Exception):
    """A volume cannot be set up now (the message says why; it never holds data)."""


@dataclass(frozen=True)
class HostVolume:
    """Where a volume is on the node, and whether containers may only read it."""

    path: str
    read_only: bool = False


def _mode(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0o777 else default


def _config_map_files(data: Obj) -> dict[str, bytes]:
    files = {key: str(value).encode() for key, value in (data.get("data") or {}).items()}
    for key, value in (data.get("binaryData") or {}).items():
        try:
            files[key] = base64.b64decode(value or "", validate=True)
        except (binascii.Error, ValueError, TypeError):
            continue
    return files


def _secret_files(secret: Obj) -> dict[str, bytes]:
    files = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            files[key] = base64.b64decode(value or "", validate=True)
        except (binascii.Error, ValueError, TypeError):
            continue
    return files


def _keyed_payload(files: dict[str, bytes] | None, items: list[Obj] | None, mode: int, *, optional: bool,
                   missing_key: str) -> dict[str, FileProjection]:
    """One file per key, or per item (`key` → `path`, with its own `mode`)."""
    if files is None:
        return {}
    if not items:
        return {key: FileProjection(value, mode) for key, value in files.items()}
    payload = {}
    for item in items:
        key = item.get("key", "")
        if key not in files:
            if optional:
                continue
            raise VolumeError(f"{missing_key}: {key}")
        payload[item.get("path") or key] = FileProjection(files[key], _mode(item.get("mode"), mode))
    return payload


def _config_map(ref: Obj, namespace: str, source: ConfigSource, mode: int) -> dict[str, FileProjection]:
    name, optional = ref.get("name", ""), bool(ref.get("optional"))
    found = source.config_map(namespace, name)
    if found is None and not optional:
        raise VolumeError(f'configmap "{name}" not found')
    return _keyed_payload(None if found is None else _config_map_files(found), ref.get("items"),
                          _mode(ref.get("defaultMode"), mode), optional=optional,
                          missing_key="configmap references non-existent config key")


def _secret(ref: Obj, name: str, namespace: str, source: ConfigSource, mode: int) -> dict[str, FileProjection]:
    optional = bool(ref.get("optional"))
    found = source.secret(namespace, name)
    if found is None and not optional:
        raise VolumeError(f'secret "{name}" not found')
    return _keyed_payload(None if found is None else _secret_files(found), ref.get("items"),
                          _mode(ref.get("defaultMode"), mode), optional=optional,
                          missing_key="references non-existent secret key")


def _downward(ref: Obj, pod: Obj, info: PodRuntimeInfo, mode: int) -> dict[str, FileProjection]:
    mode = _mode(ref.get("defaultMode"), mode)
    containers = {c.get("name"): c for c in (pod.get("spec") or {}).get("containers") or []}
    payload = {}
    for item in ref.get("items") or []:
        try:
            if (field_ref := item.get("fieldRef")) is not None:
                value = field_value(pod, field_ref.get("fieldPath", ""), info, whole_maps=True)
            elif (resource_ref := item.get("resourceFieldRef")) is not None:
                container = containers.get(resource_ref.get("containerName"))
                if container is None:
                    raise VolumeError(f"container {resource_ref.get('containerName')!r} not found "
                                      f"(resourceFieldRef of {item.get('path')!r})")
                value = resource_value(container, resource_ref.get("resource", ""), resource_ref.get("divisor"), info)
            else:
                continue
        except DownwardError as exc:
            raise VolumeError(str(exc)) from None
        payload[item.get("path", "")] = FileProjection(value.encode(), _mode(item.get("mode"), mode))
    return payload


def payload_for(volume: Obj, pod: Obj, source: ConfigSource, info: PodRuntimeInfo) -> dict[str, FileProjection] | None:
    """The files of an API-data volume (None for other kinds); raises VolumeError when it cannot be made."""
    namespace = (pod.get("metadata") or {}).get("namespace") or "default"
    if (ref := volume.get("configMap")) is not None:
        return _config_map(ref, namespace, source, DEFAULT_MODE)
    if (ref := volume.get("secret")) is not None:
        return _secret(ref, ref.get("secretName", ""), namespace, source, DEFAULT_MODE)
    if (ref := volume.get("downwardAPI")) is not None:
        return _downward(ref, pod, info, DEFAULT_MODE)
    if (ref := volume.get("projected")) is not None:
        mode = _mode(ref.get("defaultMode"), DEFAULT_MODE)
        payload: dict[str, FileProjection] = {}
        for projection in ref.get("sources") or []:
            if (part := projection.get("configMap")) is not None:
                payload.update(_config_map({**part, "defaultMode": None}, namespace, source, mode))
            elif (part := projection.get("secret")) is not None:
                payload.update(_secret({**part, "defaultMode": None}, part.get("name", ""), namespace, source, mode))
            elif (part := projection.get("downwardAPI")) is not None:
                payload.update(_downward({**part, "defaultMode": None}, pod, info, mode))
            elif projection.get("serviceAccountToken") is not None:
                raise VolumeError("serviceAccountToken projections are not supported (minik8s issues no "
                                  "service account tokens)")
        return payload
    return None


def _digest(payload: dict[str, FileProjection]) -> str:
    h = hashlib.sha256()
    for path in sorted(payload):
        h.update(f"{path}\0{payload[path].mode}\0{len(payload[path].data)}\0".encode())
        h.update(payload[path].data)
    return h.hexdigest()


class PodVolumes:
    """Sets up and refreshes the volumes of this node's pods under `pods_dir`."""

    def __init__(self, pods_dir: str) -> None:
        self.pods_dir = pods_dir
        self._written: dict[tuple[str, str], str] = {}  # (pod uid, volume) -> digest of what is on disk
        self._lock = threading.Lock()

    def setup(self, pod: Obj, source: ConfigSource, info: PodRuntimeInfo) -> tuple[dict[str, HostVolume],
                                                                                    dict[str, str]]:
        """Every volume of `pod` made (or refreshed): (name → HostVolume, name → why it cannot be set up)."""
        volumes: dict[str, HostVolume] = {}
        problems: dict[str, str] = {}
        uid = pod["metadata"]["uid"]
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            name = str(volume.get("name"))
            try:
                volumes[name] = self._setup_one(uid, name, volume, pod, source, info)
            except (VolumeError, OSError, ValueError, TypeError) as exc:
                problems[name] = str(exc)
        return volumes, problems

    def _setup_one(self, uid: str, name: str, volume: Obj, pod: Obj, source: ConfigSource,
                   info: PodRuntimeInfo) -> HostVolume:
        if "hostPath" in volume:
            host_path = volume.get("hostPath") or {}
            path, kind = host_path.get("path"), host_path.get("type") or ""
            if not isinstance(path, str) or not path:
                raise VolumeError("hostPath.path must be a non-empty string")
            if "\0" in path:
                raise VolumeError("hostPath.path contains a NUL byte")
            if kind in ("DirectoryOrCreate", ""):
                if kind or not os.path.exists(path):
                    os.makedirs(path, exist_ok=True)
            elif kind == "FileOrCreate" and not os.path.exists(path):
                os.makedirs(os.path.dirname(path) or "/", exist_ok=True)
                open(path, "a").close()
            return HostVolume(path)
        path = os.path.join(self.pods_dir, uid, "volumes", name)
        if not any(kind in volume for kind in API_DATA_KINDS):  # emptyDir and what this node does not implement
            os.makedirs(path, exist_ok=True)
            return HostVolume(path)
        payload = payload_for(volume, pod, source, info) or {}
        digest = _digest(payload)
        with self._lock:
            unchanged = self._written.get((uid, name)) == digest
        if not unchanged:
            os.makedirs(path, mode=0o755, exist_ok=True)
            AtomicWriter(path).write(payload)
            with self._lock:
                self._written[(uid, name)] = digest
        return HostVolume(path, read_only=True)

    def remove(self, uid: str) -> None:
        """Forget a removed pod's volumes (its directory goes with the pod's)."""
        with self._lock:
            for key in [k for k in self._written if k[0] == uid]:
                del self._written[key]
        shutil.rmtree(os.path.join(self.pods_dir, uid, "volumes"), ignore_errors=True)
