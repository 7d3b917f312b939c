"""The `minik8s` command end to end: `up --masters 3`, client verbs, one-line errors, clean stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from minik8s.chaos.upcluster import stop_up

from .cluster import free_port, wait_for


def _minik8s(args: list[str], env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "minik8s.cli.main", *args], env=env, input=stdin,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def up_cluster(tmp_path: Path):
    """`minik8s up --masters 3` (HTTPS) in the background; yields (env with KUBECONFIG, data dir, process).
    It starts with SIGINT ignored, as a background job of a non-interactive shell does: `up` must
    still stop on SIGINT."""
    data = tmp_path / "data"
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "minik8s.cli.main", "up", "--masters", "3", "--runtime", "process", "--data-dir",
                             str(data), "--api-port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        wait_for(lambda: (data / "kubeconfig").exists() or proc.poll() is not None, timeout=60,
                 what="minik8s up to write its kubeconfig")
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        env = dict(os.environ, KUBECONFIG=str(data / "kubeconfig"))
        env.pop("MINIK8S_SERVER", None)
        env.pop("MINIK8S_TOKEN", None)
        yield env, data, proc
    finally:
        stop_up(proc, data, timeout=30)


def test_cli_up_apply_get_delete_and_errors(up_cluster, tmp_path: Path) -> None:
    """apply creates then reports unchanged; get/delete work; user mistakes print one line and exit 1."""
    env, data, proc = up_cluster
    ns = _minik8s(["get", "ns"], env)
    assert ns.returncode == 0, ns.stderr
    assert ns.stdout.split("\n")[0].split() == ["NAME", "STATUS", "AGE"]
    assert {"default", "kube-system", "kube-node-lease"} <= {line.split()[0] for line in ns.stdout.splitlines()[1:]}

    manifest = tmp_path / "cms.yaml"
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: one\ndata:\n  a: '1'\n---\n"
                        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: two\ndata:\n  b: '2'\n")
    first = _minik8s(["apply", "-f", str(manifest)], env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == ["configmap/one created", "configmap/two created"]
    again = _minik8s(["apply", "-f", str(manifest)], env)
    assert again.stdout.splitlines() == ["configmap/one unchanged", "configmap/two unchanged"]

    got = _minik8s(["get", "configmap", "one", "-o", "json"], env)
    assert got.returncode == 0 and '"a": "1"' in got.stdout

    missing = _minik8s(["get", "configmap", "nope"], env)
    assert missing.returncode == 1
    assert missing.stderr.strip() == 'Error from server (NotFound): configmaps "nope" not found'

    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n")
    bad = _minik8s(["apply", "-f", str(broken)], env)
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1
    assert bad.stderr.startswith(f"error: {broken}:") and "Traceback" not in bad.stderr

    invalid = _minik8s(["apply", "-f", "-"], env, stdin="apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n")
    assert invalid.returncode == 1 and "(Invalid)" in invalid.stderr and "metadata.name" in invalid.stderr
    assert len(invalid.stderr.strip().splitlines()) == 1

    status = _minik8s(["cluster", "status"], env)
    assert status.returncode == 0
    roles = [line.split()[1] for line in status.stdout.splitlines()[1:]]
    assert sorted(roles) == ["follower", "follower", "leader"]

    deleted = _minik8s(["delete", "configmap", "one"], env)
    assert deleted.returncode == 0 and 'configmap "one" deleted' in deleted.stdout
    assert _minik8s(["get", "configmap", "one"], env).returncode == 1


def test_cli_up_stops_everything_on_interrupt(up_cluster) -> None:
    """Ctrl-C on `minik8s up` (started with SIGINT ignored) stops every master and node it started and
    removes their namespaces."""
    env, data, proc = up_cluster
    state = json.loads((data / "cluster.json").read_text())
    pids = state["pids"] + state["node_pids"]
    namespaces = [h["netns"] for h in state["hosts"]]
    assert pids and namespaces and all(_alive(pid) for pid in pids)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 0
    assert not any(_alive(pid) for pid in pids)
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not any(ns in listed for ns in namespaces)
    assert not (data / "cluster.json").exists()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split()[2] != "Z"


def test_cli_down_removes_everything_up_created(up_cluster) -> None:
    """`minik8s down --data-dir DIR` stops the `up` cluster from another shell and removes what it made."""
    env, data, proc = up_cluster
    state = json.loads((data / "cluster.json").read_text())
    pids = state["pids"] + state["node_pids"]
    namespaces = [h["netns"] for h in state["hosts"]]
    down = _minik8s(["down", "--data-dir", str(data)], env)
    assert down.returncode == 0 and "stopped" in down.stdout
    assert proc.wait(timeout=60) is not None
    assert not any(_alive(pid) for pid in pids)
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not any(ns in listed for ns in namespaces)
    assert not (data / "cluster.json").exists()


def _read_until(proc: subprocess.Popen[str], marker: str, limit: int = 50) -> list[str]:
    """`up`'s stdout lines up to the first containing `marker` (bounded: `up` prints a handful)."""
    assert proc.stdout is not None
    lines: list[str] = []
    for _ in range(limit):
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if marker in line:
            return lines
    raise AssertionError(f"{marker!r} not in up's output: {lines}")


def test_cli_up_prints_commands_that_run(up_cluster) -> None:
    """`up` prints the minik8s command by a path that works from any shell (the venv's bin is not on PATH)."""
    env, data, proc = up_cluster
    lines = _read_until(proc, "stops it")
    get_nodes = next(line.split("#")[0].strip() for line in lines if line.strip().endswith("kubectl get nodes"))
    command = get_nodes.split()[0]
    assert command.endswith("/minik8s") and os.access(command, os.X_OK), get_nodes
    bare_path = dict(env, PATH="/usr/bin:/bin")  # a shell without the venv on PATH
    shown = subprocess.run(get_nodes.split(), env=bare_path, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and shown.stdout.startswith("NAME"), shown.stderr
    apply_example = next(line.strip() for line in lines if " apply -f " in line)
    applied = subprocess.run(apply_example.split(), env=bare_path, capture_output=True, text=True, timeout=60)
    assert applied.returncode == 0 and applied.stdout.strip() == "pod/http-server created", applied.stderr


def test_cli_version_client_and_server(up_cluster, tmp_path: Path) -> None:
    """`minik8s version`: the client's and the server's; `--client` needs no cluster; -o json."""
    env, data, proc = up_cluster
    both = _minik8s(["version"], env)
    assert both.returncode == 0, both.stderr
    assert both.stdout.splitlines() == ["Client Version: v0.1.0", "Server Version: v1.32.0-minik8s"]
    as_json = json.loads(_minik8s(["version", "-o", "json"], env).stdout)
    assert as_json["clientVersion"]["minik8sVersion"] == "0.1.0"
    assert as_json["serverVersion"]["minor"] == "32"
    nowhere = {k: v for k, v in env.items() if k != "KUBECONFIG"} | {"HOME": str(tmp_path)}
    client = _minik8s(["version", "--client"], nowhere)
    assert (client.returncode, client.stdout, client.stderr) == (0, "Client Version: v0.1.0\n", "")
    unconfigured = _minik8s(["version"], nowhere)
    assert unconfigured.returncode == 1 and unconfigured.stdout == "Client Version: v0.1.0\n"
    assert unconfigured.stderr.startswith("error: no API server configured")


def test_cli_stopped_or_wrong_cluster_says_cannot_connect(up_cluster, tmp_path: Path) -> None:
    """No SSL/x509 traceback or jargon first: `cannot connect to the cluster at URL: why - what to check`,
    one line, exit 1 — for a TLS server of another cluster, a server not speaking TLS, and a stopped cluster."""
    import http.server
    import threading

    from minik8s.api.certs import ensure_serving_certs
    from minik8s.api.kubeconfig import load_kubeconfig, write_kubeconfig

    env, data, proc = up_cluster
    config = load_kubeconfig(data / "kubeconfig")
    urls = ", ".join(config.servers)

    # the right address, but a kubeconfig with another cluster's CA
    other_ca = ensure_serving_certs(tmp_path / "other-pki", ["127.0.0.1"]).ca_file
    wrong = tmp_path / "wrong-ca"
    write_kubeconfig(wrong, server=",".join(config.servers), token=config.token or "x", ca_file=other_ca)
    got = _minik8s(["get", "pods"], dict(env, KUBECONFIG=str(wrong)))
    assert got.returncode == 1 and got.stderr.count("\n") == 1, got.stderr
    assert got.stderr.startswith(f"error: cannot connect to the cluster at {urls}: TLS: the server's certificate "
                                 "is not signed by the cluster's CA (")
    assert got.stderr.rstrip().endswith("is this kubeconfig for the cluster at that address?")

    # an https URL whose server speaks plain HTTP
    plain = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=plain.serve_forever, daemon=True).start()
    try:
        url = f"https://127.0.0.1:{plain.server_port}"
        got = _minik8s(["get", "pods", "--server", url, "--token", "x"], env)
        assert got.returncode == 1
        assert got.stderr.startswith(f"error: cannot connect to the cluster at {url}: TLS: the server does not "
                                     "speak TLS - "), got.stderr
    finally:
        plain.shutdown()
        plain.server_close()

    # the cluster stopped: every verb says it cannot connect, naming the kubeconfig's URLs
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 0
    for args in (["get", "pods"], ["apply", "-f", "-"], ["cluster", "status"], ["version"]):
        got = _minik8s(args, env, stdin="apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n")
        assert got.returncode == 1, (args, got.stdout)
        if args[0] == "cluster":  # a table of unreachable masters
            assert all(line.split()[1] == "unreachable" for line in got.stdout.splitlines()[1:]), got.stdout
            continue
        assert got.stderr.startswith(f"error: cannot connect to the cluster at {urls}: "), (args, got.stderr)
        assert got.stderr.count("\n") == 1 and "Traceback" not in got.stderr
