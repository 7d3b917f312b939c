"""The function router of a node agent, with the activator: where every Function call goes.

The masters relay `functions/<name>/invoke` to `POST /invoke/{ns}/{name}` of a node agent (the
kubelet token required); the router sends the call to an instance of the function (a pod labelled
`minik8s.io/function=<name>` running `funcserver.py`) and returns its answer unchanged.

- **Instances**: a pod is routable once it is Running with an IP, has no `deletionTimestamp`, and
  either is Ready or answered the router's own `GET /healthz` (a prober thread probes every pod
  that is neither, every `probe_interval` from the moment it runs, as Knative's activator probes
  pods, so a cold start does not wait for the kubelet's readiness period). A call goes to a
  routable instance with the fewest calls in flight (ties broken at random, so routers on several
  nodes spread their calls), never beyond the function's `containerConcurrency`: when every
  instance is full the call is held until one has room (the autoscaler counts it meanwhile).
- **Activator**: a call that finds no routable instance is held. If the function's Deployment has
  `spec.replicas` 0, the router scales it to 1 (a JSON patch that first tests that replicas is
  still 0, so two routers never scale twice) and the call waits until an instance answers its
  probe, or until the function's `timeoutSeconds` have passed (504 saying what it waited for).
  A call never fails because the function was at zero.
- **Never twice**: a call is retried on another instance only when it never reached the function
  (connection refused, or the instance answered 503 with `X-Minik8s-Not-Started`). A call named by
  an `X-Minik8s-Call-Id` runs once however often it is sent: repeats get the first one's answer
  (`callcache.py`).
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from minik8s.api import errors
from minik8s.api.client import ApiClient
from minik8s.api.informer import Informer
from minik8s.api.kinds.function import FUNCTION_LABEL
from minik8s.api.threads import start_thread
from minik8s.api.workloads import condition

from .callcache import CALL_ID_HEADER, CallCache, NoInstanceInTime, check_call_id

log = logging.getLogger(__name__)

Obj = dict[str, Any]
INSTANCE_PORT = 8080  # where funcserver.py listens in an instance pod
NOT_STARTED = "X-Minik8s-Not-Started"  # an instance's 503 that says the call never ran
MAX_ANSWER = 8 * 1024 * 1024  # bytes read at most from an instance's answer
DEFAULT_TIMEOUT = 60
WAKE_AGAIN = 0.5  # seconds between two scale-from-zero attempts of one held call


def deployment_name(function: str) -> str:
    """The Deployment that runs a Function's instances."""
    return f"fn-{function}"


class NeverStarted(Exception):
    """The call did not reach the function (it may be sent to another instance)."""


@dataclass
class _Instance:
    uid: str
    ip: str
    in_flight: int = 0
    healthy: bool = False


@dataclass
class _FunctionState:
    instances: dict[str, _Instance] = field(default_factory=dict)  # pod uid -> instance
    waking: bool = False  # a scale-from-zero patch is being sent
    busy: int = 0  # calls held or in flight
    area: float = 0.0  # busy x seconds since `since`
    since: float = 0.0
    window_start: float = 0.0  # when the last `stats()` read the area
    requests: int = 0  # calls that arrived since the last `stats()`
    last_request: float | None = None


class FunctionRouter:
    """Routes Function calls to instances on any node, waking functions at zero (see the module docstring)."""

    def __init__(self, client: ApiClient, *, probe_interval: float = 0.025,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.probe_interval = probe_interval
        self.clock = clock
        self.functions = Informer(client, "functions")
        self.pods = Informer(client, "pods", label_selector=FUNCTION_LABEL)
        self._lock = threading.Condition()
        self._states: dict[tuple[str, str], _FunctionState] = {}
        self._stopping = threading.Event()
        self.calls = CallCache(clock=clock)
        self.pods.add_handler(on_add=self._pod_changed, on_update=lambda _old, new: self._pod_changed(new),
                              on_delete=self._pod_changed)

    def start(self) -> None:
        """Start the informers and the prober."""
        self.functions.start()
        self.pods.start()
        start_thread(self._probe_loop, name="function-prober")

    def stop(self) -> None:
        """Tell the informers to stop (a long poll in progress ends by itself: not waited for) and wake
        every held call."""
        self.functions.stop(timeout=0)
        self.pods.stop(timeout=0)
        self._stopping.set()
        with self._lock:
            self._lock.notify_all()

    # ---- the call ----------------------------------------------------------------------------

    def invoke(self, namespace: str, name: str, body: bytes, content_type: str | None,
               call_id: str | None = None) -> tuple[int, str, bytes]:
        """Run one call of `namespace/name`; the instance's status code, content type and body. A call
        with a `call_id` that was sent before is not run again: it gets the first one's answer."""
        function = self._function(namespace, name)
        timeout = float((function.get("spec") or {}).get("timeoutSeconds") or DEFAULT_TIMEOUT)
        if call_id is None:
            return self._invoke(namespace, name, function, body, content_type, timeout)
        return self.calls.run((namespace, name, check_call_id(call_id)),
                              lambda: self._invoke(namespace, name, function, body, content_type, timeout),
                              timeout)

    def _invoke(self, namespace: str, name: str, function: Obj, body: bytes, content_type: str | None,
                timeout: float) -> tuple[int, str, bytes]:
        deadline = self.clock() + timeout
        key = (namespace, name)
        self._count(key, +1)
        try:
            return self._route(key, function, body, content_type, deadline)
        finally:
            self._count(key, -1)

    def stats(self) -> list[dict[str, Any]]:
        """Per function: the average number of calls held or in flight since the last `stats()` (the
        autoscaler's observed concurrency), the calls that arrived meanwhile, and those busy now."""
        now = self.clock()
        out = []
        with self._lock:
            for (namespace, name), state in self._states.items():
                state.area += state.busy * (now - state.since)
                elapsed = now - state.window_start if state.window_start else 0.0
                average = state.area / elapsed if elapsed > 0 else float(state.busy)
                out.append({"namespace": namespace, "name": name, "concurrency": round(average, 3),
                            "requests": state.requests, "busy": state.busy,
                            "instances": sum(1 for i in state.instances.values() if i.healthy)})
                state.area, state.since, state.window_start, state.requests = 0.0, now, now, 0
        return out

    def _count(self, key: tuple[str, str], delta: int) -> None:
        now = self.clock()
        with self._lock:
            state = self._state_locked(key)
            state.area += state.busy * (now - state.since)
            state.since = now
            state.busy += delta
            if delta > 0:
                state.requests += 1
                state.last_request = now

    def _state_locked(self, key: tuple[str, str]) -> _FunctionState:
        if key not in self._states:
            now = self.clock()
            self._states[key] = _FunctionState(since=now, window_start=now)
        return self._states[key]

    def _route(self, key: tuple[str, str], function: Obj, body: bytes, content_type: str | None,
               deadline: float) -> tuple[int, str, bytes]:
        while True:
            instance = self._acquire(key, function, deadline)
            try:
                return self._call(instance, body, content_type, deadline)
            except NeverStarted:
                with self._lock:
                    instance.healthy = False  # probed again before it gets another call
                    self._lock.notify_all()
            finally:
                with self._lock:
                    instance.in_flight -= 1
                    self._lock.notify_all()

    def _function(self, namespace: str, name: str) -> Obj:
        found = self.functions.get(f"{namespace}/{name}")
        if found is not None:
            return found
        return self.client.get("functions", name, namespace=namespace)  # just created: the cache may lag

    def _acquire(self, key: tuple[str, str], function: Obj, deadline: float) -> _Instance:
        """A healthy instance with room, one more call counted on it; waits (and wakes the function when
        it has no instance at all) while there is none."""
        limit = int((function.get("spec") or {}).get("containerConcurrency") or 0)
        woken_at: float | None = None
        while True:
            with self._lock:
                state = self._state_locked(key)
                healthy = [i for i in state.instances.values() if i.healthy]
                free = [i for i in healthy if not limit or i.in_flight < limit]
                if free:
                    fewest = min(i.in_flight for i in free)
                    chosen = random.choice([i for i in free if i.in_flight == fewest])
                    chosen.in_flight += 1
                    return chosen
                none_at_all = not state.instances
            now = self.clock()
            if none_at_all and (woken_at is None or now - woken_at >= WAKE_AGAIN):
                self._wake(key, function)  # again later: the Deployment may not exist yet, or be scaled down
                woken_at = self.clock()
            remaining = deadline - self.clock()
            if remaining <= 0:
                raise NoInstanceInTime(self._why_waiting(key, function, busy=len(healthy)))
            with self._lock:  # woken by a call that ends, an instance that answers its probe, a pod change
                self._lock.wait(min(WAKE_AGAIN, remaining))

    def _probe_loop(self) -> None:
        """Probe every instance that is not healthy yet, every `probe_interval`, until the router stops."""
        while not self._stopping.is_set():
            with self._lock:
                due = [i for state in self._states.values() for i in state.instances.values() if not i.healthy]
                if not due:
                    self._lock.wait(1.0)  # a new instance or a failed call notifies
                    continue
            for instance in due:
                self._probe(instance)
            self._stopping.wait(self.probe_interval)

    def _probe(self, instance: _Instance) -> None:
        connection = http.client.HTTPConnection(instance.ip, INSTANCE_PORT, timeout=0.5)
        try:
            connection.request("GET", "/healthz")
            ok = connection.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            ok = False
        finally:
            connection.close()
        if ok:
            with self._lock:
                instance.healthy = True
                self._lock.notify_all()

    def _wake(self, key: tuple[str, str], function: Obj) -> None:
        """Scale the function's Deployment from 0 to 1 (no-op when it already has replicas)."""
        namespace, name = key
        patch = [{"op": "test", "path": "/spec/replicas", "value": 0},
                 {"op": "replace", "path": "/spec/replicas", "value": 1}]
        with self._lock:
            state = self._states[key]
            if state.waking:
                return
            state.waking = True
        try:
            self.client.patch("deployments", deployment_name(name), patch, namespace=namespace, patch_type="json")
            log.info("function %s/%s: scaled from zero for a waiting call", namespace, name)
        except errors.InvalidError:
            pass  # replicas was not 0: instances are coming, or someone scaled it meanwhile
        except errors.NotFoundError:
            pass  # the function controller has not made the Deployment yet; the wait says so
        except errors.ApiError as exc:
            log.warning("function %s/%s: could not scale from zero: %s", namespace, name, exc.message)
        finally:
            with self._lock:
                state.waking = False

    def _why_waiting(self, key: tuple[str, str], function: Obj, busy: int = 0) -> str:
        namespace, name = key
        timeout = (function.get("spec") or {}).get("timeoutSeconds") or DEFAULT_TIMEOUT
        if busy:
            return (f"every ready instance of function {namespace}/{name} ({busy}) stayed at its containerConcurrency "
                    f"for {timeout}s")
        pods = [p for p in self.pods.list() if _instance_of(p) == key]
        phases = ", ".join(sorted(f"{p['metadata']['name']} {(p.get('status') or {}).get('phase', 'Pending')}"
                                  for p in pods)) or "none"
        return f"no instance of function {namespace}/{name} became ready within {timeout}s (instances: {phases})"

    def _call(self, instance: _Instance, body: bytes, content_type: str | None,
              deadline: float) -> tuple[int, str, bytes]:
        remaining = max(0.1, deadline - self.clock())
        connection = http.client.HTTPConnection(instance.ip, INSTANCE_PORT, timeout=remaining)
        try:
            try:
                connection.connect()
            except OSError as exc:
                raise NeverStarted() from exc
            try:
                connection.request("POST", "/invoke", body=body,
                                   headers={"Content-Type": content_type or "application/json"})
                answer = connection.getresponse()
                data = answer.read(MAX_ANSWER + 1)
            except TimeoutError as exc:
                raise errors.TimeoutError_("the function did not answer in time") from exc
            except (OSError, http.client.HTTPException) as exc:
                raise errors.InternalError(f"the function's instance failed during the call (it may have run): "
                                           f"{type(exc).__name__}") from exc
            if answer.status == 503 and answer.getheader(NOT_STARTED):
                raise NeverStarted()
            if len(data) > MAX_ANSWER:
                raise errors.InternalError(f"the function's answer is larger than {MAX_ANSWER} bytes")
            if answer.status >= 400:
                raise instance_error(answer.status, data)
            return answer.status, answer.getheader("Content-Type") or "application/json", data
        finally:
            connection.close()

    # ---- instances from the pod informer ------------------------------------------------------

    def _pod_changed(self, pod: Obj) -> None:
        key = _instance_of(pod)
        if key is None:
            return
        uid = pod["metadata"].get("uid", "")
        live = self.pods.get(f"{pod['metadata'].get('namespace')}/{pod['metadata']['name']}")
        ip = (live or {}).get("status", {}).get("podIP") if live else None
        routable = (live is not None and not live["metadata"].get("deletionTimestamp")
                    and (live.get("status") or {}).get("phase") == "Running" and bool(ip))
        with self._lock:
            state = self._state_locked(key)
            if not routable:
                state.instances.pop(uid, None)
            elif uid not in state.instances or state.instances[uid].ip != ip:
                state.instances[uid] = _Instance(uid, str(ip))
            # a Ready pod passed the kubelet's readiness probe: no need for ours
            if routable and (condition(live, "Ready") or {}).get("status") == "True":
                state.instances[uid].healthy = True
            self._lock.notify_all()


_ERRORS: dict[int, type[errors.ApiError]] = {400: errors.BadRequestError, 404: errors.NotFoundError,
                                             411: errors.BadRequestError, 413: errors.RequestEntityTooLargeError,
                                             503: errors.ServiceUnavailableError}


def instance_error(code: int, data: bytes) -> errors.ApiError:
    """An instance's error answer (`{"error", "message"[, "traceback"]}`) as a Kubernetes Status error:
    a handler that raised is an InternalError whose message carries the error and its traceback."""
    try:
        body = json.loads(data)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return errors.InternalError(f"the function's instance answered {code}: {data[:200]!r}")
    error, message = str(body.get("error") or "Error"), str(body.get("message") or "")
    if code == 500:
        text = f"the function raised {error}: {message}"
        if body.get("traceback"):
            text += "\n" + str(body["traceback"])
        return errors.InternalError(text)
    return _ERRORS.get(code, errors.InternalError)(f"{error}: {message}" if message else error)


def _instance_of(pod: Obj) -> tuple[str, str] | None:
    meta = pod.get("metadata") or {}
    name = (meta.get("labels") or {}).get(FUNCTION_LABEL)
    return (meta.get("namespace") or "default", name) if name else None


def json_error(exc: errors.ApiError) -> bytes:
    """A Kubernetes Status body for an error the router answers itself."""
    return json.dumps(exc.to_status()).encode()


class InvokeResource:
    """`POST /invoke/{namespace}/{name}` on the node agent's endpoint (falcon), served by a router."""

    MAX_BODY = 6 * 1024 * 1024 + 1024  # the instance's own limit, plus room for framing

    def __init__(self, router: FunctionRouter) -> None:
        self.router = router

    def on_post(self, req: Any, resp: Any, namespace: str, name: str) -> None:
        length = req.content_length
        if length is not None and length > self.MAX_BODY:
            status, body, ctype = 413, json_error(errors.RequestEntityTooLargeError(
                f"the call's body is larger than {self.MAX_BODY} bytes")), "application/json"
        else:
            data = req.bounded_stream.read(self.MAX_BODY + 1)
            if len(data) > self.MAX_BODY:
                status, body, ctype = 413, json_error(errors.RequestEntityTooLargeError(
                    f"the call's body is larger than {self.MAX_BODY} bytes")), "application/json"
            else:
                try:
                    status, ctype, body = self.router.invoke(namespace, name, data, req.content_type,
                                                             req.get_header(CALL_ID_HEADER))
                except errors.ApiError as exc:
                    status, body, ctype = exc.code, json_error(exc), "application/json"
        resp.status = status
        resp.content_type = ctype
        resp.data = body


def gateway_app(router: FunctionRouter) -> Any:
    """The node-local function gateway for pods: `POST /invoke/{namespace}/{name}` (and `/healthz`)
    without a token, served on the node-local address that only this node's pods reach (see
    `minik8s node --function-port`), as a cluster-local Knative Service is callable by every pod."""
    import falcon

    app = falcon.App()
    app.add_route("/invoke/{namespace}/{name}", InvokeResource(router))

    class Health:
        def on_get(self, req: Any, resp: Any) -> None:
            resp.text = "ok"

    app.add_route("/healthz", Health())
    return app


class StatsResource:
    """`GET /functionstats` on the node agent's endpoint: the router's `stats()` for the autoscaler."""

    def __init__(self, router: FunctionRouter) -> None:
        self.router = router

    def on_get(self, req: Any, resp: Any) -> None:
        resp.content_type = "application/json"
        resp.data = json.dumps({"functions": self.router.stats()}).encode()
