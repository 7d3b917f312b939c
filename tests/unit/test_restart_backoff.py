"""The kubelet's per-container restart back-off: 10 s doubling to 5 min, reset after 10 min of running."""

from __future__ import annotations

import pytest

from minik8s.node.backoff import RestartBackoff


def test_doubles_to_the_cap_per_container() -> None:
    b = RestartBackoff()
    now, delays = 1000.0, []
    for _ in range(8):
        assert b.remaining(("uid", "c"), now) == 0
        delays.append(b.attempt(("uid", "c"), now))
        assert b.remaining(("uid", "c"), now) == delays[-1]
        assert b.remaining(("uid", "c"), now + delays[-1] / 2) == delays[-1] / 2
        now += delays[-1]
    assert delays == [10, 20, 40, 80, 160, 300, 300, 300]
    # another container (or pod) has its own back-off
    assert b.remaining(("uid", "other"), now - 1) == 0
    assert b.attempt(("uid", "other"), now) == 10


def test_resets_after_ten_minutes_of_running_and_on_forget() -> None:
    b = RestartBackoff(initial=2, cap=8)
    key = ("u", "c")
    assert [b.attempt(key, 0, ran_for=5) for _ in range(4)] == [2, 4, 8, 8]
    assert b.attempt(key, 100, ran_for=599) == 8
    assert b.attempt(key, 1000, ran_for=600) == 2  # ran 10 min: starts over
    assert b.delay(key) == 2
    b.forget_if(lambda k: k[0] == "u")
    assert b.delay(key) == 0 and b.remaining(key, 1000) == 0
    with pytest.raises(ValueError):
        RestartBackoff(initial=0)
