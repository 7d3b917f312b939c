"""`functions/invoke`: relay a call of a Function to the function router of a node agent.

Masters do not reach pod addresses (the pod network lives in the node hosts); node agents do, and
every node agent runs a function router behind its own endpoint (`POST /invoke/{ns}/{name}`, the
kubelet token required, like `/containerLogs`). The master picks a Ready node, preferring one that
runs an instance of the function, and relays the call's body and the router's answer unchanged.

A node is not trusted: its URL is built from the parsed Node (`logs.kubelet_url`), the relay waits
at most the function's `timeoutSeconds` plus a margin, reads at most `MAX_ANSWER` bytes, and at most
`max_calls` relays run at once per master (429 beyond), so calls cannot take every API thread.
A node that cannot be connected to is skipped for the next one (nothing was sent); a failure after
the call was sent is a 500 saying so: the function may have run, so it is not repeated elsewhere.

A call named by an `X-Minik8s-Call-Id` goes to the node that the id picks (rendezvous hashing over
the Ready nodes), from any master: that node's router keeps the call's answer, so the same call sent
again, through another master after a leader change, is answered without running it twice.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from collections.abc import Mapping
from typing import Any

import requests
from urllib.parse import quote

from minik8s.api import errors
from minik8s.api.client import CALL_ID_HEADER
from minik8s.api.kinds import resolve
from minik8s.api.kinds.function import FUNCTION_LABEL
from minik8s.api.nodeendpoint import kubelet_url, node_ready

from .logs import CONNECT_TIMEOUT
from .registry import Registry

Obj = dict[str, Any]
MAX_ANSWER = 8 * 1024 * 1024  # bytes of a router's answer relayed at most
ANSWER_MARGIN = 10.0  # seconds a router may take beyond the function's own timeout (cold start, queueing)
DEFAULT_TIMEOUT = 60
VIEW_SECONDS = 1.0  # how old a relay's view of the nodes (Ready, running an instance) may be
MAX_VIEWS = 4096  # functions whose view is kept at once (expired ones are dropped beyond)


class InvokeRelay:
    """Relays Function calls from a master to the node agents' function routers."""

    def __init__(self, registry: Registry, kubelet_token: str | None, *, max_calls: int = 48) -> None:
        self.registry = registry
        self.kubelet_token = kubelet_token
        self.session = requests.Session()
        self.session.trust_env = False
        self.max_calls = max_calls
        self._calls = threading.BoundedSemaphore(max_calls)
        self._turn = itertools.count()
        self.clock = time.monotonic
        self._views_lock = threading.Lock()
        # (namespace, function) -> (read at, Ready nodes, nodes running an instance): listing every pod of the
        # namespace per call cost more than the relay itself; a second-old view only orders the nodes to try
        self._views: dict[tuple[str, str], tuple[float, list[Obj], frozenset[str]]] = {}

    def invoke(self, namespace: str | None, name: str, body: bytes, headers: Mapping[str, str],
               params: Mapping[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """Relay one call (an `Invoker`, see `resources.py`); the router's status, headers and body."""
        namespace = namespace or "default"
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
        call_id = next((v for k, v in headers.items() if k.lower() == CALL_ID_HEADER.lower()), None)
        function = self.registry.get(resolve("functions"), name, namespace)
        if not self.kubelet_token:
            raise errors.ServiceUnavailableError("this master has no --kubelet-token-file: it cannot reach nodes")
        timeout = (function.get("spec") or {}).get("timeoutSeconds") or DEFAULT_TIMEOUT
        if not self._calls.acquire(blocking=False):
            raise errors.TooManyRequestsError(f"too many function calls in flight on this master "
                                              f"(limit {self.max_calls})", retry_after_seconds=1)
        try:
            return self._relay(namespace, name, body, content_type, call_id, float(timeout) + ANSWER_MARGIN)
        finally:
            self._calls.release()

    def _relay(self, namespace: str, name: str, body: bytes, content_type: str | None, call_id: str | None,
               timeout: float) -> tuple[int, dict[str, str], bytes]:
        path = "/".join(quote(part, safe="") for part in ("invoke", namespace, name))
        headers = {"Authorization": f"Bearer {self.kubelet_token}",
                   "Content-Type": content_type or "application/json"}
        if call_id is not None:
            headers[CALL_ID_HEADER] = call_id
        tried: list[str] = []
        for node in self._candidates(namespace, name, call_id):
            node_name = node["metadata"]["name"]
            try:
                base = kubelet_url(node)
            except errors.ApiError:
                continue
            tried.append(node_name)
            try:
                answer = self.session.post(f"{base}/{path}", data=body, headers=headers, stream=True,
                                           timeout=(CONNECT_TIMEOUT, timeout), allow_redirects=False)
            except requests.ConnectionError as exc:
                if _never_sent(exc):
                    continue
                raise _failed(node_name, exc) from exc
            except requests.Timeout as exc:
                raise errors.TimeoutError_(f"function {namespace}/{name} did not answer within "
                                                 f"{timeout:.0f}s (through node {node_name})") from exc
            except requests.RequestException as exc:
                raise _failed(node_name, exc) from exc
            try:
                data = answer.raw.read(MAX_ANSWER + 1, decode_content=True)
            except Exception as exc:
                raise _failed(node_name, exc) from exc
            finally:
                answer.close()
            if len(data) > MAX_ANSWER:
                raise errors.InternalError(f"the answer of function {namespace}/{name} is larger than "
                                             f"{MAX_ANSWER} bytes")
            return answer.status_code, {"Content-Type": answer.headers.get("Content-Type", "application/json")}, data
        if tried:
            raise errors.ServiceUnavailableError(f"no node's function router could be reached "
                                                 f"(tried {', '.join(tried)})")
        raise errors.ServiceUnavailableError("no Ready node to run the function on")

    def _candidates(self, namespace: str, name: str, call_id: str | None) -> list[Obj]:
        """Ready nodes: for a named call, in the order its id picks; otherwise those running an instance
        of the function first, each group in turn."""
        ready, hosting = self._view(namespace, name)
        if call_id is not None:
            return sorted(ready, key=lambda n: _rendezvous(f"{namespace}/{name}/{call_id}", n["metadata"]["name"]),
                          reverse=True)
        turn = next(self._turn)
        first = _rotate([n for n in ready if n["metadata"]["name"] in hosting], turn)
        rest = _rotate([n for n in ready if n["metadata"]["name"] not in hosting], turn)
        return first + rest


    def _view(self, namespace: str, name: str) -> tuple[list[Obj], frozenset[str]]:
        """The Ready nodes and those running an instance of the function, read at most `VIEW_SECONDS` ago."""
        key, now = (namespace, name), self.clock()
        with self._views_lock:
            cached = self._views.get(key)
        if cached is not None and now - cached[0] < VIEW_SECONDS:
            return cached[1], cached[2]
        nodes, _ = self.registry.list(resolve("nodes"), None)
        ready = [n for n in nodes if node_ready(n)]
        pods, _ = self.registry.list(resolve("pods"), namespace)
        hosting = frozenset((p.get("spec") or {}).get("nodeName") for p in pods
                            if ((p.get("metadata") or {}).get("labels") or {}).get(FUNCTION_LABEL) == name
                            and (p.get("status") or {}).get("phase") == "Running")
        with self._views_lock:
            if len(self._views) >= MAX_VIEWS:
                self._views = {k: v for k, v in self._views.items() if now - v[0] < VIEW_SECONDS}
            self._views[key] = (now, ready, hosting)
        return ready, hosting


def _rendezvous(call: str, node: str) -> bytes:
    """The weight of `node` for `call` (highest random weight hashing): the same order on every master,
    and a node that leaves moves only its own calls."""
    return hashlib.blake2b(f"{call}\0{node}".encode("utf-8", "surrogatepass"), digest_size=8).digest()


def _rotate(items: list[Obj], turn: int) -> list[Obj]:
    if not items:
        return items
    start = turn % len(items)
    return items[start:] + items[:start]



def _never_sent(exc: requests.ConnectionError) -> bool:
    """Whether the connection failed before the request went out (refused, unreachable, connect timeout)."""
    text = repr(exc)
    return isinstance(exc, requests.ConnectTimeout) or "NewConnectionError" in text or "ConnectTimeoutError" in text


def _failed(node_name: str, exc: BaseException) -> errors.ApiError:
    return errors.InternalError(f"node {node_name} failed during the call (it may have run): {type(exc).__name__}")
