"""`pods/log`: stream a container's log from the node agent that runs it.

Clients only ever talk to masters; the master finds the pod's node, its InternalIP and kubelet
port, and relays the node agent's `/containerLogs/...` stream (authenticated with the kubelet
token shared by masters and nodes).

A node is not trusted either: its address and port are parsed from the Node object and the URL is
built from the parsed values; the node must answer within `HEADER_TIMEOUT`, a stream that stays
silent for `IDLE_TIMEOUT` (or whose client left) ends, and at most `max_streams` streams run at
once per master (429 beyond), so frozen or hostile nodes cannot hold the API server's threads.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import falcon
import requests
from urllib.parse import quote

from minik8s.api import errors
from minik8s.api.kinds import resolve
from minik8s.api.nodeendpoint import kubelet_url

from .registry import Registry

_PODS, _NODES = resolve("pods"), resolve("nodes")
_PASSED = ("follow", "tailLines", "timestamps", "previous", "sinceSeconds")
CONNECT_TIMEOUT = 3.0  # seconds to connect to a node agent
HEADER_TIMEOUT = 10.0  # seconds for the node agent to start answering
IDLE_TIMEOUT = 300.0  # seconds a log stream may stay silent (kubectl logs -f of a quiet container)


class LogProxy:
    """Relays container logs from node agents."""

    def __init__(self, registry: Registry, kubelet_token: str | None, *, max_streams: int = 32) -> None:
        self.registry = registry
        self.kubelet_token = kubelet_token
        self.session = requests.Session()
        self.session.trust_env = False
        self.max_streams = max_streams
        self._streams = threading.BoundedSemaphore(max_streams)

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
        return kubelet_url(self.registry.get(_NODES, node_name, None))

    def proxy(self, req: falcon.Request, resp: falcon.Response, name: str, namespace: str | None) -> None:
        pod = self.registry.get(_PODS, name, namespace)
        container = self._container(pod, req.get_param("container"))
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name:
            raise errors.BadRequestError(f'container "{container}" in pod "{name}" is waiting to start: '
                                         f"ContainerCreating")
        if not self.kubelet_token:
            raise errors.ServiceUnavailableError("this master has no --kubelet-token-file: it cannot reach nodes")
        base = self._endpoint(node_name)
        path = "/".join(quote(part, safe="") for part in ("containerLogs", namespace or "", name, container))
        params = {k: req.get_param(k) for k in _PASSED if req.get_param(k) is not None}
        if not self._streams.acquire(blocking=False):
            raise errors.TooManyRequestsError(f"too many log streams on this master (limit {self.max_streams})",
                                              retry_after_seconds=1)
        relay = _Relay(self._streams.release, req.env.get("waitress.client_disconnected") or (lambda: False))
        try:
            try:
                upstream = self.session.get(f"{base}/{path}", params=params, stream=True,
                                            timeout=(CONNECT_TIMEOUT, HEADER_TIMEOUT), allow_redirects=False,
                                            headers={"Authorization": f"Bearer {self.kubelet_token}"})
            except requests.RequestException as exc:
                raise errors.ServiceUnavailableError(f"cannot reach node {node_name}: {type(exc).__name__}") from exc
            if upstream.status_code != 200:
                body = upstream.raw.read(4096, decode_content=True).decode("utf-8", "replace")
                upstream.close()
                raise errors.BadRequestError(_title(body) or f"node {node_name} answered {upstream.status_code}")
            relay.start(upstream)
        except BaseException:
            relay.close()
            raise
        resp.content_type = "text/plain"
        resp.stream = relay


def _title(body: str) -> str:
    try:
        return str(json.loads(body).get("title") or "")
    except ValueError:
        return body.strip()


class _Relay:
    """The body of a log response: the node's stream, ended when it stays silent for IDLE_TIMEOUT or
    the client goes away; `close()` (called by the WSGI server, iterated or not) frees the slot."""

    def __init__(self, release: Callable[[], None], disconnected: Callable[[], bool]) -> None:
        self._release: Callable[[], None] | None = release
        self._disconnected = disconnected
        self._upstream: requests.Response | None = None
        self._chunks: Iterator[bytes] = iter(())

    def start(self, upstream: requests.Response) -> None:
        self._upstream = upstream
        connection = getattr(upstream.raw, "_connection", None)
        sock = getattr(connection, "sock", None)
        if sock is not None:
            sock.settimeout(IDLE_TIMEOUT)  # after the headers: the stream may be quiet for a while
        self._chunks = upstream.iter_content(chunk_size=None)

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._disconnected():
            raise StopIteration
        try:
            return next(self._chunks)
        except requests.RequestException:
            raise StopIteration from None  # the node went silent or away: end the stream

    def close(self) -> None:
        try:
            if self._upstream is not None:
                self._upstream.close()
        finally:
            release, self._release = self._release, None
            if release is not None:
                release()
