"""`minik8s up` / `minik8s down`: a whole cluster on this machine, and its clean removal.

`up` writes a token, a cluster secret, a kubelet token, a CA and a kubeconfig under the data dir,
starts the masters (HTTPS), then the node agents, each in its own network namespace "host" on a
shared bridge (`hosts`) — with Docker each node host also gets a dockerd of its own (`engines`)
pulling from the cluster's registry (`registry`) — waits until every node is Ready, and stays in the foreground for as long as a majority of the
masters runs (a master or node agent that exits is reported; with 3 masters a `kill -9` of one,
the leader included, leaves a working cluster, as it should). Ctrl-C, SIGTERM or
`minik8s down --data-dir DIR` (from the state file `cluster.json`) stops the agents, removes their
pods, stops the masters and deletes the node proxies' nftables tables and the namespaces, bridge and
cgroups it made.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests
import typer

from minik8s.api import errors
from minik8s.api.certs import ensure_serving_certs
from minik8s.api.client import ApiClient
from minik8s.api.kubeconfig import write_kubeconfig
from minik8s.api.nodeendpoint import node_ready
from minik8s.api.secretfiles import create_private_once, ensure_private_dir, open_private_append, write_private

from . import engines as dockerengines
from . import hosts as hostnet
from . import registry as clusterregistry
from .procs import alive

STATE = "cluster.json"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _secret_file(path: Path, content: str) -> Path:
    """A secret file created once, 0600 from the start (an existing one is made 0600)."""
    return create_private_once(path, content)


def _interrupt(*_: object) -> None:
    """SIGTERM/SIGINT handler: unwind like Ctrl-C so the cluster is torn down."""
    raise KeyboardInterrupt


def _spawn(argv: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    with os.fdopen(open_private_append(log_path), "ab") as log:
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _wait(what: str, check: Any, procs: list[subprocess.Popen[bytes]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dead = [p for p in procs if p.poll() is not None]
        if dead:
            raise RuntimeError(f"{what}: a process exited with code {dead[0].returncode}; see the logs")
        try:
            if check():
                return
        except (requests.RequestException, errors.ApiError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what}: not ready within {timeout:.0f}s")


class LocalCluster:
    """Everything one `up` starts, recorded in `cluster.json`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.state: dict[str, Any] = {"up_pid": os.getpid(), "pids": [], "hosts": [], "node_dirs": []}

    def save(self) -> None:
        write_private(self.root / STATE, json.dumps(self.state))  # pids, names, argv: never a token

    def start(self, *, masters: int, nodes: int, runtime: str, api_port: int, grace: float, eviction: float,
              hpa_sync_period: float = 15.0, hpa_downscale_stabilization: float = 300.0) -> str:
        """Start it all; returns the kubeconfig path."""
        root = self.root
        ensure_private_dir(root)
        token = secrets.token_hex(16)
        token_file = _secret_file(root / "tokens.csv", f'{token},admin,admin,"system:masters"\n')
        token = token_file.read_text().split(",", 1)[0]
        # the node agents read the API token from a file: a command line is visible to every local user
        node_token_file = create_private_once(root / "node-token", token + "\n")
        if node_token_file.read_text().strip() != token:  # tokens.csv was replaced by hand
            write_private(node_token_file, token + "\n")
        secret_file = _secret_file(root / "cluster-secret", secrets.token_hex(24) + "\n")
        kubelet_token_file = _secret_file(root / "kubelet-token", secrets.token_hex(24) + "\n")
        in_namespaces = nodes > 0
        with hostnet.network_lock():  # another `up` may be choosing a subnet right now
            net = hostnet.HostNet.choose(str(root))
            self.state["net"] = net.to_json()
            self.save()
            api_host = net.gateway if in_namespaces else "127.0.0.1"
            certs = ensure_serving_certs(root / "pki", ["127.0.0.1", "localhost", net.gateway])
            hosts = hostnet.create_hosts([f"node-{i}" for i in range(nodes)], net) if in_namespaces else []
        self.state["hosts"] = [h.__dict__ for h in hosts]
        self.save()
        engines = self._start_docker(hosts, net) if runtime == "docker" and hosts else []

        raft = [f"127.0.0.1:{_free_port()}" for _ in range(masters)]
        api_ports = [api_port] + [_free_port() for _ in range(masters - 1)]
        urls = [f"https://{api_host}:{p}" for p in api_ports]
        master_procs = []
        for i in range(masters):
            argv = [sys.executable, "-m", "minik8s.cli.main", "master", "--name", f"master-{i}",
                    "--data-dir", str(root / f"master-{i}"), "--raft-addr", raft[i],
                    "--peers", ",".join(a for a in raft if a != raft[i]), "--api-addr", f"{api_host}:{api_ports[i]}",
                    "--token-file", str(token_file), "--cluster-secret-file", str(secret_file),
                    "--tls-cert-file", str(certs.cert_file), "--tls-private-key-file", str(certs.key_file),
                    "--kubelet-token-file", str(kubelet_token_file),
                    "--node-monitor-grace-period", str(grace), "--pod-eviction-timeout", str(eviction),
                    # short node timers (tests, demos) shorten pod garbage collection alike
                    "--pod-gc-quarantine", str(min(40.0, grace)), "--pod-gc-period", str(min(20.0, max(1.0, grace))),
                    "--horizontal-pod-autoscaler-sync-period", str(hpa_sync_period),
                    "--horizontal-pod-autoscaler-downscale-stabilization", str(hpa_downscale_stabilization)]
            master_procs.append(_spawn(argv, root / f"master-{i}.log"))
            self.state.setdefault("master_argv", []).append(argv)
        self.state["pids"] = [p.pid for p in master_procs]
        self.save()
        ca = str(certs.ca_file)
        _wait("masters", lambda: all(requests.get(f"{u}/readyz", timeout=1, verify=ca).ok for u in urls),
              master_procs, 60)

        node_procs = []
        renew = max(1.0, min(10.0, grace / 4))
        for i in range(nodes):
            name = f"node-{i}"
            node_dir = root / name
            self.state["node_dirs"].append(str(node_dir))
            argv = [sys.executable, "-m", "minik8s.cli.main", "node", "--name", name, "--data-dir", str(node_dir),
                    "--server", ",".join(urls), "--token-file", str(node_token_file), "--ca-file", ca,
                    "--kubelet-token-file", str(kubelet_token_file), "--runtime", runtime,
                    *(["--docker-host", engines[i].url] if engines else []),
                    "--cgroup-parent", net.cgroup_parent(name),
                    "--renew-seconds", str(renew), "--lease-seconds", str(int(max(grace, 4)))]
            if hosts:  # nodes sharing this machine: each reports its own pods' usage as the node's
                argv = hostnet.command_in(hosts[i], [*argv, "--node-ip", hosts[i].ip,
                                                     "--stats-cgroup", net.cgroup_parent(name)])
            else:  # agents sharing this machine's own network namespace: no Service proxy (theirs would clash)
                argv += ["--node-ip", "127.0.0.1", "--http-port", str(_free_port()), "--proxy-mode", "none"]
            node_procs.append(_spawn(argv, root / f"{name}.log"))
            self.state.setdefault("node_argv", []).append(argv)
        self.state["node_pids"] = [p.pid for p in node_procs]
        self.save()
        if nodes:
            with ApiClient(urls, token=token, ca_file=ca) as client:
                _wait("nodes", lambda: _ready_nodes(client) >= nodes, node_procs + master_procs, 60)
        kubeconfig = root / "kubeconfig"
        write_kubeconfig(kubeconfig, server=",".join(urls), token=token, ca_file=certs.ca_file)
        self._masters = master_procs
        self._master_names = [(f"master-{i}", p) for i, p in enumerate(master_procs)]
        self._agents = [(f"node-{i}", p) for i, p in enumerate(node_procs)]
        self._reported: set[str] = set()
        return str(kubeconfig)

    def _start_docker(self, hosts: list[hostnet.Host], net: hostnet.HostNet) -> list[dockerengines.Engine]:
        """The cluster's registry (this machine's images pushed into it) and a dockerd per node host."""
        missing = clusterregistry.missing_tools()
        if missing:
            raise RuntimeError(f"--runtime docker needs {', '.join(missing)}: run scripts/install-docker.sh")
        registry = clusterregistry.ClusterRegistry(f"{net.gateway}:{clusterregistry.PORT}", self.root)
        self.state["registry_pid"] = registry.start()
        self.save()
        registry.push_local_images()
        engines = [dockerengines.engine_for(h, net, self.root) for h in hosts]
        self.state["engines"] = [e.to_json() for e in engines]
        self.save()
        pids = dockerengines.start_engines(engines, mirror=registry.url, insecure=[str(net.subnet)],
                                           log_dir=self.root)
        dockerengines.wait_engines(engines, pids, timeout=60)
        return engines

    def alive(self) -> bool:
        """A majority of the masters runs: the Raft quorum that keeps the cluster working (a node agent
        may die and be restarted: its pods keep running). A master killed and restarted by hand with
        its recorded command line (`master_argv`, as the chaos suite does) counts as running."""
        running = sum(1 for p in self._masters if p.poll() is None)
        if running <= len(self._masters) // 2:
            running += sum(1 for i, p in enumerate(self._masters)
                           if p.poll() is not None and _pids_of([self.state["master_argv"][i]]))
        return running > len(self._masters) // 2

    def exited(self) -> list[str]:
        """A line for each master or node agent that exited since the last call (e.g. 70: one of its
        threads died; -9: killed)."""
        procs = [*self._master_names, *self._agents]
        gone = [(name, p) for name, p in procs if p.poll() is not None and name not in self._reported]
        self._reported.update(name for name, _ in gone)
        return [f"{'master' if name.startswith('master') else 'node agent'} {name} exited with code {p.returncode}; "
                f"see {self.root / name}.log" for name, p in gone]

    def stop(self) -> None:
        """Stop agents, remove their pods, stop masters, delete namespaces and cgroups."""
        net = self._net()
        _terminate(self.state.get("node_pids", []) + _pids_of(self.state.get("node_argv", [])))
        for node_dir in self.state.get("node_dirs", []):
            _remove_pods(node_dir, net.cgroup_parent(os.path.basename(node_dir)))
            _stop_ingress(node_dir)
        _terminate(self.state.get("pids", []) + _pids_of(self.state.get("master_argv", [])))
        _remove_proxy_tables([hostnet.Host(**h) for h in self.state.get("hosts", [])])
        for engine in self.state.get("engines", []):  # their containers go with them
            dockerengines.stop_engine(dockerengines.Engine.from_json(engine))
        if self.state.get("registry_pid"):
            clusterregistry.stop(int(self.state["registry_pid"]))
        if self.state.get("hosts"):
            hostnet.delete_hosts([hostnet.Host(**h) for h in self.state["hosts"]], net)
        # only this cluster's cgroups: other clusters on this machine have nodes of the same names
        if net.cluster_id:
            _remove_cgroups(net.cgroup_root)
        else:  # recorded before clusters had ids: the cgroups of its own nodes
            for node_dir in self.state.get("node_dirs", []):
                _remove_cgroups(net.cgroup_parent(os.path.basename(node_dir)))
        _remove_cgroups("minik8s", only_if_empty=True)
        (self.root / STATE).unlink(missing_ok=True)

    def _net(self) -> hostnet.HostNet:
        """The hosts network `start` chose (recorded in the state), else the data dir's."""
        try:
            return hostnet.HostNet.from_json(self.state["net"])
        except (KeyError, ValueError, TypeError):
            return hostnet.HostNet.for_cluster(str(self.root))


def _pids_of(argvs: list[list[str]]) -> list[int]:
    """Processes running one of these command lines (node agents or masters restarted by hand after `up`)."""
    # nsenter execs the agent, so its command line starts at the interpreter
    wanted = {"\0".join(argv[argv.index(sys.executable):] if sys.executable in argv else argv) for argv in argvs}
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmdline = f.read().rstrip(b"\0").decode(errors="replace")
            except OSError:
                continue
            if cmdline in wanted:
                found.append(int(entry))
    return found


def _ready_nodes(client: ApiClient) -> int:
    nodes = client.list("nodes", timeout=2).get("items") or []
    return sum(1 for n in nodes if node_ready(n))


def _terminate(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 15
    for pid in pids:
        while time.monotonic() < deadline and alive(pid):
            time.sleep(0.1)
        if alive(pid):
            os.kill(pid, signal.SIGKILL)



def _remove_pods(node_dir: str, cgroup_parent: str) -> None:
    """Stop and remove every sandbox a node's process runtime left running."""
    runtime_dir = os.path.join(node_dir, "runtime")
    if not os.path.isdir(runtime_dir):
        return
    from minik8s.node.runtime.process import ProcessRuntime

    runtime = ProcessRuntime(runtime_dir, cgroup_parent=cgroup_parent)
    for sandbox in runtime.list_sandboxes():
        runtime.stop_pod_sandbox(sandbox.id)
        runtime.remove_pod_sandbox(sandbox.id)


def _remove_proxy_tables(hosts: list[hostnet.Host]) -> None:
    """Delete the node proxies' nftables table `ip minik8s` (only that table) in each node host's
    namespace (the agents leave it when they stop, like kube-proxy, so that a restarted agent keeps
    Service traffic flowing; agents in this machine's own namespace run without a proxy)."""
    from minik8s.node.proxy.nft import Nft, NftError, nft_binary

    if nft_binary() is None:
        return
    for prefix in [hostnet.command_in(h, []) for h in hosts]:
        if not os.path.exists(prefix[-1].removeprefix("--net=")):
            continue  # the namespace is gone, and its table with it
        try:
            Nft(prefix=prefix).delete_table()
        except NftError as exc:
            print(f"warning: {exc}", file=sys.stderr)


def _stop_ingress(node_dir: str) -> None:
    """Stop the ingress proxy's nginx a node agent left running (it was killed, not stopped)."""
    from minik8s.node.ingress import stop_leftover

    stop_leftover(os.path.join(node_dir, "ingress"))


def _remove_cgroups(parent: str, *, only_if_empty: bool = False) -> None:
    """Remove the (empty) cgroup `parent` and the empty cgroups below it, in every hierarchy."""
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        top = hierarchy / parent
        if top.is_dir():
            for path in [] if only_if_empty else sorted(top.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                if path.is_dir():
                    try:
                        path.rmdir()
                    except OSError:
                        pass
            try:
                top.rmdir()
            except OSError:
                pass


def minik8s_command() -> str:
    """How to run this `minik8s` from a shell: `minik8s` when that is on PATH, else its full path
    (the virtualenv's bin directory, which `scripts/install.sh` does not add to PATH)."""
    beside = Path(sys.executable).parent / "minik8s"
    on_path = shutil.which("minik8s")
    if on_path and (not beside.exists() or Path(on_path).resolve() == beside.resolve()):
        return "minik8s"
    if beside.exists():
        return str(beside)
    return f"{sys.executable} -m minik8s.cli.main"


def up(
    data_dir: str = typer.Option(str(Path.home() / ".minik8s"), help="Cluster state, logs and kubeconfig."),
    masters: int = typer.Option(1, help="Number of masters (1, 3 or 5)."),
    nodes: int = typer.Option(1, help="Number of node agents (each in its own network namespace)."),
    runtime: str = typer.Option("auto", help="auto, process or docker (a dockerd per node; auto: docker when this "
                                             "machine's Docker engine answers and the registry tools are installed, "
                                             "else process)."),
    api_port: int = typer.Option(6443, help="API port of the first master."),
    node_monitor_grace_period: float = typer.Option(50.0, help="Seconds without a Lease renewal before NotReady."),
    pod_eviction_timeout: float = typer.Option(300.0, help="Seconds NotReady before the node's pods are evicted."),
    horizontal_pod_autoscaler_sync_period: float = typer.Option(15.0, min=0.1,
                                                                help="Seconds between two syncs of each HPA."),
    horizontal_pod_autoscaler_downscale_stabilization: float = typer.Option(
        300.0, min=0.0, help="Seconds of recommendations an HPA's scale down looks back on (without a behavior)."),
) -> None:
    """Start a local cluster in the foreground; Ctrl-C stops everything it started."""
    if masters not in (1, 3, 5):
        typer.echo("error: --masters must be 1, 3 or 5", err=True)
        raise typer.Exit(1)
    if runtime not in ("auto", "process", "docker"):
        typer.echo("error: --runtime must be auto, process or docker", err=True)
        raise typer.Exit(1)
    if runtime == "auto":
        runtime = "docker" if docker_available() else "process"
    cluster = LocalCluster(Path(data_dir).absolute())
    # Ctrl-C and SIGTERM stop the cluster; SIGINT explicitly too: a process started from a
    # non-interactive shell's background job inherits SIGINT ignored, and Python then installs no
    # KeyboardInterrupt handler of its own (such an `up` could not be stopped by SIGINT at all).
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _interrupt)
    try:
        typer.echo(f"starting {masters} master(s) and {nodes} node(s) ({runtime} runtime) in {cluster.root} ...")
        kubeconfig = cluster.start(masters=masters, nodes=nodes, runtime=runtime, api_port=api_port,
                                   grace=node_monitor_grace_period, eviction=pod_eviction_timeout,
                                   hpa_sync_period=horizontal_pod_autoscaler_sync_period,
                                   hpa_downscale_stabilization=horizontal_pod_autoscaler_downscale_stabilization)
        cmd = minik8s_command()
        examples = Path(__file__).resolve().parents[1] / "examples"
        try_examples = f"  {cmd} apply -f {examples}/pod-http-server.yaml\n" if examples.is_dir() else ""
        typer.echo(f"cluster ready\n  export KUBECONFIG={kubeconfig}\n  {cmd} get nodes       # or: kubectl get nodes\n"
                   f"{try_examples}"
                   f"logs: {cluster.root}/*.log; Ctrl-C (or {cmd} down --data-dir {cluster.root}) stops it")
        while cluster.alive():
            for line in cluster.exited():
                typer.echo(f"error: {line}", err=True)
            time.sleep(0.5)
        typer.echo("error: no majority of the masters runs any more; stopping the cluster", err=True)
        raise typer.Exit(1)
    except KeyboardInterrupt:
        typer.echo("stopping ...")
    except RuntimeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        cluster.stop()
        typer.echo("stopped")


def docker_available() -> bool:
    """Whether Docker nodes can run here: dockerd, docker-registry and skopeo are installed and the machine's
    engine answers with the images of scripts/build-images.sh (they are pushed to the cluster's registry)."""
    if clusterregistry.missing_tools():
        return False
    from minik8s.node.runtime.docker import SANDBOX_IMAGE

    done = subprocess.run(["docker", "image", "inspect", SANDBOX_IMAGE], capture_output=True, check=False, timeout=30)
    return done.returncode == 0


def down(data_dir: str = typer.Option(str(Path.home() / ".minik8s"), help="The data dir given to `up`.")) -> None:
    """Stop a cluster started by `up` and remove everything it created."""
    root = Path(data_dir).absolute()
    if not (root / STATE).exists():
        typer.echo(f"no running cluster recorded in {root}")
        return
    state = json.loads((root / STATE).read_text())
    _terminate([state["up_pid"]])  # `up` tears its cluster down itself on SIGTERM
    if (root / STATE).exists():  # it had died: clean up after it
        cluster = LocalCluster(root)
        cluster.state = state
        cluster.stop()
    typer.echo("stopped")
