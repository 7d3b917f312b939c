"""Deployments end to end: `minik8s up --masters 3 --nodes 3` (process runtime) with the real kubectl over HTTPS.

A rolling update of 10 pods with maxSurge 2 / maxUnavailable 1 is sampled every 100 ms: never
fewer than 9 available, never more than 12 pods. kubectl's own `rollout status|history|undo|
pause|resume|restart`, `set image` and `scale deployment` drive it; the `minik8s` verbs do the
same against another Deployment; a template whose container exits at once ends in
`ProgressDeadlineExceeded`, and `kubectl rollout status` fails.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from minik8s.api.kubeconfig import load_kubeconfig
from minik8s.api.workloads import REVISION_ANNOTATION, REVISION_HISTORY_ANNOTATION, revision

from .cluster import wait_for
from .kubectl_support import Kubectl, finish_module, ph
from .workload_support import NAMESPACE, Sampler, Up3, active_pods, deployment, minik8s, running_ready

DEPLOYS = "deployments.apps"


@pytest.fixture(scope="module", autouse=True)
def _record_calls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    yield
    finish_module(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up3]:
    cluster = Up3(tmp_path_factory.mktemp("deployments") / "data")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def kubectl(up: Up3, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    """kubectl against the first HTTPS master of the cluster, verifying it with the cluster's CA."""
    config = load_kubeconfig(up.root / "kubeconfig")
    assert config.ca_file is not None and config.token is not None
    return Kubectl(tmp_path_factory.mktemp("kubectl-home"), config.servers[0], config.token,
                   ca_file=Path(config.ca_file))


def images(up: Up3, app: str) -> set[str]:
    return {p["spec"]["containers"][0]["image"] for p in active_pods(up.client, app)}


def rolled_out(up: Up3, name: str, replicas: int, image: str) -> bool:
    """Every pod runs `image`, as many as wanted, all ready, and the Deployment says so."""
    d = up.client.get(DEPLOYS, name, namespace=NAMESPACE)
    status = d.get("status") or {}
    return (len(running_ready(up.client, name)) == replicas and images(up, name) == {image}
            and status.get("observedGeneration") == d["metadata"]["generation"]
            and status.get("updatedReplicas") == status.get("availableReplicas") == replicas)


def progressing_reason(up: Up3, name: str) -> str | None:
    conditions = (up.client.get(DEPLOYS, name, namespace=NAMESPACE).get("status") or {}).get("conditions") or []
    return next((c.get("reason") for c in conditions if c["type"] == "Progressing"), None)


def rollout_status(kubectl: Kubectl, name: str) -> str:
    out = kubectl.run("rollout", "status", ph(f"deployment/{name}", "deployment/NAME"), "--timeout=120s",
                      timeout=150).stdout
    assert out.splitlines()[-1] == f'deployment "{name}" successfully rolled out', out
    return out


def test_rolling_update_keeps_within_surge_and_unavailability(up: Up3, kubectl: Kubectl) -> None:
    """10 pods, maxSurge 2, maxUnavailable 1: sampled every 100 ms, never < 9 available or > 12 pods."""
    up.client.create(deployment("web", 10, "web:v1"))
    wait_for(lambda: rolled_out(up, "web", 10, "web:v1"), timeout=60, interval=0.5, what="web v1 rolled out")
    with Sampler(up.client, "web") as sampler:
        out = kubectl.run("set", "image", ph("deployment/web", "deployment/NAME"), ph("app=web:v2", "CONTAINER=IMAGE"))
        assert out.stdout.strip() == "deployment.apps/web image updated"
        rollout_status(kubectl, "web")
        wait_for(lambda: rolled_out(up, "web", 10, "web:v2"), timeout=30, interval=0.5, what="web v2 rolled out")
        time.sleep(0.5)
    print(f"\n{len(sampler.samples)} samples: at most {sampler.most_pods} pods, at least "
          f"{sampler.fewest_available} available")
    assert len(sampler.samples) >= 10
    assert sampler.most_pods <= 12
    assert sampler.fewest_available >= 9


def test_history_and_undo_bring_the_previous_template_back(up: Up3, kubectl: Kubectl) -> None:
    """rollout history lists both revisions; undo rolls back to v1 by reusing revision 1's ReplicaSet."""
    out = kubectl.run("rollout", "history", ph("deployment/web", "deployment/NAME")).stdout
    assert out.splitlines()[:4] == ["deployment.apps/web ", "REVISION  CHANGE-CAUSE", "1         <none>",
                                    "2         <none>"]
    out = kubectl.run("rollout", "undo", ph("deployment/web", "deployment/NAME")).stdout
    assert out.strip() == "deployment.apps/web rolled back"
    rollout_status(kubectl, "web")
    wait_for(lambda: rolled_out(up, "web", 10, "web:v1"), timeout=30, interval=0.5, what="back to v1")
    rss = up.client.list("replicasets.apps", namespace=NAMESPACE, label_selector="app=web")["items"]
    assert len(rss) == 2  # the v1 ReplicaSet came back: no third one
    reused = next(rs for rs in rss if rs["spec"]["template"]["spec"]["containers"][0]["image"] == "web:v1")
    assert revision(reused) == 3 and reused["metadata"]["annotations"][REVISION_HISTORY_ANNOTATION] == "1"
    d = up.client.get(DEPLOYS, "web", namespace=NAMESPACE)
    assert d["metadata"]["annotations"][REVISION_ANNOTATION] == "3"


def test_pause_resume_restart_and_scale(up: Up3, kubectl: Kubectl) -> None:
    """Paused, a new image waits; resumed, it rolls out; restart replaces every pod; scale resizes."""
    target = ph("deployment/web", "deployment/NAME")
    assert kubectl.run("rollout", "pause", target).stdout.strip() == "deployment.apps/web paused"
    kubectl.run("set", "image", target, ph("app=web:v3", "CONTAINER=IMAGE"))
    wait_for(lambda: progressing_reason(up, "web") == "DeploymentPaused", timeout=15,
             what="Progressing DeploymentPaused")
    time.sleep(2)
    assert images(up, "web") == {"web:v1"}
    assert kubectl.run("rollout", "resume", target).stdout.strip() == "deployment.apps/web resumed"
    rollout_status(kubectl, "web")
    wait_for(lambda: rolled_out(up, "web", 10, "web:v3"), timeout=30, interval=0.5, what="v3 after resume")
    before = {p["metadata"]["name"] for p in active_pods(up.client, "web")}
    assert kubectl.run("rollout", "restart", target).stdout.strip() == "deployment.apps/web restarted"
    rollout_status(kubectl, "web")
    wait_for(lambda: not before & {p["metadata"]["name"] for p in running_ready(up.client, "web")}
             and len(running_ready(up.client, "web")) == 10, timeout=30, interval=0.5, what="all pods replaced")
    out = kubectl.run("scale", "deployment", ph("web", "NAME"), "--replicas=4").stdout
    assert out.strip() == "deployment.apps/web scaled"
    wait_for(lambda: len(active_pods(up.client, "web")) == 4, timeout=30, interval=0.5, what="scaled to 4")


def test_crashing_template_exceeds_its_progress_deadline(up: Up3, kubectl: Kubectl) -> None:
    """A container that exits at once: ProgressDeadlineExceeded, and kubectl rollout status exits non-zero."""
    up.client.create(deployment("crash", 2, "crash:v1", command=["sh", "-c", "exit 1"], deadline=6))

    wait_for(lambda: progressing_reason(up, "crash") == "ProgressDeadlineExceeded", timeout=60, interval=0.5,
             what="ProgressDeadlineExceeded")
    conditions = up.client.get(DEPLOYS, "crash", namespace=NAMESPACE)["status"]["conditions"]
    assert next(c for c in conditions if c["type"] == "Progressing")["status"] == "False"
    stderr = kubectl.fails("rollout", "status", ph("deployment/crash", "deployment/NAME"), "--timeout=120s")
    assert 'deployment "crash" exceeded its progress deadline' in stderr


@pytest.mark.slow  # 12 s; the verbs' requests are unit-tested (tests/unit/test_cli_rollout.py)
def test_minik8s_rollout_verbs(up: Up3) -> None:
    """The minik8s verbs do what kubectl's do: set image, rollout status/history/undo/pause/resume, scale."""
    up.client.create(deployment("cli", 3, "cli:v1", surge="25%", unavailable="25%"))
    config = ["--kubeconfig", str(up.root / "kubeconfig")]

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(minik8s(*args, *config), capture_output=True, text=True, timeout=120)
        assert (proc.returncode == 0) == ok, f"{args}: {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return proc

    assert run("rollout", "status", "deployment/cli", "--timeout", "60s").stdout.splitlines()[-1] == \
        'deployment "cli" successfully rolled out'
    assert run("set", "image", "deployment/cli", "app=cli:v2").stdout.strip() == "deployment.apps/cli image updated"
    run("rollout", "status", "deployment", "cli", "--timeout", "60s")
    assert run("rollout", "history", "deployment/cli").stdout.splitlines()[1:4] == [
        "REVISION  CHANGE-CAUSE", "1         <none>", "2         <none>"]
    assert run("rollout", "pause", "deployment/cli").stdout.strip() == "deployment.apps/cli paused"
    assert "is already paused" in run("rollout", "pause", "deployment/cli", ok=False).stderr
    assert "cannot rollback a paused deployment" in run("rollout", "undo", "deployment/cli", ok=False).stderr
    assert run("rollout", "resume", "deployment/cli").stdout.strip() == "deployment.apps/cli resumed"
    assert run("rollout", "undo", "deployment/cli", "--to-revision", "1").stdout.strip() == \
        "deployment.apps/cli rolled back"
    run("rollout", "status", "deployment/cli", "--timeout", "60s")
    wait_for(lambda: rolled_out(up, "cli", 3, "cli:v1"), timeout=30, interval=0.5, what="cli back to v1")
    assert run("scale", "deployment/cli", "--replicas", "1").stdout.strip() == "deployment.apps/cli scaled"
    wait_for(lambda: len(active_pods(up.client, "cli")) == 1, timeout=30, interval=0.5, what="cli scaled to 1")


def test_deleting_a_deployment_removes_its_replica_sets_and_pods(up: Up3, kubectl: Kubectl) -> None:
    """kubectl delete --cascade=foreground: the garbage collector removes the ReplicaSets and pods first."""
    kubectl.run("delete", "deployment", ph("web", "NAME"), "--cascade=foreground", timeout=120)
    rss = up.client.list("replicasets.apps", namespace=NAMESPACE, label_selector="app=web")["items"]
    assert rss == [] and active_pods(up.client, "web") == []
