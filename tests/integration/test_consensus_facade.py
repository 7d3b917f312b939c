"""The consensus facade in-process on loopback: typed commands through a real Raft log, and its read-only state."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from minik8s.consensus import Consensus, ConsensusError, ConsensusSettings
from minik8s.store import Applied, Create, Delete, Reason, Rejected, Store

from .cluster import free_port

KEY = "/registry/configmaps/default/a"


def _cm(value: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "default", "uid": "u"},
            "data": {"k": value}}


@pytest.fixture
def consensus(tmp_path: Path) -> Iterator[Consensus]:
    """A started one-member cluster that has elected itself; stopped afterwards."""
    store = Store(str(tmp_path / "store"))
    c = Consensus(ConsensusSettings(name="m0", data_dir=str(tmp_path), raft_addr=f"127.0.0.1:{free_port()}",
                                    cluster_secret="s"), store)
    c.start()
    deadline = time.monotonic() + 20
    while not c.is_ready():
        assert time.monotonic() < deadline, "no leader within 20 s"
        time.sleep(0.05)
    yield c
    c.stop()
    store.close()


def test_consensus_properties_raise_before_start(tmp_path: Path) -> None:
    """Before start, the Raft state is not invented: reading it raises ConsensusError."""
    store = Store(str(tmp_path / "store"))
    c = Consensus(ConsensusSettings(name="m0", data_dir=str(tmp_path), raft_addr="127.0.0.1:1"), store)
    with pytest.raises(ConsensusError):
        c.term  # noqa: B018 (the read is the test)
    assert not c.is_ready()
    store.close()


def test_consensus_typed_commands_round_trip_through_raft(consensus: Consensus) -> None:
    """A typed command proposed through Raft comes back as a typed result; rejections keep their reason."""
    created = consensus.propose(Create(key=KEY, object=_cm("v"), now=1.0))
    assert isinstance(created, Applied) and created.object["metadata"]["resourceVersion"] == str(created.revision)
    again = consensus.propose(Create(key=KEY, object=_cm("w"), now=2.0))
    assert again == Rejected(Reason.ALREADY_EXISTS, f"{KEY} already exists")
    deleted = consensus.propose(Delete(key=KEY, expected_uid="u", request_id="d1", now=3.0))
    assert isinstance(deleted, Applied) and consensus.store.get(KEY) is None
    assert consensus.propose(Delete(key=KEY, expected_uid="u", request_id="d1", now=4.0)) == deleted


def test_consensus_garbage_entry_is_rejected_and_the_log_goes_on(consensus: Consensus) -> None:
    """An undecodable entry committed to the log applies as Rejected(BadCommand); later writes still apply."""
    done = threading.Event()
    box: list[object] = []
    consensus._started.submit(b"\x00 not a command", lambda result, reason: (box.append(result), done.set()))
    assert done.wait(10)
    assert isinstance(box[0], Rejected) and box[0].reason is Reason.BAD_COMMAND
    assert isinstance(consensus.propose(Create(key=KEY, object=_cm("v"))), Applied)


def test_consensus_reports_its_state_through_properties(consensus: Consensus) -> None:
    """term, indices, role and leader are public properties; status() is built from them."""
    consensus.propose(Create(key=KEY, object=_cm("v")))
    consensus.barrier()
    assert consensus.is_leader and consensus.role == "leader" and consensus.has_quorum
    assert consensus.leader == consensus.settings.raft_addr and consensus.term >= 1
    assert consensus.commit_index >= consensus.applied_index >= 2
    status = consensus.status()
    assert {k: status[k] for k in ("role", "leader", "term", "commitIndex", "appliedIndex", "hasQuorum")} == {
        "role": "leader", "leader": consensus.leader, "term": consensus.term,
        "commitIndex": consensus.commit_index, "appliedIndex": consensus.applied_index, "hasQuorum": True,
    }


def test_single_member_commits_without_waiting_for_a_tick_timeout(tmp_path: Path) -> None:
    """A lone leader commits an entry as soon as its journal is synced, not at the next idle tick.

    With the idle tick stretched to 2 s, ten writes in a row take far less than the 20 s they took
    when each write waited out one idle tick (50 ms by default)."""
    store = Store(str(tmp_path / "store"))
    c = Consensus(ConsensusSettings(name="m0", data_dir=str(tmp_path), raft_addr=f"127.0.0.1:{free_port()}",
                                    cluster_secret="s", extra={"autoTickPeriod": 2.0}), store)
    c.start()
    try:
        deadline = time.monotonic() + 60
        while not c.is_ready():
            assert time.monotonic() < deadline, "no leader within 60 s"
            time.sleep(0.05)
        started = time.monotonic()
        for i in range(10):
            result = c.propose(Create(key=f"{KEY}{i}", object=_cm(str(i))), timeout=60)
            assert isinstance(result, Applied)
        assert time.monotonic() - started < 10, "writes waited for idle ticks"
    finally:
        c.stop()
        store.close()
