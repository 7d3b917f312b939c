"""The Endpoints controller: each Service with a selector gets an Endpoints object of its pods.

Kubernetes' `pkg/controller/endpoint/endpoints_controller.go`, on the controller library. One sync
of a Service `ns/name` computes the subsets (`endpoints_build.endpoints_subsets`: ready pods in
`addresses`, the others in `notReadyAddresses`, pods being deleted left out) and PUTs the
Endpoints when they differ from the cached ones (a PUT creates them; this controller is their
only writer, so it writes without a resourceVersion). A Service without a selector is left
alone (its Endpoints are the user's); the Endpoints of a deleted Service are deleted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from minik8s.api import errors
from minik8s.api.client import ApiClient
from minik8s.api.informer import Informer, object_key
from minik8s.api.kinds import resolve
from minik8s.api.reconcile import Result
from minik8s.api.timefmt import format_time

from .endpoints_build import (
    OVER_CAPACITY_ANNOTATION, TRIGGER_TIME_ANNOTATION, endpoints_labels, endpoints_subsets, selector,
    truncate_subsets,
)
from .service_pods import BATCH_WINDOW, ServicePodsController

log = logging.getLogger(__name__)

ENDPOINTS = resolve("endpoints")


class EndpointsController(ServicePodsController):
    """Writes `Endpoints` from the pods each Service selects."""

    endpoints: Informer

    def __init__(self, client: ApiClient, *, workers: int = 4, wall_clock: Callable[[], float] = time.time) -> None:
        super().__init__(client, name="endpoints", workers=workers)
        self._wall_clock = wall_clock

    def setup(self) -> None:
        super().setup()
        # only a deletion matters (it is written again); its own writes and users' need nothing
        self.endpoints = self.watch(ENDPOINTS, key=lambda _: None, batch_window=BATCH_WINDOW)
        enqueue = self.enqueuer()
        self.endpoints.add_handler(on_delete=lambda ep: enqueue(object_key(ep)))

    def reconcile(self, key: str) -> Result | None:
        namespace, _, name = key.partition("/")
        service = self.services.get(key)
        current = self.endpoints.get(key)
        if service is None:
            if current is not None:
                try:
                    self.client.delete(ENDPOINTS, name, namespace=namespace)
                except errors.NotFoundError:
                    pass
            return None
        if selector(service) is None:
            return None
        subsets, truncated = truncate_subsets(endpoints_subsets(service, self.pods_of(namespace)))
        labels = endpoints_labels(service)
        if current is not None and (current.get("subsets") or []) == subsets and \
                (current["metadata"].get("labels") or {}) == labels and \
                bool(((current["metadata"].get("annotations") or {}).get(OVER_CAPACITY_ANNOTATION))) == truncated:
            return None
        annotations = {k: v for k, v in ((current or {}).get("metadata", {}).get("annotations") or {}).items()
                       if k != OVER_CAPACITY_ANNOTATION}
        annotations[TRIGGER_TIME_ANNOTATION] = format_time(self._wall_clock())
        if truncated:
            annotations[OVER_CAPACITY_ANNOTATION] = "truncated"
        body = {"apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": name, "namespace": namespace, "labels": labels, "annotations": annotations},
                "subsets": subsets}
        self.client.replace(body)
        return None

