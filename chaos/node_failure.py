"""Chaos scenario: a node agent dies (kill -9); the masters mark its Node NotReady and evict its pods.

`run_node_failure` pins a pod to one node of a running `minik8s up` cluster, waits until it runs,
SIGKILLs that node's agent (found in /proc by the command line recorded under `node_argv` in
`cluster.json`), and measures, from the kill, how long until the Node's Ready condition is
`Unknown` and until the pod is marked for deletion (`deletionTimestamp`). With a `restart`
callable it then restarts the agent and measures how long until Ready is `True` again.

`check` turns a report into the list of violated expectations, for a cluster started with
`--node-monitor-grace-period GRACE --pod-eviction-timeout EVICTION`:

- NotReady at most GRACE + 2 s after the kill;
- the pod evicted no earlier than EVICTION after the node was seen NotReady (less the polling
  slack), and at most GRACE + EVICTION + 5 s after the kill;
- Ready again after a restart.

Every wait polls with a deadline; nothing here waits unbounded. The pod is force-deleted at the end.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from minik8s.api import errors
from minik8s.api.client import ApiClient

NAMESPACE = "default"
HOSTNAME_LABEL = "kubernetes.io/hostname"
POLL_INTERVAL = 0.1  # seconds between two looks at the node or the pod
OBSERVATION_SLACK = 0.5  # seconds two polled observations may be skewed by (poll interval + request time)
NOT_READY_SLACK = 2.0  # NotReady expected within grace + this
EVICTION_SLACK = 5.0  # eviction expected within grace + eviction + this
POD_RUNNING_TIMEOUT = 60.0
AGENT_GONE_TIMEOUT = 10.0
READY_AGAIN_TIMEOUT = 60.0
WAIT_MARGIN = 30.0  # how much longer than expected a measurement keeps waiting before giving up

Obj = dict[str, Any]


class ScenarioError(RuntimeError):
    """The scenario could not be set up (the pod did not run, the agent was not found)."""


@dataclass
class NodeFailureReport:
    """Durations in seconds (None: not observed before the deadline) and what happened."""

    node: str
    pod: str
    not_ready_after: float | None  # kill -> Node Ready condition Unknown
    evicted_after: float | None  # kill -> pod has a deletionTimestamp (or is gone)
    ready_again_after: float | None  # agent restart -> Node Ready condition True
    became_not_ready: bool
    pod_evicted: bool
    restarted: bool
    ready_again: bool

    @property
    def evicted_after_not_ready(self) -> float | None:
        if self.evicted_after is None or self.not_ready_after is None:
            return None
        return self.evicted_after - self.not_ready_after

    def lines(self) -> list[str]:
        """Human-readable summary, one fact per line."""
        def secs(value: float | None) -> str:
            return "never (deadline passed)" if value is None else f"{value:.2f} s"

        lines = [f"node {self.node}, pod {NAMESPACE}/{self.pod}",
                 f"NotReady (Ready=Unknown) after kill: {secs(self.not_ready_after)}",
                 f"pod marked for deletion after kill:  {secs(self.evicted_after)}",
                 f"  ... after NotReady:                {secs(self.evicted_after_not_ready)}"]
        if self.restarted:
            lines.append(f"Ready again after restart:           {secs(self.ready_again_after)}")
        else:
            lines.append("agent not restarted")
        return lines


# -- the node agent process -------------------------------------------------------------------


def agent_argv(cluster_state: Obj, node_index: int) -> list[str]:
    """The full command `up` started node agent `node_index` with (maybe prefixed by nsenter)."""
    argvs = cluster_state.get("node_argv") or []
    if not 0 <= node_index < len(argvs):
        raise ScenarioError(f"cluster.json records {len(argvs)} node agent(s); no node index {node_index}")
    return list(argvs[node_index])


def agent_process_argv(cluster_state: Obj, node_index: int) -> list[str]:
    """The agent's own command line: `nsenter` execs it, so /proc shows it from the interpreter on."""
    argv = agent_argv(cluster_state, node_index)
    return argv[argv.index("-m") - 1:] if "-m" in argv else argv


def agent_python(cluster_state: Obj, node_index: int) -> str:
    """The interpreter the cluster's node agents run (pods use it for their command)."""
    return agent_process_argv(cluster_state, node_index)[0]


def node_name(cluster_state: Obj, node_index: int) -> str:
    argv = agent_process_argv(cluster_state, node_index)
    return argv[argv.index("--name") + 1] if "--name" in argv else f"node-{node_index}"


def cmdline(pid: str) -> list[str] | None:
    """The command line of process `pid` (None when it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.rstrip(b"\0").split(b"\0")] if raw else None


def agent_pids(cluster_state: Obj, node_index: int) -> list[int]:
    """Live processes running node agent `node_index`'s command line."""
    wanted = agent_process_argv(cluster_state, node_index)
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit() and cmdline(entry) == wanted]


def kill_agent(cluster_state: Obj, node_index: int) -> list[int]:
    """SIGKILL node agent `node_index` and wait (bounded) until it is gone; the pids killed."""
    pids = agent_pids(cluster_state, node_index)
    if not pids:
        raise ScenarioError(f"node agent {node_index} is not running")
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if not poll_until(lambda: not agent_pids(cluster_state, node_index), AGENT_GONE_TIMEOUT):
        raise ScenarioError(f"node agent {node_index} (pids {pids}) still runs {AGENT_GONE_TIMEOUT:.0f} s after SIGKILL")
    return pids


def restart_agent(cluster_state: Obj, node_index: int, log_path: Path) -> subprocess.Popen[bytes]:
    """Start node agent `node_index` again with its recorded command, output appended to `log_path`.

    It runs in its own session (as `up` starts it), so it outlives the caller; `up` finds and stops
    it by its command line. A daemon thread reaps it should it exit while the caller still runs.
    """
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(agent_argv(cluster_state, node_index), stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    threading.Thread(target=proc.wait, name=f"reap-node-agent-{node_index}", daemon=True).start()
    return proc


# -- observations -----------------------------------------------------------------------------


def poll_until(condition: Callable[[], bool], timeout: float, interval: float = POLL_INTERVAL) -> bool:
    """Call `condition` until it is true (True) or `timeout` seconds pass (False).

    API errors while polling (a master failing over, a timeout) count as "not yet".
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return True
        except (errors.ApiError, OSError):
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def elapsed_until(condition: Callable[[], bool], since: float, timeout: float) -> float | None:
    """Seconds from `since` (monotonic) until `condition` held, or None if it did not within `timeout`."""
    return time.monotonic() - since if poll_until(condition, timeout) else None


def ready_status(client: ApiClient, node: str) -> str | None:
    """The status (True, False, Unknown) of the Node's Ready condition."""
    conditions = (client.get("nodes", node).get("status") or {}).get("conditions") or []
    return next((c.get("status") for c in conditions if c.get("type") == "Ready"), None)


def pod_running(client: ApiClient, name: str) -> bool:
    status = client.get("pods", name, namespace=NAMESPACE).get("status") or {}
    containers = status.get("containerStatuses") or []
    return status.get("phase") == "Running" and bool(containers) and all(c.get("ready") for c in containers)


def pod_marked_for_deletion(client: ApiClient, name: str) -> bool:
    try:
        return bool(client.get("pods", name, namespace=NAMESPACE)["metadata"].get("deletionTimestamp"))
    except errors.NotFoundError:
        return True


# -- the scenario -----------------------------------------------------------------------------


def pinned_pod(name: str, node: str, python: str) -> Obj:
    """A long-sleeping one-container pod bound to `node` by its hostname label."""
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": "chaos-node-failure"}},
            "spec": {"nodeSelector": {HOSTNAME_LABEL: node}, "terminationGracePeriodSeconds": 2,
                     "containers": [{"name": "sleep", "image": "python",
                                     "command": [python, "-c", "import time; time.sleep(100000)"]}]}}


def _force_delete(client: ApiClient, name: str) -> None:
    try:
        client.delete("pods", name, namespace=NAMESPACE, grace_period_seconds=0)
    except errors.NotFoundError:
        pass


def run_node_failure(client: ApiClient, *, cluster_state: Obj, node_index: int, grace: float, eviction: float,
                     restart: Callable[[], None] | None) -> NodeFailureReport:
    """Kill node agent `node_index` under a pinned pod and time NotReady, eviction and (with `restart`) recovery."""
    node = node_name(cluster_state, node_index)
    pod = f"chaos-{node}-{secrets.token_hex(3)}"
    client.create(pinned_pod(pod, node, agent_python(cluster_state, node_index)))
    try:
        if not poll_until(lambda: pod_running(client, pod), POD_RUNNING_TIMEOUT):
            raise ScenarioError(f"pod {pod} not Running on {node} within {POD_RUNNING_TIMEOUT:.0f} s")
        kill_agent(cluster_state, node_index)
        killed = time.monotonic()
        not_ready = elapsed_until(lambda: ready_status(client, node) == "Unknown", killed, grace + WAIT_MARGIN)
        evicted = elapsed_until(lambda: pod_marked_for_deletion(client, pod), killed,
                                max(0.0, killed + grace + eviction + WAIT_MARGIN - time.monotonic()))
        ready_again = None
        if restart is not None:
            restart()
            restarted = time.monotonic()
            ready_again = elapsed_until(lambda: ready_status(client, node) == "True", restarted, READY_AGAIN_TIMEOUT)
    finally:
        _force_delete(client, pod)
    return NodeFailureReport(node=node, pod=pod, not_ready_after=not_ready, evicted_after=evicted,
                             ready_again_after=ready_again, became_not_ready=not_ready is not None,
                             pod_evicted=evicted is not None, restarted=restart is not None,
                             ready_again=ready_again is not None)


def check(report: NodeFailureReport, grace: float, eviction: float) -> list[str]:
    """The expectations `report` violates (empty: all met)."""
    violations = []
    if report.not_ready_after is None:
        violations.append("the node never became NotReady (Ready=Unknown)")
    elif report.not_ready_after > grace + NOT_READY_SLACK:
        violations.append(f"NotReady {report.not_ready_after:.2f} s after the kill, "
                          f"later than grace + {NOT_READY_SLACK:.0f} s = {grace + NOT_READY_SLACK:.2f} s")
    if report.evicted_after is None:
        violations.append("the pod was never marked for deletion")
    else:
        latest = grace + eviction + EVICTION_SLACK
        if report.evicted_after > latest:
            violations.append(f"pod evicted {report.evicted_after:.2f} s after the kill, "
                              f"later than grace + eviction + {EVICTION_SLACK:.0f} s = {latest:.2f} s")
        # the timeout runs from NotReady; without that observation, from the kill
        since, what = ((report.evicted_after_not_ready, "NotReady") if report.not_ready_after is not None
                       else (report.evicted_after, "the kill"))
        if since is not None and since < eviction - OBSERVATION_SLACK:
            violations.append(f"pod evicted {since:.2f} s after {what}, earlier than the eviction timeout "
                              f"{eviction:.2f} s")
    if report.restarted and not report.ready_again:
        violations.append(f"the node was not Ready again within {READY_AGAIN_TIMEOUT:.0f} s of the agent's restart")
    return violations


def default_restart(cluster_state: Obj, node_index: int, data_dir: Path) -> Callable[[], None]:
    """A `restart` for `run_node_failure`: the recorded agent command, logging to DATA_DIR/<node>.log."""
    log_path = data_dir / f"{node_name(cluster_state, node_index)}.log"

    def restart() -> None:
        restart_agent(cluster_state, node_index, log_path)

    return restart
