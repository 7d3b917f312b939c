"""Server verbs: `minik8s master` (one Raft member + API server) and `minik8s up` (a local cluster).

`up` is the embedded default: it writes a token, a cluster secret and a kubeconfig under the data
dir, starts 1 (or `--masters N`) master processes on loopback, waits until they are ready, prints
how to use the cluster, and stays in the foreground; on Ctrl-C or SIGTERM it stops (by pid)
everything it started.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Any
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
import typer

from minik8s.api.certs import ensure_serving_certs
from minik8s.api.kubeconfig import write_kubeconfig


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def master(
    name: str = typer.Option(..., help="This member's name (unique in the cluster)."),
    data_dir: str = typer.Option(..., help="Where the store, Raft journal and snapshots live."),
    raft_addr: str = typer.Option(..., help="HOST:PORT this member's Raft peers connect to."),
    peers: str = typer.Option("", help="The other members' Raft HOST:PORT, comma-separated (empty: single master)."),
    api_addr: str = typer.Option("127.0.0.1:6443", help="HOST:PORT of the Kubernetes-style HTTP API."),
    token_file: str = typer.Option(..., help='Static token file: lines "token,user,uid[,\\"groups\\"]".'),
    cluster_secret_file: str = typer.Option(..., help="File with the secret that authenticates Raft peers."),
    api_threads: int = typer.Option(256, help="HTTP worker threads (each open watch holds one)."),
    max_watches: int = typer.Option(0, help="Open streaming/long-poll watches allowed (0: threads - 32)."),
    log_compaction_entries: int = typer.Option(5000, help="Raft log entries before a snapshot is taken."),
    event_window: int = typer.Option(10_000, help="Watch events kept (older ones are compacted; same on all masters)."),
    max_body_bytes: int = typer.Option(3 * 1024 * 1024, help="Largest request body accepted (413 above)."),
    tls_cert_file: str = typer.Option("", help="Serve HTTPS with this certificate (kubectl sends tokens only over TLS)."),
    tls_private_key_file: str = typer.Option("", help="Private key of --tls-cert-file."),
    kubelet_token_file: str = typer.Option("", help="Token presented to node agents (pods/log)."),
    control_loops: bool = typer.Option(True, help="Run the scheduler and controllers (under a leader Lease)."),
    cluster_cidr: str = typer.Option("10.244.0.0/16", help="Pod addresses; each node gets a /24 of it."),
    node_monitor_grace_period: float = typer.Option(50.0, help="Seconds without a node Lease renewal before NotReady."),
    pod_eviction_timeout: float = typer.Option(300.0, help="Seconds a node is NotReady before its pods are evicted."),
    log_level: str = typer.Option("INFO", help="DEBUG, INFO, WARNING or ERROR."),
) -> None:
    """Run one master: a Raft member of the replicated store and an API server."""
    from minik8s.api.server import MasterSettings, run_master
    from minik8s.consensus import StartupCheckError

    logging.basicConfig(level=log_level.upper(), format=f"%(asctime)s {name} %(levelname)s %(name)s: %(message)s")
    settings = MasterSettings(
        name=name, data_dir=data_dir, raft_addr=raft_addr,
        peers=tuple(p.strip() for p in peers.split(",") if p.strip()), api_addr=api_addr, token_file=token_file,
        cluster_secret_file=cluster_secret_file, api_threads=api_threads,
        max_watches=max_watches or max(1, api_threads - 32), log_compaction_entries=log_compaction_entries,
        event_window=event_window, body_limit=max_body_bytes,
        tls_cert_file=tls_cert_file or None, tls_key_file=tls_private_key_file or None,
        kubelet_token_file=kubelet_token_file or None, internal_token=secrets.token_hex(24),
    )
    loops = ControlLoops(name, cluster_cidr, node_monitor_grace_period, pod_eviction_timeout)
    try:
        run_master(settings, loops.build if control_loops else None)
    except (StartupCheckError, ValueError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


class _Fresh:
    """Starts a new instance on every start (for components that cannot be restarted, like the scheduler)."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._current: Any = None

    def start(self) -> None:
        self._current = self._factory()
        self._current.start()

    def stop(self) -> None:
        if self._current is not None:
            self._current.stop()
            self._current = None


class ControlLoops:
    """The scheduler and controllers one master runs while it holds the controller-manager Lease."""

    def __init__(self, identity: str, cluster_cidr: str, grace: float, eviction: float) -> None:
        self.identity, self.cluster_cidr, self.grace, self.eviction = identity, cluster_cidr, grace, eviction

    def build(self, url: str, token: str) -> list[Any]:
        from minik8s.api.client import ApiClient
        from minik8s.controllers import ControllerManager, NodeIpamController, NodeLifecycleController
        from minik8s.scheduler import Scheduler

        client = ApiClient(url, token=token)
        controllers = [
            NodeIpamController(client, cluster_cidr=self.cluster_cidr),
            NodeLifecycleController(client, node_monitor_grace_period=self.grace,
                                    pod_eviction_timeout=self.eviction),
            _Fresh(lambda: Scheduler(client)),
        ]
        return [ControllerManager(client, controllers, identity=self.identity)]  # type: ignore[arg-type]


def _prepare_dir(data_dir: Path) -> tuple[str, Path, Path]:
    """Token file and cluster secret, created once and reused on later runs."""
    data_dir.mkdir(parents=True, exist_ok=True)
    token_file, secret_file = data_dir / "tokens.csv", data_dir / "cluster-secret"
    if not token_file.exists():
        token_file.write_text(f'{secrets.token_hex(16)},admin,admin,"system:masters"\n')
        token_file.chmod(0o600)
    if not secret_file.exists():
        secret_file.write_text(secrets.token_hex(24) + "\n")
        secret_file.chmod(0o600)
    token = token_file.read_text().split(",", 1)[0]
    return token, token_file, secret_file


def _ports(data_dir: Path, count: int, api_port: int) -> list[tuple[int, int]]:
    """(raft, api) ports per master, fixed on first run so restarts find their peers again."""
    ports_file = data_dir / "ports"
    if ports_file.exists():
        pairs = [tuple(int(p) for p in line.split()) for line in ports_file.read_text().split("\n") if line.strip()]
        if len(pairs) == count:
            return pairs  # type: ignore[return-value]
    pairs = [(_free_port(), api_port if i == 0 else _free_port()) for i in range(count)]
    ports_file.write_text("".join(f"{r} {a}\n" for r, a in pairs))
    return pairs


def _interrupt(*_: object) -> None:
    """SIGTERM handler: unwind like Ctrl-C so the finally block stops the masters."""
    raise KeyboardInterrupt


def _wait_ready(urls: list[str], procs: list[subprocess.Popen[bytes]], timeout: float, ca_file: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"a master exited with code {proc.returncode}; see its log")
        try:
            if all(requests.get(f"{u}/readyz", timeout=1, verify=ca_file).status_code == 200 for u in urls):
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"masters not ready within {timeout:.0f}s")


def up(
    data_dir: str = typer.Option(str(Path.home() / ".minik8s"), help="Cluster state, logs and kubeconfig."),
    masters: int = typer.Option(1, help="Number of masters (1, 3 or 5)."),
    api_port: int = typer.Option(6443, help="API port of the first master."),
) -> None:
    """Start a local cluster in the foreground; Ctrl-C stops everything it started."""
    if masters not in (1, 3, 5):
        typer.echo("error: --masters must be 1, 3 or 5", err=True)
        raise typer.Exit(1)
    root = Path(data_dir).absolute()
    token, token_file, secret_file = _prepare_dir(root)
    ports = _ports(root, masters, api_port)
    raft_addrs = [f"127.0.0.1:{r}" for r, _ in ports]
    urls = [f"https://127.0.0.1:{a}" for _, a in ports]
    certs = ensure_serving_certs(root / "pki", ["127.0.0.1", "localhost"])
    procs: list[subprocess.Popen[bytes]] = []

    def stop_all(*_: object) -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()

    signal.signal(signal.SIGTERM, _interrupt)
    try:
        for i, (raft_port, port) in enumerate(ports):
            name = f"master-{i}"
            log = open(root / f"{name}.log", "ab")
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "minik8s.cli.main", "master", "--name", name,
                 "--data-dir", str(root / name), "--raft-addr", raft_addrs[i],
                 "--peers", ",".join(a for a in raft_addrs if a != raft_addrs[i]),
                 "--api-addr", f"127.0.0.1:{port}", "--token-file", str(token_file),
                 "--cluster-secret-file", str(secret_file), "--tls-cert-file", str(certs.cert_file),
                 "--tls-private-key-file", str(certs.key_file)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            ))
        typer.echo(f"starting {masters} master(s) in {root} ...")
        _wait_ready(urls, procs, timeout=60, ca_file=str(certs.ca_file))
        kubeconfig = root / "kubeconfig"
        write_kubeconfig(str(kubeconfig), server=",".join(urls), token=token, ca_file=certs.ca_file)
        typer.echo(f"cluster ready: {', '.join(urls)}\n"
                   f"  export KUBECONFIG={kubeconfig}\n"
                   f"  minik8s get ns          # or: kubectl get ns\n"
                   f"logs: {root}/master-*.log; Ctrl-C stops the cluster")
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        typer.echo("error: a master exited; stopping the cluster", err=True)
        raise typer.Exit(1)
    except KeyboardInterrupt:
        typer.echo("stopping ...")
    except RuntimeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        stop_all()
        typer.echo("stopped")
