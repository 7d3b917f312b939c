"""Object semantics between HTTP and consensus: what create, update and delete mean.

Everything non-deterministic is fixed here before proposing (uid, timestamps, generated
names, defaults), so the replicated apply stays a pure function. Writes are typed store
commands; a rejected one becomes an API error here, once, through the `Reason` table below.

A kind with an `Allocator` (Services: `serviceallocation`) has index keys written with it: its
creates, updates and removals become one `Txn` with the allocator's index writes, so the object
and what it holds commit or fail together. A rejection on an index key means "plan again" (a
value this master picked was taken meanwhile) or the allocator's own 422.
"""

from __future__ import annotations

import copy
import random
import string
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol

from minik8s.api import errors, objects, validation
from minik8s.api.kinds import BUILTIN_NAMESPACES, ResourceType, resolve
from minik8s.api.timefmt import format_time
from minik8s.consensus import Consensus, ConsensusError
from minik8s.store import (
    Create, Delete, Op, Reason, Rejected, Result, Store, Txn, UnencodableError, Update, Write,
)

from . import deletion

Obj = dict[str, Any]

_NAMESPACES = resolve("namespaces")
_ALLOCATION_TRIES = 20  # creates whose picked values (cluster IPs, node ports) other masters took first


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


def _index_rejected(result: Result, key: str) -> bool:
    """A Txn was refused on one of its index keys (not on the object's own key)."""
    return isinstance(result, Rejected) and bool(result.key) and result.key != key


def _with_index(command: Op, ops: list[Op]) -> Write:
    """The object's own write, alone or in a Txn with the index writes that go with it."""
    return Txn(ops=(command, *ops)) if ops else command


class AllocationPlan(Protocol):
    """An object with what it was allocated filled in, and the index writes that go with it."""

    object: Obj
    ops: list[Op]


class Allocator(Protocol):
    """Index keys a kind's objects hold (Services: their cluster IPs and node ports)."""

    def plan_create(self, obj: Obj) -> AllocationPlan: ...

    def plan_update(self, new: Obj, old: Obj) -> AllocationPlan: ...

    def release(self, old: Obj) -> list[Op]: ...

    def rejected(self, plan: Any, rejected: Rejected) -> errors.ApiError | None: ...


class Registry:
    """CRUD on API objects through Raft; reads from the local replica (after a barrier if asked)."""

    def __init__(self, consensus: Consensus, store: Store, *, clock: Callable[[], float] = time.time,
                 write_timeout: float = 10.0, allocators: dict[str, Allocator] | None = None) -> None:
        self.consensus = consensus
        self.store = store
        self.clock = clock
        self.write_timeout = write_timeout
        self.allocators = allocators or {}  # by `ResourceType.group_plural`
        # name -> whether done: what must have run once before /readyz answers ok (kube-apiserver's
        # post-start hooks), e.g. the first pass of the kubernetes Service's reconciler
        self.post_start_hooks: dict[str, Callable[[], bool]] = {}

    # ---- plumbing ---------------------------------------------------------------------------

    def pending_post_start_hooks(self) -> list[str]:
        """The post-start hooks that have not finished yet."""
        return sorted(name for name, done in self.post_start_hooks.items() if not done())

    def propose(self, command: Write) -> Result:
        """Propose a raw store command (server-internal upkeep such as the allocation repair)."""
        return self._propose(command)

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

    def current(self, rt: ResourceType, name: str, namespace: str | None, wanted_rv: str | None = None) -> Obj | None:
        """The stored object a write decides from (None: absent).

        This member's store may lag the leader's. An answer that would refuse the write (the object
        absent, or at another resourceVersion than the one the client names) is confirmed after a
        Raft barrier before it is believed: a write is never refused for what this member has not
        applied yet. (Even a newer local version is confirmed: the object may have been deleted
        since, and the answer is then 404, not 409.)
        """
        key = rt.store_key(name, namespace)
        obj = self.store.get(key)
        if obj is None or _differs(obj, wanted_rv):
            self.consistent_read(None)
            obj = self.store.get(key)
        return obj

    def existing(self, rt: ResourceType, name: str, namespace: str | None, wanted_rv: str | None = None) -> Obj:
        """As `current`, for a write that needs the object: 404 when it is absent."""
        obj = self.current(rt, name, namespace, wanted_rv)
        if obj is None:
            raise self.not_found(rt, name)
        return obj

    def list(self, rt: ResourceType, namespace: str | None) -> tuple[list[Obj], int]:
        return self.store.list(rt.store_prefix(namespace))

    def builtin_namespaces_exist(self) -> bool:
        """default, kube-system and kube-node-lease are in the local replica."""
        return all(self.store.get(_NAMESPACES.store_key(ns)) is not None for ns in BUILTIN_NAMESPACES)

    # ---- writes -----------------------------------------------------------------------------

    def _check_namespace(self, rt: ResourceType, namespace: str | None, name: str) -> None:
        """Creates need the namespace to exist and not be terminating (Kubernetes' NamespaceLifecycle)."""
        if not rt.namespaced:
            return
        ns = self.current(_NAMESPACES, namespace or "", None)
        if ns is None:
            raise errors.NotFoundError(f'namespaces "{namespace}" not found', name=namespace, kind="namespaces")
        if ns.get("metadata", {}).get("deletionTimestamp"):
            raise errors.ForbiddenError(
                f'{rt.group_plural} "{name}" is forbidden: unable to create new content in namespace {namespace} '
                f"because it is being terminated", name=name, kind=rt.plural, group=rt.group or None,
                causes=[{"reason": "NamespaceTerminating", "message": f"namespace {namespace} is being terminated",
                         "field": "metadata.namespace"}])

    def create(self, rt: ResourceType, body: Obj, namespace: str | None, *,
               managed_fields: list[Obj] | None = None) -> Obj:
        """Validate, default and create; retries generated names that collide."""
        body = validation.conform(rt, body)
        self._check_namespace(rt, namespace, (body.get("metadata") or {}).get("name") or "")
        name_tries = 5
        for _ in range(_ALLOCATION_TRIES):
            now = self.clock()
            suffix = "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
            obj = objects.prepare_create(rt, body, namespace=namespace, now=format_time(now), uid=str(uuid.uuid4()),
                                         name_suffix=suffix)
            if managed_fields:
                obj["metadata"]["managedFields"] = managed_fields
            validation.validate(rt, obj)
            name = obj["metadata"]["name"]
            key = rt.store_key(name, namespace)
            allocator = self.allocators.get(rt.group_plural)
            plan = allocator.plan_create(obj) if allocator else None
            command = _with_index(Create(key=key, object=plan.object), plan.ops) if plan else Create(key=key, object=obj)
            result = self._propose(command)
            if allocator and _index_rejected(result, key):
                assert isinstance(result, Rejected)
                if (error := allocator.rejected(plan, result)) is not None:
                    raise error
                continue  # a value this master picked was taken meanwhile: pick again
            generated = not (body.get("metadata") or {}).get("name")
            if _rejected_for(result, Reason.ALREADY_EXISTS) and generated:
                name_tries -= 1
                if name_tries:
                    continue
                raise errors.AlreadyExistsError("could not generate a unique name; try again")
            return self._raise_for(result, rt, name)
        raise errors.ConflictError(f'{rt.group_plural} "{name}": what it holds was taken by concurrent writers '
                                   f"{_ALLOCATION_TRIES} times; try again")

    def update(self, rt: ResourceType, name: str, namespace: str | None, body: Obj, *,
               subresource: str | None = None, managed_fields: list[Obj] | None = None) -> Obj:
        """Replace an object (PUT). A body resourceVersion is a precondition (409 when stale)."""
        body = validation.conform(rt, body)
        wanted_rv = (body.get("metadata") or {}).get("resourceVersion") or None
        for _ in range(10):
            old = self.current(rt, name, namespace, wanted_rv)
            if old is None:
                if rt.strategy.create_on_update and subresource is None:
                    return self.create(rt, body, namespace)
                raise self.not_found(rt, name)
            if wanted_rv is not None and wanted_rv != old["metadata"].get("resourceVersion"):
                return self._raise_for(Rejected(Reason.CONFLICT, "the object has been modified; please apply your "
                                                "changes to the latest version and try again"), rt, name)
            if subresource in rt.strategy.subresource_writes():
                new = objects.prepare_subresource_update(rt, subresource, body, old)
            else:
                new = objects.prepare_update(rt, body, old, now=format_time(self.clock()))
            if managed_fields is not None:
                new["metadata"]["managedFields"] = managed_fields
            if _same_content(new, old):
                return old  # a no-op write is not written (no new resourceVersion), as in Kubernetes
            validation.validate(rt, new, old=old, status=subresource == "status")
            key = rt.store_key(name, namespace)
            allocator = self.allocators.get(rt.group_plural) if subresource is None else None
            plan = allocator.plan_update(new, old) if allocator else None
            revision = int(old["metadata"]["resourceVersion"])
            result = self._propose(_with_index(Update(key=key, object=plan.object if plan else new,
                                                      expected_revision=revision), plan.ops if plan else []))
            if allocator and _index_rejected(result, key):
                assert isinstance(result, Rejected)
                if (error := allocator.rejected(plan, result)) is not None:
                    raise error
                continue  # an index key changed under the plan: plan again
            if _rejected_for(result, Reason.CONFLICT) and wanted_rv is None:
                continue  # unconditional update raced another writer: redo on the new state
            obj = self._raise_for(result, rt, name)
            return self._finish_if_done(rt, name, namespace, obj)
        raise errors.ConflictError(f'{rt.group_plural} "{name}": too many concurrent updates, try again')

    def mutate(self, rt: ResourceType, name: str, namespace: str | None, change: Callable[[Obj], Obj], *,
               subresource: str | None = None) -> Obj:
        """Read-modify-write with optimistic retries (used by PATCH and scale)."""
        for _ in range(10):
            old = self.existing(rt, name, namespace)
            new = validation.conform(rt, change(copy.deepcopy(old)))
            new.setdefault("metadata", {})["resourceVersion"] = old["metadata"]["resourceVersion"]
            try:
                return self.update(rt, name, namespace, new, subresource=subresource,
                                   managed_fields=new["metadata"].get("managedFields"))
            except errors.ConflictError:
                continue
        raise errors.ConflictError(f'{rt.group_plural} "{name}": too many concurrent updates, try again')

    def mutate_raw(self, rt: ResourceType, name: str, namespace: str | None, change: Callable[[Obj], Obj]) -> Obj:
        """Server-internal read-modify-write (bindings): no defaulting, optimistic retries."""
        for _ in range(10):
            old = self.existing(rt, name, namespace)
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
        """An object marked for deletion that nothing holds any more (finalizers, grace period) goes now."""
        if deletion.finished(rt.strategy, obj):
            key = rt.store_key(name, namespace)
            for _ in range(5):
                result = self._propose(self._removal(rt, key, obj))
                if not _index_rejected(result, key):
                    break
            if isinstance(result, Rejected) and result.reason not in (Reason.NOT_FOUND, Reason.CONFLICT):
                raise api_error(result, rt, name)  # a later write (or a repeat) finishes it otherwise
        return obj

    def _removal(self, rt: ResourceType, key: str, obj: Obj) -> Write:
        """The command that removes `obj` (at its uid and revision), with the release of what it holds."""
        command = Delete(key=key, expected_uid=obj["metadata"].get("uid"),
                         expected_revision=int(obj["metadata"]["resourceVersion"]))
        allocator = self.allocators.get(rt.group_plural)
        return _with_index(command, allocator.release(obj)) if allocator else command

    def delete(self, rt: ResourceType, name: str, namespace: str | None, options: Obj) -> Obj:
        """DELETE: mark the object or remove it, as `deletion.plan_delete` decides; never cascade.

        Dependents (garbage collector) and a namespace's content (namespace controller) are the
        controllers' work: the `orphan` and `foregroundDeletion` finalizers and a namespace's
        `spec.finalizers` hold the object until they are done.
        """
        grace = options.get("gracePeriodSeconds")
        if grace is not None and (isinstance(grace, bool) or not isinstance(grace, int)
                                  or not validation.INT64[0] <= grace <= validation.INT64[1]):
            raise errors.BadRequestError(f"gracePeriodSeconds must be a 64-bit integer, not {grace!r:.64}")
        wanted_rv = (options.get("preconditions") or {}).get("resourceVersion")
        for _ in range(10):
            obj = self.existing(rt, name, namespace, wanted_rv if isinstance(wanted_rv, str) else None)
            forbidden = rt.strategy.delete_forbidden(obj)
            if forbidden:
                raise errors.ForbiddenError(f'{rt.plural} "{name}" is forbidden: {forbidden}', name=name,
                                            kind=rt.plural)
            _check_preconditions(rt, name, obj, options.get("preconditions") or {})
            plan = deletion.plan_delete(rt.strategy, obj, options, now=self.clock())
            revision = int(obj["metadata"]["resourceVersion"])
            key = rt.store_key(name, namespace)
            if plan.action is deletion.Action.KEEP:
                return obj
            if plan.action is deletion.Action.NOW:
                result = self._propose(self._removal(rt, key, obj))
            else:
                result = self._propose(Update(key=key, object=plan.object, expected_revision=revision))
            if not _rejected_for(result, Reason.CONFLICT) and not _index_rejected(result, key):
                return self._raise_for(result, rt, name)
        raise errors.ConflictError(f'{rt.group_plural} "{name}": too many concurrent updates, try again')


def _differs(obj: Obj, wanted_rv: str | None) -> bool:
    """Whether `obj` is at another resourceVersion than the one a client named (None: no precondition)."""
    return wanted_rv is not None and (obj.get("metadata") or {}).get("resourceVersion") != wanted_rv


def _check_preconditions(rt: ResourceType, name: str, obj: Obj, pre: Obj) -> None:
    """A DELETE's `preconditions` (uid, resourceVersion) against the stored object: 409 when unmet."""
    meta = obj["metadata"]
    for field, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
        wanted = pre.get(field)
        if wanted and wanted != meta.get(field):
            raise api_error(Rejected(Reason.CONFLICT, f"Precondition failed: {label} in precondition: {wanted}, "
                                                      f"{label} in object meta: {meta.get(field) or ''}"), rt, name)


def _same_content(new: Obj, old: Obj) -> bool:
    """Equal but for the resourceVersion the client sent."""
    def strip(o: Obj) -> Obj:
        return {**o, "metadata": {k: v for k, v in (o.get("metadata") or {}).items() if k != "resourceVersion"}}
    return strip(new) == strip(old)
