"""Start-up safety checks, /metrics, and the Python client + informer against a real master."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

from minik8s.api import errors
from minik8s.api.client import ApiClient
from minik8s.api.informer import Informer

from .cluster import TOKEN, Cluster, configmap, wait_for

CM = "/api/v1/namespaces/default/configmaps"


def _start_and_wait_exit(cluster: Cluster) -> tuple[int, str]:
    cluster.start(0)
    proc = cluster.masters[0].proc
    assert proc is not None
    try:
        code = proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        raise AssertionError("the master started although its data dir is inconsistent") from None
    return code, cluster.masters[0].log_path.read_text()


def test_startup_refuses_store_ahead_of_lost_journal(tmp_path: Path) -> None:
    """A member whose Raft journal was lost but whose store survived refuses to start, saying why."""
    cluster = Cluster(tmp_path / "c", 1)
    try:
        cluster.start()
        cluster.wait_ready()
        assert cluster.post(0, CM, configmap("kept")).status_code == 201
        cluster.stop()
        raft_dir = cluster.masters[0].data_dir / "raft"
        for f in raft_dir.iterdir():
            f.unlink()
        code, log = _start_and_wait_exit(cluster)
        assert code == 1
        assert "the journal was lost or replaced" in log and "Traceback" not in log
    finally:
        cluster.stop()


def test_startup_refuses_data_dir_of_another_cluster(tmp_path: Path) -> None:
    """Starting on a data dir written with another cluster secret fails with a clear message."""
    cluster = Cluster(tmp_path / "c", 1)
    try:
        cluster.start()
        cluster.wait_ready()
        cluster.stop()
        cluster.secret_file.write_text("a-different-cluster-secret\n")
        code, log = _start_and_wait_exit(cluster)
        assert code == 1 and "belongs to another cluster" in log
    finally:
        cluster.stop()


def test_metrics_report_requests_raft_and_watches(cluster1: Cluster) -> None:
    """/metrics is Prometheus text with request counts, Raft indices, revision and open watches."""
    cluster1.post(0, CM, configmap("m"))
    text = cluster1.get(0, "/metrics").text
    for name in ("apiserver_request_total", "apiserver_request_duration_seconds_bucket", "raft_term",
                 "raft_commit_index", "raft_applied_index", "store_revision", "apiserver_open_watches"):
        assert name in text, name
    assert "\nraft_is_leader 1.0\n" in text  # the only master leads
    status = cluster1.status(0)
    assert status["role"] == "leader" and status["leader"] == status["raftAddr"]
    assert status["term"] >= 1 and status["commitIndex"] >= status["appliedIndex"] >= 1
    assert 'apiserver_request_total{code="201",resource="configmaps",verb="POST"}' in text


def test_client_and_informer_against_real_master(tmp_path: Path) -> None:
    """Typed errors, failover past a dead URL, and an informer that relists after compaction."""
    cluster = Cluster(tmp_path / "c", 1, extra_args=["--event-window", "5"])
    try:
        cluster.start()
        cluster.wait_ready()
        client = ApiClient(["http://127.0.0.1:1", cluster.masters[0].url], token=TOKEN)
        client.create(configmap("a"))
        try:
            client.get("configmaps", "nope", namespace="default")
            raise AssertionError("expected NotFoundError")
        except errors.NotFoundError as exc:
            assert exc.code == 404

        # a short long poll: stopping waits for the one in progress (it was 30 s of this test's 34)
        informer = Informer(client, "configmaps", namespace="default", watch_timeout_seconds=2)
        seen: list[tuple[str, str]] = []
        lock = threading.Lock()

        def record(kind: str):
            def handler(*objs: dict) -> None:
                with lock:
                    seen.append((kind, objs[-1]["metadata"]["name"]))
            return handler

        informer.add_handler(on_add=record("add"), on_update=record("update"), on_delete=record("delete"))
        informer.start()
        try:
            assert informer.wait_for_sync(10)
            for n in range(20):  # far beyond the event window: the informer must relist
                client.create(configmap(f"b{n}"))
            client.delete("configmaps", "a", namespace="default")
            wait_for(lambda: {o["metadata"]["name"] for o in informer.list()} == {f"b{n}" for n in range(20)},
                     timeout=15, what="informer cache to match the server")
            assert ("delete", "a") in seen and ("add", "b19") in seen
        finally:
            informer.stop()
    finally:
        cluster.stop()
