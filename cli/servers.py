"""`minik8s master`: one Raft member + API server, with the scheduler and controllers beside it.

The control loops run in every master but act only while that master holds the
controller-manager Lease (`ControlLoops`), like kube-controller-manager and kube-scheduler.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from minik8s.api.reconcile import LeaseTimings


def master(
    name: str = typer.Option(..., help="This member's name (unique in the cluster)."),
    data_dir: str = typer.Option(..., help="Where the store, Raft journal and snapshots live."),
    raft_addr: str = typer.Option(..., help="HOST:PORT this member's Raft peers connect to."),
    peers: str = typer.Option("", help="The other members' Raft HOST:PORT, comma-separated (empty: single master)."),
    api_addr: str = typer.Option("127.0.0.1:6443", help="HOST:PORT of the Kubernetes-style HTTP API."),
    token_file: str = typer.Option(..., help='Static token file: lines "token,user,uid[,\\"groups\\"]".'),
    cluster_secret_file: str = typer.Option(..., help="File with the secret that authenticates Raft peers."),
    api_threads: int = typer.Option(64, min=1, help="Threads that run requests other than watches (watches hold "
                                                    "none; a pods/log stream holds one while it lasts)."),
    max_watches: int = typer.Option(10_000, min=1, help="Open streaming/long-poll watches allowed (429 above)."),
    watch_buffer_bytes: int = typer.Option(1 << 20, min=4096,
                                           help="Bytes a watcher may fall behind before it is cut off."),
    log_compaction_entries: int = typer.Option(5000, help="Raft log entries before a snapshot is taken."),
    event_window: int = typer.Option(10_000, help="Watch events kept (older ones are compacted; same on all masters)."),
    max_body_bytes: int = typer.Option(3 * 1024 * 1024,
                                       help="Largest request body, raw and decoded as JSON (413 above)."),
    max_connections: int = typer.Option(16_384, help="Open client connections, idle ones and watches included "
                                                     "(more are refused)."),
    max_log_streams: int = typer.Option(32, help="Concurrent pods/log streams (429 above)."),
    idle_timeout: int = typer.Option(90, min=1, help="Seconds an idle keep-alive client connection stays open."),
    tls_cert_file: str = typer.Option("", help="Serve HTTPS with this certificate (kubectl sends tokens only over TLS)."),
    tls_private_key_file: str = typer.Option("", help="Private key of --tls-cert-file."),
    kubelet_token_file: str = typer.Option("", help="Token presented to node agents (pods/log)."),
    control_loops: bool = typer.Option(True, help="Run the scheduler and controllers (under a leader Lease)."),
    cluster_cidr: str = typer.Option("10.244.0.0/16", help="Pod addresses; each node gets a /24 of it."),
    service_cluster_ip_range: str = typer.Option(
        "10.96.0.0/12", help="Services' cluster IPs (the same on every master; the first is the kubernetes Service's)."),
    service_node_port_range: str = typer.Option(
        "30000-32767", help="Services' node ports, FIRST-LAST (the same on every master)."),
    endpoint_reconciler_type: str = typer.Option(
        "lease", help="lease: every master writes its address into the kubernetes Service's endpoints; none: not."),
    node_monitor_grace_period: float = typer.Option(50.0, help="Seconds without a node Lease renewal before NotReady."),
    pod_eviction_timeout: float = typer.Option(300.0, help="Seconds a node is NotReady before its pods are evicted."),
    leader_elect_lease_duration: float = typer.Option(
        15.0, help="Seconds the controller-manager Lease is valid without renewal (another master may take it after)."),
    leader_elect_renew_deadline: float = typer.Option(
        10.0, help="Seconds the leading master keeps trying to renew the Lease before it stops its controllers."),
    leader_elect_retry_period: float = typer.Option(
        2.0, help="Seconds between two attempts to take or renew the controller-manager Lease."),
    terminated_pod_gc_threshold: int = typer.Option(
        12500, min=0, help="Terminated (Succeeded/Failed) pods kept before the oldest are deleted (0: keep all)."),
    pod_gc_period: float = typer.Option(20.0, min=0.1, help="Seconds between two pod garbage-collection passes."),
    pod_gc_quarantine: float = typer.Option(
        40.0, min=0.0, help="Seconds a pod's node must be missing before the pod counts as orphaned."),
    horizontal_pod_autoscaler_sync_period: float = typer.Option(
        15.0, min=0.1, help="Seconds between two syncs of each HorizontalPodAutoscaler."),
    horizontal_pod_autoscaler_downscale_stabilization: float = typer.Option(
        300.0, min=0.0, help="Seconds of recommendations a scale down looks back on (HPAs without a behavior "
                             "scaleDown.stabilizationWindowSeconds)."),
    horizontal_pod_autoscaler_tolerance: float = typer.Option(
        0.1, min=0.0, help="Minimum change of the usage ratio (from 1.0) that makes an HPA rescale."),
    horizontal_pod_autoscaler_cpu_initialization_period: float = typer.Option(
        300.0, min=0.0, help="Seconds after a pod starts during which its CPU samples may be set aside."),
    horizontal_pod_autoscaler_initial_readiness_delay: float = typer.Option(
        30.0, min=0.0, help="Seconds after a pod starts during which its readiness changes count as initial."),
    log_level: str = typer.Option("INFO", help="DEBUG, INFO, WARNING or ERROR."),
) -> None:
    """Run one master: a Raft member of the replicated store and an API server."""
    from minik8s.api.server import MasterSettings, run_master
    from minik8s.consensus import StartupCheckError

    logging.basicConfig(level=log_level.upper(), format=f"%(asctime)s {name} %(levelname)s %(name)s: %(message)s")
    _private_files(data_dir, {"--token-file": token_file, "--cluster-secret-file": cluster_secret_file,
                              "--kubelet-token-file": kubelet_token_file,
                              "--tls-private-key-file": tls_private_key_file})
    settings = MasterSettings(
        name=name, data_dir=data_dir, raft_addr=raft_addr,
        peers=tuple(p.strip() for p in peers.split(",") if p.strip()), api_addr=api_addr, token_file=token_file,
        cluster_secret_file=cluster_secret_file, api_threads=api_threads,
        max_watches=max_watches, watch_buffer_bytes=watch_buffer_bytes, log_compaction_entries=log_compaction_entries,
        event_window=event_window, body_limit=max_body_bytes, max_connections=max_connections,
        max_log_streams=max_log_streams, idle_timeout=idle_timeout,
        tls_cert_file=tls_cert_file or None, tls_key_file=tls_private_key_file or None,
        kubelet_token_file=kubelet_token_file or None, internal_token=secrets.token_hex(24),
        service_cluster_ip_range=service_cluster_ip_range, service_node_port_range=service_node_port_range,
        endpoint_reconciler_type=endpoint_reconciler_type,
    )
    from minik8s.api.reconcile import LeaseTimings
    from minik8s.controllers.hpa import HpaSettings
    from minik8s.controllers.replica_calculator import Settings

    timings = LeaseTimings(leader_elect_lease_duration, leader_elect_renew_deadline, leader_elect_retry_period)
    calculation = Settings(tolerance=horizontal_pod_autoscaler_tolerance,
                           cpu_initialization_period=horizontal_pod_autoscaler_cpu_initialization_period,
                           initial_readiness_delay=horizontal_pod_autoscaler_initial_readiness_delay)
    hpa = HpaSettings(sync_period=horizontal_pod_autoscaler_sync_period,
                      downscale_stabilization=horizontal_pod_autoscaler_downscale_stabilization, calculation=calculation)
    loops = ControlLoops(name, cluster_cidr, node_monitor_grace_period, pod_eviction_timeout, timings,
                         pod_gc=PodGcSettings(terminated_pod_gc_threshold, pod_gc_period, pod_gc_quarantine), hpa=hpa,
                         kubelet_token_file=kubelet_token_file or None)
    try:
        run_master(settings, loops.build if control_loops else None)
    except (StartupCheckError, ValueError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _private_files(data_dir: str, secret_files: dict[str, str]) -> None:
    """Everything this master writes is private: umask 077 (the store, the Raft journal and
    snapshots, pysyncobj's own files), the data dir 0700; warn about secret files others can read."""
    from minik8s.api.secretfiles import ensure_private_dir, warn_if_exposed

    os.umask(0o077)
    try:
        ensure_private_dir(data_dir)
    except OSError as exc:
        typer.echo(f"error: --data-dir {data_dir}: {exc}", err=True)
        raise typer.Exit(1) from None
    logger = logging.getLogger("minik8s.master")
    for flag, path in secret_files.items():
        warn_if_exposed(path, f"{flag}:", logger)


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


@dataclass(frozen=True)
class PodGcSettings:
    """Pod garbage collection: `--terminated-pod-gc-threshold`, the pass period, the orphan quarantine."""

    terminated_threshold: int = 12500
    period: float = 20.0
    quarantine: float = 40.0


class ControlLoops:
    """The scheduler and controllers one master runs while it holds the controller-manager Lease."""

    def __init__(self, identity: str, cluster_cidr: str, grace: float, eviction: float,
                 timings: LeaseTimings, *, pod_gc: PodGcSettings = PodGcSettings(), hpa: Any = None,
                 kubelet_token_file: str | None = None) -> None:
        self.identity, self.cluster_cidr, self.grace, self.eviction = identity, cluster_cidr, grace, eviction
        self.timings = timings
        self.pod_gc = pod_gc
        self.hpa = hpa  # HpaSettings (None: the defaults)
        self.kubelet_token_file = kubelet_token_file  # the function autoscaler reads the node routers with it

    def build(self, url: str, token: str) -> list[Any]:
        from minik8s.api.client import ApiClient
        from minik8s.api.reconcile import ControllerManager
        from minik8s.controllers import (
            DeploymentController, EndpointsController, EndpointSliceController, GarbageCollector,
            HorizontalPodAutoscalerController, NamespaceController, NodeIpamController, NodeLifecycleController,
            PodGCController, ReplicaSetController,
        )
        from minik8s.controllers.ingress_status import IngressStatusController
        from minik8s.scheduler import Scheduler
        from minik8s.serverless.autoscaler import FunctionAutoscaler
        from minik8s.serverless.controller import FunctionController
        from minik8s.serverless.schedules import ScheduleController
        from minik8s.serverless.workflows import WorkflowRunner
        from minik8s.slurm.controller import GpuJobController

        client = ApiClient(url, token=token)
        controllers = [
            GarbageCollector(client.copy()),  # own connections: a long poll per kind, 16 workers
            NamespaceController(client),
            NodeIpamController(client, cluster_cidr=self.cluster_cidr),
            NodeLifecycleController(client, node_monitor_grace_period=self.grace,
                                    pod_eviction_timeout=self.eviction,
                                    node_monitor_period=min(5.0, max(0.2, self.grace / 8))),
            HorizontalPodAutoscalerController(client, self.hpa),
            _Fresh(lambda: Scheduler(client)),
            ReplicaSetController(client.copy()),  # own connection pools: they send requests in parallel
            DeploymentController(client.copy()),
            EndpointsController(client.copy()),
            EndpointSliceController(client.copy()),
            PodGCController(client, terminated_pod_threshold=self.pod_gc.terminated_threshold,
                            period=self.pod_gc.period, quarantine=self.pod_gc.quarantine),
            IngressStatusController(client),
            FunctionController(client.copy()),
            FunctionAutoscaler(client.copy(), _read_token(self.kubelet_token_file)),
            WorkflowRunner(client.copy(timeout=30)),
            ScheduleController(client.copy(timeout=30)),  # cron triggers of functions and workflows
            GpuJobController(client.copy(timeout=30)),  # GpuJobs on Slurm over SSH
        ]
        return [ControllerManager(client, controllers, identity=self.identity,  # type: ignore[arg-type]
                                  timings=self.timings)]


def _read_token(path: str | None) -> str | None:
    """The token in `path` (None without a file)."""
    if not path:
        return None
    with open(path) as f:
        return f.read().strip() or None
