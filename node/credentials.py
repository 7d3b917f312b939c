"""Registry credentials from a pod's `imagePullSecrets` (the kubelet's docker keyring, pure).

A `kubernetes.io/dockerconfigjson` Secret holds `.dockerconfigjson` = `{"auths": {server: entry}}`,
a `kubernetes.io/dockercfg` Secret holds `.dockercfg` = `{server: entry}`; an entry has
`username`/`password` or `auth` (base64 of `user:password`, which wins). As in Kubernetes'
`credentialprovider` keyring, a server key is a URL without scheme (`https://` and `/v1/`, `/v2/`
are dropped), matched against the image's normalized name (`docker.io/library/nginx`): same
number of host labels, each a glob (`*.example.com`), same port, and the key's path a prefix of
the image's; the most specific keys come first, and Docker Hub images also take the credentials
of `index.docker.io`. The kubelet tries each matching credential in turn and pulls anonymously
when none matches.

Credentials are secrets: they are never logged, put in events or messages, or shown by `repr`.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .imageref import DOCKER_HUB, parse_image
from .runtime.base import RegistryAuth

__all__ = ["DOCKERCFG", "DOCKER_CONFIG_JSON", "CredentialsError", "Keyring", "keyring_from_secrets"]

DOCKER_CONFIG_JSON = "kubernetes.io/dockerconfigjson"
DOCKERCFG = "kubernetes.io/dockercfg"
_KEYS = {DOCKER_CONFIG_JSON: ".dockerconfigjson", DOCKERCFG: ".dockercfg"}
_DEFAULT_REGISTRY_HOST = "index.docker.io"

Obj = dict[str, Any]


class CredentialsError(ValueError):
    """An image pull Secret that cannot be read (the message names the Secret, never its content)."""


@dataclass(frozen=True)
class _Entry:
    host_labels: tuple[str, ...]
    port: str
    path: str
    key: str
    credential: RegistryAuth


def _split_key(server: str) -> tuple[str, str, str] | None:
    """(host, port, path) of a server key, as the kubelet's keyring normalizes it."""
    value = server if server.startswith(("https://", "http://")) else f"https://{server}"
    try:
        parts = urlsplit(value)
        port = "" if parts.port is None else str(parts.port)
    except ValueError:
        return None
    host = parts.hostname or ""
    if not host:
        return None
    path = parts.path
    if path.startswith(("/v1/", "/v2/")):
        path = path[3:]
    return host, port, "" if path == "/" else path


def _entry_credential(server: str, entry: Any, secret: str) -> RegistryAuth:
    if not isinstance(entry, dict):
        raise CredentialsError(f"image pull secret {secret!r}: the entry for {server!r} is not an object")
    username, password = entry.get("username") or "", entry.get("password") or ""
    if entry.get("auth"):
        try:
            decoded = base64.b64decode(str(entry["auth"]), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise CredentialsError(f"image pull secret {secret!r}: the auth of {server!r} is not base64") from None
        username, sep, password = decoded.partition(":")
        if not sep:
            raise CredentialsError(f"image pull secret {secret!r}: the auth of {server!r} is not user:password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise CredentialsError(f"image pull secret {secret!r}: username and password of {server!r} must be strings")
    return RegistryAuth(username=username, password=password, server=server)


def _servers(secret: Obj) -> dict[str, Any] | None:
    """The `{server: entry}` map of a docker config Secret; None for a Secret of another type."""
    kind = secret.get("type")
    key = _KEYS.get(kind) if isinstance(kind, str) else None
    raw = (secret.get("data") or {}).get(key) if key else None
    if not raw:
        return None
    name = (secret.get("metadata") or {}).get("name", "")
    try:
        config = json.loads(base64.b64decode(raw, validate=True))
    except (binascii.Error, ValueError, TypeError):
        raise CredentialsError(f"image pull secret {name!r}: {key} is not valid JSON") from None
    if kind == DOCKER_CONFIG_JSON:
        config = config.get("auths") if isinstance(config, dict) else None
    if not isinstance(config, dict):
        raise CredentialsError(f"image pull secret {name!r}: {key} holds no map of registries")
    return config


class Keyring:
    """Credentials by registry, looked up for an image (see the module docstring)."""

    def __init__(self, entries: Iterable[_Entry] = ()) -> None:
        # Kubernetes sorts its index in reverse order, so longer (more specific) keys come first.
        self._entries = sorted(entries, key=lambda e: e.key, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._entries)

    def lookup(self, image: str) -> list[RegistryAuth]:
        """Every credential for `image`, most specific first ([]: pull without credentials)."""
        try:
            ref = parse_image(image)
        except ValueError:
            return []
        host, port, path = _split_key(ref.name) or ("", "", "")
        labels = host.split(".")
        found = [e.credential for e in self._entries
                 if e.port == port and len(e.host_labels) == len(labels) and path.startswith(e.path)
                 and all(fnmatch.fnmatchcase(t, g) for g, t in zip(e.host_labels, labels))]
        if found or ref.registry != DOCKER_HUB:
            return found
        return [e.credential for e in self._entries if e.key == _DEFAULT_REGISTRY_HOST]


def keyring_from_secrets(secrets: Iterable[Obj]) -> Keyring:
    """The keyring of these Secrets (those of other types are skipped); CredentialsError for a broken one."""
    entries = []
    for secret in secrets:
        for server, entry in (_servers(secret) or {}).items():
            split = _split_key(str(server))
            if split is None:
                continue  # the kubelet skips keys that are not URLs
            host, port, path = split
            credential = _entry_credential(str(server), entry, (secret.get("metadata") or {}).get("name", ""))
            key = f"{host}:{port}{path}" if port else f"{host}{path}"
            entries.append(_Entry(tuple(host.split(".")), port, path, key, credential))
    return Keyring(entries)
