"""A member whose store lags the leader's never refuses a write for what it has not applied yet.

The chaos suite found it: a DELETE on a lagging follower answered 404 for an object a completed
create had made, and a PUT answered 409 instead of 404 for one deleted since. Here a member's store
is behind its leader's by the writes `elsewhere` made; its barrier brings it up to date, as Raft's
read barrier does. Every way a write can be refused on local data is tried.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from minik8s.api import errors
from minik8s.api.kinds import resolve
from minik8s.api.server.registry import Registry
from minik8s.store import Create, Delete, Result, Store, Update

CM, NS = resolve("configmaps"), resolve("namespaces")


class LaggingConsensus:
    """Two stores, leader and member: writes made `elsewhere` reach the member only at its next barrier
    (or before its own next write, which Raft orders after them)."""

    def __init__(self, leader: Store, member: Store) -> None:
        self.leader, self.member = leader, member
        self.pending: list[Any] = []

    def elsewhere(self, command: Any) -> Result:
        self.pending.append(command)
        return self.leader.apply(command)

    def barrier(self, *, timeout: float = 10.0) -> None:
        for command in self.pending:
            self.member.apply(command)
        self.pending = []

    def propose(self, command: Any, *, timeout: float = 10.0) -> Result:
        self.barrier()
        self.leader.apply(command)
        return self.member.apply(command)


@pytest.fixture
def lagging(tmp_path: Path) -> Iterator[tuple[Registry, LaggingConsensus]]:
    leader, member = Store(str(tmp_path / "leader")), Store(str(tmp_path / "member"))
    consensus = LaggingConsensus(leader, member)
    consensus.propose(Create(key=NS.store_key("default"), object={"metadata": {"name": "default"}}, request_id="ns"))
    yield Registry(consensus, member), consensus  # type: ignore[arg-type]
    leader.close()
    member.close()


def configmap(name: str, value: str, rv: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default", **({"resourceVersion": rv} if rv else {})}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"v": value}}


def made_elsewhere(consensus: LaggingConsensus, name: str) -> str:
    stored = consensus.elsewhere(Create(key=CM.store_key(name, "default"), object=configmap(name, "x"),
                                        request_id=f"create-{name}"))
    return stored.object["metadata"]["resourceVersion"]  # type: ignore[union-attr]


def test_delete_of_an_object_the_member_has_not_seen_yet_succeeds(lagging) -> None:
    registry, consensus = lagging
    made_elsewhere(consensus, "a")
    registry.delete(CM, "a", "default", {})
    assert consensus.leader.get(CM.store_key("a", "default")) is None


def test_delete_with_the_current_resource_version_as_precondition_succeeds(lagging) -> None:
    registry, consensus = lagging
    rv = made_elsewhere(consensus, "a")
    registry.delete(CM, "a", "default", {"preconditions": {"resourceVersion": rv}})


def test_put_with_a_resource_version_newer_than_the_members_succeeds(lagging) -> None:
    registry, consensus = lagging
    old = registry.create(CM, configmap("a", "old"), "default")
    changed = consensus.elsewhere(Update(key=CM.store_key("a", "default"), object=configmap("a", "changed"),
                                         expected_revision=int(old["metadata"]["resourceVersion"]), request_id="u"))
    newest = changed.object["metadata"]["resourceVersion"]  # type: ignore[union-attr]  # the member has the old one
    updated = registry.update(CM, "a", "default", configmap("a", "new", newest))
    assert updated["data"] == {"v": "new"}


def test_put_of_an_object_deleted_elsewhere_is_404_not_409(lagging) -> None:
    registry, consensus = lagging
    old = registry.create(CM, configmap("a", "old"), "default")
    consensus.elsewhere(Delete(key=CM.store_key("a", "default"), request_id="gone"))
    stale = str(int(old["metadata"]["resourceVersion"]) - 1)  # a version the member's copy does not have
    with pytest.raises(errors.NotFoundError):
        registry.update(CM, "a", "default", configmap("a", "new", stale))


def test_create_in_a_namespace_made_elsewhere_succeeds(lagging) -> None:
    registry, consensus = lagging
    consensus.elsewhere(Create(key=NS.store_key("team"), object={"metadata": {"name": "team"}}, request_id="team"))
    created = registry.create(CM, {**configmap("a", "v"), "metadata": {"name": "a", "namespace": "team"}}, "team")
    assert created["metadata"]["namespace"] == "team"


def test_a_real_conflict_is_still_409(lagging) -> None:
    registry, _consensus = lagging
    registry.create(CM, configmap("a", "v"), "default")
    with pytest.raises(errors.ConflictError):
        registry.update(CM, "a", "default", configmap("a", "w", "1"))
