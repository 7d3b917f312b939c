"""Settling writes with no answer from what complete watches saw (chaos/resolve.py)."""

from __future__ import annotations

from minik8s.chaos.history import Op
from minik8s.chaos.resolve import resolve_unknowns, unexplained_deletes
from minik8s.chaos.watchcheck import CommittedChange


def op(id_: int, kind: str, outcome: str, *, value: str | None = None, rv: str | None = None, key: str = "a",
       invoke: float = 1.0, complete: float | None = 2.0) -> Op:
    return Op(id=id_, process=id_, key=key, kind=kind, value=value, expect_version=None, invoke=invoke,
              complete=None if outcome == "unknown" else complete, outcome=outcome, result_version=rv)


def test_a_write_the_watches_saw_happened_and_one_they_did_not_never_did() -> None:
    history = [op(1, "create", "ok", value="v1", rv="5"), op(2, "update", "unknown", value="v2", invoke=3.0),
               op(3, "update", "unknown", value="v3", invoke=4.0), op(4, "read", "ok", value="v2", rv="7",
                                                                    invoke=5.0, complete=6.0)]
    seen = [CommittedChange(5, "a", "ADDED", "v1"), CommittedChange(7, "a", "MODIFIED", "v2")]
    settled, happened, dropped = resolve_unknowns(history, seen)
    assert (happened, dropped) == (1, 1)
    assert [(o.id, o.outcome, o.result_version) for o in settled] == [(1, "ok", "5"), (2, "ok", "7"), (4, "ok", "7")]
    assert settled[1].complete is not None and settled[1].complete > 6.0  # answered some time after it was sent


def test_deletes_with_no_answer_stay_unknown_and_make_their_keys_deleted_events_uncertain() -> None:
    history = [op(1, "create", "ok", value="v1", rv="5"), op(2, "delete", "ok", rv="6"),
               op(3, "create", "ok", value="v3", rv="8"), op(4, "delete", "unknown", invoke=9.0),
               op(5, "delete", "unknown", key="b", invoke=9.0)]
    seen = [CommittedChange(5, "a", "ADDED", "v1"), CommittedChange(6, "a", "DELETED"),
            CommittedChange(8, "a", "ADDED", "v3"), CommittedChange(9, "a", "DELETED"),
            CommittedChange(12, "c", "DELETED")]
    settled, happened, dropped = resolve_unknowns(history, seen)
    assert (happened, dropped) == (0, 0) and [o.outcome for o in settled] == ["ok", "ok", "ok", "unknown", "unknown"]
    assert unexplained_deletes(history, seen) == {9}  # not 6 (answered), not key c (no unknown delete there)
