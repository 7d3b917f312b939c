"""A follower's refusal of append_entries sends the leader back to its commit index, whatever kind of
refusal it is: a term mismatch at prevLogIdx, or a prevLogIdx past its log (pysyncobj's two answers
that made a leader flip forever above a divergent tail)."""

from __future__ import annotations

from types import SimpleNamespace

from minik8s.consensus.member import RaftMember


def _follower(last_index: int, commit_index: int) -> SimpleNamespace:
    return SimpleNamespace(_SyncObj__getCurrentLogIndex=lambda: last_index, raftCommitIndex=commit_index)


def test_a_mismatch_far_above_the_commit_index_retries_from_the_commit_index() -> None:
    assert RaftMember.retry_from(_follower(last_index=500, commit_index=80), 450) == 81  # type: ignore[arg-type]


def test_a_prev_index_past_the_log_retries_from_the_commit_index_too() -> None:
    assert RaftMember.retry_from(_follower(last_index=500, commit_index=80), None) == 81  # type: ignore[arg-type]


def test_a_suggestion_at_or_below_the_commit_index_is_kept() -> None:
    assert RaftMember.retry_from(_follower(last_index=500, commit_index=80), 40) == 40  # type: ignore[arg-type]
    assert RaftMember.retry_from(_follower(last_index=30, commit_index=30), None) == 31  # type: ignore[arg-type]
