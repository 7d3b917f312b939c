"""Unit tests of manifest loading for `apply`/`delete -f`, apply's outcome words, and one-line CLI errors."""

from __future__ import annotations

import copy
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from minik8s.api import errors, kinds
from minik8s.cli import client_verbs
from minik8s.cli.manifests import ManifestError, load_manifests

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  k: v\n"


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# -- loading ---------------------------------------------------------------------------------


def test_load_multi_document_yaml_in_order_skipping_empty_documents(tmp_path: Path) -> None:
    """Every non-empty document of a file is returned in order, with its file as source."""
    path = write(tmp_path, "all.yaml", "---\n" + CM.format(name="a") + "---\n---\n" + CM.format(name="b"))
    loaded = load_manifests([path], None)
    assert [(src, obj["metadata"]["name"]) for src, obj in loaded] == [(path, "a"), (path, "b")]


def test_load_directory_reads_manifests_sorted_and_ignores_other_files(tmp_path: Path) -> None:
    """A directory applies its *.yaml, *.yml and *.json files in name order, nothing else."""
    write(tmp_path, "b.yml", CM.format(name="from-b"))
    write(tmp_path, "a.json", '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "from-a"}}')
    write(tmp_path, "c.yaml", CM.format(name="from-c"))
    write(tmp_path, "README.md", "not: [a manifest")
    (tmp_path / "sub.yaml").mkdir()
    names = [obj["metadata"]["name"] for _, obj in load_manifests([str(tmp_path)], None)]
    assert names == ["from-a", "from-b", "from-c"]


def test_load_stdin_and_files_together(tmp_path: Path) -> None:
    """`-` reads the given stdin text; several -f options are read in the order given."""
    path = write(tmp_path, "x.yaml", CM.format(name="file"))
    loaded = load_manifests(["-", path], CM.format(name="piped"))
    assert [(src, obj["metadata"]["name"]) for src, obj in loaded] == [("STDIN", "piped"), (path, "file")]


def test_load_expands_lists_and_keeps_timestamps_as_strings(tmp_path: Path) -> None:
    """`kind: List` yields its items; unquoted dates stay strings as the JSON API needs."""
    text = ("apiVersion: v1\nkind: List\nitems:\n"
            "- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a, annotations: {day: 2024-01-01}}\n"
            "- apiVersion: v1\n  kind: Namespace\n  metadata: {name: b}\n")
    loaded = load_manifests([write(tmp_path, "list.yaml", text)], None)
    assert [obj["kind"] for _, obj in loaded] == ["ConfigMap", "Namespace"]
    assert loaded[0][1]["metadata"]["annotations"]["day"] == "2024-01-01"


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        pytest.param("bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  bad: : here\n",
                     "bad.yaml:5: mapping values are not allowed here", id="yaml-syntax"),
        pytest.param("tab.yaml", "apiVersion: v1\nkind: ConfigMap\n\tmetadata: {}\n",
                     "tab.yaml:3: found character '\\t' that cannot start any token", id="yaml-tab"),
        pytest.param("bad.json", '{\n  "apiVersion": "v1",\n  "kind": \n}\n',
                     "bad.json:4: Expecting value", id="json-syntax"),
        pytest.param("nokind.yaml", CM.format(name="a") + "---\napiVersion: v1\nmetadata: {name: b}\n",
                     "nokind.yaml: document 2: missing kind", id="missing-kind"),
        pytest.param("noversion.yaml", "kind: ConfigMap\nmetadata: {name: a}\n",
                     "noversion.yaml: document 1: missing apiVersion", id="missing-apiversion"),
        pytest.param("noname.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n",
                     "noname.yaml: document 1: missing metadata.name", id="missing-name"),
        pytest.param("scalar.yaml", "just a string\n",
                     "scalar.yaml: document 1: expected a mapping, got str", id="not-a-mapping"),
        pytest.param("unknown.yaml", "apiVersion: v1\nkind: Widget\nmetadata: {name: a}\n",
                     'unknown.yaml: document 1: no matches for kind "Widget" in version "v1"', id="unknown-kind"),
    ],
)
def test_load_errors_are_one_line_with_file_and_line(tmp_path: Path, name: str, text: str, message: str) -> None:
    """Bad manifests raise ManifestError naming the file and the YAML line (problem_mark + 1) or document."""
    path = write(tmp_path, name, text)
    with pytest.raises(ManifestError) as caught:
        load_manifests([path], None)
    assert str(caught.value) == f"{tmp_path}/{message}"
    assert "\n" not in str(caught.value)


def test_load_missing_path_is_an_error() -> None:
    """A path that does not exist is reported like kubectl does."""
    with pytest.raises(ManifestError, match='the path "/no/such.yaml" does not exist'):
        load_manifests(["/no/such.yaml"], None)


# -- apply: server-side apply, reported as created / configured / unchanged ------------------

MANIFEST: dict[str, Any] = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
}


class FakeClient:
    """An in-memory API whose server-side apply keeps the resourceVersion when nothing changes."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.applied: list[tuple[dict[str, Any], str, bool]] = []  # (body, field manager, force)
        self.revision = 0

    def get(self, rt: kinds.ResourceType, name: str, *, namespace: str | None = None) -> dict[str, Any]:
        if name not in self.objects:
            raise errors.NotFoundError(f'{rt.group_plural} "{name}" not found')
        return copy.deepcopy(self.objects[name])

    def apply(self, obj: dict[str, Any], *, field_manager: str, force: bool = False) -> dict[str, Any]:
        self.applied.append((copy.deepcopy(obj), field_manager, force))
        name = obj["metadata"]["name"]
        live = self.objects.get(name)
        content = {k: v for k, v in obj.items() if k != "metadata"}
        if live is None or {k: v for k, v in live.items() if k != "metadata"} != content:
            self.revision += 1
            self.objects[name] = {**copy.deepcopy(obj), "metadata": {**obj["metadata"],
                                                                       "resourceVersion": str(self.revision)}}
        return copy.deepcopy(self.objects[name])


def test_apply_object_creates_then_is_unchanged_then_configures() -> None:
    """apply is idempotent: created, unchanged on a repeat (same resourceVersion), configured after an edit."""
    client, rt = FakeClient(), kinds.resolve("deploy")
    assert client_verbs.apply_object(client, rt, MANIFEST, "default") == "created"  # type: ignore[arg-type]
    assert client_verbs.apply_object(client, rt, MANIFEST, "default") == "unchanged"  # type: ignore[arg-type]
    edited = copy.deepcopy(MANIFEST)
    edited["spec"]["replicas"] = 4
    assert client_verbs.apply_object(client, rt, edited, "default") == "configured"  # type: ignore[arg-type]
    assert client.objects["web"]["spec"]["replicas"] == 4


def test_apply_object_is_server_side_apply_as_kubectl() -> None:
    """Every apply is a forced server-side apply by manager `kubectl`, with the namespace filled in as kubectl does."""
    client = FakeClient()
    client_verbs.apply_object(client, kinds.resolve("deploy"), MANIFEST, "prod")  # type: ignore[arg-type]
    client_verbs.apply_object(client, kinds.resolve("ns"), {"apiVersion": "v1", "kind": "Namespace",  # type: ignore[arg-type]
                                                            "metadata": {"name": "prod"}}, "prod")
    [(deploy, manager, force), (namespace, _, _)] = client.applied
    assert (manager, force) == ("kubectl", True)
    assert deploy["metadata"] == {"name": "web", "labels": {"app": "web"}, "namespace": "prod"}
    assert namespace["metadata"] == {"name": "prod"}  # cluster-scoped: no namespace
    assert "namespace" not in MANIFEST["metadata"]  # the manifest itself is left alone


# -- one-line CLI errors (no server needed) --------------------------------------------------


def refused_url() -> str:
    """A loopback URL nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    """A CLI runner with no server configured anywhere (no env, no kubeconfig)."""
    for var in ("MINIK8S_SERVER", "MINIK8S_TOKEN", "KUBECONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return CliRunner()


def run(runner: CliRunner, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(client_verbs.app, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_cli_apply_bad_yaml_prints_file_and_line(runner: CliRunner, tmp_path: Path) -> None:
    """A YAML syntax error is one `error: FILE:LINE: problem` line and exit 1, before any request."""
    path = write(tmp_path, "bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [x\n")
    code, out, err = run(runner, "apply", "-f", path, "--server", refused_url())
    assert code == 1 and out == ""
    assert err.startswith(f"error: {path}:5: ") and err.count("\n") == 1


def test_cli_apply_missing_kind_from_stdin(runner: CliRunner) -> None:
    """A document without kind is reported by number."""
    code, _, err = run(runner, "apply", "-f", "-", stdin="apiVersion: v1\nmetadata: {name: a}\n")
    assert (code, err) == (1, "error: STDIN: document 1: missing kind\n")


def test_cli_get_unknown_kind(runner: CliRunner) -> None:
    """An unknown resource type gets kubectl's message."""
    code, _, err = run(runner, "get", "widgets", "--server", refused_url())
    assert (code, err) == (1, 'error: the server doesn\'t have a resource type "widgets"\n')


def test_cli_unreachable_server_is_one_line(runner: CliRunner) -> None:
    """When no server answers, one `error: cannot connect to the cluster at URL: ...` line, exit 1."""
    url = refused_url()
    code, _, err = run(runner, "get", "pods", "--server", url)
    assert code == 1
    assert err == (f"error: cannot connect to the cluster at {url}: connection refused - "
                   "is the cluster running? (`minik8s up` starts one)\n")
    other = refused_url()
    code, _, err = run(runner, "get", "pods", "--server", f"{url},{other}")
    assert code == 1 and err.startswith(f"error: cannot connect to the cluster at {url}, {other}: connection refused")


@pytest.fixture
def resetting_url() -> Iterator[str]:
    """A loopback URL whose listener resets every connection it accepts (what a firewall may do)."""
    listener = socket.create_server(("127.0.0.1", 0))

    def reset_all() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    threading.Thread(target=reset_all, daemon=True).start()
    yield f"https://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


def test_cli_reset_connections_say_cannot_connect(runner: CliRunner, resetting_url: str) -> None:
    """Connections reset by every server (alone or beside a refused one) are `cannot connect`, with why."""
    code, _, err = run(runner, "get", "pods", "--server", resetting_url)
    assert code == 1
    assert err == (f"error: cannot connect to the cluster at {resetting_url}: connection reset by peer - "
                   "is the cluster running? (`minik8s up` starts one)\n")
    refused = refused_url()
    code, _, err = run(runner, "get", "pods", "--server", f"{refused},{resetting_url}")
    assert code == 1 and err.startswith(
        f"error: cannot connect to the cluster at {refused}, {resetting_url}: {refused}: connection refused; "
        f"{resetting_url}: connection reset by peer - "), err


def test_cli_without_configuration_explains_itself(runner: CliRunner) -> None:
    """No --server, environment or kubeconfig: one line saying what to configure."""
    code, _, err = run(runner, "get", "pods")
    assert code == 1 and err.startswith("error: no API server configured") and err.count("\n") == 1


def test_cli_bad_output_format(runner: CliRunner) -> None:
    """An unknown -o value is rejected with kubectl's list of formats."""
    code, _, err = run(runner, "get", "pods", "-o", "table")
    assert code == 1 and err.endswith("allowed formats are: json,name,wide,yaml\n")


def test_cli_api_error_line_matches_kubectl() -> None:
    """Server errors print `Error from server (Reason): message`."""
    err = errors.NotFoundError('pods "nope" not found')
    assert client_verbs.error_line(err) == 'Error from server (NotFound): pods "nope" not found'
    assert client_verbs.error_line(errors.InvalidError("bad\nworse"), 'error when applying "x": ') == (
        'Error from server (Invalid): error when applying "x": bad worse')
    assert client_verbs.error_line(errors.UnauthorizedError("Unauthorized")) == (
        "error: You must be logged in to the server (Unauthorized)")


def test_parse_targets_forms() -> None:
    """`po,svc NAME`, `KIND/NAME` and `all` resolve to resource types in kubectl's order."""
    pods, services = kinds.resolve("pods"), kinds.resolve("services")
    assert client_verbs.parse_targets(["po,svc", "x"]) == [(pods, ["x"]), (services, ["x"])]
    assert client_verbs.parse_targets(["po/a", "svc/b", "pod/c"]) == [(pods, ["a", "c"]), (services, ["b"])]
    assert [rt.plural for rt, _ in client_verbs.parse_targets(["all"])] == [
        "pods", "services", "deployments", "replicasets", "horizontalpodautoscalers"]
    with pytest.raises(client_verbs.CliError):
        client_verbs.parse_targets(["po", "svc/b"])


def test_cli_cluster_status_marks_unreachable_servers(runner: CliRunner) -> None:
    """A master that does not answer is listed by URL with ROLE `unreachable`; none answering exits 1."""
    url = refused_url()
    code, out, _ = run(runner, "cluster", "status", "--server", url, "--token", "t")
    assert code == 1
    assert out.splitlines()[0].split() == ["NAME", "ROLE", "LEADER", "TERM", "COMMIT", "APPLIED", "REVISION"]
    assert out.splitlines()[1].split()[:2] == [url, "unreachable"]
