"""The process runtime for real (needs root): network namespaces, veths, cgroups, signals, logs, adoption.

Every test removes what it made: sandboxes (netns, veth, cgroups) through the runtime, the test
bridge and the test's cgroup parent in fixtures, and any process still alive by its pid.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pyroute2 import IPRoute

from minik8s.node.runtime import netns, python_zygote
from minik8s.node.runtime.base import ContainerConfig, ContainerState, Mount, RuntimeError_, SandboxConfig
from minik8s.node.runtime.cgroups import Cgroup
from minik8s.node.runtime.process import ProcessRuntime
from minik8s.node.runtime.process_launcher import SHIM_NAME
from minik8s.node.runtime.process_shim import DEFAULT_PATH, process_alive, read_json, status_path

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the process runtime needs root")

BRIDGE, BRIDGE_IP, POD_IP = "mk8stest0", "10.250.0.1", "10.250.0.5"
PY = sys.executable


def wait_for(predicate: Callable[[], object], what: str, timeout: float = 10.0) -> object:
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return result


@pytest.fixture
def cgroup_parent() -> Iterator[str]:
    parent = f"minik8s-test-{uuid.uuid4().hex[:8]}"
    yield parent
    Cgroup.at(parent).remove()


@pytest.fixture
def rt(tmp_path: Path, cgroup_parent: str) -> Iterator[ProcessRuntime]:
    runtime = ProcessRuntime(str(tmp_path / "runtime"), cgroup_parent=cgroup_parent)
    yield runtime
    records = [read_json(status_path(runtime.root_dir, c.id)) or {} for c in runtime.list_containers()]
    processes = [(r.get(pid), r.get(start)) for r in records for pid, start in
                 (("pid", "pid_start"), ("shim_pid", "shim_start"))]
    sandboxes = [read_json(os.path.join(runtime.root_dir, "sandboxes", f"{s.id}.json"))
                 for s in runtime.list_sandboxes()]
    try:
        for sandbox in runtime.list_sandboxes():
            runtime.remove_pod_sandbox(sandbox.id)
    finally:
        for pid, start in processes:
            if process_alive(pid, start):
                os.kill(pid, signal.SIGKILL)
    with IPRoute() as ip:
        for s in filter(None, sandboxes):
            assert not netns.exists(s["netns"]) and not (s["veth"] and ip.link_lookup(ifname=s["veth"]))


@pytest.fixture
def bridge() -> Iterator[str]:
    with IPRoute() as ip:
        ip.link("add", ifname=BRIDGE, kind="bridge")
        index = ip.link_lookup(ifname=BRIDGE)[0]
        ip.addr("add", index=index, address=BRIDGE_IP, prefixlen=24)
        ip.link("set", index=index, state="up")
    try:
        yield BRIDGE
    finally:
        with IPRoute() as ip:
            ip.link("del", ifname=BRIDGE)


def _sandbox(rt: ProcessRuntime, **network: object) -> str:
    uid = uuid.uuid4().hex
    return rt.run_pod_sandbox(SandboxConfig(pod_uid=uid, pod_name="p", namespace="default", hostname="p",
                                            labels={"minik8s.io/pod-uid": uid}, **network))


def _start(rt: ProcessRuntime, sandbox_id: str, command: list[str], name: str = "c",
           labels: dict[str, str] | None = None, **extra: object) -> str:
    cid = rt.create_container(sandbox_id, ContainerConfig(name=name, image="python:3.11", command=command,
                                                          labels={"minik8s.io/container-name": name, **(labels or {})},
                                                          **extra))
    rt.start_container(cid)
    return cid


def _python(rt: ProcessRuntime, sandbox_id: str, code: str, name: str = "c", **extra: object) -> str:
    return _start(rt, sandbox_id, [PY, "-u", "-c", textwrap.dedent(code)], name, **extra)


def _exited(rt: ProcessRuntime, cid: str, timeout: float = 10.0):
    return wait_for(lambda: (s := rt.container_status(cid)).state is ContainerState.EXITED and s,
                    f"container {cid} to exit", timeout)


def _logged(rt: ProcessRuntime, cid: str, text: bytes) -> None:
    wait_for(lambda: any(text in line for line in rt.logs(cid)), f"{text!r} in the log")


def test_pod_network_localhost_and_host_reachability(rt: ProcessRuntime, bridge: str) -> None:
    sid = _sandbox(rt, bridge=bridge, pod_ip=POD_IP, gateway=BRIDGE_IP, prefix_len=24)
    [sandbox] = rt.list_sandboxes()
    assert (sandbox.id, sandbox.ready, sandbox.ip) == (sid, True, POD_IP)
    _start(rt, sid, [PY, "-m", "http.server", "8080", "--bind", "0.0.0.0"], name="server")
    client = _python(rt, sid, """
        import time, urllib.request
        deadline = time.monotonic() + 10
        while True:
            try:
                print(urllib.request.urlopen("http://127.0.0.1:8080/", timeout=1).status)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        """, name="client")
    status = _exited(rt, client)
    assert status.exit_code == 0 and list(rt.logs(client)) == [b"200\n"]

    def host_connects() -> bool:
        try:
            socket.create_connection((POD_IP, 8080), timeout=1).close()
            return True
        except OSError:
            return False
    wait_for(host_connects, "the host to reach the pod IP")

    veth = read_json(os.path.join(rt.root_dir, "sandboxes", f"{sid}.json"))["veth"]
    with IPRoute() as ip:
        assert ip.get_links(ip.link_lookup(ifname=veth)[0])[0].get("IFLA_MASTER") == ip.link_lookup(ifname=bridge)[0]
    rt.stop_pod_sandbox(sid)
    assert all(c.state is ContainerState.EXITED for c in rt.list_containers(sid))
    assert not rt.list_sandboxes()[0].ready and not host_connects()
    with IPRoute() as ip:
        assert ip.link_lookup(ifname=veth) == []
    rt.stop_pod_sandbox(sid)  # idempotent
    rt.remove_pod_sandbox(sid)
    rt.remove_pod_sandbox(sid)
    assert rt.list_sandboxes() == [] and rt.list_containers() == []


def test_sandbox_on_missing_bridge_fails_cleanly(rt: ProcessRuntime) -> None:
    before = set(os.listdir(netns.NETNS_DIR))
    with pytest.raises(RuntimeError_, match="mk8snobridge"):
        _sandbox(rt, bridge="mk8snobridge", pod_ip=POD_IP, gateway=BRIDGE_IP)
    assert rt.list_sandboxes() == [] and set(os.listdir(netns.NETNS_DIR)) == before


def test_exit_codes_and_start_error(rt: ProcessRuntime) -> None:
    sid = _sandbox(rt)
    ok, failed = _start(rt, sid, ["true"], name="ok"), _start(rt, sid, ["sh", "-c", "exit 3"], name="failed")
    assert (_exited(rt, ok).exit_code, rt.container_status(ok).reason) == (0, "Completed")
    assert (_exited(rt, failed).exit_code, rt.container_status(failed).reason) == (3, "Error")
    with pytest.raises(RuntimeError_, match="already started"):
        rt.start_container(ok)
    missing = rt.create_container(sid, ContainerConfig(name="missing", image="x", command=["/no/such/binary"]))
    with pytest.raises(RuntimeError_, match="no such file or directory"):
        rt.start_container(missing)
    assert rt.container_status(missing).reason == "StartError"
    assert b"/no/such/binary" in b"".join(rt.logs(missing))
    with pytest.raises(RuntimeError_):
        rt.container_status("0123456789abcdef")


def test_every_start_failure_is_reported_never_left_created(rt: ProcessRuntime, tmp_path: Path) -> None:
    """What cannot start ends as exited/StartError with a message saying why (or, if known up front,
    is refused by create_container before anything is made or forked)."""
    sid = _sandbox(rt)
    script = tmp_path / "not-executable.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    cases = [(["no-such-program-xyz"], {}, 'exec: "no-such-program-xyz": executable file not found in $PATH'),
             (["/bin/true"], {"working_dir": str(tmp_path / "missing-dir")}, "working dir"),
             ([str(script)], {}, "permission denied")]
    for command, extra, message in cases:
        cid = rt.create_container(sid, ContainerConfig(name="c", image="nginx", command=command, **extra))
        with pytest.raises(RuntimeError_) as raised:
            rt.start_container(cid)
        assert message in str(raised.value)
        status = rt.container_status(cid)
        assert (status.state, status.reason, status.exit_code) == (ContainerState.EXITED, "StartError", 128)
        assert message in (status.message or "")
    before = len(rt.list_containers())
    refused = [({"command": []}, "has no command"), ({"command": ["echo"], "env": {"A": "x\0y"}}, "NUL"),
               ({"command": ["echo", "a\0b"]}, "NUL"), ({"command": ["echo"], "env": {"A=B": "x"}}, "env name")]
    for fields, message in refused:
        with pytest.raises(RuntimeError_, match=message):
            rt.create_container(sid, ContainerConfig(name="c", image="nginx", **fields))
    assert len(rt.list_containers()) == before


def test_env_and_working_dir(rt: ProcessRuntime, tmp_path: Path) -> None:
    sid = _sandbox(rt)
    cid = _start(rt, sid, ["sh", "-c", 'echo "$GREETING $HOSTNAME $(pwd)"'], env={"GREETING": "hello"},
                 working_dir=str(tmp_path))
    _exited(rt, cid)
    assert list(rt.logs(cid)) == [f"hello p {tmp_path}\n".encode()]


def test_sigterm_handler_runs_within_grace(rt: ProcessRuntime) -> None:
    sid = _sandbox(rt)
    graceful = _python(rt, sid, """
        import signal, sys, time
        def on_term(*_):
            time.sleep(0.3)
            print("cleaned up")
            sys.exit(0)
        signal.signal(signal.SIGTERM, on_term)
        print("ready")
        time.sleep(60)
        """)
    plain = _start(rt, sid, ["sleep", "60"], name="plain")
    _logged(rt, graceful, b"ready")
    started = time.monotonic()
    rt.stop_container(graceful, 10)
    assert 0.3 <= time.monotonic() - started < 5
    status = rt.container_status(graceful)
    assert (status.state, status.exit_code) == (ContainerState.EXITED, 0)
    assert list(rt.logs(graceful)) == [b"ready\n", b"cleaned up\n"]
    rt.stop_container(plain, 10)
    assert rt.container_status(plain).exit_code == 143
    rt.stop_container(plain, 10)  # idempotent


def test_sigkill_after_timeout(rt: ProcessRuntime) -> None:
    sid = _sandbox(rt)
    cid = _python(rt, sid, """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("ready")
        time.sleep(60)
        """)
    _logged(rt, cid, b"ready")
    started = time.monotonic()
    rt.stop_container(cid, 0.5)
    assert 0.5 <= time.monotonic() - started < 5
    status = rt.container_status(cid)
    assert (status.exit_code, status.reason, status.pid) == (137, "Error", None)


def test_memory_limit_oom_killed(rt: ProcessRuntime) -> None:
    sid = _sandbox(rt)
    cid = _python(rt, sid, "b = bytearray(200 * 1024 * 1024)", memory_limit_bytes=50 * 1024 * 1024)
    status = _exited(rt, cid, timeout=20)
    assert (status.exit_code, status.reason) == (137, "OOMKilled")


def test_cpu_quota_cgroup_and_stats(rt: ProcessRuntime) -> None:
    sid = _sandbox(rt)
    cid = _python(rt, sid, """
        import time
        while time.process_time() < 0.1:
            pass
        print("busy done")
        time.sleep(60)
        """, cpu_limit_millis=250, memory_limit_bytes=64 * 1024 * 1024)
    cgroup = Cgroup.from_json(read_json(os.path.join(rt.root_dir, "containers", cid, "spec.json"))["cgroup"])
    if cgroup.version == 1:
        assert Path(cgroup.dirs["cpu"], "cpu.cfs_quota_us").read_text().strip() == "25000"
        assert Path(cgroup.dirs["cpu"], "cpu.cfs_period_us").read_text().strip() == "100000"
        assert Path(cgroup.dirs["memory"], "memory.limit_in_bytes").read_text().strip() == str(64 * 1024 * 1024)
    else:
        assert Path(cgroup.dirs["unified"], "cpu.max").read_text().split() == ["25000", "100000"]
    assert rt.container_status(cid).pid in cgroup.pids()
    _logged(rt, cid, b"busy done")
    stats = rt.stats(cid)
    assert stats.cpu_usage_nanos > 50_000_000 and stats.memory_bytes > 0
    rt.remove_container(cid)
    assert not any(os.path.exists(d) for d in cgroup.dirs.values())
    rt.remove_container(cid)  # idempotent


def test_logs_timestamps_tail_since_follow(rt: ProcessRuntime) -> None:
    sid = _sandbox(rt)
    cid = _python(rt, sid, """
        import sys
        for i in range(1, 6):
            print(f"line{i}")
        print("oops", file=sys.stderr)
        print("x" * 40000)
        sys.stdout.write("no newline")
        """)
    _exited(rt, cid)
    lines = list(rt.logs(cid))
    assert lines[:5] == [f"line{i}\n".encode() for i in range(1, 6)] and b"oops\n" in lines
    assert b"x" * 40000 + b"\n" in lines and lines[-1] == b"no newline\n"
    assert list(rt.logs(cid, tail=2)) == lines[-2:] and list(rt.logs(cid, tail=0)) == []
    stamped = list(rt.logs(cid, timestamps=True))
    assert re.fullmatch(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z line1\n", stamped[0])
    raw = Path(rt.root_dir, "logs", f"{cid}.log").read_bytes().splitlines()
    assert re.fullmatch(rb"\S+Z stdout F line1", raw[0]) and any(b" stderr F oops" in r for r in raw)
    assert any(b" stdout P " in r for r in raw)  # the long line was split and is joined back above
    assert list(rt.logs(cid, since=time.time() + 60)) == []
    assert list(rt.logs(cid, since=0)) == lines

    ticker = _python(rt, sid, """
        import time
        for i in range(5):
            print(f"tick{i}")
            time.sleep(0.1)
        """, name="ticker")
    started = time.monotonic()
    assert list(rt.logs(ticker, follow=True)) == [f"tick{i}\n".encode() for i in range(5)]
    assert time.monotonic() - started < 5 and rt.container_status(ticker).state is ContainerState.EXITED


def test_adoption_after_agent_killed(rt: ProcessRuntime, cgroup_parent: str) -> None:
    agent = subprocess.Popen([PY, "-c", textwrap.dedent(f"""
        import time
        from minik8s.node.runtime.base import ContainerConfig, SandboxConfig
        from minik8s.node.runtime.process import ProcessRuntime
        rt = ProcessRuntime({rt.root_dir!r}, cgroup_parent={cgroup_parent!r})
        sid = rt.run_pod_sandbox(SandboxConfig(pod_uid="u1", pod_name="p", namespace="d", hostname="p"))
        cid = rt.create_container(sid, ContainerConfig(name="c", image="i", command=["sleep", "60"]))
        rt.start_container(cid)
        print(sid, cid, flush=True)
        time.sleep(60)
        """)], stdout=subprocess.PIPE)
    try:
        assert agent.stdout is not None
        sid, cid = agent.stdout.readline().decode().split()
    finally:
        agent.kill()
        agent.wait()
    wait_for(lambda: not _launchers(rt.root_dir), "the dead agent's launcher to end")
    adopted = ProcessRuntime(rt.root_dir, cgroup_parent=cgroup_parent)
    assert [(s.id, s.pod_uid, s.ready) for s in adopted.list_sandboxes()] == [(sid, "u1", True)]
    [status] = adopted.list_containers(sid)
    assert (status.id, status.state) == (cid, ContainerState.RUNNING)
    second = _start(adopted, sid, ["sh", "-c", "exit 7"], name="second")  # through a new launcher
    assert _exited(adopted, second).exit_code == 7
    adopted.stop_container(cid, 5)
    assert adopted.container_status(cid).exit_code == 143  # recorded by the orphaned shim


def _launchers(root_dir: str) -> list[int]:
    """Pids of the launchers of `root_dir` (shims forked from one share its command line: left out)."""
    needle = f"process_launcher\0{root_dir}\0".encode()
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
            with open(f"/proc/{entry}/comm") as f:
                name = f.read().strip()
        except OSError:
            continue
        if needle in cmdline and name != SHIM_NAME:
            found.append(int(entry))
    return found


def test_launcher_killed_is_replaced_and_containers_live_on(rt: ProcessRuntime) -> None:
    """Killing the launcher (-9) touches no running container; the next start gets a new launcher."""
    sid = _sandbox(rt)
    first = _start(rt, sid, ["sleep", "60"], name="first")
    [launcher] = _launchers(rt.root_dir)
    os.kill(launcher, signal.SIGKILL)
    wait_for(lambda: not process_alive(launcher, None) and launcher not in _launchers(rt.root_dir), "launcher death")
    second = _start(rt, sid, ["sh", "-c", "kill -9 $$"], name="second")
    assert (_exited(rt, second).exit_code, rt.container_status(second).reason) == (137, "Error")  # 128 + SIGKILL
    assert rt.container_status(first).state is ContainerState.RUNNING
    assert _launchers(rt.root_dir) not in ([], [launcher])


def test_shim_that_dies_before_starting_is_a_start_error(rt: ProcessRuntime) -> None:
    """A shim that ends before writing any status (here: its spec vanished) is reported as StartError with its log."""
    sid = _sandbox(rt)
    cid = rt.create_container(sid, ContainerConfig(name="c", image="i", command=["true"]))
    spec = os.path.join(rt.root_dir, "containers", cid, "spec.json")
    rt._known_spec(cid)  # cached for the runtime, gone for the shim
    os.rename(spec, spec + ".away")
    with pytest.raises(RuntimeError_, match="(?s)shim failed before starting it: .*no container"):
        rt.start_container(cid)
    os.rename(spec + ".away", spec)
    status = rt.container_status(cid)
    assert (status.state, status.reason, status.exit_code) == (ContainerState.EXITED, "StartError", 128)


def test_shim_lost_reports_unknown_and_remove_cleans_up(rt: ProcessRuntime) -> None:
    sid = _sandbox(rt)
    cid = _start(rt, sid, ["sleep", "60"])
    record = read_json(status_path(rt.root_dir, cid))
    assert record is not None
    os.kill(record["shim_pid"], signal.SIGKILL)
    status = wait_for(lambda: (s := rt.container_status(cid)).state is ContainerState.EXITED and s, "shim loss")
    assert (status.exit_code, status.reason) == (137, "ContainerStatusUnknown")
    assert process_alive(record["pid"], record["pid_start"])  # the orphan still runs ...
    rt.remove_container(cid)
    wait_for(lambda: not process_alive(record["pid"], record["pid_start"]), "the orphan to be killed")


def test_exec_joins_the_container(rt: ProcessRuntime, bridge: str, tmp_path: Path) -> None:
    """exec_sync runs in the container's network and mount namespaces and cgroup, with its env and working dir;
    a timeout kills it; a program that does not exist is an error, not an exit code."""
    volume = tmp_path / "volume"
    volume.mkdir()
    (volume / "file").write_text("inside")
    mount_path = tmp_path / "mnt"
    sid = _sandbox(rt, bridge=bridge, pod_ip=POD_IP, gateway=BRIDGE_IP, prefix_len=24)
    cid = _start(rt, sid, ["sleep", "600"], env={"GREETING": "hello"}, working_dir=str(tmp_path),
                 mounts=[Mount(str(volume), str(mount_path), read_only=True)])
    result = rt.exec_sync(cid, ["sh", "-c", f'echo "$GREETING $(pwd)"; cat {mount_path}/file; echo; '
                                            "ip -o -4 addr show dev eth0; cat /proc/self/cgroup; exit 3"], timeout=10)
    output = result.output.decode()
    assert result.exit_code == 3 and not result.timed_out
    assert output.startswith(f"hello {tmp_path}\ninside\n"), output
    assert POD_IP in output and cid in output  # the pod's address, the container's cgroup
    assert not (mount_path / "file").exists()  # the mount exists in the container's namespace only
    started = time.monotonic()
    slow = rt.exec_sync(cid, ["sleep", "30"], timeout=0.5)
    assert slow.timed_out and slow.exit_code is None and time.monotonic() - started < 5
    with pytest.raises(RuntimeError_, match='executable file not found'):
        rt.exec_sync(cid, ["no-such-program-xyz"], timeout=5)
    rt.stop_container(cid, 0)
    with pytest.raises(RuntimeError_, match="not running"):
        rt.exec_sync(cid, ["true"], timeout=5)


ZYGOTE = {python_zygote.LABEL: "true"}


def _script(tmp_path: Path, code: str, name: str = "main.py") -> str:
    path = tmp_path / "code" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(textwrap.dedent(code))
    return str(path)


def _forked(pid: int) -> bool:
    """Forked from the launcher (its command line) rather than exec'd as `python3 SCRIPT`."""
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return b"process_launcher" in f.read()


@pytest.mark.skipif(python_zygote.Interpreter.probe(DEFAULT_PATH) is None,
                    reason="the host's python3 is not the Python version minik8s runs on")
def test_python_zygote_forks_a_script_into_its_container(rt: ProcessRuntime, bridge: str, tmp_path: Path) -> None:
    """A labelled `python3 SCRIPT` is forked from the pre-imported launcher and sees what an exec'd one sees:
    argv, sys.path, environment, working directory, volumes, cgroup, pod network, exit code, output; the
    same script without the label, or with a PYTHON* variable, is exec'd."""
    volume = tmp_path / "volume"
    volume.mkdir()
    (volume / "file").write_text("inside")
    mount_path = tmp_path / "mnt"
    script = _script(tmp_path, f"""
        import atexit, json, os, sys, threading, time
        try:
            import minik8s
            ours = True
        except ImportError:
            ours = False
        seen = {{"argv": sys.argv, "path0": sys.path[0], "cwd": os.getcwd(), "env": os.environ.get("GREETING"),
                "ours": ours, "volume": open("{mount_path}/file").read(), "cgroup": open("/proc/self/cgroup").read(),
                "executable": os.path.basename(sys.executable), "main": __name__}}
        print(json.dumps(seen), flush=True)
        atexit.register(lambda: print("atexit ran", flush=True))
        threading.Thread(target=lambda: (time.sleep(0.2), print("thread ended", flush=True))).start()
        sys.exit(7)
        """)
    sid = _sandbox(rt, bridge=bridge, pod_ip=POD_IP, gateway=BRIDGE_IP, prefix_len=24)
    cid = _start(rt, sid, ["python3", script, "one"], env={"GREETING": "hello"}, working_dir=str(tmp_path),
                 mounts=[Mount(str(volume), str(mount_path), read_only=True)], labels=ZYGOTE)
    assert _forked(read_json(status_path(rt.root_dir, cid))["pid"])
    assert _exited(rt, cid).exit_code == 7
    lines = list(rt.logs(cid))
    seen = json.loads(lines[0])
    assert seen["argv"] == [script, "one"] and seen["path0"] == os.path.dirname(script)
    assert (seen["cwd"], seen["env"], seen["ours"], seen["volume"], seen["main"]) == (
        str(tmp_path), "hello", False, "inside", "__main__")
    assert cid in seen["cgroup"] and seen["executable"].startswith("python3")
    assert lines[1:] == [b"thread ended\n", b"atexit ran\n"]  # the interpreter's exit: threads, then atexit
    assert not (mount_path / "file").exists()
    server = _script(tmp_path, """
        import socket
        s = socket.socket()
        s.bind(("0.0.0.0", 8080))
        s.listen()
        print("listening", flush=True)
        s.accept()[0].sendall(b"from the pod")
        """, "server.py")
    cid = _start(rt, sid, ["python3", server], name="server", labels=ZYGOTE)
    _logged(rt, cid, b"listening")
    with socket.create_connection((POD_IP, 8080), timeout=5) as conn:
        assert conn.recv(100) == b"from the pod"  # it listens in the pod's network namespace
    for labels, env in (({}, {}), (ZYGOTE, {"PYTHONPATH": str(tmp_path)})):
        cid = _start(rt, sid, ["python3", script, "one"], name="execd", env=env,
                     mounts=[Mount(str(volume), str(mount_path), read_only=True)], labels=labels)
        assert not _forked(read_json(status_path(rt.root_dir, cid))["pid"])
        assert _exited(rt, cid).exit_code == 7


@pytest.mark.skipif(python_zygote.Interpreter.probe(DEFAULT_PATH) is None,
                    reason="the host's python3 is not the Python version minik8s runs on")
def test_python_zygote_failures_are_the_interpreters(rt: ProcessRuntime, tmp_path: Path) -> None:
    """A missing script, an exception, and a working dir that does not exist end as they do exec'd."""
    sid = _sandbox(rt)
    missing = _start(rt, sid, ["python3", str(tmp_path / "nope.py")], labels=ZYGOTE)
    assert _exited(rt, missing).exit_code == 2
    assert b"can't open file" in b"".join(rt.logs(missing))
    raising_script = _script(tmp_path, "raise ValueError('bad input')\n", "raising.py")
    raising = _start(rt, sid, ["python3", raising_script], labels=ZYGOTE)
    assert _exited(rt, raising).exit_code == 1
    assert b"ValueError: bad input" in b"".join(rt.logs(raising))
    cid = rt.create_container(sid, ContainerConfig(name="c", image="python", labels=ZYGOTE,
                                                   command=["python3", _script(tmp_path, "pass\n", "pass.py")],
                                                   working_dir=str(tmp_path / "missing-dir")))
    with pytest.raises(RuntimeError_, match="chdir to the working dir"):
        rt.start_container(cid)
    assert rt.container_status(cid).reason == "StartError"
