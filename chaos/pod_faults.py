"""Nemeses against a running `minik8s up` cluster's node agents and masters, for the pod chaos run.

Everything is found through what `up` recorded in `cluster.json`: the node agents' and masters'
command lines (`node_argv`, `master_argv`: a process is found in /proc by its command line, and a
killed one is restarted with it, in a session of its own, its output appended to the log `up`
gave it) and each node host's root-side veth (`hosts[i].veth`). Faults, each injected, held, then
healed:

- `agent-kill`: kill -9 a node agent (its pods keep running: their shims outlive it), restart it;
- `agent-pause`: SIGSTOP a node agent, SIGCONT it (the agent process only: pods run on);
- `link-cut`: set a node host's veth on the bridge down (the agent no longer reaches the masters,
  its pods no longer reach other nodes), then up again;
- `master-kill`: kill -9 a master, restart it.

`PodFaultSchedule` draws them in seeded rounds (each round every named fault once, in a seeded
order, so a short run still sees each kind), and after each heal waits until every master is ready
and every node Ready and renewing its Lease again before the next fault. Its timeline is
`nemesis.Fault` entries.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from minik8s.api import errors
from minik8s.api.client import ApiClient
from minik8s.api.kubeconfig import load_kubeconfig
from minik8s.api.nodeendpoint import node_ready

from .nemesis import Fault
from .node_failure import ScenarioError, agent_pids, cmdline, kill_agent, node_name, poll_until, restart_agent

GONE_TIMEOUT = 10.0  # seconds for a killed process to disappear
SETTLE_TIMEOUT = 60.0  # seconds for every node and master to be ready again after a heal
LEASE_NAMESPACE = "kube-node-lease"

Obj = dict[str, Any]


def pids_running(argv: list[str]) -> list[int]:
    """Live processes whose command line is exactly `argv`."""
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit() and cmdline(entry) == argv]


def spawn(argv: list[str], log_path: Path, what: str) -> None:
    """Start `argv` in a session of its own (as `up` does), output appended to `log_path`; a daemon
    thread reaps it should it exit while this process still runs."""
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    threading.Thread(target=proc.wait, name=f"reap-{what}", daemon=True).start()


class UpCluster:
    """The node agents and masters of the `minik8s up` cluster in `root` (see the module docstring)."""

    def __init__(self, root: Path, state: Obj) -> None:
        if not state.get("master_argv") or not state.get("node_argv"):
            raise ScenarioError("cluster.json records no master_argv or node_argv (an older `minik8s up`?)")
        self.root, self.state = root, state
        config = load_kubeconfig(root / "kubeconfig")
        self.token, self.ca_file = config.token, config.ca_file
        self.client = ApiClient(config.servers, token=config.token, ca_file=config.ca_file, timeout=5)

    @property
    def nodes(self) -> int:
        return len(self.state["node_argv"])

    @property
    def masters(self) -> int:
        return len(self.state["master_argv"])

    def node(self, index: int) -> str:
        """Node `index`'s name."""
        return node_name(self.state, index)

    def master(self, index: int) -> str:
        """Master `index`'s name."""
        argv = self.state["master_argv"][index]
        return argv[argv.index("--name") + 1]

    def master_url(self, index: int) -> str:
        """Master `index`'s API URL."""
        argv = self.state["master_argv"][index]
        return f"https://{argv[argv.index('--api-addr') + 1]}"

    def master_pids(self, index: int) -> list[int]:
        """Live processes running master `index`'s recorded command line."""
        return pids_running(self.state["master_argv"][index])

    def kill_master(self, index: int) -> list[int]:
        """SIGKILL master `index` and wait (bounded) until it is gone; the pids killed."""
        pids = self.master_pids(index)
        if not pids:
            raise ScenarioError(f"{self.master(index)} is not running")
        for pid in pids:
            _signal(pid, signal.SIGKILL)
        if not poll_until(lambda: not self.master_pids(index), GONE_TIMEOUT):
            raise ScenarioError(f"{self.master(index)} (pids {pids}) still runs {GONE_TIMEOUT:.0f} s after SIGKILL")
        return pids

    def start_master(self, index: int) -> None:
        """Start master `index` with its recorded command line, unless it runs."""
        if not self.master_pids(index):
            spawn(self.state["master_argv"][index], self.root / f"{self.master(index)}.log", self.master(index))

    def start_agent(self, index: int) -> None:
        """Start node agent `index` with its recorded command line, unless it runs."""
        if not agent_pids(self.state, index):
            restart_agent(self.state, index, self.root / f"{self.node(index)}.log")

    def set_link(self, index: int, up: bool) -> None:
        """Set node host `index`'s veth on the cluster bridge up or down."""
        veth = self.state["hosts"][index]["veth"]
        subprocess.run(["ip", "link", "set", "dev", veth, "up" if up else "down"], check=True, capture_output=True,
                       timeout=10)

    def signal_agent(self, index: int, sig: signal.Signals) -> list[int]:
        """Send `sig` to node agent `index`; the pids signalled."""
        pids = agent_pids(self.state, index)
        for pid in pids:
            _signal(pid, sig)
        return pids

    def master_ready(self, index: int) -> bool:
        """Whether master `index` answers /readyz with a 2xx."""
        with ApiClient([self.master_url(index)], token=self.token, ca_file=self.ca_file, timeout=2) as client:
            try:
                client.request("GET", "/readyz")
                return True
            except errors.ApiError:
                return False

    def lease_renewals(self) -> dict[str, str | None]:
        """Each node's Lease `renewTime` (compared only for change: it is the agent's clock)."""
        leases = {lease["metadata"]["name"]: (lease.get("spec") or {}).get("renewTime")
                  for lease in self.client.list("leases", namespace=LEASE_NAMESPACE)["items"]}
        return {self.node(i): leases.get(self.node(i)) for i in range(self.nodes)}

    def healthy(self, renewals: dict[str, str | None]) -> bool:
        """Every master answers /readyz, every node is Ready and has renewed its Lease since `renewals`."""
        if not all(self.master_ready(i) for i in range(self.masters)):
            return False
        ready = {n["metadata"]["name"] for n in self.client.list("nodes")["items"] if node_ready(n)}
        now = self.lease_renewals()
        return all(node in ready and now[node] != renewals[node] for node in now)

    def wait_recovered(self, timeout: float) -> bool:
        """Poll (bounded) until `healthy` against the Leases as they are now: every agent renewed since."""
        renewals: list[dict[str, str | None]] = []

        def recovered() -> bool:
            if not renewals:
                renewals.append(self.lease_renewals())  # masters may still refuse: polled again
            return self.healthy(renewals[0])

        return poll_until(recovered, timeout, interval=0.2)

    def heal_all(self) -> None:
        """Undo whatever a fault may have left: links up, agents resumed, every process running."""
        for index in range(self.nodes):
            self.set_link(index, True)
            self.signal_agent(index, signal.SIGCONT)
            self.start_agent(index)
        for index in range(self.masters):
            self.start_master(index)

    def close(self) -> None:
        self.client.close()


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


class PodNemesis(Protocol):
    """A fault: `inject` it (saying what it did, to whom), then `heal` it (saying how)."""

    name: str

    def inject(self, cluster: UpCluster, rng: random.Random) -> str: ...

    def heal(self, cluster: UpCluster) -> str: ...


@dataclass
class AgentKill:
    """kill -9 a node agent; restart it."""

    name: str = "agent-kill"
    target: int = 0

    def inject(self, cluster: UpCluster, rng: random.Random) -> str:
        self.target = rng.randrange(cluster.nodes)
        pids = kill_agent(cluster.state, self.target)
        return f"kill -9 the agent of {cluster.node(self.target)} (pid {', '.join(map(str, pids))})"

    def heal(self, cluster: UpCluster) -> str:
        cluster.start_agent(self.target)
        return f"restart the agent of {cluster.node(self.target)}"


@dataclass
class AgentPause:
    """SIGSTOP a node agent; SIGCONT it."""

    name: str = "agent-pause"
    target: int = 0

    def inject(self, cluster: UpCluster, rng: random.Random) -> str:
        self.target = rng.randrange(cluster.nodes)
        pids = cluster.signal_agent(self.target, signal.SIGSTOP)
        if not pids:
            raise ScenarioError(f"the agent of {cluster.node(self.target)} is not running")
        return f"SIGSTOP the agent of {cluster.node(self.target)} (pid {', '.join(map(str, pids))})"

    def heal(self, cluster: UpCluster) -> str:
        cluster.signal_agent(self.target, signal.SIGCONT)
        return f"SIGCONT the agent of {cluster.node(self.target)}"


@dataclass
class LinkCut:
    """Set a node host's veth on the bridge down; up again."""

    name: str = "link-cut"
    target: int = 0

    def inject(self, cluster: UpCluster, rng: random.Random) -> str:
        self.target = rng.randrange(cluster.nodes)
        cluster.set_link(self.target, False)
        return f"link of {cluster.node(self.target)} down ({cluster.state['hosts'][self.target]['veth']})"

    def heal(self, cluster: UpCluster) -> str:
        cluster.set_link(self.target, True)
        return f"link of {cluster.node(self.target)} up"


@dataclass
class MasterKill:
    """kill -9 a master; restart it."""

    name: str = "master-kill"
    target: int = 0

    def inject(self, cluster: UpCluster, rng: random.Random) -> str:
        self.target = rng.randrange(cluster.masters)
        pids = cluster.kill_master(self.target)
        return f"kill -9 {cluster.master(self.target)} (pid {', '.join(map(str, pids))})"

    def heal(self, cluster: UpCluster) -> str:
        cluster.start_master(self.target)
        return f"restart {cluster.master(self.target)}"


POD_NEMESES: dict[str, Callable[[], PodNemesis]] = {
    "agent-kill": AgentKill, "agent-pause": AgentPause, "link-cut": LinkCut, "master-kill": MasterKill}


@dataclass
class PodFaultSchedule:
    """Inject and heal seeded faults until `stop_at` (see the module docstring)."""

    cluster: UpCluster
    seed: int
    names: tuple[str, ...] = tuple(POD_NEMESES)
    hold: tuple[float, float] = (1.0, 5.0)  # seconds a fault lasts
    gap: tuple[float, float] = (0.5, 1.5)  # seconds between a recovery and the next fault
    timeline: list[Fault] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def run(self, stop_at: float) -> None:
        rng = random.Random(self.seed)
        order: list[str] = []
        while True:
            time.sleep(min(rng.uniform(*self.gap), max(0.0, stop_at - time.monotonic())))
            if time.monotonic() >= stop_at:
                return
            if not order:
                order = rng.sample(self.names, len(self.names))
            nemesis = POD_NEMESES[order.pop(0)]()
            self._note(nemesis.name, "inject", nemesis.inject(self.cluster, rng))
            try:
                time.sleep(rng.uniform(*self.hold))
            finally:
                self._note(nemesis.name, "heal", nemesis.heal(self.cluster))
            if not self.cluster.wait_recovered(SETTLE_TIMEOUT):
                self._note(nemesis.name, "not-ready", f"not every node and master ready within {SETTLE_TIMEOUT:.0f} s")
                raise ScenarioError(f"the cluster did not recover within {SETTLE_TIMEOUT:.0f} s of healing "
                                    f"{nemesis.name}")
            self._note(nemesis.name, "recovered", "every master ready, every node Ready and renewing its Lease")

    def _note(self, nemesis: str, action: str, detail: str) -> None:
        self.timeline.append(Fault(time.monotonic() - self.started, nemesis, action, detail))
