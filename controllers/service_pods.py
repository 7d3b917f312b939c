"""What the Endpoints and EndpointSlice controllers share: Services and pods in informers, and
which Services a pod change concerns (those whose selector matched its labels before or after)."""

from __future__ import annotations

from minik8s.api.client import ApiClient
from minik8s.api.informer import Informer, Obj, object_key
from minik8s.api.kinds import resolve
from minik8s.api.reconcile import Controller

from .endpoints_build import selects

SERVICES = resolve("services")
PODS = resolve("pods")
BATCH_WINDOW = 0.005  # seconds: a pod turning ready or being deleted must reach the proxies at once


class ServicePodsController(Controller):
    """A controller keyed by Service that also reacts to the pods its Services select."""

    services: Informer
    pods: Informer

    def __init__(self, client: ApiClient, *, name: str, workers: int) -> None:
        super().__init__(client, name=name, workers=workers)

    def setup(self) -> None:
        self.services = self.watch(SERVICES, batch_window=BATCH_WINDOW)
        self.pods = self.watch(PODS, key=lambda _: None, batch_window=BATCH_WINDOW)
        enqueue = self.enqueuer()

        def changed(*pods: Obj) -> None:
            for svc in self.services.list():
                if any(selects(svc, pod) for pod in pods):
                    enqueue(object_key(svc))

        self.pods.add_handler(on_add=changed, on_update=changed, on_delete=changed)

    def pods_of(self, namespace: str) -> list[Obj]:
        """The cached pods of one namespace."""
        return [p for p in self.pods.list() if (p.get("metadata") or {}).get("namespace") == namespace]
