"""The Falcon application: middleware, system endpoints, discovery and the resource sink.

`create_app` takes everything it needs (registry, watch hub, consensus, users) so tests can build
it around real parts without monkey-patching.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import falcon
import prometheus_client as prom

from minik8s.api import errors, kinds
from minik8s.consensus import Consensus

from .auth import TokenAuth, User
from .discovery import register_discovery
from .http import send_json
from .metricsapi import MetricsApi, NodeStatsCache
from .openapi import register_openapi
from .registry import Registry
from .resources import Invoker, ResourceSink
from .watch import WatchHub

log = logging.getLogger(__name__)

VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.0-minik8s", "platform": "linux/amd64",
           "goVersion": "python", "compiler": "cpython"}


class Metrics:
    """Prometheus metrics of one API server."""

    def __init__(self, consensus: Consensus, hub: WatchHub) -> None:
        self.registry = prom.CollectorRegistry()
        self.requests = prom.Counter("apiserver_request_total", "API requests", ["verb", "resource", "code"],
                                     registry=self.registry)
        self.latency = prom.Histogram("apiserver_request_duration_seconds", "API request latency",
                                      ["verb", "resource"], registry=self.registry,
                                      buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
        gauges = {
            "raft_term": ("Current Raft term", lambda: consensus.term),
            "raft_commit_index": ("Raft commit index", lambda: consensus.commit_index),
            "raft_applied_index": ("Raft last applied index", lambda: consensus.applied_index),
            "raft_is_leader": ("1 when this master leads", lambda: int(consensus.is_leader)),
            "store_revision": ("Global store revision", lambda: hub.revision),
            "apiserver_open_watches": ("Open streaming watches", lambda: hub.open_watches),
        }
        for name, (doc, fn) in gauges.items():
            prom.Gauge(name, doc, registry=self.registry).set_function(fn)


# Label values come from fixed sets only: the method, path and status line are client-controlled
# (a request with a 200 KB method name must not become a 200 KB label for ever), and this runs
# before authentication. Anything outside a set is reported as OTHER / "-".
SERVED_PLURALS = frozenset(rt.plural for rt in kinds.RESOURCES)
METRIC_VERBS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "WATCH"})


def metric_verb(req: falcon.Request) -> str:
    """The request's verb label: an HTTP method from `METRIC_VERBS`, WATCH for watches, else OTHER."""
    method = req.method if req.method in METRIC_VERBS else "OTHER"
    if method == "GET" and req.get_param("watch") in ("true", "1"):
        return "WATCH"
    return method


def metric_code(resp: falcon.Response) -> str:
    """The status-code label: a code 100..599, else OTHER."""
    try:
        code = int(resp.status_code)
    except (TypeError, ValueError):
        return "OTHER"
    return str(code) if 100 <= code <= 599 else "OTHER"


class MetricsMiddleware:
    """Counts and times every request (labels from fixed sets only, see `metric_verb`)."""

    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.started = time.perf_counter()

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: Any, ok: bool) -> None:
        verb = metric_verb(req)
        # req.context.resource is only ever set to a plural from the served resource table
        res = getattr(req.context, "resource", "") or "-"
        if res != "-" and res not in SERVED_PLURALS:
            res = "unknown"
        self._m.requests.labels(verb, res, metric_code(resp)).inc()
        started = getattr(req.context, "started", None)
        if started is not None and verb != "WATCH":
            self._m.latency.labels(verb, res).observe(time.perf_counter() - started)


def _handle_api_error(req: falcon.Request, resp: falcon.Response, exc: errors.ApiError, params: Any) -> None:
    send_json(resp, exc.to_status(), exc.code)
    if exc.retry_after_seconds:
        resp.set_header("Retry-After", str(exc.retry_after_seconds))


def _handle_unexpected(req: falcon.Request, resp: falcon.Response, exc: Exception, params: Any) -> None:
    if isinstance(exc, falcon.HTTPError):
        code = int(exc.status[:3]) if isinstance(exc.status, str) else int(exc.status)
        err = errors.from_status(None, code)
        err.message = exc.title or str(exc)
        send_json(resp, err.to_status(), code)
        return
    log.exception("unhandled error on %s %s", req.method, req.path)
    send_json(resp, errors.InternalError(f"internal error: {type(exc).__name__}").to_status(), 500)


class SystemEndpoints:
    """/healthz, /readyz, /version, /cluster/status, /metrics."""

    def __init__(self, consensus: Consensus, metrics: Metrics, registry: Registry) -> None:
        self.consensus = consensus
        self.metrics = metrics
        self.registry = registry

    def on_get_healthz(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type, resp.text = "text/plain", "ok"

    def on_get_readyz(self, req: falcon.Request, resp: falcon.Response) -> None:
        problem = None
        if not self.consensus.is_ready():
            problem = "no leader known or not caught up"
        elif not self.registry.builtin_namespaces_exist():
            problem = "built-in namespaces not created yet"
        elif pending := self.registry.pending_post_start_hooks():
            problem = f"post-start hooks not finished: {', '.join(pending)}"
        resp.status = falcon.HTTP_503 if problem else falcon.HTTP_200
        resp.content_type = "text/plain"
        resp.text = f"not ready: {problem}" if problem else "ok"

    def on_get_version(self, req: falcon.Request, resp: falcon.Response) -> None:
        send_json(resp, VERSION)

    def on_get_status(self, req: falcon.Request, resp: falcon.Response) -> None:
        status = self.consensus.status()
        if req.get_param_as_bool("digest"):  # this member's whole store, hashed: convergence checks compare it
            status["store"] = self.consensus.digest()
        send_json(resp, status)

    def on_get_metrics(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = prom.CONTENT_TYPE_LATEST
        resp.data = prom.generate_latest(self.metrics.registry)


def create_app(*, registry: Registry, hub: WatchHub, consensus: Consensus, users: dict[str, User],
               body_limit: int = 3 * 1024 * 1024, kubelet_token: str | None = None,
               max_log_streams: int = 32, invokers: Mapping[str, Invoker] | None = None) -> falcon.App:
    """Build the API server's WSGI app; `invokers` answer the `invoke` subresource of the resources
    they are keyed by (`functions.minik8s.io`): others answer 404."""
    metrics = Metrics(consensus, hub)
    app = falcon.App(middleware=[MetricsMiddleware(metrics), TokenAuth(users)])
    app.req_options.auto_parse_qs_csv = False
    app.req_options.strip_url_path_trailing_slash = True
    app.resp_options.secure_cookies_by_default = False
    app.add_error_handler(Exception, _handle_unexpected)
    app.add_error_handler(falcon.HTTPError, _handle_unexpected)  # Falcon's own 404/405 as Status bodies
    app.add_error_handler(errors.ApiError, _handle_api_error)
    system = SystemEndpoints(consensus, metrics, registry)
    app.add_route("/healthz", system, suffix="healthz")
    app.add_route("/livez", system, suffix="healthz")
    app.add_route("/readyz", system, suffix="readyz")
    app.add_route("/version", system, suffix="version")
    app.add_route("/cluster/status", system, suffix="status")
    app.add_route("/metrics", system, suffix="metrics")
    register_discovery(app)
    register_openapi(app)
    metrics_api = MetricsApi(registry, NodeStatsCache(kubelet_token))
    app.add_sink(ResourceSink(registry, hub, body_limit=body_limit, kubelet_token=kubelet_token,
                              max_log_streams=max_log_streams, metrics=metrics_api, invokers=invokers),
                 prefix=r"^/apis?/")
    return app
