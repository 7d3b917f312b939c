"""Expectations: a controller waits until its informer has seen what it just did (and no longer than the TTL)."""

from __future__ import annotations

from minik8s.controllers.expectations import EXPECTATIONS_TTL, Expectations
from tests.unit.test_reconcile_workqueue import FakeClock


def test_expectations_unknown_key_is_satisfied() -> None:
    """A controller that never recorded anything may act."""
    assert Expectations().satisfied("ns/rs")


def test_expectations_creations_must_all_be_observed() -> None:
    """After expecting 3 creations, only the third observed creation satisfies the key."""
    e = Expectations()
    e.expect_creations("ns/rs", 3)
    for _ in range(2):
        e.creation_observed("ns/rs")
        assert not e.satisfied("ns/rs")
    e.creation_observed("ns/rs")
    assert e.satisfied("ns/rs")


def test_expectations_deletions_count_each_pod_once() -> None:
    """A pod seen first with a deletionTimestamp and then deleted counts once; unknown pods do not count."""
    e = Expectations()
    e.expect_deletions("ns/rs", ["ns/a", "ns/b"])
    e.deletion_observed("ns/rs", "ns/a")
    e.deletion_observed("ns/rs", "ns/a")
    e.deletion_observed("ns/rs", "ns/other")
    assert not e.satisfied("ns/rs") and e.pending("ns/rs") == (0, 1)
    e.deletion_observed("ns/rs", "ns/b")
    assert e.satisfied("ns/rs")


def test_expectations_expire_after_the_ttl() -> None:
    """A lost watch event delays the controller by the TTL at most."""
    clock = FakeClock()
    e = Expectations(clock=clock)
    e.expect_creations("ns/rs", 1)
    clock.advance(EXPECTATIONS_TTL - 1)
    assert not e.satisfied("ns/rs")
    clock.advance(2)
    assert e.satisfied("ns/rs")


def test_expectations_delete_forgets_the_key() -> None:
    """A deleted owner (or a new one of the same name) starts clean."""
    e = Expectations()
    e.expect_creations("ns/rs", 5)
    e.delete("ns/rs")
    assert e.satisfied("ns/rs") and e.pending("ns/rs") == (0, 0)
