"""`minik8s node`: run a node agent (kubelet, heartbeat, pod network, Service proxy, logs endpoint) in the
foreground."""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import signal
import sys
import threading
from pathlib import Path

import typer

from minik8s.api.secretfiles import ensure_private_dir, warn_if_exposed

RUNTIMES = ("auto", "process", "docker")
PROXY_MODES = ("nftables", "none")


def default_cgroup_parent(name: str, data_dir: str) -> str:
    """`minik8s/<name>-<hash of the data dir>`: node names repeat across clusters on one machine."""
    digest = hashlib.sha256(os.path.abspath(data_dir).encode()).hexdigest()[:8]
    return f"minik8s/{name}-{digest}"


def _pick_runtime(kind: str, data_dir: str, cgroup_parent: str, docker_host: str):  # noqa: ANN202 (a Runtime)
    """The runtime asked for; `auto` takes docker when the engine at `docker_host` (else DOCKER_HOST or the
    machine's) answers, else process."""
    if kind in ("auto", "docker"):
        try:
            import docker

            from minik8s.node.runtime.docker import DockerRuntime

            client = docker.DockerClient(base_url=docker_host, timeout=30) if docker_host else docker.from_env(timeout=30)
            client.api.ping()
            # An engine of its own (`up`'s per-node dockerd): pods on this node's pod network and in this node's
            # cgroup. The machine's shared engine keeps Docker's bridge and its docker/<id> cgroups.
            own = bool(docker_host)
            return DockerRuntime(client, cgroup_parent=cgroup_parent if own else None, pod_network=own)
        except Exception as exc:  # docker SDK errors have no common base worth naming
            if kind == "docker":
                raise typer.BadParameter(f"--runtime docker: no Docker engine answers at "
                                         f"{docker_host or 'the default socket'} ({exc})") from None
    from minik8s.node.runtime.process import ProcessRuntime

    return ProcessRuntime(os.path.join(data_dir, "runtime"), cgroup_parent=cgroup_parent)


def _api_token(token: str, token_file: str) -> str:
    """The API token from --token-file, else --token / MINIK8S_TOKEN; warns when it is exposed."""
    logger = logging.getLogger("minik8s.node")
    if token_file:
        warn_if_exposed(token_file, "--token-file:", logger)
        try:
            value = Path(token_file).read_text().strip()
        except OSError as exc:
            raise typer.BadParameter(f"--token-file: {exc}") from None
        if not value:
            raise typer.BadParameter(f"--token-file: {token_file} is empty")
        return value
    if not token:
        raise typer.BadParameter("give --token-file (or set MINIK8S_TOKEN)")
    if any(arg == "--token" or arg.startswith("--token=") for arg in sys.argv):
        logger.warning("--token on the command line is readable by every local user (/proc/PID/cmdline); "
                       "use --token-file or MINIK8S_TOKEN")
    return token


def node(
    name: str = typer.Option(..., help="Node name (the Node object and its Lease)."),
    data_dir: str = typer.Option(..., help="Pod volumes, logs, runtime and IPAM state."),
    server: str = typer.Option(..., help="API server URL(s), comma-separated (failover)."),
    token: str = typer.Option("", envvar="MINIK8S_TOKEN", show_envvar=True,
                              help="Bearer token for the API (prefer --token-file or the environment: a "
                                   "command line is readable by every local user)."),
    token_file: str = typer.Option("", help="File holding the bearer token for the API (mode 0600)."),
    ca_file: str = typer.Option("", help="CA of the masters' HTTPS certificate."),
    node_ip: str = typer.Option("127.0.0.1", help="This node's IP (masters reach the logs endpoint there)."),
    http_port: int = typer.Option(10250, help="Port of the logs endpoint the API server proxies to."),
    kubelet_token_file: str = typer.Option(..., help="Token the masters present to this node's endpoint."),
    runtime: str = typer.Option("auto", help="auto, process or docker."),
    docker_host: str = typer.Option("", help="The Docker engine of this node, e.g. unix:///run/mk1/node-0/docker.sock "
                                             "(default: DOCKER_HOST, else the machine's engine)."),
    cgroup_parent: str = typer.Option("", help="Cgroup (below each hierarchy) of this node's pods, unique per "
                                               "node on this machine (default: minik8s/<name>-<data dir hash>)."),
    lease_seconds: int = typer.Option(40, help="Node Lease duration."),
    renew_seconds: float = typer.Option(10.0, help="How often the Lease is renewed."),
    cpu: str = typer.Option("", help="Advertised cpu capacity (default: this machine's)."),
    memory: str = typer.Option("", help="Advertised memory capacity, e.g. 8Gi (default: this machine's)."),
    restart_backoff: float = typer.Option(10.0, help="First CrashLoopBackOff delay in seconds (doubles to 300)."),
    stats_interval: float = typer.Option(5.0, min=0.1, help="Seconds between two samples of container usage."),
    stats_window: float = typer.Option(15.0, min=0.1, help="Seconds a CPU usage rate is measured over."),
    stats_cgroup: str = typer.Option("", help="Report this cgroup's usage as the node's (simulated nodes sharing "
                                              "a machine: their --cgroup-parent); default: the whole machine."),
    proxy_mode: str = typer.Option("nftables", help="nftables: program Services into the nftables table "
                                                    "`ip minik8s` (kube-proxy's nftables mode); none: no proxy."),
    proxy_min_sync_period: float = typer.Option(0.1, min=0.0, help="Seconds between two proxy rule syncs at least "
                                                                   "(changes meanwhile are written together)."),
    ingress_port: int = typer.Option(80, min=0, max=65535, help="Port of the ingress proxy (nginx) on --node-ip "
                                                                "(0: no ingress proxy on this node)."),
    ingress_nginx: str = typer.Option("/usr/sbin/nginx", help="The nginx binary of the ingress proxy."),
    cluster_dns: str = typer.Option("169.254.20.10", help="Node-local cluster DNS address, served by this agent "
                                                         "on a dummy link and given to pods (empty: none)."),
    cluster_domain: str = typer.Option("cluster.local", help="The cluster's DNS domain."),
    function_port: int = typer.Option(8090, min=0, max=65535,
                                      help="Port of the function gateway on the --cluster-dns address: pods call "
                                           "POST http://169.254.20.10:8090/invoke/NAMESPACE/NAME (0: none)."),
    resolv_conf: str = typer.Option("/etc/resolv.conf", help="The node's resolv.conf (upstream resolvers, "
                                                            "dnsPolicy Default)."),
    log_level: str = typer.Option("INFO", help="DEBUG, INFO, WARNING or ERROR."),
) -> None:
    """Run a node agent: register the Node, renew its Lease, run the pods bound to it."""
    import waitress.server

    from minik8s.api.client import ApiClient
    from minik8s.node.agent import AgentSettings, NodeAgent
    from minik8s.node.proxy.nft import nft_binary
    from minik8s.node.server import create_node_app
    from minik8s.serverless.router import FunctionRouter, InvokeResource, StatsResource, gateway_app

    if runtime not in RUNTIMES:
        raise typer.BadParameter(f"--runtime must be one of {', '.join(RUNTIMES)}")
    if proxy_mode not in PROXY_MODES:
        raise typer.BadParameter(f"--proxy-mode must be one of {', '.join(PROXY_MODES)}")
    if proxy_mode == "nftables" and nft_binary() is None:
        raise typer.BadParameter("--proxy-mode nftables needs the nft command: install Debian's nftables package "
                                 "(scripts/install.sh does), or give --proxy-mode none")
    if cluster_dns:
        try:
            cluster_dns = str(ipaddress.IPv4Address(cluster_dns))
        except ValueError:
            raise typer.BadParameter(f"--cluster-dns {cluster_dns!r}: an IPv4 address") from None
    logging.basicConfig(level=log_level.upper(), format=f"%(asctime)s {name} %(levelname)s %(name)s: %(message)s")
    token = _api_token(token, token_file)
    warn_if_exposed(kubelet_token_file, "--kubelet-token-file:", logging.getLogger("minik8s.node"))
    ensure_private_dir(data_dir)
    cgroup_parent = cgroup_parent.strip("/") or default_cgroup_parent(name, data_dir)
    if any(part in ("", ".", "..") for part in cgroup_parent.split("/")):
        raise typer.BadParameter(f"--cgroup-parent {cgroup_parent!r}: a relative path like minik8s/node-0")
    chosen = _pick_runtime(runtime, data_dir, cgroup_parent, docker_host)
    client = ApiClient(server, token=token, ca_file=ca_file or None)
    agent = NodeAgent(client, chosen, AgentSettings(
        name=name, data_dir=data_dir, node_ip=node_ip, http_port=http_port, lease_seconds=lease_seconds,
        renew_seconds=renew_seconds, cpu=cpu or None, memory=memory or None, backoff_initial=restart_backoff,
        stats_interval=stats_interval, stats_window=stats_window, stats_cgroup=stats_cgroup.strip("/") or None,
        proxy=proxy_mode == "nftables", proxy_min_sync_period=proxy_min_sync_period,
        cluster_dns=cluster_dns or None, cluster_domain=cluster_domain.strip(".").lower() or "cluster.local",
        resolv_conf=resolv_conf))
    router = FunctionRouter(client.copy())
    app = create_node_app(chosen, Path(kubelet_token_file).read_text().strip(), stats=agent.stats,
                          routes={"/invoke/{namespace}/{name}": InvokeResource(router),
                                  "/functionstats": StatsResource(router)})
    # Function calls hold a thread while the function runs or a cold start is awaited.
    http = waitress.server.create_server(app, host=node_ip, port=http_port, threads=64, ident="minik8s-node")
    stopped = threading.Event()

    def stop(*_: object) -> None:
        stopped.set()
        http.close()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    agent.start(needs_pod_network=chosen.capabilities().needs_pod_network)
    router.start()
    gateway = _start_function_gateway(gateway_app(router), cluster_dns, function_port)
    ingress = _start_ingress(client, node_ip, data_dir, ingress_port, ingress_nginx)
    logging.getLogger(__name__).info("node %s up: runtime %s, logs on %s:%d", name, chosen.capabilities().name,
                                     node_ip, http_port)
    try:
        http.run()
    except OSError:
        if not stopped.is_set():
            raise
    finally:
        if ingress is not None:
            ingress.stop()
        if gateway is not None:
            gateway()
        router.stop()
    agent.stop()


def _start_function_gateway(app, address: str, port: int):  # noqa: ANN001, ANN202
    """Start the node-local function gateway for pods (waitress on `address:port`, a thread of its own)
    and return what closes it, or None when off; the address is the node-local DNS one, which the
    agent has put in place by now."""
    import waitress.server

    from minik8s.api.threads import start_thread

    if not address or port == 0:
        return None
    try:
        server = waitress.server.create_server(app, host=address, port=port, threads=32, ident="minik8s-functions")
    except OSError as exc:  # the node runs its pods all the same
        logging.getLogger("minik8s.node").error("no function gateway on %s:%d: %s", address, port, exc)
        return None
    closed = threading.Event()

    def serve() -> None:
        try:
            server.run()
        except OSError:
            if not closed.is_set():
                raise  # not closed by us: the thread's death takes the agent down

    def close() -> None:
        closed.set()
        server.close()

    start_thread(serve, name="function-gateway")
    logging.getLogger("minik8s.node").info("function gateway for pods on %s:%d", address, port)
    return close


def _start_ingress(client, node_ip: str, data_dir: str, port: int, nginx: str):  # noqa: ANN001, ANN202
    """This node's ingress proxy (nginx on `node_ip:port`), or None when off or nginx is missing."""
    logger = logging.getLogger("minik8s.node")
    if port == 0:
        return None
    try:
        ipaddress.IPv4Address(node_ip)
    except ValueError:
        logger.error("no ingress proxy on this node: --node-ip %r is not an IPv4 address", node_ip)
        return None
    if not os.access(nginx, os.X_OK):
        logger.error("no ingress proxy on this node: %s is not an executable (install Debian's nginx)", nginx)
        return None
    from minik8s.node.ingress import IngressProxy, IngressSettings

    proxy = IngressProxy(client.copy(), IngressSettings(node_ip=node_ip, data_dir=data_dir, port=port, nginx=nginx))
    try:
        proxy.start()
    except OSError as exc:  # its prefix cannot be made: the node runs its pods all the same
        logger.error("no ingress proxy on this node: %s", exc)
        return None
    return proxy
