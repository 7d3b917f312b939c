"""Leader election and the controller manager against a real master on loopback.

Short timings (lease 2 s, renew deadline 1.5 s, retry 0.2 s) keep takeovers quick. Expiry is
judged by the candidate's own clock: the tests that need exact control inject a fake clock and
drive single attempts with `try_acquire_or_renew`.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from minik8s.api.client import ApiClient
from minik8s.api.reconcile import Controller, ControllerManager, LeaseTimings, Result
from minik8s.api.reconcile.leaderelection import LEASES, LeaderElector
from tests.integration.cluster import TOKEN, running, wait_for
from tests.unit.test_reconcile_workqueue import FakeClock

LEASE, RENEW, RETRY = 2.0, 1.5, 0.2
MICRO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
_names = itertools.count()


@pytest.fixture(scope="module")
def master(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running(Path(tmp_path_factory.mktemp("leader-election")) / "c", 1, extra_args=["--no-control-loops"]) as cluster:
        yield cluster.masters[0].url


@pytest.fixture
def client(master: str) -> Iterator[ApiClient]:
    with ApiClient(master, token=TOKEN) as c:
        yield c


@pytest.fixture
def lease_name() -> str:
    return f"test-lease-{next(_names)}"


@pytest.fixture
def electors() -> Iterator[list[LeaderElector]]:
    made: list[LeaderElector] = []
    yield made
    for elector in made:
        elector.stop()


def _elector(client: ApiClient, name: str, identity: str, made: list[LeaderElector], **kw: object) -> LeaderElector:
    elector = LeaderElector(client, name=name, identity=identity, lease_duration=LEASE, renew_deadline=RENEW,
                            retry_period=RETRY, on_started_leading=lambda: None, on_stopped_leading=lambda: None,
                            **kw)  # type: ignore[arg-type]
    made.append(elector)
    return elector


def _lease_spec(client: ApiClient, name: str) -> dict:
    return client.get(LEASES, name, namespace="kube-system")["spec"]


def _only_one_leads_for(a: LeaderElector, b: LeaderElector, seconds: float) -> LeaderElector:
    """Check every few ms for `seconds` that never both lead; return the one leading at the end."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert not (a.is_leader and b.is_leader), "two leaders at once"
        time.sleep(0.01)
    leader = a if a.is_leader else b
    assert leader.is_leader
    return leader


def test_leader_election_one_of_two_candidates_leads(client: ApiClient, lease_name: str,
                                                     electors: list[LeaderElector]) -> None:
    """Of two candidates exactly one leads, keeps leading, and is the lease's holder."""
    a, b = _elector(client, lease_name, "a", electors), _elector(client, lease_name, "b", electors)
    a.start()
    b.start()
    wait_for(lambda: a.is_leader or b.is_leader, timeout=10, what="a leader")
    first = _only_one_leads_for(a, b, 2 * LEASE)
    spec = _lease_spec(client, lease_name)
    assert spec["holderIdentity"] == first.identity
    assert spec["leaseDurationSeconds"] == 2
    assert MICRO_TIME.match(spec["renewTime"]) and MICRO_TIME.match(spec["acquireTime"])
    assert (a if first is b else b).leader == first.identity


def test_leader_election_release_hands_over_at_once(client: ApiClient, lease_name: str,
                                                    electors: list[LeaderElector]) -> None:
    """A leader that stops releases the lease and the other candidate takes over within a retry period."""
    a = _elector(client, lease_name, "a", electors)
    a.start()
    wait_for(lambda: a.is_leader, timeout=10, what="a leads")
    b = _elector(client, lease_name, "b", electors)
    b.start()
    wait_for(lambda: b.leader == "a", timeout=5, what="b observes a")
    transitions = _lease_spec(client, lease_name)["leaseTransitions"]
    a.stop()
    assert not a.is_leader
    wait_for(lambda: b.is_leader, timeout=RETRY + 1.0, what="b takes over the released lease")
    spec = _lease_spec(client, lease_name)
    assert spec["holderIdentity"] == "b"
    assert spec["leaseTransitions"] == transitions + 1


def test_leader_election_takes_over_from_a_dead_leader_after_expiry(client: ApiClient, lease_name: str,
                                                                    electors: list[LeaderElector]) -> None:
    """When the leader vanishes without releasing, the other takes over once the lease expired, not before."""
    a = _elector(client, lease_name, "a", electors, release_on_cancel=False)
    a.start()
    wait_for(lambda: a.is_leader, timeout=10, what="a leads")
    b = _elector(client, lease_name, "b", electors)
    b.start()
    wait_for(lambda: b.leader == "a", timeout=5, what="b observes a")
    a.stop()  # like a crash: no release
    died = time.monotonic()
    wait_for(lambda: b.is_leader, timeout=LEASE + RETRY + 2.0, what="b takes over the expired lease")
    assert time.monotonic() - died >= LEASE - 2 * RETRY
    assert _lease_spec(client, lease_name)["holderIdentity"] == "b"


def _ghost_lease(client: ApiClient, name: str) -> dict:
    """A lease held by another machine whose renewTime lies far in the past (a skewed clock)."""
    return client.create({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": name, "namespace": "kube-system"},
        "spec": {"holderIdentity": "ghost", "leaseDurationSeconds": 5, "leaseTransitions": 3,
                 "acquireTime": "2000-01-01T00:00:00.000000Z", "renewTime": "2000-01-01T00:00:00.000000Z"},
    })


def test_leader_election_judges_expiry_by_its_own_clock(client: ApiClient, lease_name: str,
                                                        electors: list[LeaderElector]) -> None:
    """An old renewTime does not count: a lease expires leaseDurationSeconds after we saw it last change."""
    _ghost_lease(client, lease_name)
    clock = FakeClock()
    b = _elector(client, lease_name, "b", electors, clock=clock)
    assert not b.try_acquire_or_renew()
    clock.advance(4.9)
    assert not b.try_acquire_or_renew()
    clock.advance(0.2)
    assert b.try_acquire_or_renew()
    spec = _lease_spec(client, lease_name)
    assert (spec["holderIdentity"], spec["leaseTransitions"], spec["leaseDurationSeconds"]) == ("b", 4, 2)
    assert spec["acquireTime"] == spec["renewTime"] and MICRO_TIME.match(spec["renewTime"])


def test_leader_election_renewals_by_holder_postpone_expiry(client: ApiClient, lease_name: str,
                                                            electors: list[LeaderElector]) -> None:
    """Every observed change of the lease restarts the expiry countdown."""
    _ghost_lease(client, lease_name)
    clock = FakeClock()
    b = _elector(client, lease_name, "b", electors, clock=clock)
    assert not b.try_acquire_or_renew()
    clock.advance(4.0)
    client.patch(LEASES, lease_name, {"spec": {"renewTime": "2000-01-01T00:00:04.000000Z"}}, namespace="kube-system")
    assert not b.try_acquire_or_renew()  # observes the renewal at t=4
    clock.advance(4.9)
    assert not b.try_acquire_or_renew()
    clock.advance(0.2)
    assert b.try_acquire_or_renew()


class CountingController(Controller):
    """Records start/stop; has nothing to watch or reconcile."""

    def __init__(self, client: ApiClient) -> None:
        super().__init__(client, name="counting")
        self.running = threading.Event()

    def setup(self) -> None:
        self.running.set()

    def reconcile(self, key: str) -> Result | None:
        return None

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        self.running.clear()


def test_controller_manager_runs_controllers_only_while_leading(client: ApiClient, lease_name: str) -> None:
    """Only the leading manager runs its controllers; when it stops, the other one starts its own."""
    timings = LeaseTimings(LEASE, RENEW, RETRY)
    controllers = [CountingController(client), CountingController(client)]
    managers = [ControllerManager(client, [c], identity=f"m{i}", lease_name=lease_name, timings=timings)
                for i, c in enumerate(controllers)]
    try:
        for manager in managers:
            manager.start()
        wait_for(lambda: any(m.is_leader for m in managers), timeout=10, what="a leading manager")
        leader = 0 if managers[0].is_leader else 1
        assert controllers[leader].running.is_set() and not controllers[1 - leader].running.is_set()
        managers[leader].stop()
        assert not controllers[leader].running.is_set()
        wait_for(lambda: controllers[1 - leader].running.is_set(), timeout=RETRY + 2.0, what="the other takes over")
    finally:
        for manager in managers:
            manager.stop()
