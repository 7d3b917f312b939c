"""Start and stop 3-member clusters on loopback for the benchmarks.

`start_etcd` runs Debian's etcd (3.4, see `scripts/install-etcd.sh`) and `start_minik8s` runs
`minik8s master` processes. Each cluster gets free loopback ports and a fresh temp dir that holds
the members' data and one log file per process. A cluster is a context manager: leaving the
`with` block -- normally, on an exception or on Ctrl-C -- kills every process it started by pid.
The temp dir is removed after a clean exit or an interrupt and kept (its path printed) after
an error, so the logs can be read. The children run in their own session, so a terminal
Ctrl-C reaches only the benchmark, which then stops them in order.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import Self

import requests

ETCD_BIN = "etcd"
MINIK8S_BIN = str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "minik8s")
HOST = "127.0.0.1"
STOP_GRACE_SECONDS = 5.0


class ClusterError(RuntimeError):
    """A cluster did not come up; the message carries the tail of the failing member's log."""


@dataclass
class Member:
    """One started process with the URL its clients talk to."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path


@dataclass
class Cluster:
    """Processes started in one temp dir; stopped (by pid) when the `with` block ends."""

    workdir: Path
    members: list[Member] = field(default_factory=list)

    @property
    def urls(self) -> list[str]:
        return [m.url for m in self.members]

    def cpu_seconds(self) -> float:
        """User + system CPU time used so far by the live members (from /proc)."""
        return sum(process_cpu_seconds(m.process.pid) for m in self.members
                   if m.process.poll() is None)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop(keep_workdir=exc_type is not None and issubclass(exc_type, Exception))

    def stop(self, *, keep_workdir: bool = False) -> None:
        """Terminate every member, kill the ones still alive after a grace period."""
        for member in self.members:
            if member.process.poll() is None:
                member.process.terminate()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for member in self.members:
            try:
                member.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                member.process.kill()
                member.process.wait()
        if keep_workdir:
            print(f"kept {self.workdir} (member logs)", file=sys.stderr)
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass
class EtcdCluster(Cluster):
    """etcd members; `urls` are their client URLs (gRPC gateway under /v3/)."""


@dataclass
class Minik8sCluster(Cluster):
    """minik8s masters; `urls` are their API URLs, `token` is an admin bearer token."""

    token: str = ""


def process_cpu_seconds(pid: int) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)"; utime, stime are 14th, 15th
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so `with` blocks stop the clusters on `kill`, too."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def free_ports(count: int) -> list[int]:
    """Distinct free TCP ports on loopback (all held open until every one is chosen)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def spawn(name: str, argv: list[str], workdir: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """Start one process with stdout and stderr going to `<workdir>/<name>.log`."""
    log_path = workdir / f"{name}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process, log_path


def log_tail(path: Path, lines: int = 20, width: int = 400) -> str:
    try:
        text = path.read_text(errors="replace")
        return "\n".join(line[:width] for line in text.splitlines()[-lines:])
    except OSError as exc:
        return f"(no log: {exc})"


def wait_ready(cluster: Cluster, path: str, *, timeout: float) -> None:
    """Poll `GET <url><path>` on every member until all answer 200 or `timeout` passes."""
    deadline = time.monotonic() + timeout
    pending = list(cluster.members)
    while pending:
        for member in list(pending):
            if member.process.poll() is not None:
                raise ClusterError(
                    f"{member.name} exited with code {member.process.returncode}; "
                    f"log {member.log_path}:\n{log_tail(member.log_path)}"
                )
            if is_ready(member.url + path):
                pending.remove(member)
        if pending and time.monotonic() > deadline:
            member = pending[0]
            raise ClusterError(
                f"{[m.name for m in pending]} not ready on {path} after {timeout:.0f}s; "
                f"log {member.log_path}:\n{log_tail(member.log_path)}"
            )
        if pending:
            time.sleep(0.2)


def is_ready(url: str) -> bool:
    try:
        return requests.get(url, timeout=1.0).status_code == 200
    except requests.RequestException:
        return False


def etcd_argv(name: str, *, data_dir: Path, peer_port: int, client_port: int,
              initial_cluster: str, cluster_token: str) -> list[str]:
    peer_url = f"http://{HOST}:{peer_port}"
    client_url = f"http://{HOST}:{client_port}"
    return [
        ETCD_BIN,
        "--name", name,
        "--data-dir", str(data_dir),
        "--listen-peer-urls", peer_url,
        "--initial-advertise-peer-urls", peer_url,
        "--listen-client-urls", client_url,
        "--advertise-client-urls", client_url,
        "--initial-cluster", initial_cluster,
        "--initial-cluster-state", "new",
        "--initial-cluster-token", cluster_token,
        "--logger", "zap",
    ]


def start_etcd(n: int = 3, *, timeout: float = 30.0) -> EtcdCluster:
    """Start an n-member etcd cluster; return once `/health` is ok on every member."""
    cluster = EtcdCluster(workdir=Path(tempfile.mkdtemp(prefix="bench-etcd-")))
    ports = free_ports(2 * n)
    peer_ports, client_ports = ports[:n], ports[n:]
    names = [f"e{i}" for i in range(1, n + 1)]
    initial = ",".join(f"{nm}=http://{HOST}:{p}" for nm, p in zip(names, peer_ports, strict=True))
    cluster_token = "bench-" + secrets.token_hex(4)
    try:
        for name, peer_port, client_port in zip(names, peer_ports, client_ports, strict=True):
            argv = etcd_argv(name, data_dir=cluster.workdir / name, peer_port=peer_port,
                             client_port=client_port, initial_cluster=initial,
                             cluster_token=cluster_token)
            process, log_path = spawn(name, argv, cluster.workdir)
            cluster.members.append(Member(name, f"http://{HOST}:{client_port}", process, log_path))
        wait_ready(cluster, "/health", timeout=timeout)
    except BaseException:
        cluster.stop(keep_workdir=True)
        raise
    return cluster


def write_minik8s_secrets(workdir: Path) -> tuple[str, Path, Path]:
    """Token file (one admin in system:masters) and cluster secret file; returns the token."""
    token = secrets.token_hex(16)
    token_file = workdir / "tokens.csv"
    token_file.write_text(f'{token},admin,1,"system:masters"\n')
    secret_file = workdir / "cluster-secret"
    secret_file.write_text(secrets.token_urlsafe(32) + "\n")
    return token, token_file, secret_file


def start_minik8s(n: int = 3, *, extra_args: list[str] | None = None,
                  timeout: float = 60.0) -> Minik8sCluster:
    """Start n durable `minik8s master` processes; return once `/readyz` is 200 on all.

    `extra_args` are appended to every master's command line (tuning flags, if any).
    """
    workdir = Path(tempfile.mkdtemp(prefix="bench-minik8s-"))
    token, token_file, secret_file = write_minik8s_secrets(workdir)
    cluster = Minik8sCluster(workdir=workdir, token=token)
    ports = free_ports(2 * n)
    raft_addrs = [f"{HOST}:{p}" for p in ports[:n]]
    api_ports = ports[n:]
    try:
        for i, (raft_addr, api_port) in enumerate(zip(raft_addrs, api_ports, strict=True), start=1):
            name = f"m{i}"
            peers = ",".join(a for a in raft_addrs if a != raft_addr)
            argv = [
                MINIK8S_BIN, "master",
                "--name", name,
                "--data-dir", str(workdir / name),
                "--raft-addr", raft_addr,
                "--peers", peers,
                "--api-addr", f"{HOST}:{api_port}",
                "--token-file", str(token_file),
                "--cluster-secret-file", str(secret_file),
                *(extra_args or []),
            ]
            process, log_path = spawn(name, argv, workdir)
            cluster.members.append(Member(name, f"http://{HOST}:{api_port}", process, log_path))
        wait_ready(cluster, "/readyz", timeout=timeout)
    except BaseException:
        cluster.stop(keep_workdir=True)
        raise
    return cluster


def run_main(main: Callable[[], int]) -> None:
    """Exit with what a benchmark's `main()` returns; 130 with one line on Ctrl-C."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
