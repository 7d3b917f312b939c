"""What the pod chaos run sees: what actually runs on each node, and where the API bound each pod.

`Observer` runs two threads while pods churn:

- every `SAMPLE_INTERVAL` seconds a `pod_checks.RuntimeSample`, read from the machine and not from
  the API: the containers' cgroups below each node's `--cgroup-parent` (from the agent's command
  line in `cluster.json`: `<parent>/<sandbox id>/<container id>`, in the unified hierarchy or v1's
  `pids` controller) that hold a process, each sandbox mapped to its pod UID by the process
  runtime's record of it (`<node data dir>/runtime/sandboxes/<id>.json`, written before any
  container starts);
- a watch of all pods (listed first, resumed on another master after an error, listed again
  after a 410) recording every `spec.nodeName` each pod UID was shown with, so a pod bound and
  deleted between two samples is known too.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from minik8s.api import errors

from .pod_checks import RuntimeSample
from .pod_faults import UpCluster

SAMPLE_INTERVAL = 0.25  # seconds between two samples of the nodes
CLIENT_TIMEOUT = 5.0
CGROUP_ROOT = Path("/sys/fs/cgroup")

Obj = dict[str, Any]


def _cgroup_hierarchy() -> Path:
    """Where the pods' cgroups are listed: the unified hierarchy (v2), else v1's pids controller."""
    return CGROUP_ROOT if (CGROUP_ROOT / "cgroup.controllers").exists() else CGROUP_ROOT / "pids"


def _subdirs(path: Path) -> list[Path]:
    """The directories in `path` (none once it is gone: the runtime removes cgroups as pods go)."""
    try:
        with os.scandir(path) as entries:
            return [Path(entry.path) for entry in entries if entry.is_dir(follow_symlinks=False)]
    except OSError:
        return []


def _flag(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


class Observer:
    """Samples what runs on each node, and watches the API's pod bindings, in two threads (see the module
    docstring); `error` is what stopped one of them early, if anything did."""

    def __init__(self, cluster: UpCluster, *, clock: Callable[[], float], interval: float = SAMPLE_INTERVAL) -> None:
        self.clock, self.interval = clock, interval
        # per node: its name, its pods' cgroup (below the hierarchy) and its runtime's state directory
        self._nodes = [(_flag(argv, "--name"), _flag(argv, "--cgroup-parent"),
                        Path(_flag(argv, "--data-dir")) / "runtime") for argv in cluster.state["node_argv"]]
        self._hierarchy = _cgroup_hierarchy()
        self._client = cluster.client.copy(timeout=CLIENT_TIMEOUT)
        self._sandboxes: dict[str, tuple[str, str]] = {}  # sandbox id -> (pod uid, namespace/name)
        self.samples: list[RuntimeSample] = []
        self.bindings: dict[str, set[str]] = {}  # pod uid -> every spec.nodeName the API showed
        self.error: BaseException | None = None  # what stopped a thread early
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._guarded, args=(loop,), name=f"pod-observer-{i}", daemon=True)
                         for i, loop in enumerate((self._sample_loop, self._watch_loop))]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(CLIENT_TIMEOUT * 2)
        self._client.close()

    def _guarded(self, loop: Callable[[], None]) -> None:
        try:
            loop()
        except BaseException as exc:  # noqa: BLE001 - reported with the run
            self.error = exc

    def _sample_loop(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.sample())
            self._stop.wait(self.interval)

    def _watch_loop(self) -> None:
        """List the pods, then watch them (a pod bound and deleted between two listings is seen too),
        resuming on another master after an error; list again after a 410."""
        revision: str | None = None
        while not self._stop.is_set():
            try:
                if revision is None:
                    listing = self._client.list("pods")
                    self.observe(listing["items"])
                    revision = listing["metadata"]["resourceVersion"]
                events, revision = self._client.watch_poll("pods", resource_version=revision, timeout_seconds=1)
                self.observe([event["object"] for event in events if event.get("type") != "BOOKMARK"])
            except errors.ExpiredError:
                revision = None
            except errors.ApiError:
                self._stop.wait(0.2)  # a master is down: resume on another one

    def observe(self, pods: list[Obj]) -> None:
        """Remember the node each pod is bound to."""
        for pod in pods:
            node = pod["spec"].get("nodeName")
            if node:
                self.bindings.setdefault(pod["metadata"]["uid"], set()).add(node)

    def sample(self) -> RuntimeSample:
        """Which pods have processes in each node's cgroups now."""
        at = self.clock()
        running: dict[str, dict[str, str]] = {}
        for node, parent, runtime_dir in self._nodes:
            pods: dict[str, str] = {}
            for sandbox in _subdirs(self._hierarchy / parent):
                for container in _subdirs(sandbox):
                    try:
                        if not (container / "cgroup.procs").read_text().split():
                            continue
                    except OSError:
                        continue  # removed since listed
                    uid, name = self._pod_of(runtime_dir, sandbox.name)
                    pods[uid] = name
            running[node] = pods
        return RuntimeSample(at, running)

    def _pod_of(self, runtime_dir: Path, sandbox: str) -> tuple[str, str]:
        """The pod a sandbox belongs to, from the runtime's record of it (written before any container)."""
        if sandbox not in self._sandboxes:
            try:
                config = json.loads((runtime_dir / "sandboxes" / f"{sandbox}.json").read_text())["config"]
            except (OSError, ValueError, KeyError):
                return f"sandbox:{sandbox}", "(no sandbox record)"
            self._sandboxes[sandbox] = (config["pod_uid"], f"{config['namespace']}/{config['pod_name']}")
        return self._sandboxes[sandbox]
