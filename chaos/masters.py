"""A set of `minik8s master` processes on loopback that nemeses can kill, restart and pause.

`MasterSet(root, size)` writes a token file and a cluster secret under ROOT (0600), gives each
member free loopback ports and its own data directory, and starts them as `python -m
minik8s.cli.main master` in sessions of their own (so a SIGSTOP reaches exactly one member). It
only ever signals the pids it started. `stop()` ends them all (SIGCONT first: a paused member
could not exit).

With `network=True` each member runs in a network namespace of its own instead (`MasterNet`), on
its own address, so that nemeses can partition the members; `stop()` removes the namespaces.
With `lazy_disks=True` each member's data directory is a lazyfs mount (`LazyMount`) over
`ROOT/mI.disk`, which keeps what was not fsynced in memory: `power_off(indices)` kills the members
and then their lazyfs daemons, so whatever they had not fsynced is gone; `start` mounts again.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from .lazyfs import LazyMount, unsynced_pages
from .network import MasterNet

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@dataclass
class Member:
    """One master: its identity, ports, data directory, log and process."""

    name: str
    host: str
    raft_addr: str
    api_port: int
    data_dir: Path
    log_path: Path
    peers: list[str]
    process: subprocess.Popen[bytes] | None = None
    paused: bool = False
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


class MasterSet:
    """N masters of one cluster (see the module docstring)."""

    def __init__(self, root: Path, size: int = 3, *, env: dict[str, str] | None = None,
                 extra_args: list[str] | None = None, network: bool = False, lazy_disks: bool = False) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o700)
        self.token = secrets.token_hex(16)
        self.token_file = root / "tokens.csv"
        self.secret_file = root / "cluster-secret"
        for path, text in ((self.token_file, f'{self.token},admin,1,"system:masters"\n'),
                           (self.secret_file, secrets.token_urlsafe(32) + "\n")):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(text)
        self.extra_args = list(extra_args or [])
        self.net = MasterNet(size) if network else None
        if self.net is not None:  # a namespace each: the same ports on every member's own address
            hosts = self.net.addresses
            raft = [f"{host}:2380" for host in hosts]
            api_ports = [6443] * size
        else:
            hosts = [HOST] * size
            raft = [f"{HOST}:{free_port()}" for _ in range(size)]
            api_ports = [free_port() for _ in range(size)]
        self.members = [Member(f"m{i}", hosts[i], raft[i], api_ports[i], root / f"m{i}", root / f"m{i}.log",
                               [a for a in raft if a != raft[i]], extra_env=dict(env or {}))
                        for i in range(size)]
        self.disks = [LazyMount(root / f"m{i}.disk", member.data_dir, log_path=root / f"m{i}.lazyfs.log")
                      for i, member in enumerate(self.members)] if lazy_disks else []
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.headers["Authorization"] = f"Bearer {self.token}"

    @property
    def urls(self) -> list[str]:
        return [m.url for m in self.members]

    def start(self, index: int | None = None) -> None:
        """Start every member (or one) that is not running (the first call makes their network)."""
        if self.net is not None and not self.net.created:
            self.net.create()
        for i in range(len(self.members)) if index is None else [index]:
            member = self.members[i]
            if member.alive:
                continue
            if self.disks and not self.disks[i].alive:
                self.disks[i].start()
            argv = [sys.executable, "-m", "minik8s.cli.main", "master", "--name", member.name,
                    "--data-dir", str(member.data_dir), "--raft-addr", member.raft_addr,
                    "--peers", ",".join(member.peers), "--api-addr", f"{member.host}:{member.api_port}",
                    "--token-file", str(self.token_file), "--cluster-secret-file", str(self.secret_file),
                    *self.extra_args]
            if self.net is not None:
                argv = self.net.command(i, argv)
            with open(member.log_path, "ab") as log:
                member.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                                  env={**os.environ, **member.extra_env})
            member.paused = False

    def kill(self, index: int) -> None:
        """kill -9 one member and reap it."""
        member = self.members[index]
        if member.alive and member.process is not None:
            os.kill(member.process.pid, signal.SIGKILL)
            member.process.wait(timeout=30)
        member.paused = False

    def power_off(self, indices: list[int]) -> int:
        """kill -9 these members, then their disks' lazyfs daemons (a power loss); returns how many
        pages their disks had not synced, which are now lost."""
        if not self.disks:
            raise RuntimeError("a power loss needs MasterSet(lazy_disks=True)")
        for index in indices:
            self.kill(index)
        lost = 0
        for index in indices:
            disk = self.disks[index]
            if disk.alive:
                lost += unsynced_pages(disk.mountpoint, disk.backing)
            disk.power_loss()
        return lost

    def pause(self, index: int) -> None:
        member = self.members[index]
        if member.alive and member.process is not None and not member.paused:
            os.kill(member.process.pid, signal.SIGSTOP)
            member.paused = True

    def resume(self, index: int) -> None:
        member = self.members[index]
        if member.alive and member.process is not None and member.paused:
            os.kill(member.process.pid, signal.SIGCONT)
        member.paused = False

    def stop(self) -> None:
        """SIGTERM every live member (SIGKILL after 10 s); nothing else is touched."""
        for index, member in enumerate(self.members):
            self.resume(index)
            if member.alive and member.process is not None:
                member.process.terminate()
        for member in self.members:
            if member.process is not None:
                try:
                    member.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    member.process.kill()
                    member.process.wait(timeout=10)
        self.session.close()
        for disk in self.disks:
            disk.stop()
        if self.net is not None:
            self.net.delete()

    def status(self, index: int, *, digest: bool = False, timeout: float = 2.0) -> dict[str, Any] | None:
        """A member's `/cluster/status` (with its store digest), or None when it does not answer."""
        member = self.members[index]
        if not member.alive or member.paused:
            return None
        try:
            resp = self.session.get(f"{member.url}/cluster/status", params={"digest": "true"} if digest else None,
                                    timeout=timeout)
            return resp.json() if resp.status_code == 200 else None
        except (requests.RequestException, ValueError):
            return None

    def ready(self, index: int) -> bool:
        member = self.members[index]
        if not member.alive or member.paused:
            return False
        try:
            return self.session.get(f"{member.url}/readyz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def wait_ready(self, timeout: float = 60.0, indices: list[int] | None = None) -> None:
        """Until every member (or those given) answers /readyz; RuntimeError with a log tail otherwise."""
        chosen = list(range(len(self.members))) if indices is None else indices
        deadline = time.monotonic() + timeout
        while not all(self.ready(i) for i in chosen):
            for i in chosen:
                if not self.members[i].alive:
                    raise RuntimeError(f"{self.members[i].name} exited:\n{self.log_tail(i)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"masters not ready within {timeout:.0f} s")
            time.sleep(0.1)

    def leader_index(self) -> int | None:
        """The member that says it leads (None while no live member does)."""
        for index in range(len(self.members)):
            status = self.status(index)
            if status and status.get("role") == "leader":
                return index
        return None

    def log_tail(self, index: int, lines: int = 40) -> str:
        try:
            return "\n".join(self.members[index].log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
