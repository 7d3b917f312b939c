"""Names of the per-Service chains and sets in the proxy's nftables table.

Like kube-proxy's nftables mode: `service-HASH-ns/svc/tcp/port` (Cluster policy),
`local-HASH-...` (Local policy), `external-HASH-...` (NodePort traffic) and
`endpoint-HASH-ns/svc/tcp/port__10.244.1.5/8080` with its affinity set `affinity-HASH-...`.
The readable part tells a person reading `nft list table ip minik8s` what a chain is for; the hash
(8 base32 characters of a SHA-256 of the readable part) keeps names that differ in one digit
visually apart. Namespaces, Service and port names are DNS labels (`[a-z0-9-]`), so `/` and `__`
cannot occur in them and every name is unique and valid in nft's grammar. Pure.
"""

from __future__ import annotations

import base64
import hashlib

from .model import Endpoint, ServicePortName

SERVICE_CHAIN_MARK = "/"  # only per-Service chains and sets have a "/" in their names


def _hashed(readable: str) -> str:
    digest = base64.b32encode(hashlib.sha256(readable.encode()).digest()).decode()[:8]
    return f"{digest}-{readable}"


def service_chain(port: ServicePortName) -> str:
    """The chain spreading traffic over every usable endpoint (Cluster policy)."""
    return f"service-{_hashed(str(port))}"


def local_chain(port: ServicePortName) -> str:
    """The chain spreading traffic over this node's endpoints (Local policy)."""
    return f"local-{_hashed(str(port))}"


def external_chain(port: ServicePortName) -> str:
    """The chain NodePort traffic enters: masquerading and the external policy."""
    return f"external-{_hashed(str(port))}"


def _endpoint_base(port: ServicePortName, endpoint: Endpoint) -> str:
    return _hashed(f"{port}__{endpoint.ip}/{endpoint.port}")


def endpoint_chain(port: ServicePortName, endpoint: Endpoint) -> str:
    """The chain that DNATs to one endpoint."""
    return f"endpoint-{_endpoint_base(port, endpoint)}"


def affinity_set(port: ServicePortName, endpoint: Endpoint) -> str:
    """The set of client addresses recently sent to one endpoint (sessionAffinity: ClientIP)."""
    return f"affinity-{_endpoint_base(port, endpoint)}"


def is_service_object(name: str) -> bool:
    """True for a per-Service chain or set (as opposed to the table's fixed ones)."""
    return SERVICE_CHAIN_MARK in name
