"""Kubeconfig files, and where a client finds its servers and token.

`minik8s up` writes a standard kubeconfig that real `kubectl` can use (`kubectl --kubeconfig
~/.minik8s/kubeconfig get pods`). kubectl knows one server per cluster, so when there are several
masters the full comma-separated list is kept in a cluster extension named `minik8s.io/servers`
(kubectl ignores it), and `server` holds the first one.

`resolve_client_config` gives every minik8s command the same precedence:
flags > environment (`MINIK8S_SERVER`, `MINIK8S_TOKEN`) > kubeconfig file (`--kubeconfig`, then
the first existing path in `KUBECONFIG`, then `~/.minik8s/kubeconfig`), field by field, like
kubectl's `--server`/`--token` overriding the kubeconfig.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .secretfiles import write_private

SERVERS_EXTENSION = "minik8s.io/servers"
SERVER_ENV = "MINIK8S_SERVER"
TOKEN_ENV = "MINIK8S_TOKEN"
CA_ENV = "MINIK8S_CA_FILE"


@dataclass(frozen=True)
class ClientConfig:
    """Where a client connects and how it authenticates."""

    servers: list[str]
    token: str | None
    ca_file: str | None = None  # verify https masters against this CA (None: system CAs)


def default_kubeconfig_path() -> Path:
    """`~/.minik8s/kubeconfig`, the file `minik8s up` writes."""
    return Path.home() / ".minik8s" / "kubeconfig"


def write_kubeconfig(
    path: str | os.PathLike[str],
    *,
    server: str,
    token: str,
    cluster_name: str = "minik8s",
    user: str = "admin",
    ca_file: str | os.PathLike[str] | None = None,
) -> None:
    """Write (replacing) a kubeconfig with one cluster, user and context, readable only by its owner.

    `server` may be a comma-separated list of URLs: kubectl uses the first, minik8s all of them.
    `ca_file`'s certificate is embedded as `certificate-authority-data`.
    """
    servers = _split_servers(server)
    if not servers:
        raise ValueError("write_kubeconfig: no server URL given")
    cluster: dict[str, Any] = {"server": servers[0]}
    if ca_file is not None:
        cluster["certificate-authority-data"] = base64.b64encode(Path(ca_file).read_bytes()).decode()
    if len(servers) > 1:
        cluster["extensions"] = [{"name": SERVERS_EXTENSION, "extension": ",".join(servers)}]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": cluster}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": user}}],
        "current-context": cluster_name,
        "preferences": {},
    }
    _write_private(Path(path), yaml.safe_dump(config, sort_keys=False))


def load_kubeconfig(path: str | os.PathLike[str]) -> ClientConfig:
    """The server URL(s), bearer token and CA of the current context of a kubeconfig file.

    Raises `ValueError` (one line) when the file is not a usable kubeconfig.
    """
    try:
        config = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot read kubeconfig {path}: {exc}".replace("\n", " ")) from exc
    if not isinstance(config, dict):
        raise ValueError(f"kubeconfig {path} is not a mapping")
    context_name = config.get("current-context")
    if not context_name:
        raise ValueError(f"kubeconfig {path} has no current-context")
    context = _named(config, "contexts", context_name, path).get("context") or {}
    cluster = _named(config, "clusters", context.get("cluster"), path).get("cluster") or {}
    servers = _cluster_servers(cluster)
    if not servers:
        raise ValueError(f"kubeconfig {path}: cluster {context.get('cluster')!r} has no server")
    return ClientConfig(servers, _user_token(config, context.get("user"), path), _cluster_ca(cluster, path))


def _cluster_ca(cluster: dict[str, Any], path: Any) -> str | None:
    """The CA file of a cluster entry; inline data is written once to a file named by its hash."""
    if cluster.get("certificate-authority"):
        return str(Path(path).parent / cluster["certificate-authority"])
    data = cluster.get("certificate-authority-data")
    if not data:
        return None
    try:
        pem = base64.b64decode(data)
    except ValueError as exc:
        raise ValueError(f"kubeconfig {path}: certificate-authority-data is not base64") from exc
    ca_path = _private_temp_dir() / f"minik8s-ca-{hashlib.sha256(pem).hexdigest()[:16]}.crt"
    try:
        current = ca_path.read_bytes()
    except OSError:
        current = None
    if current != pem:
        write_private(ca_path, pem)
    return str(ca_path)


def _private_temp_dir() -> Path:
    """A 0700 directory of this user under the temp dir for the CA files of kubeconfigs.

    Not the shared temp dir itself: another local user could plant a CA of their own there
    under the name we would look for, and every later connection would trust it.
    """
    base = Path(tempfile.gettempdir()) / f"minik8s-{os.getuid()}"
    try:
        base.mkdir(mode=0o700)
    except FileExistsError:
        pass
    info = os.lstat(base)
    if stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not stat.S_IMODE(info.st_mode) & 0o077:
        return base
    global _FALLBACK_DIR
    if _FALLBACK_DIR is None:  # someone else holds the name: a fresh private dir for this process
        _FALLBACK_DIR = Path(tempfile.mkdtemp(prefix="minik8s-"))
    return _FALLBACK_DIR


_FALLBACK_DIR: Path | None = None


def resolve_client_config(server: str | None, token: str | None, kubeconfig: str | None) -> ClientConfig:
    """Servers, token and CA: flags > `MINIK8S_SERVER`/`MINIK8S_TOKEN`/`MINIK8S_CA_FILE` > kubeconfig file.

    Raises `ValueError` (one line) when no server is configured anywhere, or when an explicitly
    named kubeconfig is missing or unusable.
    """
    servers = _split_servers(server or os.environ.get(SERVER_ENV) or "")
    token = token or os.environ.get(TOKEN_ENV) or None
    ca_file = os.environ.get(CA_ENV) or None
    if not (servers and token):
        path = _kubeconfig_path(kubeconfig)
        if path is not None:
            from_file = load_kubeconfig(path)
            if not servers:
                servers, ca_file = from_file.servers, ca_file or from_file.ca_file
            token = token or from_file.token
    if not servers:
        raise ValueError(
            f"no API server configured: pass --server, set {SERVER_ENV}, "
            f"or point --kubeconfig/KUBECONFIG at a kubeconfig (`minik8s up` writes {default_kubeconfig_path()})"
        )
    return ClientConfig(servers, token, ca_file)


def _kubeconfig_path(flag: str | None) -> Path | None:
    """The kubeconfig file to read: the flag (must exist), else the first existing KUBECONFIG entry or default."""
    if flag:
        if not Path(flag).is_file():
            raise ValueError(f"kubeconfig {flag} does not exist")
        return Path(flag)
    candidates = [Path(p) for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    candidates.append(default_kubeconfig_path())
    return next((p for p in candidates if p.is_file()), None)


def _split_servers(value: str) -> list[str]:
    return [s.strip().rstrip("/") for s in value.split(",") if s.strip()]


def _named(config: dict[str, Any], section: str, name: Any, path: Any) -> dict[str, Any]:
    for entry in config.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return entry
    raise ValueError(f"kubeconfig {path}: no entry {name!r} in {section}")


def _cluster_servers(cluster: dict[str, Any]) -> list[str]:
    for extension in cluster.get("extensions") or []:
        if isinstance(extension, dict) and extension.get("name") == SERVERS_EXTENSION:
            servers = _split_servers(str(extension.get("extension") or ""))
            if servers:
                return servers
    return _split_servers(str(cluster.get("server") or ""))


def _user_token(config: dict[str, Any], user_name: str | None, path: Any) -> str | None:
    """The bearer token (inline or from `tokenFile`) of the named user; None without a user."""
    if not user_name:
        return None
    user = _named(config, "users", user_name, path).get("user") or {}
    if user.get("token"):
        return str(user["token"])
    if user.get("tokenFile"):
        try:
            return Path(user["tokenFile"]).read_text().strip() or None
        except OSError as exc:
            raise ValueError(f"kubeconfig {path}: cannot read tokenFile: {exc}") from exc
    return None


def _write_private(path: Path, text: str) -> None:
    """Write atomically with mode 0600 (the file holds a credential)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, text)
