"""The Python client every other part uses to talk to the API servers.

One `ApiClient` knows several masters and fails over between them: a connection that could
not be opened, or a `503` Status (the server refused before doing anything, e.g. no Raft
leader), moves the request to the next server, round-robin from the last server that answered.
A request that may already have reached a server is only repeated when it is a read (GET), so
a create is never applied twice. Non-2xx answers become the typed errors of
`minik8s.api.errors`, rebuilt from the `Status` body.

Callers use typed verbs and never build URLs: `get`, `list`, `create`, `replace`,
`update_status`, `patch`, `apply` (server-side apply), `delete`, `scale` (the `scale` subresource),
`bind` (`pods/binding`), `finalize` (`namespaces/finalize`), `log` (`pods/log`, as text or as a stream),
`invoke` (a Function's `invoke` subresource),
`server_resources` (discovery) and the watches; each takes a `timeout=` in seconds that
overrides the client's default for that one call (modelled on lightkube's `Client`).

Watching uses the long-poll contract of `docs/architecture.md`: `watch_poll` returns the
events after a revision and the revision to ask for next; `watch` loops over it, remembering
the revision across servers. The `Informer` (`minik8s.api.informer`) builds its cache on top.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
from collections.abc import Iterator, Mapping
from typing import Any, Literal, overload

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.exceptions import SSLError as Urllib3SSLError

from minik8s.api import errors, kinds
from minik8s.api.kinds import ResourceType

log = logging.getLogger(__name__)

_PODS = kinds.resolve("pods")
_NAMESPACES = kinds.resolve("namespaces")

JSON = "application/json"
INVOKE_TIMEOUT = 960.0  # seconds to wait for a call's answer by default: the longest timeoutSeconds, plus a margin
CALL_ID_HEADER = "X-Minik8s-Call-Id"  # names a call so that sending it again does not run it again

PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
    "apply": "application/apply-patch+yaml",
}

# A request's timeout: seconds for connecting and for each read, or (connect, read) where a read
# of None waits forever (a followed log), or None for the client's default.
Timeout = float | tuple[float, float | None] | None

_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD"})
_POOL_SIZE = 32  # concurrent requests per server: informers' long polls plus workers
_RETRIABLE_WATCH_ERRORS = (errors.ServiceUnavailableError, errors.TooManyRequestsError, errors.TimeoutError_)


def as_resource_type(resource: ResourceType | str) -> ResourceType:
    """A `ResourceType` as is, or the one a name such as `po`, `pods` or `deployments.apps` denotes."""
    return resource if isinstance(resource, ResourceType) else kinds.resolve(resource)


def ensure_type_meta(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    """Fill `kind`/`apiVersion` when missing (list items omit them, as in Kubernetes); returns obj."""
    obj.setdefault("kind", rt.kind)
    obj.setdefault("apiVersion", rt.api_version)
    return obj


class Backoff:
    """Exponential back-off delays: `initial`, doubling up to `maximum`, back to `initial` on reset."""

    def __init__(self, initial: float = 0.2, maximum: float = 5.0) -> None:
        self._initial = initial
        self._maximum = maximum
        self._next = initial

    def next(self) -> float:
        """The delay to wait now; the following one is twice as long (capped)."""
        delay = self._next
        self._next = min(self._next * 2, self._maximum)
        return delay

    def reset(self) -> None:
        """Start over after a success."""
        self._next = self._initial


def _parse_servers(servers: list[str] | str) -> list[str]:
    items = servers.split(",") if isinstance(servers, str) else servers
    parsed = [s.strip().rstrip("/") for s in items if s and s.strip()]
    if not parsed:
        raise ValueError("no API server URL given")
    return parsed


def _reason(exc: requests.RequestException) -> Any:
    cause = exc.args[0] if exc.args else None
    return getattr(cause, "reason", None)


def _handshake_tls_error(reason: Any) -> ssl.SSLError | None:
    """The TLS error of a handshake that failed (certificate not trusted, peer not speaking TLS)."""
    if not isinstance(reason, Urllib3SSLError):
        return None
    inner = reason.args[0] if reason.args else None
    if isinstance(inner, ssl.SSLCertVerificationError) or (
            isinstance(inner, ssl.SSLError) and "WRONG_VERSION_NUMBER" in str(inner)):
        return inner
    return None


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the connection could not be opened, so the server never saw the request."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = _reason(exc)
    return isinstance(reason, (NewConnectionError, ConnectTimeoutError)) or _handshake_tls_error(reason) is not None


def connect_failure(exc: requests.RequestException) -> str | None:
    """Why no connection to a server could be set up, in a few words (`connection refused`, `TLS:
    ...`), or None when the failure came later (a read timeout, a dropped stream)."""
    if isinstance(exc, requests.ConnectTimeout):
        return "connection timed out"
    reason = _reason(exc)
    if isinstance(reason, NameResolutionError):
        return "host name not found"
    if isinstance(reason, NewConnectionError):  # (a subclass of ConnectTimeoutError)
        cause = reason.__cause__ or reason.__context__
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, TimeoutError) or not isinstance(cause, OSError) or not cause.strerror:
            return "connection timed out" if isinstance(cause, TimeoutError) else "cannot open a connection"
        return cause.strerror.lower()
    if isinstance(reason, ConnectTimeoutError):
        return "connection timed out"
    tls = _handshake_tls_error(reason)
    if isinstance(tls, ssl.SSLCertVerificationError):
        return f"TLS: the server's certificate is not signed by the cluster's CA ({tls.verify_message})"
    if tls is not None:
        return "TLS: the server does not speak TLS"
    if isinstance(reason, Urllib3SSLError) or isinstance(exc, requests.exceptions.SSLError):
        return f"TLS error ({reason or exc})"
    return None


def transport_failure(exc: requests.RequestException) -> str:
    """Why a server could not be talked to, in a few words: `connect_failure`'s answer, or what
    broke the connection afterwards (`connection reset by peer`, `no answer in time`)."""
    why = connect_failure(exc)
    if why is not None:
        return why
    if isinstance(exc, requests.ReadTimeout):
        return "no answer in time"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "the connection broke off"
    inner = exc.args[0] if exc.args else None
    # urllib3's ProtocolError('Connection aborted.', OSError) when the server resets or closes the connection
    cause = inner.args[1] if isinstance(inner, Exception) and len(inner.args) > 1 else None
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror.lower()
    if isinstance(cause, OSError):  # http.client.RemoteDisconnected and the like
        return "the server closed the connection"
    return type(exc).__name__


def _is_transport_error(exc: requests.RequestException) -> bool:
    """Errors of the connection itself (as opposed to a malformed URL and the like)."""
    return isinstance(exc, (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError))


def _encode_body(body: Any) -> bytes | None:
    if body is None:
        return None
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    # JSON is valid YAML too, so apply-patch+yaml bodies are sent as JSON (like kubectl does).
    return json.dumps(body, separators=(",", ":")).encode()


def _decode_body(resp: requests.Response) -> Any:
    if not resp.content:
        return None
    if "json" in resp.headers.get("Content-Type", ""):
        return resp.json()
    return resp.text


def _error_from_response(resp: requests.Response) -> errors.ApiError:
    try:
        status = resp.json()
    except ValueError:
        status = {"message": resp.text.strip()} if resp.text.strip() else None
    return errors.from_status(status, resp.status_code)


def _status_message(resp: requests.Response) -> str:
    err = _error_from_response(resp)
    return f"{resp.status_code}: {err.message}"


class ApiClient:
    """A client for a set of minik8s API servers with failover, bearer-token auth and typed errors.

    Thread-safe: one `requests.Session` (with a connection pool) per server is shared by all
    threads; cookies are never used and the environment (proxies, netrc) is ignored.
    """

    def __init__(self, servers: list[str] | str, *, token: str | None = None, timeout: float = 10.0,
                 ca_file: str | None = None) -> None:
        """`servers`: base URLs such as `https://127.0.0.1:6443` (a list or a comma-separated string);
        `ca_file`: the CA that signed https masters' certificates (None: the system CAs)."""
        self._servers = _parse_servers(servers)
        self._token = token
        self._ca_file = ca_file
        self.timeout = timeout
        self._preferred = 0  # index of the last server that answered
        self._sessions = {server: self._new_session() for server in self._servers}

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        session.trust_env = False
        if self._ca_file:
            session.verify = self._ca_file
        session.mount("http://", HTTPAdapter(pool_maxsize=_POOL_SIZE))
        session.mount("https://", HTTPAdapter(pool_maxsize=_POOL_SIZE))
        session.headers["Accept"] = JSON
        if self._token:
            session.headers["Authorization"] = f"Bearer {self._token}"
        return session

    def copy(self, *, timeout: float | None = None) -> ApiClient:
        """A new client for the same servers and credentials with its own connections (and `timeout`)."""
        return ApiClient(self._servers, token=self._token, ca_file=self._ca_file,
                         timeout=self.timeout if timeout is None else timeout)

    @property
    def servers(self) -> list[str]:
        """The configured server URLs, in configuration order."""
        return list(self._servers)

    @property
    def current_server(self) -> str:
        """The server tried first: the last one that answered."""
        return self._servers[self._preferred]

    def close(self) -> None:
        """Close every pooled connection."""
        for session in self._sessions.values():
            session.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- raw requests -------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str = JSON,
        timeout: Timeout = None,
        stream: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one request, failing over between servers; return the parsed answer.

        The raw form under the typed verbs (use those: they know the paths); `timeout` replaces
        the client's default for this request; `headers` are sent as well.

        Returns the decoded JSON, the text for non-JSON answers, None for an empty body, or the
        open `requests.Response` when `stream` is true (the caller closes it). Raises the typed
        `ApiError` for a non-2xx answer, `ServiceUnavailableError` when no server could serve
        the request, and `TimeoutError_` when a write may have reached a server but no answer
        came back (its outcome is unknown, so it is not repeated elsewhere).
        """
        method = method.upper()
        data = _encode_body(body)
        headers = {**(headers or {}), **({"Content-Type": content_type} if data is not None else {})}
        tried: list[str] = []
        transport_failures: list[tuple[str, str]] = []  # (server, why) of each server that could not be talked to
        last_exc: Exception | None = None
        start = self._preferred
        for offset in range(len(self._servers)):
            index = (start + offset) % len(self._servers)
            server = self._servers[index]
            try:
                resp = self._sessions[server].request(
                    method, server + path, params=params, data=data, headers=headers,
                    timeout=timeout or self.timeout, stream=stream,
                )
            except requests.RequestException as exc:
                if not _is_transport_error(exc):
                    raise
                if method not in _IDEMPOTENT_METHODS and not _never_sent(exc):
                    raise errors.TimeoutError_(
                        f"{method} {path} to {server} failed after it may have been received "
                        f"({type(exc).__name__}); its outcome is unknown"
                    ) from exc
                log.debug("%s %s%s failed: %s", method, server, path, exc)
                tried.append(f"{server} ({type(exc).__name__})")
                transport_failures.append((server, transport_failure(exc)))
                last_exc = exc
                continue
            if resp.status_code == 503:
                tried.append(f"{server} ({_status_message(resp)})")
                resp.close()
                continue
            self._preferred = index
            return self._result(resp, stream)
        err = errors.ServiceUnavailableError(f"no API server could serve {method} {path}; tried {', '.join(tried)}")
        # no server could be talked to at all: the CLI says "cannot connect to the cluster at ..."
        everyone = len(transport_failures) == len(self._servers)
        err.connect_failures = transport_failures if everyone else []  # type: ignore[attr-defined]
        raise err from last_exc

    @staticmethod
    def _result(resp: requests.Response, stream: bool) -> Any:
        if not 200 <= resp.status_code < 300:
            err = _error_from_response(resp)
            resp.close()
            raise err
        return resp if stream else _decode_body(resp)

    # -- typed verbs --------------------------------------------------------------------------

    def get(self, resource: ResourceType | str, name: str, *, namespace: str | None = None,
            timeout: Timeout = None) -> dict[str, Any]:
        """Read one object (namespaced resources default to namespace `default`)."""
        rt = as_resource_type(resource)
        return self.request("GET", rt.object_path(name, _namespace(rt, namespace)), timeout=timeout)

    def list(
        self,
        resource: ResourceType | str,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout: Timeout = None,
    ) -> dict[str, Any]:
        """List a collection (all namespaces when `namespace` is None); the `<Kind>List` as served."""
        rt = as_resource_type(resource)
        params = {"labelSelector": label_selector, "fieldSelector": field_selector}
        return self.request("GET", rt.collection_path(namespace), params=params, timeout=timeout)

    def create(self, obj: dict[str, Any], *, namespace: str | None = None, timeout: Timeout = None) -> dict[str, Any]:
        """Create `obj` (POST); namespace from `obj.metadata.namespace`, else the argument, else `default`."""
        rt = _kind_of(obj)
        ns = (obj.get("metadata") or {}).get("namespace") or namespace
        return self.request("POST", rt.collection_path(_namespace(rt, ns)), body=obj, timeout=timeout)

    def replace(self, obj: dict[str, Any], *, timeout: Timeout = None) -> dict[str, Any]:
        """Replace `obj` (PUT); `metadata.resourceVersion`, when set, makes it a compare-and-swap."""
        return self.request("PUT", _object_path_of(obj), body=obj, timeout=timeout)

    def update_status(self, obj: dict[str, Any], *, timeout: Timeout = None) -> dict[str, Any]:
        """Replace the `status` subresource of `obj` (PUT .../status)."""
        return self.request("PUT", _object_path_of(obj) + "/status", body=obj, timeout=timeout)

    def patch(
        self,
        resource: ResourceType | str,
        name: str,
        patch: dict[str, Any] | list[Any],
        *,
        namespace: str | None = None,
        patch_type: str = "merge",
        field_manager: str | None = None,
        timeout: Timeout = None,
    ) -> dict[str, Any]:
        """Patch one object; `patch_type` is `merge`, `strategic`, `json` or `apply` (prefer `apply()`)."""
        if patch_type not in PATCH_CONTENT_TYPES:
            raise ValueError(f"unknown patch type {patch_type!r}; expected one of {', '.join(PATCH_CONTENT_TYPES)}")
        rt = as_resource_type(resource)
        return self.request(
            "PATCH", rt.object_path(name, _namespace(rt, namespace)), body=patch,
            content_type=PATCH_CONTENT_TYPES[patch_type], params={"fieldManager": field_manager}, timeout=timeout,
        )

    def apply(self, obj: dict[str, Any], *, field_manager: str, namespace: str | None = None, force: bool = False,
              timeout: Timeout = None) -> dict[str, Any]:
        """Server-side apply `obj` as `field_manager`: create it, or merge it into the live object.

        Sent as an `application/apply-patch+yaml` PATCH (JSON is YAML) to the object's path, as
        `kubectl apply --server-side` does; `force` takes over fields other managers own
        (`--force-conflicts`). Namespace from `obj.metadata.namespace`, else the argument, else
        `default`. Returns the object as stored.
        """
        rt = _kind_of(obj)
        metadata = obj.get("metadata") or {}
        path = rt.object_path(metadata["name"], _namespace(rt, metadata.get("namespace") or namespace))
        params = {"fieldManager": field_manager, "force": "true" if force else None}
        return self.request("PATCH", path, body=obj, content_type=PATCH_CONTENT_TYPES["apply"], params=params,
                            timeout=timeout)

    def delete(
        self,
        resource: ResourceType | str,
        name: str,
        *,
        namespace: str | None = None,
        grace_period_seconds: int | None = None,
        propagation_policy: str | None = None,
        uid: str | None = None,
        resource_version: str | None = None,
        timeout: Timeout = None,
    ) -> dict[str, Any]:
        """Delete one object, sending `DeleteOptions` when an option is given; returns the server's answer.

        `propagation_policy` is `Background`, `Foreground` or `Orphan`; `uid` and `resource_version`
        are preconditions: the object must still be that one, at that version (else `ConflictError`).
        """
        rt = as_resource_type(resource)
        options: dict[str, Any] = {}
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        if propagation_policy is not None:
            options["propagationPolicy"] = propagation_policy
        preconditions = {k: v for k, v in (("uid", uid), ("resourceVersion", resource_version)) if v is not None}
        if preconditions:
            options["preconditions"] = preconditions
        body = {"kind": "DeleteOptions", "apiVersion": "v1", **options} if options else None
        return self.request("DELETE", rt.object_path(name, _namespace(rt, namespace)), body=body, timeout=timeout)

    def scale(self, resource: ResourceType | str, name: str, *, namespace: str | None = None,
              replicas: int | None = None, timeout: Timeout = None) -> dict[str, Any]:
        """The `scale` subresource of an object (an `autoscaling/v1` Scale: `spec.replicas`,
        `status.replicas`, `status.selector`); with `replicas`, set `spec.replicas` first (a merge
        patch, as `kubectl scale` sends) and return the new Scale."""
        rt = as_resource_type(resource)
        path = rt.object_path(name, _namespace(rt, namespace)) + "/scale"
        if replicas is None:
            return self.request("GET", path, timeout=timeout)
        return self.request("PATCH", path, body={"spec": {"replicas": replicas}},
                            content_type=PATCH_CONTENT_TYPES["merge"], timeout=timeout)

    def finalize(self, namespace: dict[str, Any], *, timeout: Timeout = None) -> dict[str, Any]:
        """Write a Namespace's `spec.finalizers` (PUT `namespaces/<name>/finalize`); its
        `metadata.resourceVersion`, when set, makes it a compare-and-swap. A terminating namespace
        left with no finalizers is removed by the server."""
        path = _NAMESPACES.object_path(namespace["metadata"]["name"]) + "/finalize"
        return self.request("PUT", path, body=namespace, timeout=timeout)

    def server_resources(self, *, timeout: Timeout = None) -> tuple[list[dict[str, Any]], dict[str, errors.ApiError]]:
        """Legacy discovery, as client-go's `ServerPreferredResources`: the `APIResourceList` of the
        core `v1` and of each group's preferred version, and the error of each group-version that
        could not be read (the others are still returned)."""
        lists: list[dict[str, Any]] = []
        failed: dict[str, errors.ApiError] = {}
        paths = [f"/api/{version}" for version in self.request("GET", "/api", timeout=timeout).get("versions") or []]
        for group in self.request("GET", "/apis", timeout=timeout).get("groups") or []:
            preferred = (group.get("preferredVersion") or {}).get("groupVersion")
            if preferred:
                paths.append(f"/apis/{preferred}")
        for path in paths:
            try:
                lists.append(self.request("GET", path, timeout=timeout))
            except errors.ApiError as exc:
                failed[path.split("/", 2)[2]] = exc
        return lists, failed

    def bind(self, pod_name: str, node: str, *, namespace: str | None = None,
             timeout: Timeout = None) -> dict[str, Any]:
        """Assign a pod to `node` (POST `pods/<name>/binding`, what a scheduler does).

        A pod already bound elsewhere or being deleted is a `ConflictError`; a deleted one `NotFoundError`.
        """
        body = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": pod_name},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
        path = _PODS.object_path(pod_name, _namespace(_PODS, namespace)) + "/binding"
        return self.request("POST", path, body=body, timeout=timeout)

    def invoke(self, resource: ResourceType | str, name: str, body: Any, *, namespace: str | None = None,
               timeout: Timeout = None, call_id: str | None = None, params: dict[str, Any] | None = None) -> Any:
        """Call an object through its `invoke` subresource and return the decoded JSON answer: a
        Function's result, or the WorkflowRun a Workflow's invoke started (`params={"wait": "true"}`:
        once it ended).

        `body` is sent as the call's JSON parameters (bytes and text as they are; None: no body). A
        failed call raises the `ApiError` of its `Status` (a function that raised: `InternalError`);
        as with any POST, one that may have reached a server without an answer raises `TimeoutError_`.
        Without `timeout` the answer is awaited `INVOKE_TIMEOUT` seconds (a function may run that long).
        A `call_id` names the call: sent again with the same id, it is not run again (the first
        call's answer comes back), so a caller may repeat a call whose outcome it does not know.
        """
        rt = as_resource_type(resource)
        path = rt.object_path(name, _namespace(rt, namespace)) + "/invoke"
        return self.request("POST", path, body=body, params=params,
                            timeout=INVOKE_TIMEOUT if timeout is None else timeout,
                            headers={CALL_ID_HEADER: call_id} if call_id else None)

    @overload
    def log(self, name: str, *, namespace: str | None = None, container: str | None = None,
            follow: Literal[False] = False, previous: bool = False, tail_lines: int | None = None,
            timestamps: bool = False, since_seconds: int | None = None, timeout: Timeout = None) -> str: ...

    @overload
    def log(self, name: str, *, namespace: str | None = None, container: str | None = None,
            follow: Literal[True], previous: bool = False, tail_lines: int | None = None,
            timestamps: bool = False, since_seconds: int | None = None, timeout: Timeout = None) -> LogStream: ...

    def log(self, name: str, *, namespace: str | None = None, container: str | None = None, follow: bool = False,
            previous: bool = False, tail_lines: int | None = None, timestamps: bool = False,
            since_seconds: int | None = None, timeout: Timeout = None) -> str | LogStream:
        """A container's log (`pods/log`): the text so far, or with `follow` a `LogStream` of what comes.

        `container` may be left out for a pod with one container; `previous` reads the last
        terminated instance; `tail_lines` keeps only the last lines; `timestamps` prefixes each
        line with its RFC 3339 time. With `follow`, `timeout` bounds only connecting: a quiet
        container may send nothing for long, so reads wait as long as the server keeps the stream.
        """
        params = {"container": container, "follow": "true" if follow else None,
                  "previous": "true" if previous else None, "tailLines": tail_lines,
                  "timestamps": "true" if timestamps else None, "sinceSeconds": since_seconds}
        path = _PODS.object_path(name, _namespace(_PODS, namespace)) + "/log"
        wanted = {k: v for k, v in params.items() if v is not None}
        if follow:
            connect = self.timeout if timeout is None else timeout
            first = connect[0] if isinstance(connect, tuple) else connect
            return LogStream(self.request("GET", path, params=wanted, stream=True, timeout=(first, None)))
        resp = self.request("GET", path, params=wanted, stream=True, timeout=timeout)
        try:
            return resp.content.decode("utf-8", errors="replace")
        finally:
            resp.close()

    def server_version(self, *, timeout: Timeout = None) -> dict[str, Any]:
        """`GET /version`: the server's version info (`gitVersion`, `major`, `minor`, ...)."""
        return self.request("GET", "/version", timeout=timeout)

    def cluster_status(self, server: str | None = None, *, timeout: Timeout = None) -> dict[str, Any]:
        """`GET /cluster/status` from any server, or from exactly `server` (no failover) when given."""
        if server is None:
            return self.request("GET", "/cluster/status", timeout=timeout)
        with ApiClient([server], token=self._token, timeout=self.timeout, ca_file=self._ca_file) as single:
            return single.request("GET", "/cluster/status", timeout=timeout)

    # -- watching -----------------------------------------------------------------------------

    def watch_poll(
        self,
        resource: ResourceType | str,
        *,
        namespace: str | None = None,
        resource_version: str,
        timeout_seconds: int = 30,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout: float | None = None,
    ) -> tuple[list[dict[str, Any]], str]:
        """One long poll: the events after `resource_version` and the revision to ask for next.

        Blocks until at least one event or `timeout_seconds` (the server's wait); `timeout` is how
        much longer the answer may take to arrive (default: the client's). Raises `ExpiredError`
        (410) when `resource_version` is older than the compacted history: relist, then watch again.
        """
        rt = as_resource_type(resource)
        params = {
            "watch": "true", "longPoll": "true", "resourceVersion": resource_version,
            "timeoutSeconds": timeout_seconds, "labelSelector": label_selector, "fieldSelector": field_selector,
        }
        result = self.request(
            "GET", rt.collection_path(namespace), params=params,
            timeout=timeout_seconds + (self.timeout if timeout is None else timeout),
        )
        events = result.get("items") or []
        for event in events:
            if event.get("type") == "ERROR":
                status = event.get("object") or {}
                raise errors.from_status(status, int(status.get("code") or 500))
        next_version = (result.get("metadata") or {}).get("resourceVersion") or resource_version
        return events, next_version

    def watch(
        self,
        resource: ResourceType | str,
        *,
        namespace: str | None = None,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        stop: threading.Event | None = None,
        timeout_seconds: int = 30,
        timeout: float | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield watch events (`{"type", "object"}`) until `stop` is set, resuming across polls and servers.

        Without a `resource_version` (or with `"0"`) it starts, as Kubernetes does, with synthetic
        ADDED events for the current objects. Unavailable servers are retried with back-off; an
        `ExpiredError` is raised so the caller can relist. `stop` is checked between polls, so it
        takes effect within `timeout_seconds`. `timeout` applies to the first list and, on top of
        `timeout_seconds`, to every poll (see `watch_poll`).
        """
        rt = as_resource_type(resource)
        stop = stop or threading.Event()
        selectors = {"label_selector": label_selector, "field_selector": field_selector}
        if resource_version in (None, "", "0"):
            listing = self.list(rt, namespace=namespace, timeout=timeout, **selectors)
            for item in listing.get("items") or []:
                yield {"type": "ADDED", "object": ensure_type_meta(rt, item)}
            resource_version = listing["metadata"]["resourceVersion"]
        backoff = Backoff()
        while not stop.is_set():
            try:
                events, next_version = self.watch_poll(
                    rt, namespace=namespace, resource_version=resource_version,
                    timeout_seconds=timeout_seconds, timeout=timeout, **selectors,
                )
            except _RETRIABLE_WATCH_ERRORS as exc:
                log.warning("watch %s: %s", rt.plural, exc)
                stop.wait(backoff.next())
                continue
            backoff.reset()
            yield from events
            resource_version = next_version


class LogStream:
    """A followed container log: iterate for byte chunks as they arrive; close (or `with`) to stop."""

    def __init__(self, response: requests.Response) -> None:
        self._response = response

    def __iter__(self) -> Iterator[bytes]:
        """The log's bytes in chunks as the server sends them, until it ends the stream."""
        return self._response.iter_content(chunk_size=None)

    def close(self) -> None:
        """Stop following: close the connection."""
        self._response.close()

    def __enter__(self) -> LogStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _namespace(rt: ResourceType, namespace: str | None) -> str | None:
    """The namespace a single-object request uses: the given one, `default` for namespaced kinds."""
    return (namespace or "default") if rt.namespaced else None


def _kind_of(obj: dict[str, Any]) -> ResourceType:
    rt = kinds.by_kind(obj.get("apiVersion", ""), obj.get("kind", ""))
    if rt is None:
        raise kinds.UnknownResourceError(
            f'no matches for kind "{obj.get("kind")}" in version "{obj.get("apiVersion")}"'
        )
    return rt


def _object_path_of(obj: dict[str, Any]) -> str:
    rt = _kind_of(obj)
    metadata = obj.get("metadata") or {}
    return rt.object_path(metadata["name"], _namespace(rt, metadata.get("namespace")))
