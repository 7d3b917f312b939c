"""`pods/log`: stream a container's log from the node agent that runs it.

Clients only ever talk to masters; the master finds the pod's node, its InternalIP and kubelet
port, and relays the node agent's `/containerLogs/...` stream (authenticated with the kubelet
token shared by masters and nodes).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import falcon
import requests

from minik8s.api import errors
from minik8s.api.kinds import resolve

from .registry import Registry

_PODS, _NODES = resolve("pods"), resolve("nodes")
_PASSED = ("follow", "tailLines", "timestamps", "previous", "sinceSeconds")


class LogProxy:
    """Relays container logs from node agents."""

    def __init__(self, registry: Registry, kubelet_token: str | None) -> None:
        self.registry = registry
        self.kubelet_token = kubelet_token
        self.session = requests.Session()
        self.session.trust_env = False

    def _container(self, pod: dict[str, Any], wanted: str | None) -> str:
        names = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
        name = pod["metadata"]["name"]
        if wanted:
            if wanted not in names:
                raise errors.BadRequestError(f"container {wanted} is not valid for pod {name}")
            return wanted
        if len(names) != 1:
            raise errors.BadRequestError(f"a container name must be specified for pod {name}, choose one of: "
                                         f"[{' '.join(names)}]")
        return names[0]

    def _endpoint(self, node_name: str) -> str:
        node = self.registry.get(_NODES, node_name, None)
        status = node.get("status") or {}
        ips = [a["address"] for a in status.get("addresses") or [] if a.get("type") == "InternalIP"]
        port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
        if not ips or not port:
            raise errors.ServiceUnavailableError(f"node {node_name} has no kubelet endpoint")
        return f"http://{ips[0]}:{port}"

    def proxy(self, req: falcon.Request, resp: falcon.Response, name: str, namespace: str | None) -> None:
        pod = self.registry.get(_PODS, name, namespace)
        container = self._container(pod, req.get_param("container"))
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name:
            raise errors.BadRequestError(f'container "{container}" in pod "{name}" is waiting to start: '
                                         f"ContainerCreating")
        if not self.kubelet_token:
            raise errors.ServiceUnavailableError("this master has no --kubelet-token-file: it cannot reach nodes")
        url = f"{self._endpoint(node_name)}/containerLogs/{namespace}/{name}/{container}"
        params = {k: req.get_param(k) for k in _PASSED if req.get_param(k) is not None}
        try:
            upstream = self.session.get(url, params=params, stream=True, timeout=(5, None),
                                        headers={"Authorization": f"Bearer {self.kubelet_token}"})
        except requests.RequestException as exc:
            raise errors.ServiceUnavailableError(f"cannot reach node {node_name}: {exc}") from exc
        if upstream.status_code != 200:
            body = upstream.text
            upstream.close()
            raise errors.BadRequestError(_title(body) or f"node {node_name} answered {upstream.status_code}")
        resp.content_type = "text/plain"
        resp.stream = _relay(upstream)


def _title(body: str) -> str:
    try:
        return str(json.loads(body).get("title") or "")
    except ValueError:
        return body.strip()


def _relay(upstream: requests.Response) -> Iterator[bytes]:
    try:
        yield from upstream.iter_content(chunk_size=None)
    finally:
        upstream.close()
