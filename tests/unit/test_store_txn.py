"""Unit tests of the `Txn` command: several writes applied all or none, encoded for the Raft log."""

from __future__ import annotations

import pytest

from minik8s.store import (
    Applied, Create, Delete, Noop, Reason, Rejected, Store, Txn, Undecodable, UnencodableError, Update,
    decode_command, encode_command,
)
from minik8s.store.command_codec import decode_result, encode_result

SVC = "/registry/services/default/web"
IP = "/registry/ranges/serviceips/10.96.0.10"
PORT = "/registry/ranges/servicenodeports/30080"


def _obj(name: str) -> dict:
    return {"metadata": {"name": name}}


@pytest.fixture
def store(tmp_path) -> Store:
    s = Store(str(tmp_path / "db"))
    yield s
    s.close()


def test_txn_applies_every_op_with_its_own_revision(store: Store) -> None:
    """All ops take effect; each gets the next revision and one event; the result is the first op's object."""
    result = store.apply(Txn(ops=(Create(key=SVC, object=_obj("web")), Create(key=IP, object=_obj("ip"))),
                             request_id="r1", now=5.0))
    assert isinstance(result, Applied) and result.revision == 2
    assert result.object["metadata"] == {"name": "web", "resourceVersion": "1"}
    assert store.get(IP)["metadata"]["resourceVersion"] == "2"
    events, revision = store.events_since(0)
    assert revision == 2 and [(e.revision, e.type, e.key) for e in events] == [(1, "ADDED", SVC), (2, "ADDED", IP)]


def test_txn_rejected_op_rolls_back_the_whole_transaction(store: Store) -> None:
    """The first op that fails rejects the txn with its reason and key; nothing of it is stored or logged."""
    store.apply(Create(key=IP, object=_obj("taken")))
    result = store.apply(Txn(ops=(Create(key=SVC, object=_obj("web")), Create(key=PORT, object=_obj("p")),
                                  Create(key=IP, object=_obj("ip")))))
    assert result == Rejected(Reason.ALREADY_EXISTS, f"{IP} already exists", key=IP)
    assert store.get(SVC) is None and store.get(PORT) is None
    assert store.revision == 1 and len(store.events_since(0)[0]) == 1


@pytest.mark.parametrize(("ops", "reason", "key"), [
    pytest.param((Update(key=SVC, object=_obj("web"), expected_revision=9),), Reason.CONFLICT, SVC, id="conflict"),
    pytest.param((Delete(key=PORT),), Reason.NOT_FOUND, PORT, id="not-found"),
    pytest.param((Create(key=PORT, object=_obj("p")), Create(key=PORT, object=_obj("p"))), Reason.ALREADY_EXISTS,
                 PORT, id="same-key-twice"),
])
def test_txn_preconditions_are_those_of_each_op(store: Store, ops: tuple, reason: Reason, key: str) -> None:
    """An op in a txn is checked against the state the ops before it left, as it would be alone."""
    store.apply(Create(key=SVC, object=_obj("web")))
    result = store.apply(Txn(ops=ops))
    assert isinstance(result, Rejected) and result.reason is reason and result.key == key
    assert store.revision == 1


def test_txn_ops_see_the_writes_before_them(store: Store) -> None:
    """Create then update then delete of one key in one txn: three events, nothing left."""
    result = store.apply(Txn(ops=(Create(key=PORT, object=_obj("a")), Update(key=PORT, object=_obj("b"),
                                                                              expected_revision=1),
                                  Delete(key=PORT, expected_revision=2))))
    assert isinstance(result, Applied) and result.revision == 3 and store.get(PORT) is None


def test_txn_request_id_returns_the_first_result(store: Store) -> None:
    """A retried txn (same request id) is not applied again; the first result comes back."""
    txn = Txn(ops=(Create(key=SVC, object=_obj("web")), Create(key=IP, object=_obj("ip"))), request_id="same")
    first = store.apply(txn)
    assert store.apply(txn) == first and store.revision == 2


def test_txn_in_a_batch_rolls_back_only_itself(store: Store) -> None:
    """Inside a group commit, a rejected txn leaves the other entries of the batch alone."""
    store.begin_batch()
    assert isinstance(store.apply(Create(key=SVC, object=_obj("web")), 1), Applied)
    assert isinstance(store.apply(Txn(ops=(Create(key=IP, object=_obj("ip")), Create(key=SVC, object=_obj("x")))),
                                  2), Rejected)
    assert isinstance(store.apply(Txn(ops=(Create(key=PORT, object=_obj("p")),)), 3), Applied)
    store.commit_batch()
    assert store.get(IP) is None and store.get(PORT) is not None and store.applied_index == 3


@pytest.mark.parametrize("txn", [
    pytest.param(Txn(ops=()), id="empty"),
    pytest.param(Txn(ops=(Create(key=SVC, object={}, request_id="own"),)), id="op-with-request-id"),
    pytest.param(Txn(ops=(Create(key=SVC, object={}, now=3.0),)), id="op-with-time"),
    pytest.param(Txn(ops=(Noop(),)), id="noop-op"),  # type: ignore[arg-type]
])
def test_txn_malformed_is_a_bad_command(store: Store, txn: Txn) -> None:
    """A txn without ops, or with ops that carry their own id or time or are not writes, changes nothing."""
    result = store.apply(txn)
    assert isinstance(result, Rejected) and result.reason is Reason.BAD_COMMAND and store.revision == 0


def test_txn_codec_roundtrips() -> None:
    """A txn encodes its ops as nested commands and decodes to an equal txn."""
    txn = Txn(ops=(Create(key=SVC, object=_obj("web")), Update(key=IP, object={"a": [1, None]}, expected_uid="u"),
                   Delete(key=PORT, expected_revision=4)), request_id="r", now=1.5)
    raw = encode_command(txn)
    assert raw.startswith(b'{"type":"txn","ops":[{"type":"create"')
    assert decode_command(raw) == txn


def test_txn_codec_rejected_result_keeps_the_key() -> None:
    """The request table keeps which op of a txn was refused."""
    result = Rejected(Reason.ALREADY_EXISTS, "taken", key=IP)
    assert decode_result(encode_result(result)) == result


@pytest.mark.parametrize("raw", [
    pytest.param(b'{"type":"txn","ops":{}}', id="ops-not-a-list"),
    pytest.param(b'{"type":"txn","ops":[{"type":"noop"}]}', id="noop-inside"),
    pytest.param(b'{"type":"txn","ops":[{"type":"txn","ops":[]}]}', id="nested-txn"),
    pytest.param(b'{"type":"txn","ops":[{"type":"create","key":"k"}]}', id="op-missing-field"),
    pytest.param(b'{"type":"txn","ops":[5]}', id="op-not-an-object"),
])
def test_txn_codec_garbage_is_undecodable(raw: bytes) -> None:
    """A txn entry whose ops are not creates, updates or deletes decodes to Undecodable."""
    assert isinstance(decode_command(raw), Undecodable)


def test_txn_codec_refuses_ops_that_are_not_writes() -> None:
    """Nothing that could not decode on every member is proposed."""
    with pytest.raises(UnencodableError):
        encode_command(Txn(ops=(Noop(),)))  # type: ignore[arg-type]
