"""The nginx master process of a node's ingress proxy: start, test, reload, stop, adopt.

nginx runs as a child of the node agent (`daemon off`), with a prefix of its own under the node's
data dir holding its configuration, logs and temp dirs. A new configuration is written beside the
live one and checked with `nginx -t` first; only a configuration that passes replaces the live
one, and then the master is sent SIGHUP: nginx's graceful reload, where new workers take the
listening sockets and the old ones finish the requests they hold, so no request fails.

The master's pid is recorded in `master.pid` (not nginx's own pid file, which every `nginx -t`
truncates). A node agent that was killed leaves its nginx running; the next agent adopts it
(same prefix, checked through /proc) and reloads it, and `stop_leftover` lets `minik8s down` stop
it when no agent is left to.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from pathlib import Path

log = logging.getLogger(__name__)

NGINX = "/usr/sbin/nginx"
CONF = "nginx.conf"
MASTER_PID = "master.pid"


class NginxError(RuntimeError):
    """nginx refused a configuration or did not start; the message holds its own words."""


class NginxConfigError(NginxError):
    """`nginx -t` refused a configuration."""


class Nginx:
    """One nginx master with its prefix directory `prefix`."""

    def __init__(self, prefix: str, *, binary: str = NGINX, start_timeout: float = 10.0) -> None:
        self.prefix = Path(prefix)
        self.binary = binary
        self.start_timeout = start_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._pid: int | None = None  # the master's pid, a child of ours or adopted

    @property
    def conf(self) -> Path:
        return self.prefix / CONF

    @property
    def pid(self) -> int | None:
        return self._pid if self.running() else None

    def _argv(self, conf: Path, *extra: str) -> list[str]:
        return [self.binary, "-p", f"{self.prefix}/", "-c", str(conf), "-e", str(self.prefix / "error.log"), *extra]

    def prepare(self) -> None:
        """Create the prefix (private) and its temp dir; adopt a master a previous agent left running."""
        self.prefix.mkdir(mode=0o700, parents=True, exist_ok=True)
        (self.prefix / "tmp").mkdir(mode=0o700, exist_ok=True)
        pid = _recorded_master(self.prefix)
        if pid is not None:
            log.info("adopting the nginx master %d a previous node agent left running", pid)
            self._pid = pid

    def running(self) -> bool:
        """Whether the master runs."""
        if self._proc is not None:
            return self._proc.poll() is None
        return self._pid is not None and _is_master_of(self._pid, self.prefix)

    def test(self, text: str) -> None:
        """Check `text` with `nginx -t`; NginxError with nginx's message when it fails."""
        candidate = self.prefix / f"{CONF}.test"
        _write_private(candidate, text)
        done = subprocess.run(self._argv(candidate, "-t", "-q"), capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise NginxConfigError((done.stderr or done.stdout).strip() or f"nginx -t exited with {done.returncode}")

    def apply(self, text: str) -> str:
        """Test `text`, make it the live configuration and start nginx or reload it gracefully;
        returns "started" or "reloaded"."""
        self.test(text)
        os.replace(self.prefix / f"{CONF}.test", self.conf)
        if self.running():
            self._reload()
            return "reloaded"
        self._start()
        return "started"

    def _reload(self) -> None:
        """SIGHUP, then wait (briefly) for the new workers to run and the old ones to stop accepting:
        from then on new connections get the new configuration while the old workers finish what
        they hold."""
        pid = self._pid
        assert pid is not None
        old = set(_children(pid))
        os.kill(pid, signal.SIGHUP)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline and self.running():
            if set(_children(pid)) - old and all(_retired(worker) for worker in old):
                return
            time.sleep(0.005)

    def _start(self) -> None:
        out = open(self.prefix / "nginx.out", "ab")  # noqa: SIM115 - the child keeps it open
        try:
            self._proc = subprocess.Popen(self._argv(self.conf), stdin=subprocess.DEVNULL, stdout=out,
                                          stderr=subprocess.STDOUT, close_fds=True)
        finally:
            out.close()
        self._pid = self._proc.pid
        _write_private(self.prefix / MASTER_PID, f"{self._pid}\n")
        # a bind failure ends the master within moments; a started master has its workers
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._forget()
                raise NginxError(f"nginx exited at start-up: {self._tail()}")
            if _children(self._pid):
                return
            time.sleep(0.02)
        raise NginxError(f"nginx did not start its workers within {self.start_timeout:.0f}s: {self._tail()}")

    def _tail(self) -> str:
        try:
            lines = (self.prefix / "nginx.out").read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no output)"
        return " | ".join(lines[-3:]) or "(no output)"

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the master and its workers (graceful, then fast shutdown, SIGKILL after `timeout`)."""
        if self._pid is not None and self.running():
            _terminate(self._pid, timeout, wait=self._proc.wait if self._proc else None)
        self._forget()

    def _forget(self) -> None:
        self._proc, self._pid = None, None
        try:
            (self.prefix / MASTER_PID).unlink()
        except OSError:
            pass


def stop_leftover(prefix: str, timeout: float = 10.0) -> bool:
    """Stop the nginx master recorded under `prefix` (one a killed node agent left); True if one ran."""
    pid = _recorded_master(Path(prefix))
    if pid is None:
        return False
    _terminate(pid, timeout, wait=None)
    try:
        (Path(prefix) / MASTER_PID).unlink()
    except OSError:
        pass
    return True


def _terminate(pid: int, timeout: float, *, wait: object) -> None:
    """Graceful shutdown (SIGQUIT: requests in flight finish, idle connections close) for up to a
    third of `timeout`, then fast shutdown (SIGTERM), then SIGKILL for the master and its workers."""
    workers = _children(pid)
    deadline = time.monotonic() + timeout
    for sig, until in ((signal.SIGQUIT, time.monotonic() + timeout / 3), (signal.SIGTERM, deadline)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            break
        if _wait_gone(pid, until, wait):
            break
    else:
        for victim in [pid, *_children(pid), *workers]:
            try:
                os.kill(victim, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _wait_gone(pid, time.monotonic() + 5, wait)


def _wait_gone(pid: int, until: float, wait: object) -> bool:
    """Wait until `pid` has exited (reaped through `wait` when it is our child) or `until` passes."""
    while time.monotonic() < until:
        if callable(wait):
            try:
                wait(timeout=0.05)
                return True
            except subprocess.TimeoutExpired:
                continue
        if not _exists(pid):
            return True
        time.sleep(0.05)
    return False


def _recorded_master(prefix: Path) -> int | None:
    try:
        pid = int((prefix / MASTER_PID).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _is_master_of(pid, prefix) else None


def _is_master_of(pid: int, prefix: Path) -> bool:
    """Whether `pid` is an nginx master running with `prefix` (and not a zombie)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    if state == "Z":
        return False
    # nginx rewrites its title ("nginx: master process /usr/sbin/nginx -p PREFIX/ ...")
    text = b" ".join(argv).decode(errors="replace")
    return "nginx" in text and f"{prefix}/" in text


def _retired(worker: int) -> bool:
    """Whether an old worker is gone or shutting down (it has closed its listening sockets then)."""
    try:
        title = Path(f"/proc/{worker}/cmdline").read_bytes()
    except OSError:
        return True
    return not title or b"shutting down" in title


def _exists(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (an nginx master's workers)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)
