"""`minik8s gpujob`: sources from a directory, and where `download` writes a job's files (no server needed)."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from minik8s.api.kinds.gpujob import MAX_FILES, MAX_SOURCE_BYTES
from minik8s.cli.client_verbs import CliError, _log_target
from minik8s.cli.gpujobs import _safe_target, add_sources, artifact_files, read_source_dir
from minik8s.cli.main import app

JOB = """apiVersion: minik8s.io/v1
kind: GpuJob
metadata:
  name: demo
spec:
  cluster: {host: 127.0.0.1, user: u, credentialsSecret: login}
  run: ./main
"""


def tree(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            (root / name).write_bytes(content)
        else:
            (root / name).write_text(content)
    return root


def test_a_directory_gives_relative_slash_paths_without_dotfiles(tmp_path: Path) -> None:
    src = tree(tmp_path / "src", {"main.cu": "int main(){}\n", "lib/util.h": "#pragma once\n", "lib/deep/x.txt": "x",
                                  ".git/config": "[core]", ".env": "SECRET=1", "lib/.hidden": "h", "build.o": "o"})
    assert read_source_dir(src) == {"main.cu": "int main(){}\n", "lib/util.h": "#pragma once\n",
                                    "lib/deep/x.txt": "x", "build.o": "o"}
    assert read_source_dir(src, exclude=["*.o", "lib/deep"]) == {"main.cu": "int main(){}\n",
                                                                  "lib/util.h": "#pragma once\n"}


def test_the_manifest_in_the_directory_is_left_out(tmp_path: Path) -> None:
    src = tree(tmp_path, {"job.yaml": JOB, "main.cu": "x"})
    assert read_source_dir(src, skip=src / "job.yaml") == {"main.cu": "x"}


def _symlink(root: Path) -> Path:
    tree(root, {"main.cu": "x"})
    (root / "link.cu").symlink_to(root / "main.cu")
    return root


def _symlinked_dir(root: Path) -> Path:
    tree(root / "real", {"a.txt": "a"})
    (root / "src").mkdir()
    (root / "src" / "sub").symlink_to(root / "real")
    return root / "src"


def _fifo(root: Path) -> Path:
    tree(root, {"main.cu": "x"})
    os.mkfifo(root / "pipe")
    return root


def _too_big(root: Path) -> Path:
    return tree(root, {"a.txt": "a" * (MAX_SOURCE_BYTES // 2), "b.txt": "b" * (MAX_SOURCE_BYTES // 2)})


def _too_many(root: Path) -> Path:
    return tree(root, {f"f{i}.txt": "" for i in range(MAX_FILES + 1)})


@pytest.mark.parametrize(("make", "words"), [
    pytest.param(_symlink, "is a symbolic link", id="symlink"),
    pytest.param(_symlinked_dir, "is a symbolic link", id="symlinked-dir"),
    pytest.param(_fifo, "not a regular file", id="fifo"),
    pytest.param(lambda root: tree(root, {"prog.bin": b"\x7fELF\xff\xfe\x00"}), "not UTF-8 text", id="binary"),
    pytest.param(_too_big, "more than 1048576 bytes (1 MiB)", id="too-big"),
    pytest.param(_too_many, f"more than {MAX_FILES} files", id="too-many"),
    pytest.param(lambda root: tree(root, {"my file.txt": "x"}), "may hold only letters", id="bad-name"),
    pytest.param(lambda root: tree(root, {".only": "x"}), "no files to send", id="empty"),
    pytest.param(lambda root: root / "missing", "missing", id="missing"),
    pytest.param(lambda root: tree(root, {"f": "x"}) / "f", "not a directory", id="a-file"),
])
def test_directory_mistakes_are_one_line_errors(tmp_path: Path, make, words: str) -> None:
    root = make(tmp_path)
    with pytest.raises(CliError) as raised:
        read_source_dir(root)
    assert words in str(raised.value) and "\n" not in str(raised.value)


def test_sources_merge_with_the_manifest_and_a_clash_is_an_error() -> None:
    job = {"spec": {"run": "x", "sources": {"inline": {"a.txt": "a"}}}}
    assert add_sources(job, {"b.txt": "b"}, "--dir d")["spec"]["sources"]["inline"] == {"a.txt": "a", "b.txt": "b"}
    with pytest.raises(CliError, match="a.txt: both in spec.sources.inline"):
        add_sources(job, {"a.txt": "other"}, "--dir d")
    assert add_sources({"spec": {}}, {"c": "c"}, "--dir d") == {"spec": {"sources": {"inline": {"c": "c"}}}}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_artifact_keys_become_paths_only_for_listed_artifacts() -> None:
    """`__` turns back into `/` for the names status.artifacts lists; two names with one key are told
    apart by size; an unlisted key stays as it is; listed files without data are reported."""
    job = {"status": {"artifacts": [{"name": "out/result.txt", "size": 2}, {"name": "out__result.txt", "size": 5},
                                    {"name": "plot.png", "size": 3}, {"name": "huge.bin", "size": 10 ** 9}]}}
    binary = {"out__result.txt": _b64(b"12345"), "plot.png": _b64(b"png"), "my__notes": _b64(b"n")}
    paths, missing = artifact_files(job, binary)
    assert paths == {"out__result.txt": "out__result.txt", "plot.png": "plot.png", "my__notes": "my__notes"}
    assert missing == ["out/result.txt", "huge.bin"]
    paths, _ = artifact_files(job, {"out__result.txt": _b64(b"12")})
    assert paths == {"out/result.txt": "out__result.txt"}


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a/../../x", "a//b", ".", "a/./b", ""])
def test_paths_leaving_the_directory_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(CliError, match="refusing to write"):
        _safe_target(tmp_path / "files", name)


def test_a_symlinked_directory_inside_the_output_is_not_followed(tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "out").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(CliError, match="outside"):
        _safe_target(tmp_path / "files", "out/x.txt")
    assert _safe_target(tmp_path / "files", "ok/x.txt") == tmp_path / "files" / "ok" / "x.txt"


def test_submit_errors_before_any_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Mistakes in the manifest or the directory are one line and exit 1, without a server."""
    for var in ("MINIK8S_SERVER", "MINIK8S_TOKEN", "KUBECONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    manifest = tree(tmp_path, {"job.yaml": JOB, "cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
                               "alias.yaml": JOB + "  output: &o a.out\n  error: *o\n"})
    src = _symlink(tmp_path / "src")
    server = ["--server", "http://127.0.0.1:9"]
    for args, words in [
        (["-f", str(manifest / "job.yaml"), "--dir", str(src)], "is a symbolic link"),
        (["-f", str(manifest / "cm.yaml")], "expected a GpuJob"),
        (["-f", str(manifest / "alias.yaml")], "alias"),
        (["-f", str(manifest / "job.yaml"), "--exclude", "x"], "--exclude goes with --dir"),
    ]:
        result = CliRunner().invoke(app, ["gpujob", "submit", *args, *server])
        assert result.exit_code == 1, (args, result.output)
        assert words in result.stderr and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


@pytest.mark.parametrize(("target", "plural", "name"), [
    ("web-1", "pods", "web-1"), ("pod/web-1", "pods", "web-1"), ("po/web-1", "pods", "web-1"),
    ("gpujob/demo", "gpujobs", "demo"), ("gj/demo", "gpujobs", "demo"), ("gpujobs.minik8s.io/demo", "gpujobs", "demo"),
])
def test_logs_reads_pods_by_default_and_gpujobs_by_kind(target: str, plural: str, name: str) -> None:
    rt, got = _log_target(target)
    assert (rt.plural, got) == (plural, name)


@pytest.mark.parametrize(("target", "words"), [("deploy/web", "only pods and gpujobs have logs"),
                                               ("gj/", "give a name"), ("nokind/x", "doesn't have a resource type")])
def test_logs_of_other_kinds_are_refused(target: str, words: str) -> None:
    with pytest.raises(Exception, match=words):
        _log_target(target)
