"""Kubernetes REST paths: `/api/v1/...` and `/apis/<group>/<version>/...`.

One Falcon sink parses the path into (resource type, namespace, name, subresource) and
dispatches by HTTP method; Falcon's template router cannot express Kubernetes' overlapping
paths (`namespaces/{name}/status` vs `namespaces/{ns}/{resource}`).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import falcon

from minik8s.api import errors, failpoints, kinds, selectors, strictfields, tables, validation
from minik8s.api.kinds import ResourceType
from minik8s.store import CompactedError

from . import discovery, gpujoblogs, managedfields, patching
from .events import EventRecorder
from .logs import LogProxy
from .conversion import served_registry
from .metricsapi import MetricsApi
from .http import check_query_ints, query_bool, query_int, read_body, read_object, read_raw, send_json
from .registry import Registry
from .watch import WATCH_PLAN, CachedEvent, PlanSlot, PollTemplate, WatchCapacityError, WatchHub, WatchPlan

Obj = dict[str, Any]
# Answers `POST .../<resource>/<name>/invoke`: (namespace, name, request body, request headers, query
# parameters) -> (status code, response headers, response body), sent back as they are. The composition
# root plugs one in per resource (`functions.minik8s.io`, `workflows.minik8s.io`); the API server itself
# knows nothing of what serves calls.
Invoker = Callable[[str | None, str, bytes, Mapping[str, str], Mapping[str, str]],
                   tuple[int, Mapping[str, str], bytes]]
# never handed to an invoker: the caller's credentials are for this server only
_PRIVATE_HEADERS = frozenset({"AUTHORIZATION", "PROXY-AUTHORIZATION", "COOKIE"})
# set by the server from the body it sends, never taken from an invoker's answer
_HOP_HEADERS = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "upgrade", "te",
                          "trailer", "proxy-authenticate"})


@dataclass(frozen=True)
class Target:
    """What a request path names."""

    rt: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None


def parse_path(path: str) -> Target | None:
    """Map a resource URL to its target, or None for discovery / unknown paths."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if not rest:
        return None
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3 and kinds.by_path(group, version, rest[2]) is not None:
        namespace, rest = rest[1], rest[2:]
    rt = kinds.by_path(group, version, rest[0])
    if rt is None or len(rest) > 3:
        return None
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if rt.plural == "namespaces" and name is not None:
        namespace = None
    return Target(rt, namespace if rt.namespaced else None, name, sub)


class ResourceSink:
    """Handles every object and collection URL."""

    def __init__(self, registry: Registry, hub: WatchHub, *, body_limit: int, kubelet_token: str | None,
                 max_log_streams: int = 32, metrics: MetricsApi,
                 invokers: Mapping[str, Invoker] | None = None) -> None:
        self.registry = registry
        self.invokers = dict(invokers or {})  # `plural.group` -> what answers its `invoke` subresource
        self.logs = LogProxy(registry, kubelet_token, max_streams=max_log_streams)
        self._stale = failpoints.StaleReads()  # a defect only when MINIK8S_FAILPOINTS asks for it
        self.metrics = metrics
        self.hub = hub
        self.body_limit = body_limit
        self.events = EventRecorder(registry)

    def __call__(self, req: falcon.Request, resp: falcon.Response, **_: Any) -> None:
        target = parse_path(req.path)
        if target is None:
            raise errors.NotFoundError(f"the server could not find the requested resource ({req.method} {req.path})")
        req.context.resource = target.rt.plural
        if target.subresource is not None and target.subresource not in target.rt.subresources:
            raise errors.NotFoundError(f"the server could not find the requested resource "
                                       f"({target.rt.plural}/{target.subresource})")
        handler = getattr(self, f"_{req.method.lower()}_{'object' if target.name else 'collection'}", None)
        verb = _verb(req.method, target)
        if handler is None or (verb is not None and verb not in target.rt.verbs) or not _subresource_allows(
                req.method, target):
            raise errors.MethodNotAllowedError(f"{req.method} is not supported on {req.path}")
        check_query_ints(req)
        if not target.rt.stored:  # metrics.k8s.io: measured by the nodes, never in the store
            self.metrics.get(req, resp, target.rt, target.namespace, target.name)
            return
        handler(req, resp, target)

    # ---- collections ------------------------------------------------------------------------

    def _get_collection(self, req: falcon.Request, resp: falcon.Response, t: Target) -> None:
        label_sel = selectors.parse_label_selector(req.get_param("labelSelector") or "")
        field_sel = selectors.parse_field_selector(req.get_param("fieldSelector") or "",
                                                   t.rt.strategy.field_paths())
        if query_bool(req, "watch"):
            self._watch(req, resp, t, label_sel, field_sel)
            return
        registry = served_registry(self.registry, t.rt)
        registry.consistent_read(_read_rv(req))
        items, revision = registry.list(t.rt, t.namespace)
        items = [o for o in items if _matches(o, label_sel, field_sel)]
        table_version = tables.table_version(req.get_header("Accept", default=""))
        if table_version:
            send_json(resp, _table(req, t.rt, items, str(revision), table_version))
            return
        send_json(resp, {
            "kind": f"{t.rt.kind}List", "apiVersion": t.rt.api_version,
            "metadata": {"resourceVersion": str(revision)}, "items": items,
        })

    def _post_collection(self, req: falcon.Request, resp: falcon.Response, t: Target) -> None:
        body = read_object(req, self.body_limit)
        namespace = self._body_namespace(t, body)
        _check_kind(t.rt, body)
        _check_fields(req, resp, t.rt, body)
        send_json(resp, served_registry(self.registry, t.rt).create(t.rt, body, namespace), 201)

    def _delete_collection(self, req: falcon.Request, resp: falcon.Response, t: Target) -> None:
        label_sel = selectors.parse_label_selector(req.get_param("labelSelector") or "")
        field_sel = selectors.parse_field_selector(req.get_param("fieldSelector") or "",
                                                   t.rt.strategy.field_paths())
        options = {k: v for k, v in self._delete_options(req).items() if k != "preconditions"}
        registry = served_registry(self.registry, t.rt)
        items, revision = registry.list(t.rt, t.namespace)
        deleted = []
        for obj in items:
            if _matches(obj, label_sel, field_sel):
                meta = obj["metadata"]
                try:
                    deleted.append(registry.delete(t.rt, meta["name"], meta.get("namespace"), options))
                except errors.NotFoundError:
                    pass
        send_json(resp, {"kind": f"{t.rt.kind}List", "apiVersion": t.rt.api_version,
                         "metadata": {"resourceVersion": str(revision)}, "items": deleted})

    def _body_namespace(self, t: Target, body: Obj) -> str | None:
        if not t.rt.namespaced:
            return None
        body_ns = (body.get("metadata") or {}).get("namespace") if isinstance(body.get("metadata"), dict) else None
        if t.namespace is None:
            raise errors.BadRequestError(f"{t.rt.plural} must be created in a namespace: POST to "
                                         f"{t.rt.collection_path('NAMESPACE')}")
        if body_ns and body_ns != t.namespace:
            raise errors.BadRequestError("the namespace of the provided object does not match the namespace sent "
                                         "on the request")
        return t.namespace

    # ---- objects ----------------------------------------------------------------------------

    def _get_object(self, req: falcon.Request, resp: falcon.Response, t: Target) -> None:
        if t.subresource == "log":
            if t.rt.plural == "gpujobs":
                gpujoblogs.serve_log(self.registry, req, resp, t.name or "", t.namespace)
            else:
                self.logs.proxy(req, resp, t.name or "", t.namespace)
            return
        registry = served_registry(self.registry, t.rt)
        registry.consistent_read(_read_rv(req))
        obj = registry.get(t.rt, t.name or "", t.namespace)
        if failpoints.ACTIVE and not t.subresource:
            obj = self._stale.filter((t.rt.plural, t.namespace, t.name or ""), obj)
        if t.subresource == "scale":
            obj = _scale_of(t.rt, obj)
        table_version = tables.table_version(req.get_header("Accept", default="")) if not t.subresource else None
        if table_version:
            obj = _table(req, t.rt, [obj], obj["metadata"].get("resourceVersion", ""), table_version)
        send_json(resp, obj)

    def _put_object(self, req: falcon.Request, resp: falcon.Response, t: Target) -> None:
        body = read_object(req, self.body_limit)
        _check_kind(t.rt, body) if t.subresource != "scale" else None
        meta = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
        if meta.get("name") and meta["name"] != t.name:
            raise errors.BadRequestError(f'the name of the object ({meta["name"]}) does not match the name on the '
                                         f"URL ({t.name})")
        self._body_namespace(t, body)
        if t.subresource in (None, "status", "finalize"):
            _check_fields(req, resp, t.rt, body)
        if t.subresource == "scale":
            scale = validation.conform_kind("autoscaling", "v1", "Scale", body)
            send_json(resp, self._set_replicas(t, (scale.get("spec") or {}).get("replicas")))
            return
        send_json(resp, served_registry(self.registry, t.rt).update(t.rt, t.name or "", t.namespace, body,
                                                                    subresource=t.subresource))

    def _patch_object(self, req: falcon.Request, resp: falcon.Response, t: Target) -> None:
        content_type = (req.content_type or "").split(";")[0].strip()
        _field_validation(req)
        patch = read_body(req, self.body_limit)
        name = t.name or ""
        if t.subresource == "scale":  # the patch applies to the current Scale, as in Kubernetes
            current = _scale_of(t.rt, self.registry.existing(t.rt, name, t.namespace))
            scale = validation.conform_kind("autoscaling", "v1", "Scale",
                                            patching.apply_patch(current, patch, content_type))
            send_json(resp, self._set_replicas(t, (scale.get("spec") or {}).get("replicas")))
            return
        if content_type == patching.APPLY and isinstance(patch, dict):
            patch = validation.conform(t.rt, patch)  # what is applied is an object of the kind
        manager = req.get_param("fieldManager") if content_type == patching.APPLY else None
        if content_type == patching.APPLY and isinstance(patch, dict) and t.subresource in (None, "status"):
            _check_fields(req, resp, t.rt, patch)  # before managedFields record what is applied
        if content_type == patching.APPLY and not self._exists(t):
            if not isinstance(patch, dict):
                raise errors.BadRequestError("an apply patch must be an object")
            _check_kind(t.rt, patch)
            created = patching.apply_patch({}, patch, patching.APPLY, field_manager=manager)
            send_json(resp, served_registry(self.registry, t.rt).create(
                t.rt, created, t.namespace, managed_fields=created["metadata"].get("managedFields")), 201)
            return
        def change(o: Obj) -> Obj:
            patched = patching.apply_patch(o, patch, content_type, field_manager=manager)
            if manager and content_type == patching.APPLY and managedfields.unchanged_apply(o, patched, manager):
                return o  # a no-op apply is not written (the object keeps its resourceVersion)
            if t.subresource in (None, "status") and isinstance(patched, dict):
                _check_fields(req, resp, t.rt, patched)
            return patched

        registry = served_registry(self.registry, t.rt)
        obj = registry.mutate(t.rt, name, t.namespace, change, subresource=t.subresource)
        send_json(resp, obj)

    def _delete_object(self, req: falcon.Request, resp: falcon.Response, t: Target) -> None:
        registry = served_registry(self.registry, t.rt)
        send_json(resp, registry.delete(t.rt, t.name or "", t.namespace, self._delete_options(req)))

    def _delete_options(self, req: falcon.Request) -> Obj:
        """The request's `DeleteOptions`: the body, overridden by query parameters, checked."""
        options: Obj = {}
        if req.content_length:
            options = validation.conform_kind("", "v1", "DeleteOptions", read_object(req, self.body_limit),
                                              options=True)
        grace = query_int(req, "gracePeriodSeconds")
        if grace is not None:
            options["gracePeriodSeconds"] = grace
        if req.get_param("propagationPolicy"):
            options["propagationPolicy"] = req.get_param("propagationPolicy")
        if req.get_param("orphanDependents"):
            options["orphanDependents"] = query_bool(req, "orphanDependents")
        policy = options.get("propagationPolicy")
        if policy not in (None, "Orphan", "Background", "Foreground"):
            raise errors.BadRequestError(f"propagationPolicy must be Orphan, Background or Foreground, not "
                                         f"{policy!r}")
        if policy is not None and options.get("orphanDependents") is not None:
            raise errors.invalid("DeleteOptions", None, [
                ("propagationPolicy", "FieldValueInvalid",
                 f'Invalid value: "{policy}": orphanDependents and deletionPropagation cannot be both set')])
        return options

    def _post_object(self, req: falcon.Request, resp: falcon.Response, t: Target) -> None:
        if t.subresource == "invoke":
            self._invoke(req, resp, t)
            return
        if t.subresource != "binding" or t.rt.plural != "pods":
            raise errors.MethodNotAllowedError(f"POST is not supported on {req.path}")
        body = validation.conform_kind("", "v1", "Binding", read_object(req, self.body_limit))
        target = body.get("target") if isinstance(body.get("target"), dict) else {}
        node = target.get("name")
        if not isinstance(node, str) or not node:
            raise errors.invalid("Binding", t.name, [("target.name", "FieldValueRequired", "Required value")])
        send_json(resp, self.registry.bind(t.name or "", t.namespace, node), 201)

    def _invoke(self, req: falcon.Request, resp: falcon.Response, t: Target) -> None:
        """Hand a call to the invoker of `t`'s resource and send its answer back as it is."""
        invoker = self.invokers.get(t.rt.group_plural)
        if invoker is None:
            raise errors.NotFoundError(f"the invoke subresource is not served for {t.rt.group_plural} by this "
                                       "server")
        body = read_raw(req, self.body_limit)
        headers = {k: v for k, v in req.headers.items() if k.upper() not in _PRIVATE_HEADERS}
        params = {key: req.get_param(key) or "" for key in req.params}
        code, answer_headers, answer = invoker(t.namespace, t.name or "", body, headers, params)
        resp.status = falcon.code_to_http_status(code)
        for key, value in answer_headers.items():
            if key.lower() not in _HOP_HEADERS:
                resp.set_header(key, value)
        resp.data = answer

    def _exists(self, t: Target) -> bool:
        try:
            served_registry(self.registry, t.rt).get(t.rt, t.name or "", t.namespace)
            return True
        except errors.NotFoundError:
            return False

    def _set_replicas(self, t: Target, replicas: Any) -> Obj:
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise errors.invalid("Scale", t.name, [("spec.replicas", "FieldValueInvalid",
                                                    f"Invalid value: {replicas!r}: must be greater than or equal to 0")])

        before: list[Any] = []

        def change(o: Obj) -> Obj:
            before[:] = [o.setdefault("spec", {}).get("replicas")]
            o["spec"]["replicas"] = replicas
            return o

        scaled = self.registry.mutate(t.rt, t.name or "", t.namespace, change)
        if before and before[0] != replicas:
            self.events.record(t.rt, scaled, "Scaled", f"Scaled {t.rt.kind.lower()} {t.name} from {before[0]} to "
                               f"{replicas} replicas")
        return _scale_of(t.rt, scaled)

    # ---- watch ------------------------------------------------------------------------------

    def _watch(self, req: falcon.Request, resp: falcon.Response, t: Target,
               label_sel: selectors.LabelSelector, field_sel: selectors.FieldSelector) -> None:
        """Check and set up a watch, and leave its `WatchPlan` for the API front, which serves it on
        its loop (no thread per watch). Long-polls with events already waiting are answered here."""
        slot = req.env.get(WATCH_PLAN)
        if not isinstance(slot, PlanSlot):  # the private backend port: only the front sets watches up
            raise errors.BadRequestError("watches are served on the API address")
        # Everything the request says is checked before a slot is taken: a bad query costs no slot.
        prefix = t.rt.store_prefix(t.namespace)
        rv_param = req.get_param("resourceVersion") or ""
        revision = _parse_rv(rv_param) if rv_param else 0
        long_poll = query_bool(req, "longPoll")
        timeout = query_int(req, "timeoutSeconds")
        bookmarks = query_bool(req, "allowWatchBookmarks")
        table_version = tables.table_version(req.get_header("Accept", default="")) if not long_poll else None
        include_object = _include_object(req) if table_version else ""
        convert = t.rt.conversion.from_stored if t.rt.conversion is not None else None
        try:
            self.hub.acquire_slot()
        except WatchCapacityError as exc:
            raise errors.TooManyRequestsError(str(exc), retry_after_seconds=1) from exc
        try:
            lines = _WatchLines(t.rt, prefix, label_sel, field_sel, convert, table_version, include_object)
            if long_poll:
                timeout = min(30 if timeout is None else timeout, 600)
                slot.template = PollTemplate(prefix, lines.event, lines.shared, timeout)
                try:
                    events, revision = self.hub.events_after(revision)
                except CompactedError as exc:
                    raise errors.ExpiredError(_expired(exc)["message"]) from exc
                found = [line for c in events if (line := lines.event(c)) is not None]
                if found or timeout <= 0:
                    self.hub.release_slot()
                    resp.set_header("X-Minik8s-Revision", str(revision))
                    resp.content_type = "application/json"
                    resp.data = long_poll_body(revision, found)
                    return
                slot.plan = WatchPlan(prefix, revision, lines.event, self.hub.release_slot,
                                      time.monotonic() + timeout, long_poll=True, shared=lines.shared)
                return
            initial: list[bytes] = []
            ended = False
            if rv_param in ("", "0"):
                items, revision = served_registry(self.registry, t.rt).list(t.rt, t.namespace)
                initial = [lines.added(obj) + b"\n" for obj in items if _matches(obj, label_sel, field_sel)]
            else:
                try:
                    events, revision = self.hub.events_after(revision)
                    initial = [line + b"\n" for c in events if (line := lines.event(c)) is not None]
                except CompactedError as exc:
                    initial, ended = [error_line(_expired(exc))], True
            bookmark = None
            if bookmarks:
                def bookmark(rv: int) -> bytes:
                    return lines.bookmark(rv) + b"\n"
            resp.content_type = "application/json"
            slot.plan = WatchPlan(prefix, revision, lines.event, self.hub.release_slot,
                                  time.monotonic() + (timeout or random.randint(1800, 3600)),
                                  shared=lines.shared, initial=initial, ended=ended, bookmark=bookmark)
        except BaseException:
            self.hub.release_slot()
            raise


def long_poll_body(revision: int, lines: list[bytes]) -> bytes:
    """A long-poll answer: a `WatchEventList` of `lines` (encoded events) and the revision to ask for next."""
    return (b'{"kind":"WatchEventList","apiVersion":"minik8s.io/v1","metadata":{"resourceVersion":"'
            + str(revision).encode() + b'"},"items":[' + b",".join(lines) + b"]}")


class _WatchLines:
    """Encodes one watcher's events: selectors (with their ADDED/DELETED transitions), conversion to
    the asked-for version, and Table events for kubectl (column definitions only in the first)."""

    def __init__(self, rt: ResourceType, prefix: str, label_sel: selectors.LabelSelector,
                 field_sel: selectors.FieldSelector, convert: Callable[[Obj], Obj] | None,
                 table_version: str | None, include_object: str) -> None:
        self.rt, self.prefix, self.label_sel, self.field_sel = rt, prefix, label_sel, field_sel
        self.convert, self.table_version, self.include_object = convert, table_version, include_object
        self.first = True
        self.shared = not (label_sel.requirements or field_sel.requirements or convert or table_version)

    def event(self, cached: CachedEvent) -> bytes | None:
        line = _watch_line(cached, self.prefix, self.label_sel, self.field_sel, self.convert)
        if line is None or not self.table_version:
            return line
        event = json.loads(line)
        return self._table(event["type"], event["object"])

    def added(self, obj: Obj) -> bytes:
        if self.table_version:
            return self._table("ADDED", obj)
        return _line("ADDED", obj).rstrip(b"\n")

    def bookmark(self, revision: int) -> bytes:
        return _line("BOOKMARK", {"kind": self.rt.kind, "apiVersion": self.rt.api_version,
                                  "metadata": {"resourceVersion": str(revision)}}).rstrip(b"\n")

    def _table(self, event_type: str, obj: Obj) -> bytes:
        assert self.table_version
        table_event = tables.table_event(self.rt, event_type, obj, include_object=self.include_object,
                                         first=self.first, version=self.table_version)
        self.first = False
        return json.dumps(table_event, separators=(",", ":"), allow_nan=False).encode()


_VERBS = {("GET", True): "get", ("GET", False): "list", ("POST", False): "create", ("PUT", True): "update",
          ("PATCH", True): "patch", ("DELETE", True): "delete", ("DELETE", False): "deletecollection"}


_SUBRESOURCE_VERBS = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch"}


def _verb(method: str, target: Target) -> str | None:
    """The Kubernetes verb of a request on a resource (None for subresources and other methods)."""
    if target.subresource is not None:
        return None
    return _VERBS.get((method, target.name is not None))


def _subresource_allows(method: str, target: Target) -> bool:
    """Whether the subresource the request names (if any) serves its method (discovery's verbs)."""
    if target.subresource is None:
        return True
    return _SUBRESOURCE_VERBS.get(method) in discovery.subresource(target.subresource).verbs


def _read_rv(req: falcon.Request) -> str | None:
    """The `resourceVersion` of a get or list: absent, or a non-negative integer (400 otherwise)."""
    raw = req.get_param("resourceVersion")
    if raw:
        _parse_rv(raw)
    return raw


def _include_object(req: falcon.Request) -> str:
    include = req.get_param("includeObject") or "Metadata"
    if include not in tables.INCLUDE_OBJECT:
        raise errors.BadRequestError(f"includeObject must be one of {', '.join(tables.INCLUDE_OBJECT)}")
    return include


def _table(req: falcon.Request, rt: ResourceType, items: list[Obj], resource_version: str, version: str) -> Obj:
    return tables.table(rt, items, resource_version=resource_version, include_object=_include_object(req),
                        version=version)


def _parse_rv(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19:
        raise errors.BadRequestError(f"resourceVersion: Invalid value: {raw[:64]!r}: must be a non-negative "
                                     "integer (a resourceVersion from a list, get or watch)")
    return int(raw)


def _expired(exc: CompactedError) -> Obj:
    return errors.ExpiredError(f"too old resource version: {exc.revision} ({exc.floor})").to_status()


def error_line(status: Obj) -> bytes:
    """A watch stream's ERROR event (with newline) carrying a Status."""
    return _line("ERROR", status)


def _line(event_type: str, obj: Obj) -> bytes:
    return json.dumps({"type": event_type, "object": obj}, separators=(",", ":"), allow_nan=False).encode() + b"\n"


def _watch_line(cached: CachedEvent, prefix: str, label_sel: selectors.LabelSelector,
                field_sel: selectors.FieldSelector, convert: Callable[[Obj], Obj] | None = None) -> bytes | None:
    """The event as this watcher must see it, or None; `convert` turns the stored object into the
    version the watcher asked for (None: the stored version, whose encoded line is shared).

    With selectors, a change that makes an object start matching is ADDED and one that makes it
    stop matching is DELETED (carrying the new state), as in Kubernetes.
    """
    event = cached.event
    if not event.key.startswith(prefix):
        return None
    kind = event.type
    if label_sel.requirements or field_sel.requirements:
        now = _matches(event.object, label_sel, field_sel)
        before = _matches(event.previous, label_sel, field_sel) if kind == "MODIFIED" and event.previous else now
        if not now and not before:
            return None
        if now != before:
            kind = "ADDED" if now else "DELETED"
    if convert is None and kind == event.type:
        return cached.line
    return _line(kind, convert(event.object) if convert else event.object).rstrip(b"\n")


def _matches(obj: Obj, label_sel: selectors.LabelSelector, field_sel: selectors.FieldSelector) -> bool:
    return label_sel.matches((obj.get("metadata") or {}).get("labels") or {}) and field_sel.matches(obj)


_FIELD_VALIDATION = ("Ignore", "Warn", "Strict")
_WARNINGS_BYTES = 4096  # at most this much Warning header text per response; the rest is counted


def _field_validation(req: falcon.Request) -> str:
    """The `fieldValidation` directive: Warn by default, as in kube-apiserver; 400 for other values."""
    raw = req.get_param("fieldValidation") or "Warn"
    for directive in _FIELD_VALIDATION:
        if raw.lower() == directive.lower():
            return directive
    raise errors.BadRequestError(f'fieldValidation must be one of "Ignore", "Strict", or "Warn", not {raw[:64]!r}')


def _check_fields(req: falcon.Request, resp: falcon.Response, rt: ResourceType, obj: Obj) -> None:
    """Unknown fields as kube-apiserver treats them: Strict rejects the write naming them; Warn (the
    default) drops them from `obj`, each named in a `Warning: 299` header; Ignore drops them."""
    directive = _field_validation(req)
    if directive == "Strict":
        unknown = strictfields.unknown_fields(rt, obj)
        if unknown:
            raise errors.BadRequestError(
                f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: strict decoding error: '
                + ", ".join(f'unknown field "{path[:256]}"' for path in unknown[:100]))
        return
    dropped = strictfields.drop_unknown_fields(rt, obj)
    if directive == "Warn" and dropped:
        _warn(req, resp, [f'unknown field "{path}"' for path in dropped])


def _warn(req: falcon.Request, resp: falcon.Response, messages: list[str]) -> None:
    """Add `Warning: 299 - "<message>"` headers: each message once per request (a patch may be
    retried), each cut to 256 characters, and about `_WARNINGS_BYTES` of them in all."""
    context = req.context
    if not hasattr(context, "warnings_sent"):
        context.warnings_sent, context.warnings_bytes = set(), 0
    for message in messages:
        if message in context.warnings_sent:
            continue
        context.warnings_sent.add(message)
        text = json.dumps(message[:256])  # a quoted string; escapes quotes, control and non-ASCII characters
        if context.warnings_bytes > _WARNINGS_BYTES:
            continue
        context.warnings_bytes += len(text)
        if context.warnings_bytes > _WARNINGS_BYTES:
            text = '"further warnings were left out"'
        resp.append_header("Warning", f"299 - {text}")


def _check_kind(rt: ResourceType, body: Obj) -> None:
    kind, api_version = body.get("kind"), body.get("apiVersion")
    if kind is not None and kind != rt.kind:
        raise errors.BadRequestError(f"the kind of the object ({kind}) does not match the resource ({rt.plural}, "
                                     f"kind {rt.kind})")
    if api_version is not None and api_version != rt.api_version:
        raise errors.BadRequestError(f"the apiVersion of the object ({api_version}) does not match the resource "
                                     f"({rt.api_version})")


def _scale_of(rt: ResourceType, obj: Obj) -> Obj:
    meta = obj["metadata"]
    selector = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": meta["name"], "namespace": meta.get("namespace"), "uid": meta.get("uid"),
                     "resourceVersion": meta.get("resourceVersion"),
                     "creationTimestamp": meta.get("creationTimestamp")},
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
        "status": {"replicas": (obj.get("status") or {}).get("replicas", 0),
                   "selector": ",".join(f"{k}={v}" for k, v in sorted(selector.items()))},
    }
