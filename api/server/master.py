"""One master process: store + Raft member + API server (the Falcon app behind an asyncio front).

Start-up order: open the store, check it against the Raft journal (refusing to start when they
disagree), join the cluster, serve HTTP; once a leader is known, make sure the built-in
namespaces exist. SIGTERM/SIGINT stop the HTTP server, then leave Raft, then close LMDB.

The API front (`front.py`) owns every client connection, serves watches on its loop and runs
every other request through the WSGI app in its pool of `api_threads` threads. (Waitress, which
runs the node agents' servers, served these before behind the front; the extra loopback hop cost
about 0.7 ms of a 4 ms write and its own parsing more CPU than the rest of the request path.)
"""

from __future__ import annotations

import logging
import os
import resource
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from minik8s.api import errors, failpoints
from minik8s.api.kinds import BUILTIN_NAMESPACES, resolve
from minik8s.api.threads import start_thread
from minik8s.consensus import Consensus, ConsensusSettings
from minik8s.store import Store, StoreSettings

from .app import create_app
from .auth import User, load_token_file
from .front import FrontLimits, HttpFront, Listener, tls_context
from .invoke import InvokeRelay
from .workflowinvoke import WorkflowInvoker
from .masterservice import MasterServiceReconciler
from .ranges import parse_ip_range, parse_port_range
from .registry import Registry
from .serviceallocation import ServiceAllocator
from .servicerepair import repair
from .watch import WatchHub

log = logging.getLogger(__name__)
# How long a stopping master waits for its scheduler and controllers (see Master._stop_services): with a
# quorum they stop in tens of milliseconds; without one (the whole cluster stopping) the lease release
# cannot commit, and anything they leave half done the next leader finishes.
SERVICES_STOP_SECONDS = 1.0


class Service(Protocol):
    """Something that runs beside the API server (scheduler, controller manager)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class MasterSettings:
    """Everything `minik8s master` is told."""

    name: str
    data_dir: str
    raft_addr: str
    peers: tuple[str, ...]
    api_addr: str
    token_file: str
    cluster_secret_file: str
    api_threads: int = 64  # threads running the app for requests other than watches (log streams hold one)
    max_watches: int = 10_000
    watch_buffer_bytes: int = 1 << 20  # a watcher this far behind (and not draining) is cut off
    body_limit: int = 3 * 1024 * 1024
    max_connections: int = 16_384  # open client connections (idle ones and watches included); more are refused
    max_log_streams: int = 32  # concurrent pods/log streams; more get 429
    idle_timeout: int = 90  # seconds an idle keep-alive connection stays open (kube-apiserver: 90 s)
    log_compaction_entries: int = 5000
    event_window: int = 10_000
    tls_cert_file: str | None = None  # with tls_key_file: serve HTTPS (kubectl sends tokens only over TLS)
    tls_key_file: str | None = None
    kubelet_token_file: str | None = None  # presented to node agents when proxying pods/log
    internal_token: str | None = None  # accepted for this process's own controllers and scheduler
    service_cluster_ip_range: str = "10.96.0.0/12"  # Services' cluster IPs (the same on every master)
    service_node_port_range: str = "30000-32767"  # Services' node ports (the same on every master)
    endpoint_reconciler_type: str = "lease"  # the kubernetes Service's endpoints: "lease" or "none"


def raise_open_files_limit() -> None:
    """Lift the soft limit on open files to the hard one: every connection is a file descriptor."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 1 << 20, hard))
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open-files limit from %s: %s", soft, exc)


def _read_secret(path: str) -> str:
    with open(path) as f:
        secret = f.read().strip()
    if len(secret) < 8:
        raise ValueError(f"{path}: the cluster secret must be at least 8 characters")
    return secret


def _split(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    return host or "127.0.0.1", int(port)


class Master:
    """A running master; `serve()` blocks until `stop()`."""

    def __init__(self, settings: MasterSettings) -> None:
        self.settings = settings
        service_ips = parse_ip_range(settings.service_cluster_ip_range)  # ValueError: refuse to start
        if settings.endpoint_reconciler_type not in ("lease", "none"):
            raise ValueError(f"--endpoint-reconciler-type {settings.endpoint_reconciler_type!r}: lease or none")
        node_ports = parse_port_range(settings.service_node_port_range)
        users = load_token_file(settings.token_file)
        if settings.internal_token:
            users[settings.internal_token] = User("system:kube-controller-manager", "internal",
                                                  ("system:masters",))
        kubelet_token = None
        if settings.kubelet_token_file:
            with open(settings.kubelet_token_file) as f:
                kubelet_token = f.read().strip()
        secret = _read_secret(settings.cluster_secret_file)
        self.store = Store(os.path.join(settings.data_dir, "store"),
                           StoreSettings(event_window_count=settings.event_window,
                                         fsync=not failpoints.active("no-fsync")))
        self.consensus = Consensus(ConsensusSettings(
            name=settings.name, data_dir=settings.data_dir, raft_addr=settings.raft_addr, peers=settings.peers,
            cluster_secret=secret, log_compaction_entries=settings.log_compaction_entries,
            journal_fsync=not failpoints.active("no-fsync"),
        ), self.store)
        self.hub = WatchHub(self.store, max_watches=settings.max_watches)
        allocator = ServiceAllocator(self.store, service_ips, node_ports)
        self.registry = Registry(self.consensus, self.store, allocators={"services": allocator})
        self.kubernetes_service = MasterServiceReconciler(
            self.registry, name=settings.name, api_addr=settings.api_addr, cluster_ip=service_ips.first_ip(),
            is_leader=lambda: self.consensus.is_leader, repair=lambda: repair(self.store, self.registry.propose, allocator),
            reconcile_endpoints=settings.endpoint_reconciler_type == "lease")
        self.registry.post_start_hooks["bootstrap-controller"] = self.kubernetes_service.first_pass.is_set
        self.app = create_app(registry=self.registry, hub=self.hub, consensus=self.consensus, users=users,
                              body_limit=settings.body_limit, kubelet_token=kubelet_token,
                              max_log_streams=settings.max_log_streams,
                              invokers={"functions.minik8s.io": InvokeRelay(self.registry, kubelet_token).invoke,
                                        "workflows.minik8s.io": WorkflowInvoker(self.registry, self.hub.subscribe).invoke})
        host, port = _split(settings.api_addr)
        raise_open_files_limit()
        tls = tls_context(settings.tls_cert_file, settings.tls_key_file) if (
            settings.tls_cert_file and settings.tls_key_file) else None
        listeners = [Listener(host, port, tls)]
        if tls is not None:  # the master's own controllers and scheduler: plain HTTP on loopback
            listeners.append(Listener("127.0.0.1", 0))
        self.front = HttpFront(listeners, app=self.app, hub=self.hub, app_threads=settings.api_threads,
                               limits=FrontLimits(max_connections=settings.max_connections,
                                                  idle_timeout=settings.idle_timeout,
                                                  max_body=settings.body_limit + (1 << 20),
                                                  watch_buffer=settings.watch_buffer_bytes))
        self.tls = tls is not None
        internal_host = "127.0.0.1" if tls is not None or host in ("0.0.0.0", "") else host
        self.internal_url = f"http://{internal_host}:{self.front.ports[-1]}"
        self._stopped = threading.Event()
        self._bootstrapped = threading.Event()

    def serve(self, services: Sequence[Service] = ()) -> None:
        """Join Raft, serve the API, bootstrap namespaces, run `services`; returns after `stop()`.

        `services` (the scheduler and controller manager) start once the API serves and stop
        before Raft does.
        """
        self.consensus.start()
        self.front.start()
        start_thread(self._bootstrap, name="bootstrap")
        start_thread(self.kubernetes_service.run, self._bootstrapped.is_set, name="kubernetes-service")
        for service in services:
            service.start()
        scheme = "https" if self.tls else "http"
        if failpoints.ACTIVE:
            log.warning("master %s: FAILPOINTS ACTIVE (deliberate defects, for the chaos self-test only): %s",
                        self.settings.name, ", ".join(sorted(failpoints.ACTIVE)))
        log.info("master %s: API on %s://%s, raft on %s, peers %s", self.settings.name, scheme,
                 self.settings.api_addr, self.settings.raft_addr, ",".join(self.settings.peers) or "-")
        self._stopped.wait()
        self._stop_services(services)
        self._shutdown()

    def _stop_services(self, services: Sequence[Service]) -> None:
        """Stop `services` side by side, waiting at most SERVICES_STOP_SECONDS: when the whole cluster
        stops there is no quorum, and a lease release or a write in flight would wait out its timeout."""
        stopping = [start_thread(service.stop, name=f"stop-{type(service).__name__}") for service in services]
        deadline = time.monotonic() + SERVICES_STOP_SECONDS
        for thread in stopping:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(thread.is_alive() for thread in stopping):
            log.warning("master %s: the scheduler and controllers did not stop within %.0fs (no quorum?); "
                        "stopping anyway", self.settings.name, SERVICES_STOP_SECONDS)

    def _bootstrap(self) -> None:
        namespaces = resolve("namespaces")
        while not self._stopped.is_set():
            if self.consensus.is_ready():
                try:
                    for name in BUILTIN_NAMESPACES:
                        if self.store.get(namespaces.store_key(name)) is None:
                            try:
                                self.registry.create(namespaces, {"metadata": {"name": name}}, None)
                            except errors.AlreadyExistsError:
                                pass
                    self._bootstrapped.set()
                    return  # /readyz reports ready once these exist
                except errors.ApiError as exc:
                    log.warning("bootstrap of namespaces failed, retrying: %s", exc.message)
                except Exception:  # retried like an API error; the thread must outlive it
                    log.exception("bootstrap of namespaces failed, retrying")
            time.sleep(0.2)

    def stop(self) -> None:
        """Ask `serve()` to return (safe from signal handlers and other threads)."""
        self._stopped.set()
        self.kubernetes_service.stop()

    def _shutdown(self) -> None:
        log.info("master %s: stopping", self.settings.name)
        self.front.stop()
        self.consensus.stop()
        self.store.close()


def run_master(settings: MasterSettings,
               services: Callable[[str, str], Sequence[Service]] | None = None) -> None:
    """Run a master in the foreground until SIGTERM or SIGINT.

    `services(internal_url, internal_token)` builds what runs beside the API (scheduler,
    controllers), talking to this master through its own API.
    """
    master = Master(settings)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: master.stop())
    built = services(master.internal_url, settings.internal_token or "") if services else ()
    master.serve(built)
