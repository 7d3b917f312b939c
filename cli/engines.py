"""One Docker engine per simulated node of `minik8s up --runtime docker`, and its complete removal.

Each node host (a network namespace, see `hosts`) gets a dockerd of its own, started inside that
namespace with nsenter (`ip netns exec` would hide the cgroup mounts): data root
`DIR/engines/<node>`, exec root, pidfile and socket below `/run/mk<id>/<node>` (short: containerd's
socket lives there and a socket path must stay under 108 bytes), its own containerd namespace, and
a config file of its own (the machine's /etc/docker/daemon.json would otherwise apply).

The engine runs with `--bridge=none --iptables=false --ip-forward=false --ip-masq=false`: the docker
runtime wires each pod sandbox to the node's own pod network (`node/runtime/docker.py`), so the
engine changes no interface, route or firewall rule of the node or the machine. (`--bridge=none`
deletes any interface called docker0 in the engine's namespace: never start one in the machine's
own namespace, where the machine's engine keeps its docker0.) Images come from the cluster's
registry (`registry`): it is the engine's `--registry-mirror` for Docker Hub names, and the
cluster's hosts network is an `--insecure-registry`, so registries there answer over plain HTTP.

The engine also runs in a mount namespace of its own (`unshare --mount --propagation slave`: the
machine's mounts still reach it, its container mounts stay its own) where /etc/resolv.conf is
`nameserver 127.0.0.1`. An engine resolves names only for Docker Hub references, and it asks
registry-1.docker.io something even when the mirror serves the image: through the machine's resolver,
unreachable from a node host (no route out, no masquerade), each such pull waited 10 s for the DNS
timeouts; with nothing listening on the node host's 127.0.0.1:53 the lookup fails at once and the
mirror serves the pull (0.04 s for busybox). Pods get their DNS settings from the kubelet, not from
this file.

`stop` ends the engine by its pid (SIGTERM, then SIGKILL for it and whatever still runs from its
exec root: containerd and shims), unmounts what it left mounted, and deletes its data root and
exec root: nothing of it is left on the machine.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from minik8s.api.secretfiles import open_private_append

from .hosts import Host, HostNet
from .procs import alive

__all__ = ["Engine", "describe", "dockerd_argv", "engine_for", "start_engines", "stop_engine", "wait_engines"]


@dataclass(frozen=True)
class Engine:
    """The dockerd of one node host: where it keeps its state and where it answers."""

    node: str
    netns: str
    data_root: str
    exec_root: str

    @property
    def socket(self) -> str:
        return os.path.join(self.exec_root, "docker.sock")

    @property
    def url(self) -> str:
        """What `minik8s node --docker-host` and the docker SDK take."""
        return f"unix://{self.socket}"

    @property
    def resolv_conf(self) -> str:
        """The engine's own /etc/resolv.conf (see the module docstring)."""
        return os.path.join(self.data_root, "resolv.conf")

    @property
    def pidfile(self) -> str:
        return os.path.join(self.exec_root, "dockerd.pid")

    def to_json(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, str]) -> Engine:
        return cls(**{k: str(data[k]) for k in ("node", "netns", "data_root", "exec_root")})


def engine_for(host: Host, net: HostNet, root: Path) -> Engine:
    """The engine of `host` in the cluster of `net` whose data dir is `root`."""
    return Engine(node=host.name, netns=host.netns, data_root=str(root / "engines" / host.name),
                  exec_root=f"/run/{net.prefix}/{host.name}")


def dockerd_argv(engine: Engine, *, mirror: str | None, insecure: list[str]) -> list[str]:
    """The command line of `engine`'s dockerd, inside its node's network namespace (see the module docstring)."""
    config = os.path.join(engine.data_root, "daemon.json")
    namespace = f"minik8s-{os.path.basename(engine.netns)}"
    argv = ["unshare", "--mount", "--propagation", "slave", "sh", "-c", 'mount --bind "$0" /etc/resolv.conf && exec "$@"',
            engine.resolv_conf,
            "nsenter", f"--net=/var/run/netns/{engine.netns}", "dockerd", "--config-file", config,
            "--data-root", os.path.join(engine.data_root, "data"), "--exec-root", engine.exec_root,
            "--pidfile", engine.pidfile, "--host", engine.url,
            "--containerd-namespace", namespace, "--containerd-plugins-namespace", f"{namespace}-plugins",
            "--bridge=none", "--iptables=false", "--ip-forward=false", "--ip-masq=false",
            "--shutdown-timeout", "3", "--log-level", "warn"]
    if mirror:
        argv += ["--registry-mirror", mirror]
    for registry in insecure:
        argv += ["--insecure-registry", registry]
    return argv


def start_engines(engines: list[Engine], *, mirror: str | None, insecure: list[str], log_dir: Path) -> list[int]:
    """Start every engine (they come up in parallel); returns their pids. An engine of an earlier `up` of
    this data dir that still runs is stopped first, so each starts with this cluster's settings."""
    pids = []
    for engine in engines:
        stop_engine(engine, keep_data=True)
        os.makedirs(engine.data_root, mode=0o700, exist_ok=True)
        Path(engine.data_root, "daemon.json").write_text("{}\n")
        Path(engine.resolv_conf).write_text("# the engine resolves no names: Docker Hub names come from the mirror\n"
                                            "nameserver 127.0.0.1\n")
        with os.fdopen(open_private_append(log_dir / f"{engine.node}-dockerd.log"), "ab") as log:
            proc = subprocess.Popen(dockerd_argv(engine, mirror=mirror, insecure=insecure), stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        pids.append(proc.pid)  # unshare, sh and nsenter exec each other and dockerd: the same process
    return pids


def _answers(engine: Engine) -> bool:
    import docker

    if not os.path.exists(engine.socket):
        return False
    try:
        client = docker.DockerClient(base_url=engine.url, timeout=2)
    except Exception:  # noqa: BLE001 - not up yet, whatever the SDK says
        return False
    try:
        return bool(client.api.ping())
    except Exception:  # noqa: BLE001
        return False
    finally:
        client.close()


def wait_engines(engines: list[Engine], pids: list[int], timeout: float) -> None:
    """Wait until every engine answers on its socket; RuntimeError naming the first that died or was late."""
    deadline = time.monotonic() + timeout
    waiting = list(zip(engines, pids))
    while waiting:
        for engine, pid in list(waiting):
            if _answers(engine):
                waiting.remove((engine, pid))
            elif not alive(pid):
                raise RuntimeError(f"the Docker engine of {engine.node} exited; see {engine.node}-dockerd.log")
        if waiting and time.monotonic() > deadline:
            raise RuntimeError(f"the Docker engine of {waiting[0][0].node} did not answer within {timeout:.0f}s")
        if waiting:
            time.sleep(0.1)



def _pid(engine: Engine) -> int | None:
    """The engine's dockerd, from its pidfile, if that process is still a dockerd."""
    try:
        pid = int(Path(engine.pidfile).read_text().strip())
        with open(f"/proc/{pid}/comm") as f:
            return pid if f.read().strip() == "dockerd" else None
    except (OSError, ValueError):
        return None


def _engine_processes(path: str) -> list[int]:
    """dockerd, containerd and shim processes whose command line names `path` (the engine's exec root)."""
    needle = path.encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as f:
                comm = f.read().strip()
            if comm != "dockerd" and not comm.startswith("containerd"):
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if needle in f.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found


def _unmount_below(*paths: str) -> None:
    """Lazily unmount every mount point at or below `paths`, deepest first."""
    prefixes = [os.path.realpath(p) for p in paths]
    points = []
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                point = line.split()[4].encode().decode("unicode_escape")
                if any(point == p or point.startswith(p + "/") for p in prefixes):
                    points.append(point)
    except OSError:
        return
    for point in sorted(set(points), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def stop_engine(engine: Engine, *, keep_data: bool = False, timeout: float = 20.0) -> None:
    """Stop the engine and remove its exec root (and its data root unless `keep_data`); idempotent."""
    pid = _pid(engine)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)  # dockerd stops its containers and its containerd
        deadline = time.monotonic() + timeout
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
    for leftover in [*([pid] if pid and alive(pid) else []), *_engine_processes(engine.exec_root + "/")]:
        try:
            os.kill(leftover, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _unmount_below(engine.exec_root, engine.data_root)
    shutil.rmtree(engine.exec_root, ignore_errors=True)
    try:
        os.rmdir(os.path.dirname(engine.exec_root))  # /run/mk<id>, once its last engine is gone
    except OSError:
        pass
    if not keep_data:
        shutil.rmtree(engine.data_root, ignore_errors=True)
        try:
            os.rmdir(os.path.dirname(engine.data_root))
        except OSError:
            pass


def describe(engines: list[Engine]) -> str:
    """One line per engine, for `up`'s summary."""
    return "\n".join(f"  {e.node}: DOCKER_HOST={e.url}" for e in engines)
