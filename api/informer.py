"""A watched, locally cached copy of one collection, with change handlers (client-go's informer).

The informer lists the collection, then long-polls the watch from the list's revision, keeping
a cache of the objects and telling handlers about every add, update and delete. When the
watch revision has been compacted away (410 `Expired`) it relists and emits the difference
between the new list and its cache, so handlers never miss a change even though they miss the
intermediate states (level-triggered, like Kubernetes). When no server answers it backs off
(0.2 s doubling to 5 s) and resumes from the last revision it saw.

Handlers run on the informer's thread, in event order, after the cache has been updated (so a
handler looking at the cache sees at least the state it is told about). They receive the cached
objects themselves: they must not modify them (copy first), and should only enqueue work.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from minik8s.api import errors
from minik8s.api.client import ApiClient, Backoff, as_resource_type, ensure_type_meta
from minik8s.api.kinds import ResourceType
from minik8s.api.threads import thread as guarded_thread

log = logging.getLogger(__name__)

Obj = dict[str, Any]


def object_key(obj: Obj) -> str:
    """The cache key of an object: `namespace/name`, or `name` for cluster-scoped objects."""
    metadata = obj.get("metadata") or {}
    namespace = metadata.get("namespace")
    return f"{namespace}/{metadata['name']}" if namespace else metadata["name"]


@dataclass(frozen=True)
class _Handler:
    on_add: Callable[[Obj], None] | None
    on_update: Callable[[Obj, Obj], None] | None
    on_delete: Callable[[Obj], None] | None


class Informer:
    """List + long-poll watch of one resource into a thread-safe cache, notifying handlers."""

    def __init__(
        self,
        client: ApiClient,
        resource: ResourceType | str,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resync_seconds: float = 0,
        watch_timeout_seconds: int = 30,
        batch_window: float = 0.02,
    ) -> None:
        """Watch `resource` (in `namespace`, or all namespaces) filtered by the selectors.

        `resync_seconds` > 0 re-delivers every cached object as `on_update(obj, obj)` that often.
        `watch_timeout_seconds` bounds one long poll, and so how long `stop()` may wait.
        `batch_window`: after a poll that brought events, wait this long before the next one, so
        that under load each poll carries a batch: a busy resource costs the server a few dozen
        polls a second instead of one per write. An event after a quiet spell still arrives at
        once; one that follows another within the window waits for the rest of it.
        """
        self._client = client
        self._rt = as_resource_type(resource)
        self._namespace = namespace
        self._selectors = {"label_selector": label_selector, "field_selector": field_selector}
        self._resync_seconds = resync_seconds
        self._watch_timeout = watch_timeout_seconds
        self._batch_window = batch_window
        self._cache: dict[str, Obj] = {}
        self._cache_lock = threading.Lock()
        self._dispatch_lock = threading.RLock()  # orders cache changes and their notifications
        self._handlers: list[_Handler] = []
        self._revision: str | None = None
        self._synced = threading.Event()
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- public surface -----------------------------------------------------------------------

    def add_handler(
        self,
        on_add: Callable[[Obj], None] | None = None,
        on_update: Callable[[Obj, Obj], None] | None = None,
        on_delete: Callable[[Obj], None] | None = None,
    ) -> None:
        """Register handlers; objects already cached are delivered to `on_add` at once.

        Handlers get cached objects and must not modify them. Exceptions they raise are logged.
        """
        handler = _Handler(on_add, on_update, on_delete)
        with self._dispatch_lock:
            self._handlers.append(handler)
            for obj in self.list():
                _call(handler.on_add, obj)

    def start(self) -> None:
        """Start the watch (and resync) daemon threads."""
        if self._threads:
            raise RuntimeError("informer already started")
        self._threads.append(guarded_thread(self._run, name=f"informer-{self._rt.plural}"))
        if self._resync_seconds > 0:
            self._threads.append(guarded_thread(self._resync_loop, name=f"informer-resync-{self._rt.plural}"))
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop and wait for the threads (the current long poll finishes first)."""
        self._stopped.set()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout)

    def has_synced(self) -> bool:
        """True once the first list has been cached and delivered to the handlers."""
        return self._synced.is_set()

    def wait_for_sync(self, timeout: float | None = None) -> bool:
        """Wait until `has_synced()`; False on timeout."""
        return self._synced.wait(timeout)

    def get(self, key: str) -> Obj | None:
        """The cached object for `namespace/name` (or `name`); do not modify it."""
        with self._cache_lock:
            return self._cache.get(key)

    def list(self) -> list[Obj]:
        """Every cached object; do not modify them."""
        with self._cache_lock:
            return [*self._cache.values()]

    @property
    def resource_version(self) -> str | None:
        """The revision the cache reflects (what the next watch resumes from)."""
        return self._revision

    # -- the watch loop -----------------------------------------------------------------------

    def _run(self) -> None:
        backoff = Backoff()
        need_list = True
        while not self._stopped.is_set():
            try:
                if need_list:
                    self._relist()
                    need_list = False
                self._poll()
                backoff.reset()
            except errors.ExpiredError:
                log.info("informer %s: revision %s expired, relisting", self._rt.plural, self._revision)
                need_list = True
            except errors.ApiError as exc:
                log.warning("informer %s: %s", self._rt.plural, exc)
                self._stopped.wait(backoff.next())
            except Exception:  # the informer must outlive any single failure
                log.exception("informer %s failed; retrying", self._rt.plural)
                self._stopped.wait(backoff.next())

    def _relist(self) -> None:
        listing = self._client.list(self._rt, namespace=self._namespace, **self._selectors)
        items = [ensure_type_meta(self._rt, item) for item in listing.get("items") or []]
        self._replace(items)
        self._revision = listing["metadata"]["resourceVersion"]
        self._synced.set()

    def _poll(self) -> None:
        events, next_version = self._client.watch_poll(
            self._rt, namespace=self._namespace, resource_version=self._revision,
            timeout_seconds=self._watch_timeout, **self._selectors,
        )
        for event in events:
            self._apply(event)
        self._revision = next_version
        if events and self._batch_window > 0:
            self._stopped.wait(self._batch_window)

    def _apply(self, event: dict[str, Any]) -> None:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind in ("ADDED", "MODIFIED"):
            self._upsert(ensure_type_meta(self._rt, obj))
        elif kind == "DELETED":
            self._remove(object_key(obj), ensure_type_meta(self._rt, obj))

    # -- cache changes and notifications ------------------------------------------------------

    def _replace(self, items: list[Obj]) -> None:
        """Make the cache equal to `items`, notifying the differences."""
        fresh = {object_key(obj): obj for obj in items}
        with self._dispatch_lock:
            for key, obj in fresh.items():
                if self.get(key) != obj:
                    self._upsert(obj)
            for obj in self.list():
                key = object_key(obj)
                if key not in fresh:
                    self._remove(key, obj)

    def _upsert(self, obj: Obj) -> None:
        with self._dispatch_lock:
            with self._cache_lock:
                old = self._cache.get(object_key(obj))
                self._cache[object_key(obj)] = obj
            for handler in [*self._handlers]:
                if old is None:
                    _call(handler.on_add, obj)
                else:
                    _call(handler.on_update, old, obj)

    def _remove(self, key: str, final: Obj) -> None:
        """Drop `key` and tell handlers about its last state `final`; unknown keys are ignored."""
        with self._dispatch_lock:
            with self._cache_lock:
                if self._cache.pop(key, None) is None:
                    return
            for handler in [*self._handlers]:
                _call(handler.on_delete, final)

    def _resync_loop(self) -> None:
        while not self._stopped.wait(self._resync_seconds):
            if not self._synced.is_set():
                continue
            with self._dispatch_lock:
                for obj in self.list():
                    for handler in [*self._handlers]:
                        _call(handler.on_update, obj, obj)


def _call(callback: Callable[..., None] | None, *args: Obj) -> None:
    if callback is None:
        return
    try:
        callback(*args)
    except Exception:  # a faulty handler must not stop the informer or other handlers
        log.exception("informer handler %r failed", callback)
