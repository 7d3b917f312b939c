"""Unit tests of the in-memory FakeRuntime and its command DSL, on a fake clock."""

from __future__ import annotations

import pytest

from minik8s.node.runtime.base import ContainerConfig, ContainerState, RuntimeError_, SandboxConfig
from minik8s.node.runtime.fake import Behavior, FakeClock, FakeRuntime


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1000.0)


@pytest.fixture
def rt(clock: FakeClock) -> FakeRuntime:
    return FakeRuntime(clock=clock, sleep=clock.sleep)


def _sandbox(rt: FakeRuntime, uid: str = "uid-1") -> str:
    return rt.run_pod_sandbox(SandboxConfig(pod_uid=uid, pod_name="web", namespace="default", hostname="web",
                                            labels={"minik8s.io/pod-uid": uid}, pod_ip="10.0.0.5"))


def _run(rt: FakeRuntime, sandbox_id: str, *command: str, name: str = "c") -> str:
    cid = rt.create_container(sandbox_id, ContainerConfig(name=name, image="busybox", command=list(command),
                                                          labels={"minik8s.io/container-name": name}))
    rt.start_container(cid)
    return cid


def test_parse_dsl() -> None:
    b = Behavior.parse(["fake", "say", "hi", "exit", "3", "after", "0.2", "grace", "never", "cpu", "250"])
    assert (b.exit_code, b.after, b.say, b.cpu_millis, b.natural_exit()) == (3, 0.2, ["hi"], 250, (3, "Error"))
    assert b.grace == float("inf")
    assert Behavior.parse(["sleep", "3600"]).natural_exit() is None
    assert Behavior.parse(["fake", "oom"]).natural_exit() == (137, "OOMKilled")
    for bad in (["fake", "exit"], ["fake", "jump"], ["fake", "after", "soon"]):
        with pytest.raises(ValueError):
            Behavior.parse(bad)


def test_sandbox_lifecycle(rt: FakeRuntime) -> None:
    sid = _sandbox(rt)
    [status] = rt.list_sandboxes()
    assert (status.id, status.pod_uid, status.ready, status.ip) == (sid, "uid-1", True, "10.0.0.5")
    cid = _run(rt, sid, "fake", "run")
    rt.stop_pod_sandbox(sid)
    assert rt.container_status(cid).exit_code == 137
    assert not rt.list_sandboxes()[0].ready
    with pytest.raises(RuntimeError_):
        rt.create_container(sid, ContainerConfig(name="late", image="x", command=["fake"]))
    rt.remove_pod_sandbox(sid)
    rt.remove_pod_sandbox(sid)  # idempotent
    assert rt.list_sandboxes() == [] and rt.list_containers() == []


def test_exit_after_delay(rt: FakeRuntime, clock: FakeClock) -> None:
    sid = _sandbox(rt)
    cid = _run(rt, sid, "fake", "exit", "3", "after", "0.2")
    status = rt.container_status(cid)
    assert status.state is ContainerState.RUNNING and status.pid is not None
    clock.advance(0.1)
    assert rt.container_status(cid).state is ContainerState.RUNNING
    clock.advance(0.1)
    status = rt.container_status(cid)
    assert (status.state, status.exit_code, status.reason) == (ContainerState.EXITED, 3, "Error")
    assert status.finished_at == pytest.approx(1000.2) and status.pid is None


def test_immediate_exit_zero_and_oom(rt: FakeRuntime, clock: FakeClock) -> None:
    sid = _sandbox(rt)
    done = _run(rt, sid, "fake", "exit", "0", name="done")
    oom = _run(rt, sid, "fake", "oom", "after", "1", name="oom")
    assert rt.container_status(done).reason == "Completed"
    clock.advance(1)
    status = rt.container_status(oom)
    assert (status.exit_code, status.reason) == (137, "OOMKilled")
    assert {s.name: s.state for s in rt.list_containers(sid)} == {"done": ContainerState.EXITED,
                                                                   "oom": ContainerState.EXITED}


def test_stop_with_grace(rt: FakeRuntime, clock: FakeClock) -> None:
    sid = _sandbox(rt)
    polite = _run(rt, sid, "fake", "grace", "2", name="polite")
    rt.stop_container(polite, 5)
    status = rt.container_status(polite)
    assert (status.exit_code, status.finished_at) == (143, pytest.approx(1002.0))
    stubborn = _run(rt, sid, "fake", "grace", "never", name="stubborn")
    rt.stop_container(stubborn, 3)
    status = rt.container_status(stubborn)
    assert (status.exit_code, status.finished_at) == (137, pytest.approx(1005.0))
    rt.stop_container(stubborn, 3)  # idempotent: still the first exit
    assert rt.container_status(stubborn).finished_at == pytest.approx(1005.0)
    rt.stop_container("container-unknown", 1)


def test_natural_exit_during_grace_wins(rt: FakeRuntime) -> None:
    sid = _sandbox(rt)
    cid = _run(rt, sid, "fake", "exit", "0", "after", "1", "grace", "never")
    rt.stop_container(cid, 10)
    assert (rt.container_status(cid).exit_code, rt.container_status(cid).reason) == (0, "Completed")


def test_start_errors(rt: FakeRuntime) -> None:
    sid = _sandbox(rt)
    cid = rt.create_container(sid, ContainerConfig(name="c", image="x", command=["fake", "fail-start"]))
    with pytest.raises(RuntimeError_):
        rt.start_container(cid)
    assert rt.container_status(cid).reason == "StartError"
    with pytest.raises(RuntimeError_):
        rt.start_container(cid)
    with pytest.raises(RuntimeError_):
        rt.create_container(sid, ContainerConfig(name="bad", image="x", command=["fake", "exit", "x"]))
    with pytest.raises(RuntimeError_):
        rt.container_status("nope")


def test_logs(rt: FakeRuntime, clock: FakeClock) -> None:
    sid = _sandbox(rt)
    cid = _run(rt, sid, "fake", "say", "one", "say", "two", "exit", "0", "after", "5")
    assert list(rt.logs(cid)) == [b"one\n", b"two\n"]
    assert list(rt.logs(cid, tail=1)) == [b"two\n"]
    assert list(rt.logs(cid, tail=0)) == []
    assert list(rt.logs(cid, timestamps=True))[0] == b"1970-01-01T00:16:40.000000000Z one\n"
    assert list(rt.logs(cid, since=1000.5)) == []
    assert list(rt.logs(cid, follow=True)) == [b"one\n", b"two\n"]  # waits (on the fake clock) for the exit
    assert clock() >= 1005 and rt.container_status(cid).state is ContainerState.EXITED


def test_stats_and_calls(rt: FakeRuntime, clock: FakeClock) -> None:
    sid = _sandbox(rt)
    cid = _run(rt, sid, "fake", "cpu", "500", "mem", "1048576")
    clock.advance(2)
    stats = rt.stats(cid)
    assert (stats.cpu_usage_nanos, stats.memory_bytes) == (1_000_000_000, 1048576)
    rt.remove_container(cid)
    rt.remove_container(cid)
    assert ("start_container", cid) in rt.calls and rt.calls[-1] == ("remove_container", cid)
    assert rt.capabilities().name == "fake"
