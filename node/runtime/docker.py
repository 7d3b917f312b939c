"""Docker runtime: a pod is a pause-style sandbox container plus app containers that join it.

The sandbox (`busybox sleep inf`) owns the pod's network and IPC namespaces and its hostname;
app containers join them (`network_mode`/`ipc_mode` `container:<sandbox id>`), so they talk
over localhost like the containers of a Kubernetes pod. Every container runs with `init=True`
(docker-init as PID 1 forwards SIGTERM, so a stop does not always wait the whole grace period),
logs to json-file, and carries labels: the sandbox `minik8s.io/pod-uid`, `pod-name`,
`namespace`, `sandbox=true` and `pod-ip`; app containers the kubelet's labels plus
`minik8s.io/sandbox-id` and `minik8s.io/container-name`. Listing by those labels is all a
restarted kubelet needs to adopt what runs.

Networking, with `pod_network=True` (an engine of the node's own, `minik8s node --docker-host`), is
the node's, as with a CNI bridge plugin under dockershim: the sandbox starts with
`network_mode=none` (a network namespace with only `lo`), then the node agent's pod network
(`SandboxConfig`: address from the node's podCIDR, bridge, gateway) is wired into it with a veth
pair (`netns.attach_to_bridge` on `/proc/<pid>/ns/net`), exactly like a process-runtime pod; the
pair goes away with the sandbox. So Docker's own bridge, IPAM and iptables play no part (the
per-node engines of `minik8s up` run with `--bridge=none --iptables=false`), and pods on
different nodes reach each other through the nodes' host-gw routes without masquerade, and a pod's
default route is the node's bridge (so the node's own rules and addresses apply to its traffic).
Without it (one node beside the machine's shared engine) sandboxes use Docker's default bridge.

Images: the sandbox image (`minik8s/busybox:1.35`, built by scripts/build-images.sh) is pulled
when the engine lacks it; app images are the kubelet's business (`images`), which calls
`image_present`/`pull_image` (with the registry credentials of the pod's `imagePullSecrets`).
Containers go below `cgroup_parent` when one is given (`minik8s node --cgroup-parent`), so a
node's pods share one cgroup whatever engine runs them. Stats come straight from the container's
cgroup files (`cgroupstats`), about 30 us instead of 1-2 s for `docker stats`, which remains the
fallback: dockerd's cgroupfs driver makes `<parent or docker>/<id>` and its systemd driver
`system.slice/docker-<id>.scope`, below each v1 controller (`<cgroup_root>/{cpuacct,memory}/...`)
or once in the v2 unified hierarchy.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests
from docker.models.containers import Container
from docker.types import LogConfig
from docker.types import Mount as DockerMount

from minik8s.api.timefmt import parse_time

from pyroute2.netlink.exceptions import NetlinkError

from . import cgroupstats, netns
from .base import (
    START_ERROR_EXIT_CODE,
    Capabilities,
    ContainerConfig,
    ContainerState,
    ContainerStats,
    ContainerStatus,
    ExecResult,
    ImageNotPresentError,
    RegistryAuth,
    Runtime,
    RuntimeError_,
    SandboxConfig,
    SandboxStatus,
    config_problem,
)

POD_UID = "minik8s.io/pod-uid"
POD_NAME = "minik8s.io/pod-name"
NAMESPACE = "minik8s.io/namespace"
SANDBOX = "minik8s.io/sandbox"
SANDBOX_ID = "minik8s.io/sandbox-id"
CONTAINER_NAME = "minik8s.io/container-name"
POD_IP = "minik8s.io/pod-ip"

SANDBOX_IMAGE = "minik8s/busybox:1.35"
SANDBOX_COMMAND = ["sleep", "inf"]
# Kubernetes rotates container logs at 10 MiB and keeps 5 files; json-file does the same here.
LOG_CONFIG = LogConfig(type="json-file", config={"max-size": "10m", "max-file": "5"})

_STATES = {
    "created": ContainerState.CREATED,
    "running": ContainerState.RUNNING,
    "paused": ContainerState.RUNNING,
    "restarting": ContainerState.RUNNING,
    "exited": ContainerState.EXITED,
    "dead": ContainerState.EXITED,
}


@contextlib.contextmanager
def _api(what: str) -> Iterator[None]:
    """Turn docker SDK and connection errors into RuntimeError_ saying what failed."""
    try:
        yield
    except (docker.errors.DockerException, requests.RequestException) as e:
        raise RuntimeError_(f"{what}: {getattr(e, 'explanation', None) or e}") from e


@contextlib.contextmanager
def _idempotent() -> Iterator[None]:
    """Ignore 'no such container' and 'not running / removal in progress' (409) answers."""
    try:
        yield
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as e:
        if e.status_code != 409:
            raise


def _time(value: str | None) -> float | None:
    """Docker's RFC 3339 time (nanoseconds, "Z") as epoch seconds; None for its zero time."""
    if not value or value.startswith("0001-"):
        return None
    when = parse_time(value)  # 3.11 parses "Z" and 9 fraction digits
    return when.timestamp() if when else None


def _name(container: str, labels: dict[str, str]) -> str:
    """A readable, unique docker name like dockershim's: k8s_<container>_<pod>_<ns>_<random>."""
    pod = labels.get(POD_NAME, "pod")
    namespace = labels.get(NAMESPACE, "default")
    return f"k8s_{container}_{pod}_{namespace}_{secrets.token_hex(3)}"


def _veth(sandbox_id: str) -> str:
    """The node-side end of a sandbox's veth pair (15 characters, the kernel's limit)."""
    return f"mkd{sandbox_id[:12]}"


def _ip(attrs: dict[str, Any]) -> str | None:
    """The pod address: the one the node's pod network gave (label), else Docker's own."""
    labels = (attrs.get("Config") or {}).get("Labels") or {}
    if labels.get(POD_IP):
        return labels[POD_IP]
    settings = attrs.get("NetworkSettings") or {}
    if settings.get("IPAddress"):
        return settings["IPAddress"]
    ips = [n.get("IPAddress") for n in (settings.get("Networks") or {}).values()]
    return next((ip for ip in ips if ip), None)


def _reason(state: dict[str, Any]) -> str:
    if state.get("OOMKilled"):
        return "OOMKilled"
    return "Completed" if state.get("ExitCode") == 0 else "Error"


def _split_image(image: str) -> tuple[str, str | None]:
    """`repo[:tag][@digest]` as docker's pull wants it: (repository, tag or digest)."""
    if "@" in image:
        repository, _, digest = image.partition("@")
        return repository, digest
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        repository, _, tag = image.rpartition(":")
        return repository, tag
    return image, "latest"


def _lines(stream: Iterator[bytes]) -> Iterator[bytes]:
    """Log frames as lines: json-file hands back one message per frame (a line, or a 16 KiB
    piece of a longer one); a frame without its newline gets one."""
    try:
        for frame in stream:
            yield frame if frame.endswith(b"\n") else frame + b"\n"
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()  # a follow stream left early must not keep its HTTP response open


def _pull_error(image: str, exc: Exception) -> RuntimeError_:
    """What a failed pull says: the engine's and the registry's answer, as dockershim reported it."""
    if isinstance(exc, docker.errors.APIError):
        return RuntimeError_(f"Error response from daemon: {exc.explanation or exc}")
    return RuntimeError_(f"pulling image {image}: {exc}")


def _create_args(sandbox_id: str, config: ContainerConfig, labels: dict[str, str]) -> dict[str, Any]:
    """Keyword arguments for containers.create(): join the sandbox, limits, mounts, logs."""
    args: dict[str, Any] = {
        "name": _name(config.name, labels),
        "labels": labels,
        "environment": dict(config.env),
        "working_dir": config.working_dir,
        "network_mode": f"container:{sandbox_id}",
        "ipc_mode": f"container:{sandbox_id}",
        "init": True,
        "log_config": LOG_CONFIG,
        "mounts": [
            DockerMount(m.container_path, m.host_path, type="bind", read_only=m.read_only)
            for m in config.mounts
        ],
    }
    if config.command:  # entrypoint + args were merged by the kubelet; override both
        args["entrypoint"] = config.command[:1]
        args["command"] = config.command[1:]
    if config.cpu_limit_millis is not None:
        args["nano_cpus"] = config.cpu_limit_millis * 1_000_000
    if config.memory_limit_bytes is not None:
        args["mem_limit"] = config.memory_limit_bytes
        args["memswap_limit"] = config.memory_limit_bytes  # no swap on top, as in Kubernetes
    return args


class DockerRuntime(Runtime):
    """The CRI-shaped runtime over a local Docker engine (see the module docstring)."""

    def __init__(self, client: docker.DockerClient | None = None, *, cgroup_root: str = "/sys/fs/cgroup",
                 sandbox_image: str = SANDBOX_IMAGE, cgroup_parent: str | None = None,
                 pod_network: bool = False) -> None:
        with _api("connecting to dockerd"):
            self._client = client or docker.from_env()
        self._cgroup_root = Path(cgroup_root)
        self._sandbox_image = sandbox_image
        self._cgroup_parent = cgroup_parent.strip("/") if cgroup_parent else None
        self._pod_network = pod_network

    def capabilities(self) -> Capabilities:
        return Capabilities(name="docker", isolates_filesystem=True, enforces_limits=True,
                            needs_pod_network=self._pod_network)

    # sandboxes

    def run_pod_sandbox(self, config: SandboxConfig) -> str:
        """Start the sandbox with only `lo`, then wire it to the node's pod network when one is given."""
        if not self.image_present(self._sandbox_image):
            self.pull_image(self._sandbox_image)
        wired = self._pod_network and bool(config.pod_ip and config.bridge)
        labels = {**config.labels, POD_UID: config.pod_uid, POD_NAME: config.pod_name,
                  NAMESPACE: config.namespace, SANDBOX: "true", **({POD_IP: config.pod_ip} if wired else {})}
        with _api(f"creating the sandbox of pod {config.namespace}/{config.pod_name}"):
            sandbox = self._client.containers.create(
                self._sandbox_image, SANDBOX_COMMAND, name=_name("POD", labels), labels=labels,
                hostname=config.hostname, init=True, ipc_mode="shareable",
                network_mode="none" if self._pod_network else None,
                log_config=LOG_CONFIG, **self._cgroup_args())
        try:
            self.start_container(sandbox.id)
            if wired:
                self._attach(sandbox.id, config)
        except RuntimeError_:
            self.remove_container(sandbox.id)
            raise
        return sandbox.id

    def _attach(self, sandbox_id: str, config: SandboxConfig) -> None:
        """Put the running sandbox's network namespace on the node bridge with the pod's address."""
        with _api(f"inspecting sandbox {sandbox_id[:12]}"):
            pid = int(self._client.api.inspect_container(sandbox_id)["State"].get("Pid") or 0)
        if pid <= 0:
            raise RuntimeError_(f"sandbox {sandbox_id[:12]} is not running: its network cannot be set up")
        try:
            netns.attach_to_bridge(f"/proc/{pid}/ns/net", _veth(sandbox_id), str(config.bridge), str(config.pod_ip),
                                   config.prefix_len, config.gateway)
        except (OSError, NetlinkError) as exc:
            raise RuntimeError_(f"wiring pod {config.namespace}/{config.pod_name} to bridge {config.bridge}: {exc}") \
                from exc

    def stop_pod_sandbox(self, sandbox_id: str) -> None:
        for container in self._list({SANDBOX_ID: sandbox_id}):
            self._kill(container.id)
        self._kill(sandbox_id)

    def remove_pod_sandbox(self, sandbox_id: str) -> None:
        for container in self._list({SANDBOX_ID: sandbox_id}):
            self.remove_container(container.id)
        self.remove_container(sandbox_id)

    def list_sandboxes(self) -> list[SandboxStatus]:
        return [self._sandbox_status(c) for c in self._list({SANDBOX: "true"})]

    # containers

    def create_container(self, sandbox_id: str, config: ContainerConfig) -> str:
        if (problem := config_problem(config, self.capabilities())) is not None:
            raise RuntimeError_(problem)
        self._require_image(config.image)
        sandbox = self._get(sandbox_id)
        inherited = {k: v for k, v in sandbox.labels.items() if k in (POD_UID, POD_NAME, NAMESPACE)}
        labels = {**inherited, **config.labels, SANDBOX_ID: sandbox.id, CONTAINER_NAME: config.name}
        with _api(f"creating container {config.name}"):
            container = self._client.containers.create(
                config.image, **_create_args(sandbox.id, config, labels), **self._cgroup_args())
        return container.id

    def start_container(self, container_id: str) -> None:
        with _api(f"starting container {container_id[:12]}"):
            self._client.api.start(container_id)

    def stop_container(self, container_id: str, timeout: float) -> None:
        with _api(f"stopping container {container_id[:12]}"), _idempotent():
            self._client.api.stop(container_id, timeout=max(0, math.ceil(timeout)))

    def remove_container(self, container_id: str) -> None:
        with _api(f"removing container {container_id[:12]}"), _idempotent():
            self._client.api.remove_container(container_id, v=True, force=True)

    def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]:
        return [self._container_status(c) for c in self._list({SANDBOX_ID: sandbox_id})]

    def container_status(self, container_id: str) -> ContainerStatus:
        return self._container_status(self._get(container_id))

    def logs(self, container_id: str, *, follow: bool = False, tail: int | None = None,
             timestamps: bool = False, since: float | None = None) -> Iterator[bytes]:
        # The request is made here, so an unknown container fails at the call, not mid-iteration.
        with _api(f"reading the logs of container {container_id[:12]}"):
            stream = self._client.api.logs(
                container_id, stream=True, follow=follow, timestamps=timestamps,
                tail="all" if tail is None else tail,
                since=since if since and since > 0 else None)
        return _lines(stream)

    def stats(self, container_id: str) -> ContainerStats:
        try:
            usage = self._cgroup_usage(container_id)
            return ContainerStats(cpu_usage_nanos=usage.cpu_nanos, memory_bytes=usage.memory_working_set)
        except (OSError, ValueError):
            return self._docker_stats(container_id)

    def exec_sync(self, container_id: str, command: list[str], *, timeout: float | None) -> ExecResult:
        """`docker exec` (the container's env and working dir); past `timeout` the exec'd process is killed."""
        with _api(f"exec in container {container_id[:12]}"):
            exec_id = self._client.api.exec_create(container_id, command, stdout=True, stderr=True)["Id"]
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                result["output"] = self._client.api.exec_start(exec_id, stream=False, demux=False)
            except (docker.errors.DockerException, requests.RequestException) as e:
                result["error"] = e

        runner = threading.Thread(target=run, name=f"exec-{container_id[:12]}", daemon=True)
        runner.start()
        runner.join(timeout)
        timed_out = runner.is_alive()
        if timed_out:  # dockerd has no exec timeout: kill the process (a host pid, the engine is local)
            with _api(f"inspecting exec {exec_id[:12]}"):
                pid = self._client.api.exec_inspect(exec_id).get("Pid") or 0
            if pid > 0:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            runner.join(5)
        if "error" in result:
            error = result["error"]
            raise RuntimeError_(f"exec in container {container_id[:12]}: "
                                f"{getattr(error, 'explanation', None) or error}")
        with _api(f"inspecting exec {exec_id[:12]}"):
            exit_code = self._client.api.exec_inspect(exec_id).get("ExitCode")
        output = result.get("output") or b""
        if not timed_out and exit_code in (126, 127) and b"OCI runtime exec failed" in output:
            raise RuntimeError_(output.decode(errors="replace").strip())  # the command could not be run at all
        return ExecResult(exit_code=None if timed_out else exit_code, output=output, timed_out=timed_out)

    def image_present(self, image: str) -> bool:
        with _api(f"looking up image {image}"):
            try:
                self._client.images.get(image)
                return True
            except docker.errors.ImageNotFound:
                return False

    def pull_image(self, image: str, auth: RegistryAuth | None = None) -> int:
        repository, tag = _split_image(image)
        credentials = {"username": auth.username, "password": auth.password} if auth else None
        try:
            pulled = self._client.images.pull(repository, tag=tag, auth_config=credentials)
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise _pull_error(image, exc) from None  # the SDK's exception may carry the request's auth header
        return int(pulled.attrs.get("Size") or 0)

    # helpers

    def _cgroup_args(self) -> dict[str, str]:
        """`cgroup_parent` for containers.create() (absolute: below each hierarchy's root)."""
        return {"cgroup_parent": f"/{self._cgroup_parent}"} if self._cgroup_parent else {}

    def _require_image(self, image: str) -> None:
        with _api(f"looking up image {image}"):
            try:
                self._client.images.get(image)
            except docker.errors.ImageNotFound:
                raise ImageNotPresentError(f'container image "{image}" is not present on this node; push it to a '
                                           "registry the node pulls from (scripts/push-images.sh), or load it into the "
                                           "node's engine") from None

    def _get(self, container_id: str) -> Container:
        with _api(f"inspecting container {container_id[:12]}"):
            return self._client.containers.get(container_id)

    def _list(self, labels: dict[str, str | None]) -> list[Container]:
        """Containers (running or not) having every label (`None`: any value)."""
        selectors = [k if v is None else f"{k}={v}" for k, v in labels.items()]
        with _api("listing containers"):
            return self._client.containers.list(
                all=True, filters={"label": selectors}, ignore_removed=True)

    def _kill(self, container_id: str) -> None:
        with _api(f"killing container {container_id[:12]}"), _idempotent():
            self._client.api.kill(container_id)

    def _sandbox_status(self, container: Container) -> SandboxStatus:
        attrs = container.attrs
        return SandboxStatus(
            id=container.id,
            pod_uid=container.labels.get(POD_UID, ""),
            ready=bool(attrs["State"].get("Running")),
            ip=_ip(attrs),
            labels=dict(container.labels),
            created_at=_time(attrs["Created"]) or 0.0,
        )

    def _container_status(self, container: Container) -> ContainerStatus:
        attrs, labels = container.attrs, container.labels
        state = attrs["State"]
        phase = _STATES.get(state.get("Status", ""), ContainerState.UNKNOWN)
        # A start that failed (exec not found, ...) leaves the container `created` with State.Error set:
        # report it as the runtime contract says, exited with reason StartError.
        start_error = state.get("Error") if phase in (ContainerState.CREATED, ContainerState.EXITED) else None
        if start_error:
            phase = ContainerState.EXITED
        exited = phase is ContainerState.EXITED
        started = _time(state.get("StartedAt"))
        # Docker stamps StartedAt after the start call returns, so for a process that exits at
        # once it can be later than FinishedAt; report a zero runtime rather than a negative one.
        finished = max(filter(None, (_time(state.get("FinishedAt")), started)), default=None)
        return ContainerStatus(
            id=container.id,
            sandbox_id=labels.get(SANDBOX_ID, ""),
            name=labels.get(CONTAINER_NAME, container.name),
            state=phase,
            labels=dict(labels),
            created_at=_time(attrs["Created"]) or 0.0,
            started_at=started,
            finished_at=finished if exited else None,
            exit_code=(state.get("ExitCode") or START_ERROR_EXIT_CODE if start_error else state.get("ExitCode"))
            if exited else None,
            reason=("StartError" if start_error else _reason(state)) if exited else None,
            pid=state.get("Pid") or None,
            message=start_error or None,
        )

    def _cgroup_usage(self, container_id: str) -> cgroupstats.Usage:
        """The container's cgroup usage, wherever dockerd's cgroup driver put it (see the module docstring)."""
        root = self._cgroup_root
        places = [f"docker/{container_id}", f"system.slice/docker-{container_id}.scope"]
        if self._cgroup_parent:
            places.insert(0, f"{self._cgroup_parent}/{container_id}")
        for relative in places:
            if (root / relative / "memory.current").exists():
                return cgroupstats.read_v2(str(root / relative))
            if (root / "cpuacct" / relative).is_dir():
                return cgroupstats.read_v1(str(root / "cpuacct" / relative), str(root / "memory" / relative))
        raise FileNotFoundError(f"no cgroup of container {container_id[:12]} below {root}")

    def _docker_stats(self, container_id: str) -> ContainerStats:
        """The slow path (no cgroup v1 files, e.g. cgroup v2 or a stopped container)."""
        with _api(f"reading the stats of container {container_id[:12]}"):
            stats = self._client.api.stats(container_id, stream=False, one_shot=True)
        cpu = (stats.get("cpu_stats") or {}).get("cpu_usage", {}).get("total_usage", 0)
        memory = stats.get("memory_stats") or {}
        inactive = (memory.get("stats") or {}).get("total_inactive_file", 0)
        return ContainerStats(cpu_usage_nanos=int(cpu),
                              memory_bytes=max(0, int(memory.get("usage", 0)) - int(inactive)))
