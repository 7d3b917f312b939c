"""The node agent process: registers the Node, renews its Lease, runs the kubelet and the Service
proxy, serves logs and stats.

Start-up: register (or update) the Node object with capacity, addresses and a Ready condition;
for the process runtime, wait for the podCIDR the masters assign and set up the pod bridge; start
the kubelet (which adopts pods already running here), the Service proxy (`proxy`: Services and
EndpointSlices into the nftables table `ip minik8s`, on a thread of its own), the stats sampler
(`stats`: container and node usage for the masters' metrics API) and the HTTP endpoint the API
server proxies `pods/log` to. Then, every `renew_seconds`, each on a thread of its own (so none
can delay or stop another): renew the Lease in `kube-node-lease` (the heartbeat: it starts right after
registration), keep the Ready condition True, and route the other nodes' podCIDRs (a peer that
cannot be routed is skipped and reported with a `FailedToCreateRoute` event). Each loop logs and
retries a failing step; a loop that dies anyway takes the agent down (`minik8s.api.threads`).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import platform
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyroute2.netlink.exceptions import NetlinkError

from minik8s.api import errors
from minik8s.api.client import ApiClient
from minik8s.api.events import EventRecorder
from minik8s.api.threads import start_thread
from minik8s.api.timefmt import now_micro_time, now_time

from .dns.feed import NodeDns, NodeDnsSettings
from .kubelet import Kubelet, KubeletSettings
from .network import PodNetwork, peers_from_nodes
from .proxy import Proxier, ProxySettings, new_proxier
from .runtime.base import Runtime
from .runtime.cgroups import Cgroup
from .runtime.cgroupstats import machine_usage
from .stats import StatsSampler, cgroup_usage_reader

log = logging.getLogger(__name__)

Obj = dict[str, Any]
KUBELET_VERSION = "v1.32.0-minik8s"


@dataclass(frozen=True)
class AgentSettings:
    name: str
    data_dir: str
    node_ip: str
    http_port: int = 10250
    lease_seconds: int = 40
    renew_seconds: float = 10.0
    bridge: str = "mk8s0"
    cpu: str | None = None  # advertised capacity (default: this machine's)
    memory: str | None = None
    backoff_initial: float = 10.0
    stats_interval: float = 5.0  # seconds between two samples of container usage
    stats_window: float = 15.0  # seconds a CPU rate is measured over
    stats_cgroup: str | None = None  # the node's usage is this cgroup's (simulated nodes); None: the machine's
    proxy: bool = True  # program Services into nftables (the table `ip minik8s`)
    proxy_min_sync_period: float = 0.1  # seconds between two proxy syncs at least
    cluster_dns: str | None = None  # the node-local DNS address served here and given to pods; None: no cluster DNS
    cluster_domain: str = "cluster.local"
    resolv_conf: str = "/etc/resolv.conf"  # the node's resolvers (forwarding, dnsPolicy Default)


def _machine_memory() -> str:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return f"{line.split()[1]}Ki"
    return "0"


def _os_image() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


class NodeAgent:
    """One node: Node object, Lease heartbeat, pod network, kubelet."""

    def __init__(self, client: ApiClient, runtime: Runtime, settings: AgentSettings) -> None:
        self.client = client
        # The heartbeat has connections of its own, and a timeout that fits in the Lease duration, so
        # no other request of this agent (a slow list, a hung kubelet call) can hold it up.
        self.lease_client = client.copy(timeout=min(client.timeout, max(2.0, settings.lease_seconds / 2)))
        self.runtime = runtime
        self.settings = settings
        self.events = EventRecorder(client, component="kubelet", host=settings.name)
        self.network: PodNetwork | None = None
        self.kubelet: Kubelet | None = None
        self.proxy: Proxier | None = None
        self._stop = threading.Event()
        self._network_ready = True  # False until the pod network exists (then the node is not Ready)
        self._route_problems: dict[str, str] = {}  # peer node -> why its pod network is not routed (reported)
        node_usage = (cgroup_usage_reader(Cgroup.at(settings.stats_cgroup).usage) if settings.stats_cgroup
                      else machine_usage)
        self.dns: NodeDns | None = None
        self.stats = StatsSampler(runtime, node_name=settings.name, node_usage=node_usage,
                                  interval=settings.stats_interval, window=settings.stats_window)

    # ---- Node object ------------------------------------------------------------------------

    def _ready_conditions(self, old: list[Obj] | None = None) -> list[Obj]:
        now = now_time()
        wanted = {"MemoryPressure": ("False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                  "DiskPressure": ("False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                  "PIDPressure": ("False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                  "Ready": ("True", "KubeletReady", "kubelet is posting ready status") if self._network_ready else
                  ("False", "KubeletNotReady", "container runtime network not ready: waiting for a podCIDR")}
        previous = {c.get("type"): c for c in old if isinstance(c, dict)} if isinstance(old, list) else {}
        out = []
        for kind, (status, reason, message) in wanted.items():
            prior = previous.get(kind) or {}
            changed = prior.get("status") != status
            out.append({"type": kind, "status": status, "reason": reason, "message": message,
                        "lastHeartbeatTime": now,
                        "lastTransitionTime": now if changed else prior.get("lastTransitionTime", now)})
        return out

    def _capacity(self) -> dict[str, str]:
        s = self.settings
        return {"cpu": s.cpu or str(os.cpu_count() or 1), "memory": s.memory or _machine_memory(), "pods": "110"}

    def _node_status(self, old: Obj | None = None) -> Obj:
        s = self.settings
        capacity = self._capacity()
        caps = self.runtime.capabilities()
        return {
            "capacity": capacity, "allocatable": dict(capacity),
            "conditions": self._ready_conditions(old.get("conditions") if isinstance(old, dict) else None),
            "addresses": [{"type": "InternalIP", "address": s.node_ip}, {"type": "Hostname", "address": s.name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": s.http_port}},
            "nodeInfo": {"kubeletVersion": KUBELET_VERSION, "containerRuntimeVersion": f"{caps.name}://minik8s",
                         "osImage": _os_image(), "kernelVersion": platform.release(), "operatingSystem": "linux",
                         "architecture": platform.machine(), "machineID": "", "systemUUID": "", "bootID": "",
                         "kubeProxyVersion": ""},
        }

    def register(self) -> Obj:
        """Create the Node, or refresh its status if it exists (a restarted agent)."""
        s = self.settings
        node = {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": s.name, "labels": {"kubernetes.io/hostname": s.name, "kubernetes.io/os": "linux",
                                                        "kubernetes.io/arch": "amd64"}},
                "status": self._node_status()}
        try:
            created = self.client.create(node)
            log.info("registered node %s (%s)", s.name, s.node_ip)
            return self._put_status(created)
        except errors.AlreadyExistsError:
            return self._put_status(self.client.get("nodes", s.name))

    def _put_status(self, node: Obj) -> Obj:
        for _ in range(5):
            try:
                return self.client.update_status({**node, "status": self._node_status(node.get("status"))})
            except errors.ConflictError:
                node = self.client.get("nodes", self.settings.name)
        raise errors.ConflictError("could not update the node status")

    def _renew_lease(self) -> None:
        s = self.settings
        spec = {"holderIdentity": s.name, "leaseDurationSeconds": s.lease_seconds, "renewTime": now_micro_time()}
        try:
            lease = self.lease_client.get("leases", s.name, namespace="kube-node-lease")
        except errors.NotFoundError:
            self.lease_client.create({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                "metadata": {"name": s.name, "namespace": "kube-node-lease"}, "spec": spec})
            return
        kept = lease.get("spec") if isinstance(lease.get("spec"), dict) else {}
        lease["spec"] = {**kept, **spec}
        self.lease_client.replace(lease)

    # ---- network ------------------------------------------------------------------------------

    def _wait_for_pod_cidr(self) -> str:
        while not self._stop.is_set():
            try:
                node = self.client.get("nodes", self.settings.name)
            except errors.ApiError as exc:
                log.warning("waiting for a podCIDR: %s", exc.message)
                node = {}
            cidr = (node.get("spec") or {}).get("podCIDR")
            if cidr:
                return cidr
            self._stop.wait(0.5)
        raise RuntimeError("stopped before a podCIDR was assigned")

    def _sync_routes(self) -> None:
        """Route the other nodes' podCIDRs; a peer that cannot be routed is skipped and reported once."""
        if self.network is None:
            return
        nodes = self.client.list("nodes").get("items") or []
        peers = {p.name: p for p in peers_from_nodes(nodes, self.settings.name)}
        problems = self.network.sync_routes(list(peers.values()))
        for name in [n for n in self._route_problems if n not in problems]:
            if name in peers:
                log.info("node %s: its pod network is routed now", name)
            del self._route_problems[name]
        for name, problem in problems.items():
            if self._route_problems.get(name) == problem:
                continue
            self._route_problems[name] = problem
            log.warning("node %s: not routing its pod network: %s", name, problem)
            peer = peers.get(name)
            involved = {"apiVersion": "v1", "kind": "Node",
                        "metadata": {"name": name, "uid": peer.uid if peer else None}}
            self.events.record(involved, reason="FailedToCreateRoute", event_type="Warning",
                               message=f"node {self.settings.name} does not route the pod network of node {name}: "
                                       f"{problem}")

    def _update_status(self) -> None:
        """Keep the Node's Ready condition True (the masters set it to Unknown while the Lease was late)."""
        node = self.client.get("nodes", self.settings.name)
        status = node.get("status") if isinstance(node.get("status"), dict) else {}
        conditions = status.get("conditions") if isinstance(status.get("conditions"), list) else []
        ready = next((c for c in conditions if isinstance(c, dict) and c.get("type") == "Ready"), {})
        if ready.get("status") != "True":
            self._put_status(node)

    # ---- running ------------------------------------------------------------------------------

    def start(self, *, needs_pod_network: bool) -> None:
        """Register, start the Lease heartbeat, set up networking, start the kubelet."""
        self._network_ready = not needs_pod_network
        node = self.register()
        self._renew_lease()
        # The Lease is renewed on a thread of its own from now on: nothing else (the pod network,
        # route sync, status updates, the kubelet) can delay or stop it.
        start_thread(self._every, "lease", self._renew_lease, self._lease_retry, name="lease")
        if needs_pod_network:
            cidr = (node.get("spec") or {}).get("podCIDR") or self._wait_for_pod_cidr()
            self.network = PodNetwork(pod_cidr=cidr, bridge=self.settings.bridge, state_dir=self.settings.data_dir)
            self.network.setup()
            self._network_ready = True
            self._put_status(self.client.get("nodes", self.settings.name))
            log.info("pod network %s on bridge %s", cidr, self.settings.bridge)
            start_thread(self._every, "route sync", self._sync_routes, name="routes", first_at_once=True)
        s = self.settings
        if s.cluster_dns:
            self._start_dns()
        self.kubelet = Kubelet(self.client, self.runtime,
                               KubeletSettings(node_name=s.name, data_dir=s.data_dir, node_ip=s.node_ip,
                                               backoff_initial=s.backoff_initial, allocatable=self._capacity(),
                                               cluster_dns=(s.cluster_dns,) if s.cluster_dns else (),
                                               cluster_domain=s.cluster_domain, resolv_conf=s.resolv_conf),
                               network=self.network.plan if self.network else None,
                               release_network=self.network.release if self.network else None)
        self.kubelet.start()
        if s.proxy:
            self._start_proxy(node)
        self.stats.start()
        if self.kubelet.pods.wait_for_sync(30):
            self.kubelet.remove_unknown_sandboxes()  # pods deleted while this agent was down
        start_thread(self._every, "node status", self._update_status, name="node-status")

    def _start_proxy(self, node: Obj) -> None:
        """Start the Service proxy on its own thread and connections (it never holds up the kubelet)."""
        cidr: str | None = str(self.network.cidr) if self.network else None
        if cidr is None:  # the Docker runtime: its pods' addresses are not ours to manage
            try:
                cidr = str(ipaddress.IPv4Network((node.get("spec") or {}).get("podCIDR") or "", strict=False))
            except ValueError:
                cidr = None
        settings = ProxySettings(node_name=self.settings.name, pod_cidr=cidr,
                                 min_sync_period=self.settings.proxy_min_sync_period)
        self.proxy = new_proxier(self.client.copy(), settings)
        self.proxy.start()

    def _start_dns(self) -> None:
        """Serve cluster DNS on the node-local address; when that cannot be had (another agent in this
        network namespace serves it already), the pods still use that one."""
        s = self.settings
        assert s.cluster_dns
        dns = NodeDns(self.client, NodeDnsSettings(address=s.cluster_dns, domain=s.cluster_domain,
                                                   resolv_conf=s.resolv_conf, ingress_address=s.node_ip))
        try:
            dns.start()
        except (OSError, NetlinkError) as exc:
            log.warning("cluster DNS not served by this agent on %s:53: %s", s.cluster_dns, exc)
            dns.stop()
            return
        self.dns = dns

    def _lease_retry(self, failures: int) -> float:
        """After a failed renewal retry soon (0.2 s doubling), never later than the renew interval."""
        return min(self.settings.renew_seconds, 0.2 * 2 ** min(failures - 1, 10))

    def _every(self, what: str, step: Callable[[], None], retry: Callable[[int], float] | None = None, *,
               first_at_once: bool = False) -> None:
        """Run `step` every `renew_seconds` until stopped; a failing step is logged and retried, never fatal."""
        failures = 0
        wait = 0.0 if first_at_once else self.settings.renew_seconds
        last_error = ""
        while not self._stop.wait(wait):
            try:
                step()
                failures, last_error = 0, ""
            except errors.ApiError as exc:  # masters away: pods keep running, retry
                failures += 1
                log.warning("%s failed: %s", what, exc.message)
            except Exception as exc:  # noqa: BLE001 - a loop of the agent must outlive any one failure
                failures += 1
                if repr(exc) != last_error:
                    log.exception("%s failed; retrying", what)
                else:
                    log.warning("%s failed again: %r", what, exc)
                last_error = repr(exc)
            wait = retry(failures) if failures and retry else self.settings.renew_seconds

    def stop(self) -> None:
        self._stop.set()
        self.stats.stop()
        if self.proxy is not None:
            self.proxy.stop()
        if self.dns is not None:
            self.dns.stop()
        if self.kubelet is not None:
            self.kubelet.stop()
        self.lease_client.close()
