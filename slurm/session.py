"""One SSH connection per Slurm login (host, port, user, credentials), reused by every job of it.

`SlurmSession` wraps a paramiko `SSHClient`: it connects on first use, runs commands (each with a
timeout and a cap on what it reads), moves files over SFTP, and after a failure drops the
connection and waits out a back-off (1, 2, 4 ... 30 s) before it connects again, so an sshd that is
down costs one failed connect per back-off step, not one per job. Threads use it side by side:
every command runs on an SSH channel of its own (at most `MAX_COMMANDS` at once), file transfers
take turns on one SFTP channel, and a lock guards the connection itself.

Credentials come from a Secret (`ssh-privatekey`: an OpenSSH or PEM private key; or `password`) and
live only in memory: never in a log line, an error text or an argument. The login's host key is
checked when the job names one (`spec.cluster.hostKey`); otherwise the first key seen is trusted
for the life of the session (trust on first use) and a changed key later is refused.
"""

from __future__ import annotations

import io
import posixpath
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import paramiko

CONNECT_TIMEOUT = 10.0
COMMAND_TIMEOUT = 60.0
MAX_OUTPUT = 4 * 1024 * 1024  # bytes read from one command's stdout
BACKOFF_START, BACKOFF_MAX = 1.0, 30.0
MAX_COMMANDS = 6  # commands at once on one connection (plus the SFTP channel: under sshd's MaxSessions 10)


class SessionError(Exception):
    """The login could not be reached, refused us, or a command could not be run; the text says why."""


@dataclass(frozen=True)
class Login:
    """Where to connect and as whom (the secret's values stay out of repr)."""

    host: str
    port: int
    user: str
    host_key: str | None = None


@dataclass(frozen=True)
class Credentials:
    private_key: str | None = None
    password: str | None = None

    def __repr__(self) -> str:
        return "Credentials(<hidden>)"


@dataclass(frozen=True)
class CommandResult:
    code: int
    stdout: str
    stderr: str


def _load_key(text: str) -> paramiko.PKey:
    for kind in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return kind.from_private_key(io.StringIO(text))
        except (paramiko.SSHException, ValueError):
            continue
    raise SessionError("the ssh-privatekey of the credentials Secret is not an unencrypted Ed25519, ECDSA or "
                       "RSA private key")


class _PinnedKey(paramiko.MissingHostKeyPolicy):
    """Accept the first host key (or only `expected`), then only that one."""

    def __init__(self, expected: str | None) -> None:
        self.expected = expected
        self.seen: str | None = None

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        offered = f"{key.get_name()} {key.get_base64()}"
        wanted = self.expected or self.seen
        if wanted is not None and wanted.split()[:2] != offered.split()[:2]:
            raise SessionError(f"the host key of {hostname} ({key.get_name()}) is not the one expected")
        self.seen = offered


class SlurmSession:
    """A reusable, reconnecting SSH + SFTP connection to one Slurm login."""

    def __init__(self, login: Login, credentials: Callable[[], Credentials], *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.login = login
        self._credentials = credentials  # read at each connect: a rotated Secret is picked up
        self.clock = clock
        self.lock = threading.RLock()
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._sftp_lock = threading.Lock()  # one SFTP channel, used by one thread at a time
        self._channels = threading.BoundedSemaphore(MAX_COMMANDS)  # sshd's MaxSessions is 10 by default
        self._policy = _PinnedKey(login.host_key)
        self._backoff = 0.0
        self._retry_at = 0.0
        self.last_error: str | None = None
        self.connects = 0

    # ---- connection ----------------------------------------------------------------------------

    def _connected(self) -> paramiko.SSHClient:
        if self._client is not None and (transport := self._client.get_transport()) and transport.is_active():
            return self._client
        self._drop()
        now = self.clock()
        if now < self._retry_at:
            raise SessionError(f"{self.last_error or 'not connected'} (next try in {self._retry_at - now:.0f} s)")
        credentials = self._credentials()
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(self._policy)
        try:
            client.connect(self.login.host, port=self.login.port, username=self.login.user,
                           pkey=_load_key(credentials.private_key) if credentials.private_key else None,
                           password=credentials.password if not credentials.private_key else None,
                           timeout=CONNECT_TIMEOUT, banner_timeout=CONNECT_TIMEOUT, auth_timeout=CONNECT_TIMEOUT,
                           allow_agent=False, look_for_keys=False)
        except paramiko.AuthenticationException:
            self._failed(f"ssh {self.login.user}@{self.login.host}:{self.login.port}: authentication failed")
        except SessionError as exc:
            self._failed(str(exc))
        except (OSError, paramiko.SSHException, EOFError) as exc:
            self._failed(f"ssh {self.login.user}@{self.login.host}:{self.login.port}: "
                         f"{type(exc).__name__}: {exc}"[:500])
        finally:
            del credentials
        self._client = client
        self._backoff = 0.0
        self.last_error = None
        self.connects += 1
        return client

    def _failed(self, message: str) -> None:
        self._backoff = min(BACKOFF_MAX, self._backoff * 2 if self._backoff else BACKOFF_START)
        self._retry_at = self.clock() + self._backoff
        self.last_error = message
        self._drop()
        raise SessionError(message)

    def _drop(self) -> None:
        for closable in (self._sftp, self._client):
            if closable is not None:
                try:
                    closable.close()
                except Exception:  # noqa: BLE001 - a broken connection may fail to close
                    pass
        self._sftp, self._client = None, None

    def close(self) -> None:
        with self.lock:
            self._drop()

    def retry_in(self) -> float:
        """Seconds until the next connect may be tried (0 when connected or due)."""
        return max(0.0, self._retry_at - self.clock())

    def _sftp_client(self) -> paramiko.SFTPClient:
        """The SFTP channel on the current connection (opened on first use); hold `_sftp_lock`."""
        with self.lock:
            client = self._connected()
            if self._sftp is None:
                self._sftp = client.open_sftp()
                self._sftp.get_channel().settimeout(COMMAND_TIMEOUT)
            return self._sftp

    def _guarded(self, what: str, action: Callable[[], object], *, command: bool = False) -> object:
        """Run `action`: a broken connection is dropped (with back-off), a file problem is reported on a
        connection that stays. Commands run side by side, each on a channel of its own (at most
        MAX_COMMANDS at once); file transfers take turns on the one SFTP channel."""
        if command:
            with self.lock:
                self._connected()
        try:
            with self._channels if command else self._sftp_lock:
                return action()
        except SessionError:
            raise
        except (ConnectionError, TimeoutError, EOFError, paramiko.SSHException) as exc:
            with self.lock:
                self._failed(f"{what}: {type(exc).__name__}: {exc}"[:500])
            raise AssertionError("unreachable") from exc
        except OSError as exc:
            raise SessionError(f"{what}: {exc}"[:500]) from exc

    # ---- commands and files --------------------------------------------------------------------

    def run(self, command: str, *, timeout: float = COMMAND_TIMEOUT) -> CommandResult:
        """Run `command` in the login's shell; its exit code and output (stdout capped at MAX_OUTPUT).
        Several threads may run commands at once (one SSH channel each, on the one connection)."""
        def action() -> CommandResult:
            client = self._client
            if client is None:
                raise ConnectionError("the connection was dropped")
            _stdin, stdout, stderr = client.exec_command(command, timeout=timeout)
            out = stdout.read(MAX_OUTPUT)
            err = stderr.read(64 * 1024)
            code = stdout.channel.recv_exit_status()
            return CommandResult(code, out.decode(errors="replace"), err.decode(errors="replace"))
        what = f"running {command.split()[0] if command else 'a command'}"
        return self._guarded(what, action, command=True)  # type: ignore[return-value]

    def put_files(self, directory: str, files: dict[str, bytes]) -> None:
        """Create `directory` (relative to the home) and write `files` (relative names) into it."""
        def action() -> None:
            sftp = self._sftp_client()
            for name, data in files.items():
                path = posixpath.join(directory, name)
                self._makedirs(sftp, posixpath.dirname(path))
                with sftp.open(path, "wb") as f:
                    f.write(data)
        self._guarded("uploading the job's files", action)

    @staticmethod
    def _makedirs(sftp: paramiko.SFTPClient, directory: str) -> None:
        parts = [p for p in directory.split("/") if p]
        path = ""
        for part in parts:
            path = posixpath.join(path, part) if path else part
            try:
                sftp.stat(path)
            except FileNotFoundError:
                sftp.mkdir(path, 0o700)

    def read_file(self, path: str, *, limit: int) -> tuple[bytes, int] | None:
        """The last `limit` bytes of `path` and its whole size, or None when it does not exist."""
        def action() -> tuple[bytes, int] | None:
            sftp = self._sftp_client()
            try:
                size = sftp.stat(path).st_size or 0
            except FileNotFoundError:
                return None
            with sftp.open(path, "rb") as f:
                if size > limit:
                    f.seek(size - limit)
                return f.read(limit), size
        return self._guarded("downloading a result", action)  # type: ignore[return-value]

    def list_files(self, directory: str, *, max_entries: int = 10_000) -> list[tuple[str, int]]:
        """Regular files under `directory` (relative names, sizes), breadth first, at most `max_entries`."""
        def action() -> list[tuple[str, int]]:
            sftp = self._sftp_client()
            found: list[tuple[str, int]] = []
            pending = [""]
            while pending and len(found) < max_entries:
                relative = pending.pop(0)
                for entry in sftp.listdir_attr(posixpath.join(directory, relative) if relative else directory):
                    name = posixpath.join(relative, entry.filename) if relative else entry.filename
                    if stat.S_ISDIR(entry.st_mode or 0):
                        pending.append(name)
                    elif stat.S_ISREG(entry.st_mode or 0):
                        found.append((name, entry.st_size or 0))
            return found[:max_entries]
        return self._guarded("listing the job's files", action)  # type: ignore[return-value]
