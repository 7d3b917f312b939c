"""Run the real `kubectl` against a master, and record every kubectl / Python-client call the tests make.

Two pieces:

* `Recorder` (one per test process, `RECORDER`): every `Kubectl.run`/`Kubectl.watch` call and every
  official-client method a test declares with `record_client` is kept in normalized form
  (`kubectl get pods -o wide`, `kubectl describe pod NAME`). At module teardown `finish_module`
  writes them to `<pytest basetemp>/kubectl-calls.json` and fails when README.md's "Using kubectl"
  section (between `<!-- kubectl-calls:start -->` and `<!-- kubectl-calls:end -->`) does not list
  one of them; `scripts/kubectl_doc.py` regenerates that section.
* `Kubectl`: a kubeconfig in a temp dir (bearer token, private discovery `--cache-dir`, private
  HOME) and `run`/`watch` helpers. Arguments made with `ph(value, placeholder)` are recorded as
  the placeholder (names, files, label values).
Masters must serve HTTPS: client-go reads a kubeconfig's credentials only when the transport is
TLS, so the tests start them with `Cluster(..., tls=True)` and pass the cluster CA.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
CALLS_FILE = "kubectl-calls.json"
START_MARK = "<!-- kubectl-calls:start -->"
END_MARK = "<!-- kubectl-calls:end -->"
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"


# --------------------------------------------------------------------------------------------- recording


class ph(str):  # noqa: N801 - reads like a marker: ph("web-1", "NAME")
    """A command-line argument recorded as `placeholder` instead of its value."""

    placeholder: str

    def __new__(cls, value: str, placeholder: str) -> ph:
        obj = super().__new__(cls, value)
        obj.placeholder = placeholder
        return obj


def normalize(args: list[str]) -> str:
    """`kubectl get pod ph("web","NAME") -o wide` -> `kubectl get pod NAME -o wide`."""
    return " ".join(["kubectl", *(a.placeholder if isinstance(a, ph) else str(a) for a in args)])


@dataclass
class Recorder:
    """The calls made during this test process, in first-use order, without duplicates."""

    kubectl: list[str] = field(default_factory=list)
    client: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_kubectl(self, args: list[str]) -> None:
        call = normalize(args)
        with self._lock:
            if call not in self.kubectl:
                self.kubectl.append(call)

    def add_client(self, method: str) -> None:
        with self._lock:
            if method not in self.client:
                self.client.append(method)

    def as_json(self) -> dict[str, list[str]]:
        with self._lock:
            return {"kubectl": list(self.kubectl), "python_client": list(self.client)}


RECORDER = Recorder()


def record_client(*methods: str) -> None:
    """Declare official-client calls a test makes, e.g. `record_client("CoreV1Api.list_namespaced_pod")`."""
    for m in methods:
        RECORDER.add_client(m)


def readme_section(text: str) -> str:
    """The generated part of README.md's "Using kubectl" section ('' when the markers are missing)."""
    start, end = text.find(START_MARK), text.find(END_MARK)
    if start < 0 or end < start:
        return ""
    return text[start + len(START_MARK):end]


def documented_lines(text: str) -> set[str]:
    """Lines of the generated section, stripped, with Markdown list/code decoration removed."""
    out = set()
    for line in readme_section(text).splitlines():
        line = line.strip()
        line = re.sub(r"^[-*]\s+", "", line).strip("`").strip()
        if line:
            out.add(line)
    return out


def missing_from_readme(calls: dict[str, list[str]], readme_text: str) -> list[str]:
    listed = documented_lines(readme_text)
    return [c for c in calls["kubectl"] + calls["python_client"] if c not in listed]


def finish_module(basetemp: Path) -> None:
    """Write every call recorded so far to `basetemp/kubectl-calls.json`, then check README lists them."""
    calls = RECORDER.as_json()
    (basetemp / CALLS_FILE).write_text(json.dumps(calls, indent=2) + "\n")
    missing = missing_from_readme(calls, README.read_text())
    assert not missing, (
        "README.md's 'Using kubectl' section does not list these calls the tests exercise:\n  "
        + "\n  ".join(missing)
        + "\nRun `.venv/bin/python scripts/kubectl_doc.py` to regenerate it."
    )


class Kubectl:
    """The real kubectl with a private kubeconfig, HOME and discovery cache."""

    def __init__(self, workdir: Path, server: str, token: str, *, ca_file: Path | None = None,
                 namespace: str = "default") -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.cache_dir = workdir / "cache"
        self.home = workdir / "home"
        self.home.mkdir(exist_ok=True)
        self.kubeconfig = workdir / "kubeconfig"
        cluster: dict[str, Any] = {"server": server}
        if ca_file is not None:
            cluster["certificate-authority"] = str(ca_file)
        self.kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "minik8s", "cluster": cluster}],
            "users": [{"name": "admin", "user": {"token": token}}],
            "contexts": [{"name": "minik8s", "context": {"cluster": "minik8s", "user": "admin",
                                                         "namespace": namespace}}],
            "current-context": "minik8s",
        }, sort_keys=False))

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
        tmp = self.workdir / "tmp"  # `kubectl edit` keeps failed edits in TMPDIR
        tmp.mkdir(exist_ok=True)
        env.update({"HOME": str(self.home), "KUBECONFIG": str(self.kubeconfig), "TMPDIR": str(tmp)})
        env.update(extra or {})
        return env

    def argv(self, args: tuple[str, ...] | list[str]) -> list[str]:
        return [KUBECTL, "--kubeconfig", str(self.kubeconfig), "--cache-dir", str(self.cache_dir), *args]

    def run(self, *args: str, input: str | None = None, env: dict[str, str] | None = None,  # noqa: A002
            timeout: float = 60, check: bool = True, record: bool = True) -> subprocess.CompletedProcess[str]:
        """Run kubectl; with `check`, fail (showing stderr) unless it exits 0."""
        if record:
            RECORDER.add_kubectl(list(args))
        proc = subprocess.run(self.argv(args), input=input, capture_output=True, text=True, timeout=timeout,
                              env=self.env(env), cwd=self.workdir)
        if check and proc.returncode != 0:
            raise AssertionError(f"{normalize(list(args))} exited {proc.returncode}\n"
                                 f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
        return proc

    def fails(self, *args: str, timeout: float = 60) -> str:
        """Run kubectl expecting a non-zero exit; returns stderr."""
        proc = self.run(*args, check=False, timeout=timeout)
        assert proc.returncode != 0, f"{normalize(list(args))} unexpectedly succeeded:\n{proc.stdout}"
        return proc.stderr

    def watch(self, *args: str) -> LineReader:
        """Start a long-running kubectl (e.g. `get pods -w`); read its stdout lines with deadlines."""
        RECORDER.add_kubectl(list(args))
        proc = subprocess.Popen(self.argv(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self.env(), cwd=self.workdir, start_new_session=True)
        return LineReader(proc)


class LineReader:
    """stdout lines of a running process, read on a thread so waits can have deadlines."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_line(self, predicate: Any, timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:
                raise AssertionError(f"process exited ({self.proc.poll()}) before {what}; lines: {self.seen}; "
                                     f"stderr: {self.stderr()}")
            self.seen.append(line)
            if predicate(line):
                return line
        raise AssertionError(f"no line with {what} within {timeout}s; lines so far: {self.seen}")

    def stderr(self) -> str:
        if self.proc.poll() is None or self.proc.stderr is None:
            return "(still running)"
        return self.proc.stderr.read()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self._thread.join(timeout=10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def columns(output: str) -> list[str]:
    """Header of kubectl's table output split on runs of 2+ spaces (headers like `NOMINATED NODE`)."""
    header = output.splitlines()[0] if output.strip() else ""
    return re.split(r"\s{2,}", header.strip())


def rows(output: str) -> list[list[str]]:
    """Body rows of kubectl's table output, split on runs of 2+ spaces (row cells contain no double spaces)."""
    return [re.split(r"\s{2,}", line.strip()) for line in output.splitlines()[1:] if line.strip()]
