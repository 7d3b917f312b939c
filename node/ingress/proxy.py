"""The ingress proxy of one node: nginx on port 80 of the node host, configured from the API.

A `Controller` (without a Lease: every node serves) watches Ingresses, IngressClasses, Services
and EndpointSlices; every change queues the one key `nginx`. A reconcile waits `debounce` seconds
so that a burst of changes (a rollout rewriting slices) makes one reload, renders the
configuration (`model`, `nginxconf`), and when it differs from the live one, has nginx test it and
reload gracefully (`nginx.Nginx`). A configuration nginx refuses is logged and the live one
stays. Every `check_seconds` the key comes back by itself, so an nginx that died is started
again. What could not be served (bad paths, missing Services) is logged once per change.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass

from minik8s.api.client import ApiClient
from minik8s.api.informer import Informer
from minik8s.api.reconcile import Controller, Result

from .model import CONTROLLER, build_routes
from .nginx import NGINX, Nginx, NginxConfigError, NginxError
from .nginxconf import ProxySettings, render

log = logging.getLogger(__name__)

KEY = "nginx"


@dataclass(frozen=True)
class IngressSettings:
    """A node's ingress proxy: where it listens, where nginx lives, how quickly it follows changes."""

    node_ip: str
    data_dir: str  # the node's data dir; nginx's prefix is `<data_dir>/ingress`
    port: int = 80
    nginx: str = NGINX
    controller: str = CONTROLLER
    debounce: float = 0.05  # seconds a reconcile waits for more changes before it renders
    check_seconds: float = 5.0  # how often nginx is checked (and restarted when it died)
    worker_processes: int = 1


class IngressProxy(Controller):
    """Keeps this node's nginx serving what the Ingresses of our class say."""

    def __init__(self, client: ApiClient, settings: IngressSettings) -> None:
        super().__init__(client, name="ingress-proxy")
        self.settings = settings
        prefix = os.path.join(os.path.abspath(settings.data_dir), "ingress")
        self.proxy = ProxySettings(listen_ip=settings.node_ip, port=settings.port, prefix=prefix,
                                   worker_processes=settings.worker_processes,
                                   user="nobody nogroup" if os.geteuid() == 0 else None)
        self.nginx = Nginx(prefix, binary=settings.nginx)
        self._live = ""  # the configuration nginx runs
        self._refused = ""  # the last configuration nginx refused (not retried until it changes)
        self._problems: tuple[str, ...] = ()
        self._stopping = threading.Event()
        self._informers_by_kind: dict[str, Informer] = {}
        self._start_error = ""
        self.reloads = 0

    def setup(self) -> None:
        self._informers_by_kind = {}
        for resource in ("ingresses", "ingressclasses", "services", "endpointslices"):
            self._informers_by_kind[resource] = self.watch(resource, key=lambda _obj: KEY)

    def start(self) -> None:
        self._stopping.clear()
        self.nginx.prepare()
        if self.nginx.running():
            try:
                self._live = self.nginx.conf.read_text()
            except OSError:
                self._live = ""
        super().start()
        self.enqueue(KEY)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop watching and stop nginx (the proxy goes with the node agent)."""
        self._stopping.set()
        super().stop(timeout)
        self.nginx.stop()
        log.info("ingress proxy stopped")

    def render(self) -> str:
        """The configuration the cached objects call for."""
        cache = {kind: informer.list() for kind, informer in self._informers_by_kind.items()}
        routes = build_routes(cache["ingresses"], cache["ingressclasses"], cache["services"],
                              cache["endpointslices"], controller=self.settings.controller)
        if routes.problems != self._problems:
            for problem in routes.problems:
                log.warning("ingress: %s", problem)
            self._problems = routes.problems
        return render(routes, self.proxy)

    def reconcile(self, key: str) -> Result | None:
        if self._stopping.wait(self.settings.debounce):
            return None
        text = self.render()
        if text == self._live and self.nginx.running():
            return Result(requeue_after=self.settings.check_seconds)
        if text == self._refused:
            return Result(requeue_after=self.settings.check_seconds)
        started = time.monotonic()
        try:
            how = self.nginx.apply(text)
        except NginxConfigError as exc:
            self._refused = text
            log.error("ingress: nginx refused the new configuration (the live one stays): %s", exc)
            return Result(requeue_after=self.settings.check_seconds)
        except NginxError as exc:  # did not start (port 80 taken, ...): try again later, say it once
            if str(exc) != self._start_error:
                log.error("ingress: %s; retrying every %.0f s", exc, self.settings.check_seconds)
            self._start_error = str(exc)
            return Result(requeue_after=self.settings.check_seconds)
        self._live, self._refused, self._start_error = text, "", ""
        self.reloads += 1
        log.info("ingress: nginx %s on %s:%d in %.0f ms", how, self.proxy.listen_ip, self.proxy.port,
                 (time.monotonic() - started) * 1000)
        return Result(requeue_after=self.settings.check_seconds)

