"""Readiness (/readyz) of a Raft member: caught up with its leader, without flapping under load."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from minik8s.consensus import Consensus, ConsensusSettings
from minik8s.consensus.node import READY_LAG
from minik8s.store import Store


def test_a_caught_up_member_stays_ready_while_it_trails_by_entries_in_flight(tmp_path: Path) -> None:
    """Ready once it applied all the leader reported committed; a few entries behind (a steady write
    load) keeps it ready; far behind, or no leader, makes it not ready until it has caught up again."""
    store = Store(str(tmp_path / "store"))
    c = Consensus(ConsensusSettings(name="m0", data_dir=str(tmp_path), raft_addr="127.0.0.1:1"), store)
    member = SimpleNamespace(leader="10.0.0.1:2380", leader_commit_index=100, raftLastApplied=90)
    c._member = member  # type: ignore[assignment]
    try:
        assert not c.is_ready()  # replaying: not caught up yet
        member.raftLastApplied = 100
        assert c.is_ready()
        member.leader_commit_index = 120  # the leader committed more; this member applies it a tick later
        assert c.is_ready()
        member.leader_commit_index = 100 + READY_LAG + 1  # fallen far behind
        assert not c.is_ready()
        member.raftLastApplied = 110
        assert not c.is_ready()  # ...and not ready again until it catches up
        member.raftLastApplied = member.leader_commit_index
        assert c.is_ready()
        member.leader = None
        assert not c.is_ready()
    finally:
        c._member = None
        store.close()
