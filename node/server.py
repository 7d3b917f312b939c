"""The node agent's own HTTP endpoint: container logs and resource usage, for the masters.

`GET /containerLogs/{namespace}/{pod}/{container}?follow=&tailLines=&timestamps=&previous=&sinceSeconds=`
streams `text/plain` (the API server's `pods/log` proxy); `GET /stats/summary` answers the node's
and its pods' CPU and memory usage (`minik8s.node.stats`; the masters' `metrics.k8s.io` API reads
it); the composition root adds `POST /invoke/{namespace}/{name}` (the function router). Requests must carry the kubelet bearer token (shared with the masters).
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Iterator, Mapping

import falcon

from . import podspec
from .runtime.base import ContainerStatus, Runtime
from .stats import StatsSampler


class _TokenAuth:
    def __init__(self, token: str) -> None:
        self._token = token.encode()

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if req.path == "/healthz":
            return
        scheme, _, token = req.get_header("Authorization", default="").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), self._token):
            raise falcon.HTTPUnauthorized(title="Unauthorized")


class _Logs:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def _attempt(self, namespace: str, pod: str, container: str, previous: bool) -> ContainerStatus:
        attempts: list[ContainerStatus] = []
        for sandbox in self.runtime.list_sandboxes():
            labels = sandbox.labels
            if labels.get(podspec.POD_NAME) == pod and labels.get(podspec.POD_NAMESPACE) == namespace:
                attempts += [c for c in self.runtime.list_containers(sandbox.id)
                             if c.labels.get(podspec.CONTAINER_NAME) == container]
        attempts.sort(key=lambda c: int(c.labels.get(podspec.ATTEMPT, "0")))
        if previous:
            if len(attempts) < 2:
                raise falcon.HTTPBadRequest(title=f'previous terminated container "{container}" in pod "{pod}" '
                                                  f"not found")
            return attempts[-2]
        if not attempts:
            raise falcon.HTTPBadRequest(title=f'container "{container}" in pod "{pod}" is waiting to start')
        return attempts[-1]

    def on_get(self, req: falcon.Request, resp: falcon.Response, namespace: str, pod: str, container: str) -> None:
        attempt = self._attempt(namespace, pod, container, req.get_param_as_bool("previous") or False)
        since = req.get_param_as_int("sinceSeconds")
        lines: Iterator[bytes] = self.runtime.logs(
            attempt.id, follow=req.get_param_as_bool("follow") or False, tail=req.get_param_as_int("tailLines"),
            timestamps=req.get_param_as_bool("timestamps") or False,
            since=time.time() - since if since else None)
        resp.content_type = "text/plain"
        resp.stream = lines


class _Summary:
    def __init__(self, stats: StatsSampler) -> None:
        self.stats = stats

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = "application/json"
        resp.data = json.dumps(self.stats.summary(), separators=(",", ":")).encode()


def create_node_app(runtime: Runtime, token: str, *, stats: StatsSampler | None = None,
                    routes: Mapping[str, object] | None = None) -> falcon.App:
    """The node agent's WSGI app (`/stats/summary` only with a `stats` sampler); `routes` adds
    resources of other parts (the function router's `/invoke/...`), behind the same token."""
    app = falcon.App(middleware=[_TokenAuth(token)])
    app.add_route("/containerLogs/{namespace}/{pod}/{container}", _Logs(runtime))
    if stats is not None:
        app.add_route("/stats/summary", _Summary(stats))
    for path, resource in (routes or {}).items():
        app.add_route(path, resource)

    class Health:
        def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
            resp.text = "ok"

    app.add_route("/healthz", Health())
    return app
