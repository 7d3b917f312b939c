"""Unit tests of the LMDB store, without Raft."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from minik8s.store import (
    Applied, CompactedError, Create, Delete, Noop, Reason, Rejected, Store, StoreSettings, Txn, Undecodable, Update,
)


def _cm(name: str, value: str = "v") -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"},
            "data": {"k": value}}


def _create(store: Store, name: str, *, index: int | None = None, rid: str | None = None,
            now: float = 0) -> Applied | Rejected:
    return store.apply(Create(key=f"/registry/configmaps/default/{name}", object=_cm(name),
                              request_id=rid or f"req-{name}", now=now), index)


@pytest.fixture
def store(tmp_path) -> Store:
    s = Store(str(tmp_path / "db"))
    yield s
    s.close()


def test_store_create_stamps_revision(store: Store) -> None:
    """A create bumps the global revision and stamps it as the object's resourceVersion."""
    result = _create(store, "a")
    assert isinstance(result, Applied) and result.revision == 1
    assert store.get("/registry/configmaps/default/a")["metadata"]["resourceVersion"] == "1"
    assert store.revision == 1


def test_store_create_twice_is_already_exists(store: Store) -> None:
    """Creating an existing key fails with AlreadyExists and changes nothing."""
    _create(store, "a")
    result = _create(store, "a", rid="other")
    assert result == Rejected(Reason.ALREADY_EXISTS, "/registry/configmaps/default/a already exists")
    assert store.revision == 1


def test_store_update_checks_expected_revision(store: Store) -> None:
    """An update with a stale expected revision is a Conflict; with the current one it succeeds."""
    _create(store, "a")
    key = "/registry/configmaps/default/a"
    stale = store.apply(Update(key=key, object=_cm("a", "x"), expected_revision=0, request_id="u1"))
    assert isinstance(stale, Rejected) and stale.reason is Reason.CONFLICT
    ok = store.apply(Update(key=key, object=_cm("a", "x"), expected_revision=1, request_id="u2"))
    assert isinstance(ok, Applied) and store.get(key)["data"]["k"] == "x"


def test_store_delete_logs_last_state(store: Store) -> None:
    """A delete removes the key and logs the last state stamped with the delete revision."""
    _create(store, "a")
    result = store.apply(Delete(key="/registry/configmaps/default/a", request_id="d"))
    assert isinstance(result, Applied) and store.get("/registry/configmaps/default/a") is None
    events, revision = store.events_since(0)
    assert [(e.revision, e.type) for e in events] == [(1, "ADDED"), (2, "DELETED")]
    assert events[1].object["metadata"]["resourceVersion"] == "2" and revision == 2


def test_store_missing_key_is_not_found(store: Store) -> None:
    """Update and delete of a missing key report NotFound."""
    key = "/registry/configmaps/default/x"
    for command in (Update(key=key, object=_cm("x"), request_id="update"), Delete(key=key, request_id="delete")):
        result = store.apply(command)
        assert isinstance(result, Rejected) and result.reason is Reason.NOT_FOUND


def test_store_request_id_dedup_returns_first_result(store: Store) -> None:
    """A repeated request id returns the first result and applies nothing."""
    first = _create(store, "a", rid="same")
    again = store.apply(Create(key="/registry/configmaps/default/b", object=_cm("b"), request_id="same"))
    assert again == first and store.revision == 1 and store.get("/registry/configmaps/default/b") is None


def test_store_request_id_dedup_returns_the_first_rejection(store: Store) -> None:
    """A repeat of a rejected request gets the same typed rejection, even after the state changed."""
    key = "/registry/configmaps/default/a"
    first = store.apply(Update(key=key, object=_cm("a"), request_id="u"))
    assert isinstance(first, Rejected) and first.reason is Reason.NOT_FOUND
    _create(store, "a")
    again = store.apply(Update(key=key, object=_cm("a", "x"), request_id="u"))
    assert again == first and store.get(key)["data"]["k"] == "v"


def test_store_undecodable_entry_is_rejected_as_bad_command(store: Store) -> None:
    """An entry that did not decode is Rejected(BadCommand) without raising; its Raft index still counts."""
    result = store.apply(Undecodable("undecodable raft entry: not JSON"), 4)
    assert result == Rejected(Reason.BAD_COMMAND, "undecodable raft entry: not JSON")
    assert store.applied_index == 4 and store.revision == 0
    assert isinstance(_create(store, "a", index=5), Applied)


def test_store_noop_changes_nothing(store: Store) -> None:
    """A no-op reports the current revision and writes no event."""
    _create(store, "a")
    assert store.apply(Noop(), 7) == Applied(1)
    assert store.revision == 1 and store.applied_index == 7 and len(store.events_since(0)[0]) == 1


def test_store_raft_index_guard_skips_replays(store: Store) -> None:
    """Entries at or below the applied Raft index are skipped."""
    _create(store, "a", index=5)
    replay = _create(store, "b", index=5)
    assert replay == Rejected(Reason.ALREADY_APPLIED, "raft entry 5 was applied before")
    assert store.applied_index == 5 and store.revision == 1


def test_store_list_by_prefix_and_revision(store: Store) -> None:
    """List returns only keys under the prefix, with the revision read."""
    _create(store, "a")
    store.apply(Create(key="/registry/configmaps/default2/z", object=_cm("z"), request_id="z"))
    items, revision = store.list("/registry/configmaps/default/")
    assert [i["metadata"]["name"] for i in items] == ["a"] and revision == 2


def test_store_compaction_by_count_records_floor(tmp_path) -> None:
    """Beyond the count window, old events are dropped and the floor recorded; watching below it fails."""
    store = Store(str(tmp_path / "db"), StoreSettings(event_window_count=5))
    for i in range(12):
        _create(store, f"o{i}")
    assert store.compacted_floor == 7
    events, _ = store.events_since(7)
    assert [e.revision for e in events] == [8, 9, 10, 11, 12]
    with pytest.raises(CompactedError):
        store.events_since(6)
    store.close()


def test_store_compaction_by_age(tmp_path) -> None:
    """Events older than the age window (by the commands' own clock) are dropped."""
    store = Store(str(tmp_path / "db"), StoreSettings(event_window_seconds=10))
    for i in range(3):
        _create(store, f"o{i}", now=100 + i)
    _create(store, "late", now=200)
    assert store.compacted_floor == 3
    store.close()


def test_store_batch_commits_once_and_notifies(store: Store) -> None:
    """Applies inside a batch are invisible until commit, then listeners see the final revision."""
    seen: list[int] = []
    store.add_listener(seen.append)
    store.begin_batch()
    _create(store, "a", index=1)
    _create(store, "b", index=2)
    assert store.revision == 0
    store.commit_batch()
    assert store.revision == 2 and seen == [2]


def test_store_failed_apply_in_batch_rolls_back_only_itself(store: Store) -> None:
    """A failing command inside a batch does not undo the others."""
    store.begin_batch()
    _create(store, "a", index=1)
    bad = store.apply(Create(key="/registry/configmaps/default/x", object={"v": object()}, request_id="bad"), 2)
    _create(store, "b", index=3)
    store.commit_batch()
    assert isinstance(bad, Rejected) and bad.reason is Reason.INTERNAL
    assert store.revision == 2 and store.applied_index == 3


def test_store_snapshot_roundtrip(tmp_path, store: Store) -> None:
    """A copy installed into another store reproduces objects, events, revision and applied index."""
    for i in range(3):
        _create(store, f"o{i}", index=i + 1)
    snap = str(tmp_path / "snap.mdb")
    with open(snap, "wb") as f:
        store.copy_to(f.fileno())
    other = Store(str(tmp_path / "other"))
    _create(other, "stale", index=1)
    assert other.install_from(snap) == 3
    assert other.revision == 3 and other.get("/registry/configmaps/default/stale") is None
    assert [e.revision for e in other.events_since(0)[0]] == [1, 2, 3]
    other.close()
    assert os.path.getsize(snap) > 0


def _revision_on_disk(path: str) -> int:
    """The revision another process reads from the store's files (what survives a crash now)."""
    code = ("import sys, lmdb; env = lmdb.open(sys.argv[1], readonly=True, max_dbs=8); txn = env.begin(); "
            "meta = env.open_db(b'meta', txn=txn, create=False); print(int(txn.get(b'revision', db=meta) or 0))")
    return int(subprocess.run([sys.executable, "-c", code, path], check=True, capture_output=True,
                              text=True).stdout)


def test_store_published_batch_is_read_from_memory_until_committed(tmp_path) -> None:
    """After publish, readers of this store see the batch (get, list, events, revision) before it
    reaches the disk; the commit changes nothing they see."""
    path = str(tmp_path / "db")
    store = Store(path, StoreSettings(commit_interval=3600, commit_changes=10_000))
    seen: list[int] = []
    store.add_listener(seen.append)
    _create(store, "a", index=1)  # outside a batch: committed at once
    store.begin_batch()
    _create(store, "b", index=2)
    store.apply(Update(key="/registry/configmaps/default/a", object=_cm("a", "new"), request_id="u"), 3)
    store.apply(Delete(key="/registry/configmaps/default/b", request_id="d"), 4)
    _create(store, "c", index=5)
    assert store.revision == 1, "nothing is visible before the batch is published"
    store.publish_batch()
    assert seen == [1, 5] and store.revision == 5 and store.applied_index == 5
    assert _revision_on_disk(path) == 1
    view = (store.get("/registry/configmaps/default/a"), store.get("/registry/configmaps/default/b"),
            store.list("/registry/configmaps/"), store.events_since(0), store.events_since(3, limit=1))
    assert view[0]["data"] == {"k": "new"} and view[1] is None
    assert [o["metadata"]["name"] for o in view[2][0]] == ["a", "c"] and view[2][1] == 5
    assert [(e.revision, e.type) for e in view[3][0]] == [(1, "ADDED"), (2, "ADDED"), (3, "MODIFIED"),
                                                         (4, "DELETED"), (5, "ADDED")]
    assert [e.revision for e in view[4][0]] == [4]
    store.commit_batch()
    assert _revision_on_disk(path) == 5
    assert (store.get("/registry/configmaps/default/a"), store.get("/registry/configmaps/default/b"),
            store.list("/registry/configmaps/"), store.events_since(0), store.events_since(3, limit=1)) == view
    store.close()


def test_store_publish_commits_when_the_batch_is_large(tmp_path) -> None:
    """A published batch holding `commit_changes` writes goes to disk at once; the next batch starts empty."""
    path = str(tmp_path / "db")
    store = Store(path, StoreSettings(commit_interval=3600, commit_changes=6))
    store.begin_batch()
    _create(store, "a", index=1)
    store.publish_batch()
    assert _revision_on_disk(path) == 0
    _create(store, "b", index=2)
    store.publish_batch()
    assert _revision_on_disk(path) == 2 and store.revision == 2
    store.close()


def test_store_rejected_txn_in_a_batch_is_never_visible(tmp_path) -> None:
    """What a rejected Txn wrote before its rejection is dropped from the published overlay too."""
    store = Store(str(tmp_path / "db"), StoreSettings(commit_interval=3600))
    store.begin_batch()
    _create(store, "taken", index=1)
    half = Txn(ops=(Create(key="/registry/configmaps/default/new", object=_cm("new")),
                    Create(key="/registry/configmaps/default/taken", object=_cm("taken"))))
    assert isinstance(store.apply(half, 2), Rejected)
    store.publish_batch()
    assert store.get("/registry/configmaps/default/new") is None and store.revision == 1
    assert [e.key for e in store.events_since(0)[0]] == ["/registry/configmaps/default/taken"]
    store.commit_batch()
    store.close()


def test_store_digest_is_the_same_for_the_same_writes_and_changes_with_any(tmp_path) -> None:
    """Two stores that applied the same writes have the same digest at the same revision; one write
    more, or a different value, changes it (the convergence check of the chaos suite rests on it)."""
    first, second = Store(str(tmp_path / "one")), Store(str(tmp_path / "two"))
    try:
        for s in (first, second):
            _create(s, "a")
            _create(s, "b")
        assert first.digest() == second.digest() and first.digest()[1] == 2
        second.apply(Delete(key="/registry/configmaps/default/b", request_id="del-b", now=0), None)
        assert first.digest()[0] != second.digest()[0]
        _create(first, "c")
        _create(second, "b", rid="again")
        assert first.digest()[0] != second.digest()[0]  # same keys count, different objects
        first.begin_batch()  # writes published to readers but not yet committed to LMDB count too
        _create(first, "d")
        first.publish_batch()
        assert first.digest()[1] == 4
        assert first.digest()[0] != second.digest()[0]
        first.commit_batch()
    finally:
        first.close()
        second.close()
