"""The runtime interface, shaped like CRI's RuntimeService: a sandbox per pod, containers in it.

The kubelet drives pods only through this interface; `docker.DockerRuntime`,
`process.ProcessRuntime` and `fake.FakeRuntime` implement it. Every call is synchronous and
idempotent where CRI's is (stopping a stopped container is fine). Runtimes keep no state the
kubelet needs besides what `list_sandboxes`/`list_containers` report, so a restarted node agent
adopts what is already running by listing it (labels carry the pod uid and container name).

Names follow CRI (RunPodSandbox, CreateContainer, StartContainer, StopContainer, ...).
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum


class ContainerState(str, Enum):
    CREATED = "created"
    RUNNING = "running"
    EXITED = "exited"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Mount:
    """A host directory mounted into a container (emptyDir and hostPath both end up as one)."""

    host_path: str
    container_path: str
    read_only: bool = False


@dataclass(frozen=True)
class SandboxConfig:
    """What a pod sandbox needs: identity, network, and labels to find it again."""

    pod_uid: str
    pod_name: str
    namespace: str
    hostname: str
    labels: dict[str, str] = field(default_factory=dict)  # include minik8s.io/pod-uid etc.
    # Network: the node agent's network plugin decides the pod IP; runtimes that own the netns
    # (process) wire it themselves from these, docker gets them via its own bridge network.
    pod_ip: str | None = None
    gateway: str | None = None
    prefix_len: int = 24
    bridge: str | None = None


@dataclass(frozen=True)
class ContainerConfig:
    """One container of a pod, resolved by the kubelet (image, command, env, limits, mounts)."""

    name: str
    image: str
    command: list[str]  # entrypoint + args, already merged as Kubernetes does
    env: dict[str, str] = field(default_factory=dict)
    working_dir: str | None = None
    mounts: list[Mount] = field(default_factory=list)
    cpu_limit_millis: int | None = None  # e.g. 500 for "500m"
    memory_limit_bytes: int | None = None
    labels: dict[str, str] = field(default_factory=dict)  # include pod uid, container name, attempt
    log_path: str | None = None  # where the runtime writes this attempt's stdout/stderr (process runtime)


@dataclass(frozen=True)
class SandboxStatus:
    id: str
    pod_uid: str
    ready: bool
    ip: str | None
    labels: dict[str, str]
    created_at: float


@dataclass(frozen=True)
class ContainerStatus:
    id: str
    sandbox_id: str
    name: str
    state: ContainerState
    labels: dict[str, str]
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    exit_code: int | None = None
    reason: str | None = None  # e.g. "OOMKilled", "Error", "Completed", "StartError"
    pid: int | None = None
    message: str | None = None  # why, for a container that could not be started (reason StartError)


@dataclass(frozen=True)
class ContainerStats:
    """A container's usage now: cumulative CPU nanoseconds, and its memory working set in bytes
    (usage minus inactive file cache, as the kubelet reports it; see `cgroupstats`)."""

    cpu_usage_nanos: int
    memory_bytes: int


@dataclass(frozen=True)
class ExecResult:
    """What a command run in a container (`exec_sync`) did: its exit code and output (stdout + stderr)."""

    exit_code: int | None  # None when it timed out (and was killed)
    output: bytes = b""
    timed_out: bool = False


@dataclass(frozen=True)
class Capabilities:
    """What a runtime can do (Nomad's driver Capabilities idea)."""

    name: str
    isolates_filesystem: bool  # False for the process runtime: commands run on the host filesystem
    enforces_limits: bool
    needs_pod_network: bool = True  # pods get their address from the node's pod network (bridge, podCIDR)


@dataclass(frozen=True)
class RegistryAuth:
    """Credentials for one pull (CRI's AuthConfig); `repr` hides the password."""

    username: str
    password: str = field(repr=False)
    server: str = ""  # the registry key they were given for, e.g. "10.200.3.1:5000"


class RuntimeError_(Exception):
    """A runtime call failed (the message says why, for events and container state reasons)."""


class ImageNotPresentError(RuntimeError_):
    """The container's image is not on this node."""


START_ERROR_EXIT_CODE = 128  # exit code reported for a container whose program could not be started


def no_command_problem(name: str, image: str, capabilities: Capabilities) -> str | None:
    """Why a container without `command` cannot run here (None where the image's entrypoint runs)."""
    if capabilities.isolates_filesystem:
        return None
    return (f"container {name!r} has no command: the {capabilities.name} runtime runs the container's command on "
            f"the node's own filesystem and does not use the image ({image!r}) or its entrypoint (`args` alone "
            f"have nothing to be passed to); give the container a `command`, or run the node with the Docker "
            f"runtime (`minik8s node --runtime docker`)")


def config_problem(config: ContainerConfig, capabilities: Capabilities) -> str | None:
    """Why `config` can never start on a runtime with `capabilities` (None: no known reason).

    Checked before anything is created or forked. Contract of every runtime: a container whose
    start fails anyway is reported EXITED with reason StartError, exit code 128 and a message.
    """
    if not config.command:
        return no_command_problem(config.name, config.image, capabilities)
    strings = [("command", part) for part in config.command]
    strings += [(f"env {name!r}", value) for name, value in config.env.items()]
    strings += [("env name", name) for name in config.env]
    strings += [("workingDir", config.working_dir or "")]
    strings += [("volume mount", m.container_path) for m in config.mounts]
    strings += [("volume", m.host_path) for m in config.mounts]
    for what, value in strings:
        if not isinstance(value, str):
            return f"{what} must be a string, not {value!r}"
        if "\0" in value:
            return f"{what} contains a NUL byte (\\0), which no program can be given"
    bad = next((name for name in config.env if not name or "=" in name), None)
    if bad is not None:
        return f"env name {bad!r} is not valid: it must be non-empty and contain no '='"
    return None


class Runtime(abc.ABC):
    """CRI-shaped runtime service."""

    @abc.abstractmethod
    def capabilities(self) -> Capabilities: ...

    # sandboxes
    @abc.abstractmethod
    def run_pod_sandbox(self, config: SandboxConfig) -> str:
        """Create and start the pod's sandbox (network namespace); returns its id."""

    @abc.abstractmethod
    def stop_pod_sandbox(self, sandbox_id: str) -> None:
        """Stop every container of the sandbox (SIGKILL) and the sandbox itself. Idempotent."""

    @abc.abstractmethod
    def remove_pod_sandbox(self, sandbox_id: str) -> None:
        """Remove a stopped sandbox and its containers. Idempotent (unknown id is fine)."""

    @abc.abstractmethod
    def list_sandboxes(self) -> list[SandboxStatus]: ...

    # containers
    @abc.abstractmethod
    def create_container(self, sandbox_id: str, config: ContainerConfig) -> str:
        """Create (not start) a container in the sandbox; returns its id."""

    @abc.abstractmethod
    def start_container(self, container_id: str) -> None: ...

    @abc.abstractmethod
    def stop_container(self, container_id: str, timeout: float) -> None:
        """SIGTERM, wait up to `timeout` seconds, then SIGKILL. Idempotent."""

    @abc.abstractmethod
    def remove_container(self, container_id: str) -> None:
        """Remove an exited container (its logs may go with it). Idempotent."""

    @abc.abstractmethod
    def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]:
        """All containers (of one sandbox), running or exited."""

    @abc.abstractmethod
    def container_status(self, container_id: str) -> ContainerStatus: ...

    @abc.abstractmethod
    def logs(self, container_id: str, *, follow: bool = False, tail: int | None = None,
             timestamps: bool = False, since: float | None = None) -> Iterator[bytes]:
        """The container's output, line by line (each ending in b"\\n"); with `follow`, until it exits."""

    @abc.abstractmethod
    def stats(self, container_id: str) -> ContainerStats: ...

    @abc.abstractmethod
    def exec_sync(self, container_id: str, command: list[str], *, timeout: float | None) -> ExecResult:
        """Run `command` in the running container (CRI ExecSync): in its namespaces and cgroup, with its
        environment and working directory; wait up to `timeout` seconds (None: no limit), then kill it.
        Raises RuntimeError_ when it cannot be run at all (container gone, not running)."""

    # images (CRI's ImageService)
    def image_present(self, image: str) -> bool:
        """Whether `image` is on this node; runtimes that do not use images have every image."""
        return True

    def pull_image(self, image: str, auth: RegistryAuth | None = None) -> int:
        """Fetch `image` into the node (with `auth` for the registry, if given); returns its size in
        bytes. Raises RuntimeError_ with the registry's answer on failure (never the credentials)."""
        raise RuntimeError_(f"the {self.capabilities().name} runtime cannot pull images")
