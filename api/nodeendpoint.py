"""Where a node agent listens, from its Node object (which any token holder may write: parsed, not trusted).

Masters reach node agents (logs, stats, the function routers) at `http://InternalIP:port`, the
port being `status.daemonEndpoints.kubeletEndpoint.Port`. The URL is built from the parsed values
only, so a Node cannot smuggle a host name, a path or credentials into it.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from minik8s.api import errors


def kubelet_url(node: dict[str, Any]) -> str:
    """`http://IP:PORT` of a node agent, from its Node's InternalIP and kubelet port, each parsed
    and checked (503 when the Node does not name a usable endpoint)."""
    name = (node.get("metadata") or {}).get("name")
    status = node.get("status") if isinstance(node.get("status"), dict) else {}
    addresses = status.get("addresses") if isinstance(status.get("addresses"), list) else []
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
    ip = None
    for entry in addresses:
        if isinstance(entry, dict) and entry.get("type") == "InternalIP" and isinstance(entry.get("address"), str):
            try:
                ip = ipaddress.ip_address(entry["address"])
                break
            except ValueError:
                continue
    if ip is None or isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise errors.ServiceUnavailableError(f"node {name} has no usable kubelet endpoint (an InternalIP address "
                                             "and a port 1-65535)")
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    return f"http://{host}:{port}"


def node_ready(node: dict[str, Any]) -> bool:
    """Whether a Node's `Ready` condition is True (malformed conditions count as not ready)."""
    conditions = (node.get("status") or {}).get("conditions") if isinstance(node.get("status"), dict) else None
    return isinstance(conditions, list) and any(
        isinstance(c, dict) and c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
