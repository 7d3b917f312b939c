"""The image registry of a `minik8s up` cluster with Docker nodes: this machine's images, served to every node.

A manifest that says `image: nginx` means `nginx:latest`, which Kubernetes pulls on every start
(`imagePullPolicy` defaults to Always). So that such manifests run as written without the
internet, `up` runs Debian's `docker-registry` (distribution 2.8) on port 5000 of the cluster's
hosts gateway (a private address every node host routes to, never the machine's other
networks), keeps its storage in `DIR/registry` (an image already there is not pushed again on the
next `up`), pushes this machine's local images into it with the project's `scripts/push-images.sh`
(the images `scripts/build-images.sh` makes, under their Docker Hub names: `library/nginx:latest`,
`minik8s/busybox:1.35`, ...), and every node engine uses it as its `--registry-mirror`. Names it
lacks are looked up on Docker Hub, as with any mirror. `stop` ends the registry by its pid.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from minik8s.api.secretfiles import open_private_append, write_private

from .procs import alive

__all__ = ["PORT", "PUSH_SCRIPT", "ClusterRegistry", "missing_tools", "stop"]

PORT = 5000
PUSH_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "push-images.sh"
TOOLS = ("dockerd", "docker", "docker-registry", "skopeo")


def missing_tools() -> list[str]:
    """The programs Docker nodes need that are not installed (scripts/install-docker.sh installs them)."""
    return [tool for tool in TOOLS if shutil.which(tool) is None]


@dataclass(frozen=True)
class ClusterRegistry:
    """The registry of one cluster: its address and its files under the data dir."""

    address: str  # host:port on the hosts gateway
    root: Path  # DIR
    htpasswd: Path | None = None  # bcrypt htpasswd file: pulls and pushes need a password (basic auth)

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @property
    def storage(self) -> Path:
        return self.root / "registry"

    def config(self) -> str:
        """The registry's configuration (distribution's YAML)."""
        return (f"version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n"
                f"storage:\n  filesystem:\n    rootdirectory: {self.storage}\n  delete:\n    enabled: true\n"
                f"http:\n  addr: {self.address}\n"
                + (f"auth:\n  htpasswd:\n    realm: minik8s\n    path: {self.htpasswd}\n" if self.htpasswd else ""))

    def start(self) -> int:
        """Start the registry and wait until it answers; returns its pid."""
        self.storage.mkdir(mode=0o700, exist_ok=True)
        config = self.root / "registry.yml"
        write_private(config, self.config())
        with os.fdopen(open_private_append(self.root / "registry.log"), "ab") as log:
            proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 15
        while True:
            try:
                if requests.get(f"{self.url}/v2/", timeout=1).status_code in (200, 401):  # 401: it asks for auth
                    return proc.pid
            except requests.RequestException:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                stop(proc.pid)
                raise RuntimeError(f"the cluster registry on {self.address} did not start; see {self.root}/registry.log")
            time.sleep(0.05)

    def push_local_images(self) -> None:
        """Push this machine's local images (see the module docstring); RuntimeError with the script's output."""
        if not PUSH_SCRIPT.exists():
            raise RuntimeError(f"{PUSH_SCRIPT} is missing: Docker nodes need the images it pushes")
        done = subprocess.run([str(PUSH_SCRIPT), self.address], capture_output=True, text=True, timeout=600)
        with os.fdopen(open_private_append(self.root / "registry.log"), "ab") as log:
            log.write((done.stdout + done.stderr).encode())
        if done.returncode != 0:
            raise RuntimeError(f"pushing the local images to {self.address} failed:\n{done.stderr.strip()[-2000:]}")



def stop(pid: int, timeout: float = 10.0) -> None:
    """End the registry process `pid` (SIGTERM, then SIGKILL); nothing when no registry runs under that pid."""
    if not alive(pid, "docker-registry"):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(pid, "docker-registry"):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            break
        time.sleep(0.05)
