"""Issue 7 item 17: kubectl names a kind minik8s does not serve, as it does against kube-apiserver.

`kubectl apply -f` / `create -f` of an unserved kind (a StatefulSet in a served group-version, a
PodDisruptionBudget or Job in an unserved one, a custom resource) prints `resource mapping not found ... no matches
for kind "K" in version "G/V"` and `ensure CRDs are installed first`, exit 1 — not "failed to
download openapi". Served kinds keep working in the same kubectl session (v2 describes no kinds).
(autoscaling/v1 HorizontalPodAutoscalers are served since issue 9: a PodDisruptionBudget stands for
an unserved group.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from .cluster import TOKEN, Cluster, running
from .kubectl_support import Kubectl, finish_module, ph

UNSERVED = [
    ("apps/v1", "StatefulSet", {"serviceName": "web", "selector": {"matchLabels": {"app": "web"}},
                                "template": {"metadata": {"labels": {"app": "web"}},
                                             "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}),
    ("policy/v1", "PodDisruptionBudget", {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}),
    ("batch/v1", "Job", {"template": {"spec": {"restartPolicy": "Never",
                                               "containers": [{"name": "c", "image": "busybox", "command": ["true"]}]}}}),
    ("example.com/v1", "Widget", {"size": 3}),
]


@pytest.fixture(scope="module", autouse=True)
def _record_calls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    yield
    finish_module(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running(tmp_path_factory.mktemp("unserved") / "cluster", 1, tls=True,
                 extra_args=["--no-control-loops"]) as c:
        yield c


@pytest.fixture(scope="module")
def kubectl(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    assert cluster.ca_file is not None
    return Kubectl(tmp_path_factory.mktemp("kubectl-unserved"), cluster.masters[0].url, TOKEN,
                   ca_file=Path(cluster.ca_file))


def _manifest(kubectl: Kubectl, api_version: str, kind: str, spec: dict, name: str) -> Path:
    path = kubectl.workdir / f"{kind.lower()}.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": api_version, "kind": kind, "metadata": {"name": name},
                                    "spec": spec}))
    return path


@pytest.mark.parametrize("verb", ["apply", "create"])
@pytest.mark.parametrize(("api_version", "kind", "spec"), UNSERVED, ids=[k for _, k, _ in UNSERVED])
def test_unserved_kind_is_named(kubectl: Kubectl, verb: str, api_version: str, kind: str, spec: dict) -> None:
    name = f"x-{kind.lower()}"
    path = _manifest(kubectl, api_version, kind, spec, name)
    proc = kubectl.run(verb, "-f", ph(str(path), "FILE"), check=False)
    assert proc.returncode == 1, proc
    assert proc.stderr.splitlines() == [
        f'error: resource mapping not found for name: "{name}" namespace: "" from "{path}": '
        f'no matches for kind "{kind}" in version "{api_version}"',
        "ensure CRDs are installed first",
    ], proc.stderr
    assert "openapi" not in proc.stderr


def test_served_kinds_still_apply_and_validate(kubectl: Kubectl, cluster: Cluster) -> None:
    """A file mixing a served and an unserved kind: the served one is applied, the unserved one named;
    an unknown field in a served kind is still rejected by the server (v3 declares server-side validation)."""
    mixed = kubectl.workdir / "mixed.yaml"
    mixed.write_text(yaml.safe_dump_all([
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "served-cm"}, "data": {"a": "1"}},
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "mixed-ss"}, "spec": UNSERVED[0][2]},
    ]))
    proc = kubectl.run("apply", "-f", ph(str(mixed), "FILE"), check=False)
    assert proc.returncode == 1
    assert proc.stdout.strip() == "configmap/served-cm created"
    assert 'no matches for kind "StatefulSet" in version "apps/v1"' in proc.stderr
    assert cluster.get(0, "/api/v1/namespaces/default/configmaps/served-cm").status_code == 200

    changed = kubectl.workdir / "changed.yaml"
    changed.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "served-cm"},
                                       "data": {"a": "2"}}))
    assert kubectl.run("apply", "-f", ph(str(changed), "FILE")).stdout.strip() == "configmap/served-cm configured"
    assert cluster.get(0, "/api/v1/namespaces/default/configmaps/served-cm").json()["data"] == {"a": "2"}

    unknown_field = kubectl.workdir / "unknown-field.yaml"
    unknown_field.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap",
                                             "metadata": {"name": "strict-cm"}, "bogus": 1}))
    proc = kubectl.run("apply", "-f", ph(str(unknown_field), "FILE"), check=False)
    assert proc.returncode == 1 and 'unknown field "bogus"' in proc.stderr, proc.stderr


def test_functions_of_our_own_group_are_served(kubectl: Kubectl) -> None:
    """minik8s.io/v1 is served like the built-in groups: `kubectl get fn` finds the short name through
    discovery, says when there is nothing, and prints the server's columns once a Function is applied."""
    empty = kubectl.run("get", "fn")
    assert (empty.stdout, empty.stderr.strip()) == ("", "No resources found in default namespace.")
    path = kubectl.workdir / "function.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "minik8s.io/v1", "kind": "Function", "metadata": {"name": "hello"},
                                    "spec": {"source": {"inline": "def handle(params):\n    return params\n"},
                                             "containerConcurrency": 4}}))
    assert kubectl.run("apply", "-f", ph(str(path), "FILE")).stdout.strip() == "function.minik8s.io/hello created"
    lines = kubectl.run("get", "fn").stdout.splitlines()
    assert lines[0].split() == ["NAME", "READY", "MIN", "MAX", "CONCURRENCY", "AGE"]
    assert [line.split()[:5] for line in lines[1:]] == [["hello", "0/0", "0", "10", "4"]]
