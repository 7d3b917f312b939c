"""The EndpointSlice controller: each Service with a selector gets EndpointSlices of its pods.

Kubernetes' `pkg/controller/endpointslice`, on the controller library. One sync of a Service
`ns/name` plans the slices (`endpoints_build.plan_slices`: endpoints grouped by resolved port set,
at most 100 per slice, `ready`/`serving`/`terminating` as upstream, an empty placeholder slice when
there are none) against the cached slices this controller manages for it, and creates, updates and
deletes what differs. Slices carry `kubernetes.io/service-name`, `endpointslice.kubernetes.io/
managed-by: endpointslice-controller.k8s.io` and a controller reference to the Service, so the
garbage collector removes them with it. Services without a selector are left alone; ExternalName
Services get no slices (upstream's kubernetes/kubernetes#105986).

The slice cache may lag this controller's own writes; acting on it then would, say, create a
second slice for the same pods. Like upstream's `EndpointSliceTracker`, the controller remembers
the resourceVersion each write returned (and the slices it deleted) and waits, requeueing the
Service, until the cache has caught up.
"""

from __future__ import annotations

import logging
import threading
import time

from minik8s.api import errors
from minik8s.api.client import ApiClient
from minik8s.api.informer import Informer, Obj, object_key
from minik8s.api.kinds import resolve
from minik8s.api.kinds.endpointslice import MANAGED_BY_LABEL, SERVICE_NAME_LABEL
from minik8s.api.reconcile import Result

from .endpoints_build import MANAGED_BY, plan_slices, selector
from .service_pods import BATCH_WINDOW, ServicePodsController

log = logging.getLogger(__name__)

ENDPOINT_SLICES = resolve("endpointslices.discovery.k8s.io")
CACHE_LAG_RETRY = 0.02  # seconds before looking again at a cache that does not show our last write yet
CACHE_LAG_LIMIT = 5.0  # seconds after which a write the cache never showed is forgotten (deleted since)


def _service_key(piece: Obj) -> str | None:
    """The `namespace/name` of the Service a slice this controller manages belongs to."""
    meta = piece.get("metadata") or {}
    labels = meta.get("labels") or {}
    if labels.get(MANAGED_BY_LABEL) != MANAGED_BY or not labels.get(SERVICE_NAME_LABEL):
        return None
    return f"{meta.get('namespace')}/{labels[SERVICE_NAME_LABEL]}"


class EndpointSliceController(ServicePodsController):
    """Writes `EndpointSlices` from the pods each Service selects."""

    slices: Informer

    def __init__(self, client: ApiClient, *, workers: int = 4) -> None:
        super().__init__(client, name="endpointslice", workers=workers)
        self._lock = threading.Lock()
        # service key -> slice name -> (rv written, None: deleted; when)
        self._written: dict[str, dict[str, tuple[int | None, float]]] = {}

    def setup(self) -> None:
        super().setup()
        with self._lock:
            self._written = {}
        self.slices = self.watch(ENDPOINT_SLICES, key=_service_key, batch_window=BATCH_WINDOW)

    def reconcile(self, key: str) -> Result | None:
        namespace, _, _name = key.partition("/")
        mine = [s for s in self.slices.list() if _service_key(s) == key]
        if not self._cache_caught_up(key, mine):
            return Result(requeue_after=CACHE_LAG_RETRY)
        service = self.services.get(key)
        external_name = service is not None and (service.get("spec") or {}).get("type") == "ExternalName"
        if service is None or selector(service) is None or external_name:
            # the garbage collector removes a deleted Service's slices; a Service that lost its
            # selector, or an ExternalName one (as upstream), keeps none of this controller's
            if service is not None:
                for piece in mine:
                    self._delete(key, piece)
            return None
        creates, updates, deletes = plan_slices(service, self.pods_of(namespace), mine)
        for piece in creates:
            created = self.client.create(piece, namespace=namespace)
            self._remember(key, created["metadata"]["name"], int(created["metadata"]["resourceVersion"]))
        for piece in updates:
            updated = self.client.replace(piece)  # carries the cached resourceVersion: 409 if it moved
            self._remember(key, updated["metadata"]["name"], int(updated["metadata"]["resourceVersion"]))
        for piece in deletes:
            self._delete(key, piece)
        return None

    def _delete(self, key: str, piece: Obj) -> None:
        meta = piece["metadata"]
        try:
            self.client.delete(ENDPOINT_SLICES, meta["name"], namespace=meta["namespace"], uid=meta.get("uid"))
        except errors.NotFoundError:
            pass
        self._remember(key, meta["name"], None)

    def _remember(self, key: str, name: str, revision: int | None) -> None:
        with self._lock:
            self._written.setdefault(key, {})[name] = (revision, time.monotonic())

    def _cache_caught_up(self, key: str, cached: list[Obj]) -> bool:
        """Whether the cache shows every write this controller made for `key` (then forgotten)."""
        with self._lock:
            written = self._written.get(key)
            if not written:
                return True
            by_name = {s["metadata"]["name"]: int(s["metadata"].get("resourceVersion") or 0) for s in cached}
            now = time.monotonic()
            for name, (revision, when) in list(written.items()):
                seen = by_name.get(name)
                if revision is None and seen is None or revision is not None and seen is not None and seen >= revision \
                        or now - when > CACHE_LAG_LIMIT:
                    del written[name]
            if written:
                return False
            del self._written[key]
            return True
