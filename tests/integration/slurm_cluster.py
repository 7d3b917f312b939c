"""A real single-node Slurm and an sshd on loopback for the GPU-job tests.

`running_slurm()` runs scripts/start-slurm.sh into a fresh state directory with free ports,
yields a `SlurmCluster` describing it, and runs scripts/stop-slurm.sh at the end (which cancels
jobs, stops every daemon by its pidfile and wipes the state directory). The session fixture
`slurm_cluster` in conftest.py wraps it, so a test only asks for `slurm_cluster`.

There is no skip: the GPU-job tests need Slurm, so when it cannot be installed or started
(not root, no Debian mirror) the tests fail with the script's output. CI must be able to run
``scripts/apt-install-no-start.sh slurm-wlm munge openssh-server``.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 300.0  # a cold start may install the Debian packages first
STOP_TIMEOUT = 120.0


@dataclass(frozen=True)
class SlurmCluster:
    """Where the local Slurm is and how to reach it; read from the state dir's `env` file."""

    state_dir: Path
    host: str
    port: int
    user: str
    key_path: Path
    password_file: Path
    known_hosts: Path
    slurm_conf: Path
    partition: str
    node: str
    gpus: int
    start_env: dict[str, str] = field(default_factory=dict, repr=False)  # the ports it was started with

    def start_again(self) -> None:
        """Run start-slurm.sh again: it starts whichever of its daemons is not running (sshd after a test
        stopped it) and leaves the others alone."""
        start = _script("start-slurm.sh", self.state_dir, {**os.environ, **self.start_env}, START_TIMEOUT)
        if start.returncode != 0:
            raise AssertionError(f"scripts/start-slurm.sh failed again ({start.returncode}):\n"
                                 f"{start.stdout}\n{start.stderr}")

    def stop_sshd(self) -> None:
        """Stop its sshd as a login node going down would: the listener and every connection it serves
        (killing only the listener leaves open sessions working)."""
        listener = self.daemon_pid("sshd")
        doomed = [listener, *_descendants(listener)]
        for pid in doomed:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def daemon_pid(self, name: str) -> int:
        """The pid of one of its daemons (sshd, slurmctld, slurmd, munged), from its pidfile."""
        return int((self.state_dir / "run" / f"{name}.pid").read_text().split()[0])

    @property
    def password(self) -> str:
        """The login user's password (read on use; never logged)."""
        return self.password_file.read_text().strip()

    def env(self) -> dict[str, str]:
        """This process's environment plus SLURM_CONF, for Slurm client commands."""
        return {**os.environ, "SLURM_CONF": str(self.slurm_conf)}

    def run(self, *args: str, timeout: float = 30.0, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a Slurm client command (sinfo, squeue, sdiag, scontrol, ...) here as root."""
        result = subprocess.run(list(args), capture_output=True, text=True, env=self.env(),
                                timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"{shlex.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def squeue(self, *args: str) -> str:
        return self.run("squeue", *args).stdout

    def sdiag(self) -> str:
        return self.run("sdiag").stdout

    def ssh(self, *, password: bool = False, timeout: float = 10.0) -> paramiko.SSHClient:
        """A connected SSH client: the login user with the key (default) or the password.

        The host key is checked against the state dir's known_hosts (no auto-accept).
        """
        client = paramiko.SSHClient()
        client.load_host_keys(str(self.known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        auth: dict[str, object]
        if password:
            auth = {"password": self.password}
        else:
            auth = {"key_filename": str(self.key_path)}
        client.connect(self.host, port=self.port, username=self.user, timeout=timeout,
                       banner_timeout=timeout, auth_timeout=timeout,
                       allow_agent=False, look_for_keys=False, **auth)
        return client

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of each daemon log, for failure messages."""
        parts = []
        for name in ("slurmctld.log", "slurmd.log", "sshd.log", "munged.log"):
            path = self.state_dir / "log" / name
            if path.exists():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {name}\n" + "\n".join(text))
        return "\n".join(parts)


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (from /proc: each process's parent)."""
    children: dict[int, list[int]] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(entry))
    found, pending = [], [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def read_env_file(path: Path) -> dict[str, str]:
    """Parse the `export KEY=VALUE` lines that start-slurm.sh writes (values shell-quoted)."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if not line.startswith("export "):
            continue
        key, _, quoted = line[len("export "):].partition("=")
        words = shlex.split(quoted)
        values[key] = words[0] if words else ""
    return values


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _script(name: str, state_dir: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ROOT / "scripts" / name), str(state_dir)], capture_output=True,
                          text=True, env=env, timeout=timeout, check=False)


@contextmanager
def running_slurm(state_dir: Path | None = None, *, cpus: int | None = None) -> Iterator[SlurmCluster]:
    """Start Slurm + sshd into STATE_DIR (a new dir in /tmp by default); stop and wipe it after.

    Ports are picked free (never the defaults a user's own instance may hold). `cpus` declares the node
    with that many CPUs (Slurm runs that many one-CPU jobs at once) instead of the machine's.
    """
    if os.geteuid() != 0:
        raise RuntimeError("the Slurm tests need root: start-slurm.sh installs packages, "
                           "creates a user and starts daemons")
    own_dir = state_dir is None
    if state_dir is None:
        # Not pytest's tmp_path: its parents are 0700, and jobs run as the login user, who must
        # reach slurm.conf and the munge socket in here.
        state_dir = Path(tempfile.mkdtemp(prefix="minik8s-slurm-", dir="/tmp"))
        state_dir.chmod(0o755)
    ports = {
        "MINIK8S_SLURM_SSH_PORT": str(_free_port()),
        "MINIK8S_SLURMCTLD_PORT": str(_free_port()),
        "MINIK8S_SLURMD_PORT": str(_free_port()),
        "MINIK8S_SLURM_KEEP_LOGS": "0",
        **({"MINIK8S_SLURM_CPUS": str(cpus)} if cpus else {}),
    }
    env = {**os.environ, **ports}
    try:
        start = _script("start-slurm.sh", state_dir, env, START_TIMEOUT)
        if start.returncode != 0:
            raise RuntimeError(f"scripts/start-slurm.sh failed ({start.returncode}):\n"
                               f"{start.stdout}\n{start.stderr}")
        values = read_env_file(state_dir / "env")
        yield SlurmCluster(
            state_dir=state_dir,
            host=values["MINIK8S_SLURM_SSH_HOST"],
            port=int(values["MINIK8S_SLURM_SSH_PORT"]),
            user=values["MINIK8S_SLURM_SSH_USER"],
            key_path=Path(values["MINIK8S_SLURM_SSH_KEY"]),
            password_file=Path(values["MINIK8S_SLURM_SSH_PASSWORD_FILE"]),
            known_hosts=Path(values["MINIK8S_SLURM_SSH_KNOWN_HOSTS"]),
            slurm_conf=Path(values["SLURM_CONF"]),
            partition=values["MINIK8S_SLURM_PARTITION"],
            node=values["MINIK8S_SLURM_NODE"],
            gpus=int(values["MINIK8S_SLURM_GPUS"]),
            start_env=ports,
        )
    finally:
        stop = _script("stop-slurm.sh", state_dir, env, STOP_TIMEOUT)
        if own_dir:
            shutil.rmtree(state_dir, ignore_errors=True)
        if stop.returncode != 0:
            message = f"scripts/stop-slurm.sh failed ({stop.returncode}):\n{stop.stdout}\n{stop.stderr}"
            if sys.exc_info()[0] is not None:
                print(message, file=sys.stderr)  # do not hide the error already on its way
            else:
                raise RuntimeError(message)
