"""The node agent process: registers the Node, renews its Lease, runs the kubelet, serves logs.

Start-up: register (or update) the Node object with capacity, addresses and a Ready condition;
for the process runtime, wait for the podCIDR the masters assign and set up the pod bridge; start
the kubelet (which adopts pods already running here) and the HTTP endpoint the API server proxies
`pods/log` to. Then, every `renew_seconds`: renew the Lease in `kube-node-lease`, keep the Ready
condition True, and route the other nodes' podCIDRs.
"""

from __future__ import annotations

import logging
import os
import platform
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from minik8s.api import errors
from minik8s.api.client import ApiClient

from .kubelet import Kubelet, KubeletSettings
from .network import PodNetwork
from .runtime.base import Runtime

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


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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
        self.runtime = runtime
        self.settings = settings
        self.network: PodNetwork | None = None
        self.kubelet: Kubelet | None = None
        self._stop = threading.Event()
        self._network_ready = True  # False until the pod network exists (then the node is not Ready)

    # ---- Node object ------------------------------------------------------------------------

    def _ready_conditions(self, old: list[Obj] | None = None) -> list[Obj]:
        now = _now()
        wanted = {"MemoryPressure": ("False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                  "DiskPressure": ("False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                  "PIDPressure": ("False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                  "Ready": ("True", "KubeletReady", "kubelet is posting ready status") if self._network_ready else
                  ("False", "KubeletNotReady", "container runtime network not ready: waiting for a podCIDR")}
        previous = {c.get("type"): c for c in old or []}
        out = []
        for kind, (status, reason, message) in wanted.items():
            prior = previous.get(kind) or {}
            changed = prior.get("status") != status
            out.append({"type": kind, "status": status, "reason": reason, "message": message,
                        "lastHeartbeatTime": now,
                        "lastTransitionTime": now if changed else prior.get("lastTransitionTime", now)})
        return out

    def _node_status(self, old: Obj | None = None) -> Obj:
        s = self.settings
        capacity = {"cpu": s.cpu or str(os.cpu_count() or 1), "memory": s.memory or _machine_memory(), "pods": "110"}
        caps = self.runtime.capabilities()
        return {
            "capacity": capacity, "allocatable": dict(capacity),
            "conditions": self._ready_conditions((old or {}).get("conditions")),
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
        spec = {"holderIdentity": s.name, "leaseDurationSeconds": s.lease_seconds, "renewTime": _micro_now()}
        try:
            lease = self.client.get("leases", s.name, namespace="kube-node-lease")
        except errors.NotFoundError:
            self.client.create({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                "metadata": {"name": s.name, "namespace": "kube-node-lease"}, "spec": spec})
            return
        lease["spec"] = {**(lease.get("spec") or {}), **spec}
        self.client.replace(lease)

    # ---- network ------------------------------------------------------------------------------

    def _wait_for_pod_cidr(self) -> str:
        while not self._stop.is_set():
            node = self.client.get("nodes", self.settings.name)
            cidr = (node.get("spec") or {}).get("podCIDR")
            if cidr:
                return cidr
            self._stop.wait(0.5)
        raise RuntimeError("stopped before a podCIDR was assigned")

    def _sync_routes(self) -> None:
        if self.network is None:
            return
        peers = {}
        for node in self.client.list("nodes")["items"]:
            cidr = (node.get("spec") or {}).get("podCIDR")
            ips = [a["address"] for a in (node.get("status") or {}).get("addresses") or [] if a.get("type") == "InternalIP"]
            if cidr and ips and node["metadata"]["name"] != self.settings.name:
                peers[cidr] = ips[0]
        self.network.sync_routes(peers)

    # ---- running ------------------------------------------------------------------------------

    def start(self, *, needs_pod_network: bool) -> None:
        """Register, set up networking, start the kubelet."""
        self._network_ready = not needs_pod_network
        node = self.register()
        self._renew_lease()
        if needs_pod_network:
            cidr = (node.get("spec") or {}).get("podCIDR") or self._wait_for_pod_cidr()
            self.network = PodNetwork(pod_cidr=cidr, bridge=self.settings.bridge, state_dir=self.settings.data_dir)
            self.network.setup()
            self._sync_routes()
            self._network_ready = True
            self._put_status(self.client.get("nodes", self.settings.name))
            log.info("pod network %s on bridge %s", cidr, self.settings.bridge)
        s = self.settings
        self.kubelet = Kubelet(self.client, self.runtime,
                               KubeletSettings(node_name=s.name, data_dir=s.data_dir, node_ip=s.node_ip,
                                               backoff_initial=s.backoff_initial),
                               network=self.network.plan if self.network else None,
                               release_network=self.network.release if self.network else None)
        self.kubelet.start()
        if self.kubelet.pods.wait_for_sync(30):
            self.kubelet.remove_unknown_sandboxes()  # pods deleted while this agent was down
        threading.Thread(target=self._heartbeat, name="heartbeat", daemon=True).start()

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.settings.renew_seconds):
            try:
                self._renew_lease()
                node = self.client.get("nodes", self.settings.name)
                ready = next((c for c in (node.get("status") or {}).get("conditions") or []
                              if c.get("type") == "Ready"), {})
                if ready.get("status") != "True":
                    self._put_status(node)
                self._sync_routes()
            except errors.ApiError as exc:  # masters away: pods keep running, retry next beat
                log.warning("heartbeat failed: %s", exc.message)

    def stop(self) -> None:
        self._stop.set()
        if self.kubelet is not None:
            self.kubelet.stop()
