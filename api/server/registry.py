"""Object semantics between HTTP and consensus: what create, update and delete mean.

Everything non-deterministic is fixed here before proposing (uid, timestamps, generated
names, defaults), so the replicated apply stays a pure function. Writes are typed store
commands; a rejected one becomes an API error here, once, through the `Reason` table below.
"""

from __future__ import annotations

import copy
import random
import string
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from minik8s.api import errors, objects, validation
from minik8s.api.kinds import BUILTIN_NAMESPACES, RESOURCES, ResourceType, resolve
from minik8s.api.timefmt import format_time
from minik8s.consensus import Consensus, ConsensusError
from minik8s.store import Create, Delete, Reason, Rejected, Result, Store, UnencodableError, Update, Write

Obj = dict[str, Any]

_NAMESPACES = resolve("namespaces")


def _not_found(rt: ResourceType, name: str, message: str) -> errors.NotFoundError:
    return errors.NotFoundError(f'{rt.group_plural} "{name}" not found', name=name, kind=rt.plural, group=rt.group)


def _already_exists(rt: ResourceType, name: str, message: str) -> errors.ApiError:
    return errors.AlreadyExistsError(f'{rt.group_plural} "{name}" already exists', name=name, kind=rt.plural,
                                     group=rt.group)


def _conflict(rt: ResourceType, name: str, message: str) -> errors.ApiError:
    return errors.ConflictError(f'Operation cannot be fulfilled on {rt.group_plural} "{name}": {message}',
                                name=name, kind=rt.plural, group=rt.group)


def _internal(rt: ResourceType, name: str, message: str) -> errors.ApiError:
    return errors.InternalError(f"store error: {message}")


# The one place where a store rejection becomes what the client sees.
_API_ERRORS: dict[Reason, Callable[[ResourceType, str, str], errors.ApiError]] = {
    Reason.NOT_FOUND: _not_found,
    Reason.ALREADY_EXISTS: _already_exists,
    Reason.CONFLICT: _conflict,
    Reason.ALREADY_APPLIED: _internal,  # consensus re-proposes a replayed entry; never answered with it
    Reason.BAD_COMMAND: _internal,
    Reason.INTERNAL: _internal,
}


def api_error(rejected: Rejected, rt: ResourceType, name: str) -> errors.ApiError:
    """The API error for a rejected write of `name` (of kind `rt`)."""
    return _API_ERRORS[rejected.reason](rt, name, rejected.message)


def _rejected_for(result: Result, reason: Reason) -> bool:
    return isinstance(result, Rejected) and result.reason is reason


class Registry:
    """CRUD on API objects through Raft; reads from the local replica (after a barrier if asked)."""

    def __init__(self, consensus: Consensus, store: Store, *, clock: Callable[[], float] = time.time,
                 write_timeout: float = 10.0) -> None:
        self.consensus = consensus
        self.store = store
        self.clock = clock
        self.write_timeout = write_timeout

    # ---- plumbing ---------------------------------------------------------------------------

    def _propose(self, command: Write) -> Result:
        try:  # consensus refuses, before proposing, what could not decode and apply on every member
            return self.consensus.propose(replace(command, now=self.clock()), timeout=self.write_timeout)
        except UnencodableError as exc:
            raise errors.InternalError(f"refusing to replicate an object the store cannot encode: {exc}") from exc
        except ConsensusError as exc:
            raise errors.TimeoutError_(f"the write could not be confirmed by a quorum of masters: {exc}") from exc

    def consistent_read(self, resource_version: str | None) -> None:
        """Wait for a Raft barrier unless the client accepts a local (possibly stale) read."""
        if resource_version in ("0",):
            return
        try:
            self.consensus.barrier(timeout=self.write_timeout)
        except ConsensusError as exc:
            raise errors.ServiceUnavailableError(f"cannot confirm a consistent read: {exc}") from exc

    @staticmethod
    def _raise_for(result: Result, rt: ResourceType, name: str) -> Obj:
        """The object a write stored, or the API error for why it was rejected."""
        if isinstance(result, Rejected):
            raise api_error(result, rt, name)
        assert result.object is not None  # writes always return their object
        return result.object

    def not_found(self, rt: ResourceType, name: str) -> errors.NotFoundError:
        """The 404 for `name` of kind `rt`."""
        return _not_found(rt, name, "")

    # ---- reads ------------------------------------------------------------------------------

    def get(self, rt: ResourceType, name: str, namespace: str | None) -> Obj:
        obj = self.store.get(rt.store_key(name, namespace))
        if obj is None:
            raise self.not_found(rt, name)
        return obj

    def list(self, rt: ResourceType, namespace: str | None) -> tuple[list[Obj], int]:
        return self.store.list(rt.store_prefix(namespace))

    def builtin_namespaces_exist(self) -> bool:
        """default, kube-system and kube-node-lease are in the local replica."""
        return all(self.store.get(_NAMESPACES.store_key(ns)) is not None for ns in BUILTIN_NAMESPACES)

    # ---- writes -----------------------------------------------------------------------------

    def _check_namespace(self, rt: ResourceType, namespace: str | None) -> None:
        if not rt.namespaced:
            return
        ns = self.store.get(_NAMESPACES.store_key(namespace or ""))
        if ns is None:
            raise errors.NotFoundError(f'namespaces "{namespace}" not found', name=namespace, kind="namespaces")
        if ns.get("metadata", {}).get("deletionTimestamp"):
            raise errors.ForbiddenError(
                f'{rt.plural} "{namespace}" is forbidden: unable to create new content in namespace {namespace} '
                f"because it is being terminated", name=namespace, kind="namespaces")

    def create(self, rt: ResourceType, body: Obj, namespace: str | None, *,
               managed_fields: list[Obj] | None = None) -> Obj:
        """Validate, default and create; retries generated names that collide."""
        body = validation.conform(rt, body)
        self._check_namespace(rt, namespace)
        for _ in range(5):
            now = self.clock()
            suffix = "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
            obj = objects.prepare_create(rt, body, namespace=namespace, now=format_time(now), uid=str(uuid.uuid4()),
                                         name_suffix=suffix)
            if managed_fields:
                obj["metadata"]["managedFields"] = managed_fields
            validation.validate(rt, obj)
            name = obj["metadata"]["name"]
            result = self._propose(Create(key=rt.store_key(name, namespace), object=obj))
            generated = not (body.get("metadata") or {}).get("name")
            if _rejected_for(result, Reason.ALREADY_EXISTS) and generated:
                continue
            return self._raise_for(result, rt, name)
        raise errors.AlreadyExistsError("could not generate a unique name; try again")

    def update(self, rt: ResourceType, name: str, namespace: str | None, body: Obj, *,
               subresource: str | None = None, managed_fields: list[Obj] | None = None) -> Obj:
        """Replace an object (PUT). A body resourceVersion is a precondition (409 when stale)."""
        body = validation.conform(rt, body)
        wanted_rv = (body.get("metadata") or {}).get("resourceVersion") or None
        for _ in range(10):
            old = self.store.get(rt.store_key(name, namespace))
            if old is None:
                if rt.strategy.create_on_update and subresource is None:
                    return self.create(rt, body, namespace)
                raise self.not_found(rt, name)
            if wanted_rv is not None and wanted_rv != old["metadata"].get("resourceVersion"):
                return self._raise_for(Rejected(Reason.CONFLICT, "the object has been modified; please apply your "
                                                "changes to the latest version and try again"), rt, name)
            if subresource == "status":
                new = objects.prepare_status_update(rt, body, old)
            else:
                new = objects.prepare_update(rt, body, old, now=format_time(self.clock()))
            if managed_fields is not None:
                new["metadata"]["managedFields"] = managed_fields
            if _same_content(new, old):
                return old  # a no-op write is not written (no new resourceVersion), as in Kubernetes
            validation.validate(rt, new, old=old, status=subresource == "status")
            result = self._propose(Update(key=rt.store_key(name, namespace), object=new,
                                          expected_revision=int(old["metadata"]["resourceVersion"])))
            if _rejected_for(result, Reason.CONFLICT) and wanted_rv is None:
                continue  # unconditional update raced another writer: redo on the new state
            obj = self._raise_for(result, rt, name)
            return self._finish_if_done(rt, name, namespace, obj)
        raise errors.ConflictError(f'{rt.group_plural} "{name}": too many concurrent updates, try again')

    def mutate(self, rt: ResourceType, name: str, namespace: str | None, change: Callable[[Obj], Obj], *,
               subresource: str | None = None) -> Obj:
        """Read-modify-write with optimistic retries (used by PATCH and scale)."""
        for _ in range(10):
            old = self.get(rt, name, namespace)
            new = validation.conform(rt, change(copy.deepcopy(old)))
            new.setdefault("metadata", {})["resourceVersion"] = old["metadata"]["resourceVersion"]
            try:
                return self.update(rt, name, namespace, new, subresource=subresource,
                                   managed_fields=new["metadata"].get("managedFields"))
            except errors.ConflictError:
                continue
        raise errors.ConflictError(f'{rt.group_plural} "{name}": too many concurrent updates, try again')

    def mutate_raw(self, rt: ResourceType, name: str, namespace: str | None, change: Callable[[Obj], Obj]) -> Obj:
        """Server-internal read-modify-write (deletion marks): no defaulting, optimistic retries."""
        for _ in range(10):
            old = self.get(rt, name, namespace)
            new = change(copy.deepcopy(old))
            result = self._propose(Update(key=rt.store_key(name, namespace), object=new,
                                          expected_revision=int(old["metadata"]["resourceVersion"])))
            if not _rejected_for(result, Reason.CONFLICT):
                return self._raise_for(result, rt, name)
        raise errors.ConflictError(f'{rt.group_plural} "{name}": too many concurrent updates, try again')

    def bind(self, name: str, namespace: str | None, node: str) -> Obj:
        """`pods/binding`: set spec.nodeName once (409 Conflict when already bound elsewhere)."""
        pods = resolve("pods")

        def assign(o: Obj) -> Obj:
            current = (o.get("spec") or {}).get("nodeName")
            if current and current != node:
                raise errors.ConflictError(f'Operation cannot be fulfilled on pods/binding "{name}": pod {name} is '
                                           f"already assigned to node \"{current}\"", name=name, kind="pods")
            if o["metadata"].get("deletionTimestamp"):
                raise errors.ConflictError(f'pod "{name}" is being deleted, cannot be assigned to a host')
            o.setdefault("spec", {})["nodeName"] = node
            conditions = [c for c in (o.get("status") or {}).get("conditions") or [] if c.get("type") != "PodScheduled"]
            conditions.append({"type": "PodScheduled", "status": "True", "lastTransitionTime": format_time(self.clock())})
            o.setdefault("status", {})["conditions"] = conditions
            return o

        self.mutate_raw(pods, name, namespace, assign)
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}

    def _finish_if_done(self, rt: ResourceType, name: str, namespace: str | None, obj: Obj) -> Obj:
        """An object marked for deletion whose finalizers are all gone is deleted now."""
        meta = obj.get("metadata", {})
        if meta.get("deletionTimestamp") and not meta.get("finalizers") and not rt.strategy.graceful_deletion(obj):
            self._delete_now(rt, name, namespace, obj, uid=meta.get("uid"))
        return obj

    def delete(self, rt: ResourceType, name: str, namespace: str | None, options: Obj) -> Obj:
        """Delete, gracefully where Kubernetes would (finalizers, pods bound to a node)."""
        obj = self.get(rt, name, namespace)
        forbidden = rt.strategy.delete_forbidden(obj)
        if forbidden:
            raise errors.ForbiddenError(f'{rt.plural} "{name}" is forbidden: {forbidden}', name=name, kind=rt.plural)
        meta = obj["metadata"]
        pre = options.get("preconditions") or {}
        uid = pre.get("uid")
        if pre.get("resourceVersion") and pre["resourceVersion"] != meta.get("resourceVersion"):
            return self._raise_for(Rejected(Reason.CONFLICT, "precondition failed: resourceVersion"), rt, name)
        grace = options.get("gracePeriodSeconds")
        if grace is not None and (isinstance(grace, bool) or not isinstance(grace, int)
                                  or not validation.INT64[0] <= grace <= validation.INT64[1]):
            raise errors.BadRequestError(f"gracePeriodSeconds must be a 64-bit integer, not {grace!r:.64}")
        if rt.plural == "namespaces":
            return self._delete_namespace(name, obj)
        if meta.get("finalizers") or (rt.strategy.graceful_deletion(obj) and grace != 0):
            if meta.get("deletionTimestamp"):
                return obj
            if grace is None:
                grace = rt.strategy.default_grace_period(obj)

            def mark(o: Obj) -> Obj:
                o["metadata"]["deletionTimestamp"] = format_time(self.clock() + int(grace))
                o["metadata"]["deletionGracePeriodSeconds"] = int(grace)
                return o

            return self.mutate_raw(rt, name, namespace, mark)
        deleted = self._delete_now(rt, name, namespace, obj, uid=uid)
        self._handle_dependents(deleted, options.get("propagationPolicy") or "Background")
        return deleted

    def _dependents(self, owner: Obj) -> list[tuple[ResourceType, Obj]]:
        """Objects whose ownerReferences name `owner` (same namespace; any for cluster-scoped owners)."""
        uid = owner["metadata"].get("uid")
        namespace = owner["metadata"].get("namespace")
        found = []
        for rt in RESOURCES:
            if not rt.namespaced and namespace:
                continue
            items, _ = self.list(rt, namespace if rt.namespaced else None)
            for item in items:
                if any(ref.get("uid") == uid for ref in item["metadata"].get("ownerReferences") or []):
                    found.append((rt, item))
        return found

    def _handle_dependents(self, owner: Obj, policy: str) -> None:
        """Garbage-collect (Background/Foreground) or orphan (Orphan) what `owner` owned."""
        uid = owner["metadata"].get("uid")
        for rt, item in self._dependents(owner):
            meta = item["metadata"]
            try:
                if policy == "Orphan":
                    def orphan(o: Obj) -> Obj:
                        refs = [r for r in o["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
                        o["metadata"]["ownerReferences"] = refs
                        return o
                    self.mutate_raw(rt, meta["name"], meta.get("namespace"), orphan)
                else:
                    self.delete(rt, meta["name"], meta.get("namespace"), {"propagationPolicy": policy})
            except errors.NotFoundError:
                pass

    def _delete_now(self, rt: ResourceType, name: str, namespace: str | None, obj: Obj, *, uid: str | None) -> Obj:
        expected_uid = uid or obj["metadata"].get("uid")
        result = self._propose(Delete(key=rt.store_key(name, namespace), expected_uid=expected_uid))
        return self._raise_for(result, rt, name)

    def _delete_namespace(self, name: str, ns: Obj) -> Obj:
        """Mark Terminating, delete everything inside, then the namespace itself."""
        def terminating(o: Obj) -> Obj:
            o["metadata"].setdefault("deletionTimestamp", format_time(self.clock()))
            o.setdefault("status", {})["phase"] = "Terminating"
            return o

        marked = self.mutate_raw(_NAMESPACES, name, None, terminating)
        for rt in RESOURCES:
            if not rt.namespaced:
                continue
            items, _ = self.list(rt, name)
            for item in items:
                try:
                    self._delete_now(rt, item["metadata"]["name"], name, item, uid=None)
                except errors.NotFoundError:
                    pass
        try:
            self._delete_now(_NAMESPACES, name, None, marked, uid=None)
        except errors.NotFoundError:
            pass
        return marked


def _same_content(new: Obj, old: Obj) -> bool:
    """Equal but for the resourceVersion the client sent."""
    def strip(o: Obj) -> Obj:
        return {**o, "metadata": {k: v for k, v in (o.get("metadata") or {}).items() if k != "resourceVersion"}}
    return strip(new) == strip(old)
