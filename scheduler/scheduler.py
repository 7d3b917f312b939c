"""The scheduler process: watch pending pods and nodes, place each pod, bind it.

Wiring (kube-scheduler's shape, small):

- three informers feed it: pending pods (`spec.nodeName=`) go into the `SchedulingQueue`; nodes
  and pods already on a node (not Succeeded/Failed) go into the `Cache`;
- the loop pops one pod at a time, applies the cache changes handed in meanwhile, runs the
  `Framework` (filter -> score -> pick) over the cache's nodes, then *assumes* the pod on the
  chosen node; the loop alone touches the cache's contents, so it takes no lock;
- a pool of binder threads sends the `pods/binding` requests and status writes, so the loop
  never waits for the network; a failed binding undoes the assumption and retries; Events
  (`Scheduled`, `FailedScheduling`) go through the best-effort `EventRecorder`;
- a pod that fits nowhere backs off (1 s doubling to 30 s, at once when nodes change) and, when
  its message changes, gets PodScheduled=False/Unschedulable and a `FailedScheduling` event.

It handles pods whose `spec.schedulerName` is its name (unset means `default-scheduler`) and that
are not being deleted. Leader election is the caller's job: `start()` when leading, `stop()`
when not.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from minik8s.api import errors
from minik8s.api.client import ApiClient
from minik8s.api.events import EventRecorder
from minik8s.api.informer import Informer, object_key
from minik8s.api.threads import start_thread

from .cache import Cache, node_fingerprint
from .framework import Framework, Obj, PodInfo
from .plugins import default_framework
from .queue import SchedulingQueue
from .reporting import FAILED_SCHEDULING, SCHEDULED, reports, with_unschedulable

log = logging.getLogger(__name__)

DEFAULT_SCHEDULER_NAME = "default-scheduler"
PENDING_PODS = "spec.nodeName="
ASSIGNED_PODS = "spec.nodeName!=,status.phase!=Succeeded,status.phase!=Failed"
_POLL_SECONDS = 0.5  # how often the loop looks at the stop flag and expires assumptions
_STATUS_ATTEMPTS = 3


def _scheduling_inputs(pod: Obj) -> tuple[Any, ...]:
    """What a pending pod's placement depends on (its status is the scheduler's own output)."""
    metadata = pod.get("metadata") or {}
    return pod.get("spec"), metadata.get("labels"), metadata.get("ownerReferences"), metadata.get("deletionTimestamp")


class Scheduler:
    """Assigns pending pods to nodes through the API; `start()`/`stop()` or `run(stop_event)`.

    One instance runs once (its informers cannot be restarted): after `stop()`, make a new one.
    """

    def __init__(self, client: ApiClient, *, name: str = DEFAULT_SCHEDULER_NAME,
                 framework: Framework | None = None, binders: int = 32, watch_timeout_seconds: int = 5) -> None:
        """`name`: the `spec.schedulerName` served and the events' source component;
        `framework`: the plugins (default: `plugins.default_framework()`); `binders`: threads
        sending bindings and status writes; `watch_timeout_seconds`: the informers' long-poll
        length, which bounds how long `stop()` waits."""
        self.name = name
        self._client = client
        self._framework = framework or default_framework()
        self._queue = SchedulingQueue()
        self._cache = Cache()
        self._binders = binders
        self._pool: ThreadPoolExecutor | None = None
        self._reported: dict[str, str] = {}  # pod key -> last unschedulable message written
        # events are sent by threads of their own, so they never slow down bindings (client-go's broadcaster)
        self._events = EventRecorder(client, component=name, workers=4)
        self._pending = Informer(client, "pods", field_selector=PENDING_PODS,
                                 watch_timeout_seconds=watch_timeout_seconds)
        self._assigned = Informer(client, "pods", field_selector=ASSIGNED_PODS,
                                  watch_timeout_seconds=watch_timeout_seconds)
        self._nodes = Informer(client, "nodes", watch_timeout_seconds=watch_timeout_seconds)
        self._nodes.add_handler(self._node_added, self._node_updated, self._node_deleted)
        self._assigned.add_handler(self._cache.add_pod, self._pod_on_node_updated, self._pod_left_node)
        self._pending.add_handler(self._pending_added, self._pending_updated, self._pending_deleted)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Run the scheduler on a daemon thread until `stop()`."""
        if self._thread is not None:
            raise RuntimeError("scheduler already started")
        self._thread = start_thread(self.run, self._stop, name=f"scheduler-{self.name}")

    def stop(self, timeout: float | None = None) -> None:
        """Stop the loop started by `start()` and wait for it (and the informers) to finish."""
        self._stop.set()
        self._queue.close()
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self, stop: threading.Event) -> None:
        """Schedule pods until `stop` is set; starts and stops the informers and binder threads."""
        self._pool = ThreadPoolExecutor(self._binders, thread_name_prefix=f"{self.name}-bind")
        self._events.start()
        informers = (self._nodes, self._assigned, self._pending)
        for informer in informers:
            informer.start()

        def stopping() -> bool:
            return stop.is_set() or self._stop.is_set()

        try:
            # Place nothing before the cluster's nodes and their current pods are known.
            while not stopping() and not all(i.wait_for_sync(_POLL_SECONDS) for i in informers):
                pass
            while not stopping():
                key = self._queue.pop(timeout=_POLL_SECONDS)
                self._cache.apply()
                for expired in self._cache.expire():
                    log.warning("pod %s was bound but never reported on its node; no longer counted", expired)
                if key is not None:
                    self._schedule_one(key)
        finally:
            self._queue.close()
            for informer in informers:
                informer.stop(0)  # set every stop flag first, so their long polls end together
            for informer in informers:
                informer.stop()
            self._pool.shutdown(wait=True)
            self._events.stop()

    # -- informer handlers (enqueue or update the cache only) ------------------------------------

    def _responsible(self, pod: Obj) -> bool:
        spec, metadata = pod.get("spec") or {}, pod.get("metadata") or {}
        return ((spec.get("schedulerName") or DEFAULT_SCHEDULER_NAME) == self.name
                and not spec.get("nodeName") and not metadata.get("deletionTimestamp")
                and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"))

    def _pending_added(self, pod: Obj) -> None:
        if self._responsible(pod):
            self._queue.add(object_key(pod), int((pod.get("spec") or {}).get("priority") or 0))

    def _pending_updated(self, old: Obj, pod: Obj) -> None:
        if not self._responsible(pod):
            self._queue.delete(object_key(pod))
        elif _scheduling_inputs(old) != _scheduling_inputs(pod):
            self._pending_added(pod)

    def _pending_deleted(self, pod: Obj) -> None:
        """The pod was bound (it left the `spec.nodeName=` selection) or deleted."""
        key = object_key(pod)
        self._queue.delete(key)
        self._reported.pop(key, None)
        if not (pod.get("spec") or {}).get("nodeName"):
            self._cache.forget(key)

    def _pod_on_node_updated(self, old: Obj, pod: Obj) -> None:
        self._cache.add_pod(pod)

    def _pod_left_node(self, pod: Obj) -> None:
        self._cache.remove_pod(pod)
        self._queue.move_all_to_active()  # its resources are free now

    def _node_added(self, node: Obj) -> None:
        self._cache.update_node(node)
        self._queue.move_all_to_active()

    def _node_updated(self, old: Obj, node: Obj) -> None:
        self._cache.update_node(node)
        if node_fingerprint(old) != node_fingerprint(node):  # not a mere heartbeat
            self._queue.move_all_to_active()

    def _node_deleted(self, node: Obj) -> None:
        self._cache.remove_node(node["metadata"]["name"])

    # -- one scheduling cycle ------------------------------------------------------------------

    def _schedule_one(self, key: str) -> None:
        pod = self._pending.get(key)
        if pod is None or not self._responsible(pod) or self._cache.holds(pod):
            self._queue.done(key)  # gone, not ours, or already placed (the informer lags behind)
            return
        try:
            self._place(key, pod)
        except Exception:  # a bug must not stop the loop: log it and try this pod again later
            log.exception("scheduling pod %s failed", key)
            self._queue.retry(key)

    def _place(self, key: str, pod: Obj) -> None:
        info = PodInfo.of(pod)
        result = self._framework.schedule(info, self._cache.nodes())
        if result.node is None:
            if log.isEnabledFor(logging.DEBUG):
                log.debug("pod %s fits no node: %s", key, "; ".join(
                    f"{node}: {', '.join(reasons)}" for node, reasons in sorted(result.rejected.items())))
            self._queue.retry(key)
            self._report_unschedulable(pod, result.message)
            return
        self._cache.assume(info, result.node)
        self._queue.done(key)
        self._submit(self._bind, info, result.node)

    def _submit(self, fn: Callable[..., None], *args: Any) -> None:
        """Run `fn(*args)` on a binder thread."""
        assert self._pool is not None
        try:
            self._pool.submit(_logged, fn, *args)
        except RuntimeError:  # the pool is shutting down: the scheduler is stopping
            log.debug("scheduler stopping; dropped %s", fn.__name__)

    def _bind(self, info: PodInfo, node: str) -> None:
        metadata = info.pod["metadata"]
        try:
            self._client.bind(metadata["name"], node, namespace=metadata.get("namespace"))
        except errors.NotFoundError:
            self._cache.forget(info.key)  # deleted meanwhile
            return
        except errors.ApiError as exc:
            # Retried after a back-off; a pod bound elsewhere or being deleted (409) is dropped
            # from the queue by then, when the informer tells.
            log.log(logging.INFO if isinstance(exc, errors.ConflictError) else logging.WARNING,
                    "binding %s to %s failed: %s", info.key, node, exc.message)
            self._cache.forget(info.key)
            self._queue.retry(info.key)
            return
        self._cache.finish_binding(info.key)
        log.debug("bound %s to %s", info.key, node)
        self._events.record(info.pod, reason=SCHEDULED, message=f"Successfully assigned {info.key} to {node}")

    # -- reporting -------------------------------------------------------------------------------

    def _report_unschedulable(self, pod: Obj, message: str) -> None:
        """Write the condition and a FailedScheduling event, once per distinct message."""
        key = object_key(pod)
        if self._reported.get(key) == message:
            return
        self._reported[key] = message
        self._submit(self._write_unschedulable, pod, message)

    def _write_unschedulable(self, pod: Obj, message: str) -> None:
        metadata = pod["metadata"]
        try:
            for attempt in range(_STATUS_ATTEMPTS):
                if attempt:  # the last write conflicted: start from the current state
                    pod = self._client.get("pods", metadata["name"], namespace=metadata.get("namespace"))
                if (pod.get("spec") or {}).get("nodeName") or reports(pod, message):
                    return  # bound meanwhile, or already written by an earlier run
                try:
                    self._client.update_status(with_unschedulable(pod, message, time.time()))
                except errors.ConflictError:
                    continue
                self._events.record(pod, reason=FAILED_SCHEDULING, message=message, event_type="Warning")
                return
        except errors.NotFoundError:
            return
        except errors.ApiError as exc:
            log.warning("could not update the status of pod %s: %s", object_key(pod), exc.message)
        self._reported.pop(object_key(pod), None)  # not written: the next failed attempt tries again


def _logged(fn: Callable[..., None], *args: Any) -> None:
    """Run `fn`, logging what it raises (a pool would keep it in a future nobody reads)."""
    try:
        fn(*args)
    except Exception:
        log.exception("%s failed", fn.__name__)
