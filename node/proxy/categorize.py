"""Which endpoints of a Service port this node sends traffic to (kube-proxy's `CategorizeEndpoints`).

Kubernetes' rules (`pkg/proxy/topology.go`, without topology hints):

- Cluster policy uses every ready endpoint; when there is none, the endpoints that are still
  serving while terminating (so that a rolling update with a preStop hook drops nothing).
- Local policy uses this node's ready endpoints; when there is none, this node's serving
  terminating ones.
- A port "has endpoints" when either list could be non-empty anywhere in the cluster: a Service
  with none at all is rejected, one with a Local policy but nothing here is dropped.

Pure: endpoints and a Service port in, lists out.
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import Endpoint, ServicePort


@dataclass(frozen=True)
class Categorized:
    """The endpoints each policy uses, their union, and whether the port has any usable endpoint."""

    cluster: tuple[Endpoint, ...]
    local: tuple[Endpoint, ...]
    reachable: tuple[Endpoint, ...]  # every endpoint some chain of this port jumps to
    has_any: bool


def _serving_terminating(endpoint: Endpoint) -> bool:
    return endpoint.serving and endpoint.terminating


def categorize(port: ServicePort, endpoints: list[Endpoint]) -> Categorized:
    """Split `endpoints` by traffic policy as kube-proxy does."""
    cluster: tuple[Endpoint, ...] = ()
    has_any = False
    if port.uses_cluster_endpoints:
        cluster = tuple(e for e in endpoints if e.ready) or tuple(e for e in endpoints if _serving_terminating(e))
        has_any = bool(cluster)
    if not port.uses_local_endpoints:
        return Categorized(cluster, (), cluster, has_any)
    has_any = has_any or any(e.ready or _serving_terminating(e) for e in endpoints)
    local = (tuple(e for e in endpoints if e.local and e.ready)
             or tuple(e for e in endpoints if e.local and _serving_terminating(e)))
    if not port.uses_cluster_endpoints:
        return Categorized((), local, local, has_any)
    reachable = tuple(sorted(set(cluster) | set(local)))
    return Categorized(cluster, local, reachable, has_any)
