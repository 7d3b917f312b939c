"""Pod startup latency: 100 pods on `minik8s up --masters 3 --nodes 3` (process runtime).

Starts `python -m minik8s.cli.main up` in a temp dir (3 masters, 3 node agents each in its own
network namespace; containers are host processes), lists the pods for a resourceVersion and
starts ONE long-poll watch on pods in `default` from it. Then `--creators` threads create
`--pods` one-container pods (`python -c "import time; time.sleep(100000)"`, image `python`) as
fast as they can, each recording the monotonic time just before its POST. The watch records,
per pod, the first event that shows phase Running with every container ready. Startup latency
of a pod = that event's arrival − its create time; the run ends when all are Running or after
`--max-seconds` (from the first create).

Columns: pods Running, nodes, seconds from the first create to the last Running, pods/s, and
p50/p99/max startup latency in ms; a second table spreads the pods over the nodes. Under the
tables: create request latency, create -> first seen bound (the scheduler's share), and the CPU
seconds used during the run by the masters, the node agents, their short-lived children, the
process runtime's launchers and container shims, the containers, this process and the whole
machine (all share the same cores; other load on the machine is included in the last figure), and
the CPU per pod of the cluster's own processes (masters, agents, children, launchers and shims;
not the containers). Then the CPU per second of those processes while the pods just run
(`--idle-seconds`), and, after the burst's pods are deleted, `--singles` pods created one at a
time on the idle cluster (create -> Running p50/p99). `--runtime docker` runs the same on Docker
nodes (image python:3.11; needs the host's Docker engine, scripts/start-dockerd.sh; dockerd's own
CPU is only in the whole-machine figure).

Afterwards the pods are deleted, `up` is stopped with SIGINT (it removes its namespaces, bridge
and cgroups), and the script checks that no process of the cluster (command line under the temp
dir, or a container carrying this run's marker in its environment) and no network namespace of
it is left; leftovers are listed, killed by pid, and make the exit code 1. `--py-spy DIR` also
records `py-spy` raw (collapsed) stacks of the GIL holder of every master and agent into DIR/burst
(during the burst) and DIR/idle (during the idle measurement).

    .venv/bin/python bench/bench_pods.py [--pods 100] [--creators 4] [--max-seconds 120] [--py-spy DIR]
                                         [--singles 20] [--idle-seconds 10] [--runtime process|docker]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cluster import exit_on_sigterm, free_ports, log_tail, process_cpu_seconds, run_main
from pyroute2 import IPRoute, netns
from report import format_table, percentile

from minik8s.api import errors
from minik8s.api.client import ApiClient
from minik8s.api.kubeconfig import load_kubeconfig
from minik8s.cli.hosts import HostNet

NAMESPACE = "default"
LABEL = "bench=pods"
MARKER_ENV = "MINIK8S_BENCH_RUN"
POD_COMMAND = [sys.executable, "-c", "import time; time.sleep(100000)"]
UP_TIMEOUT = 180.0
STOP_TIMEOUT = 120.0
DELETE_TIMEOUT = 60.0
WATCH_POLL_SECONDS = 2  # a stopped watch ends within this (plus a request)
HEADERS = ("pods", "nodes", "seconds", "pods/s", "startup p50 ms", "p99 ms", "max ms")
NODE_HEADERS = ("node", "pods", "startup p50 ms", "p99 ms", "max ms")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pods", type=int, default=100)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--masters", type=int, default=3)
    parser.add_argument("--creators", type=int, default=4, help="threads creating pods")
    parser.add_argument("--max-seconds", type=float, default=120.0, help="deadline from the first create")
    parser.add_argument("--py-spy", type=Path, default=None, metavar="DIR",
                        help="record py-spy raw stacks (GIL holder) of masters and agents into DIR")
    parser.add_argument("--singles", type=int, default=20,
                        help="then create this many pods one at a time on the idle cluster (create -> Running)")
    parser.add_argument("--idle-seconds", type=float, default=10.0,
                        help="CPU of the cluster while the burst's pods just run, measured over this long")
    parser.add_argument("--runtime", choices=("process", "docker"), default="process")
    return parser.parse_args()


# -- the cluster --------------------------------------------------------------------------------


class UpCluster:
    """A `minik8s up` in the foreground of a child process, stopped with SIGINT."""

    def __init__(self, workdir: Path, *, masters: int, nodes: int, runtime: str) -> None:
        self.workdir = workdir
        self.root = (workdir / "data").absolute()
        self.log_path = workdir / "up.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "minik8s.cli.main", "up", "--masters", str(masters), "--nodes", str(nodes), "--runtime", runtime,
                 "--data-dir", str(self.root), "--api-port", str(free_ports(1)[0])],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = UP_TIMEOUT) -> None:
        """Until `up` wrote the kubeconfig (it does so once every node is Ready)."""
        deadline = time.monotonic() + timeout
        while not (self.root / "kubeconfig").exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"`minik8s up` exited with {self.proc.returncode}:\n{log_tail(self.log_path)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"`minik8s up` not ready within {timeout:.0f}s:\n{log_tail(self.log_path)}")
            time.sleep(0.2)

    def client(self, timeout: float = 30.0) -> ApiClient:
        config = load_kubeconfig(self.root / "kubeconfig")
        return ApiClient(config.servers, token=config.token, ca_file=config.ca_file, timeout=timeout)

    @property
    def state(self) -> dict[str, Any]:
        return json.loads((self.root / "cluster.json").read_text())

    def stop(self) -> None:
        """SIGINT `up` (it stops agents, pods, masters and removes namespaces); SIGKILL its group if stuck."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                print(f"`minik8s up` did not stop within {STOP_TIMEOUT:.0f}s; killing its group", file=sys.stderr)
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def run_on_up(prefix: str, measure: Callable[[UpCluster], bool], *, nodes: int = 3,
              runtime: str = "process") -> int:
    """Run `measure` on a `minik8s up --masters 3 --nodes N` in a fresh temp dir; stop `up` afterwards.

    The exit code: 0 when `measure` returned True; 1 when it returned False or raised a RuntimeError or an
    ApiError (printed), and then the temp dir and its logs are kept."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    print(f"starting minik8s up --masters 3 --nodes {nodes} --runtime {runtime} in {workdir} ...", file=sys.stderr)
    up = UpCluster(workdir, masters=3, nodes=nodes, runtime=runtime)
    failed = True
    try:
        up.wait_ready()
        failed = not measure(up)
    except (RuntimeError, errors.ApiError) as exc:
        print(f"error: {exc}", file=sys.stderr)
    finally:
        up.stop()
        if failed:
            print(f"kept {workdir} (logs: up.log, data/*.log)", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


# -- pods and the watch -------------------------------------------------------------------------


DOCKER_IMAGE = "python:3.11"  # preloaded on Docker nodes under Docker Hub's name
DOCKER_COMMAND = ["python", "-c", "import time; time.sleep(100000)"]


def pod(i: int, marker: str, runtime: str = "process") -> dict[str, Any]:
    image, command = (DOCKER_IMAGE, DOCKER_COMMAND) if runtime == "docker" else ("python", POD_COMMAND)
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"bench-pod-{i:04d}", "namespace": NAMESPACE, "labels": {"bench": "pods"}},
            "spec": {"terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "main", "image": image, "command": command,
                                     "env": [{"name": MARKER_ENV, "value": marker}]}]}}


def is_running(obj: dict[str, Any]) -> bool:
    status = obj.get("status") or {}
    containers = status.get("containerStatuses") or []
    return status.get("phase") == "Running" and bool(containers) and all(c.get("ready") for c in containers)


@dataclass
class StartupWatch:
    """One long-poll watch on the pods: when each expected pod was first seen Running and ready."""

    client: ApiClient
    names: set[str]
    resource_version: str
    running: dict[str, tuple[float, str]] = field(default_factory=dict)  # name -> (monotonic, node)
    bound: dict[str, float] = field(default_factory=dict)  # name -> monotonic when first seen with a node
    error: BaseException | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, name="startup-watch", daemon=True)
        thread.start()
        return thread

    def _run(self) -> None:
        try:
            for event in self.client.watch("pods", namespace=NAMESPACE, resource_version=self.resource_version,
                                           stop=self.stop, timeout_seconds=WATCH_POLL_SECONDS):
                seen = time.monotonic()
                obj = event.get("object") or {}
                name = (obj.get("metadata") or {}).get("name")
                if name in self.names and name not in self.bound and (obj.get("spec") or {}).get("nodeName"):
                    self.bound[name] = seen
                if name in self.names and name not in self.running and is_running(obj):
                    self.running[name] = (seen, obj["spec"].get("nodeName", "?"))
                    if len(self.running) == len(self.names):
                        return
        except BaseException as exc:  # reported by the main thread
            self.error = exc
        finally:
            self.done.set()


def create_pods(client: ApiClient, pods: list[dict[str, Any]], threads: int) -> dict[str, tuple[float, float]]:
    """Create every pod from `threads` threads; name -> (monotonic before the POST, after the answer)."""
    def create(obj: dict[str, Any]) -> tuple[str, float, float]:
        sent = time.monotonic()
        client.create(obj)
        return obj["metadata"]["name"], sent, time.monotonic()

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(create, pods))
    return {name: (sent, acked) for name, sent, acked in results}


def delete_pods(client: ApiClient, names: list[str], threads: int) -> bool:
    """Delete the pods and wait (bounded) until they are gone; whether they all went."""
    def delete(name: str) -> None:
        try:
            client.delete("pods", name, namespace=NAMESPACE)
        except errors.NotFoundError:
            pass
        except Exception as exc:  # keep deleting the others; the cluster stop removes the rest
            print(f"delete {name}: {exc}", file=sys.stderr)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(delete, names))
    deadline = time.monotonic() + DELETE_TIMEOUT
    while time.monotonic() < deadline:
        if not client.list("pods", namespace=NAMESPACE, label_selector=LABEL)["items"]:
            return True
        time.sleep(0.5)
    return False


# -- CPU and profiles ---------------------------------------------------------------------------


def cluster_pids(state: dict[str, Any]) -> dict[str, list[int]]:
    """Master and agent pids (`nsenter` execs the agent, so its pid is the agent's)."""
    return {"masters": list(state.get("pids") or []), "agents": list(state.get("node_pids") or [])}


def cpu_seconds(pids: dict[str, list[int]]) -> dict[str, float]:
    return {"bench": self_cpu_seconds(), "machine": machine_busy_seconds(),
            "agent children": sum(reaped_children_cpu_seconds(p) for p in pids["agents"]),
            **{group: sum(process_cpu_seconds(p) for p in ps) for group, ps in pids.items()}}


def self_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def reaped_children_cpu_seconds(pid: int) -> float:
    """CPU seconds of `pid`'s children that exited and were waited for (cutime + cstime in /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent not idle since boot (from /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def pod_process_cpu(root: Path, marker: str) -> dict[str, float]:
    """CPU seconds used so far by the live launchers and container shims (forked from a launcher, so they share
    its command line under `root`) and by the containers."""
    shim_needle, env_needle = f"process_launcher\0{root}".encode(), f"{MARKER_ENV}={marker}".encode()
    totals = {"shims": 0.0, "containers": 0.0}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            environ = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if shim_needle in cmdline:
            totals["shims"] += process_cpu_seconds(int(entry))
        elif env_needle in environ.split(b"\0"):
            totals["containers"] += process_cpu_seconds(int(entry))
    return totals


def start_py_spy(pids: dict[str, list[int]], out_dir: Path) -> list[subprocess.Popen[bytes]]:
    """One `py-spy record --format raw` per master and agent (stopped with SIGINT, which writes the file)."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out_dir.mkdir(parents=True, exist_ok=True)
    procs = []
    for group, group_pids in pids.items():
        for i, pid in enumerate(group_pids):
            procs.append(subprocess.Popen(
                [py_spy, "record", "--pid", str(pid), "--format", "raw", "--rate", "100", "--nonblocking",
                 "--threads", "--gil", "--output", str(out_dir / f"{group}-{i}.txt")],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return procs


def stop_py_spy(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


# -- leftovers ----------------------------------------------------------------------------------


def cluster_netns(root: Path) -> set[str]:
    """The pod sandboxes' namespaces recorded by the nodes' process runtimes right now."""
    names = set()
    for path in root.glob("node-*/runtime/sandboxes/*.json"):
        try:
            names.add(json.loads(path.read_text())["netns"])
        except (OSError, ValueError, KeyError):
            continue
    return names


def leftover_processes(root: Path, marker: str) -> list[tuple[int, str]]:
    """Processes whose command line mentions the cluster dir, or whose environment has this run's marker."""
    needle, env_needle = str(root).encode(), f"{MARKER_ENV}={marker}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            environ = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if needle in cmdline or env_needle in environ.split(b"\0"):
            found.append((int(entry), cmdline.replace(b"\0", b" ").decode(errors="replace")[:160]))
    return found


def leftover_network(root: Path, pod_netns: set[str]) -> list[str]:
    net = HostNet.for_cluster(str(root))
    left = [f"netns {n}" for n in netns.listnetns() if n.startswith(f"{net.prefix}-") or n in pod_netns]
    with IPRoute() as ipr:
        if ipr.link_lookup(ifname=net.bridge):
            left.append(f"bridge {net.bridge}")
    return left


def check_clean(root: Path, marker: str, pod_netns: set[str]) -> bool:
    """Report (and kill by pid) what the stopped cluster left behind; whether nothing was left."""
    procs, network = leftover_processes(root, marker), leftover_network(root, pod_netns)
    for pid, cmdline in procs:
        print(f"LEFTOVER process {pid}: {cmdline}", file=sys.stderr)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for item in network:
        print(f"LEFTOVER {item}", file=sys.stderr)
    if not procs and not network:
        print(f"clean: no process or network namespace of the cluster left ({len(pod_netns)} pod netns checked)")
    return not procs and not network


# -- the run ------------------------------------------------------------------------------------


def latency_cells(values_ms: list[float]) -> list[float]:
    ordered = sorted(values_ms)
    return [percentile(ordered, 50), percentile(ordered, 99), ordered[-1] if ordered else float("nan")]


def tables(created: dict[str, tuple[float, float]], running: dict[str, tuple[float, str]], nodes: int) -> str:
    first_create = min(sent for sent, _ in created.values())
    last_running = max((t for t, _ in running.values()), default=first_create)
    seconds = last_running - first_create
    startup = {name: (t - created[name][0]) * 1000 for name, (t, _) in running.items()}
    row = [len(running), nodes, seconds, len(running) / seconds if seconds > 0 else float("nan"),
           *latency_cells(list(startup.values()))]
    per_node: dict[str, list[float]] = defaultdict(list)
    for name, (_, node) in running.items():
        per_node[node].append(startup[name])
    node_rows = [[node, len(values), *latency_cells(values)] for node, values in sorted(per_node.items())]
    return format_table(HEADERS, [row]) + "\n\n" + format_table(NODE_HEADERS, node_rows)


def measure(up: UpCluster, args: argparse.Namespace, marker: str) -> set[str]:
    """Create the pods, follow them to Running, print the tables, delete the pods; the pod netns seen."""
    pods = [pod(i, marker, args.runtime) for i in range(args.pods)]
    names = {p["metadata"]["name"] for p in pods}
    pids = cluster_pids(up.state)
    with up.client() as client, up.client(timeout=10) as watch_client:
        revision = client.list("pods", namespace=NAMESPACE)["metadata"]["resourceVersion"]
        watch = StartupWatch(watch_client, names, revision)
        spies = start_py_spy(pids, args.py_spy / "burst") if args.py_spy else []
        cpu_before = cpu_seconds(pids)
        thread = watch.start()
        created: dict[str, tuple[float, float]] = {}
        try:
            created = create_pods(client, pods, args.creators)
            first_create = min(sent for sent, _ in created.values())
            watch.done.wait(timeout=max(0.0, first_create + args.max_seconds - time.monotonic()))
        finally:
            ended = time.monotonic()
            cpu = {k: v - cpu_before[k] for k, v in cpu_seconds(pids).items()} | pod_process_cpu(up.root, marker)
            cpu["wall"] = ended - min((sent for sent, _ in created.values()), default=ended)
            watch.stop.set()
            thread.join(timeout=WATCH_POLL_SECONDS + 15)
            stop_py_spy(spies)
        pod_netns = cluster_netns(up.root)
        print(tables(created, watch.running, args.nodes))
        print_footer(created, watch, cpu, args)
        if args.idle_seconds > 0:
            print(idle_cpu_line(pids, up.root, marker, args.idle_seconds, len(watch.running),
                                args.py_spy / "idle" if args.py_spy else None))
        if not delete_pods(client, sorted(names), args.creators):
            print(f"some pods were still listed {DELETE_TIMEOUT:.0f}s after their deletion", file=sys.stderr)
        if args.singles > 0:
            pod_netns |= singles(up, client, watch_client, args, marker, pids)
    return pod_netns


def idle_cpu_line(pids: dict[str, list[int]], root: Path, marker: str, seconds: float, pods: int,
                  py_spy: Path | None) -> str:
    """CPU the cluster's processes use per second while `pods` pods just run (nothing changes)."""
    spies = start_py_spy(pids, py_spy) if py_spy else []
    before = cpu_seconds(pids) | pod_process_cpu(root, marker)
    time.sleep(seconds)
    after = cpu_seconds(pids) | pod_process_cpu(root, marker)
    stop_py_spy(spies)
    used = {k: (after[k] - before[k]) / seconds for k in CLUSTER_CPU}
    parts = ", ".join(f"{k} {v * 1000:.0f}" for k, v in used.items())
    return f"idle with {pods} pods running, CPU ms per second: {sum(used.values()) * 1000:.0f} ({parts})"


def singles(up: UpCluster, client: ApiClient, watch_client: ApiClient, args: argparse.Namespace, marker: str,
            pids: dict[str, list[int]]) -> set[str]:
    """Create `--singles` pods one at a time, each after the previous one is Running; print the latencies."""
    pods = [pod(args.pods + i, marker, args.runtime) for i in range(args.singles)]
    names = {p["metadata"]["name"] for p in pods}
    revision = client.list("pods", namespace=NAMESPACE)["metadata"]["resourceVersion"]
    watch = StartupWatch(watch_client, names, revision)
    thread = watch.start()
    latencies, cpu_before = [], cpu_seconds(pids)
    shims_before = pod_process_cpu(up.root, marker)["shims"]
    try:
        for obj in pods:
            name, sent = obj["metadata"]["name"], time.monotonic()
            client.create(obj)
            deadline = sent + 30.0
            while name not in watch.running and time.monotonic() < deadline and not watch.done.is_set():
                time.sleep(0.002)
            if name not in watch.running:
                print(f"single pod {name} not Running within 30 s", file=sys.stderr)
                break
            latencies.append((watch.running[name][0] - sent) * 1000)
    finally:
        cpu = {k: v - cpu_before[k] for k, v in cpu_seconds(pids).items()}
        cpu["shims"] = pod_process_cpu(up.root, marker)["shims"] - shims_before
        watch.stop.set()
        thread.join(timeout=WATCH_POLL_SECONDS + 15)
    pod_netns = cluster_netns(up.root)
    ordered = sorted(latencies)
    print(f"\nsingle pods one at a time on the idle cluster: {len(ordered)} pods, create -> Running p50 "
          f"{percentile(ordered, 50):.0f} ms, p99 {percentile(ordered, 99):.0f} ms, max "
          f"{ordered[-1] if ordered else float('nan'):.0f} ms")
    print(cpu_per_pod_line(cpu, len(ordered)).replace("CPU per pod", "CPU per single pod (idle time between included)"))
    if not delete_pods(client, sorted(names), args.creators):
        print(f"some single pods were still listed {DELETE_TIMEOUT:.0f}s after their deletion", file=sys.stderr)
    return pod_netns


CLUSTER_CPU = ("masters", "agents", "agent children", "shims")  # what a pod start costs (containers excluded)


def cpu_per_pod_line(cpu: dict[str, float], pods: int) -> str:
    """CPU ms per pod of the cluster's processes (masters, agents, their children, launchers and shims)."""
    if not pods:
        return "CPU per pod: no pods"
    total = sum(cpu[k] for k in CLUSTER_CPU)
    parts = ", ".join(f"{k} {cpu[k] * 1000 / pods:.0f}" for k in CLUSTER_CPU)
    return f"CPU per pod: {total * 1000 / pods:.0f} ms ({parts})"


def print_footer(created: dict[str, tuple[float, float]], watch: StartupWatch, cpu: dict[str, float],
                 args: argparse.Namespace) -> None:
    create_ms = sorted((acked - sent) * 1000 for sent, acked in created.values())
    print(f"\ncreates: {len(created)} from {args.creators} threads, request p50 {percentile(create_ms, 50):.0f} ms, "
          f"p99 {percentile(create_ms, 99):.0f} ms")
    bound_ms = sorted((t - created[name][0]) * 1000 for name, t in watch.bound.items() if name in created)
    print(f"create -> seen bound to a node: p50 {percentile(bound_ms, 50):.0f} ms, p99 {percentile(bound_ms, 99):.0f} ms"
          f" ({len(bound_ms)} pods)")
    missing = len(watch.names) - len(watch.running)
    if missing:
        print(f"{missing} pods not Running within {args.max_seconds:.0f}s of the first create", file=sys.stderr)
    if watch.error is not None:
        print(f"watch failed: {watch.error!r}", file=sys.stderr)
    print(f"CPU seconds during the run: masters {cpu['masters']:.1f}, node agents {cpu['agents']:.1f}, "
          f"their short-lived children {cpu['agent children']:.1f}, launchers and shims {cpu['shims']:.1f}, "
          f"containers {cpu['containers']:.1f}, bench {cpu['bench']:.1f}; "
          f"whole machine {cpu['machine']:.1f} of {cpu['wall'] * (os.cpu_count() or 1):.1f} "
          f"({os.cpu_count()} cores x {cpu['wall']:.1f} s, other load included)")
    print(cpu_per_pod_line(cpu, len(created)))
    if args.py_spy:
        print(f"py-spy raw stacks in {args.py_spy}")


def main() -> int:
    exit_on_sigterm()
    args = parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-pods-"))
    marker = secrets.token_hex(8)
    print(f"starting minik8s up --masters {args.masters} --nodes {args.nodes} in {workdir} ...", file=sys.stderr)
    up = UpCluster(workdir, masters=args.masters, nodes=args.nodes, runtime=args.runtime)
    pod_netns: set[str] = set()
    failed = True
    try:
        up.wait_ready()
        pod_netns = measure(up, args, marker)
        failed = False
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
    finally:
        up.stop()
        clean = check_clean(up.root, marker, pod_netns)
        if failed or not clean:
            print(f"kept {workdir} (logs: up.log, data/*.log)", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if clean and not failed else 1


if __name__ == "__main__":
    run_main(main)
