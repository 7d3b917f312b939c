"""The garbage collector's view of ownership: cached objects by uid, and dependents by owner uid.

Kubernetes' collector keeps a graph of owners and dependents beside its informers
(`graph_builder.go`); this is the same as an index over the informers' caches, like a client-go
Indexer: informer handlers update it (with the cached objects themselves, never modified), and
reconciles read it. It answers "which cached object has this uid" and "which cached objects
reference this uid", across every kind.

Work-queue keys name an object across kinds: `<resource>[.<group>]/<namespace>/<name>` (no
namespace part for cluster-scoped objects).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from minik8s.api.informer import object_key
from minik8s.api.kinds import ResourceType
from minik8s.api.ownership import owner_references

Obj = dict[str, Any]


def queue_key(rt: ResourceType, obj: Obj) -> str:
    """The work-queue key of `obj` (of kind `rt`)."""
    return f"{rt.group_plural}/{object_key(obj)}"


def split_key(key: str) -> tuple[str, str]:
    """A queue key as (`resource[.group]`, the informer's `namespace/name` or `name`)."""
    resource, _, rest = key.partition("/")
    return resource, rest


@dataclass(frozen=True)
class Entry:
    """One cached object and its kind."""

    rt: ResourceType
    obj: Obj

    @property
    def key(self) -> str:
        """Its work-queue key."""
        return queue_key(self.rt, self.obj)


def _uid(obj: Obj) -> str | None:
    uid = (obj.get("metadata") or {}).get("uid")
    return uid if isinstance(uid, str) and uid else None


class OwnerIndex:
    """Thread-safe: objects by uid and dependents by the owner uids they reference."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_uid: dict[str, Entry] = {}
        self._dependents: dict[str, dict[str, Entry]] = {}  # owner uid -> queue key -> dependent

    def upsert(self, rt: ResourceType, obj: Obj) -> set[str]:
        """Index `obj` as it is now; returns the owner uids it referenced before and no longer does."""
        uid = _uid(obj)
        if uid is None:
            return set()
        entry = Entry(rt, obj)
        owners = {ref["uid"] for ref in owner_references(obj)}
        with self._lock:
            previous = self._by_uid.get(uid)
            before = {ref["uid"] for ref in owner_references(previous.obj)} if previous else set()
            self._by_uid[uid] = entry
            for owner in before - owners:
                self._unlink(owner, entry.key)
            for owner in owners:
                self._dependents.setdefault(owner, {})[entry.key] = entry
        return before - owners

    def remove(self, rt: ResourceType, obj: Obj) -> None:
        """Forget `obj` (deleted)."""
        uid = _uid(obj)
        if uid is None:
            return
        with self._lock:
            previous = self._by_uid.pop(uid, None)
            for ref in owner_references(previous.obj if previous else obj):
                self._unlink(ref["uid"], queue_key(rt, obj))

    def get(self, uid: str) -> Entry | None:
        """The cached object with `uid`, or None."""
        with self._lock:
            return self._by_uid.get(uid)

    def dependents(self, uid: str) -> list[Entry]:
        """The cached objects that reference `uid` as an owner."""
        with self._lock:
            return [*self._dependents.get(uid, {}).values()]

    def _unlink(self, owner: str, key: str) -> None:
        linked = self._dependents.get(owner)
        if linked is not None:
            linked.pop(key, None)
            if not linked:
                del self._dependents[owner]
