"""`minik8s gpujob submit|get|describe|logs|download|delete` and the generic verbs on GpuJobs, against one real
master run without its controllers (no Slurm: a job stays Pending; its output ConfigMap is made here by hand,
as the GPU job controller makes it when a job ended)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from minik8s.api import errors
from minik8s.api.client import ApiClient
from minik8s.api.kinds.gpujob import MAX_SOURCE_BYTES, OUTPUT_LABEL, output_configmap_name
from minik8s.cli.main import app

from .cluster import TOKEN, Cluster, running

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "gpujob"
JOB = """apiVersion: minik8s.io/v1
kind: GpuJob
metadata:
  name: demo
spec:
  cluster: {host: 127.0.0.1, port: 2222, user: slurm, credentialsSecret: login}
  sources:
    inline:
      run.sh: "./main\\n"
  build: nvcc -o main main.cu
  run: ./run.sh
  artifacts: ["out/*", "plot.png"]
"""


@pytest.fixture
def master(tmp_path: Path) -> Iterator[Cluster]:
    """One master without the scheduler and controllers (nothing tries to reach a Slurm cluster)."""
    with running(tmp_path / "cluster", 1, extra_args=["--no-control-loops"]) as c:
        yield c


@pytest.fixture
def cli(master: Cluster, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """`cli(*args)` runs `minik8s ARGS` in this process against the master: (exit code, stdout, stderr)."""
    for var in ("MINIK8S_SERVER", "MINIK8S_TOKEN", "KUBECONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    config = ["--server", master.masters[0].url, "--token", TOKEN]

    def run(*args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(app, [*args, *config])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        assert "Traceback" not in result.stderr
        return result.exit_code, result.stdout, result.stderr

    return run


@pytest.fixture
def client(master: Cluster) -> Iterator[ApiClient]:
    with ApiClient(master.masters[0].url, token=TOKEN) as c:
        yield c


def one_line_error(outcome: tuple[int, str, str], words: str) -> None:
    code, _, err = outcome
    assert code == 1 and words in err and err.count("\n") == 1, outcome


def test_submit_get_describe_logs_download_delete(cli, client: ApiClient, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "lib").mkdir(parents=True)
    (src / "main.cu").write_text("int main() { return 0; }\n")
    (src / "lib" / "util.h").write_text("#pragma once\n")
    (src / ".git").mkdir()
    (src / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (src / "job.yaml").write_text(JOB)  # the manifest beside the sources is not one of them

    assert cli("gpujob", "submit", "-f", str(src / "job.yaml"), "--dir", str(src)) == (
        0, "gpujob.minik8s.io/demo created\n", "")
    job = client.get("gpujobs", "demo", namespace="default")
    assert job["spec"]["sources"]["inline"] == {"run.sh": "./main\n", "main.cu": "int main() { return 0; }\n",
                                                "lib/util.h": "#pragma once\n"}
    one_line_error(cli("gpujob", "submit", "-f", str(src / "job.yaml"), "--dir", str(src)),
                   'Error from server (AlreadyExists): gpujobs.minik8s.io "demo" already exists')

    # get: the server-side columns, through `gpujob get` and the generic verb with every name of the kind
    code, out, _ = cli("gpujob", "get")
    assert code == 0 and out.splitlines()[0].split() == ["NAME", "PHASE", "JOB", "ID", "NODES", "EXIT", "AGE"]
    assert out.splitlines()[1].split()[:2] == ["demo", "Pending"]
    def without_age(table: str) -> list[list[str]]:
        return [line.split()[:-1] for line in table.splitlines()]  # AGE ticks between two calls

    for kind in ("gpujobs", "gpujob", "gj", "gpujobs.minik8s.io"):
        assert without_age(cli("get", kind)[1]) == without_age(out)
    assert cli("gpujob", "get", "demo", "-o", "name")[1] == "gpujob.minik8s.io/demo\n"

    code, described, _ = cli("gpujob", "describe", "demo")
    assert code == 0 and cli("describe", "gj", "demo")[1] == described
    lines = described.splitlines()
    assert lines[0].split() == ["Name:", "demo"]
    assert ["Phase:", "Pending"] in [line.split() for line in lines]
    assert ["Sources:", "lib/util.h,", "main.cu,", "run.sh"] in [line.split() for line in lines]
    assert "slurm@127.0.0.1:2222" in described

    # no output yet: an empty log with a note on stderr; download refuses
    assert cli("gpujob", "logs", "demo") == (0, "", "gpujob demo: no output: not brought back yet: the job is "
                                                    "Pending\n")
    one_line_error(cli("gpujob", "download", "demo"), "gpujob demo has no output yet: it is Pending")

    # an output ConfigMap left by an older job of the same name (another uid) is not this job's
    output = {"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": output_configmap_name("demo"), "namespace": "default",
                           "labels": {OUTPUT_LABEL: "demo"},
                           "ownerReferences": [{"apiVersion": "minik8s.io/v1", "kind": "GpuJob", "name": "demo",
                                                "uid": "an-older-job", "controller": True}]},
              "data": {"stdout": "stale\n", "stderr": ""}}
    client.create(output)
    assert cli("gpujob", "logs", "demo")[1] == ""
    one_line_error(cli("gpujob", "download", "demo"), "has no output yet")
    client.delete("configmaps", output_configmap_name("demo"), namespace="default")

    # the job ended: its status lists the artifacts, the ConfigMap holds the output and the files
    job["status"] = {"phase": "Succeeded", "jobId": "42", "nodeList": "gpu01", "exitCode": 0,
                     "artifacts": [{"name": "out/result.txt", "size": 3}, {"name": "out/huge.bin", "size": 10 ** 8},
                                   {"name": "plot.png", "size": 4}]}
    client.update_status(job)
    output["metadata"]["ownerReferences"][0]["uid"] = job["metadata"]["uid"]
    output["data"] = {"stdout": "line 1\nline 2\nmatmul OK\n", "stderr": "warning: slow\n"}
    output["binaryData"] = {"out__result.txt": base64.b64encode(b"42\n").decode(),
                            "plot.png": base64.b64encode(b"\x89PNG").decode()}
    client.create(output)

    assert cli("gpujob", "logs", "demo") == (0, "line 1\nline 2\nmatmul OK\n", "")
    assert cli("gpujob", "logs", "demo", "--stderr") == (0, "warning: slow\n", "")
    assert cli("gpujob", "logs", "demo", "--tail", "1")[1] == "matmul OK\n"
    assert cli("logs", "gpujob/demo") == (0, "line 1\nline 2\nmatmul OK\n", "")
    assert cli("logs", "gj/demo", "--tail", "2")[1] == "line 2\nmatmul OK\n"
    one_line_error(cli("logs", "gj/demo", "--follow"), "--follow: only for pods")
    one_line_error(cli("logs", "deploy/web"), "only pods and gpujobs have logs")
    one_line_error(cli("gpujob", "logs", "nope"), 'Error from server (NotFound): gpujobs.minik8s.io "nope" not found')

    code, out, err = cli("gpujob", "get")
    assert out.splitlines()[1].split()[:5] == ["demo", "Succeeded", "42", "gpu01", "0"]

    code, out, err = cli("gpujob", "download", "demo")  # default: ./demo-results
    results = tmp_path / "demo-results"
    assert code == 0 and err == "not brought back (over the size limits): out/huge.bin\n"
    assert (results / "stdout").read_text() == "line 1\nline 2\nmatmul OK\n"
    assert (results / "stderr").read_text() == "warning: slow\n"
    assert (results / "files" / "out" / "result.txt").read_bytes() == b"42\n"
    assert (results / "files" / "plot.png").read_bytes() == b"\x89PNG"
    assert sorted(p.relative_to(results).as_posix() for p in results.rglob("*") if p.is_file()) == [
        "files/out/result.txt", "files/plot.png", "stderr", "stdout"]
    assert out.splitlines() == [str(Path("demo-results") / p) for p in
                                ("stdout", "stderr", "files/out/result.txt", "files/plot.png")]
    code, _, _ = cli("gpujob", "download", "demo", "-o", str(tmp_path / "elsewhere"))
    assert code == 0 and (tmp_path / "elsewhere" / "files" / "out" / "result.txt").read_bytes() == b"42\n"

    assert cli("gpujob", "delete", "demo") == (0, 'gpujob.minik8s.io "demo" deleted\n', "")
    with pytest.raises(errors.NotFoundError):
        client.get("gpujobs", "demo", namespace="default")
    one_line_error(cli("gpujob", "get", "demo"), 'Error from server (NotFound): gpujobs.minik8s.io "demo" not found')


def test_the_example_applies_and_submits_with_its_directory(cli, client: ApiClient, tmp_path: Path) -> None:
    """`minik8s apply -f matmul-job.yaml` goes through the generic verbs; `gpujob submit --dir` of the example's
    directory sends its text files, without the manifest itself."""
    manifest = str(EXAMPLE / "matmul-job.yaml")
    assert cli("apply", "-f", manifest) == (0, "gpujob.minik8s.io/matmul created\n", "")
    assert cli("apply", "-f", manifest)[1] == "gpujob.minik8s.io/matmul unchanged\n"
    code, out, _ = cli("get", "gpujobs")
    assert code == 0 and out.splitlines()[1].split()[:2] == ["matmul", "Pending"]
    code, out, _ = cli("describe", "gpujob", "matmul")
    assert code == 0 and "nvcc -O2 -o matmul matmul.cu" in out
    assert ["Sources:", "<none>"] in [line.split() for line in out.splitlines()]
    assert cli("delete", "gj", "matmul")[0] == 0

    assert cli("gpujob", "submit", "-f", manifest, "--dir", str(EXAMPLE), "--exclude", "*.yaml")[0] == 0
    sources = client.get("gpujobs", "matmul", namespace="default")["spec"]["sources"]["inline"]
    assert sources["matmul.cu"] == (EXAMPLE / "matmul.cu").read_text()
    assert not any(name.endswith(".yaml") for name in sources)


def test_submit_refuses_a_symlink_and_too_much_before_sending(cli, client: ApiClient, tmp_path: Path) -> None:
    (tmp_path / "job.yaml").write_text(JOB)
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "main.cu").write_text("x")
    (linked / "secret").symlink_to("/etc/hostname")
    one_line_error(cli("gpujob", "submit", "-f", "job.yaml", "--dir", str(linked)), "is a symbolic link")
    big = tmp_path / "big"
    big.mkdir()
    (big / "data.txt").write_text("x" * MAX_SOURCE_BYTES)
    one_line_error(cli("gpujob", "submit", "-f", "job.yaml", "--dir", str(big)),
                   "the limit for a GpuJob's sources")
    with pytest.raises(errors.NotFoundError):
        client.get("gpujobs", "demo", namespace="default")
