"""Real master processes on loopback for integration tests: start, kill -9, restart, stop by pid."""

from __future__ import annotations

import contextlib

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Iterator
from typing import Any, Callable

import requests

from minik8s.api.certs import ensure_serving_certs
from minik8s.api.kubeconfig import write_kubeconfig

TOKEN = "test-token-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition: Callable[[], Any], *, timeout: float, interval: float = 0.05, what: str = "condition") -> Any:
    """Poll `condition` until it returns a truthy value or `timeout` passes (then AssertionError).

    Exceptions from the condition count as "not yet", except AssertionError: it means the wait is hopeless.
    """
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except AssertionError:
            raise
        except Exception as exc:  # the condition may fail while things start
            last_exc = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last error: {last_exc!r})")


@dataclass
class MasterProcess:
    name: str
    data_dir: Path
    raft_addr: str
    api_port: int
    peers: list[str]
    log_path: Path
    extra_args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    scheme: str = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.api_port}"

    def command(self, token_file: Path, secret_file: Path) -> list[str]:
        return [sys.executable, "-m", "minik8s.cli.main", "master", "--name", self.name,
                "--data-dir", str(self.data_dir), "--raft-addr", self.raft_addr, "--peers", ",".join(self.peers),
                "--api-addr", f"127.0.0.1:{self.api_port}", "--token-file", str(token_file),
                "--cluster-secret-file", str(secret_file), *self.extra_args]

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class Cluster:
    """N masters of one cluster, each a real `minik8s master` process."""

    def __init__(self, root: Path, size: int, *, extra_args: list[str] | None = None, tls: bool = False) -> None:
        """`tls`: serve HTTPS with a fresh CA (kubectl sends tokens only over TLS); `ca_file` verifies it."""
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        extra_args = list(extra_args or [])
        self.ca_file: str | None = None
        if tls:
            certs = ensure_serving_certs(root / "pki", ["127.0.0.1", "localhost"])
            self.ca_file = str(certs.ca_file)
            extra_args += ["--tls-cert-file", str(certs.cert_file), "--tls-private-key-file", str(certs.key_file)]
        self.token_file = root / "tokens.csv"
        self.token_file.write_text(f'{TOKEN},admin,1,"system:masters"\n')
        self.secret_file = root / "secret"
        self.secret_file.write_text("integration-test-secret\n")
        raft = [f"127.0.0.1:{free_port()}" for _ in range(size)]
        self.masters = [
            MasterProcess(f"m{i}", root / f"m{i}", raft[i], free_port(), [a for a in raft if a != raft[i]],
                          root / f"m{i}.log", extra_args, scheme="https" if tls else "http")
            for i in range(size)
        ]
        self.session = requests.Session()
        self.session.trust_env = False  # else REQUESTS_CA_BUNDLE from the environment beats session.verify
        self.session.headers["Authorization"] = f"Bearer {TOKEN}"
        if self.ca_file:
            self.session.verify = self.ca_file

    def write_kubeconfig(self, path: Path, master: int = 0) -> Path:
        """A kubeconfig for kubectl pointing at one master (with the CA when TLS is on)."""
        write_kubeconfig(path, server=self.masters[master].url, token=TOKEN, ca_file=self.ca_file)
        return path

    def start(self, index: int | None = None) -> None:
        for m in self.masters if index is None else [self.masters[index]]:
            log = open(m.log_path, "ab")
            m.proc = subprocess.Popen(m.command(self.token_file, self.secret_file), stdout=log,
                                      stderr=subprocess.STDOUT, start_new_session=True)
            log.close()

    def kill(self, index: int) -> None:
        """kill -9 one master."""
        m = self.masters[index]
        if m.alive:
            assert m.proc is not None
            os.kill(m.proc.pid, signal.SIGKILL)
            m.proc.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM every live master, SIGKILL what does not exit."""
        for m in self.masters:
            if m.alive:
                m.proc.terminate()  # type: ignore[union-attr]
        for m in self.masters:
            if m.proc is not None:
                try:
                    m.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    m.proc.kill()
                    m.proc.wait(timeout=10)
        self.session.close()

    def wait_ready(self, timeout: float = 30.0, indices: list[int] | None = None) -> None:
        chosen = [self.masters[i] for i in (indices if indices is not None else range(len(self.masters)))]

        def ready() -> bool:
            for m in chosen:
                if not m.alive:
                    raise AssertionError(f"{m.name} exited; log:\n{m.log_path.read_text()[-3000:]}")
                if requests.get(f"{m.url}/readyz", timeout=1, verify=self.ca_file or True).status_code != 200:
                    return False
            return True

        wait_for(ready, timeout=timeout, what="masters ready")

    def status(self, index: int) -> dict[str, Any]:
        return self.session.get(f"{self.masters[index].url}/cluster/status", timeout=5).json()

    def leader_index(self) -> int:
        def find() -> int | None:
            for i, m in enumerate(self.masters):
                if m.alive and self.status(i)["role"] == "leader":
                    return i + 1
            return None

        return wait_for(find, timeout=15, what="a leader") - 1

    def get(self, master: MasterProcess | int, path: str, **kw: Any) -> requests.Response:
        m = self.masters[master] if isinstance(master, int) else master
        return self.session.get(m.url + path, timeout=kw.pop("timeout", 10), **kw)

    def post(self, master: MasterProcess | int, path: str, body: Any, **kw: Any) -> requests.Response:
        m = self.masters[master] if isinstance(master, int) else master
        return self.session.post(m.url + path, json=body, timeout=kw.pop("timeout", 15), **kw)


@contextlib.contextmanager
def running(root: Path, size: int, **options: Any) -> Iterator[Cluster]:
    """A started, ready cluster (`Cluster` options passed on), stopped by pid when the block ends."""
    cluster = Cluster(root, size, **options)
    try:
        cluster.start()
        cluster.wait_ready()
        yield cluster
    finally:
        cluster.stop()


def configmap(name: str, value: str = "v", namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"v": value}}
