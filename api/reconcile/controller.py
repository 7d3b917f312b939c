"""The controller framework: informers feed keys to a work queue, workers reconcile them.

A `Controller` subclass says what it watches in `setup()` (calling `watch()`, whose handlers
only enqueue keys) and implements `reconcile(key)`, which reads the informer caches, acts
through the API and reports the outcome, as in controller-runtime's `reconcile.go`:

- returns None or `Result()`: done; the key's back-off is reset;
- returns `Result(requeue_after=s)`: done; look again in `s` seconds;
- raises `TerminalError`: logged, not retried (until the next event about the key);
- raises anything else: logged, retried with rate-limited back-off (a 409 Conflict, the usual
  sign of acting on a cache that lags the controller's own last write, is logged quietly).

Those outcomes map to queue operations in one place, `_process`. Workers start only once
every informer has synced, so a reconcile never decides from a half-filled cache.

A controller can be started and stopped many times (each leadership term gets fresh
informers and a fresh queue): `minik8s.api.reconcile.manager.ControllerManager` runs a set of
them only while it holds a Lease; the kubelet runs its own `Controller` without one.
"""

from __future__ import annotations

import abc
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from minik8s.api import errors
from minik8s.api.client import ApiClient
from minik8s.api.informer import Informer, Obj, object_key
from minik8s.api.kinds import ResourceType
from minik8s.api.threads import thread as guarded_thread
from minik8s.api.reconcile.workqueue import WorkQueue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Result:
    """What a successful reconcile asks for: `requeue_after` seconds until the next look (None: none)."""

    requeue_after: float | None = None


class TerminalError(Exception):
    """A reconcile failure that retrying cannot fix (e.g. an invalid spec): logged, never retried."""


class Controller(abc.ABC):
    """Base class: subclasses implement `setup()` and `reconcile(key)`."""

    def __init__(self, client: ApiClient, *, name: str, workers: int = 1,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.name = name
        self.clock = clock
        self._workers = workers
        self._queue: WorkQueue[str] = WorkQueue(clock=clock)
        self._informers: list[Informer] = []
        self._threads: list[threading.Thread] = []

    # -- for subclasses -----------------------------------------------------------------------

    @abc.abstractmethod
    def setup(self) -> None:
        """Called by every `start()`: create the informers with `watch()` and reset per-term state."""

    @abc.abstractmethod
    def reconcile(self, key: str) -> Result | None:
        """Make the world match the desired state for `key`; see the module docstring for outcomes."""

    def watch(
        self,
        resource: ResourceType | str,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        key: Callable[[Obj], str | None] = object_key,
        batch_window: float = 0.02,
    ) -> Informer:
        """An informer whose every add/update/delete enqueues `key(obj)` (skipped when None);
        `batch_window` as `Informer`'s (longer for controllers that need no quick reaction)."""
        informer = Informer(self.client, resource, namespace=namespace, label_selector=label_selector,
                            field_selector=field_selector, batch_window=batch_window)
        queue = self._queue  # handlers of an old term's informer must not feed a new term's queue

        def enqueue(obj: Obj) -> None:
            if (k := key(obj)) is not None:
                queue.add(k)

        informer.add_handler(on_add=enqueue, on_update=lambda _old, new: enqueue(new), on_delete=enqueue)
        self._informers.append(informer)
        return informer

    def enqueue(self, key: str, *, after: float = 0.0) -> None:
        """Queue `key` for reconciling (after `after` seconds)."""
        self._queue.add_after(key, after)

    def enqueuer(self) -> Callable[[str], None]:
        """What queues a key into this term's queue, for informer handlers made in `setup()` beyond
        `watch()`'s: an old term's informer that delivers late feeds the old, shut-down queue."""
        return self._queue.add

    # -- running ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start fresh informers, then (once they synced) the workers; returns at once."""
        if self._threads:
            raise RuntimeError(f"controller {self.name} already running")
        self._queue = WorkQueue(clock=self.clock)
        self._informers = []
        self.setup()
        for informer in self._informers:
            informer.start()
        queue, informers = self._queue, [*self._informers]
        self._threads = [
            guarded_thread(self._work, queue, informers, name=f"{self.name}-worker-{i}") for i in range(self._workers)
        ]
        for thread in self._threads:
            thread.start()
        log.info("controller %s started", self.name)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop handing out keys and wait (up to `timeout`) for reconciles in flight.

        Informer threads are told to stop but not waited for: a long poll in progress ends by
        itself, and what it delivers goes to the shut-down queue, which ignores it.
        """
        self._queue.shutdown()
        for informer in self._informers:
            informer.stop(timeout=0)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = []
        log.info("controller %s stopped", self.name)

    def _work(self, queue: WorkQueue[str], informers: list[Informer]) -> None:
        for informer in informers:
            while not informer.wait_for_sync(0.1):
                if queue.shutting_down:
                    return
        while (key := queue.get()) is not None:
            self._process(queue, key)

    def _process(self, queue: WorkQueue[str], key: str) -> None:
        """Reconcile one key and turn the outcome into queue operations."""
        try:
            result = self.reconcile(key)
        except TerminalError as exc:
            log.error("%s: %s failed permanently: %s", self.name, key, exc)
            queue.forget(key)
        except errors.ConflictError as exc:  # acted on a stale cache: expected, retry on a fresher one
            log.debug("%s: %s: %s; retrying", self.name, key, exc)
            queue.add_rate_limited(key)
        except Exception:
            log.exception("%s: reconciling %s failed (retry %d)", self.name, key, queue.num_requeues(key) + 1)
            queue.add_rate_limited(key)
        else:
            queue.forget(key)
            if result is not None and result.requeue_after is not None:
                queue.add_after(key, result.requeue_after)
        finally:
            queue.done(key)
