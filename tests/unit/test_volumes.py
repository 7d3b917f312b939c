"""Pod volumes: ConfigMap, Secret, downward API and projected payloads, and their updates in place."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from minik8s.node.atomic_writer import DATA_DIR, FileProjection
from minik8s.node.downward import PodRuntimeInfo
from minik8s.node.volumes import PodVolumes, VolumeError, payload_for

Obj = dict[str, Any]
INFO = PodRuntimeInfo(pod_ip="10.244.0.9", host_ip="10.200.0.10", allocatable={"cpu": "2", "memory": "4Gi"})


class Source:
    def __init__(self) -> None:
        self.config_maps: dict[str, Obj] = {"default/cfg": {"data": {"app.conf": "level=debug", "other": "o"},
                                                            "binaryData": {"logo.bin": base64.b64encode(b"\x00\x01")
                                                                           .decode()}}}
        self.secrets: dict[str, Obj] = {"default/creds": {"data": {"password": base64.b64encode(b"s3cr3t").decode()}}}

    def config_map(self, namespace: str, name: str) -> Obj | None:
        return self.config_maps.get(f"{namespace}/{name}")

    def secret(self, namespace: str, name: str) -> Obj | None:
        return self.secrets.get(f"{namespace}/{name}")


POD: Obj = {"metadata": {"name": "web", "namespace": "default", "uid": "uid-1", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "resources": {"limits": {"memory": "32Mi"}}}]}}


def _files(payload: dict[str, FileProjection] | None) -> dict[str, tuple[bytes, int]]:
    return {path: (p.data, p.mode) for path, p in (payload or {}).items()}


def test_payload_config_map_keys_items_and_modes() -> None:
    """Every key (binaryData too) at 0644 by default; `items` pick keys, rename them and set modes."""
    source = Source()
    assert _files(payload_for({"configMap": {"name": "cfg"}}, POD, source, INFO)) == {
        "app.conf": (b"level=debug", 0o644), "other": (b"o", 0o644), "logo.bin": (b"\x00\x01", 0o644)}
    volume = {"configMap": {"name": "cfg", "defaultMode": 0o440,
                            "items": [{"key": "app.conf", "path": "conf/app.conf"},
                                      {"key": "other", "path": "o.txt", "mode": 0o600}]}}
    assert _files(payload_for(volume, POD, source, INFO)) == {"conf/app.conf": (b"level=debug", 0o440),
                                                              "o.txt": (b"o", 0o600)}


@pytest.mark.parametrize(("volume", "message"), [
    pytest.param({"configMap": {"name": "nope"}}, 'configmap "nope" not found', id="configmap"),
    pytest.param({"secret": {"secretName": "nope"}}, 'secret "nope" not found', id="secret"),
    pytest.param({"configMap": {"name": "cfg", "items": [{"key": "gone", "path": "g"}]}},
                 "configmap references non-existent config key: gone", id="configmap-key"),
    pytest.param({"secret": {"secretName": "creds", "items": [{"key": "gone", "path": "g"}]}},
                 "references non-existent secret key: gone", id="secret-key"),
    pytest.param({"projected": {"sources": [{"configMap": {"name": "nope"}}]}}, 'configmap "nope" not found',
                 id="projected"),
])
def test_payload_missing_objects_and_keys(volume: Obj, message: str) -> None:
    """Missing objects and keys are errors with Kubernetes' messages, unless optional (then empty / skipped)."""
    with pytest.raises(VolumeError, match=message):
        payload_for(volume, POD, Source(), INFO)
    kind = next(iter(volume))
    optional = {kind: {**volume[kind], "optional": True}}
    if kind == "projected":
        optional = {"projected": {"sources": [{"configMap": {"name": "nope", "optional": True}}]}}
    assert payload_for(optional, POD, Source(), INFO) == {}


def test_payload_secret_decoded_with_its_mode() -> None:
    """Secret values are decoded; `defaultMode: 0400` gives owner-read-only files."""
    payload = payload_for({"secret": {"secretName": "creds", "defaultMode": 0o400}}, POD, Source(), INFO)
    assert _files(payload) == {"password": (b"s3cr3t", 0o400)}


def test_payload_downward_api_and_projected() -> None:
    """downwardAPI files hold the pod's fields and container resources; projected merges its sources."""
    downward = {"items": [{"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
                          {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                          {"path": "mem", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory",
                                                               "divisor": "1Mi"}, "mode": 0o600}]}
    assert _files(payload_for({"downwardAPI": downward}, POD, Source(), INFO)) == {
        "name": (b"web", 0o644), "labels": (b'app="web"', 0o644), "mem": (b"32", 0o600)}
    projected = {"projected": {"defaultMode": 0o444, "sources": [
        {"configMap": {"name": "cfg", "items": [{"key": "other", "path": "cfg/other"}]}},
        {"secret": {"name": "creds"}}, {"downwardAPI": {"items": downward["items"][:1]}}]}}
    assert _files(payload_for(projected, POD, Source(), INFO)) == {
        "cfg/other": (b"o", 0o444), "password": (b"s3cr3t", 0o444), "name": (b"web", 0o444)}
    assert payload_for({"emptyDir": {}}, POD, Source(), INFO) is None


def test_pod_volumes_update_in_place(tmp_path: Path) -> None:
    """A changed ConfigMap reaches the same directory through a new `..data` version; an unchanged one writes nothing."""
    pod = {**POD, "spec": {**POD["spec"], "volumes": [{"name": "config", "configMap": {"name": "cfg"}},
                                                      {"name": "scratch", "emptyDir": {}},
                                                      {"name": "host", "hostPath": {"path": str(tmp_path / "h")}}]}}
    source, volumes = Source(), PodVolumes(str(tmp_path / "pods"))
    made, problems = volumes.setup(pod, source, INFO)
    assert problems == {}
    config = Path(made["config"].path)
    assert made["config"].read_only and not made["scratch"].read_only and made["host"].path == str(tmp_path / "h")
    assert (config / "app.conf").read_text() == "level=debug" and (tmp_path / "h").is_dir()
    first = os.readlink(config / DATA_DIR)
    volumes.setup(pod, source, INFO)
    assert os.readlink(config / DATA_DIR) == first
    source.config_maps["default/cfg"] = {"data": {"app.conf": "level=info"}}
    volumes.setup(pod, source, INFO)
    assert os.readlink(config / DATA_DIR) != first
    assert (config / "app.conf").read_text() == "level=info" and not os.path.lexists(config / "other")
    assert stat.S_IMODE(os.stat(config / "app.conf").st_mode) == 0o644
    del source.config_maps["default/cfg"]  # gone: reported, and the files stay as they were
    made, problems = volumes.setup(pod, source, INFO)
    assert problems == {"config": 'configmap "cfg" not found'} and "config" not in made
    assert (config / "app.conf").read_text() == "level=info"
    volumes.remove("uid-1")
    assert not config.exists()
